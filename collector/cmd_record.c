// SPDX-License-Identifier: MIT
/*
 * loupe record: attach to a live process (-p PID) or launch a command, and
 * record its request/stage latency into a trace file until -d elapses, a
 * signal arrives or the target exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <bpf/libbpf.h>

#include "analyzer/units.h"
#include "collector/collector.h"
#include "collector/control.h"
#include "collector/cpu_profile.h"
#include "collector/usdt_scan.h"
#include "commands.h"
#include "log.h"

const char record_help[] =
	"usage: loupe record [-d SECONDS] [-o FILE] [-w MS] -p PID\n"
	"       loupe record [-d SECONDS] [-o FILE] [-w MS] [--] CMD [ARGS...]\n"
	"\n"
	"Records request and stage latency of a process instrumented with\n"
	"<loupe/probe.h>, its CPU and off-CPU stacks tagged with the model and\n"
	"stage running at the time, and its perf counters, into a trace file\n"
	"for 'loupe report'.\n"
	"\n"
	"  -p, --pid PID        attach to a running process\n"
	"  CMD [ARGS...]        launch CMD and follow it (after '--' if CMD's\n"
	"                       arguments start with '-')\n"
	"  -d, --duration SECS  stop after SECS seconds (default: until Ctrl-C\n"
	"                       or the target exits); a launched CMD then gets\n"
	"                       SIGTERM and is followed until it exits\n"
	"  -o, --output FILE    trace file (default loupe-YYYYmmdd-HHMMSS.lpt),\n"
	"                       created with mode 0600\n"
	"  -w, --window MS      aggregation window (default 1000; under 250, a\n"
	"                       request may be counted one window early)\n"
	"  --cpu[=HZ]           sample on-CPU stacks at HZ per CPU (default on,\n"
	"                       99 Hz); --no-cpu turns it off\n"
	"  --call-graph MODE    fp (frame pointers, walked in the kernel),\n"
	"                       dwarf (copy 8 KiB of stack, unwind with the\n"
	"                       binaries' CFI) or auto (default: dwarf when the\n"
	"                       executable lacks frame pointers)\n"
	"  --no-offcpu          no off-CPU (blocked / run-queue) time\n"
	"  --no-counters        no perf counters\n"
	"  --mem                sampled heap allocations by allocation stack, for\n"
	"                       'report --mem' (leaks).  Cheap when the target\n"
	"                       runs with LD_PRELOAD=libloupe-alloc.so; without\n"
	"                       it, uprobes on its allocator (glibc, jemalloc,\n"
	"                       tcmalloc): every malloc and free traps (5-7 us\n"
	"                       each here), so bound the window with -d; loupe\n"
	"                       measures and reports the cost.  Sampling mean:\n"
	"                       $LOUPE_ALLOC_SAMPLE_BYTES (default 524288)\n"
	"  --probe BINARY:SYMBOL\n"
	"                       exact latency histogram of a function, by\n"
	"                       uprobe + uretprobe (repeatable; BINARY is a path\n"
	"                       or a mapped library's name).  Two traps per call\n"
	"                       (~45 us here): loupe measures the cost, reports\n"
	"                       it and warns above 1 %% of the target's CPU\n"
	"  --control-fd N       for front ends (loupe top): lines '@key=value'\n"
	"                       read from fd N go into the trace as config\n"
	"                       records (e.g. @action); end of file on N stops\n"
	"                       the recording as Ctrl-C does\n"
	"  -h, --help           this help\n"
	"\n"
	"The probes of every loaded object (executable and shared libraries,\n"
	"also those loaded later) are attached.  Needs root, or CAP_BPF and\n"
	"CAP_PERFMON.  Ends with one summary line: requests, windows, dropped\n"
	"events, file size.  Exit status: 0 recorded, 1 failure, 2 usage.\n";

struct record_env {
	pid_t pid;
	double duration_s;
	const char *output;
	__u64 window_ns;
	char **cmd;
	int cpu_hz;
	bool offcpu, counters;
	int callgraph;
	char *probes[16];
	int nprobes;
	bool mem;
	struct control ctl;	/* --control-fd */
};

static volatile sig_atomic_t stop_signal;
/* When start-up ended (two windows written), and our CPU time then. */
static __u64 steady_ns;
static double steady_cpu;

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

