// SPDX-License-Identifier: MIT
/*
 * Unit tests for analyzer/compare.h on synthetic traces written with the
 * real writer: warm-up and the last window are skipped, runs recorded at
 * the same time are paired window by window, a 10 % slower stage is found
 * with its size and nothing else moves, runs apart are compared as such,
 * and unreadable or mismatched inputs are refused with a clear message.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "analyzer/compare.h"
#include "synth_trace.h"

#define NWIN 24
#define PER_WIN 30

static char path_a[64], path_b[64], path_c[64];

static int setup(void **state)
{
	(void)state;
	snprintf(path_a, sizeof(path_a), "/tmp/loupe-test-cmp-a-%d.lpt", getpid());
	snprintf(path_b, sizeof(path_b), "/tmp/loupe-test-cmp-b-%d.lpt", getpid());
	snprintf(path_c, sizeof(path_c), "/tmp/loupe-test-cmp-c-%d.lpt", getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path_a);
	unlink(path_b);
	unlink(path_c);
	return 0;
}

/*
 * A trace of NWIN windows from START (monotonic ns), PER_WIN requests of
 * ctr_small each: embedding ~1 ms and top_mlp ~200 us per request, top_mlp
 * times TOP_FACTOR; per-request spread +-10 % (the same pattern in every
 * trace), a machine "load" that slows every window by up to 20 % (shared
 * by traces recorded at the same time), and CMDLINE as the target.
 * PREEMPT > 0: top_mlp also waits for a CPU, up to PREEMPT times its work
 * (varying by window, recorded as run-queue time, as loupe record's
 * off-CPU probe does).
 */
static void write_trace_preempted(const char *path, __u64 start,
				  double top_factor, double preempt,
				  const char *cmdline)
{
	struct trace_writer *w = trace_writer_new(path);
	struct trace_meta m = {
		.cmdline = cmdline, .hostname = "test", .loupe_version = "test",
		.mode = "launch", .pid = 42, .ncpus = 2, .start_realtime_ns = 1,
		.start_mono_ns = start, .window_ns = SYNTH_WINDOW_NS,
	};
	struct trace_name names[SYN_NNAMES];
	struct trace_config offcpu = { start, "@offcpu", "1" };
	struct trace_request r[PER_WIN];
	struct synth s = { 0 };
	struct trace_end e;
	unsigned int i, k;

	assert_non_null(w);
	for (i = 0; i < SYN_NNAMES; i++)
		names[i] = (struct trace_name){ i, synth_names[i] };
	assert_int_equal(trace_writer_meta(w, &m), 0);
	assert_int_equal(trace_writer_names(w, names, SYN_NNAMES), 0);
	if (preempt > 0)
		assert_int_equal(trace_writer_config(w, &offcpu, 1), 0);
	s.w = w;
	for (i = 0; i < NWIN; i++) {
		__u64 ws = start + i * SYNTH_WINDOW_NS;
		/* the machine's load, a function of the time: shared */
		double load = 1 + 0.2 * (((ws / SYNTH_WINDOW_NS) * 7919) % 10) / 10.0;
		struct trace_window tw = {
			.index = i, .start_ns = ws, .end_ns = ws + SYNTH_WINDOW_NS,
			.requests = PER_WIN,
		};
		/* run-queue wait inside top_mlp: differs window to window */
		double wait = preempt * ((i * 5) % 7) / 6.0;
		struct trace_sample off = { i, TRACE_NO_ID, SYN_MODEL_A, SYN_TOP,
					    TRACE_SAMPLE_OFFCPU_RUNQ, 0, 0 };

		for (k = 0; k < PER_WIN; k++) {
			double spread = 0.9 + 0.2 * ((k * 37) % PER_WIN) / PER_WIN;
			__u32 emb = (__u32)(1000000 * load * spread);
			__u32 work = (__u32)(200000 * load * spread * top_factor);
			__u32 top = work + (__u32)(work * wait);

			off.count++;
			off.value_ns += top - work;

			memset(&r[k], 0, sizeof(r[k]));
			r[k].req_id = i * PER_WIN + k;
			r[k].end_ns = ws + 1000 + k * (SYNTH_WINDOW_NS / PER_WIN);
			r[k].begin_ns = r[k].end_ns - emb - top - 50000;
			r[k].model_id = SYN_MODEL_A;
			r[k].batch = 100;
			r[k].nstages = 2;
			r[k].stages[0] = (struct trace_stage){ SYN_EMBED, 50000, emb };
			r[k].stages[1] = (struct trace_stage){ SYN_TOP, 50000 + emb, top };
			synth_add(&s, SYN_MODEL_A, SYN_EMBED, emb, 1);
			synth_add(&s, SYN_MODEL_A, SYN_TOP, top, 1);
			synth_add(&s, SYN_MODEL_A, SYN_REQUEST, emb + top + 50000, 1);
		}
		assert_int_equal(trace_writer_requests(w, r, PER_WIN), 0);
		if (preempt > 0)
			assert_int_equal(trace_writer_samples(w, &off, 1), 0);
		tw.nhists = s.n;
		tw.hists = s.e;
		assert_int_equal(trace_writer_window(w, &tw), 0);
		s.n = 0;
		s.requests = 0;
	}
	e = (struct trace_end){ start + NWIN * SYNTH_WINDOW_NS, NWIN * PER_WIN, NWIN,
				0, TRACE_END_TARGET_EXIT, 0 };
	assert_int_equal(trace_writer_end(w, &e), 0);
	assert_int_equal(trace_writer_close(w), 0);
}

