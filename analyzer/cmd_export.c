// SPDX-License-Identifier: MIT
/*
 * loupe export: the trace's CPU profile for other tools.  --format folded
 * writes Brendan Gregg's folded stacks (flamegraph.pl, speedscope,
 * inferno): one line per distinct stack, root first, ';' between frames,
 * then a count.  --format pprof writes a gzipped pprof profile
 * (analyzer/export_pprof.h) for 'go tool pprof'.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer/export_pprof.h"
#include "analyzer/summary.h"
#include "commands.h"
#include "log.h"

const char export_help[] =
	"usage: loupe export --format folded|pprof [--offcpu|--mem] [--by-stage]\n"
	"                    [-o FILE] TRACE\n"
	"\n"
	"Writes the CPU (or off-CPU, or heap) profile recorded in TRACE to\n"
	"stdout or FILE.\n"
	"\n"
	"  --format folded  folded stacks for flamegraph.pl: root first,\n"
	"                   frames joined by ';', then the sample count;\n"
	"                   kernel frames end in _[k], inlined ones in _[i]\n"
	"  --format pprof   a gzipped pprof profile for 'go tool pprof'; each\n"
	"                   sample is labelled with its model and stage, so\n"
	"                   'pprof -tagfocus=stage=NAME' shows one stage; not\n"
	"                   written to a terminal\n"
	"  --offcpu         off-CPU time instead of on-CPU samples (folded:\n"
	"                   value in microseconds; pprof: episodes and time,\n"
	"                   labelled kind=blocked or kind=runq)\n"
	"  --mem            the heap (record --mem): pprof with alloc_objects,\n"
	"                   alloc_space, inuse_objects and inuse_space (bytes\n"
	"                   estimated from the samples); folded: bytes still\n"
	"                   allocated per allocation stack\n"
	"  --by-stage       folded only: prefix each stack with its model and\n"
	"                   stage, so the flame graph splits by stage first\n"
	"  -o, --output FILE  write to FILE instead of stdout\n"
	"  -h, --help       this help\n";

static void put_frame(FILE *f, const struct trace_summary *s, __u32 frame_id,
		      bool first)
{
	const struct profile *p = &s->prof;
	const struct trace_frame *fr =
		frame_id < p->nframes ? &p->frames[frame_id] : NULL;
	const char *name = fr && fr->function_id != TRACE_NO_ID ?
				   summary_name(s, fr->function_id) : "[unknown]";

	if (!first)
		putc(';', f);
	/* ';' separates frames and ' ' ends the stack: keep them out. */
	for (; *name; name++)
		putc(*name == ';' || *name == ' ' ? '_' : *name, f);
	if (fr && fr->flags & TRACE_FRAME_KERNEL)
		fputs("_[k]", f);
	else if (fr && fr->flags & TRACE_FRAME_INLINED)
		fputs("_[i]", f);
}

static int export_folded(FILE *f, const struct trace_summary *s,
			 enum pprof_kind kind, bool by_stage)
{
	bool offcpu = kind == PPROF_OFFCPU;
	const struct profile *p = &s->prof;
	const struct profile_sample *smp;
	int i;

	profile_for_each_sample(p, smp) {
		const struct profile_stack *st = smp->stack_id < p->nstacks ?
			&p->stacks[smp->stack_id] : NULL;
		bool first = true;

		__u64 value = smp->count, objs;

		if (kind == PPROF_MEM) {
			if (smp->kind != TRACE_SAMPLE_MEM_ALLOC)
				continue;
			/* Heap: bytes still allocated, per allocation stack. */
			profile_inuse(p, smp, &objs, &value);
			if (!value)
				continue;
		} else if ((smp->kind == TRACE_SAMPLE_CPU) == offcpu ||
			   smp->kind > TRACE_SAMPLE_OFFCPU_RUNQ) {
			continue;
		} else if (offcpu) {
			value = smp->value_ns / 1000;
		}
		if (by_stage) {
			fprintf(f, "%s;%s",
				smp->model_id == TRACE_NO_ID ? "[no request]" :
								summary_name(s, smp->model_id),
				smp->stage_id == TRACE_NO_ID ? "[no stage]" :
								summary_name(s, smp->stage_id));
			first = false;
		}
		if (st && st->frames)
			for (i = (int)st->nframes - 1; i >= 0; i--) {
				put_frame(f, s, st->frames[i], first);
				first = false;
			}
		if (first)
			fputs("[unknown]", f);
		fprintf(f, " %llu\n", (unsigned long long)value);
	}
	errno = 0;
	if (fflush(f) || ferror(f))
		return errno ? -errno : -EIO;
	return 0;
}

