// SPDX-License-Identifier: MIT
/*
 * The analyzer's history and the plumbing around the detectors: windows
 * in, a compact record per window out; findings recomputed from the whole
 * history on demand (cheap: a few numbers per window and model x stage),
 * so a finding can also go away again, which is how a transient shows.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/analyze_int.h"
#include "analyzer/array.h"
#include "analyzer/rules.h"
#include "analyzer/trend.h"

static const char *const kind_names[FK_N] = {
	[FK_SLO_VIOLATION] = "slo_violation",
	[FK_LATENCY_SPIKE] = "latency_spike",
	[FK_PERIODIC_STALL] = "periodic_stall",
	[FK_CHANGE_POINT] = "change_point",
	[FK_MEMORY_LEAK] = "memory_leak",
	[FK_RSS_GROWTH] = "rss_growth",
	[FK_LOCK_CONTENTION] = "lock_contention",
	[FK_OVERSUBSCRIPTION] = "oversubscription",
	[FK_ALLOCATOR_PRESSURE] = "allocator_pressure",
	[FK_PAGE_FAULT_CHURN] = "page_fault_churn",
	[FK_QUEUEING] = "queueing",
	[FK_OVERSIZED_BATCH] = "oversized_batch",
	[FK_HOT_FUNCTION] = "hot_function",
};

const char *finding_kind_name(enum finding_kind k)
{
	return k < FK_N ? kind_names[k] : "?";
}

const char *severity_name(enum severity s)
{
	return s == SEV_CRITICAL ? "critical" : s == SEV_WARNING ? "warning" : "info";
}

/* ---- options: SLO and --config ---- */

/* "25ms" -> ns; 0 on a malformed value. */
static __u64 parse_duration_ns(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || !(v > 0))
		return 0;
	if (!strcmp(end, "ns"))
		return (__u64)v;
	if (!strcmp(end, "us"))
		return (__u64)(v * 1e3);
	if (!strcmp(end, "ms") || !*end)
		return (__u64)(v * 1e6);
	if (!strcmp(end, "s"))
		return (__u64)(v * 1e9);
	return 0;
}

/* "p99=25ms" or "MODEL:p99=25ms", comma-separated. */
static int parse_slo(struct analyzer *a, const char *spec, char *err,
		     size_t errlen)
{
	char *copy = strdup(spec), *item, *save = NULL, *model, *q;
	__u64 ns;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item && !rc;
	     item = strtok_r(NULL, ",", &save)) {
		model = NULL;
		q = strchr(item, ':');
		if (q) {
			*q = '\0';
			model = item;
			item = q + 1;
		}
		if (strncmp(item, "p99=", 4) ||
		    !(ns = parse_duration_ns(item + 4))) {
			snprintf(err, errlen,
				 "--slo: '%s': want p99=DURATION or MODEL:p99=DURATION (e.g. p99=25ms)",
				 item);
			rc = -EINVAL;
		} else if (!model) {
			a->slo_p99_ns = ns;
		} else if (a->nslo_models < sizeof(a->slo_models) / sizeof(a->slo_models[0])) {
			snprintf(a->slo_models[a->nslo_models].model,
				 sizeof(a->slo_models[0].model), "%s", model);
			a->slo_models[a->nslo_models++].p99_ns = ns;
		}
	}
	free(copy);
	return rc;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* key = value lines, '#' comments: the ranker's format, and most. */
static int load_overrides(struct analyzer *a, const char *path, char *err,
			  size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[512], *eq, *k, *v, *hash;
	size_t cap = 0, cap2 = 0;
	int lineno = 0;

	if (!f) {
		snprintf(err, errlen, "--config: open %s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		k = trim(line);
		if (!*k)
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			snprintf(err, errlen, "--config: %s:%d: want key = value", path, lineno);
			fclose(f);
			return -EINVAL;
		}
		*eq = '\0';
		v = trim(eq + 1);
		k = trim(k);
		if (array_grow((void **)&a->override_keys, &cap, a->noverrides + 1, sizeof(char *)) ||
		    array_grow((void **)&a->override_values, &cap2, a->noverrides + 1, sizeof(char *))) {
			fclose(f);
			return -ENOMEM;
		}
		a->override_keys[a->noverrides] = strdup(k);
		a->override_values[a->noverrides++] = strdup(v);
	}
	fclose(f);
	return 0;
}