/* Root, or the two capabilities loading and attaching BPF needs. */
static int have_bpf_privileges(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	const int need[] = { 38 /* CAP_PERFMON */, 39 /* CAP_BPF */ };
	size_t i;

	if (geteuid() == 0)
		return 1;
	if (syscall(SYS_capget, &hdr, data))
		return 0;
	for (i = 0; i < 2; i++)
		if (!(data[need[i] / 32].effective & (1u << (need[i] % 32))))
			return 0;
	return 1;
}

static char *read_cmdline(pid_t pid)
{
	char path[64], buf[4096];
	size_t n, i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return strdup("?");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && buf[n - 1] == 0)
		n--;
	for (i = 0; i < n; i++)
		if (buf[i] == 0)
			buf[i] = ' ';
	buf[n] = 0;
	return strdup(buf);
}

static char *join_args(char **argv)
{
	size_t len = 1, i;
	char *s;

	for (i = 0; argv[i]; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len);
	if (!s)
		return NULL;
	for (i = 0; argv[i]; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/* execvp's lookup, done up front so a missing program is a clear error. */
static int resolve_program(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/')) {
		if (access(name, X_OK))
			return -errno;
		if (!realpath(name, out))
			return -errno;
		return 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t dl = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)dl, path, name);
		if (!access(buf, X_OK) && realpath(buf, out) && strlen(out) < len)
			return 0;
		path += dl + (path[dl] == ':');
	}
	return -ENOENT;
}

/*
 * Forks CMD stopped at a gate (a pipe) so the probes are in place before it
 * runs its first instruction; *gate_fd releases it.
 */
static pid_t launch_gated(char **cmd, int *gate_fd)
{
	int fds[2];
	pid_t pid;
	char c;

	if (pipe2(fds, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[1]);
		/* EOF without a byte: loupe gave up, do not run. */
		if (read(fds[0], &c, 1) != 1)
			_exit(127);
		execvp(cmd[0], cmd);
		fprintf(stderr, "loupe: record: exec %s: %s\n", cmd[0],
			strerror(errno));
		_exit(127);
	}
	close(fds[0]);
	*gate_fd = fds[1];
	return pid;
}

static void default_output(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "loupe-%Y%m%d-%H%M%S.lpt", &tm);
}

static int parse_args(int argc, char **argv, struct record_env *env)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "window", required_argument, NULL, 'w' },
		{ "cpu", optional_argument, NULL, 'C' },
		{ "no-cpu", no_argument, NULL, 'N' },
		{ "no-offcpu", no_argument, NULL, 'O' },
		{ "no-counters", no_argument, NULL, 'K' },
		{ "call-graph", required_argument, NULL, 'G' },
		{ "probe", required_argument, NULL, 'P' },
		{ "mem", no_argument, NULL, 'M' },
		{ "control-fd", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long v;
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+p:d:o:w:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			v = strtol(optarg, &end, 10);
			if (*end || v <= 0 || v > INT_MAX) {
				pr_err("record: invalid pid '%s'", optarg);
				return 2;
			}
			env->pid = v;
			break;
		case 'd':
			env->duration_s = strtod(optarg, &end);
			if (*end || env->duration_s <= 0) {
				pr_err("record: invalid duration '%s'", optarg);
				return 2;
			}
			break;
		case 'o':
			env->output = optarg;
			break;
		case 'w':
			v = strtol(optarg, &end, 10);
			if (*end || v < 10 || v > 3600000) {
				pr_err("record: invalid window '%s' (10..3600000 ms)",
				       optarg);
				return 2;
			}
			env->window_ns = (__u64)v * 1000000ull;
			break;
		case 'C':
			env->cpu_hz = 99;
			if (optarg) {
				v = strtol(optarg, &end, 10);
				if (*end || v < 1 || v > 10000) {
					pr_err("record: invalid sampling rate '%s' (1..10000 Hz)",
					       optarg);
					return 2;
				}
				env->cpu_hz = v;
			}
			break;
		case 'N':
			env->cpu_hz = 0;
			break;
		case 'O':
			env->offcpu = false;
			break;
		case 'K':
			env->counters = false;
			break;
		case 'G':
			if (!strcmp(optarg, "fp"))
				env->callgraph = CALLGRAPH_FP;
			else if (!strcmp(optarg, "dwarf"))
				env->callgraph = CALLGRAPH_DWARF;
			else if (!strcmp(optarg, "auto"))
				env->callgraph = CALLGRAPH_AUTO;
			else {
				pr_err("record: invalid call graph mode '%s' (fp, dwarf or auto)",
				       optarg);
				return 2;
			}
			break;
		case 'M':
			env->mem = true;
			break;
		case 'F':
			v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > INT_MAX || control_open(&env->ctl, v)) {
				pr_err("record: --control-fd '%s': not an open file descriptor",
				       optarg);
				return 2;
			}
			break;
		case 'P':
			if (env->nprobes == 16) {
				pr_err("record: at most 16 --probe");
				return 2;
			}
			if (!strchr(optarg, ':')) {
				pr_err("record: --probe '%s': want BINARY:SYMBOL", optarg);
				return 2;
			}
			env->probes[env->nprobes++] = optarg;
			break;
		case 'h':
			fputs(record_help, stdout);
			return -1;
		default:
			if (optopt)
				pr_err("record: unknown option '-%c' (see 'loupe help record')",
				       optopt);
			else
				pr_err("record: unknown option '%s' (see 'loupe help record')",
				       argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc)
		env->cmd = argv + optind;
	if (!env->pid == !env->cmd) {
		pr_err("record: give either -p PID or a command to launch (see 'loupe help record')");
		return 2;
	}
	return 0;
}

