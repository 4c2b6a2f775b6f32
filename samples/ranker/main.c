/* SPDX-License-Identifier: MIT */
/*
 * ranker: command line, signals, and the order things start and stop in.
 *
 * Start: parse flags, read the config, print the pid (so scripts can
 * attach before the load starts), build the models, start the workers,
 * print "ranker: ready", start the load.  Stop (end of --duration, SIGINT
 * or SIGTERM): stop the generator, let the workers drain the queue, join
 * them, print the ground truth.  SIGHUP reloads the config file.
 *
 * Signal handlers only set flags; the main thread is the only thread that
 * receives these signals (thread_spawn blocks them elsewhere), so its sleep
 * is cut short and the flag is acted on at once.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loupe/probe.h>

#include "ranker.h"

#define TICK_NS 50000000ull		/* main loop poll */
#define PROGRESS_NS 1000000000ull	/* progress line period */

static struct env {
	double qps;		/* open loop rate */
	int closed;		/* closed loop concurrency; 0 = open loop */
	double duration_s;	/* 0 = until SIGINT/SIGTERM */
	unsigned long long seed;
	int workers;		/* --workers; 0 = from the config */
	const char *config;	/* --config as given */
	char *config_abs;	/* its absolute path */
	const char *stats_json;
	bool quiet;
} env = {
	.qps = 200,
	.seed = 1,
};

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static const char usage[] =
	"usage: ranker [options]\n"
	"\n"
	"A DLRM-style ranking inference server with a built-in load generator,\n"
	"instrumented with loupe probes.  Prints ground-truth latency at exit.\n"
	"\n"
	"  --qps N           open loop: Poisson arrivals at N requests/s (default 200)\n"
	"  --closed C        closed loop: keep C requests outstanding instead\n"
	"  --duration S      seconds of load; 0 or omitted: until SIGINT/SIGTERM\n"
	"  --config FILE     'key = value' config, reloaded on SIGHUP\n"
	"  --seed N          seed for weights and requests (default 1)\n"
	"  --workers N       worker threads, overrides the config (default: online CPUs)\n"
	"  --stats-json FILE write the ground truth as JSON at exit\n"
	"  --quiet           no per-second progress lines\n"
	"  --help            this text\n"
	"\n"
	"Config keys, faults and examples: samples/README.md\n";

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	reload_requested = 1;
}

static int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_int(const char *s, long min, long max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int parse_u64(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	if (*s == '-')
		return -EINVAL;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end ? -EINVAL : 0;
}

/* 0 to run, 1 when --help was printed, or -EINVAL after one error line. */
static int parse_args(int argc, char **argv)
{
	bool qps_set = false;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL, *eq;
		char name[32];
		int err = 0;

		if (strncmp(arg, "--", 2)) {
			fprintf(stderr, "ranker: unexpected argument '%s' (see --help)\n", arg);
			return -EINVAL;
		}
		/* Accept both "--flag value" and "--flag=value". */
		eq = strchr(arg, '=');
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
		if (!strcmp(name, "--help")) {
			fputs(usage, stdout);
			/* A full disk or a closed pipe is an error, not a help. */
			if (fflush(stdout) || ferror(stdout)) {
				fprintf(stderr, "ranker: write help: %s\n", strerror(errno));
				return -EIO;
			}
			return 1;
		}
		if (!strcmp(name, "--quiet")) {
			env.quiet = true;
			continue;
		}
		if (strcmp(name, "--qps") && strcmp(name, "--closed") &&
		    strcmp(name, "--duration") && strcmp(name, "--config") &&
		    strcmp(name, "--seed") && strcmp(name, "--workers") &&
		    strcmp(name, "--stats-json")) {
			fprintf(stderr, "ranker: unknown option '%s' (see --help)\n", name);
			return -EINVAL;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		if (!val) {
			fprintf(stderr, "ranker: option '%s' needs a value\n", name);
			return -EINVAL;
		}

		if (!strcmp(name, "--qps")) {
			err = parse_double(val, 1e-3, 1e7, &env.qps);
			qps_set = true;
		} else if (!strcmp(name, "--closed")) {
			err = parse_int(val, 1, 1000000, &env.closed);
		} else if (!strcmp(name, "--duration")) {
			err = parse_double(val, 0, 1e9, &env.duration_s);
		} else if (!strcmp(name, "--seed")) {
			err = parse_u64(val, &env.seed);
		} else if (!strcmp(name, "--workers")) {
			err = parse_int(val, 1, 1024, &env.workers);
		} else if (!strcmp(name, "--config")) {
			env.config = val;
		} else if (!strcmp(name, "--stats-json")) {
			env.stats_json = val;
		}
		if (err) {
			fprintf(stderr, "ranker: invalid value '%s' for %s\n", val, name);
			return -EINVAL;
		}
	}
	if (qps_set && env.closed) {
		fprintf(stderr, "ranker: --qps and --closed are exclusive\n");
		return -EINVAL;
	}
	return 0;
}

static void signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the main loop's sleep must return on a signal. */
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
}

/*
 * SIGHUP: re-read the config file and apply it.  --workers keeps winning
 * until the file's own workers value changes: then the operator edited it,
 * and an edit of the file is the way to resize a running pool.
 */
