// SPDX-License-Identifier: MIT
#include <fnmatch.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/array.h"
#include "analyzer/cpu_report.h"
#include "analyzer/json.h"
#include "analyzer/u64map.h"
#include "analyzer/units.h"

#define TOP_FUNCS 8
#define TOP_STACKS 5

/* Time of one (model, stage): on-CPU and both off-CPU kinds. */
struct stage_row {
	__u32 model, stage;
	__u64 ns[TRACE_SAMPLE_NKINDS];
	__u64 samples;
	__u64 matched_ns;	/* under a --func match */
};

/* One function within one (model, stage). */
struct func_row {
	__u32 model, stage, function, frame;	/* frame: for file:line */
	__u64 self_ns, total_ns;
};

struct cpu_view {
	struct stage_row *stages;
	size_t nstages, stages_cap;
	struct func_row *funcs;
	size_t nfuncs, funcs_cap;
	struct u64map stage_idx, func_idx;
};

static struct stage_row *stage_row(struct cpu_view *v, __u32 model, __u32 stage)
{
	__u64 key[2] = { model, stage };
	__u64 h = u64map_hash(key, 2);
	__u32 i;

	if (!u64map_get(&v->stage_idx, h, &i))
		return &v->stages[i];
	if (array_grow((void **)&v->stages, &v->stages_cap, v->nstages + 1,
		 sizeof(*v->stages)))
		return NULL;
	memset(&v->stages[v->nstages], 0, sizeof(v->stages[0]));
	v->stages[v->nstages].model = model;
	v->stages[v->nstages].stage = stage;
	if (u64map_put(&v->stage_idx, h, v->nstages))
		return NULL;
	return &v->stages[v->nstages++];
}

static struct func_row *func_row(struct cpu_view *v, __u32 model, __u32 stage,
				 __u32 function, __u32 frame)
{
	__u64 key[3] = { model, stage, function };
	__u64 h = u64map_hash(key, 3);
	__u32 i;

	if (!u64map_get(&v->func_idx, h, &i))
		return &v->funcs[i];
	if (array_grow((void **)&v->funcs, &v->funcs_cap, v->nfuncs + 1,
		 sizeof(*v->funcs)))
		return NULL;
	memset(&v->funcs[v->nfuncs], 0, sizeof(v->funcs[0]));
	v->funcs[v->nfuncs].model = model;
	v->funcs[v->nfuncs].stage = stage;
	v->funcs[v->nfuncs].function = function;
	v->funcs[v->nfuncs].frame = frame;
	if (u64map_put(&v->func_idx, h, v->nfuncs))
		return NULL;
	return &v->funcs[v->nfuncs++];
}

static const struct trace_frame *frame_of(const struct profile *p, __u32 id)
{
	return id < p->nframes ? &p->frames[id] : NULL;
}

static __u32 function_of(const struct profile *p, __u32 frame)
{
	const struct trace_frame *f = frame_of(p, frame);

	return f ? f->function_id : TRACE_NO_ID;
}

static bool name_matches(const char *pattern, const char *name)
{
	return !fnmatch(pattern, name, 0) || strstr(name, pattern);
}

