/* SPDX-License-Identifier: MIT */
/*
 * Whole-process perf counters: task-clock, page faults, migrations, and
 * cycles/instructions/cache-misses/branch-misses where a PMU exists; plus
 * voluntary/involuntary context switches from /proc (perf has only their
 * sum).  Opened on every thread present at the start, with inherit, so
 * threads those threads create later are counted too (and must not get
 * counters of their own: they would count twice); scaled by
 * time_enabled/time_running.
 */
#ifndef LOUPE_COUNTERS_H
#define LOUPE_COUNTERS_H

#include <sys/types.h>
#include <loupe/trace.h>

struct counters;
struct aggregate;

/* NULL + errno.  Prints one note line when hardware counters are missing. */
struct counters *counters_new(pid_t pid);
/* Deltas since the previous call into *OUT (window left to the caller). */
int counters_read(struct counters *c, struct trace_counters *out);
void counters_free(struct counters *c);

#endif
