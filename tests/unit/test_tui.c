// SPDX-License-Identifier: MIT
/*
 * loupe top without a terminal or a live process: the config file edit,
 * sparklines, and the model + apply/verify state machine fed synthetic
 * windows (a real trace written by the real writer, read by the real window
 * stream), with SIGHUP sent to ourselves.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "tui/tui.h"
#include "synth_trace.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/loupe-test-tui-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static char *set(const char *in, const char *key, const char *value, int *rc)
{
	char *out = NULL;
	size_t len = 0;

	*rc = config_text_set(in, strlen(in), key, value, &out, &len);
	if (*rc < 0)
		return NULL;
	assert_int_equal(strlen(out), len);
	return out;
}

static void test_config_set_in_place(void **state)
{
	const char *in = "# workers = 4 in a comment stays\n"
			 "queue_depth = 128\n"
			 "  workers\t=  16   # too many\n"
			 "workers_max = 9\n"
			 "model_mix=0.7\n";
	char *out;
	int rc;

	(void)state;
	out = set(in, "workers", "2", &rc);
	assert_int_equal(rc, 1);
	assert_string_equal(out, "# workers = 4 in a comment stays\n"
				 "queue_depth = 128\n"
				 "  workers\t=  2   # too many\n"
				 "workers_max = 9\n"
				 "model_mix=0.7\n");
	free(out);
	out = set(in, "model_mix", "0.5", &rc);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "\nmodel_mix=0.5\n"));
	free(out);
}

static void test_config_set_every_line_and_crlf(void **state)
{
	char *out;
	int rc;

	(void)state;
	out = set("workers = 16\r\nworkers = 8\n", "workers", "2", &rc);
	assert_int_equal(rc, 2);
	assert_string_equal(out, "workers = 2\r\nworkers = 2\n");
	free(out);
	out = set("workers =\n", "workers", "2", &rc);
	assert_string_equal(out, "workers = 2\n");
	free(out);
}

static void test_config_set_appends(void **state)
{
	char *out;
	int rc;

	(void)state;
	out = set("queue_depth = 128", "workers", "2", &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "queue_depth = 128\nworkers = 2\n");
	free(out);
	out = set("", "workers", "2", &rc);
	assert_string_equal(out, "workers = 2\n");
	free(out);
	/* '=' inside a comment is no assignment. */
	out = set("# workers = 4\n", "workers", "2", &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(out, "# workers = 4\nworkers = 2\n");
	free(out);
}

static void test_config_set_refuses(void **state)
{
	int rc;

	(void)state;
	assert_null(set("a = 1\n", "@env.OMP_NUM_THREADS", "2", &rc));
	assert_int_equal(rc, -EINVAL);
	assert_null(set("a = 1\n", "a b", "2", &rc));
	assert_null(set("a = 1\n", "a", "2 # no", &rc));
	assert_null(set("a = 1\n", "a", "2\nb = 3", &rc));
	assert_null(set("a = 1\n", "a", "", &rc));
	assert_null(set("a = 1\n", "", "1", &rc));
}

