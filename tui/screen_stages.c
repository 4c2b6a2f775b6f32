// SPDX-License-Identifier: MIT
/*
 * Stages: per model x stage, the newest window's latency, the stage's share
 * of its model's request time and its on-CPU / blocked / run-queue split;
 * below, the hot functions (CPU self time) of the selected stage over the
 * last MODEL_HOT_WINDOWS windows.
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/units.h"
#include "tui/tui.h"

struct srow {
	const struct snap_stage *e;
	const char *model, *stage;
	size_t model_rank;
	double share;		/* of the model's request time */
	double cpu, blocked, runq;	/* sampled ns */
};

static int sort_key;

static int row_cmp(const void *a, const void *b)
{
	const struct srow *x = a, *y = b;
	double dx, dy;

	switch (sort_key) {
	case 1: dx = x->e->p99_ns; dy = y->e->p99_ns; break;
	case 2: dx = x->share; dy = y->share; break;
	case 3: dx = x->cpu; dy = y->cpu; break;
	default:
		/* Pipeline order: models as first seen, stages by name id
		 * (the order the workload first used them), request first. */
		if (x->model_rank != y->model_rank)
			return x->model_rank < y->model_rank ? -1 : 1;
		if (!strcmp(x->stage, "request") != !strcmp(y->stage, "request"))
			return !strcmp(x->stage, "request") ? -1 : 1;
		return x->e->stage_id < y->e->stage_id ? -1 : x->e->stage_id > y->e->stage_id;
	}
	return dx < dy ? 1 : dx > dy ? -1 : 0;
}