static void write_trace(const char *path, __u64 start, double top_factor,
			const char *cmdline)
{
	write_trace_preempted(path, start, top_factor, 0, cmdline);
}

static void load(struct cmp *c, const struct policy *pol, char *a, char *b)
{
	char err[256] = "";

	cmp_init(c, pol);
	assert_int_equal(cmp_load(c, CMP_A, &a, 1, err, sizeof(err)), 0);
	assert_int_equal(cmp_load(c, CMP_B, &b, 1, err, sizeof(err)), 0);
	if (cmp_prepare(c, err, sizeof(err)))
		fail_msg("prepare: %s", err);
}

static struct cmp_result compare(const struct cmp *c, const char *stage,
				 enum cmp_metric m)
{
	const struct cmp_entry *e = cmp_find(c, "ctr_small", stage, m);
	struct cmp_result r;

	assert_non_null(e);
	assert_int_equal(cmp_entry_compare(c, e, &r), 0);
	return r;
}

static void test_side_by_side(void **state)
{
	struct policy pol;
	struct cmp c;
	struct cmp_result r;

	(void)state;
	write_trace(path_a, SYNTH_START_NS, 1.0, "/opt/ranker --qps 30");
	write_trace(path_b, SYNTH_START_NS + 100000000, 1.10, "/build/ranker --qps 30");
	assert_int_equal(policy_init(&pol), 0);
	load(&c, &pol, path_a, path_b);
	assert_true(c.paired);
	assert_int_equal(c.nstrata, 1);
	/* windows 0, 1 are warm-up (2 s), window 23 the cut-short last one */
	assert_int_equal(c.runs[CMP_A][0].windows, NWIN);
	assert_int_equal(c.runs[CMP_A][0].stable, NWIN - 3);
	assert_int_equal(cmp_side_windows(&c, CMP_B), NWIN - 3);
	assert_string_equal(c.runs[CMP_B][0].program, "ranker");

	/* top_mlp: 10 % slower in every pair, despite the 20 % load swings */
	r = compare(&c, "top_mlp", CM_ITEM);
	assert_true(r.tested);
	assert_int_equal(r.pairs, NWIN - 3);
	assert_float_equal(r.st.rel, 0.10, 0.01);
	print_message("top_mlp item: %+.2f%% [%+.2f, %+.2f], p %.2g, factor %.2f\n",
		      100 * r.st.rel, 100 * r.st.ci.lo, 100 * r.st.ci.hi,
		      r.st.mw.p_greater, r.st.var_factor);
	assert_true(r.st.ci.lo > 0.05 && r.st.ci.hi < 0.15);
	assert_true(r.st.mw.p_greater < 1e-4);
	r = compare(&c, "top_mlp", CM_P50);
	assert_true(r.tested);
	assert_float_equal(r.st.rel, 0.10, 0.03);
	assert_true(r.st.mw.p_greater < 1e-4);
	/* embedding did not change */
	r = compare(&c, "embedding", CM_ITEM);
	assert_true(r.tested);
	assert_float_equal(r.st.rel, 0, 0.005);
	assert_true(r.st.mw.p_two > 0.05);
	/* 30 requests a window: a p99 unit merges 4 windows */
	r = compare(&c, "top_mlp", CM_P99);
	assert_int_equal(r.units[0], (NWIN - 3) / 4);
	cmp_release(&c);
	policy_release(&pol);
}

