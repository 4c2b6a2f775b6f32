// SPDX-License-Identifier: MIT
/*
 * Overview: per model, the newest window's QPS, p50 and p99 against the
 * SLO, errors and CPU per request, with p99 and QPS sparklines over recent
 * windows; the whole process's drops; the top findings.
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/units.h"
#include "tui/tui.h"

struct orow {
	__u32 id;
	const char *name;
	double qps, err_s, cpu_req;
	__u64 p50, p99, slo;
};

/* "25ms", "500us", "1.5s", "25" (ms) -> ns; 0 when unreadable. */
static __u64 parse_dur(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v <= 0)
		return 0;
	if (!strncmp(end, "us", 2))
		return v * 1e3;
	if (!strncmp(end, "ns", 2))
		return v;
	if (*end == 's')
		return v * 1e9;
	return v * 1e6;
}

/* The p99 SLO of MODEL: --slo ("p99=25ms" or "MODEL:p99=25ms,..."), else
 * the workload's announced MODEL.slo_p99_ms / slo_p99_ms; 0 when none. */
static __u64 slo_p99(const struct top *t, const char *model)
{
	const struct window_stream *ws = t->src.ws;
	const char *spec = t->src.ao.slo, *v;
	char key[96], buf[256], *tok, *save = NULL;
	__u64 any = 0, mine = 0;

	if (spec) {
		snprintf(buf, sizeof(buf), "%s", spec);
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *colon = strchr(tok, ':');
			const char *q = colon ? colon + 1 : tok;

			if (strncmp(q, "p99=", 4))
				continue;
			if (!colon)
				any = parse_dur(q + 4);
			else if ((size_t)(colon - tok) == strlen(model) &&
				 !strncmp(tok, model, colon - tok))
				mine = parse_dur(q + 4);
		}
		return mine ? mine : any;
	}
	snprintf(key, sizeof(key), "%s.slo_p99_ms", model);
	v = window_stream_config(ws, key);
	if (!v)
		v = window_stream_config(ws, "slo_p99_ms");
	return v ? parse_dur(v) : 0;
}

static int sort_key;

static int row_cmp(const void *a, const void *b)
{
	const struct orow *x = a, *y = b;
	double dx, dy;

	switch (sort_key) {
	case 1: dx = x->qps; dy = y->qps; break;
	case 2: dx = x->p99; dy = y->p99; break;
	case 3: dx = x->err_s; dy = y->err_s; break;
	default: return 0;
	}
	return dx < dy ? 1 : dx > dy ? -1 : 0;
}

static void fill_row(const struct top *t, const struct snap *s, __u32 req,
		     struct orow *r)
{
	const struct snap_stage *e = snap_stage(s, r->id, req);
	double cpu = 0;
	size_t i;

	r->slo = slo_p99(t, r->name);
	if (!s)
		return;
	for (i = 0; i < s->nst; i++)
		if (s->st[i].model_id == r->id)
			cpu += s->st[i].cpu_ns;
	if (e) {
		r->qps = e->count / snap_seconds(s);
		r->err_s = e->errors / snap_seconds(s);
		r->p50 = e->p50_ns;
		r->p99 = e->p99_ns;
		r->cpu_req = e->count ? cpu / e->count : 0;
	}
}

/* Sparkline of the model's p99 (WHAT 0) or QPS (1) over N windows. */
static void spark(const struct top *t, __u32 model, __u32 req, int what,
		  int y, int x, int n)
{
	double v[256];
	char buf[256 * 3 + 1];
	int i;

	if (n > 256)
		n = 256;
	if (n <= 0)
		return;
	for (i = 0; i < n; i++) {
		const struct snap *s = model_snap(&t->src.model, n - 1 - i);
		const struct snap_stage *e = snap_stage(s, model, req);

		v[i] = -1;
		if (s && what == 1)
			v[i] = e ? e->count / snap_seconds(s) : 0;
		else if (e && e->count)
			v[i] = e->p99_ns;
	}
	sparkline(buf, sizeof(buf), v, n, SPARK_ZERO, term_utf8());
	term_put(y, x, n, R_SPARK, buf);
}

static void draw_total(const struct snap *s, int y)
{
	char cpu[16] = "-";
	double secs = s ? snap_seconds(s) : 1;

	if (s && s->have_counters && s->requests &&
	    (s->ctr.present & (1u << TRACE_CTR_TASK_CLOCK_NS)))
		units_ns(cpu, sizeof(cpu), s->ctr.v[TRACE_CTR_TASK_CLOCK_NS] / s->requests);
	term_printf(y, 0, COLS, R_NORMAL, "%-12s %8.1f %8s %8s %7s %7.1f %7llu %8s",
		    "all", s ? s->requests / secs : 0.0, "", "", "",
		    s ? s->errors / secs : 0.0,
		    s ? (unsigned long long)s->dropped : 0ull, cpu);
}

