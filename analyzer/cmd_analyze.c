// SPDX-License-Identifier: MIT
/*
 * 'loupe analyze FILE': feeds the trace's windows to the analyzer and
 * prints what is wrong, where, and which setting to change -- as text (80
 * columns), JSON or Markdown.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/analyze.h"
#include "analyzer/json.h"
#include "analyzer/units.h"
#include "commands.h"
#include "log.h"

const char analyze_help[] =
	"usage: loupe analyze [--json|--markdown] [--slo SPEC] [--config FILE]\n"
	"                     [--rules DIR] FILE\n"
	"\n"
	"Finds what is wrong in a recording and proposes the fix: SLO\n"
	"violations, latency spikes, periodic stalls, change points (a stage\n"
	"or CPU per request stepping up), memory leaks, RSS growth, lock\n"
	"contention, thread oversubscription, allocator pressure, page-fault\n"
	"churn, queueing, oversized batches, and the hottest function per\n"
	"stage.  Each finding has a severity, a time range, the model and\n"
	"stage, its evidence, and fixes from the rules (key: old -> new, why,\n"
	"expected effect, confidence) or the code site to change.\n"
	"\n"
	"  --slo SPEC      p99 objective: 'p99=25ms', or per model\n"
	"                  'ctr_small:p99=20ms,cvr_large:p99=40ms'; default: the\n"
	"                  workload's announced slo_p99_ms (MODEL.slo_p99_ms)\n"
	"  --config FILE   key = value lines that override or add to the\n"
	"                  workload's announced config (un-instrumented targets)\n"
	"  --rules DIR     fix rules directory (default: the installed rules;\n"
	"                  $LOUPE_RULES_DIR)\n"
	"  --json          machine-readable (docs/analyze.md lists the keys)\n"
	"  --markdown      a report to paste into an issue or a pull request\n"
	"\n"
	"The first windows (warm-up, until throughput settles) are not judged.\n"
	"Exit status: 0 analysed, 1 unreadable or damaged trace (what could be\n"
	"read is still analysed), 2 usage.\n";

enum output { OUT_TEXT, OUT_JSON, OUT_MARKDOWN };

struct run {
	const char *path;
	struct window_stream *ws;
	struct analyzer *an;
	const struct finding *v;
	size_t n;
};

/* Prints TEXT wrapped at 80 columns, every line starting with INDENT. */
static void wrap(const char *indent, const char *first, const char *text)
{
	size_t width = 80 - strlen(indent), len, col = 0;
	const char *p = text, *e;

	fputs(first, stdout);
	col = strlen(first);
	while (*p) {
		while (*p == ' ')
			p++;
		e = strchr(p, ' ');
		len = e ? (size_t)(e - p) : strlen(p);
		if (col > strlen(indent) && col + 1 + len > width + strlen(indent)) {
			printf("\n%s", indent);
			col = strlen(indent);
		} else if (col > strlen(indent) || (col && col != strlen(indent))) {
			putchar(' ');
			col++;
		}
		printf("%.*s", (int)len, p);
		col += len;
		p += len;
	}
	putchar('\n');
}

static void where(const struct finding *f, char *buf, size_t len)
{
	if (f->model[0] && f->stage[0])
		snprintf(buf, len, "%s/%s", f->model, f->stage);
	else
		snprintf(buf, len, "%s", f->model[0] ? f->model : f->stage[0] ? f->stage : "process");
}

static void print_fix_text(const struct fix *x)
{
	char head[200];

	if (x->key[0])
		snprintf(head, sizeof(head), "  fix: %s: %s -> %s  (%.0f%%, %s)", x->key,
			 x->from, x->to, 100 * x->confidence, x->rule);
	else
		snprintf(head, sizeof(head), "  fix: change the code  (%.0f%%, %s)",
			 100 * x->confidence, x->rule);
	printf("%.80s\n", head);
	if (x->why[0])
		wrap("       ", "       why:", x->why);
	if (x->effect[0])
		wrap("       ", "       expect:", x->effect);
}

