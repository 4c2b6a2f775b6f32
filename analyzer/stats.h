/* SPDX-License-Identifier: MIT */
/*
 * Two-sample statistics for run-to-run comparison (loupe diff / gate).
 *
 * The unit of observation is a window statistic (a window's p99, its CPU
 * per request), never a request: requests of one run share that run's
 * machine state, so treating them as independent would make every A/A
 * difference "significant".  Windows of one run still share a run-level
 * offset and drift slowly, which the functions below account for: the
 * Mann-Whitney variance takes an inflation factor (stats_variance_factor:
 * serial correlation within runs, clustering between runs), and the
 * bootstrap resamples runs, then windows inside them, and widens for the
 * serial correlation.
 *
 * Pure functions over caller-owned arrays; no global state, thread-safe.
 * Functions that need scratch memory return -ENOMEM when it fails.
 */
#ifndef LOUPE_STATS_H
#define LOUPE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct mw_result {
	double u;		/* pairs (a, b) with b > a, ties counted 1/2 */
	double z;		/* (U - E U) / sd, no continuity correction; 0 if exact */
	double p_greater;	/* one-sided: B stochastically greater than A */
	double p_less;		/* one-sided: B stochastically smaller */
	double p_two;		/* two-sided: min(1, 2 min(p_greater, p_less)) */
	/* U / (na nb) = P(b > a) + P(b = a) / 2: Vargha and Delaney's A, the
	 * "common-language" effect size; 0.5 = no effect.  Cliff's delta is
	 * 2 A - 1. */
	double prob_greater;
	double mean, var;	/* of U under the null (var inflated) */
	bool exact;		/* p from the exact null distribution */
};

/*
 * Mann-Whitney U test of B against A.  Exact null distribution when there
 * are no ties, VAR_FACTOR is 1 and na * nb <= STATS_MW_EXACT_MAX; otherwise
 * the normal approximation with the tie correction and a continuity
 * correction, its variance multiplied by VAR_FACTOR (>= 1; see
 * stats_variance_factor).  NaN values are not allowed.  Returns 0, -EINVAL
 * when a side is empty, or -ENOMEM.
 */
#define STATS_MW_EXACT_MAX 400
int stats_mann_whitney(const double *a, size_t na, const double *b, size_t nb,
		       double var_factor, struct mw_result *r);

/* Median of all differences b_j - a_i (Hodges-Lehmann shift estimate, the
 * estimator that goes with the U test).  0, -EINVAL or -ENOMEM. */
int stats_hodges_lehmann(const double *a, size_t na, const double *b,
			 size_t nb, double *shift);

/* Median of N values (V is not modified); NaN when N is 0.  -ENOMEM is
 * reported as NaN with errno set. */
double stats_median(const double *v, size_t n);

/* Quantile Q of V, interpolated between order statistics (R's type 7);
 * NaN when N is 0. */
double stats_quantile(const double *v, size_t n, double q);

/* Mean of the middle of V after dropping FRAC of the values at each end
 * (0.25: the interquartile mean); NaN when N is 0. */
double stats_trimmed_mean(const double *v, size_t n, double frac);

/*
 * Series of one side: values of one metric, window by window, run after
 * run.  run_len[i] values belong to run i; runs are in v back to back.
 */
struct stats_side {
	const double *v;
	const size_t *run_len;
	size_t nruns;
};

/* Values in all runs of S. */
size_t stats_side_count(const struct stats_side *s);

/*
 * Variance inflation for a rank test over windows grouped in runs:
 *   (1 + rho) / (1 - rho), rho the lag-1 autocorrelation of the ranks of
 *   consecutive windows inside runs (clamped to [0, 0.8]), times
 *   1 + (m - 1) ICC, the design effect of runs of m windows on average
 *   whose ranks share an intra-class correlation ICC (one-way ANOVA inside
 *   each side; 0 unless a side has two runs or more).
 * Ranks are joint over both sides, centred per run, so a true shift
 * between A and B does not count as correlation.  Returns >= 1; 1 when
 * there are too few values to say.  *RHO and *ICC (either may be NULL)
 * get the estimates.
 */
double stats_variance_factor(const struct stats_side *a,
			     const struct stats_side *b, double *rho,
			     double *icc);

struct stats_ci {
	double lo, hi;		/* percentile interval of the estimator */
	double abs_lo, abs_hi;	/* the same for the absolute shift */
};

/*
 * Bootstrap confidence interval (level LEVEL, e.g. 0.95) of the relative
 * shift HL(A, B) / |median(A)| and of the absolute shift HL(A, B).  Each
 * replicate draws, per side, as many runs as it has with replacement (when
 * it has two or more), then that many windows from each drawn run; the
 * percentile interval is then stretched about its centre by
 * sqrt((1 + rho) / (1 - rho)), rho as in stats_variance_factor, for the
 * serial correlation that resampling single windows ignores (moving
 * blocks of n^(1/3) windows covered only 87 % of the time at rho 0.3 and
 * 25 windows; this covers 95 %, see tests/unit/test_stats.c).  REPS
 * replicates from a fixed SEED: the same input gives the same interval.
 * Returns 0, -EINVAL (an empty side, REPS < 10) or -ENOMEM.  A replicate
 * whose median(A) is 0 gives a relative shift of +-INFINITY (0 when the
 * shift is 0).
 */
