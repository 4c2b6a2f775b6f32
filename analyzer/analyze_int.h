/* SPDX-License-Identifier: MIT */
/*
 * The analyzer's history, shared by the detectors: one slot per window fed,
 * compact series per model x stage, and the slow-request episodes.  Stack
 * level data lives in the window stream's merged profile.
 */
#ifndef LOUPE_ANALYZE_INT_H
#define LOUPE_ANALYZE_INT_H

#include "analyzer/analyze.h"
#include "analyzer/hist.h"

#define AN_MIN_WARMUP 2		/* windows never judged, whatever the load */
#define AN_BATCH_BUCKETS 6

/* One window's facts. */
struct an_win {
	__u64 index;
	double start_s, end_s;		/* since the recording started */
	double requests, errors, dropped;
	bool have_ctr, partial;
	double task_clock_ns, ctx_invol, minflt, majflt, rss;
	double cpu_ns, runq_ns, blocked_ns;	/* from the window's samples */
	double cum_requests;		/* up to the window's end */
	char config_change[96];		/* first "key=value" announced in it */
};

/* Per-window latency of one model x stage; slots as in an_win. */
struct an_series {
	__u32 model_id, stage_id;
	double *mean, *p99, *count;
	double *runq;			/* run-queue wait per request, ns */
};

/* Service time (latency less queue wait) by candidate batch size, for one
 * model. */
struct an_batch {
	__u32 model_id;
	__u32 lo, hi;			/* batch range the buckets span */
	struct hist h[AN_BATCH_BUCKETS];
	double n, sx, sy, sxx, sxy, syy; /* batch vs latency, for the slope */
};

/* A request parked outside its stages (or, without stages, far slower
 * than its window's median): stall candidates.  latency_s: the time it
 * was parked (the whole latency without stages). */
struct an_slow {
	double end_s, latency_s;
};

struct ruleset;

struct analyzer {
	struct analyzer_opts o;
	struct ruleset *rules;
	/* SLO p99 in ns: the global one, and per model by name. */
	__u64 slo_p99_ns;
	struct { char model[48]; __u64 p99_ns; } slo_models[8];
	size_t nslo_models;
	char **override_keys, **override_values;	/* --config FILE */
	size_t noverrides;

	const struct window_stream *ws;	/* the stream last fed */
	double window_s;
	struct an_win *win;
	size_t nwin, win_cap;
	struct an_series *series;
	size_t nseries, series_cap;
	struct an_batch *batch;
	size_t nbatch, batch_cap;
	struct an_slow *slow;
	size_t nslow, slow_cap;
	__u32 request_stage, queue_stage;	/* name ids, TRACE_NO_ID if unseen */

	struct finding *found;
	size_t nfound, found_cap;
};

/* Slots [from, to) the detectors judge: after warm-up, without the last
 * partial window.  from == to when there is too little to judge. */
void an_judged(const struct analyzer *a, size_t *from, size_t *to);
/* A new finding (zeroed, kind and severity set), or NULL out of memory. */
struct finding *an_add(struct analyzer *a, enum finding_kind k,
		       enum severity sev);
/* Fills the finding's time range from slots [from, to). */
void an_span(const struct analyzer *a, struct finding *f, size_t from,
	     size_t to);
/* Sets F->title (clipped to fit). */
void an_title(struct finding *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends a printf-formatted line to F->evidence. */
void an_evidence(struct finding *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *an_name(const struct analyzer *a, __u32 id);
/* The SLO p99 of MODEL (name id) in ns, or 0 when none is set. */
__u64 an_slo_ns(const struct analyzer *a, __u32 model_id);
/* Numeric config value of KEY (overrides, then announced), or DFLT. */
double an_config_num(const struct analyzer *a, const char *key, double dflt);
/* The frame's function name, "" when unknown. */
const char *an_frame_function(const struct analyzer *a, __u32 frame);
/* "function (file:line)" of F's code site, as far as it is known. */
const char *an_site(const struct finding *f, char *buf, size_t len);
/* Copies the frame's function and file:line into F's code site. */
void an_set_site(const struct analyzer *a, struct finding *f, __u32 frame);

/* Detectors; each adds its findings with an_add(). */
void detect_latency(struct analyzer *a);	/* SLO, spikes, change points */
void detect_stalls(struct analyzer *a);		/* periodic stalls */
void detect_queueing(struct analyzer *a);	/* queueing, oversized batches */
void detect_cpu(struct analyzer *a);		/* locks, run queue, allocator,
						 * page faults, hot functions */
void detect_memory(struct analyzer *a);		/* leaks, RSS growth */

#endif
