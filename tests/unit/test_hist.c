// SPDX-License-Identifier: MIT
/*
 * Unit tests for the log-linear histogram (analyzer/hist.h): bucket layout,
 * quantiles against exact sorted data, merge, and edge values.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "analyzer/hist.h"

#define LAST (HIST_NBUCKETS - 1)

/* xorshift64*: deterministic across runs and libcs. */
static __u64 rng_state;

static __u64 rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static double rng_unit(void)
{
	/* (0, 1]: never 0, so log() below is finite. */
	return ((double)(rng_next() >> 11) + 1.0) / 9007199254740992.0;
}

static struct hist *hist_alloc(void)
{
	struct hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	hist_init(h);
	return h;
}

/* The layout as hist.h states it, written independently of hist.c. */
static unsigned int ref_bucket(__u64 v)
{
	unsigned int e = 0;

	if (v < 64)
		return (unsigned int)v;
	if (v >= (1ULL << 42))
		return LAST;
	while ((v >> e) > 1)
		e++;
	return (e - 5) * 64 + (unsigned int)((v >> (e - 6)) & 63);
}

static void test_small_values_exact(void **state)
{
	__u64 v;

	(void)state;
	for (v = 0; v < 128; v++) {
		assert_int_equal(hist_bucket(v), v);
		assert_int_equal(hist_bucket_low((unsigned int)v), v);
		assert_int_equal(hist_bucket_high((unsigned int)v), v);
	}
}

static void test_bucket_spot_values(void **state)
{
	(void)state;
	assert_int_equal(hist_bucket(128), 128);
	assert_int_equal(hist_bucket(129), 128);
	assert_int_equal(hist_bucket(130), 129);
	assert_int_equal(hist_bucket(255), 191);
	assert_int_equal(hist_bucket(256), 192);
	assert_int_equal(hist_bucket(1000), ref_bucket(1000));
	assert_int_equal(hist_bucket((1ULL << 42) - 1), LAST);
	assert_int_equal(hist_bucket(1ULL << 42), LAST);
	assert_int_equal(hist_bucket(UINT64_MAX), LAST);
	assert_int_equal(HIST_NBUCKETS, 2368);
}

static void test_bucket_matches_reference(void **state)
{
	unsigned int i, s;

	(void)state;
	rng_state = 0x1234567;
	for (i = 0; i < 200000; i++) {
		/* Random magnitude, then random bits below it. */
		s = (unsigned int)(rng_next() % 64);
		__u64 v = rng_next() >> s;

		assert_int_equal(hist_bucket(v), ref_bucket(v));
	}
	for (s = 0; s < 64; s++) {
		__u64 p = 1ULL << s;

		assert_int_equal(hist_bucket(p), ref_bucket(p));
		assert_int_equal(hist_bucket(p - 1), ref_bucket(p - 1));
		assert_int_equal(hist_bucket(p + 1), ref_bucket(p + 1));
	}
}

static void test_bucket_layout_contiguous(void **state)
{
	unsigned int b;

	(void)state;
	assert_int_equal(hist_bucket_low(0), 0);
	assert_true(hist_bucket_high(LAST) == UINT64_MAX);
	for (b = 0; b < HIST_NBUCKETS; b++) {
		__u64 lo = hist_bucket_low(b), hi = hist_bucket_high(b);

		assert_true(lo <= hi);
		assert_int_equal(hist_bucket(lo), b);
		assert_int_equal(hist_bucket(hi), b);
		if (b) {
			/* Contiguous and strictly increasing. */
			assert_true(lo == hist_bucket_high(b - 1) + 1);
			assert_true(lo > hist_bucket_low(b - 1));
		}
		/* At most 1/64 of the value wide (the last bucket holds the
		 * clamped overflow and is exempt). */
		if (b >= 64 && b < LAST)
			assert_true(hi - lo + 1 <= lo / 64);
	}
	/* Out-of-range bucket numbers clamp instead of shifting wildly. */
	assert_true(hist_bucket_low(HIST_NBUCKETS + 5) ==
		    hist_bucket_low(LAST));
}

