// SPDX-License-Identifier: MIT
/*
 * The TUI's memory of past windows: a ring of per-window snapshots (what
 * the sparklines and verify need), the CPU self time per leaf function of
 * the last few windows, and the outstanding heap per allocation site.  It
 * sums and copies what windows say; quantiles come from the windows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/array.h"
#include "tui/tui.h"

void model_init(struct tui_model *m)
{
	memset(m, 0, sizeof(*m));
}

void model_release(struct tui_model *m)
{
	size_t i;

	for (i = 0; i < MODEL_HISTORY; i++)
		free(m->ring[i].st);
	for (i = 0; i < MODEL_HOT_WINDOWS; i++)
		free(m->hot[i].v);
	free(m->models);
	free(m->sites);
	memset(m, 0, sizeof(*m));
}

const struct snap *model_snap(const struct tui_model *m, size_t back)
{
	if (back >= m->n)
		return NULL;
	return &m->ring[(m->head + MODEL_HISTORY - 1 - back) % MODEL_HISTORY];
}

const struct snap_stage *snap_stage(const struct snap *s, __u32 model,
				    __u32 stage)
{
	size_t i;

	for (i = 0; s && i < s->nst; i++)
		if (s->st[i].model_id == model && s->st[i].stage_id == stage)
			return &s->st[i];
	return NULL;
}

double snap_seconds(const struct snap *s)
{
	return s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1e9 : 1.0;
}

__u32 model_request_id(const struct tui_model *m)
{
	return m->ws ? window_stream_find_name(m->ws, "request") : TRACE_NO_ID;
}

static const struct trace_frame *frame(const struct tui_model *m, __u32 id)
{
	const struct profile *p = m->ws ? window_stream_dict(m->ws) : NULL;

	if (!p || id >= p->nframes || p->frames[id].function_id == TRACE_NO_ID)
		return NULL;
	return &p->frames[id];
}

const char *model_frame_name(const struct tui_model *m, __u32 frame_id)
{
	const struct trace_frame *f = frame(m, frame_id);

	return f ? window_stream_name(m->ws, f->function_id) : "[unknown]";
}

const char *model_frame_where(const struct tui_model *m, __u32 frame_id,
			      char *buf, size_t len)
{
	const struct trace_frame *f = frame(m, frame_id);
	const char *file, *slash;

	buf[0] = 0;
	if (!f)
		return buf;
	if (f->flags & TRACE_FRAME_KERNEL) {
		snprintf(buf, len, " [kernel]");
	} else if (f->file_id != TRACE_NO_ID) {
		file = window_stream_name(m->ws, f->file_id);
		slash = strrchr(file, '/');
		snprintf(buf, len, " %s:%u", slash ? slash + 1 : file, f->line);
	}
	return buf;
}

static struct snap_stage *stage_get(struct snap *s, size_t *cap, __u32 model,
				    __u32 stage)
{
	struct snap_stage *e = (struct snap_stage *)snap_stage(s, model, stage);

	if (e)
		return e;
	if (array_grow((void **)&s->st, cap, s->nst + 1, sizeof(*s->st)))
		return NULL;
	e = &s->st[s->nst++];
	memset(e, 0, sizeof(*e));
	e->model_id = model;
	e->stage_id = stage;
	return e;
}

static int add_model(struct tui_model *m, __u32 id)
{
	size_t i;

	if (id == TRACE_NO_ID)
		return 0;
	for (i = 0; i < m->nmodels; i++)
		if (m->models[i] == id)
			return 0;
	if (array_grow((void **)&m->models, &m->models_cap, m->nmodels + 1,
		       sizeof(*m->models)))
		return -ENOMEM;
	m->models[m->nmodels++] = id;
	return 0;
}

static const struct profile_stack *stack(const struct tui_model *m, __u32 id)
{
	const struct profile *p = window_stream_dict(m->ws);

	if (id >= p->nstacks || !p->stacks[id].frames || !p->stacks[id].nframes)
		return NULL;
	return &p->stacks[id];
}

static int add_hot(struct tui_model *m, size_t slot, __u32 model, __u32 stage,
		   __u32 frame_id, __u64 ns)
{
	struct hot_fn *v = m->hot[slot].v;
	size_t i, n = m->hot[slot].n;

	for (i = 0; i < n; i++) {
		if (v[i].frame_id == frame_id && v[i].model_id == model &&
		    v[i].stage_id == stage) {
			v[i].value_ns += ns;
			return 0;
		}
	}
	if (array_grow((void **)&m->hot[slot].v, &m->hot[slot].cap, n + 1,
		       sizeof(*v)))
		return -ENOMEM;
	m->hot[slot].v[n] = (struct hot_fn){ model, stage, frame_id, ns };
	m->hot[slot].n++;
	return 0;
}

/* The allocator's own frames (and loupe's shim): a site is past them, as
 * 'loupe report --mem' counts it. */
