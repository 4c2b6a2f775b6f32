/* SPDX-License-Identifier: MIT */
/* Small statistics over per-window series, for detectors. */
#ifndef LOUPE_TREND_H
#define LOUPE_TREND_H

#include <stddef.h>

/* OLS slope of y on x over [from, to) and its t statistic (1e9 for a
 * perfectly straight rising line). */
void trend_fit(const double *x, const double *y, size_t from, size_t to,
	       double *slope, double *t);
double trend_median(const double *v, size_t n);
void trend_mean_var(const double *v, size_t n, double *mean, double *var);
/* Welch's t of mean(B) - mean(A); +-1e9 when both are constant and differ. */
double trend_welch_t(const double *a, size_t na, const double *b, size_t nb);

#endif
