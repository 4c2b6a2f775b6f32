/* SPDX-License-Identifier: MIT */
/*
 * The trace's CPU or off-CPU profile as a gzipped pprof profile
 * (github.com/google/pprof proto/profile.proto), for 'go tool pprof' and the
 * tools that read its format.  Every sample carries string labels "model"
 * and "stage" (when it ran inside one), so 'pprof -tagfocus=stage=NAME'
 * narrows to one inference stage; off-CPU samples also carry "kind"
 * ("blocked" or "runq").
 */
#ifndef LOUPE_EXPORT_PPROF_H
#define LOUPE_EXPORT_PPROF_H

#include <stdbool.h>
#include <stdio.h>

#include "analyzer/summary.h"

/*
 * Writes the profile of S to OUT: on-CPU samples (values: samples/count,
 * cpu/nanoseconds), or with OFFCPU the off-CPU episodes (episodes/count,
 * offcpu/nanoseconds).  Streams the compressed output; memory grows with
 * the distinct stacks, locations and functions, not with samples.  Does
 * not close OUT but flushes it.  Returns 0, -ENOMEM, or the -errno of a
 * failed write (-EIO when stdio did not say).
 */
enum pprof_kind {
	PPROF_CPU,	/* samples/count, cpu/nanoseconds */
	PPROF_OFFCPU,	/* episodes/count, offcpu/nanoseconds */
	PPROF_MEM,	/* alloc_objects, alloc_space, inuse_objects, inuse_space */
};

int export_pprof(const struct trace_summary *s, enum pprof_kind kind,
		 FILE *out);

#endif
