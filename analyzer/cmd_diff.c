// SPDX-License-Identifier: MIT
/*
 * 'loupe diff BASE... -- CAND...': what changed between two sets of runs,
 * per model x stage with confidence intervals, CPU per request, the
 * functions whose share of a stage's CPU moved, memory, and findings new
 * in the candidate.  Text (80 columns), --json or --markdown.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/compare_out.h"
#include "analyzer/json.h"
#include "commands.h"
#include "log.h"

const char diff_help[] =
	"usage: loupe diff [--json|--markdown] [--policy FILE] BASE... -- CAND...\n"
	"\n"
	"Compares the candidate's runs (trace files after '--') with the\n"
	"baseline's: for every model and stage the median p50, p90, p99, mean,\n"
	"time per batch item, exact on-CPU time per batch item ('oncpu': the\n"
	"stage's time less its off-CPU time) and sampled on-CPU time per\n"
	"request of its windows, with the change (Hodges-Lehmann shift), its\n"
	"confidence interval and a p-value; CPU time per request (task-clock /\n"
	"requests) and resident memory; per stage, the functions whose share\n"
	"of the CPU samples grew or shrank most; and the analyzer's findings\n"
	"that no baseline run has.\n"
	"\n"
	"Windows are the unit, not requests: requests of one run share its\n"
	"machine state.  The warm-up and the last (partial) window of each run\n"
	"are skipped.  Runs recorded side by side (overlapping in time on one\n"
	"host) are compared slot by slot, so the machine's noise cancels.\n"
	"\n"
	"  --json          machine-readable (keys in docs/ci.md)\n"
	"  --markdown      a report to paste into a pull request\n"
	"  --policy FILE   warm-up and confidence level from a gate policy\n"
	"  -h, --help      this help\n"
	"\n"
	"Exit status: 0 compared, 2 usage or unreadable input (a missing file,\n"
	"not a trace, different programs, no model in common).\n";

enum output { OUT_TEXT, OUT_JSON, OUT_MARKDOWN };

#define MAX_MOVES 3
#define MOVE_P 0.05
#define MAX_NEW 20

static bool shown_in_text(enum cmp_metric m)
{
	return m == CM_P50 || m == CM_P99 || m == CM_ITEM || m == CM_CPU ||
	       m == CM_ONCPU ||
	       CM_IS_PROCESS(m);
}

static void print_row(const struct cmp_result *r)
{
	char where[64], a[24], b[24], ch[16], lo[16], hi[16], p[16], ci[40];
	const struct cmp_entry *e = r->e;
	const char *mn = e->metric == CM_CPU_PER_REQUEST ? "cpu/req" :
			 e->metric == CM_RSS_GROWTH ? "rss/s" :
						      cmp_metric_name(e->metric);

	cmp_fmt_where(where, sizeof(where), e);
	cmp_fmt_value(a, sizeof(a), e->metric, r->median[0]);
	cmp_fmt_value(b, sizeof(b), e->metric, r->median[1]);
	if (!r->tested) {
		printf("%-21.21s %-7s %8s %8s  (too few windows to compare)\n",
		       where, mn, a, b);
		return;
	}
	snprintf(ci, sizeof(ci), "[%s,%s]", cmp_fmt_rel(lo, sizeof(lo), r->st.ci.lo),
		 cmp_fmt_rel(hi, sizeof(hi), r->st.ci.hi));
	printf("%-21.21s %-7s %8s %8s %7s %-15s %s\n", where, mn, a, b,
	       cmp_fmt_rel(ch, sizeof(ch), r->st.rel), ci,
	       cmp_fmt_p(p, sizeof(p), r->st.mw.p_two));
}

static int print_profile_text(const struct cmp *c)
{
	struct cmp_move mv[MAX_MOVES];
	size_t i, shown = 0;
	int n, k;

	for (i = 0; i < c->nprofiles; i++) {
		const struct cmp_profile *pr = &c->profiles[i];
		char where[64];

		n = cmp_moves(c, pr->model, pr->stage, MOVE_P, mv, MAX_MOVES);
		if (n < 0)
			return n;
		if (!n)
			continue;
		if (!shown++)
			printf("\nCPU PROFILE: functions whose share of the stage's "
			       "samples moved (p <= %.2f)\n", MOVE_P);
		snprintf(where, sizeof(where), "%s/%s", pr->model, pr->stage);
		for (k = 0; k < n; k++) {
			char p[16];

			printf("%-21.21s %-25.25s %5.1f%% -> %5.1f%% %+6.1f %s\n",
			       k ? "" : where, mv[k].function, 100 * mv[k].share[0],
			       100 * mv[k].share[1], 100 * mv[k].delta,
			       cmp_fmt_p(p, sizeof(p), mv[k].p));
		}
	}
	if (!shown)
		printf("\nCPU PROFILE: no function's share of a stage moved (p <= %.2f)\n",
		       MOVE_P);
	return 0;
}

static void print_findings_text(const struct cmp *c)
{
	const struct finding *nf[MAX_NEW];
	bool unjudged;
	size_t n = cmp_new_findings(c, nf, MAX_NEW, &unjudged), i;

	if (!n) {
		printf("\nNEW IN THE CANDIDATE: no finding that the baseline lacks%s\n",
		       unjudged ? " (some runs not analysed)" : "");
		return;
	}
	printf("\nNEW IN THE CANDIDATE: findings no baseline run has\n");
	for (i = 0; i < n; i++) {
		char where[100];

		if (nf[i]->model[0] && nf[i]->stage[0])
			snprintf(where, sizeof(where), "%s/%s", nf[i]->model, nf[i]->stage);
		else
			snprintf(where, sizeof(where), "%s",
				 nf[i]->model[0] ? nf[i]->model : "process");
		printf("%-8s %s  %.50s\n  %.76s\n", severity_name(nf[i]->severity),
		       finding_kind_name(nf[i]->kind), where, nf[i]->title);
	}
}

static int print_text(const struct cmp *c, const struct cmp_result *r, size_t n)
{
	size_t i;
	int rc;

	cmp_print_header(stdout, c, "loupe diff: ");
	printf("\nmedian over windows; change: Hodges-Lehmann shift, %.0f%% CI, "
	       "%s p\n", 100 * c->pol->confidence,
	       c->paired ? "signed-rank" : "Mann-Whitney");
	printf("%-21s %-7s %8s %8s %7s %-15s %s\n", "WHERE", "METRIC", "BASE", "CAND",
	       "CHANGE", "CI", "P");
	for (i = 0; i < n; i++)
		if (shown_in_text(r[i].e->metric))
			print_row(&r[i]);
	rc = print_profile_text(c);
	if (rc)
		return rc;
	print_findings_text(c);
	return 0;
}

static int print_json(const struct cmp *c, const struct cmp_result *r, size_t n)
{
	const struct finding *nf[MAX_NEW];
	struct cmp_move mv[MAX_MOVES * 2];
	bool unjudged;
	size_t i, k, shown = 0;
	int m;

	fputs("{", stdout);
	cmp_json_header(stdout, c);
	fputs("\"metrics\": [", stdout);
	for (i = 0; i < n; i++) {
		fputs(i ? ",\n  {" : "\n  {", stdout);
		cmp_json_result(stdout, &r[i]);
		fputc('}', stdout);
	}
	fputs("],\n\"profile\": [", stdout);
	for (i = 0; i < c->nprofiles; i++) {
		m = cmp_moves(c, c->profiles[i].model, c->profiles[i].stage, 1,
			      mv, MAX_MOVES * 2);
		if (m < 0)
			return m;
		if (!m)
			continue;
		fputs(shown++ ? ",\n  {\"model\": " : "\n  {\"model\": ", stdout);
		json_str(stdout, c->profiles[i].model);
		fputs(", \"stage\": ", stdout);
		json_str(stdout, c->profiles[i].stage);
		fputs(", \"functions\": ", stdout);
		cmp_json_moves(stdout, mv, (size_t)m);
		fputc('}', stdout);
	}
	k = cmp_new_findings(c, nf, MAX_NEW, &unjudged);
	fprintf(stdout, "],\n\"findings_judged\": %s,\n\"new_findings\": [",
		unjudged ? "false" : "true");
	for (i = 0; i < k; i++) {
		fputs(i ? ",\n  " : "\n  ", stdout);
		cmp_json_finding(stdout, nf[i]);
	}
	fputs("]}\n", stdout);
	return 0;
}

static int print_markdown(const struct cmp *c, const struct cmp_result *r,
			  size_t n)
{
	const struct finding *nf[MAX_NEW];
	struct cmp_move mv[MAX_MOVES];
	bool unjudged;
	size_t i, k;
	int m, j;

	printf("### loupe diff\n\n");
	cmp_md_header(stdout, c);
	printf("\n| where | metric | baseline | candidate | change | %.0f%% CI | p |\n"
	       "|---|---|---:|---:|---:|---|---:|\n", 100 * c->pol->confidence);
	for (i = 0; i < n; i++) {
		char where[64], a[24], b[24], ch[16], lo[16], hi[16], p[16];

		if (!shown_in_text(r[i].e->metric))
			continue;
		cmp_fmt_where(where, sizeof(where), r[i].e);
		cmp_fmt_value(a, sizeof(a), r[i].e->metric, r[i].median[0]);
		cmp_fmt_value(b, sizeof(b), r[i].e->metric, r[i].median[1]);
		if (!r[i].tested) {
			printf("| %s | %s | %s | %s | | too few windows | |\n", where,
			       cmp_metric_name(r[i].e->metric), a, b);
			continue;
		}
		printf("| %s | %s | %s | %s | %s | %s .. %s | %s |\n", where,
		       cmp_metric_name(r[i].e->metric), a, b,
		       cmp_fmt_rel(ch, sizeof(ch), r[i].st.rel),
		       cmp_fmt_rel(lo, sizeof(lo), r[i].st.ci.lo),
		       cmp_fmt_rel(hi, sizeof(hi), r[i].st.ci.hi),
		       cmp_fmt_p(p, sizeof(p), r[i].st.mw.p_two) + 2);
	}
	printf("\n#### CPU profile: functions whose share of a stage moved (p <= %.2f)\n\n",
	       MOVE_P);
	for (i = 0, k = 0; i < c->nprofiles; i++) {
		m = cmp_moves(c, c->profiles[i].model, c->profiles[i].stage, MOVE_P,
			      mv, MAX_MOVES);
		if (m < 0)
			return m;
		for (j = 0; j < m; j++) {
			if (!k++)
				printf("| stage | function | baseline | candidate | p |\n"
				       "|---|---|---:|---:|---:|\n");
			printf("| %s/%s | `%s` | %.1f%% | %.1f%% | %.2g |\n",
			       c->profiles[i].model, c->profiles[i].stage,
			       mv[j].function, 100 * mv[j].share[0],
			       100 * mv[j].share[1], mv[j].p);
		}
	}
	if (!k)
		printf("None.\n");
	k = cmp_new_findings(c, nf, MAX_NEW, &unjudged);
	printf("\n#### New in the candidate\n\n");
	if (!k)
		printf("No finding that the baseline lacks%s.\n",
		       unjudged ? " (some runs not analysed)" : "");
	for (i = 0; i < k; i++)
		printf("- **%s** `%s` %s%s%s: %s\n", severity_name(nf[i]->severity),
		       finding_kind_name(nf[i]->kind), nf[i]->model,
		       nf[i]->stage[0] ? "/" : "", nf[i]->stage, nf[i]->title);
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "markdown", no_argument, NULL, 'm' },
		{ "policy", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum output out = OUT_TEXT;
	const char *policy_path = NULL;
	struct policy pol;
	struct cmp c;
	struct cmp_result *res = NULL;
	char **base, **cand, err[512];
	size_t nbase, ncand;
	int opt, rc, n;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			out = OUT_JSON;
			break;
		case 'm':
			out = OUT_MARKDOWN;
			break;
		case 'p':
			policy_path = optarg;
			break;
		case 'h':
			fputs(diff_help, stdout);
			return 0;
		default:
			if (optopt == 'p')
				pr_err("diff: option '--policy' needs a value (see 'loupe help diff')");
			else
				pr_err("diff: unknown option '%s' (see 'loupe help diff')",
				       argv[optind - 1]);
			return 2;
		}
	}
	if (cmp_split_args(argc - optind, argv + optind, &base, &nbase, &cand,
			   &ncand, err, sizeof(err))) {
		pr_err("diff: %s", err);
		return 2;
	}
	if (policy_init(&pol)) {
		pr_err("diff: %s", strerror(ENOMEM));
		return 1;
	}
	if (policy_path && policy_load(&pol, policy_path, err, sizeof(err))) {
		pr_err("diff: policy %s", err);
		policy_release(&pol);
		return 2;
	}
	rc = cmp_open(&c, &pol, "diff", base, nbase, cand, ncand);
	if (rc) {
		cmp_release(&c);
		policy_release(&pol);
		return rc == -ENOMEM ? 1 : 2;
	}
	n = cmp_compare_all(&c, &res);
	if (n < 0) {
		rc = n;
	} else if (out == OUT_JSON) {
		rc = print_json(&c, res, (size_t)n);
	} else if (out == OUT_MARKDOWN) {
		rc = print_markdown(&c, res, (size_t)n);
	} else {
		rc = print_text(&c, res, (size_t)n);
	}
	if (rc)
		pr_err("diff: %s", strerror(-rc));
	free(res);
	cmp_release(&c);
	policy_release(&pol);
	return rc ? 1 : 0;
}
