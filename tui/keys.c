// SPDX-License-Identifier: MIT
/*
 * Keys: one table maps keys to actions (htop's habits, F-keys as aliases);
 * each action returns what to redraw.  Modal states (the apply dialog, the
 * filter prompt, the help screen) take keys before the table does.
 */
#include <curses.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tui/tui.h"

#define KEY_ESC 27
#define KEY_TAB '\t'
#define CTRL(c) ((c) & 0x1f)

enum { W_ANY, W_LIVE, W_REPLAY };

struct binding {
	int keys[4];		/* 0-terminated when fewer */
	int when;
	const char *names;
	const char *help;
	int (*fn)(struct top *t, int ch);
};

static void msg(struct top *t, const char *s)
{
	ui_msg(t, "%s", s);
}

static int act_quit(struct top *t, int ch)
{
	(void)t;
	(void)ch;
	return K_QUIT;
}

static int act_help(struct top *t, int ch)
{
	(void)ch;
	t->ui.help = !t->ui.help;
	return K_REDRAW;
}

static int act_screen(struct top *t, int ch)
{
	int s = t->ui.screen;

	if (ch == KEY_TAB)
		s = (s + 1) % SCR_N;
	else if (ch == KEY_BTAB)
		s = (s + SCR_N - 1) % SCR_N;
	else
		s = ch - '1';
	t->ui.screen = (enum tui_screen)s;
	t->ui.detail = false;
	return K_REDRAW;
}

static int act_move(struct top *t, int ch)
{
	int *sel = &t->ui.sel[t->ui.screen], n = t->ui.nrows[t->ui.screen];
	int page = LINES > 8 ? LINES / 2 - 2 : 1;

	if (t->ui.screen == SCR_FINDINGS && t->ui.detail) {
		sel = &t->ui.fix_sel;
		n = (int)t->ui.shown.nfixes;
	}
	switch (ch) {
	case KEY_UP: case 'k': (*sel)--; break;
	case KEY_DOWN: case 'j': (*sel)++; break;
	case KEY_PPAGE: *sel -= page; break;
	case KEY_NPAGE: *sel += page; break;
	case KEY_HOME: *sel = 0; break;
	case KEY_END: *sel = n - 1; break;
	}
	if (*sel >= n)
		*sel = n - 1;
	if (*sel < 0)
		*sel = 0;
	if (t->ui.screen == SCR_FINDINGS && !t->ui.detail) {
		t->ui.fsel.set = false;	/* select by position, then remember */
		screen_findings_remember(t, screen_findings_selected(t));
	}
	return K_REDRAW;
}

static int act_enter(struct top *t, int ch)
{
	const struct finding *f;
	size_t i;

	(void)ch;
	switch (t->ui.screen) {
	case SCR_OVERVIEW:
		/* Drill down: the model's stages. */
		if (!t->ui.ov_model[0])
			return 0;
		snprintf(t->ui.filter, sizeof(t->ui.filter), "%s", t->ui.ov_model);
		t->ui.screen = SCR_STAGES;
		t->ui.sel[SCR_STAGES] = 0;
		return K_REDRAW;
	case SCR_FINDINGS:
		if (t->ui.detail)
			return 0;
		f = screen_findings_selected(t);
		if (!f)
			return 0;
		t->ui.shown = *f;
		t->ui.detail = true;
		/* Preselect the first fix that apply can carry out. */
		t->ui.fix_sel = 0;
		for (i = 0; i < f->nfixes; i++) {
			if (f->fixes[i].key[0] && f->fixes[i].key[0] != '@') {
				t->ui.fix_sel = (int)i;
				break;
			}
		}
		return K_REDRAW;
	default:
		return 0;
	}
}

static int act_back(struct top *t, int ch)
{
	(void)ch;
	t->ui.detail = false;
	t->ui.msg[0] = 0;
	return K_REDRAW;
}

static int act_filter(struct top *t, int ch)
{
	(void)ch;
	t->ui.editing = true;
	return K_REDRAW;
}