static void draw_findings(struct top *t, int y, int h)
{
	const struct finding *f;
	size_t nf = source_findings(&t->src, &f), i, crit = 0, warn = 0;

	if (h <= 0)
		return;
	for (i = 0; i < nf; i++) {
		crit += f[i].severity == SEV_CRITICAL;
		warn += f[i].severity == SEV_WARNING;
	}
	if (!nf) {
		term_printf(y, 0, COLS, R_GOOD, "No findings (%zu windows analyzed)",
			    analyzer_windows(t->src.an));
		return;
	}
	term_printf(y++, 0, COLS, crit ? R_CRIT : warn ? R_WARN : R_INFO,
		    "Findings: %zu critical, %zu warning, %zu info  (4 or Tab: details)",
		    crit, warn, nf - crit - warn);
	for (i = 0; i < nf && (int)i < h - 1; i++) {
		term_put(y, 2, 4, ui_sev_role(f[i].severity), ui_sev(f[i].severity));
		term_put(y++, 7, COLS - 7, R_NORMAL, f[i].title);
	}
}

/* Actions logged in the trace (ours, echoed back; or, in a replay, the
 * live session's); returns rows used. */
static int draw_actions(struct top *t, int y, int h)
{
	const char *a;
	__u64 w;
	int n = 0;

	if (h < 2 || !t->src.model.nactions)
		return 0;
	term_put(y + n++, 0, COLS, R_HEADER, "Actions in the trace");
	while (n < h && n <= 3 && (a = model_action(&t->src.model, n - 1, &w))) {
		term_printf(y + n, 0, COLS, R_INFO, "  window %-5llu %s",
			    (unsigned long long)w, a);
		n++;
	}
	return n + 1;
}

void screen_overview(struct top *t, int y, int h)
{
	const struct tui_model *m = &t->src.model;
	const struct snap *s = model_snap(m, 0);
	__u32 req = model_request_id(m);
	struct orow *rows = calloc(m->nmodels + 1, sizeof(*rows));
	size_t i, n = 0;
	int row = y, sw, end = y + h;
	char p50[16], p99[16], slo[16], cpu[16];

	if (!rows)
		return;
	for (i = 0; i < m->nmodels; i++) {
		const char *name = window_stream_name(m->ws, m->models[i]);

		if (!ui_match(t, name))
			continue;
		rows[n].id = m->models[i];
		rows[n].name = name;
		fill_row(t, s, req, &rows[n]);
		n++;
	}
	sort_key = t->ui.sort[SCR_OVERVIEW];
	qsort(rows, n, sizeof(*rows), row_cmp);
	t->ui.nrows[SCR_OVERVIEW] = (int)n;
	if (t->ui.sel[SCR_OVERVIEW] >= (int)n)
		t->ui.sel[SCR_OVERVIEW] = n ? (int)n - 1 : 0;

	term_fill(row, 0, R_HEADER);
	term_printf(row++, 0, COLS, R_HEADER, "%-12s %8s %8s %8s %7s %7s %7s %8s",
		    "MODEL", "QPS", "p50", "p99", "SLO", "ERR/s", "DROPS", "CPU/REQ");
	sw = (COLS - 14) / 2;
	for (i = 0; i < n && row + 1 < end - 1; i++) {
		bool over = rows[i].slo && rows[i].p99 > rows[i].slo;
		enum term_role r = (int)i == t->ui.sel[SCR_OVERVIEW] ? R_SELECTED : R_NORMAL;

		units_ns(p50, sizeof(p50), rows[i].p50);
		units_ns(p99, sizeof(p99), rows[i].p99);
		if (rows[i].slo)
			units_ns(slo, sizeof(slo), rows[i].slo);
		else
			snprintf(slo, sizeof(slo), "-");
		units_ns(cpu, sizeof(cpu), (__u64)rows[i].cpu_req);
		if (r == R_SELECTED) {
			term_fill(row, 0, r);
			snprintf(t->ui.ov_model, sizeof(t->ui.ov_model), "%s", rows[i].name);
		}
		term_printf(row, 0, COLS, r, "%-12.12s %8.1f %8s %8s %7s %7.1f %7s %8s",
			    rows[i].name, rows[i].qps, rows[i].p50 ? p50 : "-",
			    rows[i].p99 ? p99 : "-", slo, rows[i].err_s, "", cpu);
		if (over)
			term_printf(row, 31, 8, R_CRIT, "%8s", p99);
		row++;
		term_put(row, 2, 4, R_DIM, "p99");
		spark(t, rows[i].id, req, 0, row, 6, sw);
		term_put(row, 8 + sw, 4, R_DIM, "qps");
		spark(t, rows[i].id, req, 1, row, 12 + sw, sw);
		row++;
	}
	if (row < end)
		draw_total(s, row++);
	row++;
	if (t->ap.msg[0] && row < end)
		ui_apply_line(t, row++);
	row += draw_actions(t, row, end - row - 4);
	draw_findings(t, row + 1, end - row - 1);
	free(rows);
}