/* Folds every sample into per-stage and per-function rows. */
static int cpu_view_build(struct cpu_view *v, const struct trace_summary *s,
			  const char *pattern)
{
	const struct profile *p = &s->prof;
	const struct profile_sample *smp;
	__u32 seen[TRACE_MAX_FRAMES];

	memset(v, 0, sizeof(*v));
	profile_for_each_sample(p, smp) {
		const struct profile_stack *st =
			smp->stack_id < p->nstacks ? &p->stacks[smp->stack_id] : NULL;
		struct stage_row *row;
		__u32 i, j, nseen = 0;
		bool matched = false;

		if (smp->kind > TRACE_SAMPLE_OFFCPU_RUNQ)	/* memory */
			continue;
		row = stage_row(v, smp->model_id, smp->stage_id);
		if (!row)
			return -1;
		row->ns[smp->kind] += smp->value_ns;
		if (smp->kind != TRACE_SAMPLE_CPU)
			continue;
		row->samples += smp->count;
		if (!st || !st->frames || !st->nframes)
			continue;
		for (i = 0; i < st->nframes && i < TRACE_MAX_FRAMES; i++) {
			__u32 fn = function_of(p, st->frames[i]);
			struct func_row *fr;

			for (j = 0; j < nseen && seen[j] != fn; j++)
				;
			if (j < nseen)	/* recursion: count once */
				continue;
			seen[nseen++] = fn;
			if (pattern && !matched &&
			    name_matches(pattern, summary_name(s, fn)))
				matched = true;
			fr = func_row(v, smp->model_id, smp->stage_id, fn,
				      st->frames[i]);
			if (!fr)
				return -1;
			fr->total_ns += smp->value_ns;
			if (i == 0)
				fr->self_ns += smp->value_ns;
		}
		if (matched)
			row->matched_ns += smp->value_ns;
	}
	return 0;
}

static int by_cpu_desc(const void *a, const void *b);
static int by_self_desc(const void *a, const void *b);

/* qsort(NULL, 0) is undefined: sort only what exists. */
static void cpu_view_sort(struct cpu_view *v)
{
	if (v->nstages)
		qsort(v->stages, v->nstages, sizeof(*v->stages), by_cpu_desc);
	if (v->nfuncs)
		qsort(v->funcs, v->nfuncs, sizeof(*v->funcs), by_self_desc);
}

static void cpu_view_release(struct cpu_view *v)
{
	free(v->stages);
	free(v->funcs);
	u64map_release(&v->stage_idx);
	u64map_release(&v->func_idx);
}

static int by_cpu_desc(const void *a, const void *b)
{
	const struct stage_row *x = a, *y = b;
	__u64 tx = x->ns[0] + x->ns[1] + x->ns[2];
	__u64 ty = y->ns[0] + y->ns[1] + y->ns[2];

	return x->ns[0] != y->ns[0] ? (x->ns[0] < y->ns[0]) - (x->ns[0] > y->ns[0]) :
				      (tx < ty) - (tx > ty);
}

static int by_self_desc(const void *a, const void *b)
{
	const struct func_row *x = a, *y = b;

	if (x->self_ns != y->self_ns)
		return (x->self_ns < y->self_ns) - (x->self_ns > y->self_ns);
	return (x->total_ns < y->total_ns) - (x->total_ns > y->total_ns);
}

static const char *id_name(const struct trace_summary *s, __u32 id,
			   const char *none)
{
	return id == TRACE_NO_ID ? none : summary_name(s, id);
}

static void print_counters(FILE *f, const struct trace_summary *s)
{
	const struct trace_counters *c = &s->prof.counters;
	__u64 dur = summary_duration_ns(s);
	double secs = dur / 1e9;
	char buf[16];

	if (!s->prof.counter_windows || secs <= 0)
		return;
	fprintf(f, "\nCOUNTERS (whole process, %llu windows)\n",
		(unsigned long long)s->prof.counter_windows);
	if (c->present & (1u << TRACE_CTR_TASK_CLOCK_NS))
		fprintf(f, "  task-clock      %.2f CPUs busy%s%s\n",
			c->v[TRACE_CTR_TASK_CLOCK_NS] / 1e9 / secs,
			s->requests ? ", CPU per request " : "",
			s->requests ? units_ns(buf, sizeof(buf),
					       c->v[TRACE_CTR_TASK_CLOCK_NS] /
						       s->requests) : "");
	fprintf(f, "  ctx switches    %.0f/s voluntary, %.0f/s involuntary\n",
		c->v[TRACE_CTR_CTX_VOLUNTARY] / secs,
		c->v[TRACE_CTR_CTX_INVOLUNTARY] / secs);
	fprintf(f, "  page faults     %.0f/s minor, %.0f/s major; %.0f migrations/s\n",
		c->v[TRACE_CTR_MINOR_FAULTS] / secs,
		c->v[TRACE_CTR_MAJOR_FAULTS] / secs,
		c->v[TRACE_CTR_MIGRATIONS] / secs);
	if (c->present & (1u << TRACE_CTR_CYCLES))
		fprintf(f, "  IPC             %.2f (%.3g cycles/s), cache misses %.3g/s, branch misses %.3g/s\n",
			c->v[TRACE_CTR_CYCLES] ?
				(double)c->v[TRACE_CTR_INSTRUCTIONS] / c->v[TRACE_CTR_CYCLES] : 0.0,
			c->v[TRACE_CTR_CYCLES] / secs,
			c->v[TRACE_CTR_CACHE_MISSES] / secs,
			c->v[TRACE_CTR_BRANCH_MISSES] / secs);
	else
		fprintf(f, "  hardware        not available (no PMU on this machine)\n");
}

