// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/array.h"
#include "analyzer/profile.h"

#define MAX_IDS (1u << 24)	/* ids are dense; refuse absurd ones */

void profile_init(struct profile *p)
{
	memset(p, 0, sizeof(*p));
}

void profile_release(struct profile *p)
{
	size_t i;

	for (i = 0; i < p->nstacks; i++)
		free(p->stacks[i].frames);
	free(p->stacks);
	free(p->frames);
	free(p->samples);
	for (i = 0; i < p->nmem; i++) {
		free(p->mem[i].alloc);
		free(p->mem[i].freed);
	}
	free(p->mem);
	free(p->rss);
	memset(p, 0, sizeof(*p));
}

/* Grows a by-id array of ELEM-sized items to hold ID; new items zeroed. */
static int grow_to(void **v, size_t *n, __u32 id, size_t elem)
{
	size_t want;
	void *nv;

	if (id < *n)
		return 0;
	if (id >= MAX_IDS)
		return -EINVAL;
	want = *n ? *n : 64;
	while (want <= id)
		want *= 2;
	nv = realloc(*v, want * elem);
	if (!nv)
		return -ENOMEM;
	memset((char *)nv + *n * elem, 0, (want - *n) * elem);
	*v = nv;
	*n = want;
	return 0;
}

int profile_add_frames(struct profile *p, const struct trace_frame *v, size_t n)
{
	size_t i, old;
	int err;

	for (i = 0; i < n; i++) {
		old = p->nframes;
		err = grow_to((void **)&p->frames, &p->nframes, v[i].id,
			      sizeof(*p->frames));
		if (err == -EINVAL)
			continue;
		if (err)
			return err;
		/* Frames never announced read as "unknown", not as id 0. */
		for (; old < p->nframes; old++)
			p->frames[old].function_id = TRACE_NO_ID;
		p->frames[v[i].id] = v[i];
	}
	return 0;
}

int profile_add_stacks(struct profile *p, const struct trace_stack *v, size_t n)
{
	struct profile_stack *s;
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		err = grow_to((void **)&p->stacks, &p->nstacks, v[i].id,
			      sizeof(*p->stacks));
		if (err == -EINVAL)
			continue;
		if (err)
			return err;
		s = &p->stacks[v[i].id];
		free(s->frames);
		s->frames = malloc((v[i].nframes + 1) * sizeof(__u32));
		if (!s->frames)
			return -ENOMEM;
		memcpy(s->frames, v[i].frames, v[i].nframes * sizeof(__u32));
		s->nframes = v[i].nframes;
	}
	return 0;
}

static size_t sample_hash(const struct trace_sample *s, size_t cap)
{
	__u64 h = s->stack_id * 0x9e3779b97f4a7c15ull;

	h ^= ((__u64)s->model_id << 32 | s->stage_id) * 0xc2b2ae3d27d4eb4full;
	h ^= s->kind;
	return (h ^ (h >> 29)) & (cap - 1);
}

static int rehash(struct profile *p)
{
	size_t cap = p->cap ? 2 * p->cap : 256, i, j;
	struct profile_sample *nv = calloc(cap, sizeof(*nv)), *o;

	if (!nv)
		return -ENOMEM;
	for (i = 0; i < p->cap; i++) {
		struct trace_sample key;

		o = &p->samples[i];
		if (!o->count && !o->value_ns)
			continue;
		key.stack_id = o->stack_id;
		key.model_id = o->model_id;
		key.stage_id = o->stage_id;
		key.kind = o->kind;
		for (j = sample_hash(&key, cap); nv[j].count || nv[j].value_ns;
		     j = (j + 1) & (cap - 1))
			;
		nv[j] = *o;
	}
	free(p->samples);
	p->samples = nv;
	p->cap = cap;
	return 0;
}