static bool is_allocator(const struct tui_model *m, __u32 frame_id)
{
	static const char *const names[] = {
		"malloc", "calloc", "realloc", "free", "posix_memalign",
		"aligned_alloc", "memalign", "valloc", "pvalloc", "reallocarray",
		"operator new",
	};
	const struct trace_frame *f = frame(m, frame_id);
	const char *fn, *mod;
	size_t i, l;

	if (!f)
		return false;
	fn = window_stream_name(m->ws, f->function_id);
	mod = f->module_id == TRACE_NO_ID ? "" : window_stream_name(m->ws, f->module_id);
	if (strstr(mod, "libloupe-alloc") || !strncmp(fn, "loupe_", 6))
		return true;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		l = strlen(names[i]);
		if (!strncmp(fn, names[i], l) && (!fn[l] || fn[l] == '(' || fn[l] == '['))
			return true;
	}
	return false;
}

static int add_site(struct tui_model *m, __u32 stack_id, double net)
{
	const struct profile_stack *st = stack(m, stack_id);
	__u32 fid, i;
	size_t k;

	if (!st)
		return 0;
	fid = st->frames[0];
	for (i = 0; i < st->nframes; i++) {
		if (!is_allocator(m, st->frames[i])) {
			fid = st->frames[i];
			break;
		}
	}
	for (k = 0; k < m->nsites; k++)
		if (m->sites[k].frame_id == fid)
			break;
	if (k == m->nsites) {
		if (array_grow((void **)&m->sites, &m->sites_cap, k + 1,
			       sizeof(*m->sites)))
			return -ENOMEM;
		memset(&m->sites[k], 0, sizeof(m->sites[k]));
		m->sites[k].frame_id = fid;
		m->nsites++;
	}
	m->sites[k].outstanding += net;
	m->sites[k].recent[m->windows % MODEL_HOT_WINDOWS] += net;
	return 0;
}

static int take_samples(struct tui_model *m, struct snap *s, size_t *cap,
			const struct window *w, size_t hot_slot)
{
	const struct profile_stack *st;
	struct snap_stage *e;
	size_t i;
	int err = 0;

	for (i = 0; i < w->nsamples && !err; i++) {
		const struct trace_sample *x = &w->samples[i];

		switch (x->kind) {
		case TRACE_SAMPLE_CPU:
		case TRACE_SAMPLE_OFFCPU_BLOCKED:
		case TRACE_SAMPLE_OFFCPU_RUNQ:
			e = stage_get(s, cap, x->model_id, x->stage_id);
			if (!e)
				return -ENOMEM;
			if (x->kind == TRACE_SAMPLE_CPU)
				e->cpu_ns += x->value_ns;
			else if (x->kind == TRACE_SAMPLE_OFFCPU_BLOCKED)
				e->blocked_ns += x->value_ns;
			else
				e->runq_ns += x->value_ns;
			if (x->kind != TRACE_SAMPLE_CPU)
				break;
			st = stack(m, x->stack_id);
			/* Self time: the leaf frame (inlined ones included). */
			if (st)
				err = add_hot(m, hot_slot, x->model_id, x->stage_id,
					      st->frames[0], x->value_ns);
			break;
		case TRACE_SAMPLE_MEM_ALLOC:
		case TRACE_SAMPLE_MEM_FREE: {
			double net = x->kind == TRACE_SAMPLE_MEM_ALLOC ?
					     (double)x->value_ns : -(double)x->value_ns;

			s->have_heap = true;
			m->any_heap = true;
			m->heap_acc += net;
			s->heap_net += net;
			err = add_site(m, x->stack_id, net);
			break;
		}
		default:
			break;
		}
	}
	return err;
}

