// SPDX-License-Identifier: MIT
/*
 * Unit tests for the fix-proposal rules engine (analyzer/rules.h): the
 * shipped rule files parse and propose the documented changes for each of
 * the sample ranker's faults and the common CPU-inference knobs; the
 * language's semantics (unknown values, no-op changes, templates, limits);
 * and malformed rules are refused with "NAME:LINE: what is wrong".
 * Run from the repository root (the Makefile's check does).
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

#include "analyzer/rules.h"

#define SHIPPED_DIR "analyzer/rules"

static struct ruleset *shipped;
static char tmpdir[] = "/tmp/loupe-test-rules-XXXXXX";

/* ---- helpers --------------------------------------------------------- */

/* ARG: { "key", "value", ..., NULL }. */
static const char *kv_lookup(void *arg, const char *key)
{
	const char *const *kv = arg;

	for (; kv[0]; kv += 2)
		if (!strcmp(kv[0], key))
			return kv[1];
	return NULL;
}

/* Like kv_lookup, but through one buffer every call overwrites, as a
 * lookup that formats numbers might: the engine must copy at once. */
static const char *kv_lookup_reused(void *arg, const char *key)
{
	static char buf[256];
	const char *v = kv_lookup(arg, key);

	if (!v)
		return NULL;
	snprintf(buf, sizeof(buf), "%s", v);
	return buf;
}

static struct finding finding(enum finding_kind kind)
{
	struct finding f;

	memset(&f, 0, sizeof(f));
	f.kind = kind;
	f.severity = SEV_WARNING;
	return f;
}

static const struct fix *fix_for(const struct finding *f, const char *key)
{
	size_t i;

	for (i = 0; i < f->nfixes; i++)
		if (!strcmp(f->fixes[i].key, key))
			return &f->fixes[i];
	return NULL;
}