/* Off-CPU stacks with the most time, of either kind. */
static void print_offcpu_stacks(FILE *f, const struct trace_summary *s)
{
	const struct profile *p = &s->prof;
	const struct profile_sample *smp, *top[TOP_STACKS] = { 0 };
	char t[16];
	int i, j, depth;

	profile_for_each_sample(p, smp) {
		if (smp->kind == TRACE_SAMPLE_CPU)
			continue;
		for (i = 0; i < TOP_STACKS; i++) {
			if (!top[i] || smp->value_ns > top[i]->value_ns) {
				for (j = TOP_STACKS - 1; j > i; j--)
					top[j] = top[j - 1];
				top[i] = smp;
				break;
			}
		}
	}
	if (!top[0])
		return;
	fprintf(f, "\nTOP OFF-CPU STACKS (leaf first, user frames)\n");
	for (i = 0; i < TOP_STACKS && top[i]; i++) {
		const struct profile_stack *st = top[i]->stack_id < p->nstacks ?
			&p->stacks[top[i]->stack_id] : NULL;
		int col = 0;

		fprintf(f, "  %-7s %7s  %s/%s\n    ",
			top[i]->kind == TRACE_SAMPLE_OFFCPU_RUNQ ? "RUNQ" : "BLOCKED",
			units_ns(t, sizeof(t), top[i]->value_ns),
			id_name(s, top[i]->model_id, "-"),
			id_name(s, top[i]->stage_id, "-"));
		for (depth = 0; st && st->frames && depth < (int)st->nframes; depth++) {
			const struct trace_frame *fr = frame_of(p, st->frames[depth]);
			const char *name;

			if (!fr || fr->flags & TRACE_FRAME_KERNEL)
				continue;
			name = id_name(s, fr->function_id, "?");
			if (col + strlen(name) + 4 > 74) {
				fprintf(f, " ...");
				break;
			}
			col += fprintf(f, "%s%s", col ? " <- " : "", name);
		}
		fputc('\n', f);
	}
}

