/* SPDX-License-Identifier: MIT */
/*
 * A whole trace folded into totals: per (model, stage) histograms merged
 * over all windows, per-window throughput rows, latest config, and what the
 * reader recovered.  Streams the file; memory grows with the number of
 * distinct (model, stage) pairs and windows, not with requests.
 */
#ifndef LOUPE_SUMMARY_H
#define LOUPE_SUMMARY_H

#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include <loupe/trace.h>
#include "analyzer/hist.h"
#include "analyzer/profile.h"
#include "analyzer/trace_reader.h"

struct summary_entry {
	__u32 model_id, stage_id;
	struct hist h;
};

struct summary_window {
	__u64 index, start_ns, end_ns, requests, errors, dropped, late;
	__u64 p50_ns, p99_ns, max_ns;	/* whole requests, all models */
};

struct summary_kv {
	char *key, *value;
};

struct trace_summary {
	bool have_meta, have_end;
	struct trace_meta meta;		/* strings owned by the summary */
	struct trace_end end;
	char **names;			/* by id; NULL where unknown */
	size_t nnames;
	struct summary_entry *entries;
	size_t nentries;
	struct summary_window *windows;
	size_t nwindows;
	struct summary_kv *config;	/* latest value per key, first-seen order */
	size_t nconfig;
	struct hist overall;		/* whole requests, all models */
	struct profile prof;		/* CPU / off-CPU samples, counters */
	__u64 requests, errors, dropped, records;
	struct trace_reader_stats rs;
	char *damage;			/* first damage seen, or NULL */
};

/* Reads PATH.  Returns 0, or -errno from trace_reader_open() (EPROTO: not a
 * trace; EPROTONOSUPPORT: unknown version) or -ENOMEM. */
int summary_load(const char *path, struct trace_summary *s);
void summary_release(struct trace_summary *s);

/* Name of ID, or "?" when the trace lost it. */
const char *summary_name(const struct trace_summary *s, __u32 id);
/* Latest value of config KEY (loupe's own ones start with '@'), or NULL. */
const char *summary_config(const struct trace_summary *s, const char *key);
/* Frame ID of the profile, or NULL when the trace lost it. */
const struct trace_frame *summary_frame(const struct trace_summary *s, __u32 id);
/* The frame's function name, or "[unknown]". */
const char *summary_frame_function(const struct trace_summary *s, __u32 id);
/* Appends " file:line", " [kernel]" or " [module]" for the frame: where to
 * look, in the fewest columns. */
void summary_print_where(FILE *f, const struct trace_summary *s, __u32 id);
/* Recording length in ns: end chunk, else the last window's end. */
__u64 summary_duration_ns(const struct trace_summary *s);

#endif
