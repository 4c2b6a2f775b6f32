// SPDX-License-Identifier: MIT
/*
 * loupe report: latency per model x stage, throughput per window, drops and
 * what was recorded, from a trace file; 80 columns, or --json.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer/cpu_report.h"
#include "analyzer/json.h"
#include "analyzer/mem_report.h"
#include "analyzer/summary.h"
#include "analyzer/units.h"
#include "commands.h"
#include "log.h"

const char report_help[] =
	"usage: loupe report [--json] [--cpu] [--func PATTERN] [--mem] FILE\n"
	"\n"
	"Summarises a trace recorded by 'loupe record': for every model and\n"
	"stage the count, mean, p50, p90, p99, p99.9 and max latency (stage\n"
	"\"request\" is the whole request), throughput per window, dropped\n"
	"events, the target's command line, duration and announced config.\n"
	"\n"
	"  --json      machine-readable output (see docs/report-json.md)\n"
	"  --cpu       add the CPU profile: on-CPU and off-CPU (blocked,\n"
	"              run-queue wait) time per model x stage, top functions\n"
	"              (self and total) of each, top off-CPU stacks, counters\n"
	"  --func PATTERN\n"
	"              also the share of each stage's CPU time spent under\n"
	"              frames whose function matches PATTERN (glob, or a\n"
	"              substring): per-operator time with no extra probe\n"
	"  --mem       add the memory profile (record --mem): outstanding\n"
	"              sampled heap bytes per allocation site, and leaks: sites\n"
	"              whose outstanding bytes keep growing with requests\n"
	"  -h, --help  this help\n"
	"\n"
	"A damaged file (cut short, e.g. by SIGKILL of the recorder, or\n"
	"corrupt) is reported as far as it reads back, with one line saying how\n"
	"much was recovered, and exit status 1.  Exit status: 0 ok, 1 failure\n"
	"or damaged file, 2 usage.\n";

static const double quantiles[] = { 0.5, 0.9, 0.99, 0.999 };

/* Sort order: model name, then "request" first, then first-seen stages. */
static const struct trace_summary *sort_ctx;

static int entry_cmp(const void *pa, const void *pb)
{
	const struct summary_entry *a = pa, *b = pb;
	const char *sa = summary_name(sort_ctx, a->stage_id);
	const char *sb = summary_name(sort_ctx, b->stage_id);
	int c = strcmp(summary_name(sort_ctx, a->model_id),
		       summary_name(sort_ctx, b->model_id));

	if (c)
		return c;
	if (!strcmp(sa, "request") != !strcmp(sb, "request"))
		return strcmp(sa, "request") ? 1 : -1;
	return a->stage_id < b->stage_id ? -1 : a->stage_id > b->stage_id;
}

static bool file_is_whole(const struct trace_summary *s)
{
	return s->have_end && !s->damage && !s->rs.chunks_bad &&
	       !s->rs.trailing_bytes;
}

static void print_recovery_line(const char *path, const struct trace_summary *s)
{
	char ok[32], total[32];

	units_bytes(ok, sizeof(ok), s->rs.bytes_ok);
	units_bytes(total, sizeof(total), s->rs.file_size);
	if (s->rs.chunks_bad)
		pr_err("report: %s: damaged: %s; recovered %llu chunks (%s of %s), %llu bad chunks skipped",
		       path, s->damage ? s->damage : "corrupt chunks",
		       (unsigned long long)s->rs.chunks_ok, ok, total,
		       (unsigned long long)s->rs.chunks_bad);
	else
		pr_err("report: %s: recording did not end cleanly%s; recovered %llu chunks (%s of %s), %llu windows, %llu requests",
		       path, s->rs.trailing_bytes ? " (truncated)" : "",
		       (unsigned long long)s->rs.chunks_ok, ok, total,
		       (unsigned long long)s->nwindows,
		       (unsigned long long)s->requests);
}

/*
 * Long paths and command lines would break the 80-column layout; keep the
 * head of a command line (the program) and the tail of a path (the file).
 */
enum clip_side { CLIP_KEEP_HEAD, CLIP_KEEP_TAIL };

static void print_clipped(const char *prefix, const char *text,
			  enum clip_side side)
{
	int room = 80 - (int)strlen(prefix);
	int len = (int)strlen(text);

	if (len <= room || room <= 3)
		printf("%s%s\n", prefix, text);
	else if (side == CLIP_KEEP_HEAD)
		printf("%s%.*s...\n", prefix, room - 3, text);
	else
		printf("%s...%s\n", prefix, text + len - (room - 3));
}

