// SPDX-License-Identifier: MIT
/*
 * The analyzer's detectors on synthetic window streams: real trace files
 * written with the real writer (synth_trace.h) and read back through the
 * window stream, each with a case that must find and one that must not.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "analyzer/analyze.h"
#include "synth_trace.h"

#define NWIN 20
#define MS 1000000ull

/* Extra names the stacks use, after synth_names. */
enum { N_LOCK_WAIT = SYN_NNAMES, N_LOCK_HOLD, N_WORKER, N_MALLOC, N_CHURN,
       N_LEAKER, N_FILE, N_NAMES_END };
static const char *const extra_names[] = {
	"__GI___lll_lock_wait", "faults_lock_hold", "worker_main", "_int_malloc",
	"alloc_churn_candidate", "leak_request_context", "faults.c",
};

static char path[64], rules_dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/loupe-test-analyze-%d.lpt", getpid());
	snprintf(rules_dir, sizeof(rules_dir), "/tmp/loupe-test-rules-%d", getpid());
	mkdir(rules_dir, 0700);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(rules_dir);
	return 0;
}

/* A few percent of window-to-window noise, deterministic. */
static __u64 jitter(__u64 v, int i)
{
	return v + v * (__u64)((i * 7) % 5) / 50;
}

static struct synth *begin(const char *cfg_key, const char *cfg_value)
{
	static struct synth s;
	struct trace_name n[N_NAMES_END - SYN_NNAMES];
	struct trace_config c[3] = {
		{ SYNTH_START_NS, "@machine.cores", "2" },
		{ SYNTH_START_NS, "slo_p99_ms", "25" },
		{ SYNTH_START_NS, cfg_key, cfg_value },
	};
	unsigned int i;

	memset(&s, 0, sizeof(s));
	s.w = synth_open(path, 2);
	assert_non_null(s.w);
	for (i = 0; i < N_NAMES_END - SYN_NNAMES; i++)
		n[i] = (struct trace_name){ SYN_NNAMES + i, extra_names[i] };
	assert_int_equal(trace_writer_names(s.w, n, N_NAMES_END - SYN_NNAMES), 0);
	assert_int_equal(trace_writer_config(s.w, c, cfg_key ? 3 : 2), 0);
	return &s;
}

/* One healthy window: 100 requests of ~2 ms, 1 ms of embedding each. */
static void healthy(struct synth *s, int i, __u64 top_ns)
{
	synth_add(s, SYN_MODEL_A, SYN_REQUEST, jitter(2 * MS, i), 100);
	synth_add(s, SYN_MODEL_A, SYN_QUEUE, jitter(MS / 10, i), 100);
	synth_add(s, SYN_MODEL_A, SYN_EMBED, jitter(MS, i), 100);
	synth_add(s, SYN_MODEL_A, SYN_TOP, jitter(top_ns, i), 100);
}

static void counters(struct synth *s, int i, __u64 task_clock, __u64 rss)
{
	struct trace_counters c = { .window = (__u64)i, .present = ~0u };

	c.v[TRACE_CTR_TASK_CLOCK_NS] = task_clock;
	c.v[TRACE_CTR_RSS_ANON] = rss;
	assert_int_equal(trace_writer_counters(s->w, &c), 0);
}

struct result {
	const struct finding *v;
	size_t n;
	struct analyzer *an;
	struct window_stream *ws;
};

static void analyze(struct result *r, const char *slo)
{
	struct analyzer_opts o = { .slo = slo, .rules_dir = rules_dir };
	const struct window *w;
	char err[200];
	int rc;

	r->an = analyzer_new(&o, err, sizeof(err));
	assert_non_null(r->an);
	r->ws = window_stream_open(path);
	assert_non_null(r->ws);
	while ((rc = window_stream_next(r->ws, &w)) == 1)
		assert_int_equal(analyzer_feed(r->an, r->ws, w), 0);
	assert_int_equal(rc, 0);
	r->n = analyzer_findings(r->an, &r->v);
}

static void done(struct result *r)
{
	analyzer_free(r->an);
	window_stream_close(r->ws);
}

static void finish(struct synth *s)
{
	assert_int_equal(trace_writer_close(s->w), 0);
}

/* The first finding of KIND at warning level or worse, or NULL. */
static const struct finding *serious(const struct result *r, enum finding_kind k)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->v[i].kind == k && r->v[i].severity >= SEV_WARNING)
			return &r->v[i];
	return NULL;
}