void cpu_report_text(FILE *f, const struct trace_summary *s,
		     const char *pattern)
{
	const struct profile *p = &s->prof;
	const char *hz = summary_config(s, "@cpu.hz");
	const char *cg = summary_config(s, "@cpu.callgraph");
	struct cpu_view v;
	char a[16], b[16], c[16];
	size_t i, j, shown;

	fprintf(f, "\nCPU PROFILE  %s Hz per CPU, %s stacks: %llu samples (%s on CPU)\n"
		   "             off-CPU: %s blocked, %s runnable waiting for a CPU\n",
		hz ? hz : "?", cg ? cg : "?",
		(unsigned long long)p->total_count[TRACE_SAMPLE_CPU],
		units_ns(a, sizeof(a), p->total_ns[TRACE_SAMPLE_CPU]),
		units_ns(b, sizeof(b), p->total_ns[TRACE_SAMPLE_OFFCPU_BLOCKED]),
		units_ns(c, sizeof(c), p->total_ns[TRACE_SAMPLE_OFFCPU_RUNQ]));
	if (!p->nsamples) {
		fprintf(f, "(no CPU samples: recorded with --no-cpu, or the target was idle)\n");
		print_counters(f, s);
		return;
	}
	if (cpu_view_build(&v, s, pattern)) {
		fprintf(f, "(out of memory)\n");
		cpu_view_release(&v);
		return;
	}
	cpu_view_sort(&v);
	fprintf(f, "\n%-10s %-12s %8s %6s %10s %10s%s\n", "MODEL", "STAGE",
		"ON-CPU", "SHARE", "BLOCKED", "RUNQ-WAIT", pattern ? "   MATCHED" : "");
	for (i = 0; i < v.nstages; i++) {
		struct stage_row *r = &v.stages[i];

		fprintf(f, "%-10.10s %-12.12s %8s %5.1f%% %10s %10s",
			id_name(s, r->model, "(none)"), id_name(s, r->stage, "(none)"),
			units_ns(a, sizeof(a), r->ns[TRACE_SAMPLE_CPU]),
			p->total_ns[0] ? r->ns[0] * 100.0 / p->total_ns[0] : 0.0,
			units_ns(b, sizeof(b), r->ns[TRACE_SAMPLE_OFFCPU_BLOCKED]),
			units_ns(c, sizeof(c), r->ns[TRACE_SAMPLE_OFFCPU_RUNQ]));
		if (pattern)
			fprintf(f, " %5.1f%%", r->ns[0] ? r->matched_ns * 100.0 / r->ns[0] : 0.0);
		fputc('\n', f);
	}
	for (i = 0; i < v.nstages; i++) {
		struct stage_row *r = &v.stages[i];

		if (!r->ns[TRACE_SAMPLE_CPU])
			continue;
		fprintf(f, "\n%s / %s: top functions (%% of the stage's on-CPU time)\n",
			id_name(s, r->model, "(no request)"),
			id_name(s, r->stage, "(no stage)"));
		fprintf(f, "  %6s %6s  %s\n", "SELF", "TOTAL", "FUNCTION");
		for (j = 0, shown = 0; j < v.nfuncs && shown < TOP_FUNCS; j++) {
			struct func_row *fr = &v.funcs[j];

			if (fr->model != r->model || fr->stage != r->stage ||
			    !fr->self_ns)
				continue;
			fprintf(f, "  %5.1f%% %5.1f%%  %.50s", fr->self_ns * 100.0 / r->ns[0],
				fr->total_ns * 100.0 / r->ns[0],
				id_name(s, fr->function, "?"));
			summary_print_where(f, s, fr->frame);
			fputc('\n', f);
			shown++;
		}
	}
	print_offcpu_stacks(f, s);
	print_counters(f, s);
	cpu_view_release(&v);
}