static void assert_fix(const struct fix *x, const char *key, const char *from,
		       const char *to)
{
	assert_non_null(x);
	assert_string_equal(x->key, key);
	assert_string_equal(x->from, from);
	assert_string_equal(x->to, to);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* Every fix of F: well formed, its texts whole, sorted by confidence. */
static void assert_fixes_sane(const struct finding *f)
{
	size_t i;

	assert_true(f->nfixes <= 4);
	for (i = 0; i < f->nfixes; i++) {
		const struct fix *x = &f->fixes[i];

		assert_true(x->why[0] && x->effect[0] && x->to[0]);
		assert_false(ends_with(x->why, "..."));
		assert_false(ends_with(x->effect, "..."));
		assert_true(x->confidence > 0 && x->confidence <= 1);
		assert_non_null(strstr(x->rule, ".rules:"));
		if (i)
			assert_true(x->confidence <= f->fixes[i - 1].confidence);
	}
}

static size_t apply_shipped(struct finding *f, const char *const *kv)
{
	size_t n = ruleset_apply(shipped, f, kv_lookup, (void *)kv);

	assert_int_equal(n, f->nfixes);
	assert_fixes_sane(f);
	return n;
}

static struct ruleset *parse_ok(const char *text)
{
	char err[256] = "";
	struct ruleset *rs = ruleset_parse(text, "t.rules", err, sizeof(err));

	if (!rs)
		fail_msg("unexpected parse error: %s", err);
	return rs;
}

/* Applies the one-rule TEXT to F; returns how many fixes it added. */
static size_t apply_text(const char *text, struct finding *f,
			 const char *const *kv)
{
	struct ruleset *rs = parse_ok(text);
	size_t n = ruleset_apply(rs, f, kv ? kv_lookup : NULL, (void *)kv);

	ruleset_free(rs);
	return n;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state)
{
	char err[256];

	(void)state;
	shipped = ruleset_load_dir(SHIPPED_DIR, err, sizeof(err));
	if (!shipped) {
		fprintf(stderr, "load %s: %s\n", SHIPPED_DIR, err);
		return -1;
	}
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	ruleset_free(shipped);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the shipped rules ----------------------------------------------- */

static void test_kind_names(void **state)
{
	static const char *const want[FK_N] = {
		"slo_violation", "latency_spike", "periodic_stall",
		"change_point", "memory_leak", "rss_growth",
		"lock_contention", "oversubscription", "allocator_pressure",
		"page_fault_churn", "queueing", "oversized_batch",
		"hot_function",
	};
	int k;

	(void)state;
	for (k = 0; k < FK_N; k++)
		assert_string_equal(rules_kind_name((enum finding_kind)k), want[k]);
	assert_null(rules_kind_name(FK_N));
}

static void test_shipped_rules_load(void **state)
{
	static const char *const files[] = {
		"allocator.rules", "batching.rules", "cpu.rules",
		"locks.rules", "memory.rules", "queue.rules",
		"ranker.rules", "stalls.rules", "threads.rules",
	};
	size_t i, total = 0;
	char path[256], err[256];

	(void)state;
	assert_true(ruleset_count(shipped) >= 40);
	/* Each file also stands alone. */
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct ruleset *rs;
		char *text;
		FILE *f;
		long n;

		snprintf(path, sizeof(path), SHIPPED_DIR "/%s", files[i]);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		n = ftell(f);
		rewind(f);
		text = calloc(1, (size_t)n + 1);
		assert_non_null(text);
		assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		rs = ruleset_parse(text, files[i], err, sizeof(err));
		if (!rs)
			fail_msg("%s", err);
		assert_true(ruleset_count(rs) > 0);
		total += ruleset_count(rs);
		ruleset_free(rs);
		free(text);
	}
	assert_int_equal(total, ruleset_count(shipped));
}

static void test_oversubscribed_workers(void **state)
{
	const char *const kv[] = { "workers", "16", "@machine.cores", "2", NULL };
	struct finding f = finding(FK_OVERSUBSCRIPTION);

	(void)state;
	assert_int_equal(apply_shipped(&f, kv), 1);
	assert_fix(&f.fixes[0], "workers", "16", "2");
	assert_string_equal(f.fixes[0].why, "16 worker threads share 2 cores: "
			    "runnable threads wait for a CPU and every stage is "
			    "stretched by preemption");
	assert_true(f.fixes[0].confidence == 0.8);
	assert_non_null(strstr(f.fixes[0].rule, "threads.rules:"));
}

static void test_oversubscribed_openmp(void **state)
{
	const char *const kv[] = {
		"workers", "4", "@machine.cores", "8",
		"@env.OMP_NUM_THREADS", "8", NULL,
	};
	const char *const none[] = {
		"@machine.cores", "8", "@env.OMP_NUM_THREADS", "16", NULL,
	};
	const char *const unset[] = { "workers", "2", "@machine.cores", "8", NULL };
	struct finding f = finding(FK_OVERSUBSCRIPTION);

	(void)state;
	/* 4 workers x 8 threads on 8 cores: 2 threads each. */
	assert_int_equal(apply_shipped(&f, kv), 1);
	assert_fix(&f.fixes[0], "@env.OMP_NUM_THREADS", "8", "2");
	/* No worker count announced: one pool, sized to the cores. */
	f = finding(FK_OVERSUBSCRIPTION);
	assert_int_equal(apply_shipped(&f, none), 1);
	assert_fix(&f.fixes[0], "@env.OMP_NUM_THREADS", "16", "8");
	/* Unset with 2 workers on 8 cores: OpenMP would start 8 each. */
	f = finding(FK_OVERSUBSCRIPTION);
	assert_int_equal(apply_shipped(&f, unset), 1);
	assert_fix(&f.fixes[0], "@env.OMP_NUM_THREADS", "(unset)", "4");
}

static void test_oversubscribed_intra_op(void **state)
{
	const char *const kv[] = {
		"workers", "2", "@machine.cores", "8",
		"@env.OMP_NUM_THREADS", "1", "intra_op_num_threads", "8", NULL,
	};
	struct finding f = finding(FK_OVERSUBSCRIPTION);

	(void)state;
	assert_int_equal(apply_shipped(&f, kv), 1);
	assert_fix(&f.fixes[0], "intra_op_num_threads", "8", "4");
	assert_string_equal(f.fixes[0].why, "2 workers x 8 intra-op threads "
			    "exceed the 8 cores");
}

static void test_no_rule_matches(void **state)
{
	const char *const kv[] = { "workers", "16", "@machine.cores", "2", NULL };
	struct finding f = finding(FK_LATENCY_SPIKE);

	(void)state;
	/* No rule for a latency spike without a stall fault. */
	assert_int_equal(apply_shipped(&f, kv), 0);
	assert_int_equal(f.nfixes, 0);
}

static void test_conditions_false(void **state)
{
	/* One worker on four cores is not oversubscribed by workers, and
	 * no OpenMP or intra-op setting is known. */
	const char *const kv[] = { "workers", "1", "@machine.cores", "4", NULL };
	struct finding f = finding(FK_OVERSUBSCRIPTION);

	(void)state;
	assert_int_equal(apply_shipped(&f, kv), 0);
	/* Nothing known at all: nothing proposed, no crash. */
	f = finding(FK_OVERSUBSCRIPTION);
	assert_int_equal(ruleset_apply(shipped, &f, NULL, NULL), 0);
}

static void test_queueing(void **state)
{
	const char *const kv[] = {
		"workers", "1", "@machine.cores", "2", "queue_depth", "128", NULL,
	};
	struct finding f = finding(FK_QUEUEING);

	(void)state;
	f.value = 100e6;
	f.reference = 25e6;
	assert_int_equal(apply_shipped(&f, kv), 2);
	assert_fix(&f.fixes[0], "workers", "1", "2");
	/* Little's law: a quarter of the wait, a quarter of the depth. */
	assert_fix(&f.fixes[1], "queue_depth", "128", "32");
	assert_non_null(strstr(f.fixes[1].why, "queueing is 4x its budget"));
}

static void test_oversized_batch(void **state)
{
	const char *const kv[] = { "batch_min", "1024", "batch_max", "2048", NULL };
	struct finding f = finding(FK_OVERSIZED_BATCH);

	(void)state;
	f.value = 60e6;		/* p99 60 ms against a 25 ms objective */
	f.reference = 25e6;
	assert_int_equal(apply_shipped(&f, kv), 2);
	/* 2048 x 25/60 x 0.8 = 682.7; 1024 x 25/60 x 0.8 = 341.3 */
	assert_fix(&f.fixes[0], "batch_max", "2048", "682");
	assert_fix(&f.fixes[1], "batch_min", "1024", "341");
	assert_non_null(strstr(f.fixes[0].why, "latency is 2.4x its objective"));
	assert_string_equal(f.fixes[0].effect, "per-request work cut by 67%; "
			    "clients split longer candidate lists");
	/* Within the objective: nothing to shrink. */
	f = finding(FK_OVERSIZED_BATCH);
	f.value = 20e6;
	f.reference = 25e6;
	assert_int_equal(apply_shipped(&f, kv), 0);
}

/* ---- the ranker's fault switches ------------------------------------- */

static void test_ranker_leak(void **state)
{
	const char *const kv[] = {
		"fault_leak_bytes", "16384",
		"config_file", "/srv/ranker/leak.conf", NULL,
	};
	struct finding f = finding(FK_MEMORY_LEAK);

	(void)state;
	snprintf(f.function, sizeof(f.function), "leak_request_context");
	snprintf(f.file, sizeof(f.file), "/src/samples/ranker/faults.c");
	f.line = 42;
	snprintf(f.metric, sizeof(f.metric), "bytes_per_request");
	f.value = 16384;
	assert_int_equal(apply_shipped(&f, kv), 2);
	assert_fix(&f.fixes[0], "fault_leak_bytes", "16384", "0");
	assert_string_equal(f.fixes[0].why, "the ranker's leak fault is on: "
			    "leak_request_context() mallocs 16.0 KiB per "
			    "request and drops the pointer");
	assert_string_equal(f.fixes[0].effect, "RSS stops growing; set it in "
			    "/srv/ranker/leak.conf and send SIGHUP");
	/* The code site: the rate rule and the plain one agree on it. */
	assert_fix(&f.fixes[1], "", "", "leak_request_context (faults.c:42)");
	assert_string_equal(f.fixes[1].why, "leak_request_context at "
			    "faults.c:42 leaks about 16.0 KiB per request: the "
			    "memory is never freed");
	assert_true(f.fixes[1].confidence == 0.9);
}

static void test_leak_elsewhere_is_not_the_fault(void **state)
{
	const char *const kv[] = { "fault_leak_bytes", "16384", NULL };
	struct finding f = finding(FK_MEMORY_LEAK);

	(void)state;
	snprintf(f.function, sizeof(f.function), "cache_insert");
	snprintf(f.file, sizeof(f.file), "cache.c");
	f.line = 7;
	assert_int_equal(apply_shipped(&f, kv), 1);
	assert_fix(&f.fixes[0], "", "", "cache_insert (cache.c:7)");
	assert_null(fix_for(&f, "fault_leak_bytes"));
}

static void test_ranker_lock(void **state)
{
	const char *const kv[] = { "fault_lock_us", "500", NULL };
	struct finding f = finding(FK_LOCK_CONTENTION);

	(void)state;
	snprintf(f.function, sizeof(f.function), "lock_contention_hold");
	snprintf(f.file, sizeof(f.file), "samples/ranker/faults.c");
	f.line = 88;
	snprintf(f.stage, sizeof(f.stage), "embedding");
	assert_int_equal(apply_shipped(&f, kv), 2);
	assert_fix(&f.fixes[0], "fault_lock_us", "500", "0");
	assert_non_null(strstr(f.fixes[0].why, "capping it at 2000 requests/s"));
	/* No config_file announced: the text says so in words. */
	assert_non_null(strstr(f.fixes[0].effect, "set it in the config file"));
	assert_fix(&f.fixes[1], "", "", "lock_contention_hold (faults.c:88)");
	assert_non_null(strstr(f.fixes[1].why,
			       "threads wait on a lock held in lock_contention_hold"));
}

static void test_ranker_alloc_churn(void **state)
{
	const char *const kv[] = { "fault_alloc_churn", "64", NULL };
	struct finding f = finding(FK_ALLOCATOR_PRESSURE);

	(void)state;
	snprintf(f.stage, sizeof(f.stage), "embedding");
	assert_int_equal(apply_shipped(&f, kv), 4);
	assert_fix(&f.fixes[0], "fault_alloc_churn", "64", "0");
	/* Ties (0.5) keep rule order: allocator.rules' reuse before jemalloc. */
	assert_fix(&f.fixes[1], "", "", "stage embedding");
	assert_fix(&f.fixes[2], "@env.LD_PRELOAD", "(unset)", "libjemalloc.so.2");
	assert_fix(&f.fixes[3], "@env.LD_PRELOAD", "(unset)",
		   "libtcmalloc_minimal.so.4");
}

static void test_allocator_env(void **state)
{
	const char *const kv[] = {
		"workers", "8", "@machine.cores", "8",
		"@env.LD_PRELOAD", "/opt/loupe/libloupe-alloc.so",
		"@env.MALLOC_ARENA_MAX", "2", NULL,
	};
	const char *const jemalloc[] = {
		"@env.LD_PRELOAD", "libjemalloc.so.2", NULL,
	};
	struct finding f = finding(FK_ALLOCATOR_PRESSURE);

	(void)state;
	assert_int_equal(apply_shipped(&f, kv), 2);
	/* A preload already there is kept, the allocator appended. */
	assert_fix(fix_for(&f, "@env.LD_PRELOAD"), "@env.LD_PRELOAD",
		   "/opt/loupe/libloupe-alloc.so",
		   "/opt/loupe/libloupe-alloc.so:libjemalloc.so.2");
	assert_fix(fix_for(&f, "@env.MALLOC_ARENA_MAX"),
		   "@env.MALLOC_ARENA_MAX", "2", "8");
	/* jemalloc already preloaded: no allocator swap, no arena advice. */
	f = finding(FK_ALLOCATOR_PRESSURE);
	assert_int_equal(apply_shipped(&f, jemalloc), 0);
}

static void test_ranker_page_faults(void **state)
{
	const char *const kv[] = {
		"fault_page_fault_kb", "256", "@machine.mem_bytes", "25769803776",
		NULL,
	};
	struct finding f = finding(FK_PAGE_FAULT_CHURN);

	(void)state;
	snprintf(f.function, sizeof(f.function), "page_fault_churn");
	snprintf(f.file, sizeof(f.file), "faults.c");
	f.line = 120;
	snprintf(f.stage, sizeof(f.stage), "bottom_mlp");
	assert_int_equal(apply_shipped(&f, kv), 4);
	assert_fix(&f.fixes[0], "fault_page_fault_kb", "256", "0");
	assert_non_null(strstr(f.fixes[0].effect, "64 fewer minor faults"));
	assert_fix(&f.fixes[1], "", "", "page_fault_churn (faults.c:120)");
	/* min(64 MiB, 24 GiB / 256) */
	assert_fix(&f.fixes[2], "@env.MALLOC_TOP_PAD_", "(unset)", "67108864");
	assert_non_null(strstr(f.fixes[2].effect, "64.00 MiB stays mapped"));
	assert_fix(&f.fixes[3], "@env.MALLOC_MMAP_THRESHOLD_", "(unset)",
		   "33554432");
}

static void test_ranker_slow_stage(void **state)
{
	const char *const kv[] = {
		"fault_slow_stage", "top_mlp", "fault_slow_pct", "150", NULL,
	};
	struct finding f = finding(FK_SLO_VIOLATION);

	(void)state;
	snprintf(f.model, sizeof(f.model), "cvr_large");
	snprintf(f.stage, sizeof(f.stage), "top_mlp");
	assert_int_equal(apply_shipped(&f, kv), 2);
	assert_fix(&f.fixes[0], "fault_slow_stage", "top_mlp", "none");
	assert_string_equal(f.fixes[0].why, "the ranker's slow-stage fault is "
			    "on: slow_stage_burn() adds 150% CPU work to top_mlp");
	assert_fix(&f.fixes[1], "fault_slow_pct", "150", "0");
	/* A change point of the whole request too. */
	f = finding(FK_CHANGE_POINT);
	assert_int_equal(apply_shipped(&f, kv), 2);
	/* Another stage is not the slow one. */
	f = finding(FK_SLO_VIOLATION);
	snprintf(f.stage, sizeof(f.stage), "embedding");
	assert_int_equal(apply_shipped(&f, kv), 0);
}

static void test_ranker_stall(void **state)
{
	const char *const kv[] = {
		"fault_stall_period_ms", "1000", "fault_stall_ms", "50", NULL,
	};
	struct finding f = finding(FK_PERIODIC_STALL);

	(void)state;
	assert_int_equal(apply_shipped(&f, kv), 3);
	assert_fix(&f.fixes[0], "fault_stall_period_ms", "1000", "0");
	assert_string_equal(f.fixes[0].why, "the ranker's stall fault is on: "
			    "every 1000 ms all workers park in stall_park() for "
			    "50 ms");
	assert_fix(&f.fixes[1], "fault_stall_ms", "50", "0");
	assert_fix(&f.fixes[2], "", "", "(periodic task)");
}

static void test_hot_functions(void **state)
{
	const char *const kv[] = { "fault_slow_pct", "150", "fault_slow_stage",
				   "top_mlp", NULL };
	struct finding f = finding(FK_HOT_FUNCTION);

	(void)state;
	snprintf(f.function, sizeof(f.function), "slow_stage_burn");
	snprintf(f.file, sizeof(f.file), "faults.c");
	f.line = 30;
	assert_int_equal(apply_shipped(&f, kv), 2);
	assert_fix(&f.fixes[0], "fault_slow_pct", "150", "0");
	assert_fix(&f.fixes[1], "", "", "slow_stage_burn (faults.c:30)");
	/* No line information: the function alone. */
	f = finding(FK_HOT_FUNCTION);
	snprintf(f.function, sizeof(f.function), "_int_malloc");
	assert_int_equal(apply_shipped(&f, kv), 2);
	assert_fix(&f.fixes[0], "", "", "_int_malloc");
	assert_fix(&f.fixes[1], "@env.LD_PRELOAD", "(unset)", "libjemalloc.so.2");
}

static void test_rss_growth(void **state)
{
	const char *const kv[] = { "@machine.cores", "4", NULL };
	struct finding f = finding(FK_RSS_GROWTH);

	(void)state;
	assert_int_equal(apply_shipped(&f, kv), 2);
	assert_fix(fix_for(&f, ""), "", "", "the process");
	assert_fix(fix_for(&f, "@env.MALLOC_ARENA_MAX"),
		   "@env.MALLOC_ARENA_MAX", "(unset)", "2");
	assert_non_null(strstr(fix_for(&f, "@env.MALLOC_ARENA_MAX")->why,
			       "(up to 32 here)"));
	/* The arena rule wants at least a warning. */
	f = finding(FK_RSS_GROWTH);
	f.severity = SEV_INFO;
	assert_int_equal(apply_shipped(&f, kv), 1);
}

/* ---- the language ---------------------------------------------------- */

#define RULE_HEAD "rule r\n  finding queueing\n"
#define RULE_TAIL "  why \"w\"\n  effect \"e\"\n  confidence 0.5\n"

static void test_templates(void **state)
{
	const char *const kv[] = {
		"workers", "4", "@env.HOME", "/root", "a.b", "x", NULL,
	};
	struct finding f = finding(FK_QUEUEING);
	const char *text =
		"rule tmpl\n"
		"  finding queueing\n"
		"  change workers = workers * 2   # doubled\n"
		"  why \"{key}: {from} -> {to} for {model}/{stage} # not a comment\"\n"
		"      \" v={value} r={reference} ratio={value / reference}\"\n"
		"  effect \"{function} {file}:{line} {basename(file)} {{lit}}\"\n"
		"         \" {ns(value)} {bytes(2048)} {pct(0.25)} {@env.HOME}\"\n"
		"         \" {a.b} {default(nope, 'dflt')} {1 / 3} {1234.5}\"\n"
		"  confidence 0.5\n";

	(void)state;
	snprintf(f.model, sizeof(f.model), "ctr_small");
	snprintf(f.stage, sizeof(f.stage), "queue_wait");
	snprintf(f.function, sizeof(f.function), "enqueue");
	snprintf(f.file, sizeof(f.file), "/src/server.c");
	f.line = 12;
	f.value = 3210000;
	f.reference = 1000000;
	assert_int_equal(apply_text(text, &f, kv), 1);
	assert_fix(&f.fixes[0], "workers", "4", "8");
	assert_string_equal(f.fixes[0].why, "workers: 4 -> 8 for "
			    "ctr_small/queue_wait # not a comment v=3210000 "
			    "r=1000000 ratio=3.21");
	assert_string_equal(f.fixes[0].effect, "enqueue /src/server.c:12 "
			    "server.c {lit} 3.21ms 2.0 KiB 25% /root x dflt "
			    "0.333 1234");
	assert_string_equal(f.fixes[0].rule, "t.rules:1");
	assert_true(f.fixes[0].confidence == 0.5);
}

static void test_unknown_placeholder_silences(void **state)
{
	const char *const kv[] = { "workers", "4", NULL };
	struct finding f = finding(FK_QUEUEING);

	(void)state;
	/* {stage} is "" in the finding: unknown, so nothing is proposed. */
	assert_int_equal(apply_text(RULE_HEAD "  change workers = 2\n"
				    "  why \"in {stage}\"\n  effect \"e\"\n"
				    "  confidence 0.5\n", &f, kv), 0);
	/* A code site needs its function. */
	assert_int_equal(apply_text(RULE_HEAD "  code \"{function}\"\n"
				    RULE_TAIL, &f, kv), 0);
	/* The new value needs a key nobody announced. */
	assert_int_equal(apply_text(RULE_HEAD "  change workers = threads\n"
				    RULE_TAIL, &f, kv), 0);
}

static void test_change_semantics(void **state)
{
	const char *const kv[] = {
		"workers", "2", "mode", "fast", "@machine.cores", "2.0", NULL,
	};
	struct finding f = finding(FK_QUEUEING);

	(void)state;
	/* No-op: 2 -> 2.0 changes nothing. */
	assert_int_equal(apply_text(RULE_HEAD "  change workers = @machine.cores\n"
				    RULE_TAIL, &f, kv), 0);
	/* Literal strings, and from of an unset key. */
	assert_int_equal(apply_text(RULE_HEAD "  change mode = \"safe\"\n"
				    RULE_TAIL, &f, kv), 1);
	assert_fix(&f.fixes[0], "mode", "fast", "safe");
	f = finding(FK_QUEUEING);
	assert_int_equal(apply_text(RULE_HEAD "  change @env.X = 'a b'\n"
				    RULE_TAIL, &f, kv), 1);
	assert_fix(&f.fixes[0], "@env.X", "(unset)", "a b");
	/* "from" and "to" are known to the conditions. */
	f = finding(FK_QUEUEING);
	assert_int_equal(apply_text(RULE_HEAD "  change workers = from * 3\n"
				    "  when to > from and to == 6\n"
				    RULE_TAIL, &f, kv), 1);
	assert_fix(&f.fixes[0], "workers", "2", "6");
	/* @config.KEY is KEY; Ki/Mi/Gi suffixes; round/ceil/floor/min/max. */
	f = finding(FK_QUEUEING);
	assert_int_equal(apply_text(RULE_HEAD "  change @config.workers = "
				    "round(2.5) + ceil(0.1) + floor(1.9) + "
				    "min(4, 1, 9) + max(-1, 0) + 1Ki / 1Ki\n"
				    RULE_TAIL, &f, kv), 1);
	assert_fix(&f.fixes[0], "workers", "2", "7");
	/* Exact formatting of fractions in a new value. */
	f = finding(FK_QUEUEING);
	assert_int_equal(apply_text(RULE_HEAD "  change mix = 0.75 - -0.05\n"
				    RULE_TAIL, &f, kv), 1);
	assert_fix(&f.fixes[0], "mix", "(unset)", "0.8");
	/* Division by zero: unknown, nothing proposed. */
	f = finding(FK_QUEUEING);
	assert_int_equal(apply_text(RULE_HEAD "  change workers = 1 / 0\n"
				    RULE_TAIL, &f, kv), 0);
}

static void test_conditions(void **state)
{
	const char *const kv[] = {
		"workers", "2", "mode", "fast", "n", "10", "@env.P",
		"libfoo.so", NULL,
	};
	static const struct {
		const char *when;
		bool fires;
	} cases[] = {
		{ "workers == 2", true },
		{ "workers == 2.0", true },		/* numbers compare as numbers */
		{ "mode == \"fast\"", true },
		{ "mode != 'fast'", false },
		{ "mode < \"zzz\"", false },		/* text has no order */
		{ "missing == 1", false },		/* unknown: false */
		{ "missing != 1", false },
		{ "not missing", true },
		{ "set(mode) and unset(missing)", true },
		{ "set(missing) or n >= 10", true },
		{ "n > 3 * 3 + 1", false },		/* precedence: 10 > 10 */
		{ "-n < -9", true },
		{ "(n - 4) / 2 == 3", true },
		{ "contains(@env.P, 'foo')", true },
		{ "contains(missing, 'foo')", false },
		{ "not contains(missing, 'foo')", true },
		{ "model == 'ctr_small' and stage == 'embedding'", true },
		{ "kind == 'queueing' and severity == 'warning'", true },
		{ "transient == 0 and start_s == 1.5 and end_s == 4", true },
		{ "metric == 'p99_ns' and value == 30 and reference == 20", true },
		{ "line == 7 and function == 'f' and file == 'x.c'", true },
		{ "from == 1", false },			/* a code fix has none */
		{ "\"7\" == 7", true },
		{ "mode", false },			/* text is not true */
		{ "n", true },
	};
	char text[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct finding f = finding(FK_QUEUEING);

		snprintf(f.model, sizeof(f.model), "ctr_small");
		snprintf(f.stage, sizeof(f.stage), "embedding");
		snprintf(f.metric, sizeof(f.metric), "p99_ns");
		snprintf(f.function, sizeof(f.function), "f");
		snprintf(f.file, sizeof(f.file), "x.c");
		f.line = 7;
		f.value = 30;
		f.reference = 20;
		f.start_s = 1.5;
		f.end_s = 4;
		snprintf(text, sizeof(text), RULE_HEAD "  code \"here\"\n"
			 "  when %s\n" RULE_TAIL, cases[i].when);
		if (apply_text(text, &f, kv) != (cases[i].fires ? 1u : 0u))
			fail_msg("when %s: expected %s", cases[i].when,
				 cases[i].fires ? "a fix" : "none");
	}
}

static void test_several_when_lines_and(void **state)
{
	const char *const kv[] = { "a", "1", "b", "0", NULL };
	struct finding f = finding(FK_QUEUEING);

	(void)state;
	assert_int_equal(apply_text(RULE_HEAD "  code \"x\"\n  when a == 1\n"
				    "  when b == 1\n" RULE_TAIL, &f, kv), 0);
	assert_int_equal(apply_text(RULE_HEAD "  code \"x\"\n  when a == 1\n"
				    "  when b == 0\n" RULE_TAIL, &f, kv), 1);
}

static void test_match_filters(void **state)
{
	const char *text =
		"rule r\n"
		"  finding queueing, slo_violation\n"
		"  model ctr_*\n"
		"  stage \"emb*\"\n"
		"  severity critical\n"
		"  code \"x\"\n" RULE_TAIL;
	struct ruleset *rs = parse_ok(text);
	struct finding f;

	(void)state;
	f = finding(FK_SLO_VIOLATION);
	f.severity = SEV_CRITICAL;
	snprintf(f.model, sizeof(f.model), "ctr_small");
	snprintf(f.stage, sizeof(f.stage), "embedding");
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 1);
	f.nfixes = 0;
	f.severity = SEV_WARNING;		/* below the minimum */
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 0);
	f.severity = SEV_CRITICAL;
	snprintf(f.model, sizeof(f.model), "cvr_large");
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 0);
	snprintf(f.model, sizeof(f.model), "ctr_small");
	f.stage[0] = '\0';			/* not about a stage */
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 0);
	f.kind = FK_MEMORY_LEAK;
	snprintf(f.stage, sizeof(f.stage), "embedding");
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 0);
	ruleset_free(rs);
}