static void report_start_error(struct collector *c, struct record_env *env,
			       int err)
{
	const char *bad = collector_bad_probe(c);

	char msg[128];

	if (bad) {
		/* libbpf's own codes (>= 4000) say "ambiguous symbol" etc. */
		libbpf_strerror(err, msg, sizeof(msg));
		pr_err("record: --probe %s: %s", bad,
		       err == -ENOENT ? "no such binary or symbol" : msg);
	}
	else
		pr_err("record: start recording to %s: %s", env->output,
		       strerror(-err));
	/* Nothing recorded yet: no empty trace left behind. */
	unlink(env->output);
}

/* The price of --probe: two traps per call, measured at start. */
static void report_probe_cost(const struct collector_summary *s,
			      double wall_s)
{
	double cost_s = s->probe_calls * s->probe_ns_per_call / 1e9;
	double pct_cpu = s->target_cpu_ns ? cost_s * 1e9 * 100 / s->target_cpu_ns : 0;

	pr_info("record: --probe: %llu calls at %.1f us each (measured): %.3f s, %.2f %% of the target's CPU time",
		(unsigned long long)s->probe_calls, s->probe_ns_per_call / 1e3,
		cost_s, pct_cpu);
	if (pct_cpu > 1.0 || (!s->target_cpu_ns && wall_s > 0 && cost_s / wall_s > 0.01))
		pr_warn("record: warning: --probe cost more than 1 %% of the target's CPU: probe rarer functions, or use 'loupe report --cpu --func' (free)");
}

/* --mem without the shim: what is probed and what each call costs, once
 * decided (launched commands: after their exec). */
static void report_mem_mode(const struct record_env *env,
			    const struct collector_summary *s)
{
	const struct mem_uprobe_info *m = &s->memu;

	if (s->mem_mode != COLLECTOR_MEM_UPROBE)
		return;
	if (m->malloc_ns > 0)
		pr_info("record: --mem without libloupe-alloc.so: uprobes on %s malloc/calloc/realloc/free (~%.0f us per malloc+free measured, %s); for bounded windows, use -d",
			m->allocator, (m->malloc_ns + m->free_ns) / 1e3,
			m->session ? "one trap each" : "malloc traps twice");
	else
		pr_info("record: --mem without libloupe-alloc.so: uprobes on %s malloc/calloc/realloc/free (cost not measured); for bounded windows, use -d",
			m->allocator);
	if (env->duration_s <= 0)
		pr_warn("record: warning: --mem uprobes slow every malloc and free of pid %d until loupe stops: give -d SECONDS",
			(int)env->pid);
}