static void print_text(const struct run *r, bool damaged)
{
	const struct trace_meta *m = window_stream_meta(r->ws);
	long stable = analyzer_stable_from(r->an);
	size_t i, j, sev[3] = { 0 };
	char w[96];

	printf("loupe analyze: %.64s\n", r->path);
	if (m)
		printf("target    pid %u: %.55s\n", m->pid, m->cmdline);
	if (stable >= 0)
		printf("windows   %zu, judged from window %ld (warm-up before)\n",
		       analyzer_windows(r->an), stable);
	else
		printf("windows   %zu (too few to judge)\n", analyzer_windows(r->an));
	for (i = 0; i < r->n; i++)
		sev[r->v[i].severity]++;
	printf("findings  %zu critical, %zu warning, %zu info%s\n", sev[SEV_CRITICAL],
	       sev[SEV_WARNING], sev[SEV_INFO], damaged ? " (damaged trace: partial)" : "");
	if (!r->n)
		printf("\nno findings: nothing wrong that the detectors can see\n");
	for (i = 0; i < r->n; i++) {
		const struct finding *f = &r->v[i];
		char head[160];

		where(f, w, sizeof(w));
		snprintf(head, sizeof(head), "%s %s  %s  %.1f-%.1f s%s",
			 f->severity == SEV_CRITICAL ? "CRITICAL" :
			 f->severity == SEV_WARNING ? "WARNING " : "info    ",
			 finding_kind_name(f->kind), w, f->start_s, f->end_s,
			 f->transient ? "  (transient)" : "");
		printf("\n%.80s\n  %.78s\n", head, f->title);
		fputs(f->evidence, stdout);
		if (f->function[0] && f->file[0] && !strstr(f->evidence, f->file))
			printf("  at %.40s (%.24s:%u)\n", f->function, f->file, f->line);
		for (j = 0; j < f->nfixes; j++)
			print_fix_text(&f->fixes[j]);
	}
}

static void json_num(const char *key, double v, bool comma)
{
	printf("\"%s\": %.6g%s", key, v, comma ? ", " : "");
}

static void print_json(const struct run *r, bool damaged)
{
	size_t i, j;
	const char *p, *e;

	printf("{\"trace\": ");
	json_str(stdout, r->path);
	printf(", \"windows\": %zu, \"stable_from_window\": %ld, \"damaged\": %s,\n \"findings\": [",
	       analyzer_windows(r->an), analyzer_stable_from(r->an),
	       damaged ? "true" : "false");
	for (i = 0; i < r->n; i++) {
		const struct finding *f = &r->v[i];

		printf("%s\n  {\"kind\": \"%s\", \"severity\": \"%s\", \"transient\": %s, ",
		       i ? "," : "", finding_kind_name(f->kind), severity_name(f->severity),
		       f->transient ? "true" : "false");
		printf("\"model\": ");
		json_str(stdout, f->model);
		printf(", \"stage\": ");
		json_str(stdout, f->stage);
		printf(", \"first_window\": %llu, \"last_window\": %llu, ",
		       (unsigned long long)f->first_window, (unsigned long long)f->last_window);
		json_num("start_s", f->start_s, true);
		json_num("end_s", f->end_s, true);
		printf("\"title\": ");
		json_str(stdout, f->title);
		printf(", \"metric\": ");
		json_str(stdout, f->metric);
		printf(", ");
		json_num("value", f->value, true);
		json_num("reference", f->reference, true);
		printf("\"function\": ");
		json_str(stdout, f->function);
		printf(", \"file\": ");
		json_str(stdout, f->file);
		printf(", \"line\": %u, \"evidence\": [", f->line);
		for (p = f->evidence, j = 0; *p; p = *e ? e + 1 : e, j++) {
			char line[256];

			e = strchr(p, '\n');
			if (!e)
				e = p + strlen(p);
			snprintf(line, sizeof(line), "%.*s", (int)(e - p), p);
			printf("%s", j ? ", " : "");
			json_str(stdout, line + (line[0] == ' ' && line[1] == ' ' ? 2 : 0));
		}
		printf("],\n   \"fixes\": [");
		for (j = 0; j < f->nfixes; j++) {
			const struct fix *x = &f->fixes[j];

			printf("%s{\"key\": ", j ? ", " : "");
			json_str(stdout, x->key);
			printf(", \"from\": ");
			json_str(stdout, x->from);
			printf(", \"to\": ");
			json_str(stdout, x->to);
			printf(", \"why\": ");
			json_str(stdout, x->why);
			printf(", \"effect\": ");
			json_str(stdout, x->effect);
			printf(", \"confidence\": %.2f, \"rule\": ", x->confidence);
			json_str(stdout, x->rule);
			printf("}");
		}
		printf("]}");
	}
	printf("]}\n");
}

