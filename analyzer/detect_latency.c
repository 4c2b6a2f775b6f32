// SPDX-License-Identifier: MIT
/*
 * Latency detectors over per-window series: SLO violations, spikes, change
 * points in a stage's latency or in CPU per request, and periodic stalls.
 * Each needs significance (over windows, not requests: requests inside one
 * window are not independent) and a minimum effect, so noise stays quiet.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/analyze_int.h"
#include "analyzer/trend.h"
#include "analyzer/units.h"

#define MIN_COUNT 10		/* requests in a window for its quantiles */
#define SPIKE_RATIO 3.0		/* window p99 / the series' median p99 */
#define SPIKE_FLOOR_NS 5e6
#define CP_MIN_SIDE 4		/* windows on each side of a change */
#define CP_T 6.0		/* Welch t over windows */
#define CP_STAGE_REL 0.20	/* relative change of a stage's mean */
#define CP_STAGE_ABS_NS 50e3
#define CP_CPU_REL 0.10		/* relative change of CPU per request */

static const char *ms(char *buf, size_t len, double ns)
{
	return units_ns(buf, len, (__u64)(ns > 0 ? ns : 0));
}

static void name_series(const struct analyzer *a, struct finding *f,
			const struct an_series *s)
{
	snprintf(f->model, sizeof(f->model), "%s", an_name(a, s->model_id));
	snprintf(f->stage, sizeof(f->stage), "%s", an_name(a, s->stage_id));
}

static void check_slo(struct analyzer *a, const struct an_series *s,
		      size_t from, size_t to)
{
	__u64 slo = an_slo_ns(a, s->model_id);
	__u64 p99 = hist_quantile(s->judged, 0.99);
	size_t i, over = 0, n = 0;
	struct finding *f;
	char b1[16], b2[16];

	if (!slo || s->judged->count < 50 || p99 <= slo)
		return;
	for (i = from; i < to; i++) {
		if (s->count[i] < MIN_COUNT)
			continue;
		n++;
		over += s->p99[i] > slo;
	}
	f = an_add(a, FK_SLO_VIOLATION, p99 > 2 * slo ? SEV_CRITICAL : SEV_WARNING);
	if (!f)
		return;
	name_series(a, f, s);
	an_span(a, f, from, to);
	snprintf(f->metric, sizeof(f->metric), "p99_ns");
	f->value = (double)p99;
	f->reference = (double)slo;
	an_title(f, "%s p99 %s over its SLO of %s",
		 f->model, ms(b1, sizeof(b1), p99), ms(b2, sizeof(b2), slo));
	an_evidence(f, "p99 %s vs SLO %s over %llu requests; %zu of %zu windows over",
		    ms(b1, sizeof(b1), p99), ms(b2, sizeof(b2), slo),
		    (unsigned long long)s->judged->count, over, n);
	an_evidence(f, "p50 %s, max %s", ms(b1, sizeof(b1), hist_quantile(s->judged, 0.5)),
		    ms(b2, sizeof(b2), s->judged->max));
}

/* Windows whose p99 is far above the series' usual p99. */
static void check_spikes(struct analyzer *a, const struct an_series *s,
			 size_t from, size_t to)
{
	double v[4096], med, worst = 0;
	size_t i, n = 0, spikes = 0, at = from;
	struct finding *f;
	char b1[16], b2[16];

	for (i = from; i < to && n < 4096; i++)
		if (s->count[i] >= MIN_COUNT)
			v[n++] = s->p99[i];
	if (n < 5)
		return;
	med = trend_median(v, n);
	for (i = from; i < to; i++) {
		if (s->count[i] < MIN_COUNT || s->p99[i] < SPIKE_RATIO * med ||
		    s->p99[i] - med < SPIKE_FLOOR_NS)
			continue;
		spikes++;
		if (s->p99[i] > worst) {
			worst = s->p99[i];
			at = i;
		}
	}
	if (!spikes)
		return;
	/* A spike or two is how a VM breathes; a quarter of the run is not. */
	f = an_add(a, FK_LATENCY_SPIKE, spikes * 4 >= n ? SEV_WARNING : SEV_INFO);
	if (!f)
		return;
	name_series(a, f, s);
	an_span(a, f, at, at + 1);
	f->transient = spikes * 4 < n;
	snprintf(f->metric, sizeof(f->metric), "p99_ns");
	f->value = worst;
	f->reference = med;
	an_title(f, "%s/%s p99 spiked to %s (usually %s)",
		 f->model, f->stage, ms(b1, sizeof(b1), worst), ms(b2, sizeof(b2), med));
	an_evidence(f, "%zu of %zu windows with p99 >= %.0fx the median p99; worst at %.1f s",
		    spikes, n, SPIKE_RATIO, a->win[at].start_s);
}