static void print_text_header(const char *path, const struct trace_summary *s)
{
	__u64 dur = summary_duration_ns(s);
	char when[64] = "?", d[16], w[16], prefix[64];
	time_t t;
	struct tm tm;

	if (s->meta.start_realtime_ns) {
		t = s->meta.start_realtime_ns / 1000000000ull;
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	}
	print_clipped("loupe report: ", path, CLIP_KEEP_TAIL);
	snprintf(prefix, sizeof(prefix), "target    pid %u (%s): ", s->meta.pid,
		 s->meta.mode);
	print_clipped(prefix, s->meta.cmdline, CLIP_KEEP_HEAD);
	printf("recorded  %s on %.30s, %s, %zu windows of %s\n", when,
	       s->meta.hostname, units_ns(d, sizeof(d), dur), s->nwindows,
	       units_ns(w, sizeof(w), s->meta.window_ns));
	printf("requests  %llu ok, %llu errors, %.1f req/s, %llu dropped events\n",
	       (unsigned long long)(s->requests - s->errors),
	       (unsigned long long)s->errors,
	       dur ? s->requests * 1e9 / dur : 0.0,
	       (unsigned long long)s->dropped);
}

/* key=value pairs, wrapped at 80 columns. */
static void print_config(const struct trace_summary *s)
{
	size_t i, col = 0, len;
	char pair[160];

	for (i = 0; i < s->nconfig; i++) {
		if (s->config[i].key[0] == '@')
			continue;
		/* 70 = 80 columns less the indent; a longer pair is clipped. */
		snprintf(pair, sizeof(pair), "%s=%s", s->config[i].key,
			 s->config[i].value);
		len = strlen(pair);
		if (len > 70)
			memcpy(pair + 67, "...", 4);
		len = strlen(pair);
		if (!col || col + 1 + len > 80) {
			printf("%s%s", col ? "\n" : "", col ? "          " : "config    ");
			col = 10;
		} else {
			putchar(' ');
			col++;
		}
		fputs(pair, stdout);
		col += len;
	}
	if (col)
		putchar('\n');
}

static void print_models(const struct trace_summary *s)
{
	size_t i, shown = 0;

	for (i = 0; i < s->nconfig; i++) {
		if (strncmp(s->config[i].key, "@model.", 7))
			continue;
		printf("%s%s", shown++ ? ", " : "models    ", s->config[i].key + 7);
	}
	if (shown)
		putchar('\n');
}

static void print_row(const char *model, const char *stage,
		      const struct hist *h)
{
	char v[6][16];
	size_t q;

	for (q = 0; q < 4; q++)
		units_ns(v[q], sizeof(v[q]), hist_quantile(h, quantiles[q]));
	units_ns(v[4], sizeof(v[4]), h->max);
	units_ns(v[5], sizeof(v[5]), (__u64)hist_mean(h));
	printf("%-10.10s %-12.12s %7llu %6s %6s %6s %6s %6s %6s\n", model, stage,
	       (unsigned long long)h->count, v[5], v[0], v[1], v[2], v[3], v[4]);
}

/* Models with whole-request rows: the "(all)" row is worth a line if 2+. */
static size_t count_request_rows(const struct trace_summary *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->nentries; i++)
		n += !strcmp(summary_name(s, s->entries[i].stage_id), "request");
	return n;
}

static void print_latency_table(const struct trace_summary *s)
{
	size_t i;

	printf("\n%-10s %-12s %7s %6s %6s %6s %6s %6s %6s\n", "MODEL", "STAGE",
	       "COUNT", "MEAN", "P50", "P90", "P99", "P99.9", "MAX");
	for (i = 0; i < s->nentries; i++)
		print_row(summary_name(s, s->entries[i].model_id),
			  summary_name(s, s->entries[i].stage_id),
			  &s->entries[i].h);
	if (!s->nentries)
		printf("(no completed requests recorded)\n");
	else if (count_request_rows(s) > 1)
		print_row("(all)", "request", &s->overall);
}