/* Markdown: a table to skim, then one section per finding. */
static void print_markdown(const struct run *r, bool damaged)
{
	size_t i, j;
	char w[96];

	printf("## loupe analyze: `%s`\n\n", r->path);
	if (damaged)
		printf("> The trace is damaged; this is what could be read.\n\n");
	if (!r->n) {
		printf("No findings.\n");
		return;
	}
	printf("| severity | finding | where | time | fix |\n|---|---|---|---|---|\n");
	for (i = 0; i < r->n; i++) {
		const struct finding *f = &r->v[i];

		where(f, w, sizeof(w));
		printf("| %s | %s | `%s` | %.1f–%.1f s | ", severity_name(f->severity),
		       f->title, w, f->start_s, f->end_s);
		if (f->nfixes && f->fixes[0].key[0])
			printf("`%s: %s → %s`", f->fixes[0].key, f->fixes[0].from, f->fixes[0].to);
		else if (f->function[0])
			printf("code: `%s`", f->function);
		printf(" |\n");
	}
	for (i = 0; i < r->n; i++) {
		const struct finding *f = &r->v[i];

		printf("\n### %s: %s\n\n```\n%s```\n", severity_name(f->severity), f->title,
		       f->evidence);
		for (j = 0; j < f->nfixes; j++) {
			const struct fix *x = &f->fixes[j];

			if (x->key[0])
				printf("- **`%s: %s → %s`**", x->key, x->from, x->to);
			else
				printf("- **code change**");
			printf(" (confidence %.0f%%, `%s`): %s %s\n", 100 * x->confidence,
			       x->rule, x->why, x->effect);
		}
	}
}

static int feed_all(struct run *r)
{
	const struct window *w;
	int rc;

	while ((rc = window_stream_next(r->ws, &w)) == 1) {
		rc = analyzer_feed(r->an, r->ws, w);
		if (rc)
			return rc;
	}
	return rc;
}

int cmd_analyze(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_MD, OPT_SLO, OPT_CONFIG, OPT_RULES };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "markdown", no_argument, NULL, OPT_MD },
		{ "slo", required_argument, NULL, OPT_SLO },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "rules", required_argument, NULL, OPT_RULES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct analyzer_opts ao = { 0 };
	enum output out = OUT_TEXT;
	struct run r = { 0 };
	char err[256] = "";
	bool damaged;
	int opt, rc;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_JSON:
			out = OUT_JSON;
			break;
		case OPT_MD:
			out = OUT_MARKDOWN;
			break;
		case OPT_SLO:
			ao.slo = optarg;
			break;
		case OPT_CONFIG:
			ao.config_path = optarg;
			break;
		case OPT_RULES:
			ao.rules_dir = optarg;
			break;
		case 'h':
			fputs(analyze_help, stdout);
			return 0;
		default:
			if (optopt)
				pr_err("analyze: option '%s' needs a value (see 'loupe help analyze')",
				       argv[optind - 1]);
			else
				pr_err("analyze: unknown option '%s' (see 'loupe help analyze')",
				       argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		pr_err("analyze: give exactly one trace file (see 'loupe help analyze')");
		return 2;
	}
	r.path = argv[optind];
	r.an = analyzer_new(&ao, err, sizeof(err));
	if (!r.an) {
		pr_err("analyze: %s", err[0] ? err : strerror(errno));
		return 2;
	}
	r.ws = window_stream_open(r.path);
	if (!r.ws) {
		pr_err("analyze: %s: %s", r.path,
		       errno == EPROTO ? "not a loupe trace file" :
		       errno == EPROTONOSUPPORT ? "unsupported trace format version" :
		       strerror(errno));
		analyzer_free(r.an);
		return 1;
	}
	rc = feed_all(&r);
	if (rc < 0) {
		pr_err("analyze: %s: %s", r.path, strerror(-rc));
		window_stream_close(r.ws);
		analyzer_free(r.an);
		return 1;
	}
	r.n = analyzer_findings(r.an, &r.v);
	damaged = window_stream_damage(r.ws) || !window_stream_end(r.ws);
	if (out == OUT_JSON)
		print_json(&r, damaged);
	else if (out == OUT_MARKDOWN)
		print_markdown(&r, damaged);
	else
		print_text(&r, damaged);
	if (damaged)
		pr_warn("analyze: %s: %s", r.path,
			window_stream_damage(r.ws) ? window_stream_damage(r.ws) :
						     "did not end cleanly (truncated)");
	window_stream_close(r.ws);
	analyzer_free(r.an);
	return damaged ? 1 : 0;
}