struct analyzer *analyzer_new(const struct analyzer_opts *o, char *err,
			      size_t errlen)
{
	struct analyzer *a = calloc(1, sizeof(*a));
	const char *dir;
	int rc = 0;

	if (!a)
		return NULL;
	if (o)
		a->o = *o;
	a->request_stage = a->queue_stage = TRACE_NO_ID;
	if (a->o.slo)
		rc = parse_slo(a, a->o.slo, err, errlen);
	if (!rc && a->o.config_path)
		rc = load_overrides(a, a->o.config_path, err, errlen);
	if (!rc) {
		dir = a->o.rules_dir ? a->o.rules_dir : rules_default_dir();
		a->rules = ruleset_load_dir(dir, err, errlen);
		if (!a->rules)
			rc = -errno;
	}
	if (rc) {
		analyzer_free(a);
		errno = -rc;
		return NULL;
	}
	return a;
}

void analyzer_free(struct analyzer *a)
{
	size_t i;

	if (!a)
		return;
	ruleset_free(a->rules);
	for (i = 0; i < a->noverrides; i++) {
		free(a->override_keys[i]);
		free(a->override_values[i]);
	}
	free(a->override_keys);
	free(a->override_values);
	for (i = 0; i < a->nseries; i++) {
		free(a->series[i].mean);
		free(a->series[i].p99);
		free(a->series[i].count);
		free(a->series[i].runq);
	}
	free(a->series);
	free(a->batch);
	free(a->slow);
	free(a->win);
	free(a->found);
	free(a);
}

/* ---- feeding ---- */

static struct an_series *series_of(struct analyzer *a, __u32 model, __u32 stage)
{
	struct an_series *s;
	size_t i;

	for (i = 0; i < a->nseries; i++)
		if (a->series[i].model_id == model && a->series[i].stage_id == stage)
			return &a->series[i];
	if (array_grow((void **)&a->series, &a->series_cap, a->nseries + 1,
		       sizeof(*a->series)))
		return NULL;
	s = &a->series[a->nseries];
	memset(s, 0, sizeof(*s));
	s->model_id = model;
	s->stage_id = stage;
	/* Slots before this series existed read as empty windows. */
	s->mean = calloc(a->win_cap, sizeof(double));
	s->p99 = calloc(a->win_cap, sizeof(double));
	s->count = calloc(a->win_cap, sizeof(double));
	s->runq = calloc(a->win_cap, sizeof(double));
	if (!s->mean || !s->p99 || !s->count || !s->runq) {
		free(s->mean);
		free(s->p99);
		free(s->count);
		free(s->runq);
		return NULL;
	}
	a->nseries++;
	return s;
}

/* Keeps every series as long as the window array. */
static int grow_slots(struct analyzer *a)
{
	size_t old = a->win_cap, i;

	if (array_grow((void **)&a->win, &a->win_cap, a->nwin + 1, sizeof(*a->win)))
		return -ENOMEM;
	if (a->win_cap == old)
		return 0;
	for (i = 0; i < a->nseries; i++) {
		double **cols[] = { &a->series[i].mean, &a->series[i].p99,
				    &a->series[i].count, &a->series[i].runq };
		size_t c;

		for (c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
			double *n = realloc(*cols[c], a->win_cap * sizeof(double));

			if (!n)
				return -ENOMEM;
			*cols[c] = n;
			memset(n + old, 0, (a->win_cap - old) * sizeof(double));
		}
	}
	return 0;
}

static struct an_batch *batch_of(struct analyzer *a, __u32 model)
{
	struct an_batch *b;
	size_t i;

	for (i = 0; i < a->nbatch; i++)
		if (a->batch[i].model_id == model)
			return &a->batch[i];
	if (array_grow((void **)&a->batch, &a->batch_cap, a->nbatch + 1, sizeof(*a->batch)))
		return NULL;
	b = &a->batch[a->nbatch++];
	memset(b, 0, sizeof(*b));
	b->model_id = model;
	for (i = 0; i < AN_BATCH_BUCKETS; i++)
		hist_init(&b->h[i]);
	return b;
}

/*
 * Requests by batch size (for oversized batches) and the very slow ones
 * (for stalls).  The batch range is the announced batch_min..batch_max, or
 * what the warm-up windows saw; fixed after that, so a bucket means the
 * same batch sizes all run long (a request outside lands in an end one).
 */
