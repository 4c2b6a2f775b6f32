// SPDX-License-Identifier: MIT
/*
 * Loads baseline and candidate runs into per-unit series and compares
 * them (compare.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/array.h"
#include "analyzer/compare.h"
#include "analyzer/hist.h"
#include "analyzer/window.h"
#include "log.h"

#define BOOT_REPS 1000
#define MAX_GROUPS CM_CPU_PER_REQUEST	/* at most one per stage metric */
#define MIN_ITEMS 5			/* request records for an item value */
/* An item value is the mean of the middle of the window's per-item times:
 * nearly as efficient as the mean on well-behaved data, unmoved by the
 * quarter of requests that a busy machine preempted mid-stage. */
#ifndef ITEM_TRIM
#define ITEM_TRIM 0.25
#endif

static const double quantile_of[] = {
	[CM_P50] = 0.5, [CM_P90] = 0.9, [CM_P99] = 0.99,
};

/* ---- interned strings ---- */

static const char *intern(struct cmp *c, const char *s)
{
	size_t i;

	for (i = 0; i < c->nstrings; i++)
		if (!strcmp(c->strings[i], s))
			return c->strings[i];
	if (array_grow((void **)&c->strings, &c->strings_cap, c->nstrings + 1,
		       sizeof(*c->strings)))
		return NULL;
	c->strings[c->nstrings] = strdup(s);
	if (!c->strings[c->nstrings])
		return NULL;
	return c->strings[c->nstrings++];
}

static __u32 string_index(const struct cmp *c, const char *interned)
{
	size_t i;

	for (i = 0; i < c->nstrings; i++)
		if (c->strings[i] == interned)
			return (__u32)i;
	return TRACE_NO_ID;
}

/* ---- series ---- */

/* Makes *V hold WANT run lengths, new ones 0. */
static int fit_runs(size_t **v, size_t *have, size_t want)
{
	size_t *nv;

	if (*v && *have >= want)
		return 0;
	nv = realloc(*v, (want ? want : 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	memset(nv + *have, 0, (want - *have) * sizeof(*nv));
	*v = nv;
	*have = want;
	return 0;
}

static struct cmp_entry *entry_get(struct cmp *c, const char *model,
				   const char *stage, enum cmp_metric m)
{
	struct cmp_entry *e;
	size_t i;

	for (i = 0; i < c->nentries; i++) {
		e = &c->entries[i];
		if (e->model == model && e->stage == stage && e->metric == m)
			return e;
	}
	if (array_grow((void **)&c->entries, &c->entries_cap, c->nentries + 1,
		       sizeof(*c->entries)))
		return NULL;
	e = &c->entries[c->nentries++];
	memset(e, 0, sizeof(*e));
	e->model = model;
	e->stage = stage;
	e->metric = m;
	return e;
}

const struct cmp_entry *cmp_find(const struct cmp *c, const char *model,
				 const char *stage, enum cmp_metric m)
{
	size_t i;

	for (i = 0; i < c->nentries; i++) {
		const struct cmp_entry *e = &c->entries[i];

		if (e->metric != m)
			continue;
		if ((!e->model) != (!model) || (e->model && strcmp(e->model, model)))
			continue;
		if ((!e->stage) != (!stage) || (e->stage && strcmp(e->stage, stage)))
			continue;
		return e;
	}
	return NULL;
}

/* Appends V to run RUN (the side's latest, of NRUNS) of the series. */
static int series_add(struct cmp_series *s, size_t run, size_t nruns, double v,
		      __u64 t0, __u64 t1)
{
	size_t tcap = s->tcap;

	if (fit_runs(&s->run_len, &s->nruns, nruns) ||
	    array_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v)) ||
	    array_grow((void **)&s->t0, &tcap, s->n + 1, sizeof(*s->t0)) ||
	    array_grow((void **)&s->t1, &s->tcap, s->n + 1, sizeof(*s->t1)))
		return -ENOMEM;
	s->v[s->n] = v;
	s->t0[s->n] = t0;
	s->t1[s->n++] = t1;
	s->run_len[run]++;
	return 0;
}

/* ---- loading one run ---- */

struct acc {
	struct hist *h;
	__u64 t0, t1;			/* span of its windows */
	__u64 count;
	double sum;
	double *items;
	size_t nitems, cap;
	__u64 cpu_ns;
	/* exact on-CPU time: stage time and batch items of the request
	 * records, less the off-CPU time spent in the stage */
	double dur_ns, batch_items, off_ns;
};

struct fncount {
	__u32 fn;
	__u64 count;
};

/* One model/stage while a run is read. */
struct ms {
	const char *model, *stage;
	struct acc acc[MAX_GROUPS];
	struct acc win;			/* the held-back window */
	bool win_present;
	struct fncount *fns, *win_fns;
	size_t nfns, fns_cap, nwin_fns, win_fns_cap;
	__u64 fn_total, win_fn_total;
};

struct loader {
	struct cmp *c;
	int side;
	size_t run;			/* index in the side */
	struct window_stream *ws;
	struct ms *ms;
	size_t nms, ms_cap;
	/* per name id of this file: interned string, or NULL */
	const char **names;
	size_t nnames;
	/* per stack id: interned function of the leaf user frame */
	const char **stack_fn;
	size_t nstack_fn;
	int groups[MAX_GROUPS];		/* min requests of each group */
	int metric_group[CM_N];
	size_t ngroups;
	/* the held-back window */
	bool pending;
	__u64 p_start, p_end, p_requests;
	bool p_have_tc, p_have_rss;
	double p_tc, p_rss;
	__u64 first_req_start;
	bool seen_requests;
	/* the last stable window's RSS, for its growth */
	bool prev_rss_ok;
	double prev_rss;
	__u64 prev_end;
};

