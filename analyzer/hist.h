/* SPDX-License-Identifier: MIT */
/*
 * Log-linear latency histogram (HDR-style).
 *
 * Values below 64 get one bucket each; above, every power of two is split
 * into 64 equal sub-buckets, so a bucket is at most 1/64 (1.6 %) of its
 * value wide and a quantile read at the bucket midpoint is within 0.8 %.
 * Values >= 2^42 ns (~73 min) land in the last bucket.  count, sum, min and
 * max are exact.  Not thread-safe; the collector owns one per (model, stage)
 * per window and merges them for reports.
 */
#ifndef LOUPE_HIST_H
#define LOUPE_HIST_H

#include <linux/types.h>

#define HIST_SUB_BITS 6
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_MAX_BITS 42
#define HIST_NBUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB_COUNT)

struct hist {
	__u64 count;
	__u64 sum;
	__u64 min;	/* UINT64_MAX when empty */
	__u64 max;
	__u64 buckets[HIST_NBUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, __u64 value);
void hist_add_n(struct hist *h, __u64 value, __u64 n);
void hist_merge(struct hist *dst, const struct hist *src);

/* Bucket index of a value, and the inclusive value range of a bucket. */
unsigned int hist_bucket(__u64 value);
__u64 hist_bucket_low(unsigned int bucket);
__u64 hist_bucket_high(unsigned int bucket);

/*
 * Nearest-rank quantile (q in [0,1]): the midpoint of the bucket holding the
 * ceil(q * count)-th smallest value, clamped to [min, max].  0 when empty.
 */
__u64 hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);

#endif
