// SPDX-License-Identifier: MIT
/*
 * The gate's policy: built-in defaults and the policy file (policy.h,
 * docs/ci.md).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/array.h"
#include "analyzer/policy.h"

static const char *const metric_names[CM_N] = {
	[CM_P50] = "p50",
	[CM_P90] = "p90",
	[CM_P99] = "p99",
	[CM_MEAN] = "mean",
	[CM_ITEM] = "item",
	[CM_CPU] = "cpu",
	[CM_ONCPU] = "oncpu",
	[CM_CPU_PER_REQUEST] = "cpu_per_request",
	[CM_RSS] = "rss",
	[CM_RSS_GROWTH] = "rss_growth",
};

/* Any metric, in a rule: "queue_wait / *" (without the spaces). */
#define METRIC_ANY (-1)

const char *cmp_metric_name(enum cmp_metric m)
{
	return (unsigned int)m < CM_N ? metric_names[m] : NULL;
}

int cmp_metric_parse(const char *name)
{
	int i;

	for (i = 0; i < CM_N; i++)
		if (!strcmp(name, metric_names[i]))
			return i;
	return -1;
}

bool cmp_metric_is_bytes(enum cmp_metric m)
{
	return m == CM_RSS || m == CM_RSS_GROWTH;
}

/*
 * The defaults, as a policy file would say them.  Why these:
 * - alpha 0.01: a gate that fails a build without a change more than one
 *   time in a hundred is one people learn to rerun.  Family-wise over all
 *   gated metrics, and a failure also needs the limits below; with only
 *   three slots the paired test runs somewhat hot when two processes of
 *   one binary differ (test_stats.c, test_compare_paired_null), which the
 *   limits absorb.  Side by side on one CPU it still caught a +3 % stage
 *   every time (docs/ci.md, Evaluation);
 * - p50 and p99 of every stage may grow 5 %, and at least by 20 us
 *   (a p99 is one histogram bucket, 1.6 %, away from its neighbour);
 * - item (the lower quartile of a stage's time per batch item: its
 *   uncontended cost, with the batch-size mix and preemption factored
 *   out, close to its CPU time per item) may grow 2 %: the least noisy
 *   measure of a stage's work, and a limit below the +3 % that the gate
 *   must catch (an estimate sits above its true value only half the
 *   time: a limit equal to the effect would catch it at most half the
 *   time);
 * - CPU per request (task-clock / requests) may grow 3 %;
 * - the error budget (alpha, weighted Holm) goes where the precision is:
 *   item and CPU per request, the measures of work, weigh 3; a p99, the
 *   noisiest (a unit's p99 is its top one or two requests, and any
 *   preemption moves it), 0.5; the rest 1.  With the ranker's 29 gated
 *   metrics an item gets 3/42 of alpha instead of 1/29, twice the
 *   threshold, while a p99 still fails on the tens-of-percent tail
 *   regressions it can resolve;
 * - queue_wait is waiting, not work: it follows the load and the other
 *   stages, so it is reported but not gated; for the same reason the
 *   whole request (queue_wait included) is gated at p99 only: its p50
 *   and item swing with the queue, whose state is chaotic from one
 *   process to the next on a busy machine, while a change in any stage's
 *   work shows in that stage;
 * - rss_growth (resident memory's growth per second, window by window)
 *   may exceed the baseline's by 256 KiB/s: a leak, with or without the
 *   allocation shim, and whatever the analyzer's single-run thresholds;
 * - p90, mean, sampled stage CPU and exact stage CPU (oncpu) are
 *   reported, not gated: p50/p99 and item already cover them, and every
 *   gated metric costs power under the family-wise correction (oncpu,
 *   measured side by side on a shared VM, had twice item's noise: it
 *   keeps what a preemption costs after the thread is back, cold caches).
 */
static const char *const default_lines[] = {
	"alpha = 0.01",
	"confidence = 0.95",
	"min_windows = 10",
	"min_runs_apart = 2",
	"warmup = 2s",
	"leak = any",
	"findings = off",
	"p50 = +5% 20us",
	"p90 = off",
	"p99 = +5% 20us weight=0.5",
	"mean = off",
	"item = +2% 10ns weight=3",
	"cpu = off",
	"oncpu = off",
	"cpu_per_request = +3% 10us weight=3",
	"rss = +10% 16MiB",
	"rss_growth = 256KiB",
	"queue_wait/* = off",
	"request/p50 = off",
	"request/item = off",
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int policy_init(struct policy *p)
{
	size_t i;
	int err;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < CM_N; i++)
		p->min_requests[i] = 10;
	p->min_requests[CM_P90] = 20;
	/* a p99 of fewer than 100 values is the maximum, not a p99 */
	p->min_requests[CM_P99] = 100;
	p->min_requests[CM_CPU] = 50;
	for (i = 0; i < sizeof(default_lines) / sizeof(default_lines[0]); i++) {
		err = policy_parse_line(p, default_lines[i], 0, NULL, 0);
		if (err) {
			policy_release(p);
			return err;
		}
	}
	return 0;
}

