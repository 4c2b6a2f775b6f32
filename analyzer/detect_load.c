// SPDX-License-Identifier: MIT
/*
 * Load detectors: queueing (requests wait more than they are served, with
 * the CPU busy) and oversized batches (tail latency grows with the batch
 * size past the SLO while the CPU still has headroom -- the batch, not the
 * load, is what breaks the SLO).
 */
#include <math.h>
#include <stdio.h>

#include "analyzer/analyze_int.h"
#include "analyzer/units.h"

#define QUEUE_SHARE 0.5		/* queue wait / whole request time */
#define BUSY 0.7		/* CPU utilisation that makes queueing real */
#define BATCH_MIN_REQUESTS 50
#define BATCH_MIN_CORR 0.3

static double cores(const struct analyzer *a)
{
	const struct trace_meta *m = window_stream_meta(a->ws);
	double c = an_config_num(a, "@machine.cores", m && m->ncpus ? m->ncpus : 1);

	return c > 0 ? c : 1;
}

/* Task-clock over wall time and cores, over slots [from, to); -1 unknown. */
static double utilisation(const struct analyzer *a, size_t from, size_t to)
{
	double busy = 0, wall = 0;
	size_t i;

	for (i = from; i < to; i++) {
		if (!a->win[i].have_ctr)
			continue;
		busy += a->win[i].task_clock_ns / 1e9;
		wall += a->win[i].end_s - a->win[i].start_s;
	}
	return wall > 0 ? busy / wall / cores(a) : -1;
}

static const struct an_series *find_series(const struct analyzer *a,
					   __u32 model, __u32 stage)
{
	size_t i;

	for (i = 0; i < a->nseries; i++)
		if (a->series[i].model_id == model && a->series[i].stage_id == stage)
			return &a->series[i];
	return NULL;
}

/* Total time spent in the series over slots [from, to), ns. */
static double series_time(const struct an_series *s, size_t from, size_t to)
{
	double t = 0;
	size_t i;

	for (i = from; i < to; i++)
		t += s->mean[i] * s->count[i];
	return t;
}

static void check_queueing(struct analyzer *a, const struct an_series *req,
			   size_t from, size_t to, double util)
{
	const struct an_series *q = find_series(a, req->model_id, a->queue_stage);
	double total = series_time(req, from, to), wait, share, errors = 0, n = 0;
	double cnt = 0, slo, service;
	struct finding *f;
	size_t i;
	char b1[16], b2[16];

	if (!q || total <= 0 || util < BUSY)
		return;
	wait = series_time(q, from, to);
	share = wait / total;
	if (share < QUEUE_SHARE)
		return;
	for (i = from; i < to; i++) {
		errors += a->win[i].errors;
		n += a->win[i].requests;
		cnt += req->count[i];
	}
	f = an_add(a, FK_QUEUEING, share > 0.8 ? SEV_CRITICAL : SEV_WARNING);
	if (!f)
		return;
	snprintf(f->model, sizeof(f->model), "%s", an_name(a, req->model_id));
	snprintf(f->stage, sizeof(f->stage), "%s", an_name(a, a->queue_stage));
	an_span(a, f, from, to);
	/* The number rules scale queue_depth by: the wait against what it
	 * may be -- the SLO less the service time, else the service time. */
	slo = (double)an_slo_ns(a, req->model_id);
	service = (total - wait) / cnt;
	snprintf(f->metric, sizeof(f->metric), "queue_wait_ns");
	f->value = wait / cnt;
	f->reference = slo > service ? slo - service : service;
	an_title(f, "%s requests spend %.0f%% of their time queued",
		 f->model, 100 * share);
	an_evidence(f, "queue wait %s of %s per request on average; CPU %.0f%% busy on %.0f cores",
		    units_ns(b1, sizeof(b1), (__u64)(wait / cnt)),
		    units_ns(b2, sizeof(b2), (__u64)(total / cnt)), 100 * util, cores(a));
	if (errors > 0)
		an_evidence(f, "%.0f of %.0f requests failed or were rejected (%.1f%%)", errors, n,
			    n ? 100 * errors / n : 0);
}