/* Six rules of distinct confidence: the best four, best first. */
static void test_fix_limit(void **state)
{
	static const char *const conf[] = { "0.1", "0.9", "0.3", "0.7", "0.5", "0.8" };
	static const char *const want[] = { "k1", "k5", "k3", "k4" };
	char text[2048];
	struct ruleset *rs;
	struct finding f;
	size_t i, len = 0;

	(void)state;
	for (i = 0; i < 6; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"rule r%zu\n  finding queueing\n"
					"  change k%zu = 1\n  why \"w\"\n"
					"  effect \"e\"\n  confidence %s\n\n",
					i, i, conf[i]);
	rs = parse_ok(text);
	f = finding(FK_QUEUEING);
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 4);
	for (i = 0; i < 4; i++)
		assert_string_equal(f.fixes[i].key, want[i]);
	assert_string_equal(f.fixes[0].rule, "t.rules:8");
	/* Three already there: room for the best one only. */
	f = finding(FK_QUEUEING);
	f.nfixes = 3;
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 1);
	assert_int_equal(f.nfixes, 4);
	assert_string_equal(f.fixes[3].key, "k1");
	/* Full: nothing. */
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 0);
	assert_int_equal(f.nfixes, 4);
	ruleset_free(rs);
}

static void test_duplicates_merge(void **state)
{
	const char *text =
		"rule low\n  finding queueing\n  change w = 2\n  why \"low\"\n"
		"  effect \"e\"\n  confidence 0.3\n"
		"rule high\n  finding queueing\n  change w = 2\n  why \"high\"\n"
		"  effect \"e\"\n  confidence 0.6\n"
		"rule other\n  finding queueing\n  change w = 3\n  why \"3\"\n"
		"  effect \"e\"\n  confidence 0.1\n";
	struct ruleset *rs = parse_ok(text);
	struct finding f = finding(FK_QUEUEING);

	(void)state;
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 2);
	assert_string_equal(f.fixes[0].why, "high");
	assert_string_equal(f.fixes[1].to, "3");
	/* Applying again adds nothing the finding already has. */
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 0);
	ruleset_free(rs);
}

