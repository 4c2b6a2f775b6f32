// SPDX-License-Identifier: MIT
/*
 * The recorder writes, per window: config, names and request records as
 * they come, then frames, stacks, samples and counters of the window, and
 * last the WINDOW chunk with its histograms.  So the WINDOW chunk closes a
 * window: everything for index i read before it belongs to i, and request
 * records are sorted into windows by their end time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/array.h"
#include "analyzer/window.h"

struct window_stream {
	struct trace_reader *r;
	bool have_meta, have_end, follow;
	struct trace_meta meta;		/* strings owned */
	struct trace_end end;
	char **names;
	size_t nnames;
	struct profile dict;

	char **cfg_keys, **cfg_values;	/* latest per key */
	size_t ncfg, cfg_cap;

	/* Read, not yet handed over. */
	struct trace_sample *samples;
	size_t nsamples, samples_cap;
	struct trace_counters *ctrs;
	size_t nctrs, ctrs_cap;
	struct trace_request *reqs;
	size_t nreqs, reqs_cap;
	struct trace_config *changes;	/* key/value owned */
	size_t nchanges, changes_cap;

	/* The window handed over last, and what it owns. */
	struct window cur;
	struct wstage *stages;
	struct hist *hists;
	size_t stages_cap;
	struct trace_sample *cur_samples;
	size_t cur_samples_cap;
	struct trace_request *cur_reqs;
	size_t cur_reqs_cap;
	struct trace_config *cur_changes;
	size_t cur_changes_cap, ncur_changes;
};

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static int set_config(struct window_stream *ws, const char *key,
		      const char *value)
{
	size_t i;
	size_t cap = ws->cfg_cap;
	char *v = strdup(value);

	if (!v)
		return -ENOMEM;
	for (i = 0; i < ws->ncfg; i++) {
		if (!strcmp(ws->cfg_keys[i], key)) {
			free(ws->cfg_values[i]);
			ws->cfg_values[i] = v;
			return 0;
		}
	}
	if (array_grow((void **)&ws->cfg_keys, &cap, ws->ncfg + 1,
		       sizeof(char *)) ||
	    array_grow((void **)&ws->cfg_values, &ws->cfg_cap, ws->ncfg + 1,
		       sizeof(char *))) {
		free(v);
		return -ENOMEM;
	}
	ws->cfg_keys[ws->ncfg] = strdup(key);
	ws->cfg_values[ws->ncfg] = v;
	if (!ws->cfg_keys[ws->ncfg]) {
		free(v);
		return -ENOMEM;
	}
	ws->ncfg++;
	return 0;
}

static int add_config(struct window_stream *ws, const struct trace_config *v,
		      size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct trace_config *c;

		if (set_config(ws, v[i].key, v[i].value) ||
		    array_grow((void **)&ws->changes, &ws->changes_cap,
			       ws->nchanges + 1, sizeof(*ws->changes)))
			return -ENOMEM;
		c = &ws->changes[ws->nchanges];
		c->ts_ns = v[i].ts_ns;
		c->key = strdup(v[i].key);
		c->value = strdup(v[i].value);
		if (!c->key || !c->value) {
			free((char *)c->key);
			free((char *)c->value);
			return -ENOMEM;
		}
		ws->nchanges++;
	}
	return 0;
}

static int keep_meta(struct window_stream *ws, const struct trace_meta *m)
{
	free((char *)ws->meta.cmdline);
	free((char *)ws->meta.hostname);
	free((char *)ws->meta.loupe_version);
	free((char *)ws->meta.mode);
	ws->meta = *m;
	ws->meta.cmdline = dup_or_empty(m->cmdline);
	ws->meta.hostname = dup_or_empty(m->hostname);
	ws->meta.loupe_version = dup_or_empty(m->loupe_version);
	ws->meta.mode = dup_or_empty(m->mode);
	ws->have_meta = true;
	return ws->meta.cmdline && ws->meta.hostname &&
			       ws->meta.loupe_version && ws->meta.mode ?
		       0 : -ENOMEM;
}

static int append(void **v, size_t *n, size_t *cap, const void *src,
		  size_t k, size_t elem)
{
	if (!k)
		return 0;
	if (array_grow(v, cap, *n + k, elem))
		return -ENOMEM;
	memcpy((char *)*v + *n * elem, src, k * elem);
	*n += k;
	return 0;
}

/* Moves the items of V matching KEEP's opposite into OUT: a stable split. */
#define TAKE_IF(v, n, out, nout, cond)                                  \
	do {                                                            \
		size_t i_, kept_ = 0;                                   \
		for (i_ = 0; i_ < (n); i_++) {                          \
			if (cond((v)[i_]))                              \
				(out)[(nout)++] = (v)[i_];              \
			else                                            \
				(v)[kept_++] = (v)[i_];                 \
		}                                                       \
		(n) = kept_;                                            \
	} while (0)

