// SPDX-License-Identifier: MIT
/*
 * The frame around the screens: title bar, screen tabs, status line, and
 * the overlays (help, apply confirmation).  Each frame is drawn whole into
 * stdscr and sent with one doupdate(), which transmits only the cells that
 * changed: no flicker, and little output at 1 Hz.
 */
#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tui/tui.h"

static const char *const screen_names[SCR_N] = {
	"Overview", "Stages", "Memory", "Findings",
};

/* What 's' cycles through, per screen; index 0 is the natural order. */
static const char *const sort_names[SCR_N][4] = {
	[SCR_OVERVIEW] = { "model", "qps", "p99", "errors" },
	[SCR_STAGES] = { "pipeline", "p99", "share", "cpu" },
	[SCR_MEMORY] = { "outstanding", "growth" },
	[SCR_FINDINGS] = { "severity", "time" },
};

int ui_nsorts(enum tui_screen s)
{
	int n = 0;

	while (n < 4 && sort_names[s][n])
		n++;
	return n;
}

const char *ui_sev(enum severity s)
{
	return s == SEV_CRITICAL ? "CRIT" : s == SEV_WARNING ? "WARN" : "INFO";
}

enum term_role ui_sev_role(enum severity s)
{
	return s == SEV_CRITICAL ? R_CRIT : s == SEV_WARNING ? R_WARN : R_INFO;
}

void ui_msg(struct top *t, const char *fmt, ...)
{
	va_list va;

	va_start(va, fmt);
	vsnprintf(t->ui.msg, sizeof(t->ui.msg), fmt, va);
	va_end(va);
}

bool ui_match(const struct top *t, const char *name)
{
	return !t->ui.filter[0] || strcasestr(name, t->ui.filter);
}

void ui_apply_line(struct top *t, int y)
{
	const struct apply *ap = &t->ap;
	enum term_role r = R_INFO;

	if (!ap->msg[0] || ap->state == AP_CONFIRM)
		return;
	if (ap->state == AP_DONE)
		r = ap->outcome == OUT_IMPROVED ? R_GOOD :
		    ap->outcome == OUT_WORSE || ap->outcome == OUT_FAILED ? R_CRIT : R_WARN;
	term_printf(y, 0, COLS, r, "%s %s", ap->state == AP_DONE ? "Apply:" : "Apply...",
		    ap->msg);
}

static void draw_title(struct top *t)
{
	const struct trace_meta *meta = t->src_open ? window_stream_meta(t->src.ws) : NULL;
	const struct snap *s = model_snap(&t->src.model, 0);
	char right[96], left[256];
	int rl;

	term_fill(0, 0, R_TITLE);
	if (t->live)
		snprintf(left, sizeof(left), " loupe top  pid %d  %s", (int)t->env.pid,
			 meta ? meta->cmdline : "");
	else
		snprintf(left, sizeof(left), " loupe top  %s  %s", t->env.file,
			 meta ? meta->cmdline : "");
	if (t->live)
		snprintf(right, sizeof(right), "%s  window %llu ",
			 !t->src_open ? "ATTACHING" :
			 t->rec_ended ? "ENDED" : "LIVE",
			 s ? (unsigned long long)s->index : 0ull);
	else
		snprintf(right, sizeof(right), "%s x%g  window %llu%s ",
			 t->playing ? (term_utf8() ? "\u25b6" : ">") :
				      (term_utf8() ? "\u23f8" : "||"),
			 t->speed, s ? (unsigned long long)s->index : 0ull,
			 t->src.ended ? " (end)" : "");
	rl = (int)strlen(right);
	term_put(0, 0, COLS - rl - 1, R_TITLE, left);
	term_put(0, COLS - rl > 0 ? COLS - rl : 0, COLS, R_TITLE, right);
}

static void draw_tabs(struct top *t)
{
	const struct finding *f;
	size_t nf = t->src_open ? source_findings(&t->src, &f) : 0;
	int x = 0, i;
	char buf[48];

	for (i = 0; i < SCR_N; i++) {
		if (i == SCR_FINDINGS && nf)
			snprintf(buf, sizeof(buf), " %d %s (%zu) ", i + 1, screen_names[i], nf);
		else
			snprintf(buf, sizeof(buf), " %d %s ", i + 1, screen_names[i]);
		term_put(1, x, COLS - x, (int)t->ui.screen == i ? R_TAB_ON : R_TAB, buf);
		x += (int)strlen(buf) + 1;
	}
	if (t->ui.filter[0] && !t->ui.editing) {
		term_printf(1, x, COLS - x, R_WARN, "filter: %s", t->ui.filter);
		x += (int)strlen(t->ui.filter) + 10;
	}
	if (t->ui.sort[t->ui.screen])
		term_printf(1, x, COLS - x, R_INFO, "sort: %s",
			    sort_names[t->ui.screen][t->ui.sort[t->ui.screen]]);
}

