// SPDX-License-Identifier: MIT
/*
 * libloupe-alloc.so without a kernel: we run build/progs/alloc_stress under
 * LD_PRELOAD with LOUPE_ALLOC_TEST_COUNT=1, so the shim tracks sampled
 * pointers as if a profiler were attached and reports its counters on
 * stderr at exit; the stress program reports what it really allocated on
 * stdout.  Linking the shim into this test would replace cmocka's malloc
 * too, hence fork/exec.
 *
 * Paths are relative to the repository root ($OUT, default "build"), where
 * tests/run.sh runs us; a missing shim or program skips.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "collector/usdt_scan.h"

extern char **environ;

static char shim[PATH_MAX];
static char prog[PATH_MAX];

struct run {
	int status;
	char out[4096];
	char err[4096];
};

struct shim_report {
	long long pid, mean, allocs, frees, weight, live, drops, max_rate;
};

struct stress_report {
	long long pid, total, live_blocks;
};

static int find_paths(void)
{
	const char *out = getenv("OUT");
	char p[PATH_MAX];

	if (!out || !*out)
		out = "build";
	snprintf(p, sizeof(p), "%s/libloupe-alloc.so", out);
	if (!realpath(p, shim))
		return -1;
	snprintf(p, sizeof(p), "%s/progs/alloc_stress", out);
	if (!realpath(p, prog))
		return -1;
	return 0;
}

static void slurp(int fd, char *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/*
 * Runs PROG with ARGV (argv[0] excluded, NULL-terminated) and the current
 * environment plus EXTRA ("K=V" strings, NULL-terminated).
 */
static void run_prog(struct run *r, const char *const *extra,
		     const char *const *args)
{
	char ofile[] = "/tmp/loupe-alloc-out.XXXXXX";
	char efile[] = "/tmp/loupe-alloc-err.XXXXXX";
	int ofd = mkstemp(ofile), efd = mkstemp(efile);
	const char *argv[16] = { prog };
	const char *envp[512];
	size_t ne = 0, na = 1, i;
	pid_t pid;

	assert_true(ofd >= 0 && efd >= 0);
	unlink(ofile);
	unlink(efile);
	for (i = 0; args[i] && na < 15; i++)
		argv[na++] = args[i];
	argv[na] = NULL;
	for (i = 0; extra[i] && ne < 64; i++)
		envp[ne++] = extra[i];
	for (i = 0; environ[i] && ne < 511; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) &&
		    strncmp(environ[i], "LOUPE_ALLOC_", 12))
			envp[ne++] = environ[i];
	envp[ne] = NULL;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(ofd, STDOUT_FILENO);
		dup2(efd, STDERR_FILENO);
		execve(prog, (char **)argv, (char **)envp);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
	slurp(ofd, r->out, sizeof(r->out));
	slurp(efd, r->err, sizeof(r->err));
}

static int exited_ok(const struct run *r)
{
	return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/* The shim's line for PID (the forked child prints one of its own). */
static int parse_shim(const char *err, long long pid, struct shim_report *s)
{
	const char *p = err;

	while ((p = strstr(p, "loupe-alloc: pid=")) != NULL) {
		if (sscanf(p, "loupe-alloc: pid=%lld mean=%lld sampled_allocs=%lld "
			   "sampled_frees=%lld weight_bytes=%lld live=%lld drops=%lld "
			   "max_rate=%lld",
			   &s->pid, &s->mean, &s->allocs, &s->frees, &s->weight,
			   &s->live, &s->drops, &s->max_rate) == 8 && s->pid == pid)
			return 0;
		p++;
	}
	return -1;
}

static int parse_stress(const char *out, struct stress_report *s)
{
	const char *p = strstr(out, "alloc_stress: pid=");

	if (!p || sscanf(p, "alloc_stress: pid=%lld total_bytes=%lld live_blocks=%lld",
			 &s->pid, &s->total, &s->live_blocks) != 3)
		return -1;
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return 0;
}

/*
 * Under SAN=1 alloc_stress is built with ASan, whose runtime must come first
 * and owns malloc: preloading an allocator shim there tests nothing.  Those
 * cases pass vacuously rather than skip, since CI=true fails skips; the
 * plain build runs them.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define NOT_UNDER_ASAN()                                                  \
	do {                                                              \
		if (SANITIZED) {                                          \
			print_message("asan build: not applicable\n");    \
			return;                                           \
		}                                                         \
	} while (0)

#define NEED_BUILD()                                                      \
	do {                                                              \
		if (find_paths()) {                                       \
			print_message("shim or alloc_stress not built\n"); \
			skip();                                           \
		}                                                         \
	} while (0)

static void test_probes_present(void **state)
{
	(void)state;
	NEED_BUILD();
	/* alloc, free, alloc_config */
	assert_int_equal(usdt_count_probes(shim), 3);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Runs the stress with ARGS and MEAN and checks the shim's bookkeeping.
 * MAX_RATE: the per-thread sample rate limit (0: none), which then must
 * hold, over the stress's threads and its forked child.
 */
static void check_stress(const char *mean_env, long long mean, int max_rate,
			 const char *const *args)
{
	char preload[PATH_MAX + 32], rate_env[64];
	const char *extra[] = { preload, "LOUPE_ALLOC_TEST_COUNT=1", mean_env,
				rate_env, NULL };
	struct run *r = calloc(1, sizeof(*r));
	struct stress_report st;
	struct shim_report sh;
	double rel, t0, secs, bound;

	assert_non_null(r);
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim);
	snprintf(rate_env, sizeof(rate_env), "LOUPE_ALLOC_MAX_RATE=%d", max_rate);
	t0 = now_s();
	run_prog(r, extra, args);
	secs = now_s() - t0;
	if (!exited_ok(r))
		print_message("stderr: %s\n", r->err);
	assert_true(exited_ok(r));
	assert_int_equal(parse_stress(r->out, &st), 0);
	assert_int_equal(parse_shim(r->err, st.pid, &sh), 0);
	rel = ((double)sh.weight - (double)st.total) / (double)st.total;
	print_message("mean=%lld true=%lld estimated=%lld (%+.2f%%) sampled "
		      "allocs=%lld frees=%lld live=%lld (program live %lld) "
		      "drops=%lld max_rate=%lld in %.2f s\n", sh.mean, st.total,
		      sh.weight, rel * 100, sh.allocs, sh.frees, sh.live,
		      st.live_blocks, sh.drops, sh.max_rate, secs);
	assert_int_equal(sh.mean, mean);
	assert_int_equal(sh.max_rate, max_rate);
	/* ~10^5 samples: 10 % is dozens of standard errors. */
	assert_true(rel > -0.10 && rel < 0.10);
	/* Every sampled pointer freed was matched, the rest are live. */
	assert_int_equal(sh.allocs - sh.frees, sh.live);
	assert_int_equal(sh.drops, 0);
	/* The live sampled set is (a subset of) the program's leaked
	 * 1 MiB blocks, plus at most a few of libc's own (stdio buffers).
	 * Each leaked block is sampled with p = 1 - exp(-1 MiB / mean). */
	assert_true(sh.live <= st.live_blocks + 16);
	if (max_rate) {
		/* Every thread (and the child) within its rate, with room
		 * for the doublings before the mean settles. */
		bound = 1.5 * max_rate * (atoi(args[0]) + 1) * (secs + 1);
		assert_true(sh.allocs <= bound);
	} else if (mean >= 65536) {
		/* The leaked 1 MiB blocks come last, after the churn: only
		 * at the configured mean are they likely sampled. */
		assert_true(sh.live >= st.live_blocks / 2);
	}
	free(r);
}