static const char *name_of(struct loader *l, __u32 id)
{
	const char *s;

	if (id == TRACE_NO_ID)
		return NULL;
	if (id >= l->nnames) {
		size_t n = id + 64;
		const char **v = realloc(l->names, n * sizeof(*v));

		if (!v)
			return NULL;
		memset(v + l->nnames, 0, (n - l->nnames) * sizeof(*v));
		l->names = v;
		l->nnames = n;
	}
	if (!l->names[id]) {
		s = window_stream_name(l->ws, id);
		/* "?" is a name the file lost: never cache it */
		if (!strcmp(s, "?"))
			return s;
		l->names[id] = intern(l->c, s);
	}
	return l->names[id];
}

static struct ms *ms_get(struct loader *l, const char *model, const char *stage)
{
	struct ms *m;
	size_t i;

	for (i = 0; i < l->nms; i++)
		if (l->ms[i].model == model && l->ms[i].stage == stage)
			return &l->ms[i];
	if (array_grow((void **)&l->ms, &l->ms_cap, l->nms + 1, sizeof(*l->ms)))
		return NULL;
	m = &l->ms[l->nms];
	memset(m, 0, sizeof(*m));
	m->model = model;
	m->stage = stage;
	for (i = 0; i < l->ngroups; i++) {
		m->acc[i].h = malloc(sizeof(struct hist));
		if (!m->acc[i].h)
			goto nomem;
		hist_init(m->acc[i].h);
	}
	m->win.h = malloc(sizeof(struct hist));
	if (!m->win.h)
		goto nomem;
	hist_init(m->win.h);
	l->nms++;
	return m;
nomem:
	for (i = 0; i < l->ngroups; i++)
		free(m->acc[i].h);
	return NULL;
}

static void acc_release(struct acc *a)
{
	free(a->h);
	free(a->items);
}

static void ms_release(struct ms *m, size_t ngroups)
{
	size_t i;

	for (i = 0; i < ngroups; i++)
		acc_release(&m->acc[i]);
	acc_release(&m->win);
	free(m->fns);
	free(m->win_fns);
}

static int acc_add_item(struct acc *a, double v)
{
	if (array_grow((void **)&a->items, &a->cap, a->nitems + 1, sizeof(*a->items)))
		return -ENOMEM;
	a->items[a->nitems++] = v;
	return 0;
}

static void acc_reset(struct acc *a)
{
	hist_init(a->h);
	a->count = 0;
	a->sum = 0;
	a->nitems = 0;
	a->cpu_ns = 0;
	a->dur_ns = 0;
	a->batch_items = 0;
	a->off_ns = 0;
}

static int fn_add(struct fncount **v, size_t *n, size_t *cap, __u32 fn,
		  __u64 count)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if ((*v)[i].fn == fn) {
			(*v)[i].count += count;
			return 0;
		}
	}
	if (array_grow((void **)v, cap, *n + 1, sizeof(**v)))
		return -ENOMEM;
	(*v)[*n].fn = fn;
	(*v)[*n].count = count;
	++*n;
	return 0;
}

/* The function a CPU sample is charged to: its leaf user frame (kernel
 * time goes to the user function that entered the kernel), else its leaf. */
static const char *stack_function(struct loader *l, __u32 stack_id)
{
	const struct profile *p = window_stream_dict(l->ws);
	const struct profile_stack *st;
	const char *fn = NULL;
	__u32 i, fid = TRACE_NO_ID;

	if (stack_id < l->nstack_fn && l->stack_fn[stack_id])
		return l->stack_fn[stack_id];
	if (stack_id >= p->nstacks || !p->stacks[stack_id].frames)
		return intern(l->c, "[unknown]");
	st = &p->stacks[stack_id];
	for (i = 0; i < st->nframes; i++) {
		__u32 f = st->frames[i];

		if (f >= p->nframes)
			continue;
		if (fid == TRACE_NO_ID)
			fid = f;
		if (!(p->frames[f].flags & TRACE_FRAME_KERNEL)) {
			fid = f;
			break;
		}
	}
	if (fid != TRACE_NO_ID && p->frames[fid].function_id != TRACE_NO_ID)
		fn = name_of(l, p->frames[fid].function_id);
	if (!fn || !strcmp(fn, "?"))
		fn = intern(l->c, "[unknown]");
	if (stack_id >= l->nstack_fn) {
		size_t n = stack_id + 256;
		const char **v = realloc(l->stack_fn, n * sizeof(*v));

		if (!v)
			return fn;
		memset(v + l->nstack_fn, 0, (n - l->nstack_fn) * sizeof(*v));
		l->stack_fn = v;
		l->nstack_fn = n;
	}
	l->stack_fn[stack_id] = fn;
	return fn;
}

static bool run_has_cpu(struct loader *l)
{
	const char *hz = window_stream_config(l->ws, "@cpu.hz");

	return hz && atof(hz) > 0;
}

/* Off-CPU time is recorded exactly (every switch), not sampled. */
static bool run_has_offcpu(struct loader *l)
{
	const char *on = window_stream_config(l->ws, "@offcpu");

	return on && !strcmp(on, "1");
}

static int add_value(struct loader *l, const char *model, const char *stage,
		     enum cmp_metric m, double v, __u64 t0, __u64 t1)
{
	struct cmp_entry *e = entry_get(l->c, model, stage, m);

	if (!e)
		return -ENOMEM;
	return series_add(&e->side[l->side], l->run, l->c->nruns[l->side], v, t0, t1);
}

static struct cmp_profile *profile_get(struct cmp *c, const char *model,
				       const char *stage)
{
	struct cmp_profile *p;
	size_t i;

	for (i = 0; i < c->nprofiles; i++)
		if (c->profiles[i].model == model && c->profiles[i].stage == stage)
			return &c->profiles[i];
	if (array_grow((void **)&c->profiles, &c->profiles_cap, c->nprofiles + 1,
		       sizeof(*c->profiles)))
		return NULL;
	p = &c->profiles[c->nprofiles++];
	memset(p, 0, sizeof(*p));
	p->model = model;
	p->stage = stage;
	return p;
}

