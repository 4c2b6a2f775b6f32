/* SPDX-License-Identifier: MIT */
/*
 * Zipf-distributed ranks by Walker's alias method.
 *
 * Real recommendation traffic is power-law: a few ids (popular items, busy
 * users) take most lookups, the long tail misses every cache.  Inverting a
 * CDF by binary search costs ~17 dependent loads per draw over 100k ranks;
 * the alias table costs one multiply, one compare and at most two loads, so
 * id generation stays small next to the embedding lookups it feeds.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "ranker.h"

int zipf_init(struct zipf *z, uint32_t n, double s)
{
	double *p = NULL, sum = 0;
	uint32_t *small = NULL, *large = NULL;
	uint32_t nsmall = 0, nlarge = 0;
	int ret = 0;

	z->n = n;
	z->threshold = malloc(n * sizeof(*z->threshold));
	z->alias = malloc(n * sizeof(*z->alias));
	p = malloc(n * sizeof(*p));
	small = malloc(n * sizeof(*small));
	large = malloc(n * sizeof(*large));
	if (!n || !z->threshold || !z->alias || !p || !small || !large) {
		ret = n ? -ENOMEM : -EINVAL;
		goto cleanup;
	}

	for (uint32_t i = 0; i < n; i++) {
		p[i] = pow((double)i + 1, -s);
		sum += p[i];
	}
	/* Scale so the average bucket holds exactly 1, then pair each
	 * under-full bucket with an over-full one (Vose's variant). */
	for (uint32_t i = 0; i < n; i++) {
		p[i] = p[i] * n / sum;
		if (p[i] < 1)
			small[nsmall++] = i;
		else
			large[nlarge++] = i;
	}
	while (nsmall && nlarge) {
		uint32_t lo = small[--nsmall], hi = large[--nlarge];

		z->threshold[lo] = (uint32_t)(p[lo] * 4294967296.0);
		z->alias[lo] = hi;
		p[hi] -= 1 - p[lo];
		if (p[hi] < 1)
			small[nsmall++] = hi;
		else
			large[nlarge++] = hi;
	}
	/* What is left is 1 up to rounding: always keep the bucket itself.
	 * UINT32_MAX instead of 2^32 loses one draw in 4 billion. */
	while (nlarge) {
		uint32_t i = large[--nlarge];

		z->threshold[i] = UINT32_MAX;
		z->alias[i] = i;
	}
	while (nsmall) {
		uint32_t i = small[--nsmall];

		z->threshold[i] = UINT32_MAX;
		z->alias[i] = i;
	}

cleanup:
	free(p);
	free(small);
	free(large);
	if (ret)
		zipf_release(z);
	return ret;
}

void zipf_release(struct zipf *z)
{
	free(z->threshold);
	free(z->alias);
	z->threshold = NULL;
	z->alias = NULL;
	z->n = 0;
}