static size_t count_serious(const struct result *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		n += r->v[i].severity >= SEV_WARNING;
	return n;
}

static void test_clean_run_has_no_warnings(void **state)
{
	struct synth *s = begin("workers", "2");
	struct result r;
	int i;

	(void)state;
	for (i = 0; i < NWIN; i++) {
		healthy(s, i, MS / 5);
		counters(s, i, 600 * MS, 400ull << 20);
		assert_int_equal(synth_close_window(s, i), 0);
	}
	finish(s);
	analyze(&r, NULL);
	assert_int_equal(count_serious(&r), 0);
	assert_int_equal(analyzer_windows(r.an), NWIN);
	assert_int_equal(analyzer_stable_from(r.an), 2);
	done(&r);
}

static void test_warmup_is_not_judged(void **state)
{
	struct synth *s = begin(NULL, NULL);
	struct result r;
	int i;

	(void)state;
	for (i = 0; i < NWIN; i++) {
		/* Slow, thin start-up windows, then the steady state. */
		if (i < 5)
			synth_add(s, SYN_MODEL_A, SYN_REQUEST, 30 * MS, 10);
		else
			healthy(s, i, MS / 5);
		assert_int_equal(synth_close_window(s, i), 0);
	}
	finish(s);
	analyze(&r, NULL);
	assert_int_equal(analyzer_stable_from(r.an), 5);
	assert_null(serious(&r, FK_SLO_VIOLATION));
	assert_null(serious(&r, FK_CHANGE_POINT));
	done(&r);
}

static void test_change_point_in_a_stage(void **state)
{
	struct synth *s = begin("fault_slow_stage", "none");
	struct trace_config sw = { synth_window_start(10) + 5, "fault_slow_stage", "top_mlp" };
	const struct finding *f;
	struct result r;
	int i;

	(void)state;
	for (i = 0; i < NWIN; i++) {
		if (i == 10)
			assert_int_equal(trace_writer_config(s->w, &sw, 1), 0);
		healthy(s, i, i < 10 ? MS / 5 : MS / 2);
		assert_int_equal(synth_close_window(s, i), 0);
	}
	finish(s);
	analyze(&r, NULL);
	f = serious(&r, FK_CHANGE_POINT);
	assert_non_null(f);
	assert_string_equal(f->stage, "top_mlp");
	assert_int_equal(f->first_window, 10);
	assert_false(f->transient);
	assert_true(f->value > 2 * f->reference);
	assert_non_null(strstr(f->evidence, "fault_slow_stage=top_mlp"));
	done(&r);
}

/* Ten minutes of windows: judged on block means, the step still found at
 * about its time. */
static void test_change_point_long_run(void **state)
{
	struct synth *s = begin(NULL, NULL);
	const struct finding *f;
	struct result r;
	int i;

	(void)state;
	for (i = 0; i < 600; i++) {
		healthy(s, i, i < 300 ? MS / 5 : MS / 2);
		assert_int_equal(synth_close_window(s, i), 0);
	}
	finish(s);
	analyze(&r, NULL);
	f = serious(&r, FK_CHANGE_POINT);
	assert_non_null(f);
	assert_string_equal(f->stage, "top_mlp");
	assert_true(f->first_window >= 297 && f->first_window <= 303);
	done(&r);
}

static void test_transient_change_is_not_a_regression(void **state)
{
	struct synth *s = begin(NULL, NULL);
	struct result r;
	size_t i, transient = 0;

	(void)state;
	for (i = 0; i < NWIN; i++) {
		healthy(s, (int)i, i >= 8 && i < 15 ? MS / 2 : MS / 5);
		assert_int_equal(synth_close_window(s, i), 0);
	}
	finish(s);
	analyze(&r, NULL);
	assert_null(serious(&r, FK_CHANGE_POINT));
	for (i = 0; i < r.n; i++)
		transient += r.v[i].kind == FK_CHANGE_POINT && r.v[i].transient;
	assert_true(transient >= 1);
	done(&r);
}