/* Closes the CPU-profile unit of M: shares of functions. */
static int close_fn_unit(struct loader *l, struct ms *m)
{
	struct cmp *c = l->c;
	struct cmp_profile *p;
	struct cmp_fn_unit *u;
	size_t i, nruns = c->nruns[l->side];
	int s = l->side;

	if (!m->fn_total)
		return 0;
	p = profile_get(c, m->model, m->stage);
	if (!p)
		return -ENOMEM;
	if (fit_runs(&p->run_len[s], &p->nrun_len[s], nruns))
		return -ENOMEM;
	if (array_grow((void **)&p->units[s], &p->cap[s], p->nunits[s] + 1,
		       sizeof(*p->units[s])) ||
	    array_grow((void **)&c->fn_counts[s], &c->fn_counts_cap[s],
		       c->nfn_counts[s] + m->nfns, sizeof(*c->fn_counts[s])))
		return -ENOMEM;
	u = &p->units[s][p->nunits[s]++];
	u->total = m->fn_total;
	u->first = c->nfn_counts[s];
	u->n = m->nfns;
	for (i = 0; i < m->nfns; i++) {
		c->fn_counts[s][c->nfn_counts[s]].fn = m->fns[i].fn;
		c->fn_counts[s][c->nfn_counts[s]++].count = m->fns[i].count;
	}
	p->run_len[s][l->run]++;
	m->nfns = 0;
	m->fn_total = 0;
	return 0;
}

/* Unit of group G of M is whole: its metrics' values go to the series. */
static int close_unit(struct loader *l, struct ms *m, size_t g, bool has_cpu,
		      bool has_offcpu)
{
	struct acc *a = &m->acc[g];
	int mt, err = 0;

	for (mt = 0; mt < CM_CPU_PER_REQUEST && !err; mt++) {
		if (l->metric_group[mt] != (int)g)
			continue;
		switch (mt) {
		case CM_P50:
		case CM_P90:
		case CM_P99:
			err = add_value(l, m->model, m->stage, mt,
					(double)hist_quantile(a->h, quantile_of[mt]),
					a->t0, a->t1);
			break;
		case CM_MEAN:
			err = add_value(l, m->model, m->stage, mt, a->sum / a->count,
					a->t0, a->t1);
			break;
		case CM_ITEM:
			if (a->nitems >= MIN_ITEMS)
				err = add_value(l, m->model, m->stage, mt,
						stats_quantile(a->items, a->nitems,
							       ITEM_TRIM),
						a->t0, a->t1);
			break;
		case CM_CPU:
			if (has_cpu)
				err = add_value(l, m->model, m->stage, mt,
						(double)a->cpu_ns / a->count,
						a->t0, a->t1);
			if (!err && has_cpu)
				err = close_fn_unit(l, m);
			break;
		case CM_ONCPU:
			if (has_offcpu && a->batch_items > 0 &&
			    a->dur_ns > a->off_ns) {
				err = add_value(l, m->model, m->stage, mt,
						(a->dur_ns - a->off_ns) / a->batch_items,
						a->t0, a->t1);
			}
			break;
		}
	}
	acc_reset(a);
	return err;
}

/* Folds the held-back window into the units (it is stable). */
static int commit_window(struct loader *l)
{
	struct cmp_run *run = &l->c->runs[l->side][l->run];
	bool has_cpu = run_has_cpu(l), has_offcpu = run_has_offcpu(l);
	size_t i, g, k;
	int err = 0;

	run->stable++;
	run->stable_s += (l->p_end - l->p_start) / 1e9;
	run->requests += l->p_requests;
	if (l->p_have_tc && l->p_requests)
		err = add_value(l, NULL, NULL, CM_CPU_PER_REQUEST,
				l->p_tc / l->p_requests, l->p_start, l->p_end);
	if (!err && l->p_have_rss)
		err = add_value(l, NULL, NULL, CM_RSS, l->p_rss, l->p_start, l->p_end);
	/* growth from the previous stable window, per second */
	if (!err && l->p_have_rss && l->prev_rss_ok && l->p_end > l->prev_end)
		err = add_value(l, NULL, NULL, CM_RSS_GROWTH,
				(l->p_rss - l->prev_rss) * 1e9 / (l->p_end - l->prev_end),
				l->p_start, l->p_end);
	l->prev_rss_ok = l->p_have_rss;
	l->prev_rss = l->p_rss;
	l->prev_end = l->p_end;
	for (i = 0; i < l->nms && !err; i++) {
		struct ms *m = &l->ms[i];

		if (!m->win_present)
			continue;
		for (k = 0; k < m->nwin_fns && !err; k++)
			err = fn_add(&m->fns, &m->nfns, &m->fns_cap, m->win_fns[k].fn,
				     m->win_fns[k].count);
		m->fn_total += m->win_fn_total;
		for (g = 0; g < l->ngroups && !err; g++) {
			struct acc *a = &m->acc[g];

			if (!a->count)
				a->t0 = l->p_start;
			a->t1 = l->p_end;
			hist_merge(a->h, m->win.h);
			a->count += m->win.count;
			a->sum += m->win.sum;
			a->cpu_ns += m->win.cpu_ns;
			a->dur_ns += m->win.dur_ns;
			a->batch_items += m->win.batch_items;
			a->off_ns += m->win.off_ns;
			for (k = 0; k < m->win.nitems && !err; k++)
				err = acc_add_item(a, m->win.items[k]);
			if (!err && a->count >= (__u64)l->groups[g])
				err = close_unit(l, m, g, has_cpu, has_offcpu);
		}
	}
	return err;
}

/* The model/stage of sample S: *OUT, or NULL when it names none known. */
static int sample_ms(struct loader *l, const struct trace_sample *s,
		     struct ms **out)
{
	const char *model, *stage;

