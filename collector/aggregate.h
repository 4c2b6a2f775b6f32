/* SPDX-License-Identifier: MIT */
/*
 * Aggregation of request records into windows, and the trace output.
 *
 * Records are binned by their end time into windows of window_ns starting at
 * start_ns.  A window is written once the clock is AGG_GRACE_NS past its end
 * (the instrumented threads hand records over at most ~10 ms late); a
 * record for a window already written counts as late and goes into the open
 * one.  Names and config are written before the first chunk using them.
 */
#ifndef LOUPE_AGGREGATE_H
#define LOUPE_AGGREGATE_H

#include <stddef.h>
#include <linux/types.h>

#include <loupe/probe_abi.h>
#include "collector/trace_writer.h"

#define AGG_GRACE_NS 250000000ull

/* Fills BUF with the string at PTR in the target; returns 0 or -errno. */
typedef int (*agg_resolve_fn)(void *arg, __u64 ptr, char *buf, size_t len);

struct agg_stats {
	__u64 requests, errors, windows, stale;
	__u64 last_window_requests;
	__u64 last_window_p99_ns;
};

struct aggregate;

struct aggregate *aggregate_new(struct trace_writer *w, __u64 start_ns,
				__u64 window_ns, agg_resolve_fn resolve,
				void *resolve_arg);
void aggregate_free(struct aggregate *a);

/* Each returns 0 or -errno (allocation or trace write failure). */
int aggregate_name(struct aggregate *a, __u64 ptr, const char *str);
int aggregate_model(struct aggregate *a, __u64 ts_ns, const char *name);
int aggregate_config(struct aggregate *a, __u64 ts_ns, const char *key,
		     const char *value);
int aggregate_records(struct aggregate *a, const struct loupe_req_rec *v,
		      size_t n);
/* Writes every window that ended AGG_GRACE_NS before NOW_NS; DROPPED is
 * the kernel's running total of lost events. */
int aggregate_tick(struct aggregate *a, __u64 now_ns, __u64 dropped);
/* From now on records ending at or after STOP_NS are not counted: the
 * recording ends there even while probes are still being detached. */
void aggregate_stop(struct aggregate *a, __u64 stop_ns);
/* Writes all windows up to NOW_NS, the last one cut short at NOW_NS. */
int aggregate_close(struct aggregate *a, __u64 now_ns, __u64 dropped);

void aggregate_stats(const struct aggregate *a, struct agg_stats *s);

/* ---- for the other producers of a window (CPU profile, counters) ---- */

/* Called when window INDEX is about to be written, before its WINDOW
 * chunk: the hook appends its own chunks for that window. */
typedef int (*agg_window_hook)(void *arg, __u64 index);
void aggregate_set_window_hook(struct aggregate *a, agg_window_hook fn,
			       void *arg);
/* Name id of STR / of a name pointer from the target (0 -> TRACE_NO_ID). */
int aggregate_intern(struct aggregate *a, const char *str, __u32 *id);
int aggregate_ptr_name(struct aggregate *a, __u64 ptr, __u32 *id);
/* Adds VALUE (a latency) to the (MODEL, STAGE) histogram of the window
 * holding END_NS, as request stages are. */
int aggregate_add_value(struct aggregate *a, __u32 model, __u32 stage,
			__u64 end_ns, __u64 value);
/* Writes names added since the last write (call before chunks using them). */
int aggregate_write_names(struct aggregate *a);
struct trace_writer *aggregate_writer(struct aggregate *a);
/* Window I spans [START_NS + I * WINDOW_NS, START_NS + (I + 1) * WINDOW_NS). */
void aggregate_windows(const struct aggregate *a, __u64 *start_ns,
		       __u64 *window_ns);

#endif