static int reserve_current(struct window_stream *ws, size_t nstages)
{
	size_t cap = ws->stages_cap;

	if (array_grow((void **)&ws->stages, &cap, nstages, sizeof(*ws->stages)) ||
	    array_grow((void **)&ws->hists, &ws->stages_cap, nstages,
		       sizeof(*ws->hists)) ||
	    array_grow((void **)&ws->cur_samples, &ws->cur_samples_cap,
		       ws->nsamples, sizeof(*ws->cur_samples)) ||
	    array_grow((void **)&ws->cur_reqs, &ws->cur_reqs_cap, ws->nreqs,
		       sizeof(*ws->cur_reqs)) ||
	    array_grow((void **)&ws->cur_changes, &ws->cur_changes_cap,
		       ws->nchanges, sizeof(*ws->cur_changes)))
		return -ENOMEM;
	return 0;
}

static void free_changes(struct trace_config *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)v[i].key);
		free((char *)v[i].value);
	}
}

/* Builds ws->cur from the WINDOW chunk W and what was read before it. */
static int close_window(struct window_stream *ws, const struct trace_window *w)
{
	struct window *cur = &ws->cur;
	size_t i, ns = 0, nr = 0, nc = 0;
	__u64 idx = w->index, end = w->end_ns;

	free_changes(ws->cur_changes, ws->ncur_changes);
	ws->ncur_changes = 0;
	if (reserve_current(ws, w->nhists))
		return -ENOMEM;

	memset(cur, 0, sizeof(*cur));
	cur->index = w->index;
	cur->start_ns = w->start_ns;
	cur->end_ns = w->end_ns;
	cur->requests = w->requests;
	cur->errors = w->errors;
	cur->dropped = w->dropped;
	cur->late = w->late;
	for (i = 0; i < w->nhists; i++) {
		struct wstage *st = &ws->stages[i];

		ws->hists[i] = *w->hists[i].hist;
		st->model_id = w->hists[i].model_id;
		st->stage_id = w->hists[i].stage_id;
		st->h = &ws->hists[i];
		st->count = st->h->count;
		st->mean_ns = hist_mean(st->h);
		st->p50_ns = hist_quantile(st->h, 0.50);
		st->p90_ns = hist_quantile(st->h, 0.90);
		st->p99_ns = hist_quantile(st->h, 0.99);
		st->max_ns = st->count ? st->h->max : 0;
	}
	cur->stages = ws->stages;
	cur->nstages = w->nhists;

	/* Samples of this window, and any strays of earlier ones that never
	 * got a WINDOW chunk (a lost chunk): better here than nowhere. */
#define SAMPLE_DUE(s) ((s).window <= idx)
	TAKE_IF(ws->samples, ws->nsamples, ws->cur_samples, ns, SAMPLE_DUE);
#undef SAMPLE_DUE
	cur->samples = ws->cur_samples;
	cur->nsamples = ns;

#define REQ_DUE(r) ((r).end_ns < end)
	TAKE_IF(ws->reqs, ws->nreqs, ws->cur_reqs, nr, REQ_DUE);
#undef REQ_DUE
	cur->reqs = ws->cur_reqs;
	cur->nreqs = nr;

#define CHANGE_DUE(c) ((c).ts_ns < end)
	TAKE_IF(ws->changes, ws->nchanges, ws->cur_changes, nc, CHANGE_DUE);
#undef CHANGE_DUE
	ws->ncur_changes = nc;
	cur->config_changes = ws->cur_changes;
	cur->nconfig_changes = nc;

	for (i = 0; i < ws->nctrs; i++) {
		if (ws->ctrs[i].window == idx) {
			cur->have_counters = true;
			cur->counters = ws->ctrs[i];
		}
	}
	/* Counters never outlive their window: drop this and older ones. */
	{
		size_t k = 0;

		for (i = 0; i < ws->nctrs; i++)
			if (ws->ctrs[i].window > idx)
				ws->ctrs[k++] = ws->ctrs[i];
		ws->nctrs = k;
	}
	return 0;
}

