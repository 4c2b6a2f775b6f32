/* SPDX-License-Identifier: MIT */
/*
 * Synthetic traces for unit tests: real trace files written with the real
 * writer, in the order the recorder writes them (config, names, requests,
 * then samples and counters of a window, then its WINDOW chunk), so the
 * window stream and the analyzer see exactly what a recording gives them.
 */
#ifndef LOUPE_SYNTH_TRACE_H
#define LOUPE_SYNTH_TRACE_H

#include <stdlib.h>
#include <string.h>

#include "analyzer/hist.h"
#include "collector/trace_writer.h"

#define SYNTH_WINDOW_NS 1000000000ull
#define SYNTH_START_NS 5000000000ull
#define SYNTH_MAX_HISTS 16

/* Name ids used by every synthetic trace. */
enum { SYN_REQUEST = 0, SYN_MODEL_A, SYN_MODEL_B, SYN_QUEUE, SYN_EMBED,
       SYN_TOP, SYN_NNAMES };

static const char *const synth_names[SYN_NNAMES] = {
	"request", "ctr_small", "cvr_large", "queue_wait", "embedding", "top_mlp",
};

struct synth {
	struct trace_writer *w;
	struct hist h[SYNTH_MAX_HISTS];
	struct trace_hist_entry e[SYNTH_MAX_HISTS];
	unsigned int n;
	__u64 requests, errors;
};

static inline struct trace_writer *synth_open(const char *path, __u32 ncpus)
{
	struct trace_writer *w = trace_writer_new(path);
	struct trace_meta m = {
		.cmdline = "ranker --qps 200", .hostname = "test",
		.loupe_version = "test", .mode = "attach", .pid = 42,
		.ncpus = ncpus, .start_realtime_ns = 1,
		.start_mono_ns = SYNTH_START_NS, .window_ns = SYNTH_WINDOW_NS,
	};
	struct trace_name names[SYN_NNAMES];
	unsigned int i;

	if (!w)
		return NULL;
	for (i = 0; i < SYN_NNAMES; i++)
		names[i] = (struct trace_name){ i, synth_names[i] };
	if (trace_writer_meta(w, &m) || trace_writer_names(w, names, SYN_NNAMES)) {
		trace_writer_close(w);
		return NULL;
	}
	return w;
}

static inline __u64 synth_window_start(__u64 index)
{
	return SYNTH_START_NS + index * SYNTH_WINDOW_NS;
}

/* Adds N values around LAT_NS (+-10 %, deterministic) to (MODEL, STAGE). */
static inline void synth_add(struct synth *s, __u32 model, __u32 stage,
			     __u64 lat_ns, __u64 n)
{
	unsigned int i;
	__u64 k;

	for (i = 0; i < s->n; i++)
		if (s->e[i].model_id == model && s->e[i].stage_id == stage)
			break;
	if (i == s->n) {
		if (s->n == SYNTH_MAX_HISTS)
			return;
		hist_init(&s->h[i]);
		s->e[i] = (struct trace_hist_entry){ model, stage, &s->h[i] };
		s->n++;
	}
	for (k = 0; k < n; k++)
		hist_add(&s->h[i], lat_ns - lat_ns / 10 + (lat_ns / 5) * (k % 11) / 10);
	if (stage == SYN_REQUEST)
		s->requests += n;
}

/* Writes the window INDEX with what synth_add() collected, and resets. */
static inline int synth_close_window(struct synth *s, __u64 index)
{
	struct trace_window tw = {
		.index = index, .start_ns = synth_window_start(index),
		.end_ns = synth_window_start(index + 1), .requests = s->requests,
		.errors = s->errors, .nhists = s->n, .hists = s->e,
	};
	int err = trace_writer_window(s->w, &tw);

	s->n = 0;
	s->requests = s->errors = 0;
	return err;
}

#endif