/* Memory samples also keep their window: leak detection needs the series. */
static int add_mem(struct profile *p, const struct trace_sample *s)
{
	struct mem_site *m = NULL;
	size_t i, want;

	if (s->window >= (1u << 24))
		return 0;
	for (i = 0; i < p->nmem; i++)
		if (p->mem[i].stack_id == s->stack_id)
			m = &p->mem[i];
	if (!m) {
		if (array_grow((void **)&p->mem, &p->mem_cap, p->nmem + 1,
			       sizeof(*p->mem)))
			return -ENOMEM;
		m = &p->mem[p->nmem++];
		memset(m, 0, sizeof(*m));
		m->stack_id = s->stack_id;
	}
	if (s->window >= m->nwin) {
		double *a, *f;

		want = s->window + 64;
		a = realloc(m->alloc, want * sizeof(*a));
		if (a)
			m->alloc = a;
		f = realloc(m->freed, want * sizeof(*f));
		if (f)
			m->freed = f;
		if (!a || !f)
			return -ENOMEM;
		memset(m->alloc + m->nwin, 0, (want - m->nwin) * sizeof(*a));
		memset(m->freed + m->nwin, 0, (want - m->nwin) * sizeof(*f));
		m->nwin = want;
	}
	if (s->kind == TRACE_SAMPLE_MEM_ALLOC) {
		m->alloc[s->window] += s->value_ns;
		m->objects += s->count;
	} else {
		m->freed[s->window] += s->value_ns;
	}
	return 0;
}

int profile_add_samples(struct profile *p, const struct trace_sample *v, size_t n)
{
	struct profile_sample *e;
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (!v[i].count && !v[i].value_ns)
			continue;
		if (v[i].kind >= TRACE_SAMPLE_MEM_ALLOC && add_mem(p, &v[i]))
			return -ENOMEM;
		if ((p->nsamples + 1) * 2 > p->cap && rehash(p))
			return -ENOMEM;
		for (j = sample_hash(&v[i], p->cap);; j = (j + 1) & (p->cap - 1)) {
			e = &p->samples[j];
			if (!e->count && !e->value_ns) {
				e->stack_id = v[i].stack_id;
				e->model_id = v[i].model_id;
				e->stage_id = v[i].stage_id;
				e->kind = v[i].kind;
				p->nsamples++;
				break;
			}
			if (e->stack_id == v[i].stack_id &&
			    e->model_id == v[i].model_id &&
			    e->stage_id == v[i].stage_id && e->kind == v[i].kind)
				break;
		}
		e->count += v[i].count;
		e->value_ns += v[i].value_ns;
		p->total_ns[v[i].kind] += v[i].value_ns;
		p->total_count[v[i].kind] += v[i].count;
	}
	return 0;
}

const struct profile_sample *profile_find(const struct profile *p, __u32 stack,
					  __u32 model, __u32 stage, __u32 kind)
{
	struct trace_sample key = { .stack_id = stack, .model_id = model,
				    .stage_id = stage, .kind = kind };
	const struct profile_sample *e;
	size_t j;

	if (!p->cap)
		return NULL;
	for (j = sample_hash(&key, p->cap);; j = (j + 1) & (p->cap - 1)) {
		e = &p->samples[j];
		if (!e->count && !e->value_ns)
			return NULL;
		if (e->stack_id == stack && e->model_id == model &&
		    e->stage_id == stage && e->kind == kind)
			return e;
	}
}

void profile_inuse(const struct profile *p, const struct profile_sample *alloc,
		   __u64 *objects, __u64 *bytes)
{
	const struct profile_sample *fr =
		profile_find(p, alloc->stack_id, alloc->model_id,
			     alloc->stage_id, TRACE_SAMPLE_MEM_FREE);

	*objects = alloc->count - (fr && fr->count < alloc->count ? fr->count :
				   fr ? alloc->count : 0);
	*bytes = alloc->value_ns - (fr && fr->value_ns < alloc->value_ns ?
				    fr->value_ns : fr ? alloc->value_ns : 0);
}

void profile_add_counters(struct profile *p, const struct trace_counters *c)
{
	unsigned int i;

	p->counters.present |= c->present;
	for (i = 0; i < TRACE_CTR_N; i++) {
		if (!TRACE_CTR_IS_GAUGE(i))
			p->counters.v[i] += c->v[i];
		else if (c->present & (1u << i))	/* the last reading */
			p->counters.v[i] = c->v[i];
	}
	p->counter_windows++;
	if (c->present & (1u << TRACE_CTR_RSS_ANON) &&
	    !array_grow((void **)&p->rss, &p->rss_cap, p->nrss + 1,
			sizeof(*p->rss))) {
		p->rss[p->nrss].window = c->window;
		p->rss[p->nrss].anon = c->v[TRACE_CTR_RSS_ANON];
		p->rss[p->nrss].file = c->v[TRACE_CTR_RSS_FILE];
		p->rss[p->nrss].shmem = c->v[TRACE_CTR_RSS_SHMEM];
		p->nrss++;
	}
}