/* Consecutive windows folded so the table has at most 20 rows. */
static void print_throughput(const struct trace_summary *s)
{
	size_t group, i, j;
	double t0 = s->meta.start_mono_ns;

	if (!s->nwindows)
		return;
	group = (s->nwindows + 19) / 20;
	printf("\n%-17s %9s %8s %8s\n", "WINDOW", "REQ/S", "ERRORS", "DROPPED");
	for (i = 0; i < s->nwindows; i += group) {
		__u64 req = 0, err = 0, drop = 0, start = s->windows[i].start_ns,
		      end = start;

		for (j = i; j < i + group && j < s->nwindows; j++) {
			req += s->windows[j].requests;
			err += s->windows[j].errors;
			drop += s->windows[j].dropped;
			end = s->windows[j].end_ns;
		}
		printf("%7.1fs-%7.1fs  %9.1f %8llu %8llu\n", (start - t0) / 1e9,
		       (end - t0) / 1e9, end > start ? req * 1e9 / (end - start) : 0.0,
		       (unsigned long long)err, (unsigned long long)drop);
	}
}

/* ", \"count\": ..., \"max_ns\": ..." for one histogram. */
static void json_hist_fields(const struct hist *h)
{
	static const char *const qkeys[] = { "p50_ns", "p90_ns", "p99_ns", "p999_ns" };
	size_t q;

	printf("\"count\": %llu, \"mean_ns\": %.0f", (unsigned long long)h->count,
	       hist_mean(h));
	for (q = 0; q < 4; q++)
		printf(", \"%s\": %llu", qkeys[q],
		       (unsigned long long)hist_quantile(h, quantiles[q]));
	printf(", \"min_ns\": %llu, \"max_ns\": %llu",
	       (unsigned long long)(h->count ? h->min : 0),
	       (unsigned long long)h->max);
}