void policy_release(struct policy *p)
{
	free(p->rules);
	p->rules = NULL;
	p->nrules = p->cap = 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "20us", "1.5ms", "3s", "250ns", "16MiB", "4096", "0"; BYTES picks the
 * unit family.  0 or -EINVAL. */
static int parse_amount(const char *s, bool bytes, double *out)
{
	static const struct {
		const char *suffix;
		double mul;
		bool bytes;
	} units[] = {
		{ "ns", 1, false }, { "us", 1e3, false }, { "ms", 1e6, false },
		{ "s", 1e9, false }, { "B", 1, true }, { "KiB", 1024.0, true },
		{ "MiB", 1048576.0, true }, { "GiB", 1073741824.0, true },
		{ "KB", 1e3, true }, { "MB", 1e6, true }, { "GB", 1e9, true },
	};
	char *end;
	double v;
	size_t i;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v < 0)
		return -EINVAL;
	if (!*end) {
		/* a bare number: 0 whatever the unit, else ns or bytes */
		*out = v;
		return 0;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(end, units[i].suffix) && units[i].bytes == bytes) {
			*out = v * units[i].mul;
			return 0;
		}
	}
	return -EINVAL;
}

/* "off", or "+5%" and/or an absolute floor, in either order, and an
 * optional "weight=N". */
static int parse_limit(char *v, int m, struct limit *lim)
{
	char *tok, *save = NULL;
	bool have_rel = false, have_abs = false, have_weight = false;

	memset(lim, 0, sizeof(*lim));
	if (!strcmp(v, "off"))
		return 0;
	lim->on = true;
	for (tok = strtok_r(v, " \t,", &save); tok;
	     tok = strtok_r(NULL, " \t,", &save)) {
		size_t len = strlen(tok);

		if (!strncmp(tok, "weight=", 7)) {
			char *end;

			if (have_weight)
				return -EINVAL;
			errno = 0;
			lim->weight = strtod(tok + 7, &end);
			if (end == tok + 7 || *end || errno || !isfinite(lim->weight) ||
			    lim->weight <= 0 || lim->weight > 1000)
				return -EINVAL;
			have_weight = true;
		} else if (len && tok[len - 1] == '%') {
			char *end;
			double r;

			if (have_rel)
				return -EINVAL;
			tok[len - 1] = '\0';
			errno = 0;
			r = strtod(tok, &end);
			if (end == tok || *end || errno || !isfinite(r) || r < 0)
				return -EINVAL;
			lim->rel = r / 100;
			have_rel = true;
		} else {
			if (have_abs || *tok == '+' ||
			    parse_amount(tok, m != METRIC_ANY && cmp_metric_is_bytes((enum cmp_metric)m),
					 &lim->floor))
				return -EINVAL;
			have_abs = true;
		}
	}
	return have_rel || have_abs ? 0 : -EINVAL;
}

static int add_rule(struct policy *p, const char *model, const char *stage,
		    int m, const struct limit *lim, int line)
{
	struct policy_rule *r;

	if (array_grow((void **)&p->rules, &p->cap, p->nrules + 1, sizeof(*r)))
		return -ENOMEM;
	r = &p->rules[p->nrules++];
	memset(r, 0, sizeof(*r));
	snprintf(r->model, sizeof(r->model), "%s", model);
	snprintf(r->stage, sizeof(r->stage), "%s", stage);
	r->metric = m;
	r->lim = *lim;
	r->line = line;
	return 0;
}

