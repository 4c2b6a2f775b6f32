// SPDX-License-Identifier: MIT
/*
 * Unit tests for the gate policy (analyzer/policy.h): the defaults, rules
 * by metric, stage and model with the last match winning, settings, every
 * kind of bad line with its line number, and print -> parse round trips.
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

#include "analyzer/policy.h"

static void test_defaults(void **state)
{
	struct policy p;
	struct limit l;

	(void)state;
	assert_int_equal(policy_init(&p), 0);
	assert_float_equal(p.alpha, 0.01, 0);
	assert_float_equal(p.confidence, 0.95, 0);
	assert_int_equal(p.min_windows, 10);
	assert_int_equal(p.min_runs_apart, 2);
	assert_float_equal(p.warmup_s, 2, 0);
	assert_true(p.leak);
	assert_int_equal(p.findings, PF_OFF);
	assert_int_equal(p.min_requests[CM_P99], 100);
	l = policy_limit(&p, "ctr_small", "top_mlp", CM_P99);
	assert_true(l.on);
	assert_float_equal(l.rel, 0.05, 1e-12);
	assert_float_equal(l.floor, 20e3, 0);
	l = policy_limit(&p, "ctr_small", "top_mlp", CM_ITEM);
	assert_true(l.on);
	assert_float_equal(l.rel, 0.02, 1e-12);
	l = policy_limit(&p, "cvr_large", "queue_wait", CM_P99);
	assert_false(l.on);
	l = policy_limit(&p, "cvr_large", "request", CM_P90);
	assert_false(l.on);
	assert_false(policy_limit(&p, "cvr_large", "request", CM_P50).on);
	assert_false(policy_limit(&p, "cvr_large", "request", CM_ITEM).on);
	assert_true(policy_limit(&p, "cvr_large", "request", CM_P99).on);
	l = policy_limit(&p, NULL, NULL, CM_CPU_PER_REQUEST);
	assert_true(l.on);
	assert_float_equal(l.rel, 0.03, 1e-12);
	assert_float_equal(l.floor, 10e3, 0);
	l = policy_limit(&p, NULL, NULL, CM_RSS);
	assert_float_equal(l.floor, 16.0 * 1048576, 0);
	l = policy_limit(&p, NULL, NULL, CM_RSS_GROWTH);
	assert_true(l.on);
	assert_float_equal(l.rel, 0, 0);
	assert_float_equal(l.floor, 256.0 * 1024, 0);
	policy_release(&p);
}

static void test_rules_most_specific_wins(void **state)
{
	struct policy p;
	struct limit l;

	(void)state;
	assert_int_equal(policy_init(&p), 0);
	assert_int_equal(policy_parse_line(&p, "top_mlp/p99 = +10%", 1, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "ctr_small/top_mlp/p99 = 15% 1ms  # tail", 2, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "  # only a comment", 3, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "", 4, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "cvr_large/*/* = off", 5, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "cvr_large/embedding/item = +2%", 6, NULL, 0), 0);
	l = policy_limit(&p, "ctr_small", "top_mlp", CM_P99);
	assert_float_equal(l.rel, 0.15, 1e-12);
	assert_float_equal(l.floor, 1e6, 0);
	l = policy_limit(&p, "other", "top_mlp", CM_P99);
	assert_float_equal(l.rel, 0.10, 1e-12);
	assert_float_equal(l.floor, 0, 0);	/* the rule gives no floor */
	l = policy_limit(&p, "ctr_small", "embedding", CM_P99);
	assert_float_equal(l.rel, 0.05, 1e-12);
	assert_false(policy_limit(&p, "cvr_large", "top_mlp", CM_P99).on);
	l = policy_limit(&p, "cvr_large", "embedding", CM_ITEM);
	assert_true(l.on);
	assert_float_equal(l.rel, 0.02, 1e-12);
	/* process metrics ignore model and stage rules */
	assert_true(policy_limit(&p, NULL, NULL, CM_CPU_PER_REQUEST).on);
	assert_int_equal(policy_parse_line(&p, "cpu_per_request = off", 7, NULL, 0), 0);
	assert_false(policy_limit(&p, NULL, NULL, CM_CPU_PER_REQUEST).on);
	/* a later plain metric rule does not undo a stage's "off" */
	assert_int_equal(policy_parse_line(&p, "p50 = +1%", 9, NULL, 0), 0);
	assert_false(policy_limit(&p, "ctr_small", "queue_wait", CM_P50).on);
	assert_false(policy_limit(&p, "cvr_large", "top_mlp", CM_P50).on);
	assert_float_equal(policy_limit(&p, "ctr_small", "top_mlp", CM_P50).rel, 0.01, 1e-12);
	/* absolute only */
	assert_int_equal(policy_parse_line(&p, "rss = 64MiB", 8, NULL, 0), 0);
	l = policy_limit(&p, NULL, NULL, CM_RSS);
	assert_true(l.on);
	assert_float_equal(l.rel, 0, 0);
	assert_float_equal(l.floor, 64.0 * 1048576, 0);
	policy_release(&p);
}