	*out = NULL;
	if (s->model_id == TRACE_NO_ID || s->stage_id == TRACE_NO_ID)
		return 0;
	model = name_of(l, s->model_id);
	stage = name_of(l, s->stage_id);
	if (!model || !stage || !strcmp(model, "?") || !strcmp(stage, "?"))
		return 0;
	*out = ms_get(l, model, stage);
	return *out ? 0 : -ENOMEM;
}

/* Holds window W back (its data copied) until the next one arrives. */
static int hold_window(struct loader *l, const struct window *w)
{
	const struct trace_counters *ct = &w->counters;
	const char *req;
	size_t i, j;
	int err = 0;

	for (i = 0; i < l->nms; i++) {
		struct ms *m = &l->ms[i];

		hist_init(m->win.h);
		m->win.count = 0;
		m->win.sum = 0;
		m->win.nitems = 0;
		m->win.cpu_ns = 0;
		m->win.dur_ns = 0;
		m->win.batch_items = 0;
		m->win.off_ns = 0;
		m->win_present = false;
		m->nwin_fns = 0;
		m->win_fn_total = 0;
	}
	l->pending = true;
	l->p_start = w->start_ns;
	l->p_end = w->end_ns;
	l->p_requests = w->requests;
	if (w->requests && !l->seen_requests) {
		l->seen_requests = true;
		l->first_req_start = w->start_ns;
	}
	l->p_have_tc = w->have_counters &&
		       (ct->present & (1u << TRACE_CTR_TASK_CLOCK_NS));
	l->p_tc = ct->v[TRACE_CTR_TASK_CLOCK_NS];
	l->p_have_rss = w->have_counters &&
			(ct->present & (1u << TRACE_CTR_RSS_ANON));
	l->p_rss = (double)ct->v[TRACE_CTR_RSS_ANON] + ct->v[TRACE_CTR_RSS_FILE] +
		   ct->v[TRACE_CTR_RSS_SHMEM];

	for (i = 0; i < w->nstages; i++) {
		const struct wstage *s = &w->stages[i];
		const char *model = name_of(l, s->model_id);
		const char *stage = name_of(l, s->stage_id);
		struct ms *m;

		if (!model || !stage || !s->count || !strcmp(model, "?") ||
		    !strcmp(stage, "?"))
			continue;
		m = ms_get(l, model, stage);
		if (!m)
			return -ENOMEM;
		hist_merge(m->win.h, s->h);
		m->win.count += s->count;
		m->win.sum += s->mean_ns * s->count;
		m->win_present = true;
	}
	/* time per batch item, from the request records */
	req = intern(l->c, "request");
	if (!req)
		return -ENOMEM;
	for (i = 0; i < w->nreqs && !err; i++) {
		const struct trace_request *q = &w->reqs[i];
		const char *model = name_of(l, q->model_id);
		struct ms *m;

		if (q->status || !q->batch || !model || !strcmp(model, "?"))
			continue;
		m = ms_get(l, model, req);
		if (!m)
			return -ENOMEM;
		err = acc_add_item(&m->win, (double)(q->end_ns - q->begin_ns) / q->batch);
		for (j = 0; j < q->nstages && !err; j++) {
			const char *stage = name_of(l, q->stages[j].name_id);

			if (!stage || !strcmp(stage, "?"))
				continue;
			m = ms_get(l, model, stage);
			if (!m)
				return -ENOMEM;
			err = acc_add_item(&m->win, (double)q->stages[j].dur_ns / q->batch);
			m->win.dur_ns += (double)q->stages[j].dur_ns;
			m->win.batch_items += q->batch;
		}
	}
	/*
	 * Samples per model/stage: on-CPU ones (and their functions), and
	 * off-CPU time, for "oncpu": a stage's time on the CPU is its time
	 * less what it spent switched out -- blocked or waiting for a core
	 * -- which is what a busy machine adds.  A thread that is switched
	 * out resumes in the stage it left, so every off-CPU interval lies
	 * inside one stage, charged to the innermost.  Not for the whole
	 * request: its begin may be an arrival time before any thread took
	 * it up (LOUPE_REQUEST_BEGIN_AT), time no thread was in.
	 */
	for (i = 0; i < w->nsamples && !err; i++) {
		const struct trace_sample *s = &w->samples[i];
		const char *fn;
		struct ms *m;

		if (s->kind != TRACE_SAMPLE_CPU &&
		    s->kind != TRACE_SAMPLE_OFFCPU_BLOCKED &&
		    s->kind != TRACE_SAMPLE_OFFCPU_RUNQ)
			continue;
		err = sample_ms(l, s, &m);
		if (err || !m)
			continue;
		if (s->kind != TRACE_SAMPLE_CPU) {
			m->win.off_ns += s->value_ns;
			continue;
		}
		fn = stack_function(l, s->stack_id);
		if (!fn)
			return -ENOMEM;
		m->win.cpu_ns += s->value_ns;
		m->win_fn_total += s->count;
		err = fn_add(&m->win_fns, &m->nwin_fns, &m->win_fns_cap,
			     string_index(l->c, fn), s->count);
	}
	return err;
}

static bool pending_stable(const struct loader *l)
{
	const struct policy *pol = l->c->pol;

	return l->p_requests && l->seen_requests &&
	       l->p_start >= l->first_req_start + (__u64)(pol->warmup_s * 1e9);
}

static char *basename_of_cmd(const char *cmdline)
{
	size_t len = strcspn(cmdline, " ");
	const char *s = cmdline, *slash;

	for (slash = cmdline; slash < cmdline + len; slash++)
		if (*slash == '/')
			s = slash + 1;
	return strndup(s, cmdline + len - s);
}

static const char *open_error(int e)
{
	return e == EPROTO ? "not a loupe trace file" :
	       e == EPROTONOSUPPORT ? "unsupported trace format version" :
				       strerror(e);
}

