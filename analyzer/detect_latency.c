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
#define SLO_MIN_COUNT 3		/* ... for the SLO, judged on the median window */
#define SPIKE_RATIO 3.0		/* window p99 / the series' median p99 */
#define SPIKE_FLOOR_NS 5e6
#define CP_MIN_SIDE 4		/* windows on each side of a change */
#define CP_T 6.0		/* Welch t over windows */
#define CP_T_SEPARATED 3.0	/* ... when the two levels do not overlap */
#define CP_STAGE_REL 0.20	/* relative change of a stage's mean */
#define CP_STAGE_ABS_NS 50e3
#define CP_CPU_REL 0.10		/* relative change of CPU per request */
#define CP_MAX_POINTS 200	/* longer series: block means */

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

/*
 * Sustained: the median window's p99 is over the SLO.  A window is the
 * unit because requests inside one are not independent; a few bad windows
 * are spikes, not a violation.
 */
static void check_slo(struct analyzer *a, const struct an_series *s,
		      size_t from, size_t to)
{
	__u64 slo = an_slo_ns(a, s->model_id);
	double v[4096], med, worst = 0, requests = 0;
	size_t i, over = 0, n = 0;
	struct finding *f;
	char b1[16], b2[16];

	if (!slo)
		return;
	for (i = from; i < to && n < 4096; i++) {
		if (s->count[i] < SLO_MIN_COUNT)
			continue;
		v[n++] = s->p99[i];
		over += s->p99[i] > slo;
		requests += s->count[i];
		if (s->p99[i] > worst)
			worst = s->p99[i];
	}
	if (n < 3)
		return;
	med = trend_median(v, n);
	if (med <= slo)
		return;
	f = an_add(a, FK_SLO_VIOLATION, med > 2 * slo ? SEV_CRITICAL : SEV_WARNING);
	if (!f)
		return;
	name_series(a, f, s);
	an_span(a, f, from, to);
	snprintf(f->metric, sizeof(f->metric), "p99_ns");
	f->value = med;
	f->reference = (double)slo;
	an_title(f, "%s p99 %s over its SLO of %s", f->model, ms(b1, sizeof(b1), med),
		 ms(b2, sizeof(b2), slo));
	an_evidence(f, "p99 %s in the median window vs SLO %s; %zu of %zu windows over",
		    ms(b1, sizeof(b1), med), ms(b2, sizeof(b2), slo), over, n);
	an_evidence(f, "worst window p99 %s; %.0f requests judged",
		    ms(b1, sizeof(b1), worst), requests);
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

/* Prefix sums of a series, for O(1) mean and variance of any run. */
struct runs {
	const double *s1, *s2;
};

static void run_stats(const struct runs *r, size_t i, size_t j, double *mean,
		      double *var)
{
	double n = (double)(j - i), m = (r->s1[j] - r->s1[i]) / n;

	*mean = m;
	*var = n > 1 ? ((r->s2[j] - r->s2[i]) - n * m * m) / (n - 1) : 0;
	if (*var < 0)
		*var = 0;
}

/* Welch t between two groups given their mean, variance and size. */
static double welch(double ma, double va, double na, double mb, double vb, double nb)
{
	double se = sqrt(va / na + vb / nb);

	if (se > 0)
		return (mb - ma) / se;
	return mb > ma ? 1e9 : mb < ma ? -1e9 : 0;
}

/* Whether V[k1..k2) lies wholly above or wholly below the rest of V. */
static bool separated(const double *v, size_t n, size_t k1, size_t k2)
{
	double in_lo = INFINITY, in_hi = -INFINITY, out_lo = INFINITY, out_hi = -INFINITY;
	size_t i;

	for (i = 0; i < n; i++) {
		bool in = i >= k1 && i < k2;

		if (in) {
			in_lo = fmin(in_lo, v[i]);
			in_hi = fmax(in_hi, v[i]);
		} else {
			out_lo = fmin(out_lo, v[i]);
			out_hi = fmax(out_hi, v[i]);
		}
	}
	return in_lo > out_hi || in_hi < out_lo;
}

struct cp {
	size_t split_slot;		/* slot the new level starts at */
	size_t end_slot;		/* slot it ended at (transient), else 0 */
	double before, after, t;
	bool transient;
};

/*
 * Change point of series V over slots SLOT[0..n): the best single step
 * (level A, then level B to the end), or the best segment (A, B for a
 * while, A again) when that explains the series better -- a transient.
 * Both by Welch's t over windows, with prefix sums: O(n^2) for segments.
 */
static bool change_point_raw(const double *v, const size_t *slot, size_t n,
			     double min_rel, double min_abs, struct cp *cp)
{
	double *s1, *s2, ma, va, mb, vb, mc, vc, t, best_t = 0;
	size_t i, j, k1 = 0, k2 = 0;
	struct runs r;
	bool found = false;

	if (n < 2 * CP_MIN_SIDE)
		return false;
	s1 = calloc(n + 1, sizeof(double));
	s2 = calloc(n + 1, sizeof(double));
	if (!s1 || !s2)
		goto out;
	for (i = 0; i < n; i++) {
		s1[i + 1] = s1[i] + v[i];
		s2[i + 1] = s2[i] + v[i] * v[i];
	}
	r = (struct runs){ s1, s2 };
	for (i = CP_MIN_SIDE; i + CP_MIN_SIDE <= n; i++) {
		run_stats(&r, 0, i, &ma, &va);
		run_stats(&r, i, n, &mb, &vb);
		t = welch(ma, va, i, mb, vb, n - i);
		if (fabs(t) > fabs(best_t)) {
			best_t = t;
			k1 = i;
			k2 = n;
		}
	}
	/* Segments [i, j) with 3 windows at least inside and after. */
	for (i = CP_MIN_SIDE; i + 6 <= n; i++) {
		for (j = i + 3; j + 3 <= n; j++) {
			double out_m, out_v, no = (double)(n - (j - i));

			run_stats(&r, 0, i, &ma, &va);
			run_stats(&r, j, n, &mc, &vc);
			out_m = (ma * i + mc * (n - j)) / no;
			/* pooled variance of the outside, around its mean */
			out_v = ((i - 1) * va + (n - j - 1) * vc +
				 i * (ma - out_m) * (ma - out_m) +
				 (n - j) * (mc - out_m) * (mc - out_m)) / (no - 1);
			run_stats(&r, i, j, &mb, &vb);
			t = welch(out_m, out_v, no, mb, vb, (double)(j - i));
			/* Only when clearly better than the step: a segment
			 * always fits at least as well. */
			if (fabs(t) > 1.5 * fabs(best_t)) {
				best_t = t;
				k1 = i;
				k2 = j;
			}
		}
	}
	/* A short run has few windows a side: a clean separation (every
	 * window after beyond every window before) with a smaller t counts. */
	if (!k1 || fabs(best_t) < CP_T_SEPARATED ||
	    (fabs(best_t) < CP_T && !separated(v, n, k1, k2)))
		goto out;
	if (k2 == n) {
		run_stats(&r, 0, k1, &cp->before, &va);
	} else {
		run_stats(&r, 0, k1, &ma, &va);
		run_stats(&r, k2, n, &mc, &vc);
		cp->before = (ma * k1 + mc * (n - k2)) / (double)(n - (k2 - k1));
	}
	run_stats(&r, k1, k2, &cp->after, &vb);
	cp->t = best_t;
	cp->split_slot = slot[k1];
	cp->transient = k2 < n;
	cp->end_slot = k2 < n ? slot[k2] : 0;
	found = cp->before > 0 &&
		fabs(cp->after - cp->before) >= min_rel * cp->before &&
		fabs(cp->after - cp->before) >= min_abs;
out:
	free(s1);
	free(s2);
	return found;
}

/*
 * The segment search is quadratic and the live TUI asks after every window:
 * a long series is judged on block means of consecutive windows (at most
 * CP_MAX_POINTS), which keeps a step's size and only blurs its time by a
 * block.
 */
static bool change_point(const double *v, const size_t *slot, size_t n,
			 double min_rel, double min_abs, struct cp *cp)
{
	double bv[CP_MAX_POINTS];
	size_t bs[CP_MAX_POINTS], k, i, j, nb;

	if (n <= CP_MAX_POINTS)
		return change_point_raw(v, slot, n, min_rel, min_abs, cp);
	k = (n + CP_MAX_POINTS - 1) / CP_MAX_POINTS;
	for (i = 0, nb = 0; i < n; i += k, nb++) {
		double sum = 0;

		for (j = i; j < n && j < i + k; j++)
			sum += v[j];
		bv[nb] = sum / (double)(j - i);
		bs[nb] = slot[i];
	}
	return change_point_raw(bv, bs, nb, min_rel, min_abs, cp);
}

static void describe_change(struct analyzer *a, struct finding *f,
			    const struct cp *cp, size_t from, size_t to)
{
	const struct an_win *w = &a->win[cp->split_slot];
	size_t i;

	an_span(a, f, cp->split_slot, cp->transient ? cp->end_slot : to);
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
		an_evidence(f, "transient: back to the old level at %.1f s",
			    a->win[cp->end_slot].start_s);
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

/* Mean run-queue wait per request of S over slots [from, to). */
static double runq_mean(const struct an_series *s, size_t from, size_t to)
{
	double sum = 0, n = 0;
	size_t i;

	for (i = from; i < to; i++) {
		if (s->count[i] < MIN_COUNT)
			continue;
		sum += s->runq[i];
		n++;
	}
	return n ? sum / n : 0;
}

static void report_stage_change(struct analyzer *a, const struct an_series *s,
				const struct cp *cp, size_t from, size_t to)
{
	struct finding *f = an_add(a, FK_CHANGE_POINT, SEV_WARNING);
	size_t end = cp->transient ? cp->end_slot : to;
	double wait = runq_mean(s, cp->split_slot, end) - runq_mean(s, from, cp->split_slot);
	char b1[16], b2[16];

	if (!f)
		return;
	name_series(a, f, s);
	snprintf(f->metric, sizeof(f->metric), "mean_ns");
	an_title(f, "%s/%s mean latency %s -> %s (%+.0f%%)",
		 f->model, f->stage, ms(b1, sizeof(b1), cp->before),
		 ms(b2, sizeof(b2), cp->after), 100 * (cp->after / cp->before - 1));
	describe_change(a, f, cp, from, to);
	/* Stretched by waiting for a CPU rather than by more work: the
	 * machine got busier (a neighbour, another stage); the stage's own
	 * change, if any, is smaller than it looks. */
	if (cp->after > cp->before && wait >= 0.5 * (cp->after - cp->before)) {
		f->severity = SEV_INFO;
		an_evidence(f, "%s of it is run-queue wait per request: CPU contention, not more work",
			    ms(b1, sizeof(b1), wait));
	}
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
	an_evidence(f, "%zu episodes of requests parked outside their stages, %zu of %zu gaps at the period",
		    n, steady, ng);
	an_evidence(f, "period %s, longest park per episode %s (median)",
		    ms(b1, sizeof(b1), period * 1e9), ms(b2, sizeof(b2), stall * 1e9));
}
