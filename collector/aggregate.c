// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/array.h"
#include "analyzer/hist.h"
#include "collector/aggregate.h"

#define REQ_STAGE "request"	/* stage name of the whole request */
#define REQ_FLUSH_AT 4096	/* request records per REQUESTS chunk */

struct ptr_name {
	__u64 ptr;
	__u32 id;
};

struct win_hist {
	__u32 model_id, stage_id;
	struct hist *h;
};

struct window {
	__u64 index;
	__u64 requests, errors, late;
	size_t n, cap;
	struct win_hist *v;
};

struct kv {
	char *key, *value;
};

struct aggregate {
	struct trace_writer *w;
	__u64 start_ns, window_ns;
	agg_resolve_fn resolve;
	void *resolve_arg;

	char **names;		/* id -> string */
	size_t nnames, names_cap, names_written;
	struct ptr_name *ptrs;	/* pointer -> id, for pointers seen */
	size_t nptrs, ptrs_cap;
	__u32 request_stage;

	struct kv *config;	/* latest value per key */
	size_t nconfig, config_cap;
	struct trace_config *pending_config;
	size_t npending_config, pending_config_cap;

	struct trace_request *pending;
	size_t npending;

	struct window win[2];	/* the open window and the one after it */
	__u64 stop_ns;		/* 0 while recording */
	agg_window_hook hook;
	void *hook_arg;
	__u64 dropped_written;
	struct agg_stats st;
};

/* Returns the id of STR, adding it; names are few, a scan is enough. */
static int intern(struct aggregate *a, const char *str, __u32 *id)
{
	size_t i;

	for (i = 0; i < a->nnames; i++) {
		if (!strcmp(a->names[i], str)) {
			*id = i;
			return 0;
		}
	}
	if (array_grow((void **)&a->names, &a->names_cap, a->nnames + 1,
		 sizeof(*a->names)))
		return -ENOMEM;
	a->names[a->nnames] = strdup(str);
	if (!a->names[a->nnames])
		return -ENOMEM;
	*id = a->nnames++;
	return 0;
}

static struct ptr_name *ptr_find(struct aggregate *a, __u64 ptr)
{
	size_t i;

	for (i = 0; i < a->nptrs; i++)
		if (a->ptrs[i].ptr == ptr)
			return &a->ptrs[i];
	return NULL;
}

static int ptr_bind(struct aggregate *a, __u64 ptr, const char *str, __u32 *id)
{
	struct ptr_name *p = ptr_find(a, ptr);
	int err = intern(a, str, id);

	if (err)
		return err;
	if (p) {
		p->id = *id;
		return 0;
	}
	if (array_grow((void **)&a->ptrs, &a->ptrs_cap, a->nptrs + 1, sizeof(*a->ptrs)))
		return -ENOMEM;
	a->ptrs[a->nptrs].ptr = ptr;
	a->ptrs[a->nptrs].id = *id;
	a->nptrs++;
	return 0;
}

/* The id of a name pointer from a record.  BPF normally sent the string
 * just before; if not (ring buffer drop), read it from the target. */
static int ptr_id(struct aggregate *a, __u64 ptr, __u32 *id)
{
	struct ptr_name *p = ptr_find(a, ptr);
	char buf[LOUPE_NAME_MAX];

	if (p) {
		*id = p->id;
		return 0;
	}
	if (!a->resolve || a->resolve(a->resolve_arg, ptr, buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)ptr);
	return ptr_bind(a, ptr, buf, id);
}

struct aggregate *aggregate_new(struct trace_writer *w, __u64 start_ns,
				__u64 window_ns, agg_resolve_fn resolve,
				void *resolve_arg)
{
	struct aggregate *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->w = w;
	a->start_ns = start_ns;
	a->window_ns = window_ns;
	a->resolve = resolve;
	a->resolve_arg = resolve_arg;
	a->win[1].index = 1;
	if (intern(a, REQ_STAGE, &a->request_stage)) {
		aggregate_free(a);
		errno = ENOMEM;
		return NULL;
	}
	return a;
}

