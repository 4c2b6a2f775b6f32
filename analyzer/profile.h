/* SPDX-License-Identifier: MIT */
/*
 * CPU / off-CPU profile folded from a trace: frames and stacks by id, and
 * samples merged over all windows per (stack, model, stage, kind).  Fed one
 * chunk at a time by summary.c; memory grows with distinct stacks, not with
 * samples or time.
 */
#ifndef LOUPE_PROFILE_H
#define LOUPE_PROFILE_H

#include <stddef.h>
#include <linux/types.h>

#include <loupe/trace.h>

struct profile_sample {
	__u32 stack_id, model_id, stage_id, kind;
	__u64 count, value_ns;
};

struct profile_stack {
	__u32 nframes;
	__u32 *frames;		/* frame ids, leaf first; NULL if never seen */
};

/* One allocation site (stack) of a memory profile, per window. */
struct mem_site {
	__u32 stack_id;
	size_t nwin;		/* windows 0 .. nwin-1 */
	double *alloc;		/* estimated bytes allocated in the window */
	double *freed;		/* of this site's allocations, freed in it */
	__u64 objects;		/* sampled allocations in all */
};

struct profile {
	struct trace_frame *frames;	/* by id; function_id TRACE_NO_ID if unseen */
	size_t nframes;
	struct profile_stack *stacks;	/* by id */
	size_t nstacks;
	struct profile_sample *samples;	/* open-addressing hash table */
	size_t nsamples, cap;
	__u64 total_ns[TRACE_SAMPLE_NKINDS];
	__u64 total_count[TRACE_SAMPLE_NKINDS];
	struct mem_site *mem;		/* by first appearance */
	size_t nmem, mem_cap;
	struct trace_counters counters;	/* summed over windows; gauges: last */
	struct {
		__u64 window, anon, file, shmem;
	} *rss;				/* per window, when recorded */
	size_t nrss, rss_cap;
	__u64 counter_windows;
};

void profile_init(struct profile *p);
void profile_release(struct profile *p);
/* Each returns 0 or -ENOMEM. */
int profile_add_frames(struct profile *p, const struct trace_frame *v, size_t n);
int profile_add_stacks(struct profile *p, const struct trace_stack *v, size_t n);
int profile_add_samples(struct profile *p, const struct trace_sample *v, size_t n);
void profile_add_counters(struct profile *p, const struct trace_counters *c);

/* The merged sample of (STACK, MODEL, STAGE, KIND), or NULL. */
const struct profile_sample *profile_find(const struct profile *p, __u32 stack,
					  __u32 model, __u32 stage, __u32 kind);
/* Outstanding (allocated - freed) bytes and objects of a MEM_ALLOC sample. */
void profile_inuse(const struct profile *p, const struct profile_sample *alloc,
		   __u64 *objects, __u64 *bytes);

/* Calls FN for every merged sample (hash order). */
#define profile_for_each_sample(p, s)                                   \
	for ((s) = (p)->samples; (s) < (p)->samples + (p)->cap; (s)++) \
		if ((s)->count || (s)->value_ns)

#endif