static void test_stress_default_mean(void **state)
{
	const char *args[] = { "8", "200000", NULL };

	(void)state;
	NOT_UNDER_ASAN();
	NEED_BUILD();
	check_stress("LOUPE_ALLOC_UNUSED=1", 524288, 0, args);
}

static void test_stress_small_mean(void **state)
{
	const char *args[] = { "2", "50000", NULL };

	(void)state;
	NOT_UNDER_ASAN();
	NEED_BUILD();
	check_stress("LOUPE_ALLOC_SAMPLE_BYTES=65536", 65536, 0, args);
}

/* The stress allocates GB/s: the default rate limit raises each thread's
 * mean, the estimate stays unbiased. */
static void test_stress_rate_limited(void **state)
{
	const char *args[] = { "4", "100000", NULL };

	(void)state;
	NOT_UNDER_ASAN();
	NEED_BUILD();
	check_stress("LOUPE_ALLOC_UNUSED=1", 524288, 200, args);
}

static void test_unattached_reports_nothing(void **state)
{
	char preload[PATH_MAX + 32];
	const char *extra[] = { preload, NULL };
	const char *args[] = { "4", "20000", NULL };
	struct run *r = calloc(1, sizeof(*r));

	(void)state;
	NOT_UNDER_ASAN();
	NEED_BUILD();
	assert_non_null(r);
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim);
	run_prog(r, extra, args);
	assert_true(exited_ok(r));
	assert_null(strstr(r->err, "loupe-alloc:"));
	free(r);
}

static double bench_ns(int preload_shim)
{
	char preload[PATH_MAX + 32];
	const char *extra[] = { preload, NULL };
	const char *args[] = { "--bench", "10000000", NULL };
	struct run *r = calloc(1, sizeof(*r));
	const char *p;
	double ns = -1;

	assert_non_null(r);
	snprintf(preload, sizeof(preload), "%s%s",
		 preload_shim ? "LD_PRELOAD=" : "LOUPE_ALLOC_NONE=",
		 preload_shim ? shim : "1");
	run_prog(r, extra, args);
	assert_true(exited_ok(r));
	p = strstr(r->out, "ns_per_pair=");
	assert_non_null(p);
	ns = strtod(p + 12, NULL);
	free(r);
	return ns;
}

/* Measured, not asserted: a loaded CI machine would flake. */
static void test_bench_malloc_free(void **state)
{
	double without, with;

	(void)state;
	NOT_UNDER_ASAN();
	NEED_BUILD();
	without = bench_ns(0);
	with = bench_ns(1);
	print_message("malloc(64)+free: %.2f ns/pair without the shim, %.2f "
		      "ns/pair with it (unattached)\n", without, with);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probes_present),
		cmocka_unit_test(test_stress_default_mean),
		cmocka_unit_test(test_stress_small_mean),
		cmocka_unit_test(test_stress_rate_limited),
		cmocka_unit_test(test_unattached_reports_nothing),
		cmocka_unit_test(test_bench_malloc_free),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
