// SPDX-License-Identifier: MIT
/*
 * Windowing and trace output of the collector's aggregation, on synthetic
 * records, read back through the real reader (analyzer/summary.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/types.h>
#include <loupe/probe_abi.h>
#include "analyzer/summary.h"
#include "collector/aggregate.h"

#define START 1000000000ull
#define WIN 100000000ull	/* 100 ms */
#define MODEL_PTR 0x1000
#define STAGE_PTR 0x2000
#define UNKNOWN_PTR 0x3000

static char path[64];

static int no_resolve(void *arg, __u64 ptr, char *buf, size_t len)
{
	(void)arg; (void)ptr; (void)buf; (void)len;
	return -1;
}

static struct loupe_req_rec rec(__u64 id, __u64 begin, __u64 end, int status)
{
	struct loupe_req_rec r;

	memset(&r, 0, sizeof(r));
	r.req_id = id;
	r.model = MODEL_PTR;
	r.begin_ns = begin;
	r.end_ns = end;
	r.batch = 8;
	r.status = status;
	r.nstages = 1;
	r.stages[0].name = STAGE_PTR;
	r.stages[0].dur_ns = (end - begin) / 2;
	return r;
}

static const struct summary_entry *entry(const struct trace_summary *s,
					 const char *model, const char *stage)
{
	size_t i;

	for (i = 0; i < s->nentries; i++)
		if (!strcmp(summary_name(s, s->entries[i].model_id), model) &&
		    !strcmp(summary_name(s, s->entries[i].stage_id), stage))
			return &s->entries[i];
	return NULL;
}

static void test_windows_late_stale_errors(void **state)
{
	struct trace_writer *w;
	struct aggregate *a;
	struct loupe_req_rec r[6];
	struct agg_stats st;
	struct trace_summary s;
	const struct summary_entry *e;

	(void)state;
	w = trace_writer_new(path);
	assert_non_null(w);
	a = aggregate_new(w, START, WIN, no_resolve, NULL);
	assert_non_null(a);
	assert_int_equal(aggregate_name(a, MODEL_PTR, "m1"), 0);
	assert_int_equal(aggregate_name(a, STAGE_PTR, "st"), 0);
	assert_int_equal(aggregate_config(a, START, "workers", "2"), 0);
	assert_int_equal(aggregate_config(a, START, "workers", "2"), 0);
	assert_int_equal(aggregate_model(a, START, "m1"), 0);

	r[0] = rec(1, START + 1000, START + 2000000, 0);	 /* window 0 */
	r[1] = rec(2, START + 1000, START + 4000000, 0);
	r[2] = rec(3, START + 1000, START + 8000000, 0);
	r[3] = rec(4, START + 1000, START + 9000000, -1);	 /* error */
	r[4] = rec(5, START + WIN, START + WIN + 1000000, 0);	 /* window 1 */
	r[5] = rec(6, START - 5000000, START - 1000, 0);	 /* before start */
	assert_int_equal(aggregate_records(a, r, 6), 0);

	/* Before the grace period nothing is written. */
	assert_int_equal(aggregate_tick(a, START + WIN + AGG_GRACE_NS - 1, 0), 0);
	aggregate_stats(a, &st);
	assert_int_equal(st.windows, 0);
	assert_int_equal(aggregate_tick(a, START + WIN + AGG_GRACE_NS, 3), 0);
	aggregate_stats(a, &st);
	assert_int_equal(st.windows, 1);
	assert_int_equal(st.last_window_requests, 4);
	assert_int_equal(st.stale, 1);

	/* A record for window 0 after it was written: late, into window 1. */
	r[0] = rec(7, START + 1000, START + 3000000, 0);
	r[0].model = UNKNOWN_PTR;
	assert_int_equal(aggregate_records(a, r, 1), 0);
	assert_int_equal(aggregate_config(a, START, "workers", "4"), 0);
	assert_int_equal(aggregate_close(a, START + WIN + WIN / 2, 5), 0);
	aggregate_free(a);
	assert_int_equal(trace_writer_close(w), 0);

	assert_int_equal(summary_load(path, &s), 0);
	assert_int_equal(s.nwindows, 2);
	assert_int_equal(s.windows[0].requests, 4);
	assert_int_equal(s.windows[0].errors, 1);
	assert_int_equal(s.windows[0].dropped, 3);
	assert_int_equal(s.windows[1].requests, 2);
	assert_int_equal(s.windows[1].late, 1);
	assert_int_equal(s.windows[1].dropped, 2);
	assert_int_equal(s.windows[1].end_ns, START + WIN + WIN / 2);
	/* Window 0's latency: 2, 4 and 8 ms requests (the error is out). */
	assert_int_equal(s.windows[0].max_ns, 8000000 - 1000);
	assert_in_range(s.windows[0].p50_ns, 3800000, 4200000);
	assert_in_range(s.windows[0].p99_ns, 7600000, 8000000);
	/* Window 1: a 1 ms request and the late 3 ms one. */
	assert_int_equal(s.windows[1].max_ns, 3000000 - 1000);
	assert_int_equal(s.requests, 6);
	assert_int_equal(s.errors, 1);

	e = entry(&s, "m1", "request");
	assert_non_null(e);
	assert_int_equal(e->h.count, 4);	/* errors stay out */
	assert_int_equal(entry(&s, "m1", "st")->h.count, 4);
	/* The late record's unknown model pointer got a placeholder name. */
	e = entry(&s, "0x3000", "request");
	assert_non_null(e);
	assert_int_equal(e->h.count, 1);
	/* Config: repeated announcement once, the change kept. */
	assert_int_equal(s.nconfig, 2);
	assert_string_equal(s.config[0].key, "workers");
	assert_string_equal(s.config[0].value, "4");
	assert_string_equal(s.config[1].key, "@model.m1");
	summary_release(&s);
}

static void test_idle_windows_are_written(void **state)
{
	struct trace_writer *w;
	struct aggregate *a;
	struct trace_summary s;

	(void)state;
	w = trace_writer_new(path);
	a = aggregate_new(w, START, WIN, no_resolve, NULL);
	assert_non_null(a);
	/* Five quiet windows: throughput 0 is data too. */
	assert_int_equal(aggregate_tick(a, START + 5 * WIN + AGG_GRACE_NS, 0), 0);
	assert_int_equal(aggregate_close(a, START + 5 * WIN + AGG_GRACE_NS, 0), 0);
	aggregate_free(a);
	assert_int_equal(trace_writer_close(w), 0);
	assert_int_equal(summary_load(path, &s), 0);
	assert_true(s.nwindows >= 5);
	assert_int_equal(s.requests, 0);
	summary_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_windows_late_stale_errors),
		cmocka_unit_test(test_idle_windows_are_written),
	};
	int ret;

	snprintf(path, sizeof(path), "/tmp/loupe-test-agg-%d.lpt", (int)getpid());
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	return ret;
}