static void test_empty(void **state)
{
	struct hist *h = hist_alloc();

	(void)state;
	assert_true(h->count == 0);
	assert_true(h->min == UINT64_MAX);
	assert_true(h->max == 0);
	assert_true(hist_quantile(h, 0.5) == 0);
	assert_true(hist_quantile(h, 1.0) == 0);
	assert_true(hist_mean(h) == 0.0);
	free(h);
}

static void test_single_value(void **state)
{
	struct hist *h = hist_alloc();
	const double qs[] = { 0.0, 0.3, 0.5, 0.99, 1.0 };
	unsigned int i;

	(void)state;
	hist_add(h, 123456789);
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		assert_true(hist_quantile(h, qs[i]) == 123456789);
	assert_true(hist_mean(h) == 123456789.0);
	free(h);
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

enum dist { D_UNIFORM, D_EXP, D_LOGNORMAL, D_PARETO, D_BIMODAL, D_SMALL,
	    D_CONST, D_NDIST };

static __u64 dist_sample(enum dist d)
{
	double u = rng_unit(), g;

	switch (d) {
	case D_UNIFORM:
		return 1000 + rng_next() % 5000000;
	case D_EXP:
		return (__u64)(-log(u) * 2e6);
	case D_LOGNORMAL:
		/* Box-Muller: a normal deviate from two uniforms. */
		g = sqrt(-2.0 * log(u)) * cos(2 * M_PI * rng_unit());
		return (__u64)exp(13.0 + 1.5 * g);
	case D_PARETO:
		return (__u64)(50000.0 / pow(u, 1.0 / 1.2));
	case D_BIMODAL:
		return rng_next() % 10 ? 800000 + rng_next() % 100000
				       : 40000000 + rng_next() % 9000000;
	case D_SMALL:
		return rng_next() % 300;
	case D_CONST:
	case D_NDIST:
		break;
	}
	return 4242424;
}

static void test_quantiles_vs_exact(void **state)
{
	const double qs[] = { 0.0,  0.001, 0.01, 0.1,	0.25, 0.5,
			      0.75, 0.9,   0.99, 0.999, 0.9999, 1.0 };
	const size_t n = 50000;
	__u64 *v = malloc(n * sizeof(*v));
	struct hist *h = hist_alloc();
	unsigned int d, i;

	(void)state;
	assert_non_null(v);
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (d = 0; d < D_NDIST; d++) {
		__u64 sum = 0;

		hist_init(h);
		for (i = 0; i < n; i++) {
			v[i] = dist_sample(d);
			hist_add(h, v[i]);
			sum += v[i];
		}
		qsort(v, n, sizeof(*v), cmp_u64);
		assert_true(h->count == n);
		assert_true(h->sum == sum);
		assert_true(h->min == v[0]);
		assert_true(h->max == v[n - 1]);
		assert_true(fabs(hist_mean(h) - (double)sum / n) < 1e-6 * sum);
		for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
			size_t rank = (size_t)ceil(qs[i] * (double)n);
			__u64 exact, got;
			unsigned int be, bg;

			if (rank < 1)
				rank = 1;
			exact = v[rank - 1];
			got = hist_quantile(h, qs[i]);
			be = hist_bucket(exact);
			bg = hist_bucket(got);
			/* The answer lies in the exact value's bucket, i.e.
			 * within one bucket width of it. */
			assert_true(be == bg);
			if (exact < 128)
				assert_true(got == exact);
			else
				assert_true(fabs((double)got - (double)exact) <=
					    (double)exact / 64.0);
		}
		/* The extremes stay inside [min, max]. */
		assert_true(hist_quantile(h, 0.0) >= v[0]);
		assert_true(hist_quantile(h, 1.0) <= v[n - 1]);
	}
	free(h);
	free(v);
}

