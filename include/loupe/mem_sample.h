/* SPDX-License-Identifier: MIT */
/*
 * Byte sampling of allocations in integer arithmetic, shared by
 * bpf/mem_uprobe.bpf.c (which has no floating point) and its unit test.
 * The same Poisson process as libloupe-alloc.so (collector/shim/alloc.c):
 * each thread counts down bytes to its next sample point, the gaps are
 * exponential with mean MEAN; an allocation containing a point is sampled
 * with weight MEAN + (bytes of it past the point), an unbiased estimate of
 * its size.  The includer provides __u32/__u64/__s64.
 */
#ifndef LOUPE_MEM_SAMPLE_H
#define LOUPE_MEM_SAMPLE_H

#define MEM_SAMPLE_DEFAULT_MEAN (512 * 1024)
#define MEM_SAMPLE_MIN_MEAN 16ull		/* the shim's clamp, same reason */
#define MEM_SAMPLE_MAX_MEAN (1ull << 32)	/* keeps the products in 64 bits */
#define MEM_SAMPLE_MAX_SIZE (1ull << 40)	/* larger requests fail anyway */

/*
 * -log2(U) in Q16 fixed point for U = R / 2^32, R in [1, 2^32]: 0 for
 * R = 2^32, 32 << 16 for R = 1.  The integer part is the position of R's
 * top bit; the fraction comes bit by bit from squaring the mantissa (m in
 * [1, 2) as Q31: m^2 >= 2 means the next bit is 1).  Truncation keeps the
 * error under 2^-16 (1e-5 of the mean gap), far below sampling noise.
 */
static inline __u64 mem_sample_neg_log2_q16(__u64 r)
{
	__u64 x = r, frac = 0;
	__u32 e = 0, i;

	if (r >= (1ull << 32))
		return 0;
	/* Top bit of r (< 2^32) by binary search: BPF has no clz. */
	if (x >> 16) { x >>= 16; e += 16; }
	if (x >> 8) { x >>= 8; e += 8; }
	if (x >> 4) { x >>= 4; e += 4; }
	if (x >> 2) { x >>= 2; e += 2; }
	if (x >> 1) { e += 1; }
	x = r << (31 - e);		/* mantissa in [2^31, 2^32) */
	/* Branch-free, so the BPF verifier walks one path, not 2^16. */
	for (i = 0; i < 16; i++) {
		__u64 bit;

		x = (x * x) >> 31;	/* < 2^64: x < 2^32 */
		bit = x >> 32;		/* m^2 >= 2 */
		x >>= bit;
		frac = frac << 1 | bit;
	}
	return (32ull << 16) - (((__u64)e << 16) | frac);
}

/* ln 2 in Q20 (0.693147; relative error 3e-7). */
#define MEM_SAMPLE_LN2_Q20 726817ull

/*
 * An exponential gap with mean MEAN bytes (MIN_MEAN..MAX_MEAN) from the
 * 32 random bits R: -ln(U) * MEAN = -log2(U) * ln 2 * MEAN.  At least 1.
 * Largest value 22.2 * MEAN (R = 0): the tail beyond has probability 2^-32.
 */
static inline __s64 mem_sample_gap(__u32 r, __u64 mean)
{
	__u64 l = mem_sample_neg_log2_q16((__u64)r + 1);
	/* l < 2^22, mean <= 2^32: l * mean < 2^54; then < 2^38 * 2^20. */
	__u64 g = ((l * mean) >> 16) * MEM_SAMPLE_LN2_Q20 >> 20;

	return g ? (__s64)g : 1;
}

/*
 * Counts SIZE bytes against the thread's COUNTDOWN.  Returns 0 when no
 * sample point fell in them, else the sample's weight (>= MEAN), and
 * draws the next gap with R.  SIZE is clamped to MAX_SIZE.
 */
static inline __u64 mem_sample_account(__s64 *countdown, __u64 size,
				       __u64 mean, __u32 r)
{
	__u64 w;

	if (size > MEM_SAMPLE_MAX_SIZE)
		size = MEM_SAMPLE_MAX_SIZE;
	*countdown -= (__s64)size;
	if (*countdown > 0)
		return 0;
	/* -countdown: bytes of this block past its sample point. */
	w = mean + (__u64)(-*countdown);
	*countdown = mem_sample_gap(r, mean);
	return w;
}

#endif
