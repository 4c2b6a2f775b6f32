// SPDX-License-Identifier: MIT
/*
 * 'loupe gate BASE... -- CAND...': the CI performance gate.  Exit 0 pass,
 * 1 regression, 2 usage or input error, 3 inconclusive (too little data,
 * and how much more is needed).  A metric fails only when its growth is
 * significant (one-sided Mann-Whitney over windows, weighted-Holm-adjusted
 * over all gated metrics), at least the policy's relative limit and at least its
 * absolute floor.  Text, --json, --junit FILE, --markdown FILE.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analyzer/compare_out.h"
#include "analyzer/json.h"
#include "commands.h"
#include "log.h"

const char gate_help[] =
	"usage: loupe gate [--policy FILE] [--junit FILE] [--markdown FILE]\n"
	"                  [--json] BASE... -- CAND...\n"
	"\n"
	"Fails the build only on a real regression of the candidate's runs\n"
	"(trace files after '--') against the baseline's.  Per model and stage\n"
	"it gates p50, p99 and 'item' (the lower quartile of the stage's time\n"
	"per batch item: its uncontended cost), and CPU time per\n"
	"request and resident memory of the process, each with its policy\n"
	"limit; and leaks new in the candidate.  A metric fails only when all\n"
	"three hold: its growth is significant (one-sided Mann-Whitney over\n"
	"windows, variance inflated for serial correlation and between-run\n"
	"noise, Holm-adjusted over every gated metric, weighted towards the\n"
	"precise ones), at least the relative limit, and at least the absolute\n"
	"floor.  Each failure names the model, stage and the functions whose\n"
	"share of its CPU moved, with p-values and effect sizes.\n"
	"\n"
	"  --policy FILE    limits and settings (docs/ci.md); default: p50 and\n"
	"                   p99 +5%, item +2%, CPU per request +3%, RSS +10%,\n"
	"                   any new leak, alpha 0.01, 10 windows a side\n"
	"  --junit FILE     JUnit XML: one test case per gated metric\n"
	"  --markdown FILE  the verdict as a pull-request comment\n"
	"  --json           machine-readable verdict on stdout (docs/ci.md)\n"
	"  --print-policy   print the effective policy and exit\n"
	"  -h, --help       this help\n"
	"\n"
	"Record both sides side by side (at the same time on one machine) when\n"
	"you can: what the machine does meanwhile then cancels.  Exit status:\n"
	"0 pass, 1 regression, 2 usage or input error (missing file, not a\n"
	"trace, different programs, no model in common), 3 inconclusive.\n";

enum status { ST_NOT_GATED, ST_PASS, ST_FAIL, ST_INCONCLUSIVE, ST_SKIPPED };

static const char *const status_name[] = {
	[ST_NOT_GATED] = "not_gated", [ST_PASS] = "pass", [ST_FAIL] = "fail",
	[ST_INCONCLUSIVE] = "unresolved", [ST_SKIPPED] = "skipped",
};

#define MAX_MOVES 3
#define MOVE_P 0.05
#define MAX_NEW 32

struct row {
	struct cmp_result *r;
	struct limit lim;
	enum status st;
	double p_adj;
	char reason[200];
	struct cmp_move moves[MAX_MOVES];
	int nmoves;
	double more;		/* inconclusive: times the windows needed */
};

struct gate {
	struct cmp c;
	struct policy pol;
	const char *policy_path;
	struct cmp_result *res;
	struct row *rows;
	size_t nrows, ngated, nfail, ninc, nskip, npass;
	const struct finding *leaks[MAX_NEW], *newf[MAX_NEW];
	size_t nleaks, nnewf;
	bool unjudged;
	bool few_windows;
	bool few_runs;		/* apart, and too few runs to measure noise */
	size_t want_windows, have_windows[2];
	int verdict;		/* exit status */
};

