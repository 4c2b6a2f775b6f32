// SPDX-License-Identifier: MIT
/*
 * Findings: the analyzer's current findings, most severe first; Enter
 * shows one in full (evidence, proposed fixes), where `a` applies the
 * selected fix.  The detail view shows a copy taken on Enter, so it does
 * not change under the reader while new windows arrive.
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui.h"

static void where(const struct finding *f, char *buf, size_t len)
{
	if (f->model[0] && f->stage[0])
		snprintf(buf, len, "%s/%s", f->model, f->stage);
	else
		snprintf(buf, len, "%s", f->model[0] ? f->model : f->stage[0] ? f->stage : "-");
}

/* The fix as one line: "workers: 16 -> 2" or "code: leak_request_context". */
static void fix_line(const struct fix *x, char *buf, size_t len)
{
	if (x->key[0])
		snprintf(buf, len, "%s: %s %s %s", x->key, x->from, term_arrow(), x->to);
	else
		snprintf(buf, len, "code change: %s", x->to[0] ? x->to : x->why);
}

/* Lines of TEXT (split at '\n') from row Y, at most H; returns rows used. */
static int text_lines(const char *text, int y, int x, int h, enum term_role r)
{
	char line[1024];
	int n = 0;

	while (*text && n < h) {
		size_t l = strcspn(text, "\n");

		snprintf(line, sizeof(line), "%.*s", (int)l, text);
		term_put(y + n++, x, COLS - x, r, line);
		text += l + (text[l] == '\n');
	}
	return n;
}

static void detail(struct top *t, int y, int h)
{
	const struct finding *f = &t->ui.shown;
	int row = y, end = y + h - 1;
	char w[128], fl[256];
	size_t i;

	if (t->ui.fix_sel >= (int)f->nfixes)
		t->ui.fix_sel = f->nfixes ? (int)f->nfixes - 1 : 0;
	where(f, w, sizeof(w));
	term_fill(row, 0, R_HEADER);
	term_printf(row++, 0, COLS, R_HEADER, "%s  %s  %s  windows %llu-%llu (%.0f-%.0f s)%s",
		    severity_name(f->severity), finding_kind_name(f->kind), w,
		    (unsigned long long)f->first_window,
		    (unsigned long long)f->last_window, f->start_s, f->end_s,
		    f->transient ? "  transient" : "");
	term_put(row++, 0, COLS, ui_sev_role(f->severity), f->title);
	if (f->function[0] && row < end)
		term_printf(row++, 2, COLS - 2, R_INFO, "at %s %s:%u", f->function,
			    f->file[0] ? f->file : "?", f->line);
	row += text_lines(f->evidence, row, 0, end - row - 2 - 3 * (int)f->nfixes, R_NORMAL);
	if (row < end)
		term_put(row++, 0, COLS, R_HEADER,
			 f->nfixes ? "Proposed fixes (Up/Down select, a apply)" : "No fix proposed");
	for (i = 0; i < f->nfixes && row < end; i++) {
		const struct fix *x = &f->fixes[i];
		enum term_role r = (int)i == t->ui.fix_sel ? R_SELECTED : R_NORMAL;

		fix_line(x, fl, sizeof(fl));
		if (r == R_SELECTED)
			term_fill(row, 0, r);
		term_printf(row++, 0, COLS, r, "[%zu] %s  (confidence %.0f%%, rule %s)",
			    i + 1, fl, x->confidence * 100, x->rule[0] ? x->rule : "-");
		if (x->why[0] && row < end)
			term_printf(row++, 4, COLS - 4, R_DIM, "why: %s", x->why);
		if (x->effect[0] && row < end)
			term_printf(row++, 4, COLS - 4, R_DIM, "expected: %s", x->effect);
	}
	ui_apply_line(t, y + h - 1);
}

/* Indexes of the findings that pass the filter, in display order: the
 * analyzer's (severity) or by the window first seen (stable). */
static size_t visible(const struct top *t, const struct finding *f, size_t nf,
		      size_t *idx)
{
	size_t i, n = 0, a, b;

	for (i = 0; i < nf; i++)
		if (ui_match(t, f[i].title) || ui_match(t, finding_kind_name(f[i].kind)) ||
		    ui_match(t, f[i].model))
			idx[n++] = i;
	if (t->ui.sort[SCR_FINDINGS] == 1) {
		for (a = 1; a < n; a++) {
			for (b = a; b > 0 && f[idx[b]].first_window < f[idx[b - 1]].first_window; b--) {
				size_t tmp = idx[b];

				idx[b] = idx[b - 1];
				idx[b - 1] = tmp;
			}
		}
	}
	return n;
}