/*
 * "oncpu": the stage's time less its off-CPU time, per batch item.  The
 * candidate's top_mlp waits for a CPU up to 40 % of its work, more in some
 * windows than others: its wall time grows, its time on the CPU does not;
 * and when its work does grow by 3 %, oncpu says +3 % however long it
 * waited.
 */
static void test_oncpu(void **state)
{
	struct policy pol;
	struct cmp c;
	struct cmp_result r;

	(void)state;
	write_trace_preempted(path_a, SYNTH_START_NS, 1.0, 0.01, "ranker");
	write_trace_preempted(path_b, SYNTH_START_NS, 1.0, 0.4, "ranker");
	assert_int_equal(policy_init(&pol), 0);
	load(&c, &pol, path_a, path_b);
	r = compare(&c, "top_mlp", CM_P50);
	assert_true(r.st.rel > 0.1);
	r = compare(&c, "top_mlp", CM_ONCPU);
	assert_true(r.tested);
	assert_float_equal(r.st.rel, 0, 0.002);
	/* 200 us x load x spread per request of 100 items */
	assert_true(r.median[0] > 2000 && r.median[0] < 2500);
	/* no off-CPU time recorded in embedding: oncpu is its whole time */
	r = compare(&c, "embedding", CM_ONCPU);
	assert_float_equal(r.st.rel, 0, 0.002);
	cmp_release(&c);

	write_trace_preempted(path_b, SYNTH_START_NS, 1.03, 0.4, "ranker");
	load(&c, &pol, path_a, path_b);
	r = compare(&c, "top_mlp", CM_ONCPU);
	print_message("top_mlp oncpu, +3%% work, preempted: %+.2f%% [%+.2f, %+.2f], p %.2g\n",
		      100 * r.st.rel, 100 * r.st.ci.lo, 100 * r.st.ci.hi,
		      r.st.mw.p_greater);
	assert_float_equal(r.st.rel, 0.03, 0.003);
	assert_true(r.st.mw.p_greater < 1e-4);
	cmp_release(&c);

	/* a trace without off-CPU recording has no oncpu */
	write_trace(path_b, SYNTH_START_NS, 1.0, "ranker");
	load(&c, &pol, path_b, path_b);
	assert_null(cmp_find(&c, "ctr_small", "top_mlp", CM_ONCPU));
	cmp_release(&c);
	policy_release(&pol);
}

/* The same traces, one started long after the other: apart, and each
 * side's load pattern no longer cancels. */
static void test_apart_and_errors(void **state)
{
	char err[256] = "", *missing = "/nonexistent/x.lpt", *pa = path_a;
	struct policy pol;
	struct cmp c;
	struct cmp_result r;

	(void)state;
	write_trace(path_a, SYNTH_START_NS, 1.0, "ranker --qps 30");
	write_trace(path_b, SYNTH_START_NS + 3600 * SYNTH_WINDOW_NS, 1.0, "ranker");
	assert_int_equal(policy_init(&pol), 0);
	load(&c, &pol, path_a, path_b);
	assert_false(c.paired);
	r = compare(&c, "embedding", CM_ITEM);
	assert_true(r.tested);
	assert_int_equal(r.pairs, 0);
	assert_int_equal(r.st.na, NWIN - 3);
	cmp_release(&c);

	/* a missing file */
	cmp_init(&c, &pol);
	assert_int_equal(cmp_load(&c, CMP_A, &missing, 1, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "open /nonexistent/x.lpt: No such file or directory");
	cmp_release(&c);

	/* another program */
	write_trace(path_c, SYNTH_START_NS, 1.0, "/usr/bin/other-server --port 1");
	cmp_init(&c, &pol);
	assert_int_equal(cmp_load(&c, CMP_A, &pa, 1, err, sizeof(err)), 0);
	pa = path_c;
	assert_int_equal(cmp_load(&c, CMP_B, &pa, 1, err, sizeof(err)), 0);
	assert_int_equal(cmp_prepare(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "workloads differ"));
	assert_non_null(strstr(err, "'other-server'"));
	cmp_release(&c);
	policy_release(&pol);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_side_by_side, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apart_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oncpu, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