static void test_lookup_buffer_reused(void **state)
{
	const char *const kv[] = { "workers", "16", "@machine.cores", "2", NULL };
	struct finding f = finding(FK_OVERSUBSCRIPTION);

	(void)state;
	assert_int_equal(ruleset_apply(shipped, &f, kv_lookup_reused,
				       (void *)kv), 1);
	assert_fix(&f.fixes[0], "workers", "16", "2");
	assert_non_null(strstr(f.fixes[0].why, "16 worker threads share 2 cores"));
}

static void test_long_text_cut(void **state)
{
	char text[1024], why[400];
	struct finding f = finding(FK_QUEUEING);
	size_t n;

	(void)state;
	/* 100 two-byte characters: the cut must not split one. */
	why[0] = '\0';
	for (n = 0; n < 100; n++)
		strcat(why, "\xc3\xa9");
	snprintf(text, sizeof(text), RULE_HEAD "  code \"x\"\n  why \"a%s\"\n"
		 "  effect \"e\"\n  confidence 0.5\n", why);
	assert_int_equal(apply_text(text, &f, NULL), 1);
	n = strlen(f.fixes[0].why);
	assert_true(n < sizeof(f.fixes[0].why));
	assert_true(ends_with(f.fixes[0].why, "..."));
	/* "a" plus whole "é"s, then "...". */
	assert_int_equal((n - 1 - 3) % 2, 0);
	/* A new value that does not fit is not proposed at all. */
	f = finding(FK_QUEUEING);
	assert_int_equal(apply_text(RULE_HEAD "  change k = concat('0123456789',"
				    " '0123456789', '0123456789', '0123456789',"
				    " '0123456789', '0123456789', '0123')\n"
				    RULE_TAIL, &f, NULL), 0);
}