/* The price of the uprobe mode, at the end: traps counted x measured cost. */
static void report_mem_cost(const struct collector_summary *s)
{
	const struct mem_uprobe_info *m = &s->memu;
	double cost_s = (m->alloc_calls * m->malloc_ns + m->free_calls * m->free_ns) / 1e9;
	char pct[48] = "";

	if (s->target_cpu_ns)
		snprintf(pct, sizeof(pct), ", %.1f %% of its CPU time",
			 cost_s * 1e11 / s->target_cpu_ns);
	pr_info("record: --mem: %llu allocation and %llu free calls trapped (%llu sampled, mean %llu bytes): ~%.3f s added to the target at %.1f + %.1f us each%s",
		(unsigned long long)m->alloc_calls, (unsigned long long)m->free_calls,
		(unsigned long long)m->sampled, (unsigned long long)m->mean_bytes,
		cost_s, m->malloc_ns / 1e3, m->free_ns / 1e3, pct);
}

/* Anything beyond request latency, which needs the probes? */
static bool profiling(const struct record_env *env)
{
	return env->cpu_hz > 0 || env->offcpu || env->counters || env->mem;
}

static void print_progress(const struct collector_summary *s, double secs)
{
	char p99[16];

	fprintf(stderr, "\r\033[Kloupe: record: %4.0f s  %llu requests  %llu req/s  p99 %s  %llu dropped",
		secs, (unsigned long long)s->requests,
		(unsigned long long)s->last_window_requests,
		units_ns(p99, sizeof(p99), s->last_window_p99_ns),
		(unsigned long long)s->dropped);
}

/* After stopping a launched target: SIGTERM, follow it up to 5 s, SIGKILL. */
static int stop_target(struct collector *c, pid_t pid, int *status)
{
	__u64 deadline = now_ns() + 5000000000ull;

	kill(pid, SIGTERM);
	while (now_ns() < deadline) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return 0;
		collector_poll(c, 50);
	}
	pr_warn("record: pid %d ignored SIGTERM for 5 s, killing it", (int)pid);
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return 0;
}

static double own_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/*
 * What recording cost this process (children excluded), for -v and the
 * bench: in all, and in steady state after start-up (loading BPF, reading
 * kallsyms and the first debug info are one-off costs).
 */
static void log_own_cost(__u64 start_ns, __u64 steady_ns, double steady_cpu)
{
	struct rusage ru;
	double cpu = own_cpu_s(), wall = (now_ns() - start_ns) / 1e9;
	double swall = steady_ns ? (now_ns() - steady_ns) / 1e9 : 0;

	if (getrusage(RUSAGE_SELF, &ru))
		return;
	pr_debug("record: own cost: %.3f s CPU in %.1f s (%.2f %% of one core), peak RSS %.1f MiB",
		 cpu, wall, wall > 0 ? cpu * 100 / wall : 0.0, ru.ru_maxrss / 1024.0);
	if (swall > 0)
		pr_debug("record: steady state: %.2f %% of one core over the last %.1f s (start-up took %.3f s CPU)",
			 (cpu - steady_cpu) * 100 / swall, swall, steady_cpu);
}

static int record_loop(struct record_env *env, struct collector *c,
		       bool launched, int *target_status,
		       enum trace_end_reason *reason)
{
	__u64 start = now_ns(), last_scan = start, last_windows = 0;
	unsigned int mem_changes = 0;
	__u64 deadline = env->duration_s > 0 ?
				 start + (__u64)(env->duration_s * 1e9) : 0;
	bool tty = isatty(STDERR_FILENO);
	struct collector_summary s;
	int err;