enum { OPT_OFFCPU = 256, OPT_BY_STAGE, OPT_MEM };

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "offcpu", no_argument, NULL, OPT_OFFCPU },
		{ "mem", no_argument, NULL, OPT_MEM },
		{ "by-stage", no_argument, NULL, OPT_BY_STAGE },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *format = NULL, *path, *out_path = NULL;
	bool offcpu = false, by_stage = false, mem = false, pprof;
	enum pprof_kind kind;
	struct trace_summary s;
	FILE *out = stdout;
	bool regular = false;
	struct stat st;
	int opt, err, ret = 1;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			format = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case OPT_MEM:
			mem = true;
			break;
		case OPT_OFFCPU:
			offcpu = true;
			break;
		case OPT_BY_STAGE:
			by_stage = true;
			break;
		case 'h':
			fputs(export_help, stdout);
			return 0;
		default:
			if (optopt == 'f' || optopt == 'o')
				pr_err("export: option '%s' needs a value (see 'loupe help export')",
				       argv[optind - 1]);
			else
				pr_err("export: unknown option '%s' (see 'loupe help export')",
				       argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		pr_err("export: give exactly one trace file (see 'loupe help export')");
		return 2;
	}
	if (!format || (strcmp(format, "folded") && strcmp(format, "pprof"))) {
		pr_err("export: unsupported format '%s' (supported: folded, pprof)",
		       format ? format : "");
		return 2;
	}
	pprof = !strcmp(format, "pprof");
	if (pprof && by_stage) {
		pr_err("export: --by-stage is for --format folded (pprof has stage "
		       "labels: -tagfocus=stage=NAME)");
		return 2;
	}
	/* gzip on a terminal is garbage and can upset it (gzip refuses too). */
	if (pprof && !out_path && isatty(STDOUT_FILENO)) {
		pr_err("export: not writing a gzipped pprof profile to a terminal; "
		       "use -o FILE or redirect stdout");
		return 2;
	}
	path = argv[optind];
	err = summary_load(path, &s);
	if (err) {
		pr_err("export: %s: %s", path,
		       err == -EPROTO ? "not a loupe trace file" : strerror(-err));
		return 1;
	}
	/* Opened only now, so a bad trace leaves an existing FILE alone. */
	if (out_path) {
		out = fopen(out_path, "w");
		if (!out) {
			pr_err("export: %s: %s", out_path, strerror(errno));
			goto cleanup;
		}
		regular = !fstat(fileno(out), &st) && S_ISREG(st.st_mode);
	}
	if (!s.prof.nsamples)
		pr_warn("export: %s: no CPU samples in this trace", path);
	kind = mem ? PPROF_MEM : offcpu ? PPROF_OFFCPU : PPROF_CPU;
	err = pprof ? export_pprof(&s, kind, out) :
		      export_folded(out, &s, kind, by_stage);
	if (out != stdout && fclose(out) && !err)
		err = -errno;
	if (err) {
		pr_err("export: %s: %s", out_path ? out_path : "stdout", strerror(-err));
		/* Said here with the reason: main's generic stdout check
		 * would only repeat it. */
		if (out == stdout)
			clearerr(stdout);
		/* A cut-off profile would only fail later, in the other tool;
		 * but never unlink what is not a plain file (-o /dev/stdout). */
		if (regular)
			unlink(out_path);
		goto cleanup;
	}
	ret = 0;
cleanup:
	summary_release(&s);
	return ret;
}
