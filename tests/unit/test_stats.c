// SPDX-License-Identifier: MIT
/*
 * Unit tests for analyzer/stats.h: Mann-Whitney U against textbook values
 * and a brute-force enumeration of its null distribution, the normal
 * approximation with ties by hand, Hodges-Lehmann against all pairwise
 * differences, Holm against R's p.adjust, and the calibration of the
 * variance factor and the bootstrap on simulated window series.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "analyzer/stats.h"

/* xorshift64*: deterministic across runs and libcs. */
static __u64 rng_state = 88172645463325252ULL;

static __u64 rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static double rng_unit(void)
{
	return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_normal(void)
{
	return sqrt(-2 * log(rng_unit())) * cos(2 * M_PI * rng_unit());
}

/*
 * Hollander & Wolfe (1973), p. 69 (R's ?wilcox.test example): permeability
 * of the chorioamnion at term (x) and at 12-26 weeks (y); H1: x greater.
 * R: W = 35, p-value = 0.1272 (exact).
 */
static void test_mw_hollander_wolfe(void **state)
{
	static const double x[] = { 0.80, 0.83, 1.89, 1.04, 1.45,
				    1.38, 1.91, 1.64, 0.73, 1.46 };
	static const double y[] = { 1.15, 0.88, 0.90, 0.74, 1.21 };
	struct mw_result r;

	(void)state;
	assert_int_equal(stats_mann_whitney(y, 5, x, 10, 1, &r), 0);
	assert_true(r.exact);
	assert_float_equal(r.u, 35, 1e-12);
	assert_float_equal(r.p_greater, 0.1272, 0.00005);
	assert_float_equal(r.prob_greater, 35.0 / 50, 1e-12);
	/* the same data the other way round */
	assert_int_equal(stats_mann_whitney(x, 10, y, 5, 1, &r), 0);
	assert_float_equal(r.u, 15, 1e-12);
	assert_float_equal(r.p_less, 0.1272, 0.00005);
	assert_float_equal(r.p_two, 0.2544, 0.0001);
}

/* Complete separation: P = 1 / C(na + nb, na), the first entry of every
 * U table (3,3: 0.05; 4,4: 1/70; 5,5: 1/252). */
static void test_mw_exact_separation(void **state)
{
	static const double lo[] = { 1, 2, 3, 4, 5 }, hi[] = { 6, 7, 8, 9, 10 };
	struct mw_result r;

	(void)state;
	assert_int_equal(stats_mann_whitney(lo, 3, hi, 3, 1, &r), 0);
	assert_float_equal(r.p_greater, 0.05, 1e-12);
	assert_int_equal(stats_mann_whitney(lo, 4, hi, 4, 1, &r), 0);
	assert_float_equal(r.p_greater, 1.0 / 70, 1e-12);
	assert_int_equal(stats_mann_whitney(lo, 5, hi, 5, 1, &r), 0);
	assert_float_equal(r.p_greater, 1.0 / 252, 1e-12);
	assert_float_equal(r.p_two, 2.0 / 252, 1e-12);
	assert_float_equal(r.p_less, 1, 1e-12);
	assert_float_equal(r.prob_greater, 1, 1e-12);
}

/* The exact distribution against enumerating every assignment of ranks
 * 1..m+n to the two samples. */
static void check_exact_enumerated(unsigned int m, unsigned int n)
{
	unsigned int total = m + n, mask, u, i, j, k;
	double count[64 * 64] = { 0 }, all = 0;

	for (mask = 0; mask < (1u << total); mask++) {
		if ((unsigned int)__builtin_popcount(mask) != n)
			continue;
		/* B = ranks whose bit is set; U = pairs with b above a */
		u = 0;
		for (i = 0; i < total; i++)
			if (mask & (1u << i))
				for (j = 0; j < i; j++)
					if (!(mask & (1u << j)))
						u++;
		count[u]++;
		all++;
	}
	for (u = 0; u <= m * n; u++) {
		double a[32], b[32], ge = 0, le = 0;
		struct mw_result r;
		unsigned int na = 0, nb = 0;

		/* a data set with U = u: B's values above exactly u pairs */
		for (mask = 0; mask < (1u << total); mask++) {
			unsigned int uu = 0;

			if ((unsigned int)__builtin_popcount(mask) != n)
				continue;
			for (i = 0; i < total; i++)
				if (mask & (1u << i))
					for (j = 0; j < i; j++)
						if (!(mask & (1u << j)))
							uu++;
			if (uu != u)
				continue;
			for (i = 0; i < total; i++) {
				if (mask & (1u << i))
					b[nb++] = i;
				else
					a[na++] = i;
			}
			break;
		}
		assert_int_equal(na, m);
		assert_int_equal(nb, n);
		for (k = 0; k <= m * n; k++) {
			if (k >= u)
				ge += count[k];
			if (k <= u)
				le += count[k];
		}
		assert_int_equal(stats_mann_whitney(a, na, b, nb, 1, &r), 0);
		assert_true(r.exact);
		assert_float_equal(r.u, u, 1e-12);
		assert_float_equal(r.p_greater, ge / all, 1e-12);
		assert_float_equal(r.p_less, le / all, 1e-12);
	}
}

static void test_mw_exact_enumerated(void **state)
{
	(void)state;
	check_exact_enumerated(1, 1);
	check_exact_enumerated(2, 5);
	check_exact_enumerated(4, 5);
	check_exact_enumerated(6, 6);
	check_exact_enumerated(7, 4);
}

/*
 * Ties force the normal approximation.  By hand: A = {1,2,2,3},
 * B = {2,3,3,4}; pooled ranks 1, 3,3,3, 6,6,6, 8; R_B = 3+6+6+8 = 23,
 * U = 23 - 10 = 13; ties t = 3, 3: sum t^3 - t = 48; var = 16/12 *
 * (9 - 48/56) = 10.857; z = (13 - 8 - 0.5)/sqrt(10.857) = 1.3657,
 * P(Z > 1.3657) = 0.08601.
 */
static void test_mw_ties_normal(void **state)
{
	static const double a[] = { 1, 2, 2, 3 }, b[] = { 2, 3, 3, 4 };
	struct mw_result r;
	double var = 16.0 / 12 * (9 - 48.0 / 56);

	(void)state;
	assert_int_equal(stats_mann_whitney(a, 4, b, 4, 1, &r), 0);
	assert_false(r.exact);
	assert_float_equal(r.u, 13, 1e-12);
	assert_float_equal(r.z, 5 / sqrt(var), 1e-9);
	assert_float_equal(r.p_greater, 0.08601, 0.00002);
	/* a variance factor of 4 halves z */
	assert_int_equal(stats_mann_whitney(a, 4, b, 4, 4, &r), 0);
	assert_float_equal(r.z, 2.5 / sqrt(var), 1e-9);
	assert_float_equal(r.p_greater, stats_norm_sf(4.5 / 2 / sqrt(var)), 1e-12);
}

/* Large samples: U = na nb (separation), normal approximation with
 * continuity correction.  20 x 30: mu = 300, var = 600 * 51 / 12 = 2550. */
static void test_mw_normal_large(void **state)
{
	double a[20], b[30];
	struct mw_result r;
	int i;

	(void)state;
	for (i = 0; i < 20; i++)
		a[i] = i;
	for (i = 0; i < 30; i++)
		b[i] = 100 + i;
	assert_int_equal(stats_mann_whitney(a, 20, b, 30, 1, &r), 0);
	assert_false(r.exact);
	assert_float_equal(r.p_greater, stats_norm_sf(299.5 / sqrt(2550)), 1e-15);
	assert_true(r.p_greater < 1e-8);
	/* all equal: no evidence */
	for (i = 0; i < 20; i++)
		a[i] = 7;
	for (i = 0; i < 30; i++)
		b[i] = 7;
	assert_int_equal(stats_mann_whitney(a, 20, b, 30, 1, &r), 0);
	assert_float_equal(r.p_two, 1, 0);
	assert_float_equal(r.prob_greater, 0.5, 1e-12);
	assert_int_equal(stats_mann_whitney(a, 0, b, 30, 1, &r), -EINVAL);
}

static int cmp_d(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return a < b ? -1 : a > b;
}

static void test_hodges_lehmann_and_median(void **state)
{
	static const double a3[] = { 1, 2, 3 }, b3[] = { 4, 5, 6 };
	double a[37], b[23], d[37 * 23], s, v[101], sorted[101], want;
	size_t i, j, k = 0, n;
	int round;

	(void)state;
	/* differences 3,4,5,2,3,4,1,2,3: median 3 */
	assert_int_equal(stats_hodges_lehmann(a3, 3, b3, 3, &s), 0);
	assert_float_equal(s, 3, 0);
	for (i = 0; i < 37; i++)
		a[i] = rng_normal();
	for (i = 0; i < 23; i++)
		b[i] = 0.7 + rng_normal();
	for (i = 0; i < 37; i++)
		for (j = 0; j < 23; j++)
			d[k++] = b[j] - a[i];
	qsort(d, k, sizeof(d[0]), cmp_d);
	assert_int_equal(stats_hodges_lehmann(a, 37, b, 23, &s), 0);
	/* 851 differences: the 426th */
	assert_float_equal(s, d[425], 0);
	assert_int_equal(stats_hodges_lehmann(a, 0, b, 23, &s), -EINVAL);

	/* the median against a sort, odd and even sizes, with duplicates */
	for (round = 0; round < 200; round++) {
		n = 1 + rng_next() % 101;
		for (i = 0; i < n; i++)
			v[i] = (double)(rng_next() % 17);
		memcpy(sorted, v, n * sizeof(v[0]));
		qsort(sorted, n, sizeof(v[0]), cmp_d);
		want = n & 1 ? sorted[n / 2] :
			       (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
		assert_float_equal(stats_median(v, n), want, 0);
	}
	assert_true(isnan(stats_median(v, 0)));
}

/* R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") = 0.03 0.06 0.06 0.02 */
static void test_holm(void **state)
{
	static const double p[] = { 0.01, 0.04, NAN, 0.03, 0.005 };
	double adj[5];

	(void)state;
	assert_int_equal(stats_holm(p, 5, adj), 0);
	assert_float_equal(adj[0], 0.03, 1e-12);
	assert_float_equal(adj[1], 0.06, 1e-12);
	assert_true(isnan(adj[2]));
	assert_float_equal(adj[3], 0.06, 1e-12);
	assert_float_equal(adj[4], 0.02, 1e-12);
}

/*
 * Weighted Holm by hand: p / w orders them 0.004, 0.01, 0.015, 0.04 and
 * the weights left are 4.5, 4, 3, 1: adjusted 0.018, 0.04, 0.045, then
 * max(0.045, 0.04).  Equal weights are plain Holm (R's values above).
 */
static void test_holm_weighted(void **state)
{
	static const double p[] = { 0.01, 0.04, NAN, 0.03, 0.002 };
	static const double w[] = { 1, 1, 7, 2, 0.5 };
	static const double ones[] = { 1, 1, 1, 1, 1 };
	static const double q[] = { 0.01, 0.04, NAN, 0.03, 0.005 };
	double adj[5], plain[5];
	int i;

	(void)state;
	assert_int_equal(stats_holm_weighted(p, w, 5, adj), 0);
	assert_float_equal(adj[4], 0.018, 1e-12);
	assert_float_equal(adj[0], 0.04, 1e-12);
	assert_float_equal(adj[3], 0.045, 1e-12);
	assert_float_equal(adj[1], 0.045, 1e-12);
	assert_true(isnan(adj[2]));
	assert_int_equal(stats_holm_weighted(q, ones, 5, adj), 0);
	assert_int_equal(stats_holm(q, 5, plain), 0);
	for (i = 0; i < 5; i++)
		if (!isnan(plain[i]))
			assert_float_equal(adj[i], plain[i], 1e-12);
}

/* AR(1) series of N values, coefficient PHI, unit innovations, plus OFF. */
static void ar1(double *v, size_t n, double phi, double off)
{
	double x = rng_normal() / sqrt(1 - phi * phi);
	size_t i;

	for (i = 0; i < n; i++) {
		v[i] = off + x;
		x = phi * x + rng_normal();
	}
}

/*
 * Windows of one run drift together.  With phi = 0.7 and 30 windows a
 * side, a plain U test rejects a true null far more often than alpha;
 * inflating its variance by stats_variance_factor brings it back near
 * alpha.  Independent windows get a factor near 1.
 */
static void test_variance_factor_calibration(void **state)
{
	double a[30], b[30], f, rho, icc;
	size_t la[1] = { 30 }, lb[1] = { 30 };
	struct stats_side sa = { a, la, 1 }, sb = { b, lb, 1 };
	struct mw_result r;
	int i, plain = 0, adjusted = 0, trials = 2000;
	double fsum = 0;

	(void)state;
	for (i = 0; i < trials; i++) {
		ar1(a, 30, 0.7, 0);
		ar1(b, 30, 0.7, 0);
		assert_int_equal(stats_mann_whitney(a, 30, b, 30, 1, &r), 0);
		plain += r.p_two < 0.05;
		f = stats_variance_factor(&sa, &sb, &rho, &icc);
		assert_true(f >= 1);
		assert_float_equal(icc, 0, 0);	/* one run a side */
		assert_int_equal(stats_mann_whitney(a, 30, b, 30, f, &r), 0);
		adjusted += r.p_two < 0.05;
	}
	print_message("AR(1) 0.7: plain U rejects %.3f, adjusted %.3f\n",
		      (double)plain / trials, (double)adjusted / trials);
	assert_true(plain > 0.2 * trials);
	assert_true(adjusted < 0.1 * trials);

	for (i = 0; i < 200; i++) {
		ar1(a, 30, 0, 0);
		ar1(b, 30, 0, 0);
		fsum += stats_variance_factor(&sa, &sb, NULL, NULL);
	}
	assert_true(fsum / 200 < 1.25);
}

/*
 * Three runs a side whose levels differ (between-run SD 1, within 0.3):
 * windows of a run are a cluster, the factor approaches the run length,
 * and the adjusted test is calibrated again.
 */
static void test_variance_factor_runs(void **state)
{
	double a[60], b[60], f, icc;
	size_t la[3] = { 20, 20, 20 }, lb[3] = { 20, 20, 20 };
	struct stats_side sa = { a, la, 3 }, sb = { b, lb, 3 };
	struct mw_result r;
	int t, i, j, plain = 0, adjusted = 0, trials = 1000;
	double icc_sum = 0, f_sum = 0;

	(void)state;
	for (t = 0; t < trials; t++) {
		for (j = 0; j < 3; j++) {
			double la_ = rng_normal(), lb_ = rng_normal();

			for (i = 0; i < 20; i++) {
				a[j * 20 + i] = la_ + 0.3 * rng_normal();
				b[j * 20 + i] = lb_ + 0.3 * rng_normal();
			}
		}
		assert_int_equal(stats_mann_whitney(a, 60, b, 60, 1, &r), 0);
		plain += r.p_two < 0.05;
		f = stats_variance_factor(&sa, &sb, NULL, &icc);
		icc_sum += icc;
		f_sum += f;
		assert_int_equal(stats_mann_whitney(a, 60, b, 60, f, &r), 0);
		adjusted += r.p_two < 0.05;
	}
	print_message("run offsets: plain U rejects %.3f, adjusted %.3f; mean ICC %.2f, factor %.1f\n",
		      (double)plain / trials, (double)adjusted / trials,
		      icc_sum / trials, f_sum / trials);
	assert_true(icc_sum / trials > 0.6);
	assert_true(f_sum / trials > 8);
	assert_true(plain > 0.5 * trials);
	assert_true(adjusted < 0.12 * trials);
}

/* The interval covers the true relative shift about LEVEL of the time
 * (serially correlated windows) and is reproducible from its seed. */
static void test_bootstrap(void **state)
{
	double a[25], b[25];
	size_t la[1] = { 25 }, lb[1] = { 25 };
	struct stats_side sa = { a, la, 1 }, sb = { b, lb, 1 };
	struct stats_ci ci, ci2;
	int t, i, cover = 0, trials = 300;

	(void)state;
	for (t = 0; t < trials; t++) {
		ar1(a, 25, 0.3, 0);
		ar1(b, 25, 0.3, 0);
		for (i = 0; i < 25; i++) {
			a[i] = 100 + a[i];
			b[i] = 110 + b[i];
		}
		assert_int_equal(stats_bootstrap_shift(&sa, &sb, 400, 0.95, t, &ci), 0);
		cover += ci.lo <= 0.10 && 0.10 <= ci.hi;
		assert_true(ci.abs_lo <= ci.abs_hi);
		assert_true(ci.abs_lo > 5 && ci.abs_hi < 15);
	}
	print_message("bootstrap 95%% interval covered the shift %d/%d\n", cover,
		      trials);
	assert_true(cover >= 0.90 * trials);
	assert_true(cover <= 0.995 * trials);
	assert_int_equal(stats_bootstrap_shift(&sa, &sb, 400, 0.95, 7, &ci), 0);
	assert_int_equal(stats_bootstrap_shift(&sa, &sb, 400, 0.95, 7, &ci2), 0);
	assert_memory_equal(&ci, &ci2, sizeof(ci));
	assert_int_equal(stats_bootstrap_shift(&sa, &sb, 5, 0.95, 7, &ci), -EINVAL);
	/* a zero baseline gives an infinite relative shift, not a NaN */
	memset(a, 0, sizeof(a));
	for (i = 0; i < 25; i++)
		b[i] = 1;
	assert_int_equal(stats_bootstrap_shift(&sa, &sb, 100, 0.95, 7, &ci), 0);
	assert_true(isinf(ci.lo) && ci.lo > 0);
}

/* One stratum is the plain two-sample comparison. */
static void test_compare_one_stratum(void **state)
{
	static const double x[] = { 0.80, 0.83, 1.89, 1.04, 1.45,
				    1.38, 1.91, 1.64, 0.73, 1.46 };
	static const double y[] = { 1.15, 0.88, 0.90, 0.74, 1.21 };
	size_t lx[1] = { 10 }, ly[1] = { 5 };
	struct stats_stratum st = { { y, ly, 1 }, { x, lx, 1 } };
	struct stats_cmp c;
	double hl;

	(void)state;
	assert_int_equal(stats_compare(&st, 1, 200, 0.95, 1, &c), 0);
	assert_int_equal(stats_hodges_lehmann(y, 5, x, 10, &hl), 0);
	assert_float_equal(c.shift, hl, 0);
	/* R: wilcox.test(x, y, conf.int = TRUE): difference in location 0.305 */
	assert_float_equal(c.shift, 0.305, 1e-9);
	assert_float_equal(c.base, 0.90, 1e-12);
	assert_float_equal(c.rel, 0.305 / 0.90, 1e-9);
	assert_float_equal(c.mw.u, 35, 0);
	assert_float_equal(c.overdispersion, 1, 0);
	assert_int_equal(c.na, 5);
	assert_int_equal(c.nb, 10);
	assert_true(c.ci.abs_lo < c.shift && c.shift < c.ci.abs_hi);
	st.b.nruns = 0;
	assert_int_equal(stats_compare(&st, 1, 200, 0.95, 1, &c), -EINVAL);
}

/*
 * Time slots whose machine state differs a lot (slot level SD 0.2 in log
 * units, as consecutive runs on a shared VM) with a true +3 % in B: the
 * stratified comparison finds it almost always, one stratum of all runs
 * almost never.  Without an effect, but with a per-process offset (SD
 * 0.02: where one process's tables landed), the stratified test still
 * keeps near its level thanks to the overdispersion factor.
 */
static void test_compare_strata(void **state)
{
	enum { SLOTS = 3, W = 8 };
	double a[SLOTS * W], b[SLOTS * W];
	size_t len[SLOTS] = { W, W, W }, one[1] = { W };
	struct stats_stratum st[SLOTS], all;
	struct stats_cmp c;
	int t, i, j, found = 0, pooled = 0, false_alarms = 0, trials = 300;

	(void)state;
	for (t = 0; t < trials; t++) {
		for (j = 0; j < SLOTS; j++) {
			double slot = 0.2 * rng_normal();

			for (i = 0; i < W; i++) {
				a[j * W + i] = exp(slot + 0.01 * rng_normal());
				b[j * W + i] = exp(slot + 0.03 + 0.01 * rng_normal());
			}
			st[j].a = (struct stats_side){ a + j * W, one, 1 };
			st[j].b = (struct stats_side){ b + j * W, one, 1 };
		}
		all.a = (struct stats_side){ a, len, SLOTS };
		all.b = (struct stats_side){ b, len, SLOTS };
		assert_int_equal(stats_compare(st, SLOTS, 50, 0.95, t, &c), 0);
		found += c.mw.p_greater < 0.01;
		assert_int_equal(stats_compare(&all, 1, 50, 0.95, t, &c), 0);
		pooled += c.mw.p_greater < 0.01;

		for (j = 0; j < SLOTS; j++) {
			double slot = 0.2 * rng_normal();
			double pa = 0.02 * rng_normal(), pb = 0.02 * rng_normal();

			for (i = 0; i < W; i++) {
				a[j * W + i] = exp(slot + pa + 0.01 * rng_normal());
				b[j * W + i] = exp(slot + pb + 0.01 * rng_normal());
			}
		}
		assert_int_equal(stats_compare(st, SLOTS, 50, 0.95, t, &c), 0);
		assert_true(c.overdispersion >= 1);
		false_alarms += c.mw.p_greater < 0.05;
	}
	print_message("strata: +3%% found %d/%d (pooled %d/%d); process offsets: %d/%d below 0.05\n",
		      found, trials, pooled, trials, false_alarms, trials);
	assert_true(found > 0.9 * trials);
	assert_true(pooled < 0.2 * trials);
	assert_true(false_alarms < 0.15 * trials);
}

/*
 * Hollander & Wolfe (1973), p. 29 (R's ?wilcox.test): Hamilton depression
 * scale before (y) and after (x) a tranquilizer, H1: x greater.
 * R: V = 40, p-value = 0.01953 (exact: 10 / 512).
 */
static void test_signed_rank_hollander_wolfe(void **state)
{
	static const double x[] = { 1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30 };
	static const double y[] = { 0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29 };
	double d[9], est;
	struct mw_result r;
	int i;

	(void)state;
	for (i = 0; i < 9; i++)
		d[i] = x[i] - y[i];
	assert_int_equal(stats_signed_rank(d, 9, 1, &r), 0);
	assert_true(r.exact);
	assert_float_equal(r.u, 40, 1e-12);
	assert_float_equal(r.p_greater, 10.0 / 512, 1e-12);
	assert_float_equal(r.prob_greater, 40.0 / 45, 1e-12);
	/* R: wilcox.test(x, y, paired = TRUE, conf.int = TRUE):
	 * (pseudo)median 0.46 */
	assert_int_equal(stats_hodges_lehmann1(d, 9, &est), 0);
	assert_float_equal(est, 0.46, 1e-9);
}

/* The exact null against enumerating all 2^n sign patterns of ranks 1..n,
 * and the normal approximation with ties and zeros by hand. */
static void test_signed_rank_exact_and_ties(void **state)
{
	double d[10], count[64] = { 0 }, ge, z;
	unsigned int n = 10, mask, i, t;
	struct mw_result r;

	(void)state;
	for (mask = 0; mask < (1u << n); mask++) {
		for (i = 0, t = 0; i < n; i++)
			if (mask & (1u << i))
				t += i + 1;
		count[t]++;
	}
	for (t = 0; t <= 55; t += 5) {
		/* a data set with T+ = t: signs of ranks by greedy descent */
		unsigned int left = t;

		for (i = n; i >= 1; i--) {
			d[i - 1] = left >= i ? (double)i : -(double)i;
			if (left >= i)
				left -= i;
		}
		assert_int_equal(left, 0);
		assert_int_equal(stats_signed_rank(d, n, 1, &r), 0);
		assert_true(r.exact);
		assert_float_equal(r.u, t, 0);
		for (i = t, ge = 0; i <= 55; i++)
			ge += count[i];
		assert_float_equal(r.p_greater, ge / 1024, 1e-12);
	}
	/* d = {0, 1, 1, -2, 3, 3, 3}: the zero dropped, |d| ranks 1.5 1.5 3
	 * 5 5 5; T+ = 18; mean 10.5; var = 6*7*13/24 - (6 + 24)/48 = 22.125 */
	{
		static const double dt[] = { 0, 1, 1, -2, 3, 3, 3 };

		assert_int_equal(stats_signed_rank(dt, 7, 1, &r), 0);
		assert_false(r.exact);
		assert_float_equal(r.u, 18, 1e-12);
		z = (18 - 10.5 - 0.5) / sqrt(22.125);
		assert_float_equal(r.p_greater, stats_norm_sf(z), 1e-12);
	}
	memset(d, 0, sizeof(d));
	assert_int_equal(stats_signed_rank(d, 10, 1, &r), 0);
	assert_float_equal(r.p_two, 1, 0);
}

/*
 * Pairs measured at the same time share the machine's state (here a drift
 * of SD 0.1 in log units from window to window, and from slot to slot):
 * the paired comparison finds +2 % nearly always, the unpaired one of the
 * same windows rarely; without an effect both stay near their level.
 */
static void test_compare_paired(void **state)
{
	enum { SLOTS = 3, W = 8 };
	double a[SLOTS * W], b[SLOTS * W];
	size_t len[SLOTS] = { W, W, W };
	struct stats_stratum st[SLOTS];
	struct stats_cmp c;
	int t, i, j, fp = 0, fu = 0, aa = 0, covered = 0, trials = 300;
	double eff;

	(void)state;
	for (t = 0; t < 2 * trials; t++) {
		eff = t < trials ? 0.02 : 0;
		for (j = 0; j < SLOTS; j++) {
			double slot = 0.1 * rng_normal();

			for (i = 0; i < W; i++) {
				double now = slot + 0.1 * rng_normal();

				a[j * W + i] = exp(now + 0.005 * rng_normal());
				b[j * W + i] = exp(now + eff + 0.005 * rng_normal());
			}
			st[j].a = (struct stats_side){ a + j * W, &len[j], 1 };
			st[j].b = (struct stats_side){ b + j * W, &len[j], 1 };
		}
		assert_int_equal(stats_compare_paired(st, SLOTS, t < 40 ? 200 : 0, 0.95, t, &c), 0);
		assert_int_equal(c.na, SLOTS * W);
		if (eff > 0) {
			fp += c.mw.p_greater < 0.01;
			/* the log ratio's HL: exp(0.02) - 1 */
			if (t < 40)
				covered += c.ci.lo < expm1(0.02) && expm1(0.02) < c.ci.hi;
			assert_int_equal(stats_compare(st, SLOTS, 0, 0.95, t, &c), 0);
			fu += c.mw.p_greater < 0.01;
		} else {
			aa += c.mw.p_greater < 0.05;
		}
	}
	print_message("paired: +2%% found %d/%d (unpaired %d/%d); no effect: %d/%d below 0.05; CI covered %d/40\n",
		      fp, trials, fu, trials, aa, trials, covered);
	assert_true(covered >= 34);
	assert_true(fp > 0.95 * trials);
	assert_true(fu < 0.5 * trials);
	assert_true(aa < 0.1 * trials);
	/* unequal pair counts are refused */
	len[0] = W - 1;
	st[0].a.run_len = &len[0];
	st[0].b.run_len = &len[1];
	assert_int_equal(stats_compare_paired(st, SLOTS, 0, 0.95, 1, &c), -EINVAL);
}

/*
 * The paired test's false positives under true nulls shaped like the
 * gate's A/A data: 3 slots of 15 window pairs, log ratios with 1.5 % noise
 * per pair, serially correlated inside a slot (AR(1), phi 0.3), and
 * SLOT_SD of a per-slot offset (two processes of one binary differ a
 * little).  Counts p_greater below 0.01 and 0.05, and "fails": below 0.01
 * with the estimate beyond a +2 % limit, as the gate requires.
 */
static void paired_nulls(double slot_sd, int trials, int *r01, int *r05,
			 int *fails)
{
	enum { SLOTS = 3, W = 15 };
	double a[SLOTS * W], b[SLOTS * W];
	size_t len[SLOTS] = { W, W, W };
	struct stats_stratum st[SLOTS];
	struct stats_cmp c;
	int t, i, j;

	*r01 = *r05 = *fails = 0;
	for (t = 0; t < trials; t++) {
		for (j = 0; j < SLOTS; j++) {
			double slot = slot_sd * rng_normal(), e = 0;

			for (i = 0; i < W; i++) {
				double now = 0.1 * rng_normal();

				e = 0.3 * e + 0.015 * sqrt(1 - 0.09) * rng_normal();
				a[j * W + i] = exp(now);
				b[j * W + i] = exp(now + slot + e);
			}
			st[j].a = (struct stats_side){ a + j * W, &len[j], 1 };
			st[j].b = (struct stats_side){ b + j * W, &len[j], 1 };
		}
		assert_int_equal(stats_compare_paired(st, SLOTS, 0, 0.95, t, &c), 0);
		*r01 += c.mw.p_greater < 0.01;
		*r05 += c.mw.p_greater < 0.05;
		*fails += c.mw.p_greater < 0.01 && c.rel >= 0.02;
	}
}

/*
 * Without offsets between processes the test holds its level.  With them
 * (SD 0.5 % of the ratio per slot) three slots measure the spread poorly
 * and it rejects about 3x too often at 0.01 -- measured, documented in
 * docs/ci.md -- but the estimate stays far under a +2 % limit, so the
 * gate does not fail on it.  Bounds here guard against it getting worse.
 */
static void test_compare_paired_null(void **state)
{
	int r01, r05, fails, trials = 4000;

	(void)state;
	paired_nulls(0, trials, &r01, &r05, &fails);
	print_message("paired nulls, no offsets: p < 0.01 in %.2f%%, < 0.05 in %.2f%%\n",
		      100.0 * r01 / trials, 100.0 * r05 / trials);
	assert_true(r01 < 0.02 * trials);
	assert_true(r05 < 0.07 * trials);
	paired_nulls(0.005, trials, &r01, &r05, &fails);
	print_message("paired nulls, 0.5%% offsets: p < 0.01 in %.2f%%, < 0.05 in %.2f%%; beyond +2%% too: %d\n",
		      100.0 * r01 / trials, 100.0 * r05 / trials, fails);
	assert_true(r01 < 0.05 * trials);
	assert_true(r05 < 0.10 * trials);
	assert_true(fails <= 0.001 * trials);
}

static void test_ols_slope(void **state)
{
	double x[10], y[10], t, s;
	int i;

	(void)state;
	for (i = 0; i < 10; i++) {
		x[i] = i;
		y[i] = 2 * i + 1;
	}
	assert_float_equal(stats_ols_slope(x, y, 10, &t), 2, 1e-12);
	assert_true(isinf(t));
	for (i = 0; i < 10; i++)
		y[i] = 3 + (i & 1);	/* flat with alternation */
	s = stats_ols_slope(x, y, 10, &t);
	assert_true(fabs(s) < 0.1 && fabs(t) < 2);
	assert_float_equal(stats_ols_slope(x, y, 2, &t), 0, 0);
	assert_float_equal(t, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mw_hollander_wolfe),
		cmocka_unit_test(test_mw_exact_separation),
		cmocka_unit_test(test_mw_exact_enumerated),
		cmocka_unit_test(test_mw_ties_normal),
		cmocka_unit_test(test_mw_normal_large),
		cmocka_unit_test(test_hodges_lehmann_and_median),
		cmocka_unit_test(test_holm),
		cmocka_unit_test(test_holm_weighted),
		cmocka_unit_test(test_variance_factor_calibration),
		cmocka_unit_test(test_variance_factor_runs),
		cmocka_unit_test(test_bootstrap),
		cmocka_unit_test(test_compare_one_stratum),
		cmocka_unit_test(test_compare_strata),
		cmocka_unit_test(test_signed_rank_hollander_wolfe),
		cmocka_unit_test(test_signed_rank_exact_and_ties),
		cmocka_unit_test(test_compare_paired),
		cmocka_unit_test(test_compare_paired_null),
		cmocka_unit_test(test_ols_slope),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