	for (;;) {
		err = collector_poll(c, 100);
		if (err)
			return err;
		err = control_poll(&env->ctl, c);
		if (err < 0)
			return err;
		if (err) {
			/* The front end is gone: nobody is watching. */
			*reason = TRACE_END_SIGNAL;
			break;
		}
		if (stop_signal) {
			*reason = TRACE_END_SIGNAL;
			break;
		}
		if (deadline && now_ns() >= deadline) {
			*reason = TRACE_END_DURATION;
			break;
		}
		if (launched) {
			if (waitpid(env->pid, target_status, WNOHANG) == env->pid) {
				*reason = TRACE_END_TARGET_EXIT;
				return 0;
			}
		} else if (kill(env->pid, 0) && errno == ESRCH) {
			*reason = TRACE_END_TARGET_EXIT;
			return 0;
		}
		/* Shared libraries and dlopen()ed objects appear later; a
		 * launched program maps its preloads within the first
		 * moments, so look often at first. */
		if (now_ns() - last_scan >=
		    (now_ns() - start < 2000000000ull ? 100000000ull : 1000000000ull)) {
			last_scan = now_ns();
			collector_rescan(c);
		}
		collector_summary(c, &s);
		if (s.mem_changes != mem_changes) {
			mem_changes = s.mem_changes;
			if (tty)
				fputs("\r\033[K", stderr);
			report_mem_mode(env, &s);
		}
		if (!steady_ns && s.windows >= 2) {
			steady_ns = now_ns();
			steady_cpu = own_cpu_s();
		}
		if (tty && s.windows != last_windows) {
			last_windows = s.windows;
			print_progress(&s, (now_ns() - start) / 1e9);
		}
	}
	if (launched)
		stop_target(c, env->pid, target_status);
	return 0;
}

