// SPDX-License-Identifier: MIT
/*
 * loupe: profiler and auto-debugger for ML inference services.
 * Dispatches to one cmd_<name>() per subcommand through commands[].
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "log.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *help;
};

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const char help_help[] =
	"usage: loupe help [COMMAND]\n\n"
	"Shows the list of commands, or the full help of COMMAND.\n";
static const char version_help[] = "usage: loupe version\n";

static const struct command commands[] = {
	{ "record", cmd_record, "record a live process or a command to a trace file", record_help },
	{ "report", cmd_report, "summarise a trace: latency, CPU (--cpu), memory (--mem)", report_help },
	{ "analyze", cmd_analyze, "find what is wrong in a trace and propose fixes", analyze_help },
	{ "diff", cmd_diff, "compare runs: what changed, per model and stage", diff_help },
	{ "gate", cmd_gate, "CI performance gate: fail only on a real regression", gate_help },
	{ "export", cmd_export, "write a trace's CPU or heap profile (folded, pprof)", export_help },
	{ "top", cmd_top, "live view of a process, or replay of a trace; apply fixes", top_help },
	{ "help", cmd_help, "show help for a command", help_help },
	{ "version", cmd_version, "print loupe's version", version_help },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: loupe [-v] COMMAND [ARGS]\n\n"
		   "loupe profiles ML inference services with eBPF: latency, CPU and\n"
		   "off-CPU time and heap growth per model and inference stage,\n"
		   "recorded to a self-contained trace.\n\n"
		   "commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nSee 'loupe help COMMAND' or 'man loupe'.\n");
}

int commands_print_help(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++) {
		if (!strcmp(commands[i].name, name)) {
			fputs(commands[i].help, stdout);
			return 0;
		}
	}
	return -1;
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stdout);
		return 0;
	}
	if (commands_print_help(argv[1])) {
		pr_err("help: unknown command '%s'", argv[1]);
		return 2;
	}
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("loupe %s\n", LOUPE_VERSION);
	return 0;
}

/* A full stdout (disk, closed pipe) must not pass silently (perf does this). */
static int finish_stdout(int ret)
{
	if (fflush(stdout) || ferror(stdout)) {
		pr_err("write to stdout failed");
		return ret ? ret : 1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	size_t i;

	while (argc > 1 && !strcmp(argv[1], "-v")) {
		log_verbose++;
		argc--;
		argv++;
	}
	log_setup_libbpf();
	if (argc < 2) {
		print_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return finish_stdout(cmd_help(1, argv + 1));
	if (!strcmp(argv[1], "--version"))
		return finish_stdout(cmd_version(1, argv + 1));
	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return finish_stdout(commands[i].fn(argc - 1, argv + 1));
	pr_err("unknown command '%s' (see 'loupe help')", argv[1]);
	return 2;
}
