// SPDX-License-Identifier: MIT
/*
 * Shared by 'loupe diff' and 'loupe gate': arguments, loading, ordering and
 * printing of comparisons (compare_out.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/compare_out.h"
#include "analyzer/json.h"
#include "analyzer/units.h"
#include "log.h"

int cmp_split_args(int argc, char **argv, char ***base, size_t *nbase,
		   char ***cand, size_t *ncand, char *err, size_t errlen)
{
	int i, dash = -1;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			dash = i;
			break;
		}
	}
	if (dash < 0) {
		snprintf(err, errlen, "give the baseline's and the candidate's traces: BASE... -- CAND...");
		return -EINVAL;
	}
	if (dash == 0 || dash == argc - 1) {
		snprintf(err, errlen, "no %s trace (BASE... -- CAND...)",
			 dash == 0 ? "baseline" : "candidate");
		return -EINVAL;
	}
	*base = argv;
	*nbase = (size_t)dash;
	*cand = argv + dash + 1;
	*ncand = (size_t)(argc - dash - 1);
	return 0;
}

int cmp_open(struct cmp *c, const struct policy *pol, const char *cmd,
	     char **base, size_t nbase, char **cand, size_t ncand)
{
	char err[512] = "";
	int rc;

	cmp_init(c, pol);
	rc = cmp_load(c, CMP_A, base, nbase, err, sizeof(err));
	if (!rc)
		rc = cmp_load(c, CMP_B, cand, ncand, err, sizeof(err));
	if (!rc)
		rc = cmp_prepare(c, err, sizeof(err));
	if (rc)
		pr_err("%s: %s", cmd, err[0] ? err : strerror(-rc));
	return rc;
}

/* ---- ordering ---- */

static const struct cmp *order_ctx;

static size_t stage_rank(const struct cmp *c, const char *stage)
{
	size_t i;

	if (!stage)
		return (size_t)-1;
	if (!strcmp(stage, "request"))
		return 0;
	for (i = 0; i < c->nentries; i++)
		if (c->entries[i].stage == stage)
			return i + 1;
	return (size_t)-2;
}

static int result_order(const void *pa, const void *pb)
{
	const struct cmp_entry *a = ((const struct cmp_result *)pa)->e;
	const struct cmp_entry *b = ((const struct cmp_result *)pb)->e;
	size_t ra, rb;
	int r;

	if ((!a->model) != (!b->model))
		return a->model ? -1 : 1;
	if (a->model && (r = strcmp(a->model, b->model)))
		return r;
	ra = stage_rank(order_ctx, a->stage);
	rb = stage_rank(order_ctx, b->stage);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	return (int)a->metric - (int)b->metric;
}

int cmp_compare_all(const struct cmp *c, struct cmp_result **out)
{
	struct cmp_result *r = calloc(c->nentries ? c->nentries : 1, sizeof(*r));
	size_t i;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	for (i = 0; i < c->nentries; i++) {
		if (cmp_entry_compare(c, &c->entries[i], &r[i])) {
			free(r);
			return -ENOMEM;
		}
	}
	order_ctx = c;
	qsort(r, c->nentries, sizeof(*r), result_order);
	*out = r;
	return (int)c->nentries;
}

/* ---- formatting ---- */

char *cmp_fmt_value(char *buf, size_t len, enum cmp_metric m, double v)
{
	if (!isfinite(v)) {
		snprintf(buf, len, "-");
	} else if (cmp_metric_is_bytes(m)) {
		/* "447.1MiB": eight columns at most below 1000 GiB */
		static const char *const unit[] = { "B", "KiB", "MiB", "GiB" };
		bool neg = v < 0;
		int u = 0;

		v = fabs(v);
		while (v >= 1000 && u < 3) {
			v /= 1024;
			u++;
		}
		snprintf(buf, len, u ? "%s%.1f%s%s" : "%s%.0f%s%s", neg ? "-" : "", v,
			 unit[u], m == CM_RSS_GROWTH ? "/s" : "");
	} else if (v < 100 && v != floor(v)) {
		snprintf(buf, len, "%.1fns", v);
	} else {
		units_ns(buf, len, (__u64)(v < 0 ? 0 : v + 0.5));
	}
	return buf;
}