/*
 * The split of V[0..n) into two runs of windows with the largest Welch t.
 * Returns the split (0 when none is significant enough).
 */
static size_t best_split(const double *v, size_t n, double *t, double *before,
			 double *after)
{
	size_t k, best = 0;
	double tk, var;

	*t = 0;
	for (k = CP_MIN_SIDE; k + CP_MIN_SIDE <= n; k++) {
		tk = trend_welch_t(v, k, v + k, n - k);
		if (fabs(tk) > fabs(*t)) {
			*t = tk;
			best = k;
		}
	}
	if (!best)
		return 0;
	trend_mean_var(v, best, before, &var);
	trend_mean_var(v + best, n - best, after, &var);
	return best;
}

/* Was the series back near its old level over its last 3 windows? */
static bool went_back(const double *v, size_t n, double before, double after)
{
	double m, var;

	if (n < 3)
		return false;
	trend_mean_var(v + n - 3, 3, &m, &var);
	return fabs(m - before) < 0.25 * fabs(after - before);
}

struct cp {
	size_t split_slot;		/* slot the new level starts at */
	double before, after, t;
	bool transient;
};

/* Change point of series V over slots SLOT[0..n). */
static bool change_point(const double *v, const size_t *slot, size_t n,
			 double min_rel, double min_abs, struct cp *cp)
{
	size_t k;

	if (n < 2 * CP_MIN_SIDE)
		return false;
	k = best_split(v, n, &cp->t, &cp->before, &cp->after);
	if (!k || fabs(cp->t) < CP_T || cp->before <= 0 ||
	    fabs(cp->after - cp->before) < min_rel * cp->before ||
	    fabs(cp->after - cp->before) < min_abs)
		return false;
	cp->split_slot = slot[k];
	cp->transient = went_back(v, n, cp->before, cp->after);
	return true;
}

static void describe_change(struct analyzer *a, struct finding *f,
			    const struct cp *cp, size_t from, size_t to)
{
	const struct an_win *w = &a->win[cp->split_slot];
	size_t i;

	an_span(a, f, cp->split_slot, to);
	f->value = cp->after;
	f->reference = cp->before;
	f->transient = cp->transient;
	if (cp->after < cp->before || cp->transient)
		f->severity = SEV_INFO;
	an_evidence(f, "changed at %.1f s (window %llu): t = %.1f over windows", w->start_s,
		    (unsigned long long)w->index, cp->t);
	/* A config change at about that time is the first suspect. */
	for (i = cp->split_slot > from + 1 ? cp->split_slot - 2 : from;
	     i <= cp->split_slot && i < to; i++)
		if (a->win[i].config_change[0])
			an_evidence(f, "config changed at %.1f s: %s", a->win[i].start_s,
				    a->win[i].config_change);
	if (cp->transient)
		an_evidence(f, "transient: back near the old level over the last 3 windows");
}

static bool stage_change(const struct an_series *s,
			 size_t from, size_t to, struct cp *cp)
{
	double v[4096];
	size_t slot[4096], i, n = 0;

	for (i = from; i < to && n < 4096; i++) {
		if (s->count[i] < MIN_COUNT)
			continue;
		v[n] = s->mean[i];
		slot[n++] = i;
	}
	return change_point(v, slot, n, CP_STAGE_REL, CP_STAGE_ABS_NS, cp);
}

static void report_stage_change(struct analyzer *a, const struct an_series *s,
				const struct cp *cp, size_t from, size_t to)
{
	struct finding *f = an_add(a, FK_CHANGE_POINT, SEV_WARNING);
	char b1[16], b2[16];

	if (!f)
		return;
	name_series(a, f, s);
	snprintf(f->metric, sizeof(f->metric), "mean_ns");
	an_title(f, "%s/%s mean latency %s -> %s (%+.0f%%)",
		 f->model, f->stage, ms(b1, sizeof(b1), cp->before),
		 ms(b2, sizeof(b2), cp->after), 100 * (cp->after / cp->before - 1));
	describe_change(a, f, cp, from, to);
}

/*
 * A step in a whole request's latency is reported only when no stage of
 * the model stepped at about the same time: the stage is the answer, the
 * request is where it showed.
 */
static void detect_changes(struct analyzer *a, size_t from, size_t to)
{
	struct cp *cps = calloc(a->nseries + 1, sizeof(*cps));
	bool *has = calloc(a->nseries + 1, sizeof(*has));
	size_t i, j;

	if (!cps || !has)
		goto out;
	for (i = 0; i < a->nseries; i++)
		if (a->series[i].stage_id != a->queue_stage)
			has[i] = stage_change(&a->series[i], from, to, &cps[i]);
	for (i = 0; i < a->nseries; i++) {
		const struct an_series *s = &a->series[i];
		bool explained = false;

		if (!has[i])
			continue;
		for (j = 0; s->stage_id == a->request_stage && j < a->nseries; j++)
			explained |= has[j] && j != i &&
				     a->series[j].model_id == s->model_id &&
				     a->series[j].stage_id != a->request_stage &&
				     cps[j].split_slot + 1 >= cps[i].split_slot &&
				     cps[j].split_slot <= cps[i].split_slot + 1;
		if (!explained)
			report_stage_change(a, s, &cps[i], from, to);
	}
out:
	free(cps);
	free(has);
}