static int take_requests(struct analyzer *a, const struct window *w,
			 double median_ns, double start_mono)
{
	size_t i, k;
	bool stalled;

	for (i = 0; i < w->nreqs; i++) {
		const struct trace_request *r = &w->reqs[i];
		double lat = (double)(r->end_ns - r->begin_ns), service = lat;
		double staged = 0;
		struct an_batch *b = batch_of(a, r->model_id);
		__u16 k2;

		/* Service time: what the batch size drives, without the wait
		 * in the queue that the load adds on top. */
		for (k2 = 0; k2 < r->nstages && k2 < LOUPE_TRACE_MAX_STAGES; k2++) {
			staged += r->stages[k2].dur_ns;
			if (r->stages[k2].name_id == a->queue_stage)
				service -= r->stages[k2].dur_ns;
		}

		if (!b)
			return -ENOMEM;
		if (!b->hi) {
			b->lo = (__u32)an_config_num(a, "batch_min", r->batch);
			b->hi = (__u32)an_config_num(a, "batch_max", r->batch);
		}
		if (a->nwin < AN_MIN_WARMUP && r->batch < b->lo)
			b->lo = r->batch;
		if (a->nwin < AN_MIN_WARMUP && r->batch > b->hi)
			b->hi = r->batch;
		if (a->nwin >= AN_MIN_WARMUP) {
			k = b->hi > b->lo && r->batch > b->lo ?
				    (size_t)(r->batch - b->lo) * AN_BATCH_BUCKETS /
					    (b->hi - b->lo + 1) : 0;
			hist_add(&b->h[k < AN_BATCH_BUCKETS ? k : AN_BATCH_BUCKETS - 1],
				 (__u64)(service > 0 ? service : 0));
			b->n++;
			b->sx += r->batch;
			b->sy += service / 1e6;
			b->sxx += (double)r->batch * r->batch;
			b->sxy += r->batch * service / 1e6;
			b->syy += service / 1e6 * service / 1e6;
		}
		/*
		 * A stall parks a request between its stages: the time in no
		 * stage at all grows by the stall, however long the queue.
		 * Without stages, a request far slower than the median.
		 */
		stalled = r->nstages ? (lat - staged > 5e6 && lat - staged > 0.2 * lat)
				     : (median_ns > 0 && lat > 8 * median_ns && lat > 10e6);
		if (stalled) {
			if (array_grow((void **)&a->slow, &a->slow_cap, a->nslow + 1,
				       sizeof(*a->slow)))
				return -ENOMEM;
			a->slow[a->nslow].end_s = (r->end_ns - start_mono) / 1e9;
			a->slow[a->nslow++].latency_s =
				(r->nstages ? lat - staged : lat) / 1e9;
		}
	}
	return 0;
}

static void take_samples(struct an_win *s, const struct window *w)
{
	size_t i;

	for (i = 0; i < w->nsamples; i++) {
		const struct trace_sample *x = &w->samples[i];

		if (x->kind == TRACE_SAMPLE_CPU)
			s->cpu_ns += x->value_ns;
		else if (x->kind == TRACE_SAMPLE_OFFCPU_RUNQ)
			s->runq_ns += x->value_ns;
		else if (x->kind == TRACE_SAMPLE_OFFCPU_BLOCKED)
			s->blocked_ns += x->value_ns;
	}
}