/* Whether a lock or the run queue (found already) stretches requests:
 * then smaller batches are not the fix.  Any model's: workers serve all
 * models, so one model's lock holds up the others' requests too. */
static bool explained(const struct analyzer *a)
{
	size_t i;

	for (i = 0; i < a->nfound; i++)
		if (a->found[i].severity >= SEV_WARNING &&
		    (a->found[i].kind == FK_OVERSUBSCRIPTION ||
		     a->found[i].kind == FK_LOCK_CONTENTION))
			return true;
	return false;
}

/* Highest bucket with enough requests, and the lowest one. */
static void bucket_ends(const struct an_batch *b, int *lo, int *hi)
{
	int k;

	*lo = *hi = -1;
	for (k = 0; k < AN_BATCH_BUCKETS; k++) {
		if (b->h[k].count < 8)
			continue;
		if (*lo < 0)
			*lo = k;
		*hi = k;
	}
}

static __u32 bucket_top(const struct an_batch *b, int k)
{
	return b->lo + (__u32)((double)(b->hi - b->lo + 1) * (k + 1) / AN_BATCH_BUCKETS) - 1;
}

static void check_batches(struct analyzer *a, const struct an_batch *b,
			  size_t from, size_t to, double util)
{
	__u64 slo = an_slo_ns(a, b->model_id), p_hi, p_lo;
	double cov, vx, vy, r;
	struct finding *f;
	int lo, hi;
	char b1[16], b2[16], b3[16];

	if (!slo || b->n < BATCH_MIN_REQUESTS || (util >= BUSY) ||
	    explained(a))
		return;
	cov = b->sxy / b->n - (b->sx / b->n) * (b->sy / b->n);
	vx = b->sxx / b->n - (b->sx / b->n) * (b->sx / b->n);
	vy = b->syy / b->n - (b->sy / b->n) * (b->sy / b->n);
	r = vx > 0 && vy > 0 ? cov / sqrt(vx * vy) : 0;
	bucket_ends(b, &lo, &hi);
	if (hi < 0 || r < BATCH_MIN_CORR)
		return;
	p_hi = hist_quantile(&b->h[hi], 0.99);
	p_lo = hist_quantile(&b->h[lo], 0.99);
	/* The big batches' typical request must be near the SLO by itself:
	 * when only their tail is over, something else (preemption, a lock)
	 * stretches them, and a smaller batch is not the fix. */
	if (p_hi <= slo || hist_quantile(&b->h[hi], 0.5) < 0.75 * slo)
		return;
	f = an_add(a, FK_OVERSIZED_BATCH, SEV_WARNING);
	if (!f)
		return;
	snprintf(f->model, sizeof(f->model), "%s", an_name(a, b->model_id));
	snprintf(f->stage, sizeof(f->stage), "request");
	an_span(a, f, from, to);
	snprintf(f->metric, sizeof(f->metric), "p99_ns");
	f->value = (double)p_hi;
	f->reference = (double)slo;
	an_title(f, "%s batches up to %u candidates miss the SLO (p99 %s)",
		 f->model, bucket_top(b, hi), units_ns(b1, sizeof(b1), p_hi));
	an_evidence(f, "p99 %s at batches <= %u, %s at batches <= %u; SLO %s",
		    units_ns(b1, sizeof(b1), p_lo), bucket_top(b, lo),
		    units_ns(b2, sizeof(b2), p_hi), bucket_top(b, hi),
		    units_ns(b3, sizeof(b3), slo));
	an_evidence(f, "latency rises with batch size (r = %.2f over %.0f requests); CPU only %.0f%% busy",
		    r, b->n, 100 * util);
}

void detect_queueing(struct analyzer *a)
{
	size_t from, to, i;
	double util;

	an_judged(a, &from, &to);
	if (to - from < 3)
		return;
	util = utilisation(a, from, to);
	for (i = 0; i < a->nseries; i++)
		if (a->series[i].stage_id == a->request_stage)
			check_queueing(a, &a->series[i], from, to, util);
	for (i = 0; util >= 0 && i < a->nbatch; i++)
		check_batches(a, &a->batch[i], from, to, util);
}
