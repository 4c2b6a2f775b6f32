/* SPDX-License-Identifier: MIT */
/*
 * A trace as a stream of windows: everything the file says about window i
 * (latency per model x stage, the requests that ended in it, CPU / off-CPU /
 * memory samples, counters) handed over together once the window is whole.
 * The one data path for the analyzer, diff/gate and the TUI, post-mortem and
 * live alike: a live session follows the trace file the recorder is writing.
 *
 * The stream keeps the dictionaries (names, frames, stacks, latest config)
 * for the whole file and one window of data at a time, so memory grows with
 * distinct names and stacks, not with time.
 */
#ifndef LOUPE_WINDOW_H
#define LOUPE_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include <loupe/trace.h>
#include "analyzer/hist.h"
#include "analyzer/profile.h"
#include "analyzer/trace_reader.h"

/* Latency of one (model, stage) in one window.  stage_id is the "request"
 * name for whole requests.  Quantiles are 0 when count is 0. */
struct wstage {
	__u32 model_id, stage_id;
	__u64 count;
	double mean_ns;
	__u64 p50_ns, p90_ns, p99_ns, max_ns;
	const struct hist *h;		/* owned by the window */
};

struct window {
	__u64 index;			/* 0-based, as written */
	__u64 start_ns, end_ns;		/* CLOCK_MONOTONIC */
	__u64 requests, errors, dropped, late;
	struct wstage *stages;
	size_t nstages;
	/* Request records that ended in the window (may be fewer than
	 * requests when the recorder dropped some). */
	const struct trace_request *reqs;
	size_t nreqs;
	/* CPU, off-CPU and memory samples of the window, per stack. */
	const struct trace_sample *samples;
	size_t nsamples;
	bool have_counters;
	struct trace_counters counters;
	/* Config changes announced during the window (SIGHUP reloads). */
	const struct trace_config *config_changes;
	size_t nconfig_changes;
};

struct window_stream;

/* Opens PATH.  NULL with errno as trace_reader_open() sets it. */
struct window_stream *window_stream_open(const char *path);
void window_stream_close(struct window_stream *ws);

/*
 * Follow mode (a live recording): at the end of the readable data the
 * stream waits for the writer instead of ending, and a chunk cut short at
 * the end is taken to be still in flight rather than damage.
 */
void window_stream_follow(struct window_stream *ws, bool on);

/*
 * Reads up to the next complete window.  Returns 1 with *out set (valid
 * until the next call), 0 at the end of the trace, -EAGAIN in follow mode
 * when no further window is complete yet (call again later), or a negative
 * errno.  The last window of a recording is handed over even when no later
 * chunk closes it.
 */
int window_stream_next(struct window_stream *ws, const struct window **out);

/* NULL until the META chunk was read. */
const struct trace_meta *window_stream_meta(const struct window_stream *ws);
/* NULL until the END chunk was read (a killed recorder writes none). */
const struct trace_end *window_stream_end(const struct window_stream *ws);
/* Name of ID, or "?"; TRACE_NO_ID gives "-". */
const char *window_stream_name(const struct window_stream *ws, __u32 id);
/* Id of the name STR, or TRACE_NO_ID. */
__u32 window_stream_find_name(const struct window_stream *ws, const char *str);
/* Frames, stacks, and samples, memory series and counters merged over the
 * windows read so far (profile.h). */
const struct profile *window_stream_dict(const struct window_stream *ws);
/* Latest announced value of KEY, or NULL.  Keys starting with '@' are
 * loupe's own (e.g. "@env.OMP_NUM_THREADS", "@machine.cores"). */
const char *window_stream_config(const struct window_stream *ws,
				 const char *key);
/* All (key, value) pairs, latest value per key, in first-seen order. */
size_t window_stream_config_all(const struct window_stream *ws,
				const char *const **keys,
				const char *const **values);
void window_stream_stats(const struct window_stream *ws,
			 struct trace_reader_stats *st);
/* First damage seen, or NULL. */
const char *window_stream_damage(const struct window_stream *ws);

#endif
