// SPDX-License-Identifier: MIT
/*
 * Log-linear latency histogram; layout and contract in analyzer/hist.h.
 *
 * Bucket b < 64 holds exactly the value b.  Above that, a value v with
 * e = floor(log2 v) goes to bucket (e - 5) * 64 + sub, where sub is the six
 * bits just below the leading one.  e = 6 (64..127) therefore still has
 * buckets of width 1, e = 7 of width 2, and so on; e = 41 ends at bucket
 * HIST_NBUCKETS - 1, which also takes every value >= 2^42.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "analyzer/hist.h"

#define HIST_LAST (HIST_NBUCKETS - 1)

/* Saturating add: sums of nanosecond latencies stay meaningful (a mean that
 * is too low) instead of wrapping to nonsense. */
static __u64 hist_sat_add(__u64 a, __u64 b)
{
	__u64 r;

	if (__builtin_add_overflow(a, b, &r))
		return UINT64_MAX;
	return r;
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned int hist_bucket(__u64 value)
{
	unsigned int e;

	if (value < HIST_SUB_COUNT)
		return (unsigned int)value;
	if (value >> HIST_MAX_BITS)
		return HIST_LAST;
	e = 63 - (unsigned int)__builtin_clzll(value);
	return (e - (HIST_SUB_BITS - 1)) * HIST_SUB_COUNT +
	       (unsigned int)((value >> (e - HIST_SUB_BITS)) &
			      (HIST_SUB_COUNT - 1));
}

__u64 hist_bucket_low(unsigned int bucket)
{
	unsigned int e, sub;

	if (bucket > HIST_LAST)
		bucket = HIST_LAST;
	if (bucket < HIST_SUB_COUNT)
		return bucket;
	e = bucket / HIST_SUB_COUNT + (HIST_SUB_BITS - 1);
	sub = bucket % HIST_SUB_COUNT;
	return (__u64)(HIST_SUB_COUNT + sub) << (e - HIST_SUB_BITS);
}

__u64 hist_bucket_high(unsigned int bucket)
{
	unsigned int e;

	/* The last bucket is where everything >= 2^42 is clamped, so its
	 * range really does extend to the largest value. */
	if (bucket >= HIST_LAST)
		return UINT64_MAX;
	if (bucket < HIST_SUB_COUNT)
		return bucket;
	e = bucket / HIST_SUB_COUNT + (HIST_SUB_BITS - 1);
	return hist_bucket_low(bucket) + ((__u64)1 << (e - HIST_SUB_BITS)) - 1;
}

void hist_add_n(struct hist *h, __u64 value, __u64 n)
{
	__u64 prod;

	if (!n)
		return;
	h->count += n;
	if (__builtin_mul_overflow(value, n, &prod))
		prod = UINT64_MAX;
	h->sum = hist_sat_add(h->sum, prod);
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
	h->buckets[hist_bucket(value)] += n;
}

void hist_add(struct hist *h, __u64 value)
{
	hist_add_n(h, value, 1);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned int i;

	/* An empty source carries min = UINT64_MAX, max = 0, which must not
	 * leak into dst's bounds. */
	if (!src->count)
		return;
	dst->count += src->count;
	dst->sum = hist_sat_add(dst->sum, src->sum);
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	for (i = 0; i < HIST_NBUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
}

__u64 hist_quantile(const struct hist *h, double q)
{
	__u64 rank, seen = 0, v;
	unsigned int i;
	double r;

	if (!h->count)
		return 0;
	/* NaN compares false everywhere; treat it like q = 0. */
	if (!(q > 0.0))
		q = 0.0;
	if (q > 1.0)
		q = 1.0;
	r = ceil(q * (double)h->count);
	/* Doubles past 2^64 do not convert; count itself is the ceiling. */
	if (r >= (double)h->count)
		rank = h->count;
	else
		rank = r < 1.0 ? 1 : (__u64)r;

	for (i = 0; i < HIST_NBUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			break;
	}
	/* Buckets summing to less than count only happen with a hand-built
	 * histogram; the largest value is the honest answer then. */
	if (i == HIST_NBUCKETS)
		return h->max;
	v = hist_bucket_low(i) + (hist_bucket_high(i) - hist_bucket_low(i)) / 2;
	if (v > h->max)
		v = h->max;
	if (v < h->min)
		v = h->min;
	return v;
}

double hist_mean(const struct hist *h)
{
	if (!h->count)
		return 0.0;
	return (double)h->sum / (double)h->count;
}