int model_feed(struct tui_model *m, const struct window_stream *ws,
	       const struct window *w)
{
	struct snap *s = &m->ring[m->head];
	size_t cap, i, hot_slot = m->windows % MODEL_HOT_WINDOWS;
	__u32 req_id;
	int err = 0;

	m->ws = ws;
	req_id = model_request_id(m);
	free(s->st);
	memset(s, 0, sizeof(*s));
	cap = 0;
	m->hot[hot_slot].n = 0;
	for (i = 0; i < m->nsites; i++)
		m->sites[i].recent[hot_slot] = 0;

	s->index = w->index;
	s->start_ns = w->start_ns;
	s->end_ns = w->end_ns;
	s->requests = w->requests;
	s->errors = w->errors;
	s->dropped = w->dropped;
	for (i = 0; i < w->nstages && !err; i++) {
		const struct wstage *x = &w->stages[i];
		struct snap_stage *e = stage_get(s, &cap, x->model_id, x->stage_id);

		if (!e)
			return -ENOMEM;
		e->count = x->count;
		e->mean_ns = x->mean_ns;
		e->p50_ns = x->p50_ns;
		e->p90_ns = x->p90_ns;
		e->p99_ns = x->p99_ns;
		e->max_ns = x->max_ns;
		err = add_model(m, x->model_id);
	}
	for (i = 0; i < w->nreqs && !err; i++) {
		struct snap_stage *e;

		if (!w->reqs[i].status)
			continue;
		e = stage_get(s, &cap, w->reqs[i].model_id, req_id);
		if (!e)
			return -ENOMEM;
		e->errors++;
	}
	for (i = 0; i < w->nconfig_changes && !err; i++) {
		const struct trace_config *c = &w->config_changes[i];

		/* Announced models show before (or without) a request. */
		if (!strncmp(c->key, "@model.", 7))
			err = add_model(m, window_stream_find_name(ws, c->key + 7));
		if (!strcmp(c->key, "@action")) {
			size_t k = m->nactions++ % MODEL_ACTIONS;

			m->actions[k].window = w->index;
			snprintf(m->actions[k].text, sizeof(m->actions[k].text), "%s",
				 c->value);
		}
	}
	if (!err)
		err = take_samples(m, s, &cap, w, hot_slot);
	if (err)
		return err;
	s->have_counters = w->have_counters;
	if (w->have_counters) {
		const __u32 rss = (1u << TRACE_CTR_RSS_ANON) |
				  (1u << TRACE_CTR_RSS_FILE) |
				  (1u << TRACE_CTR_RSS_SHMEM);

		s->ctr = w->counters;
		if (w->counters.present & rss) {
			const struct snap *prev = model_snap(m, 0);

			s->have_rss = true;
			s->rss_bytes = w->counters.v[TRACE_CTR_RSS_ANON] +
				       w->counters.v[TRACE_CTR_RSS_FILE] +
				       w->counters.v[TRACE_CTR_RSS_SHMEM];
			if (prev && prev->have_rss) {
				s->have_rss_delta = true;
				s->rss_delta = (double)s->rss_bytes - (double)prev->rss_bytes;
			}
		}
	}
	if (m->any_heap) {
		s->have_heap = true;
		s->heap_bytes = m->heap_acc;
	}
	m->head = (m->head + 1) % MODEL_HISTORY;
	if (m->n < MODEL_HISTORY)
		m->n++;
	m->windows++;
	return 0;
}

const char *model_action(const struct tui_model *m, size_t back, __u64 *window)
{
	size_t k;

	if (back >= m->nactions || back >= MODEL_ACTIONS)
		return NULL;
	k = (m->nactions - 1 - back) % MODEL_ACTIONS;
	if (window)
		*window = m->actions[k].window;
	return m->actions[k].text;
}

/* One function at one line, whatever the address (a line's code can be
 * several frames: unrolled, duplicated or inlined at two call sites). */
static bool same_line(const struct tui_model *m, __u32 a, __u32 b)
{
	const struct trace_frame *x = frame(m, a), *y = frame(m, b);

	if (a == b)
		return true;
	return x && y && x->function_id == y->function_id &&
	       x->file_id == y->file_id && x->line == y->line &&
	       (x->file_id != TRACE_NO_ID || x->module_offset == y->module_offset);
}

static int hot_cmp(const void *a, const void *b)
{
	const struct hot_fn *x = a, *y = b;

	return x->value_ns < y->value_ns ? 1 : x->value_ns > y->value_ns ? -1 : 0;
}

size_t model_hot(const struct tui_model *m, __u32 model, __u32 stage,
		 struct hot_fn *out, size_t n)
{
	struct hot_fn *acc = NULL;
	size_t nacc = 0, cap = 0, k, i, j;
	bool whole = stage == model_request_id(m);

	for (k = 0; k < MODEL_HOT_WINDOWS; k++) {
		for (i = 0; i < m->hot[k].n; i++) {
			const struct hot_fn *h = &m->hot[k].v[i];

			if (h->model_id != model || (!whole && h->stage_id != stage))
				continue;
			for (j = 0; j < nacc; j++)
				if (same_line(m, acc[j].frame_id, h->frame_id))
					break;
			if (j == nacc) {
				if (array_grow((void **)&acc, &cap, nacc + 1,
					       sizeof(*acc)))
					goto out;
				acc[nacc++] = *h;
			} else {
				acc[j].value_ns += h->value_ns;
			}
		}
	}
out:
	if (acc)
		qsort(acc, nacc, sizeof(*acc), hot_cmp);
	if (nacc > n)
		nacc = n;
	if (nacc)
		memcpy(out, acc, nacc * sizeof(*acc));
	free(acc);
	return nacc;
}