static void print_json(const char *path, const struct trace_summary *s,
		       bool cpu, const char *func, bool mem)
{
	__u64 dur = summary_duration_ns(s);
	size_t i, n;

	printf("{\n  \"file\": ");
	json_str(stdout, path);
	printf(",\n  \"target\": {\"pid\": %u, \"mode\": ", s->meta.pid);
	json_str(stdout, s->meta.mode);
	printf(", \"cmdline\": ");
	json_str(stdout, s->meta.cmdline);
	printf("},\n  \"host\": ");
	json_str(stdout, s->meta.hostname);
	printf(",\n  \"loupe_version\": ");
	json_str(stdout, s->meta.loupe_version);
	printf(",\n  \"start_realtime_ns\": %llu,\n  \"duration_ns\": %llu,\n"
	       "  \"window_ns\": %llu,\n  \"requests\": %llu,\n  \"errors\": %llu,\n"
	       "  \"dropped\": %llu,\n  \"throughput_rps\": %.3f,\n",
	       (unsigned long long)s->meta.start_realtime_ns,
	       (unsigned long long)dur, (unsigned long long)s->meta.window_ns,
	       (unsigned long long)s->requests, (unsigned long long)s->errors,
	       (unsigned long long)s->dropped,
	       dur ? s->requests * 1e9 / dur : 0.0);
	printf("  \"models\": [");
	for (i = 0, n = 0; i < s->nconfig; i++) {
		if (strncmp(s->config[i].key, "@model.", 7))
			continue;
		printf("%s", n++ ? ", " : "");
		json_str(stdout, s->config[i].key + 7);
	}
	printf("],\n  \"config\": {");
	for (i = 0, n = 0; i < s->nconfig; i++) {
		if (s->config[i].key[0] == '@')
			continue;
		printf("%s\n    ", n++ ? "," : "");
		json_str(stdout, s->config[i].key);
		printf(": ");
		json_str(stdout, s->config[i].value);
	}
	/* loupe's own keys: how it recorded, the machine, the target's
	 * tuning environment (@env.OMP_NUM_THREADS...). */
	printf("%s},\n  \"recorded_context\": {", n ? "\n  " : "");
	for (i = 0, n = 0; i < s->nconfig; i++) {
		if (s->config[i].key[0] != '@' || !strncmp(s->config[i].key, "@model.", 7))
			continue;
		printf("%s\n    ", n++ ? "," : "");
		json_str(stdout, s->config[i].key + 1);
		printf(": ");
		json_str(stdout, s->config[i].value);
	}
	printf("%s},\n  \"entries\": [", n ? "\n  " : "");
	for (i = 0; i < s->nentries; i++) {
		const struct summary_entry *e = &s->entries[i];

		printf("%s\n    {\"model\": ", i ? "," : "");
		json_str(stdout, summary_name(s, e->model_id));
		printf(", \"stage\": ");
		json_str(stdout, summary_name(s, e->stage_id));
		printf(", ");
		json_hist_fields(&e->h);
		printf("}");
	}
	printf("%s],\n  \"overall\": {", s->nentries ? "\n  " : "");
	json_hist_fields(&s->overall);
	printf("},\n  \"windows\": [");
	for (i = 0; i < s->nwindows; i++) {
		const struct summary_window *w = &s->windows[i];
		__u64 len = w->end_ns > w->start_ns ? w->end_ns - w->start_ns : 0;

		printf("%s\n    {\"index\": %llu, \"start_ns\": %llu, \"duration_ns\": %llu, "
		       "\"requests\": %llu, \"errors\": %llu, \"dropped\": %llu, "
		       "\"late\": %llu, \"throughput_rps\": %.3f, \"p50_ns\": %llu, "
		       "\"p99_ns\": %llu, \"max_ns\": %llu}",
		       i ? "," : "", (unsigned long long)w->index,
		       (unsigned long long)(w->start_ns - s->meta.start_mono_ns),
		       (unsigned long long)len, (unsigned long long)w->requests,
		       (unsigned long long)w->errors, (unsigned long long)w->dropped,
		       (unsigned long long)w->late,
		       len ? w->requests * 1e9 / len : 0.0,
		       (unsigned long long)w->p50_ns, (unsigned long long)w->p99_ns,
		       (unsigned long long)w->max_ns);
	}
	printf("%s],\n", s->nwindows ? "\n  " : "");
	if (cpu) {
		printf("  ");
		cpu_report_json(stdout, s, func);
		printf(",\n");
	}
	if (mem) {
		printf("  ");
		mem_report_json(stdout, s);
		printf(",\n");
	}
	printf("  \"recovery\": {\"complete\": %s, \"ended_cleanly\": %s, "
	       "\"chunks\": %llu, \"bytes_recovered\": %llu, \"file_size\": %llu, "
	       "\"chunks_bad\": %llu, \"bytes_skipped\": %llu, "
	       "\"trailing_bytes\": %llu, \"damage\": ",
	       file_is_whole(s) ? "true" : "false",
	       s->have_end ? "true" : "false",
	       (unsigned long long)s->rs.chunks_ok,
	       (unsigned long long)s->rs.bytes_ok,
	       (unsigned long long)s->rs.file_size,
	       (unsigned long long)s->rs.chunks_bad,
	       (unsigned long long)s->rs.bytes_skipped,
	       (unsigned long long)s->rs.trailing_bytes);
	json_str(stdout, s->damage);
	printf("}\n}\n");
}

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "cpu", no_argument, NULL, 'c' },
		{ "func", required_argument, NULL, 'f' },
		{ "mem", no_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trace_summary s;
	const char *path;
	bool json = false, cpu = false, mem = false;
	const char *func = NULL;
	int opt, err;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'c':
			cpu = true;
			break;
		case 'f':
			func = optarg;
			cpu = true;
			break;
		case 'm':
			mem = true;
			break;
		case 'h':
			fputs(report_help, stdout);
			return 0;
		default:
			pr_err("report: unknown option '%s' (see 'loupe help report')",
			       argv[optind - 1]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		pr_err("report: give exactly one trace file (see 'loupe help report')");
		return 2;
	}
	path = argv[optind];
	err = summary_load(path, &s);
	if (err == -EPROTO) {
		pr_err("report: %s: not a loupe trace file", path);
		return 1;
	}
	if (err == -EPROTONOSUPPORT) {
		pr_err("report: %s: unsupported trace format version", path);
		return 1;
	}
	if (err) {
		pr_err("report: open %s: %s", path, strerror(-err));
		return 1;
	}
	if (!s.have_meta) {
		pr_err("report: %s: no readable data (%llu of %llu bytes are whole chunks)",
		       path, (unsigned long long)s.rs.bytes_ok,
		       (unsigned long long)s.rs.file_size);
		summary_release(&s);
		return 1;
	}
	sort_ctx = &s;
	if (s.nentries)	/* qsort(NULL, 0) is undefined */
		qsort(s.entries, s.nentries, sizeof(*s.entries), entry_cmp);
	if (json) {
		print_json(path, &s, cpu, func, mem);
	} else {
		print_text_header(path, &s);
		print_models(&s);
		print_config(&s);
		print_latency_table(&s);
		print_throughput(&s);
		if (cpu)
			cpu_report_text(stdout, &s, func);
		if (mem)
			mem_report_text(stdout, &s);
	}
	err = file_is_whole(&s) ? 0 : 1;
	if (err)
		print_recovery_line(path, &s);
	summary_release(&s);
	return err;
}