static void draw_status(struct top *t)
{
	int y = LINES - 1;
	char cpu[32];
	int cl;

	term_fill(y, 0, R_STATUS);
	if (t->ui.editing) {
		term_printf(y, 0, COLS, R_STATUS, " Filter: %s_   (Enter: keep, Esc: clear)",
			    t->ui.filter);
		return;
	}
	snprintf(cpu, sizeof(cpu), " top cpu %.1f%% ", t->cpu_pct);
	cl = (int)strlen(cpu);
	if (t->ui.msg[0])
		term_printf(y, 0, COLS - cl, R_STATUS, " %s", t->ui.msg);
	else if (t->live)
		term_put(y, 0, COLS - cl, R_STATUS,
			 " F1/? Help  Tab Screen  / Filter  s Sort  Enter Detail  a Apply  q Quit");
	else
		term_put(y, 0, COLS - cl, R_STATUS,
			 " ? Help  Space Play  +/- Speed  </> Seek  Tab Screen  / Filter  q Quit");
	term_put(y, COLS - cl > 0 ? COLS - cl : 0, cl, R_STATUS, cpu);
}

/* A centered box of LINES lines; returns its first row and column. */
static void box_at(int nl, int w, int *y, int *x)
{
	int i;

	if (w > COLS - 2)
		w = COLS - 2;
	*y = (LINES - nl) / 2;
	*x = (COLS - w) / 2;
	for (i = 0; i < nl; i++) {
		attrset(term_attr(R_DIALOG));
		mvhline(*y + i, *x, ' ' | term_attr(R_DIALOG), w);
		attrset(A_NORMAL);
	}
}

static void draw_confirm(struct top *t)
{
	const struct apply *ap = &t->ap;
	int y, x, w = 72;
	char label[160];

	if (w > COLS - 2)
		w = COLS - 2;
	box_at(8, w, &y, &x);
	term_put(y + 1, x + 2, w - 4, R_DIALOG, "Apply this fix?");
	term_printf(y + 2, x + 2, w - 4, R_DIALOG, "%s:", ap->path);
	term_printf(y + 3, x + 4, w - 6, R_DIALOG, "%s: %s %s %s", ap->fix.key,
		    ap->fix.from, term_arrow(), ap->fix.to);
	snprintf(label, sizeof(label), "then SIGHUP pid %d and compare %s%s%s over %d windows",
		 (int)ap->pid, ap->metric, ap->model[0] ? " of " : "", ap->model,
		 APPLY_AFTER);
	term_put(y + 4, x + 2, w - 4, R_DIALOG, label);
	term_put(y + 6, x + 2, w - 4, R_DIALOG, "[y] apply    [n] cancel");
}

static void draw_help(struct top *t)
{
	const char *const *names, *const *helps;
	size_t n = keys_help(t->live, &names, &helps), i;
	int y = 2, h = LINES - 3, col = 0, per;

	for (i = 2; (int)i < LINES - 1; i++)
		move((int)i, 0), clrtoeol();
	term_put(y++, 1, COLS - 2, R_HEADER,
		 t->live ? "loupe top - keys (live)" : "loupe top - keys (replay)");
	/* Two columns when the keys do not fit in one. */
	per = h - 2;
	for (i = 0; i < n; i++) {
		int row = (int)i % per, x = col * (COLS / 2);

		if (i && row == 0)
			x = ++col * (COLS / 2);
		term_printf(y + row, x + 1, 14, R_INFO, "%s", names[i]);
		term_printf(y + row, x + 15, (n > (size_t)per ? COLS / 2 : COLS) - 16,
			    R_NORMAL, "%s", helps[i]);
	}
	term_printf(LINES - 2, 1, COLS - 2, R_DIM,
		    "top's own CPU: %.2f %% of a core over the last 10 refreshes (getrusage)",
		    t->cpu_pct);
}

void ui_draw(struct top *t)
{
	int h = LINES - 3;

	erase();
	if (LINES < 10 || COLS < 40) {
		term_put(0, 0, COLS, R_WARN, "loupe top: terminal too small");
		wnoutrefresh(stdscr);
		doupdate();
		return;
	}
	draw_title(t);
	draw_tabs(t);
	if (!t->src_open) {
		term_printf(3, 2, COLS - 4, R_INFO,
			    "attaching to pid %d and waiting for the first window...",
			    (int)t->env.pid);
	} else {
		switch (t->ui.screen) {
		case SCR_OVERVIEW: screen_overview(t, 2, h); break;
		case SCR_STAGES: screen_stages(t, 2, h); break;
		case SCR_MEMORY: screen_memory(t, 2, h); break;
		default: screen_findings(t, 2, h); break;
		}
	}
	if (t->ui.help)
		draw_help(t);
	if (t->ap.state == AP_CONFIRM)
		draw_confirm(t);
	draw_status(t);
	wnoutrefresh(stdscr);
	doupdate();
}