static void test_comments_crlf_blank_lines(void **state)
{
	const char *text =
		"# a comment\r\n"
		"\r\n"
		"rule r   # trailing comment\r\n"
		"\tfinding queueing\r\n"
		"   # indented comment\r\n"
		"\tcode \"a # b\"   # comment\r\n"
		"\t     \" c\"\r\n"
		"\twhy \"w\"\r\n\teffect \"e\"\r\n\tconfidence 1\r\n";
	struct ruleset *rs = parse_ok(text);
	struct finding f = finding(FK_QUEUEING);

	(void)state;
	assert_int_equal(ruleset_count(rs), 1);
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 1);
	assert_string_equal(f.fixes[0].to, "a # b c");
	ruleset_free(rs);
	/* Nothing but comments: an empty set. */
	rs = parse_ok("# nothing\n\n");
	assert_int_equal(ruleset_count(rs), 0);
	ruleset_free(rs);
}

/* ---- malformed rules ------------------------------------------------- */

static void test_malformed(void **state)
{
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
		{ RULE_HEAD "  whn 1\n", "bad.rules:3: unknown field 'whn'" },
		{ RULE_HEAD "  code \"x\"\n  when workers >\n" RULE_TAIL,
		  "bad.rules:4: when: expected a value, found the end of the line" },
		{ RULE_HEAD "  code \"x\"\n  when (a > 1\n" RULE_TAIL,
		  "bad.rules:4: when: expected ')'" },
		{ RULE_HEAD "  code \"x\"\n  when a = 1\n" RULE_TAIL,
		  "bad.rules:4: when: '=' in an expression: compare with '=='" },
		{ RULE_HEAD "  code \"x\"\n  when 1 < a < 3\n" RULE_TAIL,
		  "bad.rules:4: when: comparisons do not chain" },
		{ RULE_HEAD "  code \"x\"\n  when a b\n" RULE_TAIL,
		  "bad.rules:4: when: expected an operator, found 'b'" },
		{ RULE_HEAD "  code \"x\"\n  when 12abc > 1\n" RULE_TAIL,
		  "bad.rules:4: when: bad number '12abc'" },
		{ RULE_HEAD "  code \"x\"\n  when foo(1)\n" RULE_TAIL,
		  "bad.rules:4: when: unknown function 'foo'" },
		{ RULE_HEAD "  code \"x\"\n  when round(1, 2)\n" RULE_TAIL,
		  "bad.rules:4: when: round() takes 1 argument, not 2" },
		{ RULE_HEAD "  code \"x\"\n  when min()\n" RULE_TAIL,
		  "bad.rules:4: when: min() takes at least 1 argument" },
		{ RULE_HEAD "  code \"x\"\n  when @machine.core > 1\n" RULE_TAIL,
		  "bad.rules:4: when: unknown machine fact '@machine.core'" },
		{ RULE_HEAD "  code \"x\"\n  when @foo.x > 1\n" RULE_TAIL,
		  "bad.rules:4: when: unknown name '@foo.x'" },
		{ RULE_HEAD "  code \"x\"\n  when a. > 1\n" RULE_TAIL,
		  "bad.rules:4: when: bad name 'a.'" },
		{ RULE_HEAD "  code \"x\"\n  when a $ 1\n" RULE_TAIL,
		  "bad.rules:4: when: unexpected '$'" },
		{ RULE_HEAD "  code \"x\"\n  when a == 'x\n" RULE_TAIL,
		  "bad.rules:4: when: unterminated string" },
		{ RULE_HEAD "  code \"x\n" RULE_TAIL,
		  "bad.rules:3: code: unterminated string" },
		{ RULE_HEAD "  code \"x\\q\"\n" RULE_TAIL,
		  "bad.rules:3: code: unknown escape '\\q' in string" },
		{ RULE_HEAD "  code x\n" RULE_TAIL,
		  "bad.rules:3: code: expected a quoted string, found 'x'" },
		{ RULE_HEAD "  code \"x\" y\n" RULE_TAIL,
		  "bad.rules:3: code: unexpected 'y' at the end of the line" },
		{ RULE_HEAD "  code \"{workers\"\n" RULE_TAIL,
		  "bad.rules:3: code: '{' without '}' in text" },
		{ RULE_HEAD "  code \"a } b\"\n" RULE_TAIL,
		  "bad.rules:3: code: '}' without '{' in text" },
		{ RULE_HEAD "  code \"{}\"\n" RULE_TAIL,
		  "bad.rules:3: code: expected a value, found '}'" },
		{ RULE_HEAD "  code \"x\"\n  why \"w\"\n  \"{bad(\"\n"
		  "  effect \"e\"\n  confidence 0.5\n",
		  "bad.rules:5: text: unknown function 'bad'" },
		{ RULE_HEAD "  code \"x\"\n  confidence 0.5\n  \"more\"\n",
		  "bad.rules:5: a string line only continues 'why', 'effect' or "
		  "'code'" },
		{ "rule r\n  finding oversubscribe\n",
		  "bad.rules:2: unknown finding kind 'oversubscribe'" },
		{ "rule r\n  finding\n", "bad.rules:2: finding: name at least one kind" },
		{ RULE_HEAD "  code \"x\"\n  why \"w\"\n  effect \"e\"\n"
		  "  confidence 1.5\n",
		  "bad.rules:6: confidence 1.5 out of range 0..1" },
		{ RULE_HEAD "  code \"x\"\n  why \"w\"\n  effect \"e\"\n"
		  "  confidence -0.1\n",
		  "bad.rules:6: confidence -0.1 out of range 0..1" },
		{ RULE_HEAD "  code \"x\"\n  why \"w\"\n  effect \"e\"\n"
		  "  confidence high\n",
		  "bad.rules:6: confidence: 'high' is not a number" },
		{ RULE_HEAD "  code \"x\"\n  why \"w\"\n  effect \"e\"\n"
		  "  confidence 0.5 0.6\n",
		  "bad.rules:6: confidence: unexpected '0.6' at the end" },
		{ RULE_HEAD "  severity major\n",
		  "bad.rules:3: unknown severity 'major'" },
		{ RULE_HEAD "  model\n", "bad.rules:3: model: give a name or a glob" },
		{ "\n\nrule r\n  finding queueing\n  code \"x\"\n  effect \"e\"\n"
		  "  confidence 0.5\n",
		  "bad.rules:3: rule 'r' has no 'why'" },
		{ "rule r\n  code \"x\"\n  why \"w\"\n  effect \"e\"\n"
		  "  confidence 0.5\n",
		  "bad.rules:1: rule 'r' has no 'finding'" },
		{ RULE_HEAD "  code \"x\"\n  why \"w\"\n  effect \"e\"\n",
		  "bad.rules:1: rule 'r' has no 'confidence'" },
		{ RULE_HEAD RULE_TAIL, "bad.rules:1: rule 'r' needs 'change' or 'code'" },
		{ RULE_HEAD "  code \"x\"\n  change a = 1\n" RULE_TAIL,
		  "bad.rules:1: rule 'r' has both 'change' and 'code'" },
		{ RULE_HEAD "  change value = 1\n" RULE_TAIL,
		  "bad.rules:3: change: 'value' is the finding's or the fix's, "
		  "not a config key" },
		{ RULE_HEAD "  change @machine.cores = 1\n" RULE_TAIL,
		  "bad.rules:3: change: '@machine.cores' is a fact of the "
		  "machine, not a setting" },
		{ RULE_HEAD "  change workers 1\n" RULE_TAIL,
		  "bad.rules:3: change: expected '=' after 'workers'" },
		{ RULE_HEAD "  change workers == 1\n" RULE_TAIL,
		  "bad.rules:3: change: expected '=' after 'workers'" },
		{ RULE_HEAD "  change workers =\n" RULE_TAIL,
		  "bad.rules:3: change: expected a value, found the end of the line" },
		{ RULE_HEAD "  change 3 = 1\n" RULE_TAIL,
		  "bad.rules:3: change: expected a config key, found '3'" },
		{ RULE_HEAD "  change aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaa = 1\n" RULE_TAIL,
		  "bad.rules:3: change: key 'aaaa" },
		{ RULE_HEAD "  code \"x\"\n  code \"y\"\n",
		  "bad.rules:4: duplicate field 'code'" },
		{ "  finding queueing\n",
		  "bad.rules:1: 'finding' outside a rule (start one with 'rule NAME')" },
		{ "rule\n", "bad.rules:1: rule: expected a name" },
		{ "rule a b\n", "bad.rules:1: rule: unexpected 'b' at the end of the line" },
		{ "rule r!\n", "bad.rules:1: rule: bad name 'r!'" },
		{ RULE_HEAD "  code \"x\"\n" RULE_TAIL "\n" RULE_HEAD,
		  "bad.rules:8: rule 'r' already defined at bad.rules:1" },
		{ RULE_HEAD "  code \"x\"\n  when @env.A.B\n" RULE_TAIL,
		  "bad.rules:4: when: bad environment variable '@env.A.B'" },
		{ RULE_HEAD "  code \"x\"\n  when a }\n" RULE_TAIL,
		  "bad.rules:4: when: unexpected '}' at the end of the line" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		struct ruleset *rs;

		errno = 0;
		rs = ruleset_parse(cases[i].text, "bad.rules", err, sizeof(err));
		if (rs) {
			ruleset_free(rs);
			fail_msg("case %zu parsed, expected \"%s\"", i,
				 cases[i].err);
		}
		assert_int_equal(errno, EINVAL);
		if (strncmp(err, cases[i].err, strlen(cases[i].err)))
			fail_msg("case %zu: got \"%s\", expected \"%s\"", i, err,
				 cases[i].err);
		/* One line. */
		assert_null(strchr(err, '\n'));
	}
}