static void test_slo(void **state)
{
	struct synth *s = begin(NULL, NULL);
	const struct finding *f;
	struct result r;
	int i;

	(void)state;
	for (i = 0; i < NWIN; i++) {
		synth_add(s, SYN_MODEL_A, SYN_REQUEST, jitter(40 * MS, i), 100);
		assert_int_equal(synth_close_window(s, i), 0);
	}
	finish(s);
	analyze(&r, NULL);	/* the announced slo_p99_ms = 25 */
	f = serious(&r, FK_SLO_VIOLATION);
	assert_non_null(f);
	assert_string_equal(f->model, "ctr_small");
	assert_true(f->reference == 25e6);
	done(&r);
	analyze(&r, "ctr_small:p99=100ms");
	assert_null(serious(&r, FK_SLO_VIOLATION));
	done(&r);
}

static void test_bad_slo_spec(void **state)
{
	struct analyzer_opts o = { .slo = "p42=banana", .rules_dir = rules_dir };
	char err[200] = "";

	(void)state;
	assert_null(analyzer_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "--slo"));
}

/* Every window, one request 60 ms slow at the same phase: a stall. */
static void write_requests(struct synth *s, int i, bool stall)
{
	struct trace_request r[40];
	int k;

	memset(r, 0, sizeof(r));
	for (k = 0; k < 40; k++) {
		r[k].model_id = SYN_MODEL_A;
		r[k].batch = 64;
		r[k].end_ns = synth_window_start(i) + (__u64)k * 24 * MS + MS;
		r[k].begin_ns = r[k].end_ns - 2 * MS;
	}
	if (stall)
		r[20].begin_ns = r[20].end_ns - 60 * MS;
	assert_int_equal(trace_writer_requests(s->w, r, 40), 0);
}

static void test_periodic_stall(void **state)
{
	const struct finding *f;
	struct synth *s;
	struct result r;
	int i, run;

	(void)state;
	for (run = 0; run < 2; run++) {
		s = begin(NULL, NULL);
		for (i = 0; i < NWIN; i++) {
			write_requests(s, i, run == 0);
			synth_add(s, SYN_MODEL_A, SYN_REQUEST, jitter(2 * MS, i), 40);
			assert_int_equal(synth_close_window(s, i), 0);
		}
		finish(s);
		analyze(&r, NULL);
		f = serious(&r, FK_PERIODIC_STALL);
		if (run == 0) {
			assert_non_null(f);
			assert_true(f->reference > 0.95e9 && f->reference < 1.05e9);
			assert_true(f->value > 50e6);
		} else {
			assert_null(f);
		}
		done(&r);
	}
}

static void test_rss_growth_vs_plateau(void **state)
{
	struct synth *s;
	struct result r;
	int i, run;

	(void)state;
	for (run = 0; run < 2; run++) {
		s = begin(NULL, NULL);
		for (i = 0; i < NWIN; i++) {
			__u64 rss = (400ull << 20) + (run == 0 ? (__u64)i * (4 << 20) :
							 (__u64)(i < 6 ? i : 6) * (4 << 20));

			healthy(s, i, MS / 5);
			counters(s, i, 600 * MS, rss);
			assert_int_equal(synth_close_window(s, i), 0);
		}
		finish(s);
		analyze(&r, NULL);
		if (run == 0)
			assert_non_null(serious(&r, FK_RSS_GROWTH));
		else
			assert_null(serious(&r, FK_RSS_GROWTH));
		done(&r);
	}
}

/* Stacks: 0 = lock wait under faults_lock_hold; 1 = plain work;
 * 2 = malloc under alloc_churn_candidate; 3 = the leaking site. */
static void write_stacks(struct synth *s)
{
	static __u32 f_lock[] = { 0, 1, 2 }, f_work[] = { 3, 2 },
		     f_alloc[] = { 4, 5, 2 }, f_leak[] = { 6, 2 };
	struct trace_frame fr[7] = {
		{ 0, N_LOCK_WAIT, TRACE_NO_ID, 0, TRACE_NO_ID, 0, 0 },
		{ 1, N_LOCK_HOLD, N_FILE, 120, TRACE_NO_ID, 0, 0 },
		{ 2, N_WORKER, TRACE_NO_ID, 0, TRACE_NO_ID, 0, 0 },
		{ 3, SYN_EMBED, TRACE_NO_ID, 0, TRACE_NO_ID, 0, 0 },
		{ 4, N_MALLOC, TRACE_NO_ID, 0, TRACE_NO_ID, 0, 0 },
		{ 5, N_CHURN, N_FILE, 140, TRACE_NO_ID, 0, 0 },
		{ 6, N_LEAKER, N_FILE, 90, TRACE_NO_ID, 0, 0 },
	};
	struct trace_stack st[4] = {
		{ 0, 3, f_lock }, { 1, 2, f_work }, { 2, 3, f_alloc }, { 3, 2, f_leak },
	};

	assert_int_equal(trace_writer_frames(s->w, fr, 7), 0);
	assert_int_equal(trace_writer_stacks(s->w, st, 4), 0);
}

