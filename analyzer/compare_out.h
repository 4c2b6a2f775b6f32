/* SPDX-License-Identifier: MIT */
/*
 * What 'loupe diff' and 'loupe gate' share: reading "BASE... -- CAND...",
 * comparing every metric, and printing runs, metrics, profiles and new
 * findings as text (80 columns), JSON and Markdown.
 */
#ifndef LOUPE_COMPARE_OUT_H
#define LOUPE_COMPARE_OUT_H

#include <stdio.h>

#include "analyzer/compare.h"

/*
 * Splits ARGV[0..ARGC) at "--" into baseline and candidate files (both
 * non-empty).  Returns 0 or -EINVAL with the reason in ERR.
 */
int cmp_split_args(int argc, char **argv, char ***base, size_t *nbase,
		   char ***cand, size_t *ncand, char *err, size_t errlen);

/*
 * Loads both sides and prepares C (compare.h).  On failure prints
 * "loupe: CMD: ..." and returns -errno.
 */
int cmp_open(struct cmp *c, const struct policy *pol, const char *cmd,
	     char **base, size_t nbase, char **cand, size_t ncand);

/* Compares every entry of C, in report order (models by name, "request"
 * first then stages as first seen, metrics, then the process).  *OUT is
 * malloc'd (free it).  Returns the count, or -ENOMEM. */
int cmp_compare_all(const struct cmp *c, struct cmp_result **out);

/* "1.23ms", "458 MiB", "812ns" for a value of metric M. */
char *cmp_fmt_value(char *buf, size_t len, enum cmp_metric m, double v);
/* A signed amount: "+35.0us", "-1.20 MiB". */
char *cmp_fmt_delta(char *buf, size_t len, enum cmp_metric m, double v);
/* "+5.2%", "-0.3%", "+inf" */
char *cmp_fmt_rel(char *buf, size_t len, double rel);
/* "ctr_small/top_mlp", or "process". */
char *cmp_fmt_where(char *buf, size_t len, const struct cmp_entry *e);
/* "p 0.003", "p<1e-6" */
char *cmp_fmt_p(char *buf, size_t len, double p);

/* Header lines: the runs of each side and how they were compared. */
void cmp_print_header(FILE *f, const struct cmp *c, const char *cmd);
/* The JSON members "baseline", "candidate", "comparison", "strata"
 * (each followed by ",\n"). */
void cmp_json_header(FILE *f, const struct cmp *c);
/* Members of a metric object: "model" ... "overdispersion" (no braces). */
void cmp_json_result(FILE *f, const struct cmp_result *r);
void cmp_json_finding(FILE *f, const struct finding *fd);
void cmp_json_moves(FILE *f, const struct cmp_move *m, size_t n);
/* Markdown of the runs (a short table). */
void cmp_md_header(FILE *f, const struct cmp *c);

/* How the sides were compared, one phrase. */
const char *cmp_mode_phrase(const struct cmp *c);

#endif