char *cmp_fmt_delta(char *buf, size_t len, enum cmp_metric m, double v)
{
	char tmp[32];

	cmp_fmt_value(tmp, sizeof(tmp), m, fabs(v));
	snprintf(buf, len, "%s%s", v < 0 ? "-" : "+", tmp);
	return buf;
}

char *cmp_fmt_rel(char *buf, size_t len, double rel)
{
	if (isinf(rel))
		snprintf(buf, len, "%sinf", rel > 0 ? "+" : "-");
	else if (isnan(rel))
		snprintf(buf, len, "-");
	else if (fabs(rel) >= 0.995)
		snprintf(buf, len, "%+.0f%%", 100 * rel);
	else
		snprintf(buf, len, "%+.1f%%", 100 * rel);
	return buf;
}

char *cmp_fmt_where(char *buf, size_t len, const struct cmp_entry *e)
{
	if (e->model)
		snprintf(buf, len, "%s/%s", e->model, e->stage);
	else
		snprintf(buf, len, "process");
	return buf;
}

char *cmp_fmt_p(char *buf, size_t len, double p)
{
	if (isnan(p))
		snprintf(buf, len, "p -");
	else if (p < 1e-6)
		snprintf(buf, len, "p<1e-6");
	else if (p < 0.001)
		snprintf(buf, len, "p %.0e", p);
	else
		snprintf(buf, len, "p %.3f", p);
	return buf;
}

const char *cmp_mode_phrase(const struct cmp *c)
{
	static char buf[160];

	if (c->paired)
		snprintf(buf, sizeof(buf),
			 "side by side: %zu time slot%s, each run compared with the "
			 "run of the other side recorded at the same time",
			 c->nstrata, c->nstrata == 1 ? "" : "s");
	else if (c->nruns[CMP_A] >= 2 || c->nruns[CMP_B] >= 2)
		snprintf(buf, sizeof(buf),
			 "apart: between-run noise estimated from the runs of each side");
	else
		snprintf(buf, sizeof(buf),
			 "apart, one run a side: between-run noise not measured "
			 "(record 3+ runs a side, or both side by side)");
	return buf;
}

static void print_clipped(FILE *f, const char *prefix, const char *text,
			  bool keep_tail)
{
	int room = 80 - (int)strlen(prefix), len = (int)strlen(text);

	if (len <= room || room <= 3)
		fprintf(f, "%s%s\n", prefix, text);
	else if (keep_tail)
		fprintf(f, "%s...%s\n", prefix, text + len - (room - 3));
	else
		fprintf(f, "%s%.*s...\n", prefix, room - 3, text);
}

void cmp_print_header(FILE *f, const struct cmp *c, const char *cmd)
{
	static const char *const side_name[2] = { "baseline ", "candidate" };
	const char *cmdline[2] = { NULL, NULL };
	size_t s, i;
	char line[128];

	for (s = 0; s < 2; s++) {
		double secs = 0;

		for (i = 0; i < c->nruns[s]; i++)
			secs += c->runs[s][i].stable_s;
		snprintf(line, sizeof(line),
			 "%s%s %zu run%s, %zu stable windows (%.0f s)", cmd,
			 side_name[s], c->nruns[s], c->nruns[s] == 1 ? "" : "s",
			 cmp_side_windows(c, (int)s), secs);
		fprintf(f, "%s\n", line);
		for (i = 0; i < c->nruns[s]; i++) {
			const struct cmp_run *r = &c->runs[s][i];

			print_clipped(f, r->damaged ? "  (damaged) " : "  ", r->path, true);
			if (!cmdline[s] && r->cmdline && *r->cmdline)
				cmdline[s] = r->cmdline;
		}
	}
	if (cmdline[0] && cmdline[1] && !strcmp(cmdline[0], cmdline[1])) {
		print_clipped(f, "target    ", cmdline[0], false);
	} else {
		if (cmdline[0])
			print_clipped(f, "target A  ", cmdline[0], false);
		if (cmdline[1])
			print_clipped(f, "target B  ", cmdline[1], false);
	}
	snprintf(line, sizeof(line), "compared  %s", cmp_mode_phrase(c));
	/* wrap the phrase at 80 columns */
	{
		const char *p = line;
		int first = 1;

		while (strlen(p) > 80 - (first ? 0 : 10)) {
			int cut = 80 - (first ? 0 : 10);

			while (cut > 0 && p[cut] != ' ')
				cut--;
			fprintf(f, "%s%.*s\n", first ? "" : "          ", cut, p);
			p += cut + 1;
			first = 0;
		}
		fprintf(f, "%s%s\n", first ? "" : "          ", p);
	}
}

