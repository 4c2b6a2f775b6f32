/* SPDX-License-Identifier: MIT */
/*
 * Run-to-run comparison for 'loupe diff' and 'loupe gate': reads the
 * baseline's and the candidate's trace files through the window stream,
 * turns every run into per-unit series (a unit is one window, or a few
 * consecutive windows when one holds too few requests for the metric:
 * a p99 needs 100), and compares the sides metric by metric with
 * stats_compare().
 *
 * What a run contributes: its stable windows only -- those before the
 * first request and the policy's warm-up after it are skipped, and so is
 * the last window, cut short when the recording ended.
 *
 * Runs recorded side by side (an A run and a B run overlapping in time on
 * one host) are compared within their time slot (a stratum), so that what
 * the machine did meanwhile cancels; otherwise all runs form one stratum
 * and runs of a side count as clusters (see stats.h).
 */
#ifndef LOUPE_COMPARE_H
#define LOUPE_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "analyzer/analyze.h"
#include "analyzer/policy.h"
#include "analyzer/stats.h"

enum { CMP_A, CMP_B };

struct cmp_run {
	char *path;
	char *cmdline, *program, *hostname;	/* program: argv[0]'s basename */
	__u64 start_ns, end_ns;		/* CLOCK_MONOTONIC of the recording */
	size_t windows;			/* windows read */
	size_t stable;			/* of which used (stable, not last) */
	double stable_s;		/* their length in seconds */
	__u64 requests;			/* in the stable windows */
	bool damaged;			/* cut short or corrupt: read as far as whole */
	bool findings_ok;		/* the analyzer ran */
	struct finding *findings;
	size_t nfindings;
	int stratum;			/* index in cmp.strata */
};

/* Values of one metric on one side: runs back to back, in side order. */
struct cmp_series {
	double *v;
	__u64 *t0, *t1;			/* each value's time span (monotonic) */
	size_t n, cap, tcap;
	size_t *run_len;		/* one per run of the side */
	size_t nruns;
};

/* One (model, stage, metric), or a process metric (model, stage NULL). */
struct cmp_entry {
	const char *model, *stage;	/* interned, owned by struct cmp */
	enum cmp_metric metric;
	struct cmp_series side[2];
};

/* A function's share of a model/stage's CPU samples, on both sides. */
struct cmp_move {
	const char *function;		/* interned */
	double share[2];		/* pooled over all units */
	double delta;			/* share[B] - share[A] */
	double p;			/* two-sided: pooled shares, overdispersed */
};

/* CPU sample units of one model/stage on one side. */
struct cmp_fn_unit {
	__u64 total;			/* samples of the stage in the unit */
	size_t first, n;		/* their (function, count) in fn_counts */
};

struct cmp_profile {
	const char *model, *stage;
	struct cmp_fn_unit *units[2];
	size_t nunits[2], cap[2];
	size_t *run_len[2];
	size_t nrun_len[2];
};

struct cmp_stratum {
	size_t *runs[2];		/* run indexes of each side */
	size_t nruns[2];
};

struct cmp {
	struct cmp_run *runs[2];
	size_t nruns[2], runs_cap[2];
	struct cmp_entry *entries;
	size_t nentries, entries_cap;
	struct cmp_profile *profiles;
	size_t nprofiles, profiles_cap;
	struct { __u32 fn; __u64 count; } *fn_counts[2];
	size_t nfn_counts[2], fn_counts_cap[2];
	char **strings;			/* interned names */
	size_t nstrings, strings_cap;
	struct cmp_stratum *strata;
	size_t nstrata;
	bool paired;			/* strata are time slots */
	const struct policy *pol;
};

/* Results of one entry. */
struct cmp_result {
	const struct cmp_entry *e;
	bool tested;			/* compared (3+ units or pairs) */
	size_t units[2];
	size_t pairs;			/* side by side: units matched in time */
	double median[2];		/* of all units of the side */
	struct stats_cmp st;
};

/*
 * Reads PATHS[0..NPATHS) as side SIDE.  Returns 0; -errno (ENOENT, EPROTO:
 * not a trace, EPROTONOSUPPORT) with "open PATH: what" in ERR; -ENOMEM.
 * POL (warm-up, units) must outlive C.
 */
void cmp_init(struct cmp *c, const struct policy *pol);
int cmp_load(struct cmp *c, int side, char *const *paths, size_t npaths,
	     char *err, size_t errlen);
void cmp_release(struct cmp *c);

/*
 * After both sides are loaded: checks that they ran the same program and
 * have at least one model (or process metric) in common, and forms the
 * strata.  0, or -EINVAL with the reason in ERR (one line).
 */
int cmp_prepare(struct cmp *c, char *err, size_t errlen);

/* Compares entry E.  0 or -ENOMEM.  Deterministic (fixed seeds). */
int cmp_entry_compare(const struct cmp *c, const struct cmp_entry *e,
		      struct cmp_result *r);

/* The functions whose share of MODEL/STAGE's CPU samples moved most, most
 * first (by |delta|), up to MAX; those with p <= MAX_P only.  Returns how
 * many were written to OUT, or -ENOMEM. */
int cmp_moves(const struct cmp *c, const char *model, const char *stage,
	      double max_p, struct cmp_move *out, size_t max);

/* Stable windows of SIDE, over all its runs. */
size_t cmp_side_windows(const struct cmp *c, int side);

/*
 * Findings of the candidate that no baseline run has (same kind, model,
 * stage; for leaks also the same function).  Pointers into C's runs, at
 * most MAX, the first B run's first.  *UNJUDGED is set when some run had
 * no analyzer (rules could not be loaded).
 */
size_t cmp_new_findings(const struct cmp *c, const struct finding **out,
			size_t max, bool *unjudged);

/* The entry of (MODEL, STAGE, METRIC), or NULL. */
const struct cmp_entry *cmp_find(const struct cmp *c, const char *model,
				 const char *stage, enum cmp_metric m);

#endif
