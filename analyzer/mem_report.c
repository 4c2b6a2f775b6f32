// SPDX-License-Identifier: MIT
/*
 * 'loupe report --mem': outstanding sampled heap bytes per allocation site,
 * leaks (mem_sites.c judges them), allocation by stage and RSS.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/json.h"
#include "analyzer/mem_report.h"
#include "analyzer/mem_sites.h"
#include "analyzer/units.h"

#define TOP_SITES 8

/* Per window index: cumulative requests and end time (seconds). */
static size_t window_axes(const struct trace_summary *s, double **req,
			  double **secs)
{
	size_t n = 0, i;
	double acc = 0;

	for (i = 0; i < s->nwindows; i++)
		if (s->windows[i].index + 1 > n)
			n = s->windows[i].index + 1;
	*req = calloc(n + 1, sizeof(double));
	*secs = calloc(n + 1, sizeof(double));
	if (!*req || !*secs)
		return 0;
	for (i = 0; i < s->nwindows; i++) {
		(*req)[s->windows[i].index] = s->windows[i].requests;
		(*secs)[s->windows[i].index] =
			(s->windows[i].end_ns - s->meta.start_mono_ns) / 1e9;
	}
	for (i = 0; i < n; i++) {
		acc += (*req)[i];
		(*req)[i] = acc;
	}
	return n;
}

static const char *summary_name_cb(const void *ctx, __u32 id)
{
	return summary_name(ctx, id);
}

/* The sites of S; NULL when there are too few windows. */
static struct mem_site_view *build(const struct trace_summary *s, size_t *nw,
				   bool *per_request, size_t *n)
{
	struct mem_sites_input in = { .prof = &s->prof, .name = summary_name_cb, .ctx = s };
	struct mem_site_view *v;
	double *req = NULL, *secs = NULL;

	*n = 0;
	*nw = window_axes(s, &req, &secs);
	in.cum_requests = req;
	in.end_s = secs;
	in.nwindows = *nw;
	v = req && secs ? mem_sites_build(&in, per_request, n) : NULL;
	free(req);
	free(secs);
	return v;
}

/* RSS at the first and the last window, and the growth rate. */
static void print_rss(FILE *f, const struct trace_summary *s)
{
	const struct profile *p = &s->prof;
	char a[16], b[16], c[16], d[16], e[16], r[16];
	double dt, first, last;
	size_t i, step;

	if (!p->nrss)
		return;
	first = p->rss[0].anon + p->rss[0].file + p->rss[0].shmem;
	last = p->rss[p->nrss - 1].anon + p->rss[p->nrss - 1].file +
	       p->rss[p->nrss - 1].shmem;
	dt = (double)(p->rss[p->nrss - 1].window - p->rss[0].window) *
	     s->meta.window_ns / 1e9;
	fprintf(f, "\nRSS  %s -> %s, %s%s/s\n",
		units_bytes(a, sizeof(a), (__u64)first),
		units_bytes(b, sizeof(b), (__u64)last),
		last >= first ? "+" : "-",
		units_bytes(r, sizeof(r), (__u64)(dt > 0 ? fabs(last - first) / dt : 0)));
	fprintf(f, "     at the end: anon %s, file %s, shmem %s\n",
		units_bytes(c, sizeof(c), p->rss[p->nrss - 1].anon),
		units_bytes(d, sizeof(d), p->rss[p->nrss - 1].file),
		units_bytes(e, sizeof(e), p->rss[p->nrss - 1].shmem));
	/* A timeline of at most 6 points: 6 x 11 columns fit 80. */
	step = (p->nrss + 5) / 6;
	fprintf(f, "     ");
	for (i = 0; i < p->nrss; i += step)
		fprintf(f, " %s", units_bytes(a, sizeof(a), p->rss[i].anon + p->rss[i].file +
							       p->rss[i].shmem));
	fputc('\n', f);
}