static void test_config_file_write(void **state)
{
	char path[128], link[128], *buf = NULL;
	struct stat st;
	size_t len;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/r.conf", dir);
	snprintf(link, sizeof(link), "%s/link.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("workers = 16\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(symlink(path, link), 0);
	/* Through the link: the target changes, the link stays a link. */
	assert_int_equal(config_file_write(link, "workers = 2\n", 12), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(config_file_read(path, &buf, &len), 0);
	assert_string_equal(buf, "workers = 2\n");
	free(buf);
	assert_int_equal(config_file_read("/nonexistent/x.conf", &buf, &len), -ENOENT);
	assert_int_equal(config_file_write(dir, "x", 1), -EINVAL);
}

static void test_sparkline(void **state)
{
	double v[] = { 0, 1, 2, 4, 8, -1, 8 };
	char buf[64];

	(void)state;
	assert_int_equal(sparkline(buf, sizeof(buf), v, 7, SPARK_ZERO, false), 7);
	assert_string_equal(buf, "__.-# #");
	assert_int_equal(sparkline(buf, sizeof(buf), v, 7, SPARK_ZERO, true), 7);
	assert_string_equal(buf, "\u2581\u2582\u2583\u2585\u2588 \u2588");
	/* A range: 4 .. 8 spans all levels. */
	assert_int_equal(sparkline(buf, sizeof(buf), v + 3, 2, SPARK_RANGE, true), 2);
	assert_string_equal(buf, "\u2581\u2588");
	/* Flat: the lowest level, not a full bar. */
	assert_int_equal(sparkline(buf, sizeof(buf), v + 4, 1, SPARK_RANGE, false), 1);
	assert_string_equal(buf, "_");
	/* Out of room: whole cells only. */
	assert_int_equal(sparkline(buf, 8, v, 7, SPARK_ZERO, true), 2);
	assert_int_equal(strlen(buf), 6);
}

/* ---- model + apply against a synthetic stream ---- */

struct logbuf {
	char lines[8][512];
	int n;
};

static void log_line(void *arg, const char *line)
{
	struct logbuf *b = arg;

	if (b->n < 8)
		snprintf(b->lines[b->n++], sizeof(b->lines[0]), "%s", line);
}

/* Windows 0..N-1: ctr_small requests at LAT_NS; window RELOAD announces
 * workers=VALUE (the workload re-reading its config). */
static void write_trace(const char *path, int n, __u64 lat_before, __u64 lat_after,
			int apply_at, int reload, const char *value)
{
	struct synth s = { 0 };
	int i;

	s.w = synth_open(path, 2);
	assert_non_null(s.w);
	for (i = 0; i < n; i++) {
		if (i == 0 || i == reload) {
			struct trace_config c = { synth_window_start(i) + 10, "workers",
						  i ? value : "16" };

			assert_int_equal(trace_writer_config(s.w, &c, 1), 0);
		}
		synth_add(&s, SYN_MODEL_A, SYN_REQUEST, i < apply_at ? lat_before : lat_after, 100);
		synth_add(&s, SYN_MODEL_A, SYN_EMBED, 1000000, 100);
		assert_int_equal(synth_close_window(&s, i), 0);
	}
	assert_int_equal(trace_writer_close(s.w), 0);
}

static struct finding oversub_finding(void)
{
	struct finding f = { 0 };

	f.kind = FK_OVERSUBSCRIPTION;
	f.severity = SEV_CRITICAL;
	snprintf(f.model, sizeof(f.model), "ctr_small");
	snprintf(f.stage, sizeof(f.stage), "request");
	snprintf(f.metric, sizeof(f.metric), "p99_ns");
	snprintf(f.title, sizeof(f.title), "too many workers");
	snprintf(f.fixes[0].key, sizeof(f.fixes[0].key), "workers");
	snprintf(f.fixes[0].from, sizeof(f.fixes[0].from), "16");
	snprintf(f.fixes[0].to, sizeof(f.fixes[0].to), "2");
	snprintf(f.fixes[0].rule, sizeof(f.fixes[0].rule), "threads.rules:3");
	f.nfixes = 1;
	return f;
}

/*
 * Feeds windows [0, APPLY_AT) to the model, applies, feeds the rest.
 * Returns the outcome; the config file and log are left to check.
 */
static enum apply_outcome run_apply(const char *trace, const char *conf,
				    int apply_at, struct apply *ap, struct logbuf *log)
{
	struct window_stream *ws = window_stream_open(trace);
	struct finding f = oversub_finding();
	struct tui_model m;
	const struct window *w;
	int rc, i = 0;

	assert_non_null(ws);
	model_init(&m);
	apply_init(ap, log_line, log);
	while ((rc = window_stream_next(ws, &w)) == 1) {
		assert_int_equal(model_feed(&m, ws, w), 0);
		apply_on_window(ap, &m, w);
		if (++i == apply_at) {
			assert_int_equal(apply_prepare(ap, &f, 0, conf, getpid()), 0);
			assert_int_equal(ap->state, AP_CONFIRM);
			assert_int_equal(apply_confirm(ap, &m), 0);
			assert_int_equal(ap->state, AP_WAIT_RELOAD);
		}
	}
	assert_int_equal(rc, 0);
	if (ap->state == AP_DONE && apply_can_rollback(ap)) {
		assert_int_equal(apply_rollback(ap, &m), 0);
		assert_int_equal(ap->state, AP_WAIT_RELOAD);
	}
	model_release(&m);
	window_stream_close(ws);
	return ap->outcome;
}

static void write_conf(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_apply_verify_improved(void **state)
{
	const char *orig = "# test\nworkers = 16   # oversubscribed\nqueue_depth = 128\n";
	char trace[128], conf[128], *buf;
	struct logbuf log = { 0 };
	struct apply ap;
	size_t len;

	(void)state;
	snprintf(trace, sizeof(trace), "%s/improved.lpt", dir);
	snprintf(conf, sizeof(conf), "%s/improved.conf", dir);
	write_conf(conf, orig);
	/* p99 20 ms before the apply at window 6; reload seen in window 7;
	 * 5 ms from then on. */
	write_trace(trace, 14, 20000000, 5000000, 6, 7, "2");
	assert_int_equal(run_apply(trace, conf, 6, &ap, &log), OUT_IMPROVED);
	assert_int_equal(ap.state, AP_DONE);
	assert_int_equal(ap.reload_index, 7);
	assert_true(ap.before > 19e6 && ap.before < 23e6);
	assert_true(ap.after > 4.5e6 && ap.after < 5.8e6);
	assert_int_equal(config_file_read(conf, &buf, &len), 0);
	assert_string_equal(buf, "# test\nworkers = 2   # oversubscribed\nqueue_depth = 128\n");
	free(buf);
	assert_int_equal(log.n, 2);
	assert_non_null(strstr(log.lines[0], "apply workers: 16 -> 2 in "));
	assert_non_null(strstr(log.lines[0], "(rule threads.rules:3)"));
	assert_non_null(strstr(log.lines[1], "verify p99 ctr_small "));
	assert_non_null(strstr(log.lines[1], " improved "));
	assert_non_null(strstr(ap.msg, "improved"));
	apply_release(&ap);
}

static void test_apply_verify_worse_rolls_back(void **state)
{
	const char *orig = "workers = 16\n";
	char trace[128], conf[128], *buf;
	struct logbuf log = { 0 };
	struct apply ap;
	size_t len;

	(void)state;
	snprintf(trace, sizeof(trace), "%s/worse.lpt", dir);
	snprintf(conf, sizeof(conf), "%s/worse.conf", dir);
	write_conf(conf, orig);
	write_trace(trace, 14, 5000000, 20000000, 6, 7, "2");
	assert_int_equal(run_apply(trace, conf, 6, &ap, &log), OUT_WORSE);
	/* run_apply rolled it back: the file is as it was, byte for byte. */
	assert_true(ap.is_rollback);
	assert_int_equal(config_file_read(conf, &buf, &len), 0);
	assert_string_equal(buf, orig);
	free(buf);
	assert_int_equal(log.n, 3);
	assert_non_null(strstr(log.lines[1], " worse "));
	assert_non_null(strstr(log.lines[2], "rollback workers: 2 -> 16"));
	apply_release(&ap);
}

static void test_apply_reload_never_seen(void **state)
{
	char trace[128], conf[128];
	struct logbuf log = { 0 };
	struct apply ap;

	(void)state;
	snprintf(trace, sizeof(trace), "%s/noreload.lpt", dir);
	snprintf(conf, sizeof(conf), "%s/noreload.conf", dir);
	write_conf(conf, "workers = 16\n");
	/* The workload never re-announces workers=2 (a refused reload). */
	write_trace(trace, 20, 20000000, 20000000, 4, -1, "2");
	assert_int_equal(run_apply(trace, conf, 4, &ap, &log), OUT_FAILED);
	assert_non_null(strstr(log.lines[1], "not re-announced"));
	apply_release(&ap);
}

static void test_apply_refuses(void **state)
{
	struct finding f = oversub_finding();
	struct apply ap;
	char conf[128];

	(void)state;
	snprintf(conf, sizeof(conf), "%s/refuse.conf", dir);
	write_conf(conf, "workers = 16\n");
	apply_init(&ap, NULL, NULL);
	assert_int_equal(apply_prepare(&ap, &f, 0, NULL, getpid()), -ENOENT);
	assert_non_null(strstr(ap.msg, "no config_file"));
	assert_int_equal(apply_prepare(&ap, &f, 0, conf, 0), -EINVAL);
	assert_non_null(strstr(ap.msg, "live session"));
	snprintf(f.fixes[0].key, sizeof(f.fixes[0].key), "@env.OMP_NUM_THREADS");
	assert_int_equal(apply_prepare(&ap, &f, 0, conf, getpid()), -EINVAL);
	f.fixes[0].key[0] = 0;
	assert_int_equal(apply_prepare(&ap, &f, 0, conf, getpid()), -EINVAL);
	assert_non_null(strstr(ap.msg, "code change"));
	assert_int_equal(ap.state, AP_IDLE);
}

/* One window: samples in ctr_small/embedding (two leaf functions, and run
 * queue time), queue_wait, and an action line. */
static void test_model_window(void **state)
{
	__u32 f0[1] = { 0 }, f1[2] = { 1, 0 };
	struct trace_frame fr[2] = {
		{ 0, SYN_EMBED, TRACE_NO_ID, 0, TRACE_NO_ID, 0, 0 },
		{ 1, SYN_TOP, TRACE_NO_ID, 0, TRACE_NO_ID, 0, 0 },
	};
	struct trace_stack st[2] = { { 0, 1, f0 }, { 1, 2, f1 } };
	struct trace_sample smp[3] = {
		{ 0, 0, SYN_MODEL_A, SYN_EMBED, TRACE_SAMPLE_CPU, 3, 30000000 },
		{ 0, 1, SYN_MODEL_A, SYN_EMBED, TRACE_SAMPLE_CPU, 1, 10000000 },
		{ 0, 0, SYN_MODEL_A, SYN_EMBED, TRACE_SAMPLE_OFFCPU_RUNQ, 2, 60000000 },
	};
	struct trace_config act = { synth_window_start(0) + 5, "@action", "apply x: 1 -> 2" };
	const struct window *w;
	struct window_stream *ws;
	struct hot_fn hot[4];
	struct synth sy = { 0 };
	struct tui_model m;
	char trace[128];
	__u64 aw;
	double v;

	(void)state;
	snprintf(trace, sizeof(trace), "%s/model.lpt", dir);
	sy.w = synth_open(trace, 2);
	assert_non_null(sy.w);
	assert_int_equal(trace_writer_config(sy.w, &act, 1), 0);
	assert_int_equal(trace_writer_frames(sy.w, fr, 2), 0);
	assert_int_equal(trace_writer_stacks(sy.w, st, 2), 0);
	assert_int_equal(trace_writer_samples(sy.w, smp, 3), 0);
	synth_add(&sy, SYN_MODEL_A, SYN_REQUEST, 4000000, 10);
	synth_add(&sy, SYN_MODEL_A, SYN_QUEUE, 1000000, 10);
	synth_add(&sy, SYN_MODEL_A, SYN_EMBED, 2000000, 10);
	assert_int_equal(synth_close_window(&sy, 0), 0);
	assert_int_equal(trace_writer_close(sy.w), 0);

	ws = window_stream_open(trace);
	assert_non_null(ws);
	model_init(&m);
	assert_int_equal(window_stream_next(ws, &w), 1);
	assert_int_equal(model_feed(&m, ws, w), 0);
	assert_int_equal(m.nmodels, 1);
	/* Self time by leaf frame, most first. */
	assert_int_equal(model_hot(&m, SYN_MODEL_A, SYN_EMBED, hot, 4), 2);
	assert_string_equal(model_frame_name(&m, hot[0].frame_id), "embedding");
	assert_int_equal(hot[0].value_ns, 30000000);
	assert_string_equal(model_frame_name(&m, hot[1].frame_id), "top_mlp");
	/* Run queue of the time threads wanted a CPU: 60 / (40 + 60). */
	assert_true(metric_value(&m, model_snap(&m, 0), "runq_share", "ctr_small", "", &v));
	assert_true(v > 0.599 && v < 0.601);
	/* queue_wait's share of the request time: ~1 ms of ~4 ms. */
	assert_true(metric_value(&m, model_snap(&m, 0), "queue_share", "ctr_small",
				 "queue_wait", &v));
	assert_true(v > 0.2 && v < 0.3);
	assert_true(metric_value(&m, model_snap(&m, 0), "queue_wait_ns", "ctr_small",
				 "queue_wait", &v));
	assert_true(v > 0.9e6 && v < 1.1e6);
	assert_true(metric_value(&m, model_snap(&m, 0), "p99_ns", "ctr_small", "", &v));
	assert_true(v > 4000000 && v < 4500000);
	assert_false(metric_value(&m, model_snap(&m, 0), "p99_ns", "nope", "", &v));
	assert_false(metric_known("cpu_share_of_nothing"));
	assert_string_equal(model_action(&m, 0, &aw), "apply x: 1 -> 2");
	assert_int_equal(aw, 0);
	assert_null(model_action(&m, 1, &aw));
	model_release(&m);
	window_stream_close(ws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_set_in_place),
		cmocka_unit_test(test_config_set_every_line_and_crlf),
		cmocka_unit_test(test_config_set_appends),
		cmocka_unit_test(test_config_set_refuses),
		cmocka_unit_test(test_config_file_write),
		cmocka_unit_test(test_sparkline),
		cmocka_unit_test(test_model_window),
		cmocka_unit_test(test_apply_verify_improved),
		cmocka_unit_test(test_apply_verify_worse_rolls_back),
		cmocka_unit_test(test_apply_reload_never_seen),
		cmocka_unit_test(test_apply_refuses),
	};

	/* apply sends SIGHUP to the "workload": that is us here. */
	signal(SIGHUP, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
