// SPDX-License-Identifier: MIT
/*
 * loupe top: a live view of a process (a child `loupe record` writes the
 * trace, we follow the file) or a replay of a trace file, with findings
 * from the analyzer and one-key apply-and-verify of proposed config fixes.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curses.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "commands.h"
#include "log.h"
#include "tui/tui.h"

const char top_help[] =
	"usage: loupe top [OPTIONS] -p PID [-o FILE] [RECORD OPTIONS]\n"
	"       loupe top [OPTIONS] FILE\n"
	"\n"
	"A live view of a process instrumented with <loupe/probe.h>: per model\n"
	"QPS, latency against the SLO, stages, hot functions, memory, and the\n"
	"analyzer's findings with proposed fixes, which 'a' applies to the\n"
	"workload's config file (then SIGHUP) and verifies on the following\n"
	"windows.  With FILE, replays a recorded trace.  See docs/top.md.\n"
	"\n"
	"  -p, --pid PID        attach (as 'loupe record -p PID' does; needs\n"
	"                       root, or CAP_BPF and CAP_PERFMON)\n"
	"  -o, --output FILE    also keep the trace in FILE (default: a temp\n"
	"                       file removed at exit)\n"
	"  -r, --refresh SEC    how often to read new windows and redraw\n"
	"                       (default 1, 0.1..60)\n"
	"  --auto-rollback      roll an applied fix back when verify finds it\n"
	"                       made the metric worse\n"
	"  --slo SPEC           latency SLO, e.g. p99=25ms or ctr_small:p99=10ms\n"
	"                       (default: the workload's slo_p99_ms config)\n"
	"  --rules DIR          fix rules folder (default: the installed rules)\n"
	"  -h, --help           this help\n"
	"\n"
	"Record options, passed to the recorder: -w MS, --cpu[=HZ], --no-cpu,\n"
	"--no-offcpu, --no-counters, --call-graph MODE, --mem, --probe SPEC.\n"
	"\n"
	"Keys: ? help, q quit, Tab or 1-4 screens, arrows/PgUp/PgDn select,\n"
	"Enter details, / filter, s sort, a apply a fix, r roll it back;\n"
	"replay: Space play/pause, + - speed, < > seek 10 windows, Home End.\n"
	"Exit status: 0 ok, 1 failure (no such process, recorder failed),\n"
	"2 usage.\n";

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static double own_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Adds a record flag to pass through ("--cpu=99", or "-w" then "500"). */
static int pass(struct top_env *env, const char *flag, const char *arg)
{
	char *s;

	if (env->nrec_args + 2 > (int)(sizeof(env->rec_args) / sizeof(env->rec_args[0]))) {
		pr_err("top: too many record options");
		return 2;
	}
	s = strdup(flag);
	if (!s)
		return 1;
	env->rec_args[env->nrec_args++] = s;
	if (arg) {
		s = strdup(arg);
		if (!s)
			return 1;
		env->rec_args[env->nrec_args++] = s;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct top_env *env)
{
	enum { O_AUTO = 256, O_SLO, O_RULES, O_CPU, O_NOCPU, O_NOOFF, O_NOCTR,
	       O_CG, O_MEM, O_PROBE };
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "refresh", required_argument, NULL, 'r' },
		{ "auto-rollback", no_argument, NULL, O_AUTO },
		{ "slo", required_argument, NULL, O_SLO },
		{ "rules", required_argument, NULL, O_RULES },
		{ "window", required_argument, NULL, 'w' },
		{ "cpu", optional_argument, NULL, O_CPU },
		{ "no-cpu", no_argument, NULL, O_NOCPU },
		{ "no-offcpu", no_argument, NULL, O_NOOFF },
		{ "no-counters", no_argument, NULL, O_NOCTR },
		{ "call-graph", required_argument, NULL, O_CG },
		{ "mem", no_argument, NULL, O_MEM },
		{ "probe", required_argument, NULL, O_PROBE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end, buf[64];
	long v;
	int opt, err = 0;

	opterr = 0;
	optind = 1;
	while (!err && (opt = getopt_long(argc, argv, "+p:o:r:w:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			v = strtol(optarg, &end, 10);
			if (*end || v <= 0 || v > INT_MAX) {
				pr_err("top: invalid pid '%s'", optarg);
				return 2;
			}
			env->pid = (pid_t)v;
			break;
		case 'o':
			env->output = optarg;
			break;
		case 'r':
			env->refresh_s = strtod(optarg, &end);
			if (*end || !(env->refresh_s >= 0.1 && env->refresh_s <= 60)) {
				pr_err("top: invalid refresh '%s' (0.1..60 seconds)", optarg);
				return 2;
			}
			break;
		case O_AUTO: env->auto_rollback = true; break;
		case O_SLO: env->ao.slo = optarg; break;
		case O_RULES: env->ao.rules_dir = optarg; break;
		case 'w': err = pass(env, "-w", optarg); break;
		case O_CPU:
			snprintf(buf, sizeof(buf), "--cpu%s%s", optarg ? "=" : "",
				 optarg ? optarg : "");
			err = pass(env, buf, NULL);
			break;
		case O_NOCPU: err = pass(env, "--no-cpu", NULL); break;
		case O_NOOFF: err = pass(env, "--no-offcpu", NULL); break;
		case O_NOCTR: err = pass(env, "--no-counters", NULL); break;
		case O_CG: err = pass(env, "--call-graph", optarg); break;
		case O_MEM: err = pass(env, "--mem", NULL); break;
		case O_PROBE: err = pass(env, "--probe", optarg); break;
		case 'h':
			fputs(top_help, stdout);
			return -1;
		default:
			if (optopt)
				pr_err("top: unknown option '-%c' (see 'loupe help top')", optopt);
			else
				pr_err("top: unknown option '%s' (see 'loupe help top')",
				       argv[optind - 1]);
			return 2;
		}
	}
	if (err)
		return err;
	if (optind < argc)
		env->file = argv[optind++];
	if (optind < argc) {
		pr_err("top: unexpected argument '%s' (see 'loupe help top')", argv[optind]);
		return 2;
	}
	if (!env->pid == !env->file) {
		pr_err("top: give either -p PID or a trace FILE (see 'loupe help top')");
		return 2;
	}
	if (env->file && (env->output || env->nrec_args || env->auto_rollback)) {
		pr_err("top: -o, --auto-rollback and record options need -p PID");
		return 2;
	}
	return 0;
}

static void log_action(void *arg, const char *line)
{
	recorder_action(arg, line);
}

static void on_window(void *arg, const struct window *w)
{
	struct top *t = arg;

	apply_on_window(&t->ap, &t->src.model, w);
	if (t->env.auto_rollback && apply_can_rollback(&t->ap) &&
	    (t->ap.outcome == OUT_WORSE || t->ap.outcome == OUT_FAILED))
		apply_rollback(&t->ap, &t->src.model);
}

/* Own CPU use over the last ~10 refreshes, % of one core. */
static void measure_cpu(struct top *t)
{
	static double wall[10], cpu[10];
	static size_t n;
	size_t oldest = n >= 10 ? n % 10 : 0;
	double w = now_ns() / 1e9, c = own_cpu_s();

	if (n && w > wall[oldest])
		t->cpu_pct = (c - cpu[oldest]) * 100 / (w - wall[oldest]);
	wall[n % 10] = w;
	cpu[n % 10] = c;
	n++;
}

/* Live: (re)try opening the trace the recorder writes, then read it.
 * Returns K_REDRAW when something changed, or -1 on a fatal error. */
static int live_tick(struct top *t, char *err, size_t errlen)
{
	bool alive = recorder_alive(&t->rec);
	int rc, flags = 0;

	if (!t->src_open) {
		rc = source_open(&t->src, t->rec.trace, true, &t->env.ao, err, errlen);
		if (rc && err[0])
			return -1;	/* the analyzer refused its options */
		if (!rc) {
			t->src_open = true;
			flags = K_REDRAW;
		} else if (!alive) {
			return -1;
		}
	}
	if (t->src_open) {
		rc = source_step(&t->src, 0);
		if (rc > 0)
			flags = K_REDRAW;
		else if (rc < 0)
			ui_msg(t, "reading %s: %s",
				 t->rec.trace, strerror(-rc));
	}
	if (!alive && !t->rec_ended) {
		t->rec_ended = true;
		if (!t->src.fed && (!WIFEXITED(t->rec.status) || WEXITSTATUS(t->rec.status)))
			return -1;
		source_step(&t->src, 0);
		ui_msg(t, "the recording ended (%s); q to quit",
			 WIFEXITED(t->rec.status) && !WEXITSTATUS(t->rec.status) ?
				 "the target exited" : "recorder failed");
		flags = K_REDRAW;
	}
	return flags;
}

/* Replay: windows due by now at the current speed. */
static int replay_tick(struct top *t, __u64 *next_play)
{
	double interval = 1.0 / t->speed;
	size_t k = 1;

	if (!t->playing || now_ns() < *next_play)
		return 0;
	/* Faster than 8 windows/s: several per frame, 8 frames a second. */
	if (interval < 0.125) {
		k = (size_t)(t->speed / 8 + 0.5);
		interval = 0.125;
	}
	*next_play = now_ns() + (__u64)(interval * 1e9);
	source_step(&t->src, k);
	if (t->src.ended) {
		t->playing = false;
		ui_msg(t, "end of the trace (%llu windows): < or Home to go back",
			 (unsigned long long)t->src.fed);
	}
	return K_REDRAW;
}

static int run(struct top *t)
{
	__u64 tick_ns = (__u64)(t->env.refresh_s * 1e9), next_tick = 0, next_play = 0;
	char err[256] = "";
	int flags = K_REDRAW, rc, ch;

	for (;;) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		__u64 now = now_ns(), wake = next_tick;
		int timeout;

		if (!t->live && t->playing && next_play < wake)
			wake = next_play;
		timeout = wake > now ? (int)((wake - now) / 1000000) + 1 : 0;
		if (flags & K_REDRAW)
			ui_draw(t);
		flags = 0;
		poll(&pfd, 1, timeout);
		if (stop_signal)
			return 0;
		while ((ch = getch()) != ERR)
			flags |= keys_handle(t, ch);
		if (flags & K_QUIT)
			return 0;
		if (now_ns() >= next_tick) {
			/* Until the recorder has written something, look
			 * often: attaching takes a second or two. */
			next_tick = now_ns() + (t->src_open ? tick_ns : tick_ns / 5);
			measure_cpu(t);
			if (t->live) {
				rc = live_tick(t, err, sizeof(err));
				if (rc < 0) {
					term_end();
					if (err[0])
						pr_err("top: %s", err);
					recorder_print_log(&t->rec, stderr);
					if (!err[0] && !t->rec.exited)
						pr_err("top: the recorder did not start");
					return 1;
				}
				flags |= rc;
			}
		}
		if (!t->live)
			flags |= replay_tick(t, &next_play);
		if (t->src_open && t->src.found_stale) {
			/* A replay shows each window's findings (the user sets
			 * the pace); live, their cost is kept in bounds. */
			source_update_findings(&t->src, !t->live);
			if (!t->src.found_stale)
				flags |= K_REDRAW;
		}
	}
}

static void free_env(struct top_env *env)
{
	int i;

	for (i = 0; i < env->nrec_args; i++)
		free(env->rec_args[i]);
}

int cmd_top(int argc, char **argv)
{
	static struct top top;	/* large (a finding copy, snapshots): not on the stack */
	struct top *t = &top;
	struct sigaction sa = { 0 };
	char err[256] = "";
	int ret = 1, rc;

	memset(t, 0, sizeof(*t));
	t->rec.ctl = -1;
	t->env.refresh_s = 1;
	rc = parse_args(argc, argv, &t->env);
	if (rc) {
		free_env(&t->env);
		return rc < 0 ? 0 : rc;
	}
	t->live = t->env.pid != 0;
	t->speed = 1;
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (t->live) {
		/* Checked here so the usual case reads clearly, before the
		 * screen is taken; the recorder checks again. */
		if (kill(t->env.pid, 0) && errno == ESRCH) {
			pr_err("top: attach to pid %d: no such process", (int)t->env.pid);
			goto cleanup;
		}
		/* No recorder for a screen we cannot use. */
		if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
			pr_err("top: needs a terminal (stdin and stdout)");
			goto cleanup;
		}
		apply_init(&t->ap, log_action, &t->rec);
		t->src.on_window = on_window;
		t->src.arg = t;
		rc = recorder_start(&t->rec, t->env.pid, t->env.output, t->env.rec_args,
				    t->env.nrec_args);
		if (rc) {
			pr_err("top: start the recorder: %s", strerror(-rc));
			goto cleanup;
		}
	} else {
		apply_init(&t->ap, NULL, NULL);
		rc = source_open(&t->src, t->env.file, false, &t->env.ao, err, sizeof(err));
		if (rc) {
			if (err[0])
				pr_err("top: %s", err);
			else
				pr_err("top: open %s: %s", t->env.file,
				       rc == -EPROTO ? "not a loupe trace" : strerror(-rc));
			goto cleanup;
		}
		t->src_open = true;
		t->playing = true;
		source_step(&t->src, 1);
		source_update_findings(&t->src, true);
	}
	rc = term_init();
	if (rc) {
		pr_err("top: %s", rc == -ENOTTY ? "needs a terminal (stdin and stdout)" :
			"cannot set up the terminal (is TERM right?)");
		goto cleanup;
	}
	ret = run(t);
	term_end();
	if (t->live) {
		/* SIGINT: the recorder closes its windows and writes END. */
		recorder_stop(&t->rec, 5000);
		if (!ret && t->env.output)
			recorder_print_log(&t->rec, stderr);
	}
	if (!ret)
		pr_debug("top: own CPU %.2f %% of one core", t->cpu_pct);
cleanup:
	term_end();
	if (t->live && t->rec.pid)
		recorder_stop(&t->rec, 5000);
	if (t->src_open || t->src.ws)
		source_close(&t->src);
	recorder_release(&t->rec);
	apply_release(&t->ap);
	free_env(&t->env);
	return ret;
}
