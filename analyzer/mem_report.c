// SPDX-License-Identifier: MIT
/*
 * 'loupe report --mem': outstanding sampled heap bytes per allocation site,
 * and leaks.  A leak is a site whose outstanding bytes keep growing with
 * the requests served: a least-squares fit of outstanding bytes against
 * cumulative requests (against time when nothing is instrumented) over the
 * windows after warm-up, significant (t > 5) over all of them and still
 * significant (t > 3) and at least half as steep over the second half, so
 * a cache that warms up and then plateaus is not one.  Allocations made before loupe attached were
 * never counted, so they cannot look like leaks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/json.h"
#include "analyzer/mem_report.h"
#include "analyzer/units.h"

#define TOP_SITES 8
#define WARMUP_WINDOWS 2
#define MIN_JUDGED 6	/* windows after warm-up needed to call a leak */

struct site_view {
	struct mem_site m;	/* the stacks of one site, merged */
	__u32 frame;		/* first frame that is not the allocator */
	double outstanding, allocated;
	double slope, t;	/* bytes per x after warm-up, its t statistic */
	double slope_late, t_late; /* the same over the late half */
	double per_second;
	bool leak;
};

/* OLS slope of y on x over [from, to) and its t statistic. */
static void fit(const double *x, const double *y, size_t from, size_t to,
		double *slope, double *t)
{
	double n = to - from, mx = 0, my = 0, sxx = 0, sxy = 0, sse = 0, e, se;
	size_t i;

	*slope = *t = 0;
	if (n < 3)
		return;
	for (i = from; i < to; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= n;
	my /= n;
	for (i = from; i < to; i++) {
		sxx += (x[i] - mx) * (x[i] - mx);
		sxy += (x[i] - mx) * (y[i] - my);
	}
	if (sxx <= 0)
		return;
	*slope = sxy / sxx;
	for (i = from; i < to; i++) {
		e = y[i] - my - *slope * (x[i] - mx);
		sse += e * e;
	}
	se = sqrt(sse / (n - 2) / sxx);
	/* A perfectly straight line: as significant as it gets. */
	*t = se > 0 ? *slope / se : (*slope > 0 ? 1e9 : 0);
}

static bool is_allocator(const struct trace_summary *s, const struct trace_frame *f)
{
	static const char *const names[] = {
		"malloc", "calloc", "realloc", "free", "posix_memalign",
		"aligned_alloc", "memalign", "valloc", "pvalloc", "reallocarray",
		"operator new", "operator new[]",
	};
	const char *fn = f->function_id == TRACE_NO_ID ? "" :
			 summary_name(s, f->function_id);
	const char *mod = f->module_id == TRACE_NO_ID ? "" :
			  summary_name(s, f->module_id);
	size_t i;

	if (strstr(mod, "libloupe-alloc") || !strncmp(fn, "loupe_", 6))
		return true;
	/* glibc's internal names of its entry points (__GI___libc_malloc
	 * with debug info, __libc_malloc without), jemalloc's and
	 * tcmalloc's prefixed ones: the top frames of uprobe-mode stacks. */
	if (!strncmp(fn, "__GI_", 5))
		fn += 5;
	if (!strncmp(fn, "__libc_", 7))
		fn += 7;
	else if (!strncmp(fn, "je_", 3) || !strncmp(fn, "tc_", 3))
		fn += 3;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strncmp(fn, names[i], strlen(names[i])) &&
		    (!fn[strlen(names[i])] || fn[strlen(names[i])] == '('))
			return true;
	return false;
}

static __u32 site_frame(const struct trace_summary *s, __u32 stack_id)
{
	const struct profile *p = &s->prof;
	const struct profile_stack *st =
		stack_id < p->nstacks ? &p->stacks[stack_id] : NULL;
	__u32 i;

	if (!st || !st->frames)
		return TRACE_NO_ID;
	for (i = 0; i < st->nframes; i++)
		if (st->frames[i] < p->nframes &&
		    !is_allocator(s, &p->frames[st->frames[i]]))
			return st->frames[i];
	return st->nframes ? st->frames[0] : TRACE_NO_ID;
}

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

static void analyze_site(struct site_view *v, const double *req,
			 const double *secs, size_t nw)
{
	double *out = calloc(nw + 1, sizeof(double)), acc = 0, dt;
	const double *x = req[nw - 1] > 0 ? req : secs;
	const struct mem_site *m = &v->m;
	size_t i, from = WARMUP_WINDOWS < nw ? WARMUP_WINDOWS : 0;

	if (!out)
		return;
	for (i = 0; i < nw; i++) {
		if (i < m->nwin) {
			acc += m->alloc[i] - m->freed[i];
			v->allocated += m->alloc[i];
		}
		out[i] = acc;
	}
	v->outstanding = acc;
	fit(x, out, from, nw, &v->slope, &v->t);
	fit(x, out, from + (nw - from) / 2, nw, &v->slope_late, &v->t_late);
	dt = secs[nw - 1] - secs[from];
	v->per_second = dt > 0 ? (out[nw - 1] - out[from]) / dt : 0;
	/* Still growing at the end, and about as fast: a cache that filled
	 * early has a late slope near zero (its noise can look significant
	 * over a few windows, its size cannot). */
	v->leak = nw >= from + MIN_JUDGED && v->slope > 0 && v->t > 5 &&
		  v->t_late > 3 && v->slope_late > 0.5 * v->slope &&
		  out[nw - 1] - out[from] > 65536;
	free(out);
}

