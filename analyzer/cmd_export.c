// SPDX-License-Identifier: MIT
/*
 * loupe export: the trace's CPU profile for other tools.  --format folded
 * writes Brendan Gregg's folded stacks (flamegraph.pl, speedscope,
 * inferno): one line per distinct stack, root first, ';' between frames,
 * then a count.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "analyzer/summary.h"
#include "commands.h"
#include "log.h"

const char export_help[] =
	"usage: loupe export --format folded [--offcpu] [--by-stage] FILE\n"
	"\n"
	"Writes the CPU profile recorded in FILE to stdout.\n"
	"\n"
	"  --format folded  folded stacks for flamegraph.pl: root first,\n"
	"                   frames joined by ';', then the sample count;\n"
	"                   kernel frames end in _[k], inlined ones in _[i]\n"
	"  --offcpu         off-CPU time instead of on-CPU samples (value in\n"
	"                   microseconds, blocked and run-queue wait both)\n"
	"  --by-stage       prefix each stack with its model and stage, so the\n"
	"                   flame graph splits by inference stage first\n"
	"  -h, --help       this help\n";

static void put_frame(const struct trace_summary *s, __u32 frame_id, bool first)
{
	const struct profile *p = &s->prof;
	const struct trace_frame *f =
		frame_id < p->nframes ? &p->frames[frame_id] : NULL;
	const char *name = f && f->function_id != TRACE_NO_ID ?
				   summary_name(s, f->function_id) : "[unknown]";

	if (!first)
		putchar(';');
	/* ';' separates frames and ' ' ends the stack: keep them out. */
	for (; *name; name++)
		putchar(*name == ';' || *name == ' ' ? '_' : *name);
	if (f && f->flags & TRACE_FRAME_KERNEL)
		fputs("_[k]", stdout);
	else if (f && f->flags & TRACE_FRAME_INLINED)
		fputs("_[i]", stdout);
}

static void export_folded(const struct trace_summary *s, bool offcpu,
			  bool by_stage)
{
	const struct profile *p = &s->prof;
	const struct profile_sample *smp;
	int i;

	profile_for_each_sample(p, smp) {
		const struct profile_stack *st = smp->stack_id < p->nstacks ?
			&p->stacks[smp->stack_id] : NULL;
		bool first = true;

		if ((smp->kind == TRACE_SAMPLE_CPU) == offcpu)
			continue;
		if (by_stage) {
			printf("%s;%s",
			       smp->model_id == TRACE_NO_ID ? "[no request]" :
							       summary_name(s, smp->model_id),
			       smp->stage_id == TRACE_NO_ID ? "[no stage]" :
							       summary_name(s, smp->stage_id));
			first = false;
		}
		if (st && st->frames)
			for (i = (int)st->nframes - 1; i >= 0; i--) {
				put_frame(s, st->frames[i], first);
				first = false;
			}
		if (first)
			fputs("[unknown]", stdout);
		printf(" %llu\n", (unsigned long long)(offcpu ? smp->value_ns / 1000 :
								     smp->count));
	}
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "offcpu", no_argument, NULL, 'o' },
		{ "by-stage", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *format = NULL, *path;
	bool offcpu = false, by_stage = false;
	struct trace_summary s;
	int opt, err;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			format = optarg;
			break;
		case 'o':
			offcpu = true;
			break;
		case 's':
			by_stage = true;
			break;
		case 'h':
			fputs(export_help, stdout);
			return 0;
		default:
			pr_err("export: unknown option '%s' (see 'loupe help export')",
			       argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		pr_err("export: give exactly one trace file (see 'loupe help export')");
		return 2;
	}
	if (!format || strcmp(format, "folded")) {
		pr_err("export: unsupported format '%s' (supported: folded)",
		       format ? format : "");
		return 2;
	}
	path = argv[optind];
	err = summary_load(path, &s);
	if (err) {
		pr_err("export: %s: %s", path,
		       err == -EPROTO ? "not a loupe trace file" : strerror(-err));
		return 1;
	}
	if (!s.prof.nsamples)
		pr_warn("export: %s: no CPU samples in this trace", path);
	export_folded(&s, offcpu, by_stage);
	summary_release(&s);
	return 0;
}