int stats_bootstrap_shift(const struct stats_side *a,
			  const struct stats_side *b, unsigned int reps,
			  double level, __u64 seed, struct stats_ci *ci);

/*
 * Runs compared with each other: one stratum holds all runs when the sides
 * were recorded apart; recorded side by side (each A run concurrent with a
 * B run on the same machine), every time slot is a stratum, so what the
 * machine did during a slot hits both sides and cancels.
 */
struct stats_stratum {
	struct stats_side a, b;
};

struct stats_cmp {
	double shift;		/* HL over pairs within strata, metric units */
	double base;		/* median of all A values */
	double rel;		/* shift / |base|; +-INFINITY when base is 0 */
	/* U summed over strata (the van Elteren idea with equal weights),
	 * each stratum's variance inflated by its stats_variance_factor, the
	 * sum by the overdispersion of the strata's z scores. */
	struct mw_result mw;
	double var_factor;	/* mean factor over strata */
	double rho, icc;	/* mean over strata */
	double overdispersion;	/* >= 1; 1 with fewer than 2 strata */
	struct stats_ci ci;
	size_t na, nb;
};

/*
 * Compares B with A over NS strata: the U test, the Hodges-Lehmann shift
 * (median of the differences b - a of pairs inside a stratum), and its
 * bootstrap interval (strata drawn with replacement when there are two or
 * more, then runs and windows as in stats_bootstrap_shift; REPS 0: no
 * interval, the test and estimate only).  Strata with an empty side are
 * ignored; -EINVAL when none is left, or -ENOMEM.
 */
int stats_compare(const struct stats_stratum *st, size_t ns, unsigned int reps,
		  double level, __u64 seed, struct stats_cmp *out);

/*
 * Wilcoxon signed-rank test of paired differences D (b - a of pairs
 * recorded at the same time): zeros dropped (Wilcoxon's convention);
 * r->u is T+, the rank sum of the positive differences, and prob_greater
 * T+ / (T+ + T-) (0.5: no effect; 2 p - 1 is the matched-pairs
 * rank-biserial correlation).  Exact when there are no ties, VAR_FACTOR
 * is 1 and at most STATS_SR_EXACT_MAX differences are non-zero; else the
 * normal approximation with tie and continuity corrections, its variance
 * times VAR_FACTOR.  0, or -ENOMEM.
 */
#define STATS_SR_EXACT_MAX 30
int stats_signed_rank(const double *d, size_t n, double var_factor,
		      struct mw_result *r);

/* Median of the Walsh averages (d_i + d_j) / 2, i <= j: the one-sample
 * Hodges-Lehmann estimate that goes with the signed-rank test.  0, -EINVAL
 * (N is 0) or -ENOMEM. */
int stats_hodges_lehmann1(const double *d, size_t n, double *est);

/* (1 + rho) / (1 - rho) for one series in runs, rho as in
 * stats_variance_factor; 1 when there is too little to say. */
double stats_serial_factor(const double *v, const size_t *run_len,
			   size_t nruns, double *rho);

/*
 * stats_compare() for pairs: in every stratum a.v[j] and b.v[j] were
 * measured at the same time (the counts must be equal, else -EINVAL).  The
 * test is the signed-rank test of log(b / a) (of b - a when some value is
 * not positive) per stratum, combined over strata as in stats_compare
 * (variance of each times the serial factor of all differences, the sum
 * times the strata's overdispersion); the relative shift is exp of the
 * one-sample HL of the log ratios, minus 1 (shift = rel x |median(A)|);
 * the bootstrap draws strata, then pairs.
 */
int stats_compare_paired(const struct stats_stratum *st, size_t ns,
			 unsigned int reps, double level, __u64 seed,
			 struct stats_cmp *out);

/*
 * Holm-Bonferroni adjusted p-values: ADJ[i] for P[i] controls the
 * family-wise error rate over all N when compared with alpha.  NaN p-values
 * (metrics not tested) are left NaN and not counted.  0 or -ENOMEM.
 */
int stats_holm(const double *p, size_t n, double *adj);
/*
 * Weighted Holm (Holm 1979): hypothesis i gets the share W[i] / sum(W) of
 * the error budget, so that metrics that can resolve small changes are not
 * drowned by ones that cannot.  Step k rejects the remaining hypothesis
 * with the least P / W when P <= alpha W / (the remaining weights); ADJ is
 * the matching adjusted p.  Equal weights give stats_holm().  Weights must
 * be > 0; W NULL: all 1.
 */
int stats_holm_weighted(const double *p, const double *w, size_t n,
			double *adj);

/* Standard normal upper tail P(Z > z). */
double stats_norm_sf(double z);

/* Ordinary least-squares slope of Y against X (N points) and its t
 * statistic; 0 with *t = 0 when N < 3 or X is constant. */
double stats_ols_slope(const double *x, const double *y, size_t n, double *t);

#endif
