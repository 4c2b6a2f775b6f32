// SPDX-License-Identifier: MIT
/*
 * Allocation sites and leaks.  A leak is a site whose outstanding bytes keep
 * growing with the requests served: a least-squares fit of outstanding bytes
 * against cumulative requests (against time when nothing is instrumented)
 * over the windows after warm-up, significant (t > 5) over all of them and
 * still significant (t > 3) and at least half as steep over the second half,
 * so a cache that warms up and then plateaus is not one.  Allocations made
 * before loupe attached were never counted, so they cannot look like leaks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/mem_sites.h"
#include "analyzer/trend.h"


static bool is_allocator(const struct mem_sites_input *in, const struct trace_frame *f)
{
	static const char *const names[] = {
		"malloc", "calloc", "realloc", "free", "posix_memalign",
		"aligned_alloc", "memalign", "valloc", "pvalloc", "reallocarray",
		"operator new", "operator new[]",
	};
	const char *fn = f->function_id == TRACE_NO_ID ? "" :
			 in->name(in->ctx, f->function_id);
	const char *mod = f->module_id == TRACE_NO_ID ? "" :
			  in->name(in->ctx, f->module_id);
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

static __u32 site_frame(const struct mem_sites_input *in, __u32 stack_id)
{
	const struct profile *p = in->prof;
	const struct profile_stack *st =
		stack_id < p->nstacks ? &p->stacks[stack_id] : NULL;
	__u32 i;

	if (!st || !st->frames)
		return TRACE_NO_ID;
	for (i = 0; i < st->nframes; i++)
		if (st->frames[i] < p->nframes &&
		    !is_allocator(in, &p->frames[st->frames[i]]))
			return st->frames[i];
	return st->nframes ? st->frames[0] : TRACE_NO_ID;
}

static void analyze_site(struct mem_site_view *v, const double *req,
			 const double *secs, size_t nw)
{
	double *out = calloc(nw + 1, sizeof(double)), acc = 0, dt;
	const double *x = req[nw - 1] > 0 ? req : secs;
	const struct mem_site *m = &v->m;
	size_t i, from = MEM_WARMUP_WINDOWS < nw ? MEM_WARMUP_WINDOWS : 0;

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
	trend_fit(x, out, from, nw, &v->slope, &v->t);
	trend_fit(x, out, from + (nw - from) / 2, nw, &v->slope_late, &v->t_late);
	dt = secs[nw - 1] - secs[from];
	v->per_second = dt > 0 ? (out[nw - 1] - out[from]) / dt : 0;
	/* Still growing at the end, and about as fast: a cache that filled
	 * early has a late slope near zero (its noise can look significant
	 * over a few windows, its size cannot). */
	v->leak = nw >= from + MEM_MIN_JUDGED && v->slope > 0 && v->t > 5 &&
		  v->t_late > 3 && v->slope_late > 0.5 * v->slope &&
		  out[nw - 1] - out[from] > 65536;
	v->by_window = out;
}

static int by_outstanding(const void *a, const void *b)
{
	const struct mem_site_view *x = a, *y = b;

	return (x->outstanding < y->outstanding) - (x->outstanding > y->outstanding);
}

/*
 * Adds stack M's series into the site V.  A site is where the allocation
 * happens (the first frame past the allocator), not the whole stack: a
 * cache filled from one call path and refilled from another is one site,
 * whose bytes plateau, not two that drift apart.
 */
static int merge_into(struct mem_site_view *v, const struct mem_site *m)
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

void mem_sites_free(struct mem_site_view *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		free(v[i].m.alloc);
		free(v[i].m.freed);
		free(v[i].by_window);
	}
	free(v);
}

struct mem_site_view *mem_sites_build(const struct mem_sites_input *in,
				      bool *per_request, size_t *n)
{
	const struct profile *p = in->prof;
	const double *req = in->cum_requests, *secs = in->end_s;
	size_t nw = in->nwindows;
	struct mem_site_view *v;
	size_t i, j;
	__u32 frame;

	*n = 0;
	if (nw < 2)
		return NULL;
	v = calloc(p->nmem + 1, sizeof(*v));
	if (!v)
		return NULL;
	*per_request = req[nw - 1] > 0;
	for (i = 0; i < p->nmem; i++) {
		frame = site_frame(in, p->mem[i].stack_id);
		for (j = 0; j < *n; j++)
			if (v[j].frame == frame && frame != TRACE_NO_ID)
				break;
		if (j == *n) {
			v[j].frame = frame;
			v[j].m.stack_id = p->mem[i].stack_id;
			(*n)++;
		}
		if (merge_into(&v[j], &p->mem[i])) {
			mem_sites_free(v, *n);
			return NULL;
		}
	}
	for (i = 0; i < *n; i++)
		analyze_site(&v[i], req, secs, nw);
	if (*n)
		qsort(v, *n, sizeof(*v), by_outstanding);
	return v;
}
