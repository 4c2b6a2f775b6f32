/* SPDX-License-Identifier: MIT */
/*
 * Heap allocation sites of a memory profile, and which of them leak: shared
 * by 'loupe report --mem' (over a whole file) and the analyzer (over the
 * windows fed so far).
 */
#ifndef LOUPE_MEM_SITES_H
#define LOUPE_MEM_SITES_H

#include <stdbool.h>
#include <stddef.h>

#include "analyzer/profile.h"

#define MEM_WARMUP_WINDOWS 2
#define MEM_MIN_JUDGED 6	/* windows after warm-up needed to call a leak */

struct mem_sites_input {
	const struct profile *prof;	/* frames, stacks and mem series */
	const char *(*name)(const void *ctx, __u32 id);
	const void *ctx;
	/* By window index: requests served up to the window's end, and its
	 * end in seconds since the recording started. */
	const double *cum_requests;
	const double *end_s;
	size_t nwindows;
};

struct mem_site_view {
	struct mem_site m;	/* the stacks of one site, merged */
	__u32 frame;		/* first frame that is not the allocator */
	double outstanding, allocated;
	double slope, t;	/* bytes per x after warm-up, its t statistic */
	double slope_late, t_late; /* the same over the late half */
	double per_second;
	double *by_window;	/* outstanding bytes at each window's end */
	bool leak;
};

/* Sites by outstanding bytes, most first; NULL (and *N = 0) with fewer
 * than 2 windows or out of memory.  *PER_REQUEST: slopes are per request
 * (else per second: nothing instrumented). */
struct mem_site_view *mem_sites_build(const struct mem_sites_input *in,
				      bool *per_request, size_t *n);
void mem_sites_free(struct mem_site_view *v, size_t n);

#endif