static int parse_setting(struct policy *p, const char *key, char *v)
{
	char *end;
	double d;

	if (!strcmp(key, "leak")) {
		if (!strcmp(v, "any"))
			p->leak = true;
		else if (!strcmp(v, "off"))
			p->leak = false;
		else
			return -EINVAL;
		return 0;
	}
	if (!strcmp(key, "findings")) {
		if (!strcmp(v, "off"))
			p->findings = PF_OFF;
		else if (!strcmp(v, "warning"))
			p->findings = PF_WARNING;
		else if (!strcmp(v, "critical"))
			p->findings = PF_CRITICAL;
		else
			return -EINVAL;
		return 0;
	}
	if (!strcmp(key, "warmup")) {
		if (parse_amount(v, false, &d))
			return -EINVAL;
		/* a bare number is seconds here */
		p->warmup_s = strpbrk(v, "nums") ? d / 1e9 : d;
		return 0;
	}
	errno = 0;
	d = strtod(v, &end);
	if (end == v || *end || errno || !isfinite(d))
		return -EINVAL;
	if (!strcmp(key, "alpha") && d > 0 && d < 1)
		p->alpha = d;
	else if (!strcmp(key, "confidence") && d > 0 && d < 1)
		p->confidence = d;
	else if (!strcmp(key, "min_windows") && d >= 2 && d <= 1e6 && d == floor(d))
		p->min_windows = (size_t)d;
	else if (!strcmp(key, "min_runs_apart") && d >= 1 && d <= 1000 && d == floor(d))
		p->min_runs_apart = (size_t)d;
	else
		return -EINVAL;
	return 0;
}

static bool is_setting(const char *key)
{
	return !strcmp(key, "alpha") || !strcmp(key, "confidence") ||
	       !strcmp(key, "min_windows") || !strcmp(key, "warmup") ||
	       !strcmp(key, "min_runs_apart") ||
	       !strcmp(key, "leak") || !strcmp(key, "findings");
}

int policy_parse_line(struct policy *p, const char *text, int line, char *err,
		      size_t errlen)
{
	char buf[512], *s, *eq, *key, *val, *parts[4], *save = NULL, *tok;
	const char *model = "*", *stage = "*";
	size_t nparts = 0;
	struct limit lim;
	int m, rc;

	if (strlen(text) >= sizeof(buf)) {
		set_err(err, errlen, "line %d: too long", line);
		return -EINVAL;
	}
	strcpy(buf, text);
	s = strchr(buf, '#');
	if (s)
		*s = '\0';
	s = trim(buf);
	if (!*s)
		return 0;
	eq = strchr(s, '=');
	if (!eq) {
		set_err(err, errlen, "line %d: expected 'key = value'", line);
		return -EINVAL;
	}
	*eq = '\0';
	key = trim(s);
	val = trim(eq + 1);
	if (is_setting(key)) {
		if (parse_setting(p, key, val)) {
			set_err(err, errlen, "line %d: bad value '%s' for %s", line,
				val, key);
			return -EINVAL;
		}
		return 0;
	}
	for (tok = strtok_r(key, "/", &save); tok && nparts < 4;
	     tok = strtok_r(NULL, "/", &save))
		parts[nparts++] = trim(tok);
	if (!nparts || nparts > 3 || tok) {
		set_err(err, errlen,
			"line %d: '%s': want METRIC, STAGE/METRIC or MODEL/STAGE/METRIC",
			line, key);
		return -EINVAL;
	}
	if (!strcmp(parts[nparts - 1], "*")) {
		m = METRIC_ANY;
	} else {
		m = cmp_metric_parse(parts[nparts - 1]);
		if (m < 0) {
			set_err(err, errlen, "line %d: unknown metric or setting '%s'",
				line, parts[nparts - 1]);
			return -EINVAL;
		}
	}
	if (nparts == 3)
		model = parts[0];
	if (nparts >= 2)
		stage = parts[nparts - 2];
	if (nparts >= 2 && m != METRIC_ANY && CM_IS_PROCESS((enum cmp_metric)m)) {
		set_err(err, errlen, "line %d: %s is a whole-process metric (no model or stage)",
			line, parts[nparts - 1]);
		return -EINVAL;
	}
	if (!*model || !*stage || strlen(model) >= 48 || strlen(stage) >= 48) {
		set_err(err, errlen, "line %d: bad model or stage in '%s'", line, key);
		return -EINVAL;
	}
	if (parse_limit(val, m, &lim)) {
		set_err(err, errlen,
			"line %d: bad limit '%s' (want 'off', '+5%%', '+5%% 20us' or '16MiB')",
			line, val);
		return -EINVAL;
	}
	rc = add_rule(p, model, stage, m, &lim, line);
	if (rc)
		set_err(err, errlen, "out of memory");
	return rc;
}