/* Weights: the defaults favour the measures of work; a line that gives
 * none keeps the one of the less specific line it overrides. */
static void test_weights(void **state)
{
	struct policy p;
	struct limit l;

	(void)state;
	assert_int_equal(policy_init(&p), 0);
	assert_float_equal(policy_limit(&p, "m", "s", CM_ITEM).weight, 3, 0);
	assert_float_equal(policy_limit(&p, "m", "s", CM_P99).weight, 0.5, 0);
	assert_float_equal(policy_limit(&p, "m", "s", CM_P50).weight, 1, 0);
	assert_float_equal(policy_limit(&p, NULL, NULL, CM_CPU_PER_REQUEST).weight, 3, 0);
	assert_int_equal(policy_parse_line(&p, "top_mlp/item = +1%", 1, NULL, 0), 0);
	l = policy_limit(&p, "m", "top_mlp", CM_ITEM);
	assert_float_equal(l.rel, 0.01, 1e-12);
	assert_float_equal(l.weight, 3, 0);
	assert_int_equal(policy_parse_line(&p, "m/top_mlp/item = +1% weight=0.25", 2, NULL, 0), 0);
	assert_float_equal(policy_limit(&p, "m", "top_mlp", CM_ITEM).weight, 0.25, 0);
	assert_float_equal(policy_limit(&p, "n", "top_mlp", CM_ITEM).weight, 3, 0);
	assert_int_equal(policy_parse_line(&p, "p50 = 1ms weight=2", 3, NULL, 0), 0);
	l = policy_limit(&p, "m", "s", CM_P50);
	assert_float_equal(l.floor, 1e6, 0);
	assert_float_equal(l.weight, 2, 0);
	policy_release(&p);
}

static void test_settings(void **state)
{
	struct policy p;

	(void)state;
	assert_int_equal(policy_init(&p), 0);
	assert_int_equal(policy_parse_line(&p, "alpha = 0.02", 1, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "confidence=0.9", 1, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "min_windows = 25", 1, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "warmup = 500ms", 1, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "leak = off", 1, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "findings = critical", 1, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "min_runs_apart = 1", 1, NULL, 0), 0);
	assert_int_equal(p.min_runs_apart, 1);
	assert_float_equal(p.alpha, 0.02, 0);
	assert_float_equal(p.confidence, 0.9, 0);
	assert_int_equal(p.min_windows, 25);
	assert_float_equal(p.warmup_s, 0.5, 1e-12);
	assert_false(p.leak);
	assert_int_equal(p.findings, PF_CRITICAL);
	assert_int_equal(policy_parse_line(&p, "warmup = 3", 1, NULL, 0), 0);
	assert_float_equal(p.warmup_s, 3, 0);
	policy_release(&p);
}

static void expect_bad(const char *line, const char *want)
{
	struct policy p;
	char err[256] = "";

	assert_int_equal(policy_init(&p), 0);
	assert_int_equal(policy_parse_line(&p, line, 7, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want) || !strstr(err, "line 7"))
		fail_msg("'%s': message '%s' lacks '%s'", line, err, want);
	policy_release(&p);
}