static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

void cmp_json_header(FILE *f, const struct cmp *c)
{
	static const char *const side_key[2] = { "baseline", "candidate" };
	size_t s, i;

	for (s = 0; s < 2; s++) {
		fprintf(f, "\"%s\": {\"runs\": [", side_key[s]);
		for (i = 0; i < c->nruns[s]; i++) {
			const struct cmp_run *r = &c->runs[s][i];

			fprintf(f, "%s\n  {\"path\": ", i ? "," : "");
			json_str(f, r->path);
			fputs(", \"cmdline\": ", f);
			json_str(f, r->cmdline);
			fputs(", \"hostname\": ", f);
			json_str(f, r->hostname);
			fprintf(f, ", \"windows\": %zu, \"stable_windows\": %zu, "
				   "\"stable_s\": %.3f, \"requests\": %llu, "
				   "\"damaged\": %s, \"stratum\": %d}",
				r->windows, r->stable, r->stable_s,
				(unsigned long long)r->requests,
				r->damaged ? "true" : "false", r->stratum);
		}
		fprintf(f, "], \"stable_windows\": %zu},\n", cmp_side_windows(c, (int)s));
	}
	fprintf(f, "\"comparison\": \"%s\", \"strata\": %zu,\n",
		c->paired ? "side_by_side" : "apart", c->nstrata);
}

/* "[LO, HI]" */
static void json_pair(FILE *f, double lo, double hi)
{
	fputc('[', f);
	json_num(f, lo);
	fputs(", ", f);
	json_num(f, hi);
	fputc(']', f);
}

/* The spread of each side's window values: "range": [[lo, hi], [lo, hi]],
 * null for a side without any. */
static void json_range(FILE *f, const struct cmp_entry *e)
{
	size_t s, i;

	fputs(", \"range\": [", f);
	for (s = 0; s < 2; s++) {
		const struct cmp_series *v = &e->side[s];
		double lo, hi;

		fputs(s ? ", " : "", f);
		if (!v->n) {
			fputs("null", f);
			continue;
		}
		lo = hi = v->v[0];
		for (i = 1; i < v->n; i++) {
			lo = v->v[i] < lo ? v->v[i] : lo;
			hi = v->v[i] > hi ? v->v[i] : hi;
		}
		json_pair(f, lo, hi);
	}
	fputc(']', f);
}