static int load_run(struct cmp *c, int side, const char *path, char *err,
		    size_t errlen)
{
	struct loader l = { .c = c, .side = side };
	struct cmp_run *run;
	struct analyzer *an = NULL;
	const struct window *w;
	const struct trace_meta *meta;
	struct trace_reader_stats rs;
	const struct finding *fv;
	char aerr[256];
	size_t i, nf;
	int rc, g, m;

	/* groups: one per distinct minimum of requests per unit */
	for (m = 0; m < CM_CPU_PER_REQUEST; m++) {
		for (g = 0; g < (int)l.ngroups; g++)
			if (l.groups[g] == (int)c->pol->min_requests[m])
				break;
		if (g == (int)l.ngroups)
			l.groups[l.ngroups++] = (int)c->pol->min_requests[m];
		l.metric_group[m] = g;
	}
	if (array_grow((void **)&c->runs[side], &c->runs_cap[side],
		       c->nruns[side] + 1, sizeof(*c->runs[side])))
		return -ENOMEM;
	l.run = c->nruns[side]++;
	run = &c->runs[side][l.run];
	memset(run, 0, sizeof(*run));
	run->stratum = -1;
	run->path = strdup(path);
	if (!run->path)
		return -ENOMEM;

	l.ws = window_stream_open(path);
	if (!l.ws) {
		rc = -errno;
		snprintf(err, errlen, "open %s: %s", path, open_error(errno));
		return rc;
	}
	an = analyzer_new(NULL, aerr, sizeof(aerr));
	if (!an)
		pr_debug("no findings for %s: %s", path, aerr);
	while ((rc = window_stream_next(l.ws, &w)) == 1) {
		if (!run->windows)
			run->start_ns = w->start_ns;
		run->end_ns = w->end_ns;
		run->windows++;
		if (an && analyzer_feed(an, l.ws, w)) {
			rc = -ENOMEM;
			break;
		}
		if (l.pending && pending_stable(&l)) {
			rc = commit_window(&l);
			if (rc)
				break;
		}
		rc = hold_window(&l, w);
		if (rc)
			break;
	}
	if (rc < 0) {
		snprintf(err, errlen, "read %s: %s", path, strerror(-rc));
		goto cleanup;
	}
	rc = 0;
	meta = window_stream_meta(l.ws);
	if (meta) {
		run->cmdline = strdup(meta->cmdline ? meta->cmdline : "");
		run->hostname = strdup(meta->hostname ? meta->hostname : "");
		run->program = basename_of_cmd(meta->cmdline ? meta->cmdline : "");
		if (!run->cmdline || !run->hostname || !run->program) {
			rc = -ENOMEM;
			goto cleanup;
		}
	}
	window_stream_stats(l.ws, &rs);
	run->damaged = !rs.saw_end || rs.chunks_bad || rs.trailing_bytes;
	if (!meta && !run->windows) {
		rc = -EPROTO;
		snprintf(err, errlen, "open %s: no recording in the file", path);
		goto cleanup;
	}
	if (an) {
		nf = analyzer_findings(an, &fv);
		run->findings = calloc(nf ? nf : 1, sizeof(*run->findings));
		if (!run->findings) {
			rc = -ENOMEM;
			goto cleanup;
		}
		if (nf)
			memcpy(run->findings, fv, nf * sizeof(*fv));
		run->nfindings = nf;
		run->findings_ok = true;
	}
cleanup:
	for (i = 0; i < l.nms; i++)
		ms_release(&l.ms[i], l.ngroups);
	free(l.ms);
	free(l.names);
	free(l.stack_fn);
	analyzer_free(an);
	window_stream_close(l.ws);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "read %s: %s", path, strerror(ENOMEM));
	return rc;
}

void cmp_init(struct cmp *c, const struct policy *pol)
{
	memset(c, 0, sizeof(*c));
	c->pol = pol;
}