static double z_of(double p)
{
	/* inverse of the normal upper tail by bisection: plenty for a hint */
	double lo = -10, hi = 40;
	int i;

	if (!(p > 0))
		return 40;
	if (p >= 1)
		return -10;
	for (i = 0; i < 100; i++) {
		double mid = (lo + hi) / 2;

		if (stats_norm_sf(mid) > p)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

static bool is_leak(enum finding_kind k)
{
	return k == FK_MEMORY_LEAK || k == FK_RSS_GROWTH;
}

static void judge(struct gate *g)
{
	const struct policy *pol = &g->pol;
	double *p, *wt, *adj, wsum = 0;
	size_t i;
	const struct finding *nf[MAX_NEW];
	size_t nnf;

	g->have_windows[0] = cmp_side_windows(&g->c, CMP_A);
	g->have_windows[1] = cmp_side_windows(&g->c, CMP_B);
	g->few_windows = g->have_windows[0] < pol->min_windows ||
			 g->have_windows[1] < pol->min_windows;
	g->want_windows = pol->min_windows;
	g->few_runs = !g->c.paired && (g->c.nruns[CMP_A] < pol->min_runs_apart ||
				       g->c.nruns[CMP_B] < pol->min_runs_apart);

	p = calloc(g->nrows ? g->nrows : 1, sizeof(*p));
	wt = calloc(g->nrows ? g->nrows : 1, sizeof(*wt));
	adj = calloc(g->nrows ? g->nrows : 1, sizeof(*adj));
	for (i = 0; i < g->nrows; i++) {
		struct row *w = &g->rows[i];
		const struct cmp_entry *e = w->r->e;

		if (p)
			p[i] = NAN;
		w->lim = policy_limit(pol, e->model, e->stage, e->metric);
		if (!w->lim.on) {
			w->st = ST_NOT_GATED;
			continue;
		}
		g->ngated++;
		if (!w->r->tested) {
			w->st = ST_SKIPPED;
			snprintf(w->reason, sizeof(w->reason),
				 "too few units (%zu and %zu; one needs %zu requests)",
				 w->r->units[0], w->r->units[1],
				 pol->min_requests[e->metric]);
			continue;
		}
		w->st = ST_PASS;
		if (p && wt) {
			p[i] = w->r->st.mw.p_greater;
			wt[i] = w->lim.weight;
		}
		wsum += w->lim.weight;
	}
	if (p && wt && adj && !stats_holm_weighted(p, wt, g->nrows, adj)) {
		for (i = 0; i < g->nrows; i++)
			g->rows[i].p_adj = adj[i];
	} else {
		/* out of memory: nothing is significant */
		for (i = 0; i < g->nrows; i++)
			g->rows[i].p_adj = 1;
	}
	free(p);
	free(wt);
	free(adj);

	for (i = 0; i < g->nrows; i++) {
		struct row *w = &g->rows[i];
		const struct stats_cmp *s = &w->r->st;
		bool big, sig;

		if (w->st == ST_NOT_GATED || w->st == ST_SKIPPED)
			continue;
		big = s->shift > 0 && s->rel >= w->lim.rel && s->shift >= w->lim.floor;
		sig = w->p_adj < pol->alpha;
		if (big && sig) {
			w->st = ST_FAIL;
		} else if (big && s->mw.p_greater < pol->alpha) {
			/* significant alone, not among all gated metrics: more
			 * data would decide; reported, but not a verdict */
			/* beyond the limit, not significant: more data decides */
			double zn = z_of(pol->alpha * w->lim.weight / wsum),
			       zo = z_of(s->mw.p_greater);

			w->st = ST_INCONCLUSIVE;
			w->more = zo > 0.1 ? (zn / zo) * (zn / zo) : 100;
			if (w->more < 1.5)
				w->more = 1.5;
			snprintf(w->reason, sizeof(w->reason),
				 "above the limit, significant alone but not among all gated metrics (adjusted p %.3g >= %g): about %.1fx the windows would decide",
				 w->p_adj, pol->alpha, w->more);
		} else {
			w->st = ST_PASS;
		}
		if (w->st == ST_FAIL && w->r->e->model) {
			int n = cmp_moves(&g->c, w->r->e->model, w->r->e->stage, MOVE_P,
					  w->moves, MAX_MOVES);

			w->nmoves = n > 0 ? n : 0;
		}
	}
	for (i = 0; i < g->nrows; i++) {
		switch (g->rows[i].st) {
		case ST_FAIL: g->nfail++; break;
		case ST_INCONCLUSIVE: g->ninc++; break;
		case ST_SKIPPED: g->nskip++; break;
		case ST_PASS: g->npass++; break;
		default: break;
		}
	}

	nnf = cmp_new_findings(&g->c, nf, MAX_NEW, &g->unjudged);
	for (i = 0; i < nnf; i++) {
		bool leak = is_leak(nf[i]->kind);
		bool by_sev = (pol->findings == PF_WARNING && nf[i]->severity >= SEV_WARNING) ||
			      (pol->findings == PF_CRITICAL && nf[i]->severity >= SEV_CRITICAL);

		if (leak && pol->leak)
			g->leaks[g->nleaks++] = nf[i];
		else if (by_sev)
			g->newf[g->nnewf++] = nf[i];
	}

	/* Inconclusive means too little data: too few windows, or nothing
	 * gated could be compared.  Unresolved metrics (significant alone,
	 * not after the correction) and skipped ones are reported with the
	 * data they would need, but do not turn a pass into a 3. */
	if (g->few_runs || g->few_windows)
		g->verdict = 3;
	else if (g->nfail || g->nleaks || g->nnewf)
		g->verdict = 1;
	else if (!g->npass && !g->ninc)
		g->verdict = 3;
	else
		g->verdict = 0;
}

static const char *verdict_word(int v)
{
	return v == 0 ? "pass" : v == 1 ? "fail" : "inconclusive";
}

/* The one-line cause of an inconclusive verdict. */
static void inconclusive_line(const struct gate *g, char *buf, size_t len)
{
	if (g->few_runs) {
		snprintf(buf, len,
			 "between-run noise not measured: the sides were recorded apart "
			 "with %zu and %zu run(s); record both side by side (at the same "
			 "time), or %zu runs a side%s",
			 g->c.nruns[CMP_A], g->c.nruns[CMP_B], g->pol.min_runs_apart,
			 g->nfail ? " (the metrics below moved, unconfirmed)" : "");
		return;
	}
	if (g->few_windows) {
		int side = g->have_windows[0] <= g->have_windows[1] ? 0 : 1;
		size_t have = g->have_windows[side], nr = g->c.nruns[side], r;
		double secs = 0, per_window = 1;

		for (r = 0; r < nr; r++)
			secs += g->c.runs[side][r].stable_s;
		if (have)
			per_window = secs / have;
		snprintf(buf, len,
			 "too little data: %zu stable windows on the %s side, need %zu: "
			 "record about %.0f s more per run (after %.0f s of warm-up)%s",
			 have, side ? "candidate" : "baseline", g->want_windows,
			 ceil((double)(g->want_windows - have) / (nr ? nr : 1)) * per_window + 1,
			 g->pol.warmup_s,
			 g->nfail ? "; the metrics below moved, unconfirmed" : "");
		return;
	}
	snprintf(buf, len,
		 "no gated metric could be compared: a window (unit) needs %zu requests "
		 "of a model (%zu for p99); record longer or at a higher rate",
		 g->pol.min_requests[CM_P50], g->pol.min_requests[CM_P99]);
}

/* Whether failure A names where to look better than B (NULL: none). */
static bool clearer(const struct row *a, const struct row *b)
{
	bool a_stage = a->r->e->model, b_stage;

	if (!b)
		return true;
	b_stage = b->r->e->model;
	if (a_stage != b_stage)
		return a_stage;
	if (a->p_adj != b->p_adj)
		return a->p_adj < b->p_adj;
	return a->r->st.rel > b->r->st.rel;
}

static void summary_line(const struct gate *g, char *buf, size_t len)
{
	if (g->verdict == 1) {
		size_t n = g->nfail + g->nleaks + g->nnewf, i;
		const struct row *worst = NULL;
		char where[64] = "", ch[16] = "";

		/*
		 * The clearest regression of a stage (least adjusted p) names
		 * where to look first, not the largest: a slower stage can
		 * stretch a noisy neighbour more than itself (the CPU it
		 * shares is busier), with far weaker evidence.  A process-wide
		 * metric only when no stage failed: it says less about where.
		 */
		for (i = 0; i < g->nrows; i++)
			if (g->rows[i].st == ST_FAIL && clearer(&g->rows[i], worst))
				worst = &g->rows[i];
		if (worst) {
			cmp_fmt_where(where, sizeof(where), worst->r->e);
			cmp_fmt_rel(ch, sizeof(ch), worst->r->st.rel);
		}
		snprintf(buf, len, "%zu regression%s (%zu of %zu gated metrics%s%s)%s%s%s%s%s%s",
			 n, n == 1 ? "" : "s", g->nfail, g->ngated,
			 g->nleaks ? ", a new leak" : "",
			 g->nnewf ? ", new findings" : "", worst ? "; clearest: " : "",
			 where, worst ? " " : "",
			 worst ? cmp_metric_name(worst->r->e->metric) : "",
			 worst ? " " : "", ch);
	} else if (g->verdict == 3) {
		inconclusive_line(g, buf, len);
	} else {
		snprintf(buf, len, "no regression in %zu gated metrics%s%s",
			 g->npass + g->ninc, g->nskip ? " (some skipped)" : "",
			 g->ninc ? "; some unresolved, see below" : "");
	}
}

static void limit_text(char *buf, size_t len, const struct row *w)
{
	char fl[24];

	cmp_fmt_delta(fl, sizeof(fl), w->r->e->metric, w->lim.floor);
	if (w->lim.rel > 0 && w->lim.floor > 0)
		snprintf(buf, len, "+%g%% and %s", 100 * w->lim.rel, fl);
	else if (w->lim.rel > 0)
		snprintf(buf, len, "+%g%%", 100 * w->lim.rel);
	else
		snprintf(buf, len, "%s", fl);
}

/* TEXT in lines of at most 80 columns, each starting with INDENT. */
static void wrap_text(FILE *f, const char *indent, const char *text)
{
	size_t width = 80 - strlen(indent);
	const char *p = text;

	while (strlen(p) > width) {
		size_t cut = width;

		while (cut > 0 && p[cut] != ' ')
			cut--;
		if (!cut)
			cut = width;
		fprintf(f, "%s%.*s\n", indent, (int)cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
	fprintf(f, "%s%s\n", indent, p);
}

/* The evidence of a failing or unresolved row, in lines of <= 80 columns
 * after INDENT. */
static void evidence(FILE *f, const struct row *w, double level,
		     const char *indent)
{
	const struct stats_cmp *s = &w->r->st;
	char a[24], b[24], d[24], lo[16], hi[16], lim[48], p1[16], p2[16];
	char line[320];
	int k;

	cmp_fmt_value(a, sizeof(a), w->r->e->metric, w->r->median[0]);
	cmp_fmt_value(b, sizeof(b), w->r->e->metric, w->r->median[1]);
	cmp_fmt_delta(d, sizeof(d), w->r->e->metric, s->shift);
	limit_text(lim, sizeof(lim), w);
	snprintf(line, sizeof(line), "%s -> %s: %s (%s), %.0f%% CI %s .. %s; limit %s",
		 a, b, cmp_fmt_rel(p1, sizeof(p1), s->rel), d, 100 * level,
		 cmp_fmt_rel(lo, sizeof(lo), s->ci.lo),
		 cmp_fmt_rel(hi, sizeof(hi), s->ci.hi), lim);
	wrap_text(f, indent, line);
	snprintf(line, sizeof(line), "%s one-sided, %s adjusted; Cliff's delta %+.2f; %zu %s",
		 cmp_fmt_p(p1, sizeof(p1), s->mw.p_greater),
		 cmp_fmt_p(p2, sizeof(p2), w->p_adj), 2 * s->mw.prob_greater - 1,
		 w->r->pairs ? w->r->pairs : w->r->units[0] + w->r->units[1],
		 w->r->pairs ? "pairs of windows" : "windows");
	wrap_text(f, indent, line);
	for (k = 0; k < w->nmoves; k++) {
		char p[16];

		snprintf(line, sizeof(line), "%s%.40s %.1f%% -> %.1f%% of the stage's CPU, %s",
			 k ? "        " : "moved:  ", w->moves[k].function,
			 100 * w->moves[k].share[0], 100 * w->moves[k].share[1],
			 cmp_fmt_p(p, sizeof(p), w->moves[k].p));
		wrap_text(f, indent, line);
	}
	if (w->st == ST_INCONCLUSIVE)
		wrap_text(f, indent, w->reason);
}

/* Whether a run recorded the exact on-CPU time of its stages. */
static bool have_metric(const struct gate *g, enum cmp_metric m)
{
	size_t i;

	for (i = 0; i < g->nrows; i++)
		if (g->rows[i].r->e->metric == m && g->rows[i].r->tested)
			return true;
	return false;
}

/*
 * For a process-wide CPU failure: the stages whose CPU time per item grew
 * most -- exact ("oncpu", from every context switch) when the runs have
 * it, else sampled ("cpu", per request).
 */
static void where_cpu_went(FILE *f, const struct gate *g, const char *indent)
{
	const struct row *best[3] = { NULL, NULL, NULL };
	enum cmp_metric m = have_metric(g, CM_ONCPU) ? CM_ONCPU : CM_CPU;
	size_t i, k;

	for (i = 0; i < g->nrows; i++) {
		const struct row *w = &g->rows[i];

		if (w->r->e->metric != m || !w->r->tested || w->r->st.shift <= 0 ||
		    w->r->st.mw.p_greater > MOVE_P ||
		    !strcmp(w->r->e->stage, "request"))
			continue;
		for (k = 0; k < 3; k++) {
			if (!best[k] || w->r->st.shift > best[k]->r->st.shift) {
				memmove(&best[k + 1], &best[k], (2 - k) * sizeof(best[0]));
				best[k] = w;
				break;
			}
		}
	}
	for (k = 0; k < 3 && best[k]; k++) {
		char where[64], d[24], p[16];

		cmp_fmt_where(where, sizeof(where), best[k]->r->e);
		fprintf(f, "%s%s %s %s %s on CPU, %s\n", indent,
			k ? "          " : "grew in: ", where,
			cmp_fmt_delta(d, sizeof(d), m, best[k]->r->st.shift),
			m == CM_ONCPU ? "per item" : "per request",
			cmp_fmt_p(p, sizeof(p), best[k]->r->st.mw.p_greater));
	}
}

static void print_text(struct gate *g)
{
	char line[1024];
	size_t i;
	int m;

	summary_line(g, line, sizeof(line));
	printf("loupe gate: %s\n", g->verdict == 1 ? "FAIL" :
				   g->verdict == 0 ? "PASS" : "INCONCLUSIVE");
	wrap_text(stdout, "  ", line);
	cmp_print_header(stdout, &g->c, "  ");
	snprintf(line, sizeof(line), "alpha %g over %zu gated metrics (w. Holm), ",
		 g->pol.alpha, g->ngated);
	{
		const char *pp = g->policy_path ? g->policy_path : "defaults";
		int room = 80 - 10 - (int)strlen(line), len = (int)strlen(pp);

		if (len <= room)
			printf("policy    %s%s\n", line, pp);
		else
			printf("policy    %s...%s\n", line, pp + len - (room - 3));
	}
	for (i = 0; i < g->nrows; i++) {
		const struct row *w = &g->rows[i];
		char where[64];

		if (w->st != ST_FAIL && w->st != ST_INCONCLUSIVE)
			continue;
		cmp_fmt_where(where, sizeof(where), w->r->e);
		printf("\n%s  %s %s\n", w->st == ST_FAIL ? "FAIL" : "UNRESOLVED", where,
		       cmp_metric_name(w->r->e->metric));
		evidence(stdout, w, g->pol.confidence, "  ");
		if (w->st == ST_FAIL && w->r->e->metric == CM_CPU_PER_REQUEST)
			where_cpu_went(stdout, g, "  ");
	}
	for (i = 0; i < g->nleaks; i++)
		printf("\nFAIL  new leak: %s %.40s%s%.40s\n  %.76s\n",
		       finding_kind_name(g->leaks[i]->kind), g->leaks[i]->model,
		       g->leaks[i]->stage[0] ? "/" : "", g->leaks[i]->stage,
		       g->leaks[i]->title);
	for (i = 0; i < g->nnewf; i++)
		printf("\nFAIL  new finding: %s %s %.40s\n  %.76s\n",
		       severity_name(g->newf[i]->severity),
		       finding_kind_name(g->newf[i]->kind), g->newf[i]->model,
		       g->newf[i]->title);
	if (g->pol.leak && g->unjudged)
		printf("\nnote: leaks not judged for every run (no analyzer rules)\n");
	printf("\n%zu passed, %zu failed, %zu unresolved, %zu skipped of %zu gated metrics\n",
	       g->npass, g->nfail, g->ninc, g->nskip, g->ngated);
	/* skipped metrics, one line per metric */
	for (m = 0; m < CM_N; m++) {
		size_t n = 0, len = 0;

		line[0] = '\0';
		for (i = 0; i < g->nrows; i++) {
			const struct row *w = &g->rows[i];
			char where[64];

			if (w->st != ST_SKIPPED || w->r->e->metric != (enum cmp_metric)m)
				continue;
			cmp_fmt_where(where, sizeof(where), w->r->e);
			if (len < sizeof(line) - 80)
				len += snprintf(line + len, sizeof(line) - len, "%s%s",
						n ? ", " : "", where);
			n++;
		}
		if (!n)
			continue;
		printf("skipped %s (too few units, one needs %zu requests) in:\n",
		       cmp_metric_name((enum cmp_metric)m), g->pol.min_requests[m]);
		wrap_text(stdout, "  ", line);
	}
	printf("verdict: %s (exit %d)\n", verdict_word(g->verdict), g->verdict);
}

static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static void print_json(struct gate *g, FILE *f)
{
	char line[300];
	size_t i;

	summary_line(g, line, sizeof(line));
	fprintf(f, "{\"verdict\": \"%s\", \"exit_code\": %d, \"summary\": ",
		verdict_word(g->verdict), g->verdict);
	json_str(f, line);
	fprintf(f, ",\n\"counts\": {\"gated\": %zu, \"pass\": %zu, \"fail\": %zu, "
		   "\"unresolved\": %zu, \"skipped\": %zu},\n",
		g->ngated, g->npass, g->nfail, g->ninc, g->nskip);
	fprintf(f, "\"windows\": {\"baseline\": %zu, \"candidate\": %zu, \"needed\": %zu},\n",
		g->have_windows[0], g->have_windows[1], g->want_windows);
	fputs("\"policy\": {\"file\": ", f);
	json_str(f, g->policy_path);
	fprintf(f, ", \"alpha\": %g, \"confidence\": %g, \"min_windows\": %zu, "
		   "\"warmup_s\": %g, \"leak\": %s},\n",
		g->pol.alpha, g->pol.confidence, g->pol.min_windows, g->pol.warmup_s,
		g->pol.leak ? "true" : "false");
	cmp_json_header(f, &g->c);
	fputs("\"metrics\": [", f);
	for (i = 0; i < g->nrows; i++) {
		const struct row *w = &g->rows[i];

		fputs(i ? ",\n  {" : "\n  {", f);
		cmp_json_result(f, w->r);
		fprintf(f, ", \"status\": \"%s\"", status_name[w->st]);
		if (w->st != ST_NOT_GATED) {
			fputs(", \"limit\": {\"rel\": ", f);
			json_num(f, w->lim.rel);
			fputs(", \"floor\": ", f);
			json_num(f, w->lim.floor);
			fputs(", \"weight\": ", f);
			json_num(f, w->lim.weight);
			fputs("}, \"p_adjusted\": ", f);
			json_num(f, w->r->tested ? w->p_adj : NAN);
		}
		if (w->reason[0]) {
			fputs(", \"reason\": ", f);
			json_str(f, w->reason);
		}
		if (w->nmoves) {
			fputs(", \"functions\": ", f);
			cmp_json_moves(f, w->moves, (size_t)w->nmoves);
		}
		fputc('}', f);
	}
	fprintf(f, "],\n\"findings_judged\": %s,\n\"new_leaks\": [",
		g->unjudged ? "false" : "true");
	for (i = 0; i < g->nleaks; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		cmp_json_finding(f, g->leaks[i]);
	}
	fputs("],\n\"new_findings\": [", f);
	for (i = 0; i < g->nnewf; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		cmp_json_finding(f, g->newf[i]);
	}
	fputs("]}\n", f);
}

/* XML text: escapes the five special characters, drops other controls. */
static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '&')
			fputs("&amp;", f);
		else if (ch == '<')
			fputs("&lt;", f);
		else if (ch == '>')
			fputs("&gt;", f);
		else if (ch == '"')
			fputs("&quot;", f);
		else if (ch == '\'')
			fputs("&apos;", f);
		else if (ch >= 0x20 || ch == '\n' || ch == '\t')
			fputc(ch, f);
	}
}

static void classname(char *buf, size_t len, const struct cmp_entry *e)
{
	char *p;

	if (e->model)
		snprintf(buf, len, "loupe.gate.%s.%s", e->model, e->stage);
	else
		snprintf(buf, len, "loupe.gate.process");
	for (p = buf; *p; p++)
		if (*p == ' ')
			*p = '_';
}

static int write_junit(struct gate *g, const char *path)
{
	FILE *f = fopen(path, "w");
	char ts[32], host[256] = "localhost", line[300];
	size_t i, tests = 0, failures = 0, skipped = 0;
	time_t now = time(NULL);
	struct tm tm;

	if (!f) {
		pr_err("gate: open %s: %s", path, strerror(errno));
		return -errno;
	}
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	gethostname(host, sizeof(host) - 1);
	for (i = 0; i < g->nrows; i++) {
		if (g->rows[i].st == ST_NOT_GATED)
			continue;
		tests++;
		failures += g->rows[i].st == ST_FAIL;
		skipped += g->rows[i].st == ST_SKIPPED || g->rows[i].st == ST_INCONCLUSIVE;
	}
	tests += g->nleaks + g->nnewf + 1;	/* + the leak check */
	failures += g->nleaks + g->nnewf;
	skipped += g->few_windows;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<testsuites name=\"loupe gate\" tests=\"%zu\" failures=\"%zu\" "
		   "errors=\"0\" skipped=\"%zu\" time=\"0\">\n",
		tests, failures, skipped);
	fprintf(f, "  <testsuite name=\"loupe gate\" id=\"0\" package=\"loupe.gate\" "
		   "tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" "
		   "time=\"0\" timestamp=\"%s\" hostname=\"",
		tests, failures, skipped, ts);
	xml_text(f, host);
	fprintf(f, "\">\n    <properties>\n      <property name=\"verdict\" value=\"%s\"/>\n"
		   "      <property name=\"comparison\" value=\"%s\"/>\n"
		   "      <property name=\"alpha\" value=\"%g\"/>\n    </properties>\n",
		verdict_word(g->verdict), g->c.paired ? "side_by_side" : "apart",
		g->pol.alpha);
	for (i = 0; i < g->nrows; i++) {
		const struct row *w = &g->rows[i];
		char cls[160], name[160], where[100], ch[16], lim[48];

		if (w->st == ST_NOT_GATED)
			continue;
		classname(cls, sizeof(cls), w->r->e);
		cmp_fmt_where(where, sizeof(where), w->r->e);
		snprintf(name, sizeof(name), "%s/%s", where, cmp_metric_name(w->r->e->metric));
		fputs("    <testcase name=\"", f);
		xml_text(f, name);
		fputs("\" classname=\"", f);
		xml_text(f, cls);
		fputs("\" time=\"0\"", f);
		if (w->st == ST_PASS) {
			fputs("/>\n", f);
			continue;
		}
		fputs(">\n", f);
		if (w->st == ST_SKIPPED) {
			fputs("      <skipped message=\"", f);
			xml_text(f, w->reason);
			fputs("\"/>\n", f);
		} else {
			char *buf = NULL;
			size_t blen = 0;
			FILE *mf = open_memstream(&buf, &blen);

			limit_text(lim, sizeof(lim), w);
			snprintf(line, sizeof(line), "%s %s %s (limit %s), adjusted p %.3g",
				 name, w->st == ST_FAIL ? "grew" : "may have grown",
				 cmp_fmt_rel(ch, sizeof(ch), w->r->st.rel), lim, w->p_adj);
			fprintf(f, "      <%s message=\"", w->st == ST_FAIL ? "failure" : "skipped");
			xml_text(f, line);
			if (w->st == ST_FAIL) {
				fputs("\" type=\"regression\">", f);
				if (mf) {
					evidence(mf, w, g->pol.confidence, "");
					fclose(mf);
					xml_text(f, buf);
				}
				fputs("</failure>\n", f);
			} else {
				if (mf)
					fclose(mf);
				fputs("\"/>\n", f);
			}
			free(buf);
		}
		fputs("    </testcase>\n", f);
	}
	fputs("    <testcase name=\"leaks\" classname=\"loupe.gate.process\" time=\"0\">\n", f);
	for (i = 0; i < g->nleaks; i++) {
		fputs("      <failure message=\"", f);
		xml_text(f, g->leaks[i]->title);
		fputs("\" type=\"leak\">", f);
		xml_text(f, g->leaks[i]->evidence);
		fputs("</failure>\n", f);
	}
	if (!g->pol.leak)
		fputs("      <skipped message=\"leak = off in the policy\"/>\n", f);
	fputs("    </testcase>\n", f);
	for (i = 0; i < g->nnewf; i++) {
		fputs("    <testcase name=\"", f);
		xml_text(f, finding_kind_name(g->newf[i]->kind));
		fputs("\" classname=\"loupe.gate.findings\" time=\"0\">\n      <failure message=\"", f);
		xml_text(f, g->newf[i]->title);
		fputs("\" type=\"finding\">", f);
		xml_text(f, g->newf[i]->evidence);
		fputs("</failure>\n    </testcase>\n", f);
	}
	if (g->few_windows) {
		inconclusive_line(g, line, sizeof(line));
		fputs("    <testcase name=\"enough data\" classname=\"loupe.gate\" time=\"0\">\n"
		      "      <skipped message=\"", f);
		xml_text(f, line);
		fputs("\"/>\n    </testcase>\n", f);
	}
	summary_line(g, line, sizeof(line));
	fputs("    <system-out>loupe gate: ", f);
	xml_text(f, verdict_word(g->verdict));
	fputs(": ", f);
	xml_text(f, line);
	fputs("</system-out>\n    <system-err></system-err>\n  </testsuite>\n</testsuites>\n", f);
	if (fflush(f) || ferror(f)) {
		pr_err("gate: write %s: %s", path, strerror(errno ? errno : EIO));
		fclose(f);
		return -EIO;
	}
	if (fclose(f)) {
		pr_err("gate: write %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static void md_row(FILE *f, const struct row *w)
{
	char where[100], a[24], b[24], ch[16], lo[16], hi[16], lim[48];
	static const char *const icon[] = {
		[ST_PASS] = ":white_check_mark:", [ST_FAIL] = ":x:",
		[ST_INCONCLUSIVE] = ":grey_question:", [ST_SKIPPED] = ":fast_forward:",
		[ST_NOT_GATED] = "",
	};

	cmp_fmt_where(where, sizeof(where), w->r->e);
	cmp_fmt_value(a, sizeof(a), w->r->e->metric, w->r->median[0]);
	cmp_fmt_value(b, sizeof(b), w->r->e->metric, w->r->median[1]);
	limit_text(lim, sizeof(lim), w);
	if (!w->r->tested) {
		fprintf(f, "| %s | `%s` | %s | %s | %s | | | %s | |\n", icon[w->st], where,
			cmp_metric_name(w->r->e->metric), a, b, lim);
		return;
	}
	fprintf(f, "| %s | `%s` | %s | %s | %s | %s | %s .. %s | %s | %.2g |\n",
		icon[w->st], where, cmp_metric_name(w->r->e->metric), a, b,
		cmp_fmt_rel(ch, sizeof(ch), w->r->st.rel),
		cmp_fmt_rel(lo, sizeof(lo), w->r->st.ci.lo),
		cmp_fmt_rel(hi, sizeof(hi), w->r->st.ci.hi), lim, w->p_adj);
}

static int write_markdown(struct gate *g, const char *path)
{
	static const char *const head =
		"| | where | metric | baseline | candidate | change | 95% CI | limit | p (adj.) |\n"
		"|---|---|---|---:|---:|---:|---|---|---:|\n";
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	char line[300];
	size_t i, k;
	int m;

	if (!f) {
		pr_err("gate: open %s: %s", path, strerror(errno));
		return -errno;
	}
	summary_line(g, line, sizeof(line));
	fprintf(f, "## %s loupe gate: %s\n\n%s.\n\n",
		g->verdict == 1 ? ":x:" : g->verdict == 0 ? ":white_check_mark:" :
							 ":grey_question:",
		g->verdict == 1 ? "performance regression" :
		g->verdict == 0 ? "no regression" : "inconclusive",
		line);
	if (g->nfail || g->ninc) {
		fputs(head, f);
		for (i = 0; i < g->nrows; i++)
			if (g->rows[i].st == ST_FAIL || g->rows[i].st == ST_INCONCLUSIVE)
				md_row(f, &g->rows[i]);
		fputc('\n', f);
	}
	for (i = 0, k = 0; i < g->nrows; i++) {
		const struct row *w = &g->rows[i];

		for (m = 0; m < w->nmoves; m++) {
			if (!k++)
				fputs("Functions whose share of the failing stage's CPU moved:\n\n"
				      "| stage | function | baseline | candidate | p |\n"
				      "|---|---|---:|---:|---:|\n", f);
			fprintf(f, "| `%s/%s` | `%s` | %.1f%% | %.1f%% | %.2g |\n",
				w->r->e->model, w->r->e->stage, w->moves[m].function,
				100 * w->moves[m].share[0], 100 * w->moves[m].share[1],
				w->moves[m].p);
		}
	}
	if (k)
		fputc('\n', f);
	for (i = 0; i < g->nleaks; i++)
		fprintf(f, "- :x: new leak: `%s` %s%s%s: %s\n",
			finding_kind_name(g->leaks[i]->kind), g->leaks[i]->model,
			g->leaks[i]->stage[0] ? "/" : "", g->leaks[i]->stage,
			g->leaks[i]->title);
	for (i = 0; i < g->nnewf; i++)
		fprintf(f, "- :x: new finding: **%s** `%s`: %s\n",
			severity_name(g->newf[i]->severity),
			finding_kind_name(g->newf[i]->kind), g->newf[i]->title);
	if (g->nleaks || g->nnewf)
		fputc('\n', f);
	fprintf(f, "<details><summary>All %zu gated metrics (%zu passed, %zu failed, "
		   "%zu unresolved, %zu skipped)</summary>\n\n",
		g->ngated, g->npass, g->nfail, g->ninc, g->nskip);
	fputs(head, f);
	for (i = 0; i < g->nrows; i++)
		if (g->rows[i].st != ST_NOT_GATED)
			md_row(f, &g->rows[i]);
	fputs("\n", f);
	cmp_md_header(f, &g->c);
	fprintf(f, "\nPolicy: %s; a metric fails when its growth is significant "
		   "(one-sided Mann-Whitney over windows, weighted Holm over all gated metrics, "
		   "alpha %g), at least its relative limit and at least its floor.\n"
		   "</details>\n",
		g->policy_path ? g->policy_path : "defaults", g->pol.alpha);
	if (f == stdout)
		return 0;
	if (fflush(f) || ferror(f)) {
		pr_err("gate: write %s: %s", path, strerror(errno ? errno : EIO));
		fclose(f);
		return -EIO;
	}
	if (fclose(f)) {
		pr_err("gate: write %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

int cmd_gate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "junit", required_argument, NULL, 'J' },
		{ "markdown", required_argument, NULL, 'M' },
		{ "json", no_argument, NULL, 'j' },
		{ "print-policy", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *junit = NULL, *markdown = NULL;
	bool json = false, print_policy = false;
	struct gate g;
	char **base, **cand, err[512];
	size_t nbase, ncand, i;
	int opt, rc, n;

	memset(&g, 0, sizeof(g));
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			g.policy_path = optarg;
			break;
		case 'J':
			junit = optarg;
			break;
		case 'M':
			markdown = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'P':
			print_policy = true;
			break;
		case 'h':
			fputs(gate_help, stdout);
			return 0;
		default:
			if (optopt)
				pr_err("gate: option '%s' needs a value (see 'loupe help gate')",
				       argv[optind - 1]);
			else
				pr_err("gate: unknown option '%s' (see 'loupe help gate')",
				       argv[optind - 1]);
			return 2;
		}
	}
	if (policy_init(&g.pol)) {
		pr_err("gate: %s", strerror(ENOMEM));
		return 2;
	}
	if (g.policy_path && policy_load(&g.pol, g.policy_path, err, sizeof(err))) {
		pr_err("gate: policy %s", err);
		policy_release(&g.pol);
		return 2;
	}
	if (print_policy) {
		policy_print(&g.pol, stdout);
		policy_release(&g.pol);
		return 0;
	}
	if (cmp_split_args(argc - optind, argv + optind, &base, &nbase, &cand,
			   &ncand, err, sizeof(err))) {
		pr_err("gate: %s", err);
		policy_release(&g.pol);
		return 2;
	}
	rc = cmp_open(&g.c, &g.pol, "gate", base, nbase, cand, ncand);
	if (rc) {
		cmp_release(&g.c);
		policy_release(&g.pol);
		return 2;
	}
	n = cmp_compare_all(&g.c, &g.res);
	g.rows = n >= 0 ? calloc(n ? (size_t)n : 1, sizeof(*g.rows)) : NULL;
	if (n < 0 || !g.rows) {
		pr_err("gate: %s", strerror(ENOMEM));
		rc = 2;
		goto cleanup;
	}
	g.nrows = (size_t)n;
	for (i = 0; i < g.nrows; i++)
		g.rows[i].r = &g.res[i];
	judge(&g);
	if (json)
		print_json(&g, stdout);
	else
		print_text(&g);
	rc = g.verdict;
	if (junit && write_junit(&g, junit))
		rc = 2;
	if (markdown && write_markdown(&g, markdown))
		rc = 2;
cleanup:
	free(g.rows);
	free(g.res);
	cmp_release(&g.c);
	policy_release(&g.pol);
	return rc;
}
