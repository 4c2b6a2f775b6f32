// SPDX-License-Identifier: MIT
/* The window stream: what belongs to which window, and following a file
 * that is still being written. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "analyzer/window.h"
#include "synth_trace.h"

static char path[64];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/loupe-test-window-%d.lpt", getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static struct trace_request req_ending(__u64 end_ns, __u64 id)
{
	struct trace_request r = { 0 };

	r.req_id = id;
	r.begin_ns = end_ns - 1000000;
	r.end_ns = end_ns;
	r.model_id = SYN_MODEL_A;
	r.batch = 64;
	return r;
}

/* Window 0: two requests, a config change, a sample, counters. */
static void write_window0(struct synth *s)
{
	struct trace_config cfg = { synth_window_start(0) + 10, "workers", "16" };
	struct trace_request r[3] = {
		req_ending(synth_window_start(0) + 100, 1),
		req_ending(synth_window_start(0) + 200, 2),
		req_ending(synth_window_start(1) + 300, 3), /* window 1's */
	};
	__u32 frames_of_stack[1] = { 0 };
	struct trace_frame fr = { 0, SYN_EMBED, TRACE_NO_ID, 0, TRACE_NO_ID, 0, 0 };
	struct trace_stack st = { 0, 1, frames_of_stack };
	struct trace_sample smp = { 0, 0, SYN_MODEL_A, SYN_EMBED, TRACE_SAMPLE_CPU,
				    5, 50000000 };
	struct trace_counters c = { .window = 0, .present = 1 };

	c.v[TRACE_CTR_TASK_CLOCK_NS] = 900000000;
	assert_int_equal(trace_writer_config(s->w, &cfg, 1), 0);
	assert_int_equal(trace_writer_requests(s->w, r, 3), 0);
	assert_int_equal(trace_writer_frames(s->w, &fr, 1), 0);
	assert_int_equal(trace_writer_stacks(s->w, &st, 1), 0);
	assert_int_equal(trace_writer_samples(s->w, &smp, 1), 0);
	assert_int_equal(trace_writer_counters(s->w, &c), 0);
	synth_add(s, SYN_MODEL_A, SYN_REQUEST, 2000000, 2);
	synth_add(s, SYN_MODEL_A, SYN_EMBED, 1000000, 2);
	assert_int_equal(synth_close_window(s, 0), 0);
}

static void write_window1_and_end(struct synth *s)
{
	struct trace_end e = { synth_window_start(2), 3, 2, 0, TRACE_END_SIGNAL, -1 };

	synth_add(s, SYN_MODEL_A, SYN_REQUEST, 4000000, 1);
	assert_int_equal(synth_close_window(s, 1), 0);
	assert_int_equal(trace_writer_end(s->w, &e), 0);
}

static void check_window0(const struct window *w)
{
	size_t i;

	assert_int_equal(w->index, 0);
	assert_int_equal(w->requests, 2);
	assert_int_equal(w->nreqs, 2);
	assert_int_equal(w->nsamples, 1);
	assert_int_equal(w->samples[0].count, 5);
	assert_true(w->have_counters);
	assert_int_equal(w->counters.v[TRACE_CTR_TASK_CLOCK_NS], 900000000);
	assert_int_equal(w->nconfig_changes, 1);
	assert_string_equal(w->config_changes[0].key, "workers");
	assert_int_equal(w->nstages, 2);
	for (i = 0; i < w->nstages; i++) {
		if (w->stages[i].stage_id != SYN_REQUEST)
			continue;
		assert_int_equal(w->stages[i].count, 2);
		assert_true(w->stages[i].p50_ns > 1700000 &&
			    w->stages[i].p50_ns < 2300000);
	}
}