static void test_bad_lines(void **state)
{
	(void)state;
	expect_bad("p99 +5%", "expected 'key = value'");
	expect_bad("p98 = +5%", "unknown metric or setting 'p98'");
	expect_bad("a/b/c/p99 = +5%", "want METRIC");
	expect_bad("p99 = fast", "bad limit 'fast'");
	expect_bad("p99 = +5% +6%", "bad limit");
	expect_bad("p99 = -5%", "bad limit");
	expect_bad("p99 = 20parsecs", "bad limit");
	expect_bad("p99 = 16MiB", "bad limit");		/* bytes for a time */
	expect_bad("rss = 20us", "bad limit");		/* time for bytes */
	expect_bad("p99 =", "bad limit");
	expect_bad("top_mlp/cpu_per_request = +3%", "whole-process metric");
	expect_bad("item = +2% weight=0", "bad limit");
	expect_bad("item = +2% weight=-1", "bad limit");
	expect_bad("item = +2% weight=x", "bad limit");
	expect_bad("item = +2% weight=1 weight=2", "bad limit");
	expect_bad("item = weight=2", "bad limit");	/* no limit */
	expect_bad("alpha = 2", "bad value '2' for alpha");
	expect_bad("min_windows = 1", "bad value");
	expect_bad("min_runs_apart = 0", "bad value");
	expect_bad("leak = maybe", "bad value");
	expect_bad("findings = all", "bad value");
	expect_bad("warmup = soon", "bad value");
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/loupe-policy-XXXXXX", err[512];
	struct policy p;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("# a CI policy\nalpha = 0.01\np99 = +8% 50us\n\nitem = speedy\n", f);
	fclose(f);
	assert_int_equal(policy_init(&p), 0);
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ":5: bad limit 'speedy'"));
	policy_release(&p);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("alpha = 0.01\np99 = +8% 50us\n", f);
	fclose(f);
	assert_int_equal(policy_init(&p), 0);
	assert_int_equal(policy_load(&p, path, err, sizeof(err)), 0);
	assert_float_equal(p.alpha, 0.01, 0);
	assert_float_equal(policy_limit(&p, "m", "s", CM_P99).rel, 0.08, 1e-12);
	policy_release(&p);
	unlink(path);

	assert_int_equal(policy_init(&p), 0);
	assert_int_equal(policy_load(&p, "/nonexistent/policy", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "open /nonexistent/policy: No such file or directory");
	policy_release(&p);
}

/* What policy_print writes parses back to the same limits. */
static void test_print_round_trip(void **state)
{
	static const char *const models[] = { "ctr_small", "cvr_large", "x" };
	static const char *const stages[] = { "request", "queue_wait", "top_mlp" };
	struct policy p, q;
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0, i, j, m;
	FILE *f;
	int n = 0;

	(void)state;
	assert_int_equal(policy_init(&p), 0);
	assert_int_equal(policy_parse_line(&p, "x/top_mlp/* = +1.5% 2ms", 1, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "rss = +20% 1KiB", 2, NULL, 0), 0);
	assert_int_equal(policy_parse_line(&p, "alpha = 0.001", 3, NULL, 0), 0);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	policy_print(&p, f);
	fclose(f);
	assert_int_equal(policy_init(&q), 0);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		assert_int_equal(policy_parse_line(&q, line, ++n, NULL, 0), 0);
	assert_float_equal(q.alpha, 0.001, 0);
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			for (m = 0; m < CM_N; m++) {
				struct limit a = policy_limit(&p, models[i], stages[j], m);
				struct limit b = policy_limit(&q, models[i], stages[j], m);

				assert_int_equal(a.on, b.on);
				assert_float_equal(a.rel, b.rel, 1e-12);
				assert_float_equal(a.floor, b.floor, 1e-9);
			}
	free(buf);
	policy_release(&p);
	policy_release(&q);
}

static void test_metric_names(void **state)
{
	int m;

	(void)state;
	for (m = 0; m < CM_N; m++)
		assert_int_equal(cmp_metric_parse(cmp_metric_name(m)), m);
	assert_int_equal(cmp_metric_parse("p98"), -1);
	assert_null(cmp_metric_name(CM_N));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_rules_most_specific_wins),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_metric_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
