// SPDX-License-Identifier: MIT
/*
 * Memory detectors: leaking allocation sites (mem_sites.c judges them, the
 * same way 'report --mem' does) and RSS that keeps growing.
 */
#include <stdio.h>
#include <stdlib.h>

#include "analyzer/analyze_int.h"
#include "analyzer/mem_sites.h"
#include "analyzer/trend.h"
#include "analyzer/units.h"

#define RSS_MIN_SLOPE (1 << 20)	/* bytes per second */
#define RSS_MIN_GROWTH 0.05	/* of the first judged RSS */

static const char *name_cb(const void *ctx, __u32 id)
{
	return window_stream_name(ctx, id);
}

/* Leaks; returns the bytes per second they account for. */
static double detect_leaks(struct analyzer *a)
{
	const struct profile *p = window_stream_dict(a->ws);
	struct mem_sites_input in = { .prof = p, .name = name_cb, .ctx = a->ws };
	struct mem_site_view *v;
	double *req, *secs, rate = 0;
	size_t n = 0, nw = 0, i;
	bool per_req = false;
	char b1[16], b2[16];

	if (!p->nmem)
		return 0;
	for (i = 0; i < a->nwin; i++)
		if (a->win[i].index + 1 > nw)
			nw = a->win[i].index + 1;
	req = calloc(nw + 1, sizeof(double));
	secs = calloc(nw + 1, sizeof(double));
	for (i = 0; req && secs && i < a->nwin; i++) {
		req[a->win[i].index] = a->win[i].cum_requests;
		secs[a->win[i].index] = a->win[i].end_s;
	}
	in.cum_requests = req;
	in.end_s = secs;
	in.nwindows = nw;
	v = req && secs ? mem_sites_build(&in, &per_req, &n) : NULL;
	for (i = 0; v && i < n; i++) {
		struct finding *f;

		if (!v[i].leak)
			continue;
		f = an_add(a, FK_MEMORY_LEAK, v[i].per_second > (1 << 20) ? SEV_CRITICAL : SEV_WARNING);
		if (!f)
			break;
		an_span(a, f, MEM_WARMUP_WINDOWS < a->nwin ? MEM_WARMUP_WINDOWS : 0, a->nwin);
		an_set_site(a, f, v[i].frame);
		snprintf(f->metric, sizeof(f->metric), per_req ? "bytes_per_request" : "bytes_per_s");
		f->value = per_req ? v[i].slope : v[i].per_second;
		rate += v[i].per_second;
		an_title(f, "leak in %.40s: %s per %s",
			 f->function[0] ? f->function : "?",
			 units_bytes(b1, sizeof(b1), (__u64)(f->value > 0 ? f->value : 0)),
			 per_req ? "request" : "second");
		an_evidence(f, "outstanding heap bytes from this site grow with %s: t = %.1f",
			    per_req ? "requests served" : "time", v[i].t > 1e6 ? 1e6 : v[i].t);
		an_evidence(f, "%s/s; %s outstanding at the end (sampled estimate)",
			    units_bytes(b1, sizeof(b1), (__u64)(v[i].per_second > 0 ? v[i].per_second : 0)),
			    units_bytes(b2, sizeof(b2), (__u64)(v[i].outstanding > 0 ? v[i].outstanding : 0)));
		if (f->file[0])
			an_evidence(f, "allocated at %s:%u in %s", f->file, f->line, f->function);
	}
	mem_sites_free(v, n);
	free(req);
	free(secs);
	return rate;
}

static void detect_rss(struct analyzer *a, size_t from, size_t to, double leak_rate)
{
	double x[4096], y[4096], slope, t, slope_late, t_late;
	size_t i, n = 0;
	struct finding *f;
	char b1[16], b2[16], b3[16];

	for (i = from; i < to && n < 4096; i++) {
		if (!a->win[i].have_ctr || a->win[i].rss <= 0)
			continue;
		x[n] = a->win[i].end_s;
		y[n++] = a->win[i].rss;
	}
	if (n < 6)
		return;
	trend_fit(x, y, 0, n, &slope, &t);
	trend_fit(x, y, n / 2, n, &slope_late, &t_late);
	if (slope < RSS_MIN_SLOPE || t < 5 || slope_late < 0.5 * slope ||
	    y[n - 1] - y[0] < RSS_MIN_GROWTH * y[0])
		return;
	/* Growth a leak finding explains is evidence for it, not news. */
	f = an_add(a, FK_RSS_GROWTH, leak_rate >= 0.5 * slope ? SEV_INFO : SEV_WARNING);
	if (!f)
		return;
	an_span(a, f, from, to);
	snprintf(f->metric, sizeof(f->metric), "rss_bytes_per_s");
	f->value = slope;
	an_title(f, "RSS grows %s/s (%s -> %s)",
		 units_bytes(b1, sizeof(b1), (__u64)slope),
		 units_bytes(b2, sizeof(b2), (__u64)y[0]),
		 units_bytes(b3, sizeof(b3), (__u64)y[n - 1]));
	an_evidence(f, "least-squares slope over %zu windows, t = %.1f; late half %s/s",
		    n, t > 1e6 ? 1e6 : t, units_bytes(b1, sizeof(b1), (__u64)(slope_late > 0 ? slope_late : 0)));
	if (leak_rate > 0)
		an_evidence(f, "leaking sites account for %s/s of it",
			    units_bytes(b1, sizeof(b1), (__u64)leak_rate));
}

void detect_memory(struct analyzer *a)
{
	size_t from, to;
	double leak_rate = detect_leaks(a);

	an_judged(a, &from, &to);
	if (to - from >= 3)
		detect_rss(a, from, to, leak_rate);
}
