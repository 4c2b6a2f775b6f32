// SPDX-License-Identifier: MIT
/*
 * The per-window value of a finding's metric, so verify can compare the
 * windows before an apply with those after it.  Names follow the
 * analyzer's `finding.metric` (analyze.h); each is read straight from one
 * window's numbers.
 */
#include <stdio.h>
#include <string.h>

#include "analyzer/units.h"
#include "tui/tui.h"

enum mkind {
	MK_QUANTILE, MK_QPS, MK_ERROR_RATE, MK_SHARE, MK_PER_REQ, MK_GAUGE,
	MK_STAGE_SHARE,		/* a stage's time / its model's request time */
	MK_QUEUE_WAIT,		/* mean queue_wait of the model */
};

struct metric_def {
	const char *name;
	enum mkind kind;
	int arg;	/* quantile: 0 p50 .. 4 mean; share: which; per-request: counter */
	bool higher_better;
};

enum { SH_RUNQ, SH_BLOCKED, SH_OFFCPU, SH_CPU };
enum { PR_TASK_CLOCK = TRACE_CTR_N, PR_HEAP, PR_FAULTS };
enum { G_RSS, G_HEAP, G_RSS_RATE, G_HEAP_RATE };
enum { SS_QUEUE, SS_BLOCKED };

static const struct metric_def defs[] = {
	/* As the analyzer defines them (detect_*.c). */
	{ "p50_ns", MK_QUANTILE, 0, false },
	{ "p90_ns", MK_QUANTILE, 1, false },
	{ "p99_ns", MK_QUANTILE, 2, false },
	{ "max_ns", MK_QUANTILE, 3, false },
	{ "mean_ns", MK_QUANTILE, 4, false },
	/* A stall shows as the slowest request of its window. */
	{ "stall_ns", MK_QUANTILE, 3, false },
	{ "queue_share", MK_STAGE_SHARE, SS_QUEUE, false },
	{ "queue_wait_ns", MK_QUEUE_WAIT, 0, false },
	{ "lock_wait_share", MK_STAGE_SHARE, SS_BLOCKED, false },
	{ "faults_per_request", MK_PER_REQ, PR_FAULTS, false },
	{ "bytes_per_s", MK_GAUGE, G_HEAP_RATE, false },
	{ "rss_bytes_per_s", MK_GAUGE, G_RSS_RATE, false },
	{ "qps", MK_QPS, 0, true },
	{ "throughput_rps", MK_QPS, 0, true },
	{ "error_rate", MK_ERROR_RATE, 0, false },
	{ "runq_share", MK_SHARE, SH_RUNQ, false },
	{ "blocked_share", MK_SHARE, SH_BLOCKED, false },
	{ "offcpu_share", MK_SHARE, SH_OFFCPU, false },
	{ "cpu_share", MK_SHARE, SH_CPU, false },
	{ "ctx_involuntary_per_request", MK_PER_REQ, TRACE_CTR_CTX_INVOLUNTARY, false },
	{ "ctx_voluntary_per_request", MK_PER_REQ, TRACE_CTR_CTX_VOLUNTARY, false },
	{ "minor_faults_per_request", MK_PER_REQ, TRACE_CTR_MINOR_FAULTS, false },
	{ "cpu_per_request_ns", MK_PER_REQ, PR_TASK_CLOCK, false },
	{ "bytes_per_request", MK_PER_REQ, PR_HEAP, false },
	{ "rss_bytes", MK_GAUGE, G_RSS, false },
	{ "heap_bytes", MK_GAUGE, G_HEAP, false },
};

static const struct metric_def *find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (!strcmp(defs[i].name, name))
			return &defs[i];
	return NULL;
}

bool metric_known(const char *metric)
{
	return find(metric) != NULL;
}

bool metric_higher_is_better(const char *metric)
{
	const struct metric_def *d = find(metric);

	return d && d->higher_better;
}

static double quantile(const struct snap_stage *e, int which)
{
	switch (which) {
	case 0: return e->p50_ns;
	case 1: return e->p90_ns;
	case 2: return e->p99_ns;
	case 3: return e->max_ns;
	default: return e->mean_ns;
	}
}

/* Does entry E belong to MODEL/STAGE (TRACE_NO_ID + ANY: every one)? */
static bool match(const struct snap_stage *e, __u32 model, bool any_model,
		  __u32 stage, bool any_stage)
{
	return (any_model || e->model_id == model) &&
	       (any_stage || e->stage_id == stage);
}