static void test_quantile_q_out_of_range(void **state)
{
	struct hist *h = hist_alloc();

	(void)state;
	hist_add(h, 100);
	hist_add(h, 200000);
	assert_true(hist_quantile(h, -1.0) == hist_quantile(h, 0.0));
	assert_true(hist_quantile(h, 2.0) == hist_quantile(h, 1.0));
	assert_int_equal(hist_bucket(hist_quantile(h, 2.0)),
			 hist_bucket(200000));
	assert_true(hist_quantile(h, NAN) == hist_quantile(h, 0.0));
	assert_true(hist_quantile(h, 0.0) == 100);
	free(h);
}

static void test_add_n(void **state)
{
	struct hist *a = hist_alloc(), *b = hist_alloc();
	unsigned int i;

	(void)state;
	for (i = 0; i < 7; i++)
		hist_add(a, 31337);
	hist_add_n(b, 31337, 7);
	hist_add_n(b, 99, 0);
	assert_memory_equal(a, b, sizeof(*a));
	free(a);
	free(b);
}

static void test_merge(void **state)
{
	struct hist *a = hist_alloc(), *b = hist_alloc();
	struct hist *all = hist_alloc(), *e = hist_alloc();
	unsigned int i;

	(void)state;
	rng_state = 77;
	for (i = 0; i < 10000; i++) {
		__u64 x = dist_sample(D_LOGNORMAL);

		hist_add(i % 3 ? a : b, x);
		hist_add(all, x);
	}
	hist_merge(a, b);
	assert_memory_equal(a, all, sizeof(*a));

	/* Empty into full: nothing changes (min must not become 0 or max
	 * UINT64_MAX from the empty one's sentinels). */
	hist_merge(a, e);
	assert_memory_equal(a, all, sizeof(*a));

	/* Full into empty: a copy. */
	hist_merge(e, all);
	assert_memory_equal(e, all, sizeof(*e));

	/* Empty into empty stays empty. */
	hist_init(a);
	hist_init(b);
	hist_merge(a, b);
	assert_true(a->count == 0 && a->min == UINT64_MAX && a->max == 0);
	free(a);
	free(b);
	free(all);
	free(e);
}

static void test_huge_values(void **state)
{
	struct hist *h = hist_alloc();

	(void)state;
	hist_add(h, 1ULL << 42);
	hist_add(h, 1ULL << 63);
	hist_add(h, UINT64_MAX);
	assert_true(h->buckets[LAST] == 3);
	assert_true(h->max == UINT64_MAX);
	assert_true(h->min == 1ULL << 42);
	/* The sum saturates instead of wrapping to a small number. */
	assert_true(h->sum == UINT64_MAX);
	/* All in the overflow bucket: its midpoint, inside [min, max]. */
	assert_int_equal(hist_bucket(hist_quantile(h, 1.0)), LAST);
	assert_true(hist_quantile(h, 0.0) >= 1ULL << 42);

	hist_init(h);
	hist_add_n(h, UINT64_MAX / 2, 3);
	assert_true(h->sum == UINT64_MAX);
	assert_true(h->count == 3);

	/* One huge outlier does not drag ordinary quantiles. */
	hist_init(h);
	hist_add_n(h, 1000, 99);
	hist_add(h, UINT64_MAX);
	assert_int_equal(hist_bucket(hist_quantile(h, 0.5)), hist_bucket(1000));
	assert_int_equal(hist_bucket(hist_quantile(h, 0.99)),
			 hist_bucket(1000));
	assert_int_equal(hist_bucket(hist_quantile(h, 1.0)), LAST);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_values_exact),
		cmocka_unit_test(test_bucket_spot_values),
		cmocka_unit_test(test_bucket_matches_reference),
		cmocka_unit_test(test_bucket_layout_contiguous),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single_value),
		cmocka_unit_test(test_quantiles_vs_exact),
		cmocka_unit_test(test_quantile_q_out_of_range),
		cmocka_unit_test(test_add_n),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_huge_values),
	};

	return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