void cpu_report_json(FILE *f, const struct trace_summary *s,
		     const char *pattern)
{
	const struct profile *p = &s->prof;
	const struct trace_counters *c = &p->counters;
	static const char *const ctr_names[TRACE_CTR_N] = {
		"task_clock_ns", "ctx_switches_voluntary",
		"ctx_switches_involuntary", "minor_faults", "major_faults",
		"migrations", "cycles", "instructions", "cache_misses",
		"branch_misses", "rss_anon_bytes", "rss_file_bytes",
		"rss_shmem_bytes",
	};
	struct cpu_view v;
	size_t i, n;

	fprintf(f, "\"cpu\": {\"hz\": %s, \"callgraph\": ",
		summary_config(s, "@cpu.hz") ? summary_config(s, "@cpu.hz") : "0");
	json_str(f, summary_config(s, "@cpu.callgraph"));
	fprintf(f, ", \"samples\": %llu, \"on_cpu_ns\": %llu, "
		   "\"offcpu_blocked_ns\": %llu, \"offcpu_runq_ns\": %llu",
		(unsigned long long)p->total_count[TRACE_SAMPLE_CPU],
		(unsigned long long)p->total_ns[TRACE_SAMPLE_CPU],
		(unsigned long long)p->total_ns[TRACE_SAMPLE_OFFCPU_BLOCKED],
		(unsigned long long)p->total_ns[TRACE_SAMPLE_OFFCPU_RUNQ]);
	fprintf(f, ",\n    \"counters\": {");
	for (i = 0, n = 0; i < TRACE_CTR_N; i++) {
		if (!(c->present & (1u << i)))
			continue;
		fprintf(f, "%s\"%s\": %llu", n++ ? ", " : "", ctr_names[i],
			(unsigned long long)c->v[i]);
	}
	fprintf(f, "}");
	if (c->present & (1u << TRACE_CTR_TASK_CLOCK_NS) && s->requests)
		fprintf(f, ",\n    \"cpu_ns_per_request\": %llu",
			(unsigned long long)(c->v[TRACE_CTR_TASK_CLOCK_NS] / s->requests));
	if (cpu_view_build(&v, s, pattern)) {
		cpu_view_release(&v);
		fprintf(f, "}");
		return;
	}
	cpu_view_sort(&v);
	fprintf(f, ",\n    \"stages\": [");
	for (i = 0; i < v.nstages; i++) {
		struct stage_row *r = &v.stages[i];

		fprintf(f, "%s\n      {\"model\": ", i ? "," : "");
		json_str(f, r->model == TRACE_NO_ID ? NULL : summary_name(s, r->model));
		fprintf(f, ", \"stage\": ");
		json_str(f, r->stage == TRACE_NO_ID ? NULL : summary_name(s, r->stage));
		fprintf(f, ", \"samples\": %llu, \"on_cpu_ns\": %llu, \"offcpu_blocked_ns\": %llu, "
			   "\"offcpu_runq_ns\": %llu",
			(unsigned long long)r->samples, (unsigned long long)r->ns[0],
			(unsigned long long)r->ns[1], (unsigned long long)r->ns[2]);
		if (pattern)
			fprintf(f, ", \"matched_ns\": %llu", (unsigned long long)r->matched_ns);
		fprintf(f, "}");
	}
	fprintf(f, "],\n    \"functions\": [");
	for (i = 0, n = 0; i < v.nfuncs; i++) {
		struct func_row *fr = &v.funcs[i];
		const struct trace_frame *fm = frame_of(p, fr->frame);

		fprintf(f, "%s\n      {\"model\": ", n++ ? "," : "");
		json_str(f, fr->model == TRACE_NO_ID ? NULL : summary_name(s, fr->model));
		fprintf(f, ", \"stage\": ");
		json_str(f, fr->stage == TRACE_NO_ID ? NULL : summary_name(s, fr->stage));
		fprintf(f, ", \"function\": ");
		json_str(f, id_name(s, fr->function, "?"));
		fprintf(f, ", \"file\": ");
		json_str(f, fm && fm->file_id != TRACE_NO_ID ? summary_name(s, fm->file_id) : NULL);
		fprintf(f, ", \"line\": %u, \"inlined\": %s, \"self_ns\": %llu, \"total_ns\": %llu}",
			fm ? fm->line : 0,
			fm && fm->flags & TRACE_FRAME_INLINED ? "true" : "false",
			(unsigned long long)fr->self_ns,
			(unsigned long long)fr->total_ns);
	}
	fprintf(f, "]");
	if (pattern) {
		fprintf(f, ",\n    \"func_pattern\": ");
		json_str(f, pattern);
	}
	fprintf(f, "}");
	cpu_view_release(&v);
}