/* CPU per request: task-clock / requests, far steadier than wall time. */
static void detect_cpu_change(struct analyzer *a, size_t from, size_t to)
{
	double v[4096];
	size_t slot[4096], i, n = 0;
	struct finding *f;
	struct cp cp;
	char b1[16], b2[16];

	for (i = from; i < to && n < 4096; i++) {
		if (!a->win[i].have_ctr || a->win[i].requests < MIN_COUNT)
			continue;
		v[n] = a->win[i].task_clock_ns / a->win[i].requests;
		slot[n++] = i;
	}
	if (!change_point(v, slot, n, CP_CPU_REL, 0, &cp))
		return;
	f = an_add(a, FK_CHANGE_POINT, SEV_WARNING);
	if (!f)
		return;
	snprintf(f->metric, sizeof(f->metric), "cpu_per_request_ns");
	an_title(f, "CPU per request %s -> %s (%+.0f%%)",
		 ms(b1, sizeof(b1), cp.before), ms(b2, sizeof(b2), cp.after),
		 100 * (cp.after / cp.before - 1));
	describe_change(a, f, &cp, from, to);
}

void detect_latency(struct analyzer *a)
{
	size_t from, to, i;

	an_judged(a, &from, &to);
	if (to - from < 3)
		return;
	for (i = 0; i < a->nseries; i++) {
		const struct an_series *s = &a->series[i];

		if (s->stage_id == a->request_stage)
			check_slo(a, s, from, to);
		if (s->stage_id != a->queue_stage)
			check_spikes(a, s, from, to);
	}
	detect_changes(a, from, to);
	detect_cpu_change(a, from, to);
}

/* ---- periodic stalls ---- */

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/*
 * Slow requests bunch into episodes (a stall releases everything in flight
 * at once).  Episodes at a steady period -- most gaps close to a multiple
 * of the median gap -- are a periodic stall: a GC, a flush, a cron.
 */
void detect_stalls(struct analyzer *a)
{
	double ep[1024], len[1024], gaps[1024], t0, period, stall;
	size_t from, to, i, n = 0, ng = 0, steady = 0;
	struct finding *f;
	char b1[16], b2[16];

	an_judged(a, &from, &to);
	if (to - from < 4 || !a->nslow)
		return;
	t0 = a->win[from].start_s;
	for (i = 0; i < a->nslow && n < 1024; i++) {
		if (a->slow[i].end_s < t0 || a->slow[i].end_s > a->win[to - 1].end_s)
			continue;
		if (n && a->slow[i].end_s - ep[n - 1] < 0.05 && a->slow[i].end_s >= ep[n - 1]) {
			if (a->slow[i].latency_s > len[n - 1])
				len[n - 1] = a->slow[i].latency_s;
			continue;
		}
		ep[n] = a->slow[i].end_s;
		len[n++] = a->slow[i].latency_s;
	}
	if (n < 4)
		return;
	qsort(ep, n, sizeof(double), cmp_double);
	for (i = 1; i < n; i++)
		if (ep[i] - ep[i - 1] > 0.05)
			gaps[ng++] = ep[i] - ep[i - 1];
	if (ng < 3)
		return;
	period = trend_median(gaps, ng);
	if (period < 0.1)
		return;
	for (i = 0; i < ng; i++) {
		double k = round(gaps[i] / period);

		steady += k >= 1 && k <= 3 && fabs(gaps[i] - k * period) < 0.1 * period;
	}
	if (steady * 5 < ng * 4)
		return;
	stall = trend_median(len, n);
	f = an_add(a, FK_PERIODIC_STALL, SEV_WARNING);
	if (!f)
		return;
	an_span(a, f, from, to);
	snprintf(f->metric, sizeof(f->metric), "stall_ns");
	f->value = stall * 1e9;
	f->reference = period * 1e9;
	an_title(f, "requests stall ~%s every %s",
		 ms(b1, sizeof(b1), stall * 1e9), ms(b2, sizeof(b2), period * 1e9));
	an_evidence(f, "%zu episodes of requests >8x the median latency, %zu of %zu gaps at the period",
		    n, steady, ng);
	an_evidence(f, "period %s, slowest request per episode %s (median)",
		    ms(b1, sizeof(b1), period * 1e9), ms(b2, sizeof(b2), stall * 1e9));
}