int analyzer_feed(struct analyzer *a, const struct window_stream *ws,
		  const struct window *w)
{
	const struct trace_meta *m = window_stream_meta(ws);
	double start = m ? (double)m->start_mono_ns : 0, median = 0;
	struct an_win *s;
	size_t i;

	a->ws = ws;
	if (a->request_stage == TRACE_NO_ID)
		a->request_stage = window_stream_find_name(ws, "request");
	if (a->queue_stage == TRACE_NO_ID)
		a->queue_stage = window_stream_find_name(ws, "queue_wait");
	if (m && m->window_ns)
		a->window_s = m->window_ns / 1e9;
	if (grow_slots(a))
		return -ENOMEM;
	s = &a->win[a->nwin];
	memset(s, 0, sizeof(*s));
	s->index = w->index;
	s->start_s = (w->start_ns - start) / 1e9;
	s->end_s = (w->end_ns - start) / 1e9;
	s->partial = a->window_s > 0 && s->end_s - s->start_s < 0.9 * a->window_s;
	s->requests = w->requests;
	s->errors = w->errors;
	s->dropped = w->dropped;
	s->cum_requests = (a->nwin ? a->win[a->nwin - 1].cum_requests : 0) + w->requests;
	if (w->have_counters) {
		const struct trace_counters *c = &w->counters;

		s->have_ctr = true;
		s->task_clock_ns = c->v[TRACE_CTR_TASK_CLOCK_NS];
		s->ctx_invol = c->v[TRACE_CTR_CTX_INVOLUNTARY];
		s->minflt = c->v[TRACE_CTR_MINOR_FAULTS];
		s->majflt = c->v[TRACE_CTR_MAJOR_FAULTS];
		s->rss = (double)c->v[TRACE_CTR_RSS_ANON] + c->v[TRACE_CTR_RSS_FILE] +
			 c->v[TRACE_CTR_RSS_SHMEM];
	}
	take_samples(s, w);
	/* The recorder keeps only changes; the first announcements of every
	 * key come in the first windows, which are not changes. */
	for (i = 0; a->nwin >= AN_MIN_WARMUP && i < w->nconfig_changes &&
		    !s->config_change[0]; i++)
		if (w->config_changes[i].key[0] != '@')
			snprintf(s->config_change, sizeof(s->config_change), "%s=%s",
				 w->config_changes[i].key, w->config_changes[i].value);

	for (i = 0; i < w->nstages; i++) {
		const struct wstage *st = &w->stages[i];
		struct an_series *se = series_of(a, st->model_id, st->stage_id);

		if (!se)
			return -ENOMEM;
		se->mean[a->nwin] = st->mean_ns;
		se->p99[a->nwin] = (double)st->p99_ns;
		se->count[a->nwin] = (double)st->count;
		se->runq[a->nwin] = 0;
		if (st->stage_id == a->request_stage && st->count &&
		    (!median || st->p50_ns < median))
			median = (double)st->p50_ns;
	}
	/* Run-queue wait per request of each model x stage: tells a stage
	 * that does more work from one that waits more for a CPU. */
	for (i = 0; i < w->nsamples; i++) {
		const struct trace_sample *x = &w->samples[i];
		struct an_series *se;

		if (x->kind != TRACE_SAMPLE_OFFCPU_RUNQ || x->stage_id == TRACE_NO_ID)
			continue;
		se = series_of(a, x->model_id, x->stage_id);
		if (!se)
			return -ENOMEM;
		se->runq[a->nwin] += (double)x->value_ns;
	}
	for (i = 0; i < a->nseries; i++)
		if (a->series[i].count[a->nwin] > 0)
			a->series[i].runq[a->nwin] /= a->series[i].count[a->nwin];
	a->nwin++;
	return take_requests(a, w, median, start);
}

/* ---- helpers for detectors ---- */

void an_judged(const struct analyzer *a, size_t *from, size_t *to)
{
	double *r, med;
	size_t n = a->nwin, i, k = 0;

	*to = n;
	if (*to && a->win[*to - 1].partial)
		(*to)--;
	*from = AN_MIN_WARMUP < *to ? AN_MIN_WARMUP : *to;
	if (*to - *from < 3)
		return;
	/* Warm-up lasts until throughput reaches the level it then keeps:
	 * 80 % of the median of the windows from there on. */
	r = malloc((*to - *from) * sizeof(double));
	if (!r)
		return;
	for (i = *from; i < *to; i++)
		r[k++] = a->win[i].requests;
	med = trend_median(r, k);
	free(r);
	while (*from + 3 < *to && a->win[*from].requests < 0.8 * med)
		(*from)++;
}

size_t analyzer_windows(const struct analyzer *a)
{
	return a->nwin;
}

long analyzer_stable_from(const struct analyzer *a)
{
	size_t from, to;

	an_judged(a, &from, &to);
	return to - from >= 3 ? (long)from : -1;
}

struct finding *an_add(struct analyzer *a, enum finding_kind k,
		       enum severity sev)
{
	struct finding *f;

	if (array_grow((void **)&a->found, &a->found_cap, a->nfound + 1,
		       sizeof(*a->found)))
		return NULL;
	f = &a->found[a->nfound++];
	memset(f, 0, sizeof(*f));
	f->kind = k;
	f->severity = sev;
	return f;
}

void an_span(const struct analyzer *a, struct finding *f, size_t from, size_t to)
{
	if (from >= to || to > a->nwin)
		return;
	f->first_window = a->win[from].index;
	f->last_window = a->win[to - 1].index;
	f->start_s = a->win[from].start_s;
	f->end_s = a->win[to - 1].end_s;
}

void an_title(struct finding *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->title, sizeof(f->title), fmt, ap);
	va_end(ap);
}