int cmp_load(struct cmp *c, int side, char *const *paths, size_t npaths,
	     char *err, size_t errlen)
{
	size_t i;
	int rc;

	for (i = 0; i < npaths; i++) {
		rc = load_run(c, side, paths[i], err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

void cmp_release(struct cmp *c)
{
	size_t i, s;

	for (s = 0; s < 2; s++) {
		for (i = 0; i < c->nruns[s]; i++) {
			struct cmp_run *r = &c->runs[s][i];

			free(r->path);
			free(r->cmdline);
			free(r->program);
			free(r->hostname);
			free(r->findings);
		}
		free(c->runs[s]);
		free(c->fn_counts[s]);
	}
	for (i = 0; i < c->nentries; i++) {
		for (s = 0; s < 2; s++) {
			free(c->entries[i].side[s].v);
			free(c->entries[i].side[s].t0);
			free(c->entries[i].side[s].t1);
			free(c->entries[i].side[s].run_len);
		}
	}
	free(c->entries);
	for (i = 0; i < c->nprofiles; i++) {
		for (s = 0; s < 2; s++) {
			free(c->profiles[i].units[s]);
			free(c->profiles[i].run_len[s]);
		}
	}
	free(c->profiles);
	for (i = 0; i < c->nstrings; i++)
		free(c->strings[i]);
	free(c->strings);
	for (i = 0; i < c->nstrata; i++) {
		free(c->strata[i].runs[0]);
		free(c->strata[i].runs[1]);
	}
	free(c->strata);
	memset(c, 0, sizeof(*c));
}

size_t cmp_side_windows(const struct cmp *c, int side)
{
	size_t i, n = 0;

	for (i = 0; i < c->nruns[side]; i++)
		n += c->runs[side][i].stable;
	return n;
}

/* ---- preparing: same workload, strata ---- */

static double overlap_ns(const struct cmp_run *a, const struct cmp_run *b)
{
	__u64 lo = a->start_ns > b->start_ns ? a->start_ns : b->start_ns;
	__u64 hi = a->end_ns < b->end_ns ? a->end_ns : b->end_ns;

	if (!a->hostname || !b->hostname || strcmp(a->hostname, b->hostname))
		return 0;
	return hi > lo ? (double)(hi - lo) : 0;
}

static int stratum_add(struct cmp_stratum *st, int side, size_t run)
{
	size_t *v = realloc(st->runs[side], (st->nruns[side] + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	v[st->nruns[side]++] = run;
	st->runs[side] = v;
	return 0;
}

static int form_strata(struct cmp *c)
{
	size_t na = c->nruns[CMP_A], nb = c->nruns[CMP_B], i, j;
	bool paired = na && nb;
	int *best = calloc(nb ? nb : 1, sizeof(*best));

	if (!best)
		return -ENOMEM;
	/* each B run goes with the A run it overlaps most, if at least half
	 * of the shorter of the two */
	for (j = 0; j < nb && paired; j++) {
		const struct cmp_run *b = &c->runs[CMP_B][j];
		double most = 0;

		best[j] = -1;
		for (i = 0; i < na; i++) {
			const struct cmp_run *a = &c->runs[CMP_A][i];
			double o = overlap_ns(a, b);
			__u64 da = a->end_ns - a->start_ns, db = b->end_ns - b->start_ns;

			if (o > most && o >= 0.5 * (da < db ? da : db)) {
				most = o;
				best[j] = (int)i;
			}
		}
		if (best[j] < 0)
			paired = false;
	}
	for (i = 0; i < na && paired; i++) {
		for (j = 0; j < nb; j++)
			if (best[j] == (int)i)
				break;
		if (j == nb)
			paired = false;
	}
	c->paired = paired;
	c->nstrata = paired ? na : 1;
	c->strata = calloc(c->nstrata, sizeof(*c->strata));
	if (!c->strata) {
		free(best);
		return -ENOMEM;
	}
	for (i = 0; i < na; i++) {
		c->runs[CMP_A][i].stratum = paired ? (int)i : 0;
		if (stratum_add(&c->strata[paired ? i : 0], CMP_A, i))
			goto nomem;
	}
	for (j = 0; j < nb; j++) {
		c->runs[CMP_B][j].stratum = paired ? best[j] : 0;
		if (stratum_add(&c->strata[paired ? (size_t)best[j] : 0], CMP_B, j))
			goto nomem;
	}
	free(best);
	return 0;
nomem:
	free(best);
	return -ENOMEM;
}

int cmp_prepare(struct cmp *c, char *err, size_t errlen)
{
	const char *prog = NULL, *prog_path = NULL;
	size_t i, s, common = 0;
	int rc;

	for (s = 0; s < 2; s++) {
		for (i = 0; i < c->nruns[s]; i++) {
			const struct cmp_run *r = &c->runs[s][i];

			if (!r->program || !*r->program)
				continue;
			if (!prog) {
				prog = r->program;
				prog_path = r->path;
			} else if (strcmp(prog, r->program)) {
				snprintf(err, errlen,
					 "workloads differ: %s runs '%s', %s runs '%s'",
					 prog_path, prog, r->path, r->program);
				return -EINVAL;
			}
		}
	}
	/* every series gets a run length per run of its side */
	for (i = 0; i < c->nentries; i++) {
		for (s = 0; s < 2; s++) {
			struct cmp_series *se = &c->entries[i].side[s];

			if (fit_runs(&se->run_len, &se->nruns, c->nruns[s]))
				return -ENOMEM;
		}
		if (c->entries[i].side[CMP_A].n && c->entries[i].side[CMP_B].n)
			common++;
	}
	for (i = 0; i < c->nprofiles; i++)
		for (s = 0; s < 2; s++)
			if (fit_runs(&c->profiles[i].run_len[s],
				     &c->profiles[i].nrun_len[s], c->nruns[s]))
				return -ENOMEM;
	if (!common) {
		snprintf(err, errlen,
			 "workloads differ: no model, stage or process metric with "
			 "data on both sides");
		return -EINVAL;
	}
	/* no model in common while both sides have models: different services */
	{
		bool models[2] = { false, false }, both = false;
		size_t j;

		for (i = 0; i < c->nentries; i++) {
			const struct cmp_entry *e = &c->entries[i];

			if (!e->model)
				continue;
			for (s = 0; s < 2; s++)
				if (e->side[s].n)
					models[s] = true;
			if (e->side[0].n && e->side[1].n)
				both = true;
		}
		if (models[0] && models[1] && !both) {
			const char *ma = NULL, *mb = NULL;

			for (j = 0; j < c->nentries; j++) {
				const struct cmp_entry *e = &c->entries[j];

				if (e->model && e->side[0].n && !ma)
					ma = e->model;
				if (e->model && e->side[1].n && !mb)
					mb = e->model;
			}
			snprintf(err, errlen,
				 "workloads differ: no model in common (baseline serves '%s', candidate '%s')",
				 ma, mb);
			return -EINVAL;
		}
	}
	rc = form_strata(c);
	if (rc)
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}

/* ---- comparing ---- */

static __u64 seed_of(const struct cmp_entry *e)
{
	const char *parts[3] = { e->model ? e->model : "", e->stage ? e->stage : "",
				 cmp_metric_name(e->metric) };
	__u64 h = 1469598103934665603ULL;
	size_t i;
	const char *p;

	for (i = 0; i < 3; i++) {
		for (p = parts[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ '/') * 1099511628211ULL;
	}
	return h;
}

/* Gathers the values of SE for the runs of each stratum into contiguous
 * arrays (V, LENS, owned by the caller) and fills ST. */
static int build_strata(const struct cmp *c, const double *const vals[2],
			const size_t *const run_len[2], struct stats_stratum *st,
			double **v, size_t **lens)
{
	size_t s, i, k, total = 0, nrl = 0;
	size_t *off[2] = { NULL, NULL };
	double *pv;
	size_t *pl;

	for (s = 0; s < 2; s++) {
		off[s] = calloc(c->nruns[s] + 1, sizeof(*off[s]));
		if (!off[s])
			goto nomem;
		for (i = 0; i < c->nruns[s]; i++)
			off[s][i + 1] = off[s][i] + run_len[s][i];
		total += off[s][c->nruns[s]];
		nrl += c->nruns[s];
	}
	*v = malloc((total ? total : 1) * sizeof(**v));
	*lens = malloc((nrl ? nrl : 1) * sizeof(**lens));
	if (!*v || !*lens)
		goto nomem;
	pv = *v;
	pl = *lens;
	for (k = 0; k < c->nstrata; k++) {
		for (s = 0; s < 2; s++) {
			struct stats_side *sd = s ? &st[k].b : &st[k].a;

			sd->v = pv;
			sd->run_len = pl;
			sd->nruns = c->strata[k].nruns[s];
			for (i = 0; i < c->strata[k].nruns[s]; i++) {
				size_t r = c->strata[k].runs[s][i];

				if (run_len[s][r])
					memcpy(pv, vals[s] + off[s][r],
					       run_len[s][r] * sizeof(*pv));
				pv += run_len[s][r];
				*pl++ = run_len[s][r];
			}
		}
	}
	free(off[0]);
	free(off[1]);
	return 0;
nomem:
	free(off[0]);
	free(off[1]);
	return -ENOMEM;
}

static double span_overlap(__u64 a0, __u64 a1, __u64 b0, __u64 b1)
{
	__u64 lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;

	return hi > lo ? (double)(hi - lo) : 0;
}

/*
 * Side by side: in every stratum, each candidate unit is matched with the
 * baseline unit it overlaps most in time (at least half of the shorter),
 * each baseline unit used once.  The pairs go to stats_compare_paired().
 */
static int compare_paired(const struct cmp *c, const struct cmp_entry *e,
			  struct cmp_result *r)
{
	const struct cmp_series *sa = &e->side[CMP_A], *sb = &e->side[CMP_B];
	size_t *off[2] = { NULL, NULL }, k, i, j, q, p, s, np = 0;
	struct stats_stratum *st = calloc(c->nstrata, sizeof(*st));
	size_t *lens = calloc(c->nstrata, sizeof(*lens));
	double *va = malloc((sb->n ? sb->n : 1) * sizeof(*va));
	double *vb = malloc((sb->n ? sb->n : 1) * sizeof(*vb));
	bool *used = calloc(sa->n ? sa->n : 1, 1);
	int rc = -ENOMEM;

	for (s = 0; s < 2; s++) {
		const struct cmp_series *se = &e->side[s];

		off[s] = calloc(c->nruns[s] + 1, sizeof(*off[s]));
		if (!off[s])
			goto cleanup;
		for (i = 0; i < c->nruns[s]; i++)
			off[s][i + 1] = off[s][i] + se->run_len[i];
	}
	if (!st || !lens || !va || !vb || !used)
		goto cleanup;
	for (k = 0; k < c->nstrata; k++) {
		const struct cmp_stratum *sk = &c->strata[k];
		size_t first = np;

		for (j = 0; j < sk->nruns[CMP_B]; j++) {
			size_t rb = sk->runs[CMP_B][j];

			for (q = off[1][rb]; q < off[1][rb + 1]; q++) {
				double best = 0;
				size_t bi = (size_t)-1;

				for (i = 0; i < sk->nruns[CMP_A]; i++) {
					size_t ra = sk->runs[CMP_A][i];

					for (p = off[0][ra]; p < off[0][ra + 1]; p++) {
						double o = span_overlap(sa->t0[p], sa->t1[p],
									sb->t0[q], sb->t1[q]);
						__u64 la = sa->t1[p] - sa->t0[p];
						__u64 lb = sb->t1[q] - sb->t0[q];

						if (!used[p] && o > best &&
						    o >= 0.5 * (la < lb ? la : lb)) {
							best = o;
							bi = p;
						}
					}
				}
				if (bi == (size_t)-1)
					continue;
				used[bi] = true;
				va[np] = sa->v[bi];
				vb[np++] = sb->v[q];
			}
		}
		lens[k] = np - first;
		st[k].a = (struct stats_side){ va + first, &lens[k], 1 };
		st[k].b = (struct stats_side){ vb + first, &lens[k], 1 };
	}
	r->pairs = np;
	rc = 0;
	if (np >= 3) {
		rc = stats_compare_paired(st, c->nstrata, BOOT_REPS, c->pol->confidence,
					  seed_of(e), &r->st);
		if (!rc)
			r->tested = true;
		else if (rc == -EINVAL)
			rc = 0;
	}
cleanup:
	free(off[0]);
	free(off[1]);
	free(st);
	free(lens);
	free(va);
	free(vb);
	free(used);
	return rc;
}

int cmp_entry_compare(const struct cmp *c, const struct cmp_entry *e,
		      struct cmp_result *r)
{
	struct stats_stratum *st;
	const double *vals[2] = { e->side[0].v, e->side[1].v };
	const size_t *rl[2] = { e->side[0].run_len, e->side[1].run_len };
	double *v = NULL;
	size_t *lens = NULL, s;
	int rc;

	memset(r, 0, sizeof(*r));
	r->e = e;
	for (s = 0; s < 2; s++) {
		r->units[s] = e->side[s].n;
		r->median[s] = stats_median(e->side[s].v, e->side[s].n);
	}
	if (r->units[0] < 3 || r->units[1] < 3)
		return 0;
	if (c->paired)
		return compare_paired(c, e, r);
	st = calloc(c->nstrata, sizeof(*st));
	if (!st)
		return -ENOMEM;
	rc = build_strata(c, vals, rl, st, &v, &lens);
	if (!rc) {
		rc = stats_compare(st, c->nstrata, BOOT_REPS, c->pol->confidence,
				   seed_of(e), &r->st);
		if (rc == -EINVAL)	/* no stratum with both sides */
			rc = 0;
		else if (!rc)
			r->tested = true;
	}
	free(st);
	free(v);
	free(lens);
	return rc;
}

static int cmp_move_order(const void *pa, const void *pb)
{
	const struct cmp_move *a = pa, *b = pb;
	double x = fabs(a->delta), y = fabs(b->delta);

	if (x != y)
		return x > y ? -1 : 1;
	return strcmp(a->function, b->function);
}

/*
 * Two-proportion z test of function FN's share of the stage's samples,
 * baseline against candidate, pooled over units, its variance times the
 * quasi-binomial overdispersion of the units' counts around their side's
 * share (so units, and runs, that disagree widen it).  Two-sided p.
 */
static double share_test(const struct cmp *c, const struct cmp_profile *p,
			 __u32 fn, double share[2])
{
	double x[2] = { 0, 0 }, n[2] = { 0, 0 }, chi2 = 0, pooled, se, phi;
	size_t s, u, k, units = 0;

	for (s = 0; s < 2; s++) {
		for (u = 0; u < p->nunits[s]; u++) {
			const struct cmp_fn_unit *un = &p->units[s][u];

			for (k = 0; k < un->n; k++)
				if (c->fn_counts[s][un->first + k].fn == fn)
					x[s] += c->fn_counts[s][un->first + k].count;
			n[s] += un->total;
		}
		share[s] = n[s] ? x[s] / n[s] : 0;
	}
	for (s = 0; s < 2; s++) {
		double ps = share[s];

		if (ps <= 0 || ps >= 1)
			continue;
		for (u = 0; u < p->nunits[s]; u++) {
			const struct cmp_fn_unit *un = &p->units[s][u];
			double xu = 0;

			for (k = 0; k < un->n; k++)
				if (c->fn_counts[s][un->first + k].fn == fn)
					xu += c->fn_counts[s][un->first + k].count;
			chi2 += (xu - un->total * ps) * (xu - un->total * ps) /
				(un->total * ps * (1 - ps));
			units++;
		}
	}
	phi = units > 2 ? chi2 / (units - 2) : 1;
	if (phi < 1)
		phi = 1;
	pooled = (x[0] + x[1]) / (n[0] + n[1]);
	if (!n[0] || !n[1] || pooled <= 0 || pooled >= 1)
		return 1;
	se = sqrt(pooled * (1 - pooled) * (1 / n[0] + 1 / n[1]) * phi);
	return fmin(1, 2 * stats_norm_sf(fabs(share[1] - share[0]) / se));
}

int cmp_moves(const struct cmp *c, const char *model, const char *stage,
	      double max_p, struct cmp_move *out, size_t max)
{
	const struct cmp_profile *p = NULL;
	struct cmp_move *all = NULL;
	size_t nall = 0, i, k, s, u, written;
	__u32 *fns = NULL;
	size_t nfns = 0, fcap = 0;
	int rc = -ENOMEM;

	for (i = 0; i < c->nprofiles; i++)
		if (!strcmp(c->profiles[i].model, model) &&
		    !strcmp(c->profiles[i].stage, stage))
			p = &c->profiles[i];
	if (!p || !p->nunits[0] || !p->nunits[1])
		return 0;
	/* every function seen on either side */
	for (s = 0; s < 2; s++) {
		for (u = 0; u < p->nunits[s]; u++) {
			const struct cmp_fn_unit *un = &p->units[s][u];

			for (k = 0; k < un->n; k++) {
				__u32 fn = c->fn_counts[s][un->first + k].fn;

				for (i = 0; i < nfns && fns[i] != fn; i++)
					;
				if (i < nfns)
					continue;
				if (array_grow((void **)&fns, &fcap, nfns + 1, sizeof(*fns)))
					goto cleanup;
				fns[nfns++] = fn;
			}
		}
	}
	all = calloc(nfns ? nfns : 1, sizeof(*all));
	if (!all)
		goto cleanup;
	for (i = 0; i < nfns; i++) {
		struct cmp_move *mv = &all[nall];

		mv->p = share_test(c, p, fns[i], mv->share);
		mv->function = c->strings[fns[i]];
		mv->delta = mv->share[1] - mv->share[0];
		if (mv->p <= max_p)
			nall++;
	}
	qsort(all, nall, sizeof(*all), cmp_move_order);
	written = nall < max ? nall : max;
	memcpy(out, all, written * sizeof(*all));
	rc = (int)written;
cleanup:
	free(fns);
	free(all);
	return rc;
}

static bool is_leak(enum finding_kind k)
{
	return k == FK_MEMORY_LEAK || k == FK_RSS_GROWTH;
}

static bool same_finding(const struct finding *a, const struct finding *b)
{
	return a->kind == b->kind && !strcmp(a->model, b->model) &&
	       !strcmp(a->stage, b->stage) &&
	       (!is_leak(a->kind) || !strcmp(a->function, b->function));
}

size_t cmp_new_findings(const struct cmp *c, const struct finding **out,
			size_t max, bool *unjudged)
{
	size_t n = 0, i, j, k, l;

	*unjudged = false;
	for (i = 0; i < 2; i++)
		for (j = 0; j < c->nruns[i]; j++)
			if (!c->runs[i][j].findings_ok)
				*unjudged = true;
	for (j = 0; j < c->nruns[CMP_B]; j++) {
		const struct cmp_run *rb = &c->runs[CMP_B][j];

		for (k = 0; k < rb->nfindings && n < max; k++) {
			const struct finding *f = &rb->findings[k];
			bool seen = false;

			if (f->transient)
				continue;
			for (i = 0; i < c->nruns[CMP_A] && !seen; i++)
				for (l = 0; l < c->runs[CMP_A][i].nfindings && !seen; l++)
					seen = same_finding(f, &c->runs[CMP_A][i].findings[l]);
			for (l = 0; l < n && !seen; l++)
				seen = same_finding(f, out[l]);
			if (!seen)
				out[n++] = f;
		}
	}
	return n;
}