static void sample(struct synth *s, int win, __u32 stack, __u32 stage,
		   enum trace_sample_kind kind, __u64 count, __u64 value)
{
	struct trace_sample x = { (__u64)win, stack, SYN_MODEL_A, stage, kind, count, value };

	assert_int_equal(trace_writer_samples(s->w, &x, 1), 0);
}

static void test_lock_contention(void **state)
{
	const struct finding *f;
	struct synth *s;
	struct result r;
	int i, run;

	(void)state;
	for (run = 0; run < 2; run++) {
		s = begin(NULL, NULL);
		write_stacks(s);
		for (i = 0; i < NWIN; i++) {
			/* 100 requests x 1 ms of embedding; 40 ms (or 2 ms)
			 * of it blocked on the lock. */
			sample(s, i, 0, SYN_EMBED, TRACE_SAMPLE_OFFCPU_BLOCKED, 30,
			       run == 0 ? 40 * MS : 2 * MS);
			sample(s, i, 1, SYN_EMBED, TRACE_SAMPLE_CPU, 10, 60 * MS);
			healthy(s, i, MS / 5);
			assert_int_equal(synth_close_window(s, i), 0);
		}
		finish(s);
		analyze(&r, NULL);
		f = serious(&r, FK_LOCK_CONTENTION);
		if (run == 0) {
			assert_non_null(f);
			assert_string_equal(f->stage, "embedding");
			assert_string_equal(f->function, "faults_lock_hold");
			assert_string_equal(f->file, "faults.c");
			assert_int_equal(f->line, 120);
		} else {
			assert_null(f);
		}
		done(&r);
	}
}

static void test_oversubscription(void **state)
{
	const struct finding *f;
	struct synth *s;
	struct result r;
	int i, run;

	(void)state;
	for (run = 0; run < 2; run++) {
		s = begin("workers", "16");
		write_stacks(s);
		for (i = 0; i < NWIN; i++) {
			sample(s, i, 1, SYN_EMBED, TRACE_SAMPLE_CPU, 100, 800 * MS);
			sample(s, i, 1, SYN_EMBED, TRACE_SAMPLE_OFFCPU_RUNQ, 100,
			       run == 0 ? 700 * MS : 20 * MS);
			healthy(s, i, MS / 5);
			assert_int_equal(synth_close_window(s, i), 0);
		}
		finish(s);
		analyze(&r, NULL);
		f = serious(&r, FK_OVERSUBSCRIPTION);
		if (run == 0) {
			assert_non_null(f);
			assert_true(f->value > 0.4 && f->value < 0.5);
		} else {
			assert_null(f);
		}
		done(&r);
	}
}

static void test_allocator_pressure(void **state)
{
	const struct finding *f;
	struct synth *s;
	struct result r;
	int i, run;

	(void)state;
	for (run = 0; run < 2; run++) {
		s = begin(NULL, NULL);
		write_stacks(s);
		for (i = 0; i < NWIN; i++) {
			sample(s, i, 1, SYN_EMBED, TRACE_SAMPLE_CPU, 70, 700 * MS);
			sample(s, i, 2, SYN_EMBED, TRACE_SAMPLE_CPU, run == 0 ? 30 : 2,
			       30 * MS);
			healthy(s, i, MS / 5);
			assert_int_equal(synth_close_window(s, i), 0);
		}
		finish(s);
		analyze(&r, NULL);
		f = serious(&r, FK_ALLOCATOR_PRESSURE);
		if (run == 0) {
			assert_non_null(f);
			assert_string_equal(f->function, "alloc_churn_candidate");
		} else {
			assert_null(f);
		}
		done(&r);
	}
}

