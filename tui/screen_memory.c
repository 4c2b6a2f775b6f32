// SPDX-License-Identifier: MIT
/*
 * Memory: RSS and sampled heap sparklines, the allocation sites holding the
 * most outstanding heap with their recent growth, and the analyzer's leak
 * suspects (memory_leak, rss_growth findings).
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/units.h"
#include "tui/tui.h"

struct mrow {
	const struct alloc_site *site;
	double growth;		/* bytes per second, recent windows */
};

static int sort_key;

static int row_cmp(const void *a, const void *b)
{
	const struct mrow *x = a, *y = b;
	double dx = sort_key ? x->growth : x->site->outstanding;
	double dy = sort_key ? y->growth : y->site->outstanding;

	return dx < dy ? 1 : dx > dy ? -1 : 0;
}

/* WHAT 0: RSS, 1: heap; one row with label, newest value and sparkline. */
static void gauge(struct top *t, int y, int what)
{
	const struct tui_model *m = &t->src.model;
	const struct snap *now = model_snap(m, 0);
	int n = COLS - 26, i;
	double v[256];
	char buf[256 * 3 + 1], val[24];
	bool have = now && (what ? now->have_heap : now->have_rss);

	term_put(y, 0, 6, R_HEADER, what ? "heap" : "RSS");
	if (!have) {
		term_put(y, 7, COLS - 7, R_DIM,
			 what ? "not recorded: top --mem, target with LD_PRELOAD=libloupe-alloc.so" :
				"not recorded (--no-counters?)");
		return;
	}
	units_bytes(val, sizeof(val),
		    what ? (now->heap_bytes > 0 ? (__u64)now->heap_bytes : 0) : now->rss_bytes);
	term_printf(y, 7, 12, R_NORMAL, "%11s", val);
	if (n > 256)
		n = 256;
	for (i = 0; i < n; i++) {
		const struct snap *s = model_snap(m, n - 1 - i);

		v[i] = -1;
		if (s && what && s->have_heap)
			v[i] = s->heap_bytes > 0 ? s->heap_bytes : 0;
		else if (s && !what && s->have_rss)
			v[i] = s->rss_bytes;
	}
	/* RSS moves by little against its size: show the range. */
	sparkline(buf, sizeof(buf), v, n > 0 ? n : 0, SPARK_RANGE, term_utf8());
	term_put(y, 20, n, R_SPARK, buf);
}

static int draw_leaks(struct top *t, int y, int h)
{
	const struct finding *f;
	size_t nf = source_findings(&t->src, &f), i;
	int row = y;

	if (h < 2)
		return 0;
	term_fill(row, 0, R_HEADER);
	term_put(row++, 0, COLS, R_HEADER, "Leak suspects (analyzer)");
	for (i = 0; i < nf && row < y + h; i++) {
		if (f[i].kind != FK_MEMORY_LEAK && f[i].kind != FK_RSS_GROWTH)
			continue;
		term_put(row, 0, 4, ui_sev_role(f[i].severity), ui_sev(f[i].severity));
		term_put(row++, 5, COLS - 5, R_NORMAL, f[i].title);
	}
	if (row == y + 1)
		term_put(row++, 2, COLS - 2, R_GOOD, "none: no site's heap keeps growing");
	return row - y;
}

void screen_memory(struct top *t, int y, int h)
{
	const struct tui_model *m = &t->src.model;
	const struct snap *now = model_snap(m, 0);
	size_t nwin = m->windows < MODEL_HOT_WINDOWS ? m->windows : MODEL_HOT_WINDOWS;
	double secs = now ? snap_seconds(now) : 1;
	struct mrow *rows = calloc(m->nsites + 1, sizeof(*rows));
	int leak_rows = 4, table, r, *sel = &t->ui.sel[SCR_MEMORY];
	int *top = &t->ui.scroll[SCR_MEMORY];
	size_t i, k, n = 0;
	char out[24], gr[24], where[160];

	if (!rows)
		return;
	gauge(t, y, 0);
	gauge(t, y + 1, 1);
	for (i = 0; i < m->nsites; i++) {
		const char *fn = model_frame_name(m, m->sites[i].frame_id);

		if (!ui_match(t, fn))
			continue;
		rows[n].site = &m->sites[i];
		for (k = 0; k < MODEL_HOT_WINDOWS; k++)
			rows[n].growth += m->sites[i].recent[k];
		rows[n].growth = nwin ? rows[n].growth / nwin / secs : 0;
		n++;
	}
	sort_key = t->ui.sort[SCR_MEMORY];
	qsort(rows, n, sizeof(*rows), row_cmp);
	t->ui.nrows[SCR_MEMORY] = (int)n;
	if (*sel >= (int)n)
		*sel = n ? (int)n - 1 : 0;
	table = h - 3 - leak_rows - 1;
	if (*sel < *top)
		*top = *sel;
	if (table > 1 && *sel >= *top + table - 1)
		*top = *sel - (table - 2);

	term_fill(y + 3, 0, R_HEADER);
	term_printf(y + 3, 0, COLS, R_HEADER, "%11s %11s  %s", "OUTSTANDING", "GROWTH/s",
		    "ALLOCATION SITE (sampled heap)");
	for (i = (size_t)*top, r = 1; i < n && r < table; i++, r++) {
		enum term_role role = (int)i == *sel ? R_SELECTED : R_NORMAL;
		double o = rows[i].site->outstanding, g = rows[i].growth;

		units_bytes(out, sizeof(out), o > 0 ? (__u64)o : 0);
		snprintf(gr, sizeof(gr), "%s", "");
		units_bytes(gr + 1, sizeof(gr) - 1, (__u64)(g < 0 ? -g : g));
		gr[0] = g < 0 ? '-' : '+';
		model_frame_where(m, rows[i].site->frame_id, where, sizeof(where));
		if (role == R_SELECTED)
			term_fill(y + 3 + r, 0, role);
		term_printf(y + 3 + r, 0, COLS, role, "%11s %11s  %s%s", out, gr,
			    model_frame_name(m, rows[i].site->frame_id), where);
	}
	if (!n)
		term_put(y + 4, 2, COLS - 2, R_DIM, "no sampled allocations");
	draw_leaks(t, y + h - leak_rows, leak_rows);
	free(rows);
}