/* Sampled allocation bytes per model x stage (where the allocations run). */
static void print_by_stage(FILE *f, const struct trace_summary *s)
{
	const struct profile *p = &s->prof;
	const struct profile_sample *smp;
	double secs = summary_duration_ns(s) / 1e9;
	struct {
		__u32 model, stage;
		double bytes;
	} row[16];
	size_t n = 0, i;
	char a[16];

	profile_for_each_sample(p, smp) {
		if (smp->kind != TRACE_SAMPLE_MEM_ALLOC)
			continue;
		for (i = 0; i < n; i++)
			if (row[i].model == smp->model_id && row[i].stage == smp->stage_id)
				break;
		if (i == n) {
			if (n == 16)
				continue;
			row[n].model = smp->model_id;
			row[n].stage = smp->stage_id;
			row[n++].bytes = 0;
		}
		row[i].bytes += smp->value_ns;
	}
	if (!n || secs <= 0)
		return;
	fprintf(f, "\n%-10s %-12s %14s\n", "MODEL", "STAGE", "ALLOCATED/S");
	for (i = 0; i < n; i++)
		fprintf(f, "%-10.10s %-12.12s %12s/s\n",
			row[i].model == TRACE_NO_ID ? "(none)" : summary_name(s, row[i].model),
			row[i].stage == TRACE_NO_ID ? "(none)" : summary_name(s, row[i].stage),
			units_bytes(a, sizeof(a), (__u64)(row[i].bytes / secs)));
}

/* How the allocations were recorded: the shim (also traces from before
 * the mode was written), or uprobes on the allocator, with their cost. */
static void print_mode(FILE *f, const struct trace_summary *s)
{
	const char *mode = summary_config(s, "@mem.mode");
	const char *alloc = summary_config(s, "@mem.allocator");
	const char *cost = summary_config(s, "@mem.uprobe_cost_ns");
	const char *base = alloc ? strrchr(alloc, '/') : NULL;

	if (!mode || strcmp(mode, "uprobe")) {
		fprintf(f, "\nMEMORY  sampled heap allocations (libloupe-alloc.so)\n");
		return;
	}
	fprintf(f, "\nMEMORY  sampled heap allocations (uprobes on %.24s",
		base ? base + 1 : alloc ? alloc : "the allocator");
	if (cost && atof(cost) > 0)
		fprintf(f, ", ~%.0f us per malloc+free", atof(cost) / 1e3);
	fprintf(f, ")\n");
}

void mem_report_text(FILE *f, const struct trace_summary *s)
{
	const struct profile *p = &s->prof;
	struct mem_site_view *v;
	char a[16], b[16];
	bool per_req;
	size_t nw, i, n, leaks = 0;

	print_mode(f, s);
	print_rss(f, s);
	if (!p->nmem) {
		fprintf(f, "(no allocations: record with --mem)\n");
		return;
	}
	print_by_stage(f, s);
	fputc('\n', f);
	v = build(s, &nw, &per_req, &n);
	if (!v) {
		fprintf(f, "(too few windows to judge)\n");
		return;
	}
	fprintf(f, "%12s %12s  %s (%zu sites)\n", "OUTSTANDING", "ALLOCATED",
		"ALLOCATION SITE", n);
	for (i = 0; i < n && i < TOP_SITES; i++) {
		fprintf(f, "%12s %12s  %.50s",
			units_bytes(a, sizeof(a), (__u64)(v[i].outstanding > 0 ? v[i].outstanding : 0)),
			units_bytes(b, sizeof(b), (__u64)v[i].allocated),
			summary_frame_function(s, v[i].frame));
		summary_print_where(f, s, v[i].frame);
		fputc('\n', f);
	}
	for (i = 0; i < n; i++) {
		if (!v[i].leak)
			continue;
		if (!leaks++)
			fprintf(f, "\nLEAKS (outstanding bytes grow with %s, after warm-up)\n",
				per_req ? "requests served" : "time");
		fprintf(f, "  %.60s", summary_frame_function(s, v[i].frame));
		summary_print_where(f, s, v[i].frame);
		fprintf(f, "\n      ");
		if (per_req)
			fprintf(f, "%s per request, ",
				units_bytes(a, sizeof(a), (__u64)v[i].slope));
		fprintf(f, "%s/s (t = %.1f over %zu windows)\n",
			units_bytes(b, sizeof(b), (__u64)(v[i].per_second > 0 ? v[i].per_second : 0)),
			v[i].t > 1e6 ? 1e6 : v[i].t, nw);
	}
	if (!leaks && nw < MEM_WARMUP_WINDOWS + MEM_MIN_JUDGED)
		fprintf(f, "\nleaks not judged: %zu windows, need %d (record longer)\n",
			nw, MEM_WARMUP_WINDOWS + MEM_MIN_JUDGED);
	else if (!leaks)
		fprintf(f, "\nno leak: no site's outstanding bytes keep growing\n");
	mem_sites_free(v, n);
}

