/* SPDX-License-Identifier: MIT */
/*
 * The gate's policy: which metrics are gated and by how much they may
 * grow, plus the statistical settings.  Built-in defaults, then a policy
 * file (docs/ci.md).  For a metric the most specific matching rule wins
 * (a model beats a stage beats a metric), later lines among equals:
 *
 *   alpha = 0.05                # family-wise, over all gated metrics
 *   p99 = +5% 20us              # every model and stage
 *   top_mlp/p99 = +10%          # stage top_mlp of every model
 *   ctr_small/embedding/item = off
 *   cpu_per_request = +3% 10us  # whole process
 *   leak = any
 *
 * Not thread-safe; a policy is read-only once loaded.
 */
#ifndef LOUPE_POLICY_H
#define LOUPE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Metrics compared per window (or block of windows) by diff and gate. */
enum cmp_metric {
	/* per model x stage (stage "request" = the whole request) */
	CM_P50,			/* "p50" latency, ns */
	CM_P90,			/* "p90" */
	CM_P99,			/* "p99" */
	CM_MEAN,		/* "mean" */
	CM_ITEM,		/* "item": lower quartile of stage time / batch, ns */
	CM_CPU,			/* "cpu": sampled on-CPU time per request, ns */
	CM_ONCPU,		/* "oncpu": exact on-CPU time per batch item, ns:
				 * stage time less its off-CPU time */
	/* whole process */
	CM_CPU_PER_REQUEST,	/* "cpu_per_request": task-clock / requests, ns */
	CM_RSS,			/* "rss": resident bytes (anon + file + shmem) */
	CM_RSS_GROWTH,		/* "rss_growth": its growth, bytes per second */
	CM_N
};

#define CM_IS_PROCESS(m) ((m) >= CM_CPU_PER_REQUEST)

/* Stable name ("p99", "cpu_per_request"), or NULL. */
const char *cmp_metric_name(enum cmp_metric m);
/* -1 when NAME is no metric. */
int cmp_metric_parse(const char *name);
/* True for metrics in bytes rather than nanoseconds. */
bool cmp_metric_is_bytes(enum cmp_metric m);

struct limit {
	bool on;
	double rel;		/* allowed growth, a fraction: 0.05 = +5 % */
	double floor;		/* and the least absolute growth that counts */
	double weight;		/* share of the error budget (weighted Holm),
				 * relative to the others; in a rule 0 when
				 * unsaid, from policy_limit() always > 0 */
};

/* Severity at or above which a finding new in the candidate fails. */
enum policy_findings { PF_OFF, PF_WARNING, PF_CRITICAL };

struct policy_rule {
	char model[48], stage[48];	/* "*" = any */
	int metric;			/* enum cmp_metric, or -1: any */
	struct limit lim;
	int line;			/* 0 for a built-in default */
};

struct policy {
	double alpha;		/* family-wise error rate (Holm) */
	double confidence;	/* level of the reported intervals */
	size_t min_windows;	/* per side, below which: inconclusive */
	/* Sides recorded apart need this many runs each, else the between-run
	 * noise is unmeasured and the verdict inconclusive. */
	size_t min_runs_apart;
	double warmup_s;	/* skipped at the start of every run */
	size_t min_requests[CM_N]; /* per unit; smaller windows are merged */
	bool leak;		/* fail on a leak new in the candidate */
	enum policy_findings findings;
	struct policy_rule *rules;
	size_t nrules, cap;
};

/* The built-in policy.  0 or -ENOMEM. */
int policy_init(struct policy *p);
void policy_release(struct policy *p);

/*
 * Applies the policy file PATH on top of P.  Returns 0; or -errno when the
 * file cannot be read, -EINVAL with "FILE:LINE: what" in ERR for a line it
 * does not understand; -ENOMEM.
 */
int policy_load(struct policy *p, const char *path, char *err, size_t errlen);
/* One "key = value" line (comments and blank lines allowed); LINE for the
 * message.  Same returns as policy_load(). */
int policy_parse_line(struct policy *p, const char *text, int line, char *err,
		      size_t errlen);

/* The limit for METRIC of MODEL/STAGE (NULL for process metrics): the
 * most specific matching rule, the last of those. */
struct limit policy_limit(const struct policy *p, const char *model,
			  const char *stage, enum cmp_metric metric);

/* Writes P as a policy file (the effective settings and rules). */
void policy_print(const struct policy *p, FILE *f);

#endif
