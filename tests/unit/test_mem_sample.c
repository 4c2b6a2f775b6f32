// SPDX-License-Identifier: MIT
/*
 * <loupe/mem_sample.h>: the integer-only byte sampling that
 * bpf/mem_uprobe.bpf.c runs in the kernel.  Checked here against libm:
 * the fixed-point logarithm, the exponential gaps (mean and tail), and the
 * estimator (sum of weights = bytes allocated, unbiased for any size).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <linux/types.h>

#include <loupe/mem_sample.h>

/* A fixed stream: the test must not depend on the run. */
static __u32 rng(__u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (__u32)((*s * 0x2545f4914f6cdd1dull) >> 32);
}

static void test_neg_log2(void **state)
{
	__u64 r, s = 88172645463325252ull;
	double want, got, worst = 0;
	int i;

	(void)state;
	assert_int_equal(mem_sample_neg_log2_q16(1ull << 32), 0);
	assert_int_equal(mem_sample_neg_log2_q16(1), 32 << 16);
	assert_int_equal(mem_sample_neg_log2_q16(1ull << 31), 1 << 16);
	for (i = 0; i < 200000; i++) {
		r = (i < 64 ? 1ull << (i % 32) : rng(&s)) + (i >= 64);
		want = -log2((double)r / 4294967296.0);
		got = mem_sample_neg_log2_q16(r) / 65536.0;
		if (fabs(got - want) > worst)
			worst = fabs(got - want);
	}
	print_message("# neg_log2_q16: worst error %.2e (limit 2^-15)\n", worst);
	assert_true(worst < 1.0 / 32768);
}

static void test_gap_distribution(void **state)
{
	const __u64 mean = 65536;
	const int n = 1000000;
	__u64 s = 0x9e3779b97f4a7c15ull;
	double sum = 0, above = 0, g;
	int i;

	(void)state;
	for (i = 0; i < n; i++) {
		g = (double)mem_sample_gap(rng(&s), mean);
		sum += g;
		above += g > mean;
	}
	print_message("# gaps: mean %.1f (want %llu), P(gap > mean) %.4f (want %.4f)\n",
		      sum / n, (unsigned long long)mean, above / n, exp(-1));
	/* sd of the mean is mean/sqrt(n) = 0.1 %: 0.5 % is 5 sd */
	assert_true(fabs(sum / n - mean) < 0.005 * mean);
	assert_true(fabs(above / n - exp(-1)) < 0.005);
	/* the extremes: never 0, at most 32 ln 2 times the mean */
	assert_int_equal(mem_sample_gap(0xffffffffu, mean), 1);
	assert_true(mem_sample_gap(0, mean) <= (__s64)(22.19 * mean));
	assert_true(mem_sample_gap(0, mean) >= (__s64)(22.17 * mean));
	assert_true(mem_sample_gap(12345, MEM_SAMPLE_MAX_MEAN) > 0);
}

/* Sum of weights over a stream of SIZE-byte allocations, / bytes. */
static double estimate_ratio(__u64 size, __u64 mean, __u64 total, int *samples)
{
	__u64 s = 0x2545f4914f6cdd1dull ^ size, w, bytes = 0;
	__s64 countdown = mem_sample_gap(rng(&s), mean);
	double est = 0;

	*samples = 0;
	while (bytes < total) {
		w = mem_sample_account(&countdown, size, mean, rng(&s));
		if (w) {
			assert_true(w >= mean);
			est += (double)w;
			(*samples)++;
		}
		bytes += size;
	}
	return est / (double)bytes;
}

static void test_estimator_unbiased(void **state)
{
	/* Small, near the mean (where max(size, mean) is 37 % low), large. */
	static const __u64 sizes[] = { 16, 1000, 65536, 100000, 8 << 20 };
	const __u64 mean = 65536;
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		double r = estimate_ratio(sizes[i], mean, 40000ull * mean, &n);

		print_message("# size %llu: estimate / bytes = %.4f over %d samples\n",
			      (unsigned long long)sizes[i], r, n);
		/* ~40000 samples: relative sd <= 0.5 % */
		assert_true(fabs(r - 1) < 0.02);
	}
}

static void test_countdown(void **state)
{
	__s64 cd = 100;

	(void)state;
	/* No sample point in the first 99 bytes; the 100th holds one. */
	assert_int_equal(mem_sample_account(&cd, 99, 4096, 0x80000000u), 0);
	assert_int_equal(cd, 1);
	/* 1 byte past the point: weight mean + 9, a fresh gap drawn */
	assert_int_equal(mem_sample_account(&cd, 10, 4096, 0x80000000u), 4096 + 9);
	assert_true(cd > 0);
	/* a huge request is clamped, not overflowed */
	cd = 5;
	assert_true(mem_sample_account(&cd, ~0ull, 4096, 1) ==
		    4096 + MEM_SAMPLE_MAX_SIZE - 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_neg_log2),
		cmocka_unit_test(test_gap_distribution),
		cmocka_unit_test(test_estimator_unbiased),
		cmocka_unit_test(test_countdown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