static int by_outstanding(const void *a, const void *b)
{
	const struct site_view *x = a, *y = b;

	return (x->outstanding < y->outstanding) - (x->outstanding > y->outstanding);
}

/*
 * Adds stack M's series into the site V.  A site is where the allocation
 * happens (the first frame past the allocator), not the whole stack: a
 * cache filled from one call path and refilled from another is one site,
 * whose bytes plateau, not two that drift apart.
 */
static int merge_into(struct site_view *v, const struct mem_site *m)
{
	size_t i;

	if (m->nwin > v->m.nwin) {
		double *a = realloc(v->m.alloc, m->nwin * sizeof(double));
		double *f = a ? realloc(v->m.freed, m->nwin * sizeof(double)) : NULL;

		if (a)
			v->m.alloc = a;
		if (!f)
			return -1;
		v->m.freed = f;
		for (i = v->m.nwin; i < m->nwin; i++)
			v->m.alloc[i] = v->m.freed[i] = 0;
		v->m.nwin = m->nwin;
	}
	for (i = 0; i < m->nwin; i++) {
		v->m.alloc[i] += m->alloc[i];
		v->m.freed[i] += m->freed[i];
	}
	v->m.objects += m->objects;
	return 0;
}

static void free_views(struct site_view *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		free(v[i].m.alloc);
		free(v[i].m.freed);
	}
	free(v);
}

/* Folds every site; free with free_views().  *NW: windows, *N: sites. */
static struct site_view *build(const struct trace_summary *s, size_t *nw,
			       bool *per_request, size_t *n)
{
	const struct profile *p = &s->prof;
	struct site_view *v;
	double *req = NULL, *secs = NULL;
	size_t i, j;
	__u32 frame;

	*n = 0;
	*nw = window_axes(s, &req, &secs);
	v = calloc(p->nmem + 1, sizeof(*v));
	if (!v || *nw < 2) {
		free(req);
		free(secs);
		free(v);
		return NULL;
	}
	*per_request = req[*nw - 1] > 0;
	for (i = 0; i < p->nmem; i++) {
		frame = site_frame(s, p->mem[i].stack_id);
		for (j = 0; j < *n; j++)
			if (v[j].frame == frame && frame != TRACE_NO_ID)
				break;
		if (j == *n) {
			v[j].frame = frame;
			v[j].m.stack_id = p->mem[i].stack_id;
			(*n)++;
		}
		if (merge_into(&v[j], &p->mem[i])) {
			free_views(v, *n);
			free(req);
			free(secs);
			return NULL;
		}
	}
	for (i = 0; i < *n; i++)
		analyze_site(&v[i], req, secs, *nw);
	if (*n)
		qsort(v, *n, sizeof(*v), by_outstanding);
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

/* A loupe-internal config value ("@mem.mode"), or NULL. */
static const char *own_config(const struct trace_summary *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->nconfig; i++)
		if (!strcmp(s->config[i].key, key))
			return s->config[i].value;
	return NULL;
}

/* How the allocations were recorded: the shim (also traces from before
 * the mode was written), or uprobes on the allocator, with their cost. */
static void print_mode(FILE *f, const struct trace_summary *s)
{
	const char *mode = own_config(s, "@mem.mode");
	const char *alloc = own_config(s, "@mem.allocator");
	const char *cost = own_config(s, "@mem.uprobe_cost_ns");
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
	struct site_view *v;
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
	if (!leaks && nw < WARMUP_WINDOWS + MIN_JUDGED)
		fprintf(f, "\nleaks not judged: %zu windows, need %d (record longer)\n",
			nw, WARMUP_WINDOWS + MIN_JUDGED);
	else if (!leaks)
		fprintf(f, "\nno leak: no site's outstanding bytes keep growing\n");
	free_views(v, n);
}

void mem_report_json(FILE *f, const struct trace_summary *s)
{
	const struct profile *p = &s->prof;
	const struct trace_frame *fr;
	struct site_view *v = NULL;
	bool per_req = false;
	size_t nw = 0, i, n, nsites = 0;

	fprintf(f, "\"mem\": {\"mode\": ");
	/* Traces from before the mode was written were all the shim's. */
	json_str(f, own_config(s, "@mem.mode") ? own_config(s, "@mem.mode") :
		    p->nmem ? "shim" : NULL);
	fprintf(f, ", \"allocator\": ");
	json_str(f, own_config(s, "@mem.allocator"));
	fprintf(f, ", \"uprobe_cost_ns\": %.0f, \"sites\": [",
		own_config(s, "@mem.uprobe_cost_ns") ?
			atof(own_config(s, "@mem.uprobe_cost_ns")) : 0.0);
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
			   "\"t\": %.1f, \"windows\": %zu}",
			fr ? fr->line : 0, per_req ? v[i].slope : 0.0,
			v[i].per_second, v[i].t > 1e6 ? 1e6 : v[i].t, nw);
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
	free_views(v, nsites);
}