bool metric_value(const struct tui_model *m, const struct snap *s,
		  const char *metric, const char *model, const char *stage,
		  double *v)
{
	const struct metric_def *d = find(metric);
	bool any_model = !model || !*model, any_stage = !stage || !*stage;
	__u32 mid = any_model ? TRACE_NO_ID : window_stream_find_name(m->ws, model);
	__u32 sid = any_stage ? model_request_id(m) : window_stream_find_name(m->ws, stage);
	__u32 req = model_request_id(m);
	double t[4] = { 0 }, acc = 0, reqs = 0;
	bool found = false;
	size_t i;

	if (!d || !s || (!any_model && mid == TRACE_NO_ID))
		return false;
	switch (d->kind) {
	case MK_QUANTILE:
		/* No model named: the worst model, which is what an SLO
		 * on the whole service feels. */
		for (i = 0; i < s->nst; i++) {
			const struct snap_stage *e = &s->st[i];

			if (!e->count || !match(e, mid, any_model, sid, false))
				continue;
			if (!found || quantile(e, d->arg) > acc)
				acc = quantile(e, d->arg);
			found = true;
		}
		*v = acc;
		return found;
	case MK_QPS:
	case MK_ERROR_RATE:
		for (i = 0; i < s->nst; i++) {
			const struct snap_stage *e = &s->st[i];

			if (!match(e, mid, any_model, req, false))
				continue;
			acc += e->errors;
			reqs += e->count;
		}
		if (any_model) {
			acc = s->errors;
			reqs = s->requests;
		}
		if (d->kind == MK_QPS) {
			*v = reqs / snap_seconds(s);
			return true;
		}
		*v = reqs ? acc / reqs : 0;
		return reqs > 0;
	case MK_SHARE:
		for (i = 0; i < s->nst; i++) {
			const struct snap_stage *e = &s->st[i];

			/* No stage named: all of the model's time. */
			if (!match(e, mid, any_model, sid, any_stage))
				continue;
			t[SH_CPU] += e->cpu_ns;
			t[SH_BLOCKED] += e->blocked_ns;
			t[SH_RUNQ] += e->runq_ns;
		}
		t[SH_OFFCPU] = t[SH_BLOCKED] + t[SH_RUNQ];
		/* Waiting for a CPU, of the time threads wanted one (blocked
		 * threads want none), as detect_runq() has it. */
		acc = d->arg == SH_RUNQ ? t[SH_CPU] + t[SH_RUNQ] : t[SH_CPU] + t[SH_OFFCPU];
		if (!acc)
			return false;
		*v = t[d->arg] / acc;
		return true;
	case MK_QUEUE_WAIT: {
		const struct snap_stage *e;

		e = snap_stage(s, mid, window_stream_find_name(m->ws, "queue_wait"));
		if (any_model || !e || !e->count)
			return false;
		*v = e->mean_ns;
		return true;
	}
	case MK_STAGE_SHARE: {
		const struct snap_stage *rq, *e;

		if (any_model)
			return false;
		rq = snap_stage(s, mid, req);
		if (d->arg == SS_QUEUE)
			sid = window_stream_find_name(m->ws, "queue_wait");
		e = snap_stage(s, mid, sid);
		if (d->arg == SS_QUEUE) {
			if (!rq || !rq->count || rq->mean_ns <= 0)
				return false;
			*v = e ? e->mean_ns * e->count / (rq->mean_ns * rq->count) : 0;
		} else {
			if (!e || !e->count || e->mean_ns <= 0)
				return false;
			*v = e->blocked_ns / (e->mean_ns * e->count);
		}
		return true;
	}
	case MK_PER_REQ:
		if (!s->requests)
			return false;
		if (d->arg == PR_HEAP) {
			*v = s->heap_net / s->requests;
			return s->have_heap;
		}
		if (!s->have_counters)
			return false;
		if (d->arg == PR_FAULTS) {
			*v = (double)(s->ctr.v[TRACE_CTR_MINOR_FAULTS] +
				      s->ctr.v[TRACE_CTR_MAJOR_FAULTS]) / s->requests;
			return true;
		}
		*v = (double)s->ctr.v[d->arg == PR_TASK_CLOCK ?
					      TRACE_CTR_TASK_CLOCK_NS : d->arg] /
		     s->requests;
		return true;
	case MK_GAUGE:
		switch (d->arg) {
		case G_RSS: *v = (double)s->rss_bytes; return s->have_rss;
		case G_HEAP: *v = s->heap_bytes; return s->have_heap;
		case G_RSS_RATE: *v = s->rss_delta / snap_seconds(s); return s->have_rss_delta;
		default: *v = s->heap_net / snap_seconds(s); return s->have_heap;
		}
	}
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t l = strlen(s), k = strlen(suffix);

	return l >= k && !strcmp(s + l - k, suffix);
}

char *metric_format(const char *metric, double v, char *buf, size_t len)
{
	char b[24];

	if (!strncmp(metric, "bytes_per_", 10) || ends_with(metric, "bytes_per_s"))
		snprintf(buf, len, "%s/%s", units_bytes(b, sizeof(b), v > 0 ? (__u64)v : 0),
			 ends_with(metric, "_s") ? "s" : "request");
	else if (ends_with(metric, "_ns"))
		units_ns(buf, len, v > 0 ? (__u64)(v + 0.5) : 0);
	else if (ends_with(metric, "_share") || ends_with(metric, "_rate"))
		snprintf(buf, len, "%.1f%%", v * 100);
	else if (ends_with(metric, "_bytes"))
		units_bytes(buf, len, v > 0 ? (__u64)v : 0);
	else
		snprintf(buf, len, "%.3g", v);
	return buf;
}