void mem_report_json(FILE *f, const struct trace_summary *s)
{
	const struct profile *p = &s->prof;
	const struct trace_frame *fr;
	struct mem_site_view *v = NULL;
	bool per_req = false;
	size_t nw = 0, i, j, n, nsites = 0;

	fprintf(f, "\"mem\": {\"mode\": ");
	/* Traces from before the mode was written were all the shim's. */
	json_str(f, summary_config(s, "@mem.mode") ? summary_config(s, "@mem.mode") :
		    p->nmem ? "shim" : NULL);
	fprintf(f, ", \"allocator\": ");
	json_str(f, summary_config(s, "@mem.allocator"));
	fprintf(f, ", \"uprobe_cost_ns\": %.0f, \"sites\": [",
		summary_config(s, "@mem.uprobe_cost_ns") ?
			atof(summary_config(s, "@mem.uprobe_cost_ns")) : 0.0);
	if (p->nmem)
		v = build(s, &nw, &per_req, &nsites);
	for (i = 0; v && i < nsites; i++) {
		fr = summary_frame(s, v[i].frame);
		fprintf(f, "%s\n      {\"function\": ", i ? "," : "");
		json_str(f, summary_frame_function(s, v[i].frame));
		fprintf(f, ", \"file\": ");
		json_str(f, fr && fr->file_id != TRACE_NO_ID ? summary_name(s, fr->file_id) : NULL);
		fprintf(f, ", \"line\": %u, \"outstanding_bytes\": %.0f, \"allocated_bytes\": %.0f, "
			   "\"objects\": %llu, \"leak\": %s}",
			fr ? fr->line : 0, v[i].outstanding, v[i].allocated,
			(unsigned long long)v[i].m.objects, v[i].leak ? "true" : "false");
	}
	fprintf(f, "],\n    \"leaks\": [");
	for (i = 0, n = 0; v && i < nsites; i++) {
		if (!v[i].leak)
			continue;
		fr = summary_frame(s, v[i].frame);
		fprintf(f, "%s\n      {\"function\": ", n++ ? "," : "");
		json_str(f, summary_frame_function(s, v[i].frame));
		fprintf(f, ", \"file\": ");
		json_str(f, fr && fr->file_id != TRACE_NO_ID ? summary_name(s, fr->file_id) : NULL);
		fprintf(f, ", \"line\": %u, \"bytes_per_request\": %.0f, \"bytes_per_second\": %.0f, "
			   "\"t\": %.1f, \"windows\": %zu, \"outstanding_by_window\": [",
			fr ? fr->line : 0, per_req ? v[i].slope : 0.0,
			v[i].per_second, v[i].t > 1e6 ? 1e6 : v[i].t, nw);
		for (j = 0; v[i].by_window && j < nw; j++)
			fprintf(f, "%s%.0f", j ? ", " : "", v[i].by_window[j]);
		fprintf(f, "]}");
	}
	fprintf(f, "],\n    \"rss\": [");
	for (i = 0; i < p->nrss; i++)
		fprintf(f, "%s\n      {\"window\": %llu, \"anon_bytes\": %llu, \"file_bytes\": %llu, "
			   "\"shmem_bytes\": %llu}", i ? "," : "",
			(unsigned long long)p->rss[i].window,
			(unsigned long long)p->rss[i].anon,
			(unsigned long long)p->rss[i].file,
			(unsigned long long)p->rss[i].shmem);
	fprintf(f, "]}");
	mem_sites_free(v, nsites);
}