static int act_sort(struct top *t, int ch)
{
	int n = ui_nsorts(t->ui.screen);

	(void)ch;
	t->ui.sort[t->ui.screen] = n ? (t->ui.sort[t->ui.screen] + 1) % n : 0;
	return K_REDRAW;
}

static int act_apply(struct top *t, int ch)
{
	const struct finding *f;
	size_t fix = 0, i;

	(void)ch;
	if (t->ui.screen != SCR_FINDINGS) {
		msg(t, "apply: select a finding on the Findings screen (4) first");
		return K_REDRAW;
	}
	f = screen_findings_selected(t);
	if (!f) {
		msg(t, "apply: no finding selected");
		return K_REDRAW;
	}
	if (t->ui.detail) {
		fix = (size_t)t->ui.fix_sel;
	} else {
		for (i = 0; i < f->nfixes; i++) {
			if (f->fixes[i].key[0] && f->fixes[i].key[0] != '@') {
				fix = i;
				break;
			}
		}
	}
	if (apply_prepare(&t->ap, f, fix,
			  t->src_open ? window_stream_config(t->src.ws, "config_file") : NULL,
			  t->live ? t->env.pid : 0))
		msg(t, t->ap.msg);
	return K_REDRAW;
}

static int act_rollback(struct top *t, int ch)
{
	(void)ch;
	if (!apply_can_rollback(&t->ap))
		msg(t, t->ap.state == AP_DONE && t->ap.outcome == OUT_IMPROVED ?
			       "rollback: the fix improved things; nothing rolled back" :
			       "rollback: no applied fix to roll back");
	else if (apply_rollback(&t->ap, &t->src.model))
		msg(t, t->ap.msg);
	return K_REDRAW;
}

static int act_redraw(struct top *t, int ch)
{
	(void)t;
	(void)ch;
	clearok(curscr, TRUE);
	return K_REDRAW;
}

/* ---- replay ---- */

static int act_play(struct top *t, int ch)
{
	(void)ch;
	if (t->src.ended && !t->playing) {
		msg(t, "end of the trace: < or Home to go back");
		return K_REDRAW;
	}
	t->playing = !t->playing;
	return K_REDRAW;
}

static int act_speed(struct top *t, int ch)
{
	if (ch == '+' || ch == '=')
		t->speed = t->speed < 64 ? t->speed * 2 : 64;
	else
		t->speed = t->speed > 0.125 ? t->speed / 2 : 0.125;
	return K_REDRAW;
}

static int seek(struct top *t, __u64 target)
{
	int err = source_seek(&t->src, target);

	if (err)
		ui_msg(t, "seek: %s", strerror(-err));
	return K_REDRAW;
}

static int act_seek(struct top *t, int ch)
{
	__u64 fed = t->src.fed;

	switch (ch) {
	case '<': case ',':
		return seek(t, fed > 11 ? fed - 10 : 1);
	case '>': case '.':
		return seek(t, fed + 10);
	case KEY_HOME:
		return seek(t, 1);
	default: /* KEY_END */
		source_step(&t->src, 0);
		return K_REDRAW;
	}
}