int policy_load(struct policy *p, const char *path, char *err, size_t errlen)
{
	char line[1024], msg[400];
	FILE *f = fopen(path, "r");
	int n = 0, rc = 0;

	if (!f) {
		rc = -errno;
		set_err(err, errlen, "open %s: %s", path, strerror(errno));
		return rc;
	}
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (!strchr(line, '\n') && !feof(f)) {
			set_err(err, errlen, "%s:%d: line too long", path, n);
			rc = -EINVAL;
			break;
		}
		line[strcspn(line, "\n")] = '\0';
		rc = policy_parse_line(p, line, n, msg, sizeof(msg));
		if (rc) {
			/* "line N: what" -> "FILE:N: what" */
			set_err(err, errlen, "%s:%d:%s", path, n,
				strchr(msg, ':') ? strchr(msg, ':') + 1 : msg);
			break;
		}
	}
	if (!rc && ferror(f)) {
		rc = -EIO;
		set_err(err, errlen, "read %s: %s", path, strerror(EIO));
	}
	fclose(f);
	return rc;
}

static bool match(const char *pat, const char *s)
{
	return !strcmp(pat, "*") || (s && !strcmp(pat, s));
}

/* How specific a rule is: a model counts most, then a stage, then a
 * metric, so "queue_wait / *" keeps beating a later plain "item". */
static int specificity(const struct policy_rule *r)
{
	return 4 * !!strcmp(r->model, "*") + 2 * !!strcmp(r->stage, "*") +
	       (r->metric != METRIC_ANY);
}

struct limit policy_limit(const struct policy *p, const char *model,
			  const char *stage, enum cmp_metric metric)
{
	struct limit lim = { 0 };
	int best = -1, best_w = -1;
	double weight = 1;
	size_t i;

	for (i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];

		if (r->metric != METRIC_ANY && r->metric != (int)metric)
			continue;
		if (CM_IS_PROCESS(metric)) {
			if (strcmp(r->model, "*") || strcmp(r->stage, "*"))
				continue;
		} else if (!match(r->model, model) || !match(r->stage, stage)) {
			continue;
		}
		if (specificity(r) >= best) {
			best = specificity(r);
			lim = r->lim;
		}
		/* a weight holds until a more specific line says another:
		 * "top_mlp/item = +1%" keeps item's weight */
		if (r->lim.weight > 0 && specificity(r) >= best_w) {
			best_w = specificity(r);
			weight = r->lim.weight;
		}
	}
	if (lim.on)
		lim.weight = weight;
	return lim;
}

static void print_amount(FILE *f, double v, bool bytes)
{
	if (bytes) {
		if (v >= 1048576 && fmod(v, 1048576) == 0)
			fprintf(f, "%gMiB", v / 1048576);
		else if (v >= 1024 && fmod(v, 1024) == 0)
			fprintf(f, "%gKiB", v / 1024);
		else
			fprintf(f, "%gB", v);
	} else if (v >= 1e6 && fmod(v, 1e6) == 0) {
		fprintf(f, "%gms", v / 1e6);
	} else if (v >= 1e3 && fmod(v, 1e3) == 0) {
		fprintf(f, "%gus", v / 1e3);
	} else {
		fprintf(f, "%gns", v);
	}
}

void policy_print(const struct policy *p, FILE *f)
{
	static const char *const fnames[] = { "off", "warning", "critical" };
	size_t i;

	fprintf(f, "alpha = %g\nconfidence = %g\nmin_windows = %zu\n"
		   "min_runs_apart = %zu\nwarmup = %gs\nleak = %s\nfindings = %s\n",
		p->alpha, p->confidence, p->min_windows, p->min_runs_apart, p->warmup_s,
		p->leak ? "any" : "off", fnames[p->findings]);
	for (i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		const char *mn = r->metric == METRIC_ANY ?
					 "*" : cmp_metric_name((enum cmp_metric)r->metric);

		if (strcmp(r->model, "*"))
			fprintf(f, "%s/%s/%s = ", r->model, r->stage, mn);
		else if (strcmp(r->stage, "*"))
			fprintf(f, "%s/%s = ", r->stage, mn);
		else
			fprintf(f, "%s = ", mn);
		if (!r->lim.on) {
			fputs("off\n", f);
			continue;
		}
		if (r->lim.rel > 0)
			fprintf(f, "+%g%%%s", 100 * r->lim.rel, r->lim.floor > 0 ? " " : "");
		if (r->lim.floor > 0 || r->lim.rel == 0)
			print_amount(f, r->lim.floor,
				     r->metric != METRIC_ANY &&
					     cmp_metric_is_bytes((enum cmp_metric)r->metric));
		if (r->lim.weight > 0)
			fprintf(f, " weight=%g", r->lim.weight);
		fputc('\n', f);
	}
}