static int take_chunk(struct window_stream *ws, const struct trace_chunk *c)
{
	size_t i;
	int err = 0;

	switch (c->type) {
	case LOUPE_CHUNK_META:
		return keep_meta(ws, &c->meta);
	case LOUPE_CHUNK_NAMES:
		for (i = 0; i < c->names.n && !err; i++)
			err = names_set(&ws->names, &ws->nnames, c->names.v[i].id, c->names.v[i].str);
		return err;
	case LOUPE_CHUNK_CONFIG:
		return add_config(ws, c->config.v, c->config.n);
	case LOUPE_CHUNK_REQUESTS:
		return append((void **)&ws->reqs, &ws->nreqs, &ws->reqs_cap,
			      c->requests.v, c->requests.n, sizeof(*ws->reqs));
	case LOUPE_CHUNK_END:
		ws->end = c->end;
		ws->have_end = true;
		return 0;
	case LOUPE_CHUNK_FRAMES:
		return profile_add_frames(&ws->dict, c->frames.v, c->frames.n);
	case LOUPE_CHUNK_STACKS:
		return profile_add_stacks(&ws->dict, c->stacks.v, c->stacks.n);
	case LOUPE_CHUNK_SAMPLES:
		err = profile_add_samples(&ws->dict, c->samples.v, c->samples.n);
		return err ? err : append((void **)&ws->samples, &ws->nsamples,
			      &ws->samples_cap, c->samples.v, c->samples.n,
			      sizeof(*ws->samples));
	case LOUPE_CHUNK_COUNTERS:
		profile_add_counters(&ws->dict, &c->counters);
		return append((void **)&ws->ctrs, &ws->nctrs, &ws->ctrs_cap,
			      &c->counters, 1, sizeof(*ws->ctrs));
	default:
		return 0;
	}
}

int window_stream_next(struct window_stream *ws, const struct window **out)
{
	struct trace_chunk c;
	int rc, err;

	for (;;) {
		rc = trace_reader_next(ws->r, &c);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return ws->follow && !ws->have_end ? -EAGAIN : 0;
		if (c.type == LOUPE_CHUNK_WINDOW) {
			err = close_window(ws, &c.window);
			if (err)
				return err;
			*out = &ws->cur;
			return 1;
		}
		err = take_chunk(ws, &c);
		if (err)
			return err;
	}
}

struct window_stream *window_stream_open(const char *path)
{
	struct window_stream *ws = calloc(1, sizeof(*ws));
	int saved;

	if (!ws)
		return NULL;
	ws->r = trace_reader_open(path);
	if (!ws->r) {
		saved = errno;
		free(ws);
		errno = saved;
		return NULL;
	}
	profile_init(&ws->dict);
	return ws;
}

void window_stream_follow(struct window_stream *ws, bool on)
{
	ws->follow = on;
	trace_reader_set_follow(ws->r, on);
}

void window_stream_close(struct window_stream *ws)
{
	size_t i;

	if (!ws)
		return;
	trace_reader_free(ws->r);
	free((char *)ws->meta.cmdline);
	free((char *)ws->meta.hostname);
	free((char *)ws->meta.loupe_version);
	free((char *)ws->meta.mode);
	for (i = 0; i < ws->nnames; i++)
		free(ws->names[i]);
	free(ws->names);
	profile_release(&ws->dict);
	for (i = 0; i < ws->ncfg; i++) {
		free(ws->cfg_keys[i]);
		free(ws->cfg_values[i]);
	}
	free(ws->cfg_keys);
	free(ws->cfg_values);
	free(ws->samples);
	free(ws->ctrs);
	free(ws->reqs);
	free_changes(ws->changes, ws->nchanges);
	free(ws->changes);
	free(ws->stages);
	free(ws->hists);
	free(ws->cur_samples);
	free(ws->cur_reqs);
	free_changes(ws->cur_changes, ws->ncur_changes);
	free(ws->cur_changes);
	free(ws);
}

const struct trace_meta *window_stream_meta(const struct window_stream *ws)
{
	return ws->have_meta ? &ws->meta : NULL;
}

const struct trace_end *window_stream_end(const struct window_stream *ws)
{
	return ws->have_end ? &ws->end : NULL;
}

const char *window_stream_name(const struct window_stream *ws, __u32 id)
{
	if (id == TRACE_NO_ID)
		return "-";
	return id < ws->nnames && ws->names[id] ? ws->names[id] : "?";
}

__u32 window_stream_find_name(const struct window_stream *ws, const char *str)
{
	size_t i;

	for (i = 0; i < ws->nnames; i++)
		if (ws->names[i] && !strcmp(ws->names[i], str))
			return (__u32)i;
	return TRACE_NO_ID;
}

const struct profile *window_stream_dict(const struct window_stream *ws)
{
	return &ws->dict;
}

const char *window_stream_config(const struct window_stream *ws,
				 const char *key)
{
	size_t i;

	for (i = 0; i < ws->ncfg; i++)
		if (!strcmp(ws->cfg_keys[i], key))
			return ws->cfg_values[i];
	return NULL;
}

size_t window_stream_config_all(const struct window_stream *ws,
				const char *const **keys,
				const char *const **values)
{
	*keys = (const char *const *)ws->cfg_keys;
	*values = (const char *const *)ws->cfg_values;
	return ws->ncfg;
}

void window_stream_stats(const struct window_stream *ws,
			 struct trace_reader_stats *st)
{
	trace_reader_stats(ws->r, st);
}

const char *window_stream_damage(const struct window_stream *ws)
{
	return trace_reader_damage(ws->r);
}