static void test_queueing(void **state)
{
	const struct finding *f;
	struct synth *s;
	struct result r;
	int i, run;

	(void)state;
	for (run = 0; run < 2; run++) {
		s = begin(NULL, NULL);
		for (i = 0; i < NWIN; i++) {
			/* Busy CPUs; queue wait 8 of 10 ms, or 0.1 of 2 ms. */
			synth_add(s, SYN_MODEL_A, SYN_REQUEST, jitter(run == 0 ? 10 * MS : 2 * MS, i), 100);
			synth_add(s, SYN_MODEL_A, SYN_QUEUE, jitter(run == 0 ? 8 * MS : MS / 10, i), 100);
			counters(s, i, 1900 * MS, 400ull << 20);
			assert_int_equal(synth_close_window(s, i), 0);
		}
		finish(s);
		analyze(&r, "p99=1s");
		f = serious(&r, FK_QUEUEING);
		if (run == 0) {
			assert_non_null(f);
			/* 8 ms queued against 1 s SLO less 2 ms of service */
			assert_true(f->value > 7.5e6 && f->value < 9.5e6);
			assert_true(f->reference > 0.99e9 && f->reference < 1e9);
		} else {
			assert_null(f);
		}
		done(&r);
	}
}

/* Requests whose latency is 25 us per candidate: 1024 candidates take
 * 25.6 ms, past the 25 ms SLO, with the CPU mostly idle. */
static void test_oversized_batch(void **state)
{
	struct trace_request q[50];
	const struct finding *f;
	struct synth *s;
	struct result r;
	int i, k, run;

	(void)state;
	for (run = 0; run < 2; run++) {
		s = begin("batch_max", run == 0 ? "2048" : "512");
		for (i = 0; i < NWIN; i++) {
			memset(q, 0, sizeof(q));
			for (k = 0; k < 50; k++) {
				q[k].model_id = SYN_MODEL_A;
				q[k].batch = 64 + (__u32)k * (run == 0 ? 40 : 9);
				q[k].end_ns = synth_window_start(i) + (__u64)k * 10 * MS + MS;
				q[k].begin_ns = q[k].end_ns - q[k].batch * 25000ull;
			}
			assert_int_equal(trace_writer_requests(s->w, q, 50), 0);
			synth_add(s, SYN_MODEL_A, SYN_REQUEST, jitter(20 * MS, i), 50);
			counters(s, i, 200 * MS, 400ull << 20);
			assert_int_equal(synth_close_window(s, i), 0);
		}
		finish(s);
		analyze(&r, NULL);
		f = serious(&r, FK_OVERSIZED_BATCH);
		if (run == 0) {
			assert_non_null(f);
			assert_true(f->value > f->reference);
		} else {
			assert_null(f);
		}
		done(&r);
	}
}

static void test_memory_leak(void **state)
{
	const struct finding *f;
	struct synth *s;
	struct result r;
	int i, run;

	(void)state;
	for (run = 0; run < 2; run++) {
		s = begin(NULL, NULL);
		write_stacks(s);
		for (i = 0; i < NWIN; i++) {
			/* 100 requests x 16 KiB allocated; all freed, or none. */
			sample(s, i, 3, SYN_EMBED, TRACE_SAMPLE_MEM_ALLOC, 25, 1638400);
			if (run == 1)
				sample(s, i, 3, SYN_EMBED, TRACE_SAMPLE_MEM_FREE, 25, 1638400);
			healthy(s, i, MS / 5);
			assert_int_equal(synth_close_window(s, i), 0);
		}
		finish(s);
		analyze(&r, NULL);
		f = serious(&r, FK_MEMORY_LEAK);
		if (run == 0) {
			assert_non_null(f);
			assert_string_equal(f->function, "leak_request_context");
			assert_int_equal(f->line, 90);
			assert_true(f->value > 16000 && f->value < 17000);
		} else {
			assert_null(f);
		}
		done(&r);
	}
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_clean_run_has_no_warnings),
		T(test_warmup_is_not_judged),
		T(test_change_point_in_a_stage),
		T(test_change_point_long_run),
		T(test_transient_change_is_not_a_regression),
		T(test_slo),
		T(test_bad_slo_spec),
		T(test_periodic_stall),
		T(test_rss_growth_vs_plateau),
		T(test_lock_contention),
		T(test_oversubscription),
		T(test_allocator_pressure),
		T(test_queueing),
		T(test_oversized_batch),
		T(test_memory_leak),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