static void config_reload(struct server *srv, struct config *cur, int *file_workers)
{
	struct config next;
	int fw;

	if (!env.config_abs) {
		fprintf(stderr, "ranker: SIGHUP ignored: no --config file\n");
		return;
	}
	if (config_load(env.config_abs, &next, &fw)) {
		fprintf(stderr, "ranker: reload %s failed, running config kept\n", env.config_abs);
		return;
	}
	if (env.workers && fw == *file_workers)
		next.workers = cur->workers;
	*file_workers = fw;
	server_apply_config(srv, &next);
	faults_configure(&next);
	*cur = next;
	fprintf(stderr, "ranker: reloaded config %s\n", env.config_abs);
	config_announce(cur, env.config_abs);
}

static void progress_print(struct server *srv, struct stats *st, uint64_t start_ns,
			   uint64_t *last_ok, uint64_t *last_ns)
{
	uint64_t now = ranker_now_ns(), ok = stats_ok(st);
	struct server_status ss;

	server_status(srv, &ss);
	fprintf(stderr, "ranker: %.0f s: %llu ok (%.0f/s), %llu errors, queue %u/%u, workers %d\n",
		(double)(now - start_ns) / 1e9, (unsigned long long)ok,
		(double)(ok - *last_ok) * 1e9 / (double)(now - *last_ns),
		(unsigned long long)stats_errors(st), ss.queued, ss.depth, ss.workers);
	*last_ok = ok;
	*last_ns = now;
}

int main(int argc, char **argv)
{
	struct server *srv = NULL;
	struct stats *st = NULL;
	struct loadgen *lg = NULL;
	struct config cfg;
	char line[512];
	int file_workers = 0, ret = 1, err;
	uint64_t t0, start_ns, end_ns, next_progress, last_ok = 0, last_ns;

	err = parse_args(argc, argv);
	if (err)
		return err > 0 ? 0 : err == -EIO ? 1 : 2;

	config_init(&cfg);
	if (env.config) {
		env.config_abs = realpath(env.config, NULL);
		if (!env.config_abs) {
			fprintf(stderr, "ranker: config %s: %s\n", env.config, strerror(errno));
			return 1;
		}
		if (config_load(env.config_abs, &cfg, &file_workers))
			return 1;
	}
	if (env.workers)
		cfg.workers = env.workers;

	signals_install();
	if (env.closed)
		snprintf(line, sizeof(line), "closed loop %d outstanding", env.closed);
	else
		snprintf(line, sizeof(line), "open loop %g qps", env.qps);
	if (env.duration_s > 0)
		fprintf(stderr, "ranker: pid %d, %s for %g s, seed %llu\n", (int)getpid(), line,
			env.duration_s, env.seed);
	else
		fprintf(stderr, "ranker: pid %d, %s until SIGINT/SIGTERM, seed %llu\n",
			(int)getpid(), line, env.seed);
	config_describe(&cfg, line, sizeof(line));
	fprintf(stderr, "ranker: config %s: %s\n", env.config_abs ? env.config_abs : "(defaults)",
		line);

	for (int m = 0; m < MODEL_COUNT; m++)
		LOUPE_MODEL(model_name(m));
	config_announce(&cfg, env.config_abs);

	t0 = ranker_now_ns();
	err = models_init(env.seed);
	if (err) {
		fprintf(stderr, "ranker: init models: %s\n", strerror(-err));
		goto cleanup;
	}
	for (int m = 0; m < MODEL_COUNT; m++) {
		model_describe(m, line, sizeof(line));
		fprintf(stderr, "ranker: model %s\n", line);
	}
	fprintf(stderr, "ranker: models built in %.2f s\n", (double)(ranker_now_ns() - t0) / 1e9);

	faults_init();
	faults_configure(&cfg);
	st = stats_new();
	if (!st) {
		fprintf(stderr, "ranker: stats: %s\n", strerror(ENOMEM));
		goto cleanup;
	}
	srv = server_new(&cfg, st);
	if (!srv) {
		fprintf(stderr, "ranker: start server: %s\n", strerror(errno));
		goto cleanup;
	}
	fprintf(stderr, "ranker: ready\n");

	lg = loadgen_start(&(struct loadgen_opts){
				   .qps = env.qps,
				   .closed = env.closed,
				   .duration_s = env.duration_s,
				   .seed = env.seed,
			   }, srv, st);
	if (!lg) {
		fprintf(stderr, "ranker: start load generator: %s\n", strerror(errno));
		goto cleanup;
	}
	start_ns = last_ns = loadgen_start_ns(lg);
	next_progress = start_ns + PROGRESS_NS;

	while (!stop_requested && !loadgen_finished(lg)) {
		struct timespec tick = { 0, (long)TICK_NS };
		uint64_t now;

		nanosleep(&tick, NULL);	/* EINTR on a signal: that is fine */
		if (reload_requested) {
			reload_requested = 0;
			config_reload(srv, &cfg, &file_workers);
		}
		now = ranker_now_ns();
		if (now >= next_progress) {
			if (!env.quiet)
				progress_print(srv, st, start_ns, &last_ok, &last_ns);
			next_progress += PROGRESS_NS;
			if (next_progress <= now)
				next_progress = now + PROGRESS_NS;
		}
	}

	loadgen_stop(lg);
	lg = NULL;
	server_drain(srv);
	end_ns = ranker_now_ns();
	faults_shutdown();

	ret = stats_report(st, (double)(end_ns - start_ns) / 1e9, stderr, env.stats_json) ? 1 : 0;
	if (faults_leaked_total() || faults_stall_count())
		fprintf(stderr, "ranker: faults: %lld bytes leaked, %lld stalls\n",
			faults_leaked_total(), faults_stall_count());

cleanup:
	loadgen_stop(lg);
	if (srv)
		server_drain(srv);
	faults_shutdown();
	server_free(srv);
	stats_free(st);
	models_release();
	free(env.config_abs);
	return ret;
}