static void window_release(struct window *win)
{
	size_t i;

	for (i = 0; i < win->n; i++)
		free(win->v[i].h);
	free(win->v);
	memset(win, 0, sizeof(*win));
}

void aggregate_free(struct aggregate *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->nnames; i++)
		free(a->names[i]);
	free(a->names);
	free(a->ptrs);
	for (i = 0; i < a->nconfig; i++) {
		free(a->config[i].key);
		free(a->config[i].value);
	}
	free(a->config);
	free(a->pending_config);
	free(a->pending);
	window_release(&a->win[0]);
	window_release(&a->win[1]);
	free(a);
}

int aggregate_name(struct aggregate *a, __u64 ptr, const char *str)
{
	__u32 id;

	return ptr_bind(a, ptr, str, &id);
}

int aggregate_config(struct aggregate *a, __u64 ts_ns, const char *key,
		     const char *value)
{
	struct trace_config *pc;
	size_t i;

	/* Announcements repeat every second; keep only changes. */
	for (i = 0; i < a->nconfig; i++) {
		if (strcmp(a->config[i].key, key))
			continue;
		if (!strcmp(a->config[i].value, value))
			return 0;
		free(a->config[i].value);
		a->config[i].value = strdup(value);
		if (!a->config[i].value)
			return -ENOMEM;
		break;
	}
	if (i == a->nconfig) {
		if (array_grow((void **)&a->config, &a->config_cap, a->nconfig + 1,
			 sizeof(*a->config)))
			return -ENOMEM;
		a->config[i].key = strdup(key);
		a->config[i].value = strdup(value);
		if (!a->config[i].key || !a->config[i].value)
			return -ENOMEM;
		a->nconfig++;
	}
	if (array_grow((void **)&a->pending_config, &a->pending_config_cap,
		 a->npending_config + 1, sizeof(*a->pending_config)))
		return -ENOMEM;
	/* Point at our copies: they live until the next change of the key,
	 * and pending entries are written before any change is applied. */
	pc = &a->pending_config[a->npending_config++];
	pc->ts_ns = ts_ns;
	pc->key = a->config[i].key;
	pc->value = a->config[i].value;
	return 0;
}

static int write_pending_config(struct aggregate *a)
{
	int err;

	if (!a->npending_config)
		return 0;
	err = trace_writer_config(a->w, a->pending_config, a->npending_config);
	a->npending_config = 0;
	return err;
}

int aggregate_model(struct aggregate *a, __u64 ts_ns, const char *name)
{
	char key[LOUPE_NAME_MAX + 8];
	int err;

	/* Models are recorded as config "@model.NAME" = "announced" so the
	 * trace knows them even before (or without) any request. */
	snprintf(key, sizeof(key), "@model.%s", name);
	err = write_pending_config(a);
	return err ? err : aggregate_config(a, ts_ns, key, "announced");
}

static int write_pending_names(struct aggregate *a)
{
	struct trace_name *v;
	size_t i, n = a->nnames - a->names_written;
	int err;

	if (!n)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		v[i].id = a->names_written + i;
		v[i].str = a->names[a->names_written + i];
	}
	err = trace_writer_names(a->w, v, n);
	free(v);
	if (!err)
		a->names_written = a->nnames;
	return err;
}

static int write_pending_requests(struct aggregate *a)
{
	int err;

	if (!a->npending)
		return 0;
	err = write_pending_names(a);
	if (!err)
		err = trace_writer_requests(a->w, a->pending, a->npending);
	a->npending = 0;
	return err;
}

static struct hist *window_hist(struct window *win, __u32 model, __u32 stage)
{
	size_t i;

	for (i = 0; i < win->n; i++)
		if (win->v[i].model_id == model && win->v[i].stage_id == stage)
			return win->v[i].h;
	if (array_grow((void **)&win->v, &win->cap, win->n + 1, sizeof(*win->v)))
		return NULL;
	win->v[win->n].h = malloc(sizeof(struct hist));
	if (!win->v[win->n].h)
		return NULL;
	hist_init(win->v[win->n].h);
	win->v[win->n].model_id = model;
	win->v[win->n].stage_id = stage;
	return win->v[win->n++].h;
}