/* A megabyte of nesting or of one operator chain: an error, not a crash. */
static void test_deep_expressions(void **state)
{
	static const char *const unit[] = { "(", "-", "not ", "min(", "1 + " };
	size_t i, j, n = 200000;
	char err[256];

	(void)state;
	for (i = 0; i < sizeof(unit) / sizeof(unit[0]); i++) {
		size_t len = strlen(unit[i]);
		char *text = malloc(64 + n * len);
		struct ruleset *rs;
		char *p;

		assert_non_null(text);
		p = text + sprintf(text, RULE_HEAD "  code \"x\"\n  when ");
		for (j = 0; j < n; j++, p += len)
			memcpy(p, unit[i], len);
		strcpy(p, "1\n");
		rs = ruleset_parse(text, "deep.rules", err, sizeof(err));
		assert_null(rs);
		assert_string_equal(err, "deep.rules:4: when: expression deeper "
				    "than 100 levels");
		free(text);
	}
	/* Reasonable nesting is fine. */
	ruleset_free(parse_ok(RULE_HEAD "  code \"x\"\n"
			      "  when ((((min(1, max(2, -(-(3)))))))) and not not 1\n"
			      RULE_TAIL));
}

/* ---- files and directories ------------------------------------------- */

static void test_load_dir(void **state)
{
	char dir[512], err[512];
	struct ruleset *rs;
	struct finding f = finding(FK_QUEUEING);

	(void)state;
	snprintf(dir, sizeof(dir), "%s/ok", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	/* Read in name order whatever the creation order; others ignored. */
	write_file(dir, "b.rules", "\n" RULE_HEAD "  change k = 2\n" RULE_TAIL);
	write_file(dir, "a.rules", "rule s\n  finding queueing\n"
		   "  change k = 1\n" RULE_TAIL);
	write_file(dir, "notes.txt", "not rules");
	write_file(dir, ".hidden.rules", "garbage");
	rs = ruleset_load_dir(dir, err, sizeof(err));
	if (!rs)
		fail_msg("%s", err);
	assert_int_equal(ruleset_count(rs), 2);
	assert_int_equal(ruleset_apply(rs, &f, NULL, NULL), 2);
	assert_string_equal(f.fixes[0].rule, "a.rules:1");
	assert_string_equal(f.fixes[1].rule, "b.rules:2");
	ruleset_free(rs);

	/* An error names the file by its path; a name used twice. */
	write_file(dir, "c.rules", "rule s\n");
	rs = ruleset_load_dir(dir, err, sizeof(err));
	assert_null(rs);
	assert_int_equal(errno, EINVAL);
	assert_true(strstr(err, "/ok/c.rules:1: rule 's' already defined at ") != NULL);
	assert_non_null(strstr(err, "/ok/a.rules:1"));

	/* Missing, empty. */
	snprintf(dir, sizeof(dir), "%s/none", tmpdir);
	rs = ruleset_load_dir(dir, err, sizeof(err));
	assert_null(rs);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "/none: No such file or directory"));
	snprintf(dir, sizeof(dir), "%s/empty", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	rs = ruleset_load_dir(dir, err, sizeof(err));
	assert_non_null(rs);
	assert_int_equal(ruleset_count(rs), 0);
	ruleset_free(rs);
}