static char *pct(char *buf, size_t len, double part, double whole)
{
	if (whole <= 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f%%", part * 100 / whole);
	return buf;
}

/* Sampled times of (MODEL, STAGE) in S; the "request" row has all of the
 * model's (samples carry the stage they ran in). */
static void split(const struct tui_model *m, const struct snap *s, __u32 model,
		  __u32 stage, double *cpu, double *blocked, double *runq)
{
	bool whole = stage == model_request_id(m);
	size_t i;

	for (i = 0; s && i < s->nst; i++) {
		const struct snap_stage *e = &s->st[i];

		if (e->model_id != model || (!whole && e->stage_id != stage))
			continue;
		*cpu += e->cpu_ns;
		*blocked += e->blocked_ns;
		*runq += e->runq_ns;
	}
}

/* The same over the last MODEL_HOT_WINDOWS windows. */
static void recent_split(const struct tui_model *m, __u32 model, __u32 stage,
			 double *cpu, double *blocked, double *runq)
{
	size_t b;

	*cpu = *blocked = *runq = 0;
	for (b = 0; b < MODEL_HOT_WINDOWS; b++)
		split(m, model_snap(m, b), model, stage, cpu, blocked, runq);
}

static void draw_hot(struct top *t, int y, int h)
{
	const struct tui_model *m = &t->src.model;
	struct hot_fn hot[32];
	double cpu, blocked, runq, all;
	size_t n, i;
	char a[16], b[16], c[16], pb[8], pr[8], where[160];
	int max = h - 2;

	if (h < 3)
		return;
	recent_split(m, t->ui.sel_model, t->ui.sel_stage, &cpu, &blocked, &runq);
	all = cpu + blocked + runq;
	term_fill(y, 0, R_HEADER);
	term_printf(y++, 0, COLS, R_HEADER, "Hot functions of %s/%s (CPU self time, last %d windows)",
		    window_stream_name(m->ws, t->ui.sel_model),
		    window_stream_name(m->ws, t->ui.sel_stage), MODEL_HOT_WINDOWS);
	term_printf(y++, 0, COLS, R_INFO, "on-CPU %s  blocked %s (%s)  run-queue %s (%s)",
		    units_ns(a, sizeof(a), (__u64)cpu),
		    units_ns(b, sizeof(b), (__u64)blocked), pct(pb, sizeof(pb), blocked, all),
		    units_ns(c, sizeof(c), (__u64)runq), pct(pr, sizeof(pr), runq, all));
	if (max > (int)(sizeof(hot) / sizeof(hot[0])))
		max = sizeof(hot) / sizeof(hot[0]);
	n = model_hot(m, t->ui.sel_model, t->ui.sel_stage, hot, max > 0 ? max : 0);
	if (!n)
		term_put(y, 2, COLS - 2, R_DIM, "no CPU samples in this stage");
	for (i = 0; i < n; i++) {
		model_frame_where(m, hot[i].frame_id, where, sizeof(where));
		term_printf(y + (int)i, 0, COLS, R_NORMAL, "%6.1f%%  %8s  %s%s",
			    cpu > 0 ? hot[i].value_ns * 100 / cpu : 0.0,
			    units_ns(a, sizeof(a), hot[i].value_ns),
			    model_frame_name(m, hot[i].frame_id), where);
	}
}

void screen_stages(struct top *t, int y, int h)
{
	const struct tui_model *m = &t->src.model;
	const struct snap *s = model_snap(m, 0);
	__u32 req = model_request_id(m);
	struct srow *rows;
	size_t i, k, n = 0;
	int pane = h / 3 < 6 ? 6 : h / 3, table = h - pane, *sel, *top, r;
	char p50[16], p99[16], mean[16], sh[8], c1[8], c2[8], c3[8];

	if (!s)
		return;
	rows = calloc(s->nst + 1, sizeof(*rows));
	if (!rows)
		return;
	for (i = 0; i < s->nst; i++) {
		const struct snap_stage *e = &s->st[i], *rq;
		double all;

		if (!e->count && !e->cpu_ns)
			continue;
		rows[n].e = e;
		/* Time outside any request (idle workers), as report --cpu
		 * calls it. */
		rows[n].model = e->model_id == TRACE_NO_ID ? "(none)" :
				window_stream_name(m->ws, e->model_id);
		rows[n].stage = window_stream_name(m->ws, e->stage_id);
		if (!ui_match(t, rows[n].model) && !ui_match(t, rows[n].stage))
			continue;
		rows[n].model_rank = m->nmodels;
		for (k = 0; k < m->nmodels; k++)
			if (m->models[k] == e->model_id)
				rows[n].model_rank = k;
		rq = snap_stage(s, e->model_id, req);
		all = rq ? rq->mean_ns * rq->count : 0;
		rows[n].share = all > 0 ? e->mean_ns * e->count / all : 0;
		split(m, s, e->model_id, e->stage_id, &rows[n].cpu, &rows[n].blocked,
		      &rows[n].runq);
		n++;
	}
	sort_key = t->ui.sort[SCR_STAGES];
	qsort(rows, n, sizeof(*rows), row_cmp);

	sel = &t->ui.sel[SCR_STAGES];
	top = &t->ui.scroll[SCR_STAGES];
	t->ui.nrows[SCR_STAGES] = (int)n;
	if (*sel >= (int)n)
		*sel = n ? (int)n - 1 : 0;
	if (*sel < *top)
		*top = *sel;
	if (*sel >= *top + table - 1)
		*top = *sel - (table - 2);
	if (*top < 0)
		*top = 0;

	term_fill(y, 0, R_HEADER);
	term_printf(y, 0, COLS, R_HEADER, "%-10s %-13s %7s %7s %7s %7s %5s %5s %5s %5s",
		    "MODEL", "STAGE", "COUNT", "p50", "p99", "MEAN", "SHARE", "CPU",
		    "BLOCK", "RUNQ");
	for (i = (size_t)*top, r = 1; i < n && r < table; i++, r++) {
		const struct snap_stage *e = rows[i].e;
		double all = rows[i].cpu + rows[i].blocked + rows[i].runq;
		enum term_role role = (int)i == *sel ? R_SELECTED : R_NORMAL;

		if (role == R_SELECTED)
			term_fill(y + r, 0, role);
		term_printf(y + r, 0, COLS, role, "%-10.10s %-13.13s %7llu %7s %7s %7s %5s %5s %5s %5s",
			    rows[i].model, rows[i].stage, (unsigned long long)e->count,
			    e->count ? units_ns(p50, sizeof(p50), e->p50_ns) : "-",
			    e->count ? units_ns(p99, sizeof(p99), e->p99_ns) : "-",
			    e->count ? units_ns(mean, sizeof(mean), (__u64)e->mean_ns) : "-",
			    pct(sh, sizeof(sh), rows[i].share, 1),
			    pct(c1, sizeof(c1), rows[i].cpu, all),
			    pct(c2, sizeof(c2), rows[i].blocked, all),
			    pct(c3, sizeof(c3), rows[i].runq, all));
	}
	if (n) {
		t->ui.sel_model = rows[*sel].e->model_id;
		t->ui.sel_stage = rows[*sel].e->stage_id;
		draw_hot(t, y + table, pane);
	} else {
		term_put(y + 1, 2, COLS - 2, R_DIM, "no stages in the newest window");
	}
	free(rows);
}