static int add_record(struct aggregate *a, const struct loupe_req_rec *r)
{
	struct trace_request *tr;
	struct window *win;
	__u64 idx;
	__u32 model, stage;
	unsigned int i, nst;
	struct hist *h;

	/* Buffered in the target before we attached, or ended after we
	 * stopped: not in our time range. */
	if (r->end_ns < a->start_ns || r->end_ns < r->begin_ns ||
	    (a->stop_ns && r->end_ns >= a->stop_ns)) {
		a->st.stale++;
		return 0;
	}
	idx = (r->end_ns - a->start_ns) / a->window_ns;
	win = idx <= a->win[0].index ? &a->win[0] : &a->win[1];
	if (idx < a->win[0].index)
		win->late++;
	if (ptr_id(a, r->model, &model))
		return -ENOMEM;

	if (a->npending == REQ_FLUSH_AT) {
		int err = write_pending_requests(a);

		if (err)
			return err;
	}
	if (!a->pending) {
		a->pending = calloc(REQ_FLUSH_AT, sizeof(*a->pending));
		if (!a->pending)
			return -ENOMEM;
	}
	tr = &a->pending[a->npending++];
	memset(tr, 0, sizeof(*tr));
	tr->req_id = r->req_id;
	tr->begin_ns = r->begin_ns;
	tr->end_ns = r->end_ns;
	tr->model_id = model;
	tr->batch = r->batch;
	tr->tid = r->tid;
	tr->status = r->status;
	tr->flags = r->flags;

	win->requests++;
	a->st.requests++;
	if (r->status)
		win->errors++, a->st.errors++;
	/* Latency statistics describe successful requests only. */
	if (!r->status) {
		h = window_hist(win, model, a->request_stage);
		if (!h)
			return -ENOMEM;
		hist_add(h, r->end_ns - r->begin_ns);
	}
	nst = r->nstages < LOUPE_MAX_STAGES ? r->nstages : LOUPE_MAX_STAGES;
	for (i = 0; i < nst && i < LOUPE_TRACE_MAX_STAGES; i++) {
		if (ptr_id(a, r->stages[i].name, &stage))
			return -ENOMEM;
		tr->stages[i].name_id = stage;
		tr->stages[i].start_off_ns = r->stages[i].start_off_ns;
		tr->stages[i].dur_ns = r->stages[i].dur_ns;
		if (r->status)
			continue;
		h = window_hist(win, model, stage);
		if (!h)
			return -ENOMEM;
		hist_add(h, r->stages[i].dur_ns);
	}
	tr->nstages = i;
	return 0;
}

int aggregate_records(struct aggregate *a, const struct loupe_req_rec *v,
		      size_t n)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		err = add_record(a, &v[i]);
		if (err)
			return err;
	}
	return 0;
}