static void test_default_dir(void **state)
{
	const char *d;

	(void)state;
	assert_int_equal(setenv("LOUPE_RULES_DIR", "/etc/loupe/rules", 1), 0);
	assert_string_equal(rules_default_dir(), "/etc/loupe/rules");
	/* Empty counts as unset. */
	assert_int_equal(setenv("LOUPE_RULES_DIR", "", 1), 0);
	d = rules_default_dir();
	assert_true(ends_with(d, "/analyzer/rules") ||
		    ends_with(d, "/share/loupe/rules"));
	assert_int_equal(unsetenv("LOUPE_RULES_DIR"), 0);
	d = rules_default_dir();
	/* The test binary is <tree>/build/tests/test_rules. */
	assert_true(d[0] == '/');
	assert_true(ends_with(d, "/analyzer/rules") ||
		    ends_with(d, "/share/loupe/rules"));
}

static void test_null_safety(void **state)
{
	struct finding f = finding(FK_QUEUEING);

	(void)state;
	ruleset_free(NULL);
	assert_int_equal(ruleset_count(NULL), 0);
	assert_int_equal(ruleset_apply(NULL, &f, NULL, NULL), 0);
	/* A kind out of range matches nothing. */
	f.kind = FK_N;
	assert_int_equal(ruleset_apply(shipped, &f, NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_shipped_rules_load),
		cmocka_unit_test(test_oversubscribed_workers),
		cmocka_unit_test(test_oversubscribed_openmp),
		cmocka_unit_test(test_oversubscribed_intra_op),
		cmocka_unit_test(test_no_rule_matches),
		cmocka_unit_test(test_conditions_false),
		cmocka_unit_test(test_queueing),
		cmocka_unit_test(test_oversized_batch),
		cmocka_unit_test(test_ranker_leak),
		cmocka_unit_test(test_leak_elsewhere_is_not_the_fault),
		cmocka_unit_test(test_ranker_lock),
		cmocka_unit_test(test_ranker_alloc_churn),
		cmocka_unit_test(test_allocator_env),
		cmocka_unit_test(test_ranker_page_faults),
		cmocka_unit_test(test_ranker_slow_stage),
		cmocka_unit_test(test_ranker_stall),
		cmocka_unit_test(test_hot_functions),
		cmocka_unit_test(test_rss_growth),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_unknown_placeholder_silences),
		cmocka_unit_test(test_change_semantics),
		cmocka_unit_test(test_conditions),
		cmocka_unit_test(test_several_when_lines_and),
		cmocka_unit_test(test_match_filters),
		cmocka_unit_test(test_fix_limit),
		cmocka_unit_test(test_duplicates_merge),
		cmocka_unit_test(test_lookup_buffer_reused),
		cmocka_unit_test(test_long_text_cut),
		cmocka_unit_test(test_comments_crlf_blank_lines),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_deep_expressions),
		cmocka_unit_test(test_load_dir),
		cmocka_unit_test(test_default_dir),
		cmocka_unit_test(test_null_safety),
	};

	return cmocka_run_group_tests_name("rules", tests, group_setup,
					   group_teardown);
}