static void test_windows_in_order(void **state)
{
	struct synth s = { 0 };
	struct window_stream *ws;
	const struct window *w;

	(void)state;
	s.w = synth_open(path, 2);
	assert_non_null(s.w);
	write_window0(&s);
	write_window1_and_end(&s);
	assert_int_equal(trace_writer_close(s.w), 0);

	ws = window_stream_open(path);
	assert_non_null(ws);
	assert_int_equal(window_stream_next(ws, &w), 1);
	check_window0(w);
	assert_string_equal(window_stream_name(ws, SYN_MODEL_A), "ctr_small");
	assert_string_equal(window_stream_config(ws, "workers"), "16");
	assert_int_equal(window_stream_find_name(ws, "top_mlp"), SYN_TOP);
	assert_int_equal(window_stream_find_name(ws, "nope"), TRACE_NO_ID);
	assert_int_equal(window_stream_dict(ws)->stacks[0].nframes, 1);
	assert_int_equal(window_stream_next(ws, &w), 1);
	assert_int_equal(w->index, 1);
	assert_int_equal(w->nreqs, 1); /* the one that ended after window 0 */
	assert_int_equal(w->nsamples, 0);
	assert_false(w->have_counters);
	assert_int_equal(w->nconfig_changes, 0);
	assert_int_equal(window_stream_next(ws, &w), 0);
	assert_non_null(window_stream_end(ws));
	assert_int_equal(window_stream_meta(ws)->ncpus, 2);
	window_stream_close(ws);
}

/* A live recording: the reader waits at the end instead of calling the
 * unfinished file damaged, and picks up what is appended. */
static void test_follow_growing_file(void **state)
{
	struct synth s = { 0 };
	struct window_stream *ws;
	const struct window *w;
	struct trace_reader_stats st;

	(void)state;
	s.w = synth_open(path, 2);
	assert_non_null(s.w);
	write_window0(&s);

	ws = window_stream_open(path);
	assert_non_null(ws);
	window_stream_follow(ws, true);
	assert_int_equal(window_stream_next(ws, &w), 1);
	check_window0(w);
	assert_int_equal(window_stream_next(ws, &w), -EAGAIN);
	assert_int_equal(window_stream_next(ws, &w), -EAGAIN);

	write_window1_and_end(&s);
	assert_int_equal(trace_writer_close(s.w), 0);
	assert_int_equal(window_stream_next(ws, &w), 1);
	assert_int_equal(w->index, 1);
	assert_int_equal(window_stream_next(ws, &w), 0);
	window_stream_stats(ws, &st);
	assert_int_equal(st.chunks_bad, 0);
	assert_null(window_stream_damage(ws));
	window_stream_close(ws);
}

/* A chunk half-written at the end: in follow mode it is in flight, not
 * damage; read whole once the rest arrives. */
static void test_follow_partial_chunk(void **state)
{
	struct synth s = { 0 };
	struct window_stream *ws;
	const struct window *w;
	char *buf;
	long size;
	FILE *f;

	(void)state;
	s.w = synth_open(path, 2);
	assert_non_null(s.w);
	write_window0(&s);
	write_window1_and_end(&s);
	assert_int_equal(trace_writer_close(s.w), 0);

	f = fopen(path, "r+");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	buf = malloc(size);
	fseek(f, 0, SEEK_SET);
	assert_int_equal(fread(buf, 1, size, f), size);
	assert_int_equal(ftruncate(fileno(f), size - 7), 0);

	ws = window_stream_open(path);
	assert_non_null(ws);
	window_stream_follow(ws, true);
	assert_int_equal(window_stream_next(ws, &w), 1);
	assert_int_equal(window_stream_next(ws, &w), 1);
	assert_int_equal(window_stream_next(ws, &w), -EAGAIN);
	assert_null(window_stream_damage(ws));

	fseek(f, size - 7, SEEK_SET);
	assert_int_equal(fwrite(buf + size - 7, 1, 7, f), 7);
	fflush(f);
	assert_int_equal(window_stream_next(ws, &w), 0);
	assert_non_null(window_stream_end(ws));
	window_stream_close(ws);
	fclose(f);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_windows_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_growing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_partial_chunk, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