void an_evidence(struct finding *f, const char *fmt, ...)
{
	size_t len = strlen(f->evidence);
	va_list ap;

	if (len + 4 >= sizeof(f->evidence))
		return;
	memcpy(f->evidence + len, "  ", 2);
	len += 2;
	va_start(ap, fmt);
	vsnprintf(f->evidence + len, sizeof(f->evidence) - len, fmt, ap);
	va_end(ap);
	len = strlen(f->evidence);
	if (len + 1 < sizeof(f->evidence)) {
		f->evidence[len] = '\n';
		f->evidence[len + 1] = '\0';
	}
}

const char *an_name(const struct analyzer *a, __u32 id)
{
	return a->ws ? window_stream_name(a->ws, id) : "?";
}

static const char *lookup(const struct analyzer *a, const char *key)
{
	size_t i;

	for (i = a->noverrides; i-- > 0;)
		if (!strcmp(a->override_keys[i], key))
			return a->override_values[i];
	return a->ws ? window_stream_config(a->ws, key) : NULL;
}

static const char *rules_lookup(void *arg, const char *key)
{
	return lookup(arg, key);
}

double an_config_num(const struct analyzer *a, const char *key, double dflt)
{
	const char *v = lookup(a, key);
	char *end;
	double d;

	if (!v)
		return dflt;
	d = strtod(v, &end);
	return end != v ? d : dflt;
}

__u64 an_slo_ns(const struct analyzer *a, __u32 model_id)
{
	const char *model = an_name(a, model_id);
	char key[96];
	double ms;
	size_t i;

	for (i = 0; i < a->nslo_models; i++)
		if (!strcmp(a->slo_models[i].model, model))
			return a->slo_models[i].p99_ns;
	if (a->slo_p99_ns)
		return a->slo_p99_ns;
	snprintf(key, sizeof(key), "%s.slo_p99_ms", model);
	ms = an_config_num(a, key, 0);
	if (ms <= 0)
		ms = an_config_num(a, "slo_p99_ms", 0);
	return ms > 0 ? (__u64)(ms * 1e6) : 0;
}

const char *an_frame_function(const struct analyzer *a, __u32 frame)
{
	const struct profile *p = window_stream_dict(a->ws);
	const struct trace_frame *f = frame < p->nframes ? &p->frames[frame] : NULL;

	return f && f->function_id != TRACE_NO_ID ? an_name(a, f->function_id) : "";
}

void an_set_site(const struct analyzer *a, struct finding *f, __u32 frame)
{
	const struct profile *p = window_stream_dict(a->ws);
	const struct trace_frame *fr = frame < p->nframes ? &p->frames[frame] : NULL;
	const char *file, *b;

	if (!fr)
		return;
	snprintf(f->function, sizeof(f->function), "%s", an_frame_function(a, frame));
	if (fr->file_id != TRACE_NO_ID) {
		file = an_name(a, fr->file_id);
		b = strrchr(file, '/');
		snprintf(f->file, sizeof(f->file), "%s", b ? b + 1 : file);
		f->line = fr->line;
	}
}

const char *an_site(const struct finding *f, char *buf, size_t len)
{
	if (f->file[0] && f->line)
		snprintf(buf, len, "%s (%s:%u)", f->function, f->file, f->line);
	else if (f->file[0])
		snprintf(buf, len, "%s (%s)", f->function, f->file);
	else
		snprintf(buf, len, "%s", f->function);
	return buf;
}

/* ---- findings ---- */

static int by_severity(const void *x, const void *y)
{
	const struct finding *a = x, *b = y;

	if (a->severity != b->severity)
		return (int)b->severity - (int)a->severity;
	if (a->transient != b->transient)
		return a->transient - b->transient;
	if (a->kind != b->kind)
		return (int)a->kind - (int)b->kind;
	return (a->start_s > b->start_s) - (a->start_s < b->start_s);
}

size_t analyzer_findings(struct analyzer *a, const struct finding **v)
{
	size_t i;

	a->nfound = 0;
	if (a->ws && a->nwin) {
		detect_latency(a);
		detect_stalls(a);
		detect_cpu(a);
		detect_memory(a);
		/* Last: a batch is not the cause of a tail that a lock or
		 * the run queue already explains. */
		detect_queueing(a);
	}
	if (a->nfound)
		qsort(a->found, a->nfound, sizeof(*a->found), by_severity);
	for (i = 0; i < a->nfound && a->rules; i++)
		ruleset_apply(a->rules, &a->found[i], rules_lookup, a);
	*v = a->found;
	return a->nfound;
}