void screen_findings(struct top *t, int y, int h)
{
	const struct finding *f;
	size_t nf = source_findings(&t->src, &f), i, n;
	size_t *idx = calloc(nf + 1, sizeof(*idx));
	int *sel = &t->ui.sel[SCR_FINDINGS], *top = &t->ui.scroll[SCR_FINDINGS];
	int list = h - 4, r;
	char w[128], fl[256];

	if (!idx)
		return;
	if (t->ui.detail) {
		free(idx);
		detail(t, y, h);
		return;
	}
	n = visible(t, f, nf, idx);
	for (i = 0; t->ui.fsel.set && i < n; i++) {
		if (f[idx[i]].kind == t->ui.fsel.kind && !strcmp(f[idx[i]].model, t->ui.fsel.model) &&
		    !strcmp(f[idx[i]].stage, t->ui.fsel.stage)) {
			*sel = (int)i;
			break;
		}
	}
	t->ui.nrows[SCR_FINDINGS] = (int)n;
	if (*sel >= (int)n)
		*sel = n ? (int)n - 1 : 0;
	if (*sel < *top)
		*top = *sel;
	if (list > 1 && *sel >= *top + list - 1)
		*top = *sel - (list - 2);
	term_fill(y, 0, R_HEADER);
	term_printf(y, 0, COLS, R_HEADER, "%-4s %-18s %-24s %s", "SEV", "KIND", "WHERE",
		    "SINCE");
	if (!n)
		term_printf(y + 1, 2, COLS - 2, R_GOOD, "no findings (%zu windows analyzed)",
			    analyzer_windows(t->src.an));
	for (i = (size_t)*top, r = 1; i < n && r < list; i++) {
		const struct finding *x = &f[idx[i]];
		enum term_role role = (int)i == *sel ? R_SELECTED : R_NORMAL;

		where(x, w, sizeof(w));
		if (role == R_SELECTED)
			term_fill(y + r, 0, role);
		term_put(y + r, 0, 4, role == R_SELECTED ? role : ui_sev_role(x->severity),
			 ui_sev(x->severity));
		term_printf(y + r, 5, COLS - 5, role, "%-18.18s %-24.24s %.0fs%s",
			    finding_kind_name(x->kind), w, x->start_s,
			    x->transient ? " (gone)" : "");
		r++;
		if (r < list)
			term_put(y + r++, 5, COLS - 5, role == R_SELECTED ? R_INFO : R_DIM, x->title);
	}
	if (n) {
		const struct finding *x = &f[idx[*sel]];

		screen_findings_remember(t, x);
		if (x->nfixes) {
			fix_line(&x->fixes[0], fl, sizeof(fl));
			term_printf(y + h - 3, 0, COLS, R_INFO, "Fix: %s%s", fl,
				    x->nfixes > 1 ? "  (+ more: Enter)" : "");
		}
		term_put(y + h - 2, 0, COLS, R_DIM,
			 "Enter: evidence and fixes   a: apply the fix   r: roll back");
	}
	ui_apply_line(t, y + h - 1);
	free(idx);
}

void screen_findings_remember(struct top *t, const struct finding *f)
{
	t->ui.fsel.set = f != NULL;
	if (!f)
		return;
	t->ui.fsel.kind = f->kind;
	snprintf(t->ui.fsel.model, sizeof(t->ui.fsel.model), "%s", f->model);
	snprintf(t->ui.fsel.stage, sizeof(t->ui.fsel.stage), "%s", f->stage);
}

/* The finding under the cursor (for Enter and a), or NULL. */
const struct finding *screen_findings_selected(struct top *t)
{
	const struct finding *f, *x = NULL;
	size_t nf = source_findings(&t->src, &f), n;
	size_t *idx;

	if (t->ui.detail)
		return &t->ui.shown;
	idx = calloc(nf + 1, sizeof(*idx));
	if (!idx)
		return NULL;
	n = visible(t, f, nf, idx);
	if (t->ui.sel[SCR_FINDINGS] < (int)n)
		x = &f[idx[t->ui.sel[SCR_FINDINGS]]];
	free(idx);
	return x;
}