void cmp_json_result(FILE *f, const struct cmp_result *r)
{
	const struct cmp_entry *e = r->e;

	fputs("\"model\": ", f);
	json_str(f, e->model);
	fputs(", \"stage\": ", f);
	json_str(f, e->stage);
	fprintf(f, ", \"metric\": \"%s\", \"unit\": \"%s\", \"tested\": %s, "
		   "\"units\": [%zu, %zu], \"pairs\": %zu, \"baseline\": ",
		cmp_metric_name(e->metric), cmp_metric_is_bytes(e->metric) ? "bytes" : "ns",
		r->tested ? "true" : "false", r->units[0], r->units[1], r->pairs);
	json_num(f, r->median[0]);
	fputs(", \"candidate\": ", f);
	json_num(f, r->median[1]);
	json_range(f, e);
	if (!r->tested)
		return;
	fputs(", \"shift\": ", f);
	json_num(f, r->st.shift);
	fputs(", \"change\": ", f);
	json_num(f, r->st.rel);
	fputs(", \"ci\": ", f);
	json_pair(f, r->st.ci.lo, r->st.ci.hi);
	fputs(", \"ci_shift\": ", f);
	json_pair(f, r->st.ci.abs_lo, r->st.ci.abs_hi);
	fputs(", \"p_two\": ", f);
	json_num(f, r->st.mw.p_two);
	fputs(", \"p_greater\": ", f);
	json_num(f, r->st.mw.p_greater);
	fputs(", \"prob_greater\": ", f);
	json_num(f, r->st.mw.prob_greater);
	fputs(", \"cliffs_delta\": ", f);
	json_num(f, 2 * r->st.mw.prob_greater - 1);
	fputs(", \"var_factor\": ", f);
	json_num(f, r->st.var_factor);
	fputs(", \"rho\": ", f);
	json_num(f, r->st.rho);
	fputs(", \"icc\": ", f);
	json_num(f, r->st.icc);
	fputs(", \"overdispersion\": ", f);
	json_num(f, r->st.overdispersion);
}

void cmp_json_finding(FILE *f, const struct finding *fd)
{
	const char *p, *e;

	fprintf(f, "{\"kind\": \"%s\", \"severity\": \"%s\", \"model\": ",
		finding_kind_name(fd->kind), severity_name(fd->severity));
	json_str(f, fd->model);
	fputs(", \"stage\": ", f);
	json_str(f, fd->stage);
	fputs(", \"title\": ", f);
	json_str(f, fd->title);
	fputs(", \"function\": ", f);
	json_str(f, fd->function);
	fputs(", \"evidence\": [", f);
	for (p = fd->evidence; *p; p = *e ? e + 1 : e) {
		char line[sizeof(fd->evidence)];

		e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		snprintf(line, sizeof(line), "%.*s", (int)(e - p), p);
		while (line[0] == ' ')
			memmove(line, line + 1, strlen(line));
		fputs(p == fd->evidence ? "" : ", ", f);
		json_str(f, line);
	}
	fputs("]}", f);
}

void cmp_json_moves(FILE *f, const struct cmp_move *m, size_t n)
{
	size_t i;

	fputc('[', f);
	for (i = 0; i < n; i++) {
		fprintf(f, "%s{\"function\": ", i ? ", " : "");
		json_str(f, m[i].function);
		fputs(", \"share_baseline\": ", f);
		json_num(f, m[i].share[0]);
		fputs(", \"share_candidate\": ", f);
		json_num(f, m[i].share[1]);
		fputs(", \"delta\": ", f);
		json_num(f, m[i].delta);
		fputs(", \"p\": ", f);
		json_num(f, m[i].p);
		fputc('}', f);
	}
	fputc(']', f);
}

/* Markdown table cells must not contain '|'. */
static void md_text(FILE *f, const char *s)
{
	for (; *s; s++)
		fputs(*s == '|' ? "\\|" : (char[2]){ *s, 0 }, f);
}

void cmp_md_header(FILE *f, const struct cmp *c)
{
	static const char *const side_name[2] = { "baseline", "candidate" };
	size_t s, i;

	fputs("| side | run | stable windows | target |\n|---|---|---:|---|\n", f);
	for (s = 0; s < 2; s++) {
		for (i = 0; i < c->nruns[s]; i++) {
			const struct cmp_run *r = &c->runs[s][i];
			const char *base = strrchr(r->path, '/');

			fprintf(f, "| %s | `", side_name[s]);
			md_text(f, base ? base + 1 : r->path);
			fprintf(f, "`%s | %zu | `", r->damaged ? " (damaged)" : "", r->stable);
			md_text(f, r->cmdline ? r->cmdline : "");
			fputs("` |\n", f);
		}
	}
	fprintf(f, "\nCompared %s.\n", cmp_mode_phrase(c));
}