int cmd_record(int argc, char **argv)
{
	struct record_env env = {
		.window_ns = 1000000000ull,
		.cpu_hz = 99,
		.offcpu = true,
		.counters = true,
		.callgraph = CALLGRAPH_AUTO,
		.ctl = { .fd = -1 },
	};
	struct collector_opts copts = { 0 };
	enum trace_end_reason reason = TRACE_END_ERROR;
	char outbuf[64], exe[PATH_MAX], size[32];
	struct collector_summary s;
	struct collector *c = NULL;
	struct sigaction sa = { 0 };
	int gate = -1, status = -1, err, ret = 1, n;
	char *cmdline = NULL;
	__u64 start_ns = now_ns();
	bool launched;

	ret = parse_args(argc, argv, &env);
	if (ret)
		return ret < 0 ? 0 : ret;
	ret = 1;
	launched = env.cmd != NULL;
	if (!have_bpf_privileges()) {
		pr_err("record: need root, or CAP_BPF and CAP_PERFMON, to load BPF programs");
		return 1;
	}
	if (launched) {
		err = resolve_program(env.cmd[0], exe, sizeof(exe));
		if (err) {
			pr_err("record: launch %s: %s", env.cmd[0], strerror(-err));
			return 1;
		}
		cmdline = join_args(env.cmd);
	} else {
		if (kill(env.pid, 0) && errno == ESRCH) {
			pr_err("record: attach to pid %d: no such process", (int)env.pid);
			return 1;
		}
		cmdline = read_cmdline(env.pid);
	}
	if (!env.output) {
		default_output(outbuf, sizeof(outbuf));
		env.output = outbuf;
	}

	if (!launched) {
		struct mapped_object *objs;
		size_t nobjs, i;
		int probes = 0;

		err = usdt_mapped_objects(env.pid, &objs, &nobjs);
		if (err) {
			pr_err("record: attach to pid %d: %s", (int)env.pid,
			       err == -ESRCH ? "no such process" : strerror(-err));
			goto cleanup;
		}
		for (i = 0; i < nobjs; i++) {
			n = usdt_count_probes(objs[i].path);
			probes += n > 0 ? n : 0;
		}
		usdt_objects_free(objs, nobjs);
		/* Un-instrumented processes are profiled all the same;
		 * only with profiling off is there nothing to record. */
		if (!probes && !profiling(&env)) {
			pr_err("record: pid %d (%s): no loupe probes in its executable or libraries (instrument it with <loupe/probe.h>)",
			       (int)env.pid, cmdline ? cmdline : "?");
			goto cleanup;
		}
		if (!probes)
			pr_info("record: pid %d has no loupe probes: recording CPU, off-CPU and counters%s only",
				(int)env.pid, env.mem ? ", allocations" : "");
	}

	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (launched) {
		env.pid = launch_gated(env.cmd, &gate);
		if (env.pid < 0) {
			pr_err("record: launch %s: %s", env.cmd[0], strerror(errno));
			goto cleanup;
		}
	}
	copts.pid = env.pid;
	copts.window_ns = env.window_ns;
	copts.out_path = env.output;
	copts.mode = launched ? "launch" : "attach";
	copts.cmdline = cmdline;
	copts.cpu_hz = env.cpu_hz;
	copts.offcpu = env.offcpu;
	copts.counters = env.counters;
	copts.callgraph = env.callgraph;
	if (!launched) {
		char link[64];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/%d/exe", (int)env.pid);
		n = readlink(link, exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = 0;
	}
	copts.exe = exe;
	copts.mem = env.mem;
	copts.probes = env.probes;
	copts.nprobes = env.nprobes;
	c = collector_new(&copts);
	if (!c) {
		err = errno;
		if (err == EPERM || err == EACCES)
			pr_err("record: load BPF programs: %s (need root, or CAP_BPF and CAP_PERFMON)",
			       strerror(err));
		else
			pr_err("record: start recording to %s: %s", env.output,
			       strerror(err));
		goto cleanup;
	}
	if (launched) {
		err = collector_attach_object(c, exe);
		if (err < 0) {
			pr_err("record: attach usdt in %s: %s", exe, strerror(-err));
			goto cleanup;
		}
		err = collector_start(c);
		if (err) {
			report_start_error(c, &env, err);
			goto cleanup;
		}
		if (write(gate, "g", 1) != 1) {
			pr_err("record: start %s: %s", env.cmd[0], strerror(errno));
			goto cleanup;
		}
		close(gate);
		gate = -1;
		/* Catch libraries: wait briefly for the dynamic loader. */
		usleep(20000);
		collector_rescan(c);
	} else {
		err = collector_rescan(c);
		if (err < 0) {
			pr_err("record: attach to pid %d: %s", (int)env.pid,
			       err == -ESRCH ? "no such process" : strerror(-err));
			goto cleanup;
		}
		err = collector_start(c);
		if (err) {
			report_start_error(c, &env, err);
			goto cleanup;
		}
	}
	/* Scripts get only the summary line; a person also gets this. */
	if (isatty(STDERR_FILENO))
		pr_info("record: %s pid %d, writing %s (Ctrl-C to stop)",
			launched ? "launched" : "attached to", (int)env.pid,
			env.output);

	err = record_loop(&env, c, launched, &status, &reason);
	if (isatty(STDERR_FILENO))
		fputs("\r\033[K", stderr);
	if (err)
		pr_err("record: %s: %s", env.output, strerror(-err));
	err = collector_finish(c, err ? TRACE_END_ERROR : reason,
			       launched ? status : -1);
	if (err) {
		pr_err("record: write %s: %s", env.output, strerror(-err));
		goto cleanup;
	}
	collector_summary(c, &s);
	log_own_cost(start_ns, steady_ns, steady_cpu);
	if (!s.objects && !profiling(&env)) {
		pr_err("record: %s: no loupe probes in its executable or libraries (instrument it with <loupe/probe.h>)",
		       cmdline);
		/* Nothing was recorded: leave no empty trace behind. */
		unlink(env.output);
		goto cleanup;
	}
	fprintf(stderr, "loupe: record: %llu requests, %llu windows, %llu dropped events, %llu CPU samples, %s written to %s (%.3f traps per request)\n",
		(unsigned long long)s.requests, (unsigned long long)s.windows,
		(unsigned long long)(s.dropped + s.cpu_lost),
		(unsigned long long)s.cpu_samples,
		units_bytes(size, sizeof(size), s.bytes), env.output,
		s.requests ? (double)s.traps / s.requests : 0.0);
	if (env.nprobes)
		report_probe_cost(&s, (now_ns() - start_ns) / 1e9);
	if (env.mem && s.mem_mode == COLLECTOR_MEM_UPROBE)
		report_mem_cost(&s);
	else if (env.mem && !s.mem_objects)
		pr_warn("record: --mem: neither libloupe-alloc.so nor an allocator to probe in the target, no allocations recorded");
	ret = 0;
cleanup:
	control_close(&env.ctl);
	if (gate >= 0)
		close(gate);
	if (launched && env.pid > 0 && ret) {
		/* The gate closed: an unstarted child exits by itself. */
		if (waitpid(env.pid, &status, WNOHANG) == 0) {
			kill(env.pid, SIGTERM);
			waitpid(env.pid, &status, 0);
		}
	}
	collector_free(c);
	free(cmdline);
	return ret;
}