/* Writes win[0] (ending at END_NS) and makes win[1] the open window. */
static int close_window(struct aggregate *a, __u64 end_ns, __u64 dropped)
{
	struct window *win = &a->win[0];
	struct trace_hist_entry *e = NULL;
	struct trace_window tw = { 0 };
	struct hist *req_all = NULL;
	size_t i;
	int err;

	err = write_pending_config(a);
	if (!err)
		err = write_pending_requests(a);
	if (!err && a->hook)
		err = a->hook(a->hook_arg, win->index);
	if (!err)
		err = write_pending_names(a);
	if (err)
		return err;
	if (win->n) {
		e = calloc(win->n, sizeof(*e));
		req_all = malloc(sizeof(*req_all));
		if (!e || !req_all) {
			free(e);
			free(req_all);
			return -ENOMEM;
		}
		hist_init(req_all);
	}
	for (i = 0; i < win->n; i++) {
		e[i].model_id = win->v[i].model_id;
		e[i].stage_id = win->v[i].stage_id;
		e[i].hist = win->v[i].h;
		if (win->v[i].stage_id == a->request_stage)
			hist_merge(req_all, win->v[i].h);
	}
	tw.index = win->index;
	tw.start_ns = a->start_ns + win->index * a->window_ns;
	tw.end_ns = end_ns;
	tw.requests = win->requests;
	tw.errors = win->errors;
	tw.late = win->late;
	tw.dropped = dropped - a->dropped_written;
	tw.nhists = win->n;
	tw.hists = e;
	err = trace_writer_window(a->w, &tw);
	free(e);
	a->st.last_window_requests = win->requests;
	a->st.last_window_p99_ns = req_all ? hist_quantile(req_all, 0.99) : 0;
	free(req_all);
	if (err)
		return err;
	a->dropped_written = dropped;
	a->st.windows++;

	window_release(win);
	a->win[0] = a->win[1];
	memset(&a->win[1], 0, sizeof(a->win[1]));
	a->win[1].index = a->win[0].index + 1;
	return 0;
}

int aggregate_tick(struct aggregate *a, __u64 now_ns, __u64 dropped)
{
	int err;

	while (now_ns >= a->start_ns + (a->win[0].index + 1) * a->window_ns +
				 AGG_GRACE_NS) {
		err = close_window(a, a->start_ns + (a->win[0].index + 1) *
						     a->window_ns,
				   dropped);
		if (err)
			return err;
	}
	return 0;
}

void aggregate_stop(struct aggregate *a, __u64 stop_ns)
{
	a->stop_ns = stop_ns;
}

int aggregate_close(struct aggregate *a, __u64 now_ns, __u64 dropped)
{
	__u64 end;
	int err;

	for (;;) {
		end = a->start_ns + (a->win[0].index + 1) * a->window_ns;
		if (end >= now_ns) {
			/* The last, partial window: written even when it has
			 * no requests, since its CPU samples and counters
			 * (written by the hook) belong to it. */
			err = close_window(a, now_ns, dropped);
			if (!err && a->win[0].requests)
				err = close_window(a, now_ns, dropped);
			if (!err)
				err = write_pending_config(a);
			if (!err)
				err = write_pending_names(a);
			return err;
		}
		err = close_window(a, end, dropped);
		if (err)
			return err;
	}
}

void aggregate_stats(const struct aggregate *a, struct agg_stats *s)
{
	*s = a->st;
}

void aggregate_set_window_hook(struct aggregate *a, agg_window_hook fn,
			       void *arg)
{
	a->hook = fn;
	a->hook_arg = arg;
}

int aggregate_intern(struct aggregate *a, const char *str, __u32 *id)
{
	return intern(a, str, id);
}

int aggregate_ptr_name(struct aggregate *a, __u64 ptr, __u32 *id)
{
	if (!ptr) {
		*id = TRACE_NO_ID;
		return 0;
	}
	return ptr_id(a, ptr, id);
}

int aggregate_add_value(struct aggregate *a, __u32 model, __u32 stage,
			__u64 end_ns, __u64 value)
{
	struct window *win;
	struct hist *h;
	__u64 idx;

	if (end_ns < a->start_ns || (a->stop_ns && end_ns >= a->stop_ns))
		return 0;
	idx = (end_ns - a->start_ns) / a->window_ns;
	win = idx <= a->win[0].index ? &a->win[0] : &a->win[1];
	h = window_hist(win, model, stage);
	if (!h)
		return -ENOMEM;
	hist_add(h, value);
	return 0;
}

int aggregate_write_names(struct aggregate *a)
{
	return write_pending_names(a);
}

struct trace_writer *aggregate_writer(struct aggregate *a)
{
	return a->w;
}

void aggregate_windows(const struct aggregate *a, __u64 *start_ns,
		       __u64 *window_ns)
{
	*start_ns = a->start_ns;
	*window_ns = a->window_ns;
}
