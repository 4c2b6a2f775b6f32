// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/array.h"
#include "analyzer/summary.h"

/* Arrays grow by doubling, and the capacity is implied by the count: the
 * next power of two at or above max(n, 8).  So grow only at those points. */
static int grow(void **v, size_t n, size_t elem)
{
	void *nv;

	if (n && (n < 8 || (n & (n - 1))))
		return 0;
	nv = realloc(*v, (n ? 2 * n : 8) * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	return 0;
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static int set_config(struct trace_summary *s, const char *key,
		      const char *value)
{
	size_t i;

	for (i = 0; i < s->nconfig; i++) {
		if (!strcmp(s->config[i].key, key)) {
			free(s->config[i].value);
			s->config[i].value = strdup(value);
			return s->config[i].value ? 0 : -ENOMEM;
		}
	}
	if (grow((void **)&s->config, s->nconfig, sizeof(*s->config)))
		return -ENOMEM;
	s->config[i].key = strdup(key);
	s->config[i].value = strdup(value);
	s->nconfig++;
	return s->config[i].key && s->config[i].value ? 0 : -ENOMEM;
}

static int add_window(struct trace_summary *s, const struct trace_window *w)
{
	struct summary_window *sw;
	struct hist req;
	__u32 i;
	size_t j;

	if (grow((void **)&s->windows, s->nwindows, sizeof(*s->windows)))
		return -ENOMEM;
	sw = &s->windows[s->nwindows++];
	sw->index = w->index;
	sw->start_ns = w->start_ns;
	sw->end_ns = w->end_ns;
	sw->requests = w->requests;
	sw->errors = w->errors;
	sw->dropped = w->dropped;
	sw->late = w->late;
	s->requests += w->requests;
	s->errors += w->errors;
	s->dropped += w->dropped;
	hist_init(&req);
	for (i = 0; i < w->nhists; i++) {
		const struct trace_hist_entry *e = &w->hists[i];

		for (j = 0; j < s->nentries; j++)
			if (s->entries[j].model_id == e->model_id &&
			    s->entries[j].stage_id == e->stage_id)
				break;
		if (j == s->nentries) {
			if (grow((void **)&s->entries, s->nentries,
				 sizeof(*s->entries)))
				return -ENOMEM;
			s->entries[j].model_id = e->model_id;
			s->entries[j].stage_id = e->stage_id;
			hist_init(&s->entries[j].h);
			s->nentries++;
		}
		hist_merge(&s->entries[j].h, e->hist);
		if (e->stage_id < s->nnames && s->names[e->stage_id] &&
		    !strcmp(s->names[e->stage_id], "request"))
			hist_merge(&req, e->hist);
	}
	hist_merge(&s->overall, &req);
	sw->p50_ns = hist_quantile(&req, 0.50);
	sw->p99_ns = hist_quantile(&req, 0.99);
	sw->max_ns = req.max;	/* 0 when empty */
	return 0;
}

static int copy_meta(struct trace_summary *s, const struct trace_meta *m)
{
	if (s->have_meta)
		return 0;
	s->meta = *m;
	s->meta.cmdline = dup_or_empty(m->cmdline);
	s->meta.hostname = dup_or_empty(m->hostname);
	s->meta.loupe_version = dup_or_empty(m->loupe_version);
	s->meta.mode = dup_or_empty(m->mode);
	s->have_meta = true;
	if (!s->meta.cmdline || !s->meta.hostname || !s->meta.loupe_version ||
	    !s->meta.mode)
		return -ENOMEM;
	return 0;
}

int summary_load(const char *path, struct trace_summary *s)
{
	struct trace_reader *r;
	struct trace_chunk ch;
	const char *damage;
	size_t i;
	int ret, err = 0;

	memset(s, 0, sizeof(*s));
	hist_init(&s->overall);
	profile_init(&s->prof);
	r = trace_reader_open(path);
	if (!r)
		return -errno;
	while (!err && (ret = trace_reader_next(r, &ch)) > 0) {
		switch (ch.type) {
		case LOUPE_CHUNK_META:
			err = copy_meta(s, &ch.meta);
			break;
		case LOUPE_CHUNK_NAMES:
			for (i = 0; !err && i < ch.names.n; i++)
				err = names_set(&s->names, &s->nnames, ch.names.v[i].id,
					       ch.names.v[i].str);
			break;
		case LOUPE_CHUNK_CONFIG:
			for (i = 0; !err && i < ch.config.n; i++)
				err = set_config(s, ch.config.v[i].key,
						 ch.config.v[i].value);
			break;
		case LOUPE_CHUNK_WINDOW:
			err = add_window(s, &ch.window);
			break;
		case LOUPE_CHUNK_REQUESTS:
			s->records += ch.requests.n;
			break;
		case LOUPE_CHUNK_END:
			s->end = ch.end;
			s->have_end = true;
			break;
		case LOUPE_CHUNK_FRAMES:
			err = profile_add_frames(&s->prof, ch.frames.v, ch.frames.n);
			break;
		case LOUPE_CHUNK_STACKS:
			err = profile_add_stacks(&s->prof, ch.stacks.v, ch.stacks.n);
			break;
		case LOUPE_CHUNK_SAMPLES:
			err = profile_add_samples(&s->prof, ch.samples.v,
						  ch.samples.n);
			break;
		case LOUPE_CHUNK_COUNTERS:
			profile_add_counters(&s->prof, &ch.counters);
			break;
		}
	}
	if (!err && ret < 0)
		err = ret;
	trace_reader_stats(r, &s->rs);
	damage = trace_reader_damage(r);
	if (damage)
		s->damage = strdup(damage);
	trace_reader_free(r);
	if (err)
		summary_release(s);
	return err;
}

void summary_release(struct trace_summary *s)
{
	size_t i;

	if (s->have_meta) {
		free((char *)s->meta.cmdline);
		free((char *)s->meta.hostname);
		free((char *)s->meta.loupe_version);
		free((char *)s->meta.mode);
	}
	for (i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
	for (i = 0; i < s->nconfig; i++) {
		free(s->config[i].key);
		free(s->config[i].value);
	}
	free(s->config);
	free(s->entries);
	free(s->windows);
	free(s->damage);
	profile_release(&s->prof);
	memset(s, 0, sizeof(*s));
}

const char *summary_name(const struct trace_summary *s, __u32 id)
{
	return id < s->nnames && s->names[id] ? s->names[id] : "?";
}

const char *summary_config(const struct trace_summary *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->nconfig; i++)
		if (!strcmp(s->config[i].key, key))
			return s->config[i].value;
	return NULL;
}

const struct trace_frame *summary_frame(const struct trace_summary *s, __u32 id)
{
	return id < s->prof.nframes ? &s->prof.frames[id] : NULL;
}

const char *summary_frame_function(const struct trace_summary *s, __u32 id)
{
	const struct trace_frame *f = summary_frame(s, id);

	return f && f->function_id != TRACE_NO_ID ?
		       summary_name(s, f->function_id) : "[unknown]";
}

static const char *basename_of(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

void summary_print_where(FILE *f, const struct trace_summary *s, __u32 id)
{
	const struct trace_frame *fr = summary_frame(s, id);

	if (fr && fr->file_id != TRACE_NO_ID)
		fprintf(f, " %s:%u", basename_of(summary_name(s, fr->file_id)),
			fr->line);
	else if (fr && fr->flags & TRACE_FRAME_KERNEL)
		fprintf(f, " [kernel]");
	else if (fr && fr->module_id != TRACE_NO_ID)
		fprintf(f, " [%s]", basename_of(summary_name(s, fr->module_id)));
}

__u64 summary_duration_ns(const struct trace_summary *s)
{
	if (s->have_end && s->have_meta && s->end.end_mono_ns > s->meta.start_mono_ns)
		return s->end.end_mono_ns - s->meta.start_mono_ns;
	if (s->nwindows && s->have_meta &&
	    s->windows[s->nwindows - 1].end_ns > s->meta.start_mono_ns)
		return s->windows[s->nwindows - 1].end_ns - s->meta.start_mono_ns;
	return 0;
}