static const struct binding table[] = {
	{ { '?', 'h', KEY_F(1) }, W_ANY, "?, h, F1", "this help", act_help },
	{ { 'q', KEY_F(10) }, W_ANY, "q, F10", "quit (a live recording is finished first)", act_quit },
	{ { KEY_TAB, KEY_BTAB }, W_ANY, "Tab, S-Tab", "next / previous screen", act_screen },
	{ { '1', '2', '3', '4' }, W_ANY, "1 2 3 4", "overview, stages, memory, findings", act_screen },
	{ { KEY_UP, KEY_DOWN, 'k', 'j' }, W_ANY, "Up, Down", "select a row (a fix, in a finding)", act_move },
	{ { KEY_PPAGE, KEY_NPAGE }, W_ANY, "PgUp, PgDn", "move by half a screen", act_move },
	{ { KEY_HOME, KEY_END }, W_LIVE, "Home, End", "first / last row", act_move },
	{ { '\r', '\n', KEY_ENTER }, W_ANY, "Enter", "a finding's evidence and fixes; a model's stages", act_enter },
	{ { KEY_ESC, KEY_BACKSPACE, KEY_LEFT, 127 }, W_ANY, "Esc, Left", "back to the list", act_back },
	{ { '/', KEY_F(3), KEY_F(4) }, W_ANY, "/, F3, F4", "filter by name (models, stages, functions, findings)", act_filter },
	{ { 's', KEY_F(6) }, W_ANY, "s, F6", "change the sort order", act_sort },
	{ { 'a' }, W_LIVE, "a", "apply the selected fix (asks first), then verify it", act_apply },
	{ { 'r' }, W_LIVE, "r", "roll back the last applied fix", act_rollback },
	{ { ' ' }, W_REPLAY, "Space", "play / pause", act_play },
	{ { '+', '=', '-' }, W_REPLAY, "+, -", "play faster / slower (x2, /2)", act_speed },
	{ { '<', ',', '>', '.' }, W_REPLAY, "<, >", "seek back / forward 10 windows", act_seek },
	{ { KEY_HOME, KEY_END }, W_REPLAY, "Home, End", "seek to the first / last window", act_seek },
	{ { CTRL('l') }, W_ANY, "Ctrl-L", "redraw the screen", act_redraw },
};

#define NBIND (sizeof(table) / sizeof(table[0]))

size_t keys_help(bool live, const char *const **names, const char *const **helps)
{
	static const char *n[NBIND], *h[NBIND];
	size_t i, k = 0;

	for (i = 0; i < NBIND; i++) {
		if (table[i].when != W_ANY && (table[i].when == W_LIVE) != live)
			continue;
		n[k] = table[i].names;
		h[k++] = table[i].help;
	}
	*names = n;
	*helps = h;
	return k;
}

static int confirm_key(struct top *t, int ch)
{
	switch (ch) {
	case 'y': case 'Y':
		if (apply_confirm(&t->ap, &t->src.model))
			msg(t, t->ap.msg);
		return K_REDRAW;
	case 'n': case 'N': case 'q': case KEY_ESC:
		apply_cancel(&t->ap);
		msg(t, t->ap.msg);
		return K_REDRAW;
	default:
		return 0;
	}
}

static int filter_key(struct top *t, int ch)
{
	size_t l = strlen(t->ui.filter);

	switch (ch) {
	case '\r': case '\n': case KEY_ENTER:
		t->ui.editing = false;
		break;
	case KEY_ESC:
		t->ui.filter[0] = 0;
		t->ui.editing = false;
		break;
	case KEY_BACKSPACE: case 127: case 8:
		if (l)
			t->ui.filter[l - 1] = 0;
		break;
	default:
		if (ch >= 32 && ch < 127 && l + 1 < sizeof(t->ui.filter)) {
			t->ui.filter[l] = (char)ch;
			t->ui.filter[l + 1] = 0;
		}
	}
	/* The view follows the typing; selections start over. */
	memset(t->ui.sel, 0, sizeof(t->ui.sel));
	memset(t->ui.scroll, 0, sizeof(t->ui.scroll));
	return K_REDRAW;
}

int keys_handle(struct top *t, int ch)
{
	size_t i, k;
	int when = t->live ? W_LIVE : W_REPLAY;

	if (ch == KEY_RESIZE)
		return K_REDRAW;
	if (t->ap.state == AP_CONFIRM)
		return confirm_key(t, ch);
	if (t->ui.editing)
		return filter_key(t, ch);
	t->ui.msg[0] = 0;
	if (t->ui.help) {
		/* Any key closes help; q closes it, not the program. */
		t->ui.help = false;
		return K_REDRAW;
	}
	for (i = 0; i < NBIND; i++) {
		if (table[i].when != W_ANY && table[i].when != when)
			continue;
		for (k = 0; k < 4 && table[i].keys[k]; k++)
			if (table[i].keys[k] == ch)
				return table[i].fn(t, ch) | K_REDRAW;
	}
	if (!t->live && (ch == 'a' || ch == 'r'))
		msg(t, "replay: fixes are applied live (loupe top -p PID)");
	return K_REDRAW;
}
