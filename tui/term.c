// SPDX-License-Identifier: MIT
/*
 * The terminal: set-up, attributes per role, and tear-down in one place, so
 * that every way out (quit, error, exit(), a fatal signal) restores it.
 * Colors only where the terminal has them (and NO_COLOR is unset); on a
 * monochrome terminal roles fall back to bold / reverse / underline.
 */
#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "tui/tui.h"

static SCREEN *scr;
static bool active, utf8, color;
static int attrs[R_N];

bool term_active(void) { return active; }
bool term_utf8(void) { return utf8; }
bool term_color(void) { return color; }
int term_attr(enum term_role r) { return attrs[r]; }
const char *term_arrow(void) { return utf8 ? "\u2192" : "->"; }

void term_end(void)
{
	if (!active)
		return;
	active = false;
	curs_set(1);
	endwin();
	/* delscreen() frees; skip it from a signal handler's path: endwin()
	 * already gave the terminal back, the process is about to end. */
}

static void on_fatal(int sig)
{
	term_end();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void setup_attrs(void)
{
	/* fg, bg per role; -1 = the terminal's default. */
	static const short pairs[R_N][2] = {
		[R_NORMAL] = { -1, -1 },
		[R_TITLE] = { COLOR_BLACK, COLOR_CYAN },
		[R_TAB] = { -1, -1 },
		[R_TAB_ON] = { COLOR_BLACK, COLOR_GREEN },
		[R_HEADER] = { COLOR_BLACK, COLOR_GREEN },
		[R_SELECTED] = { COLOR_BLACK, COLOR_CYAN },
		[R_CRIT] = { COLOR_RED, -1 },
		[R_WARN] = { COLOR_YELLOW, -1 },
		[R_INFO] = { COLOR_CYAN, -1 },
		[R_GOOD] = { COLOR_GREEN, -1 },
		[R_DIM] = { -1, -1 },
		[R_SPARK] = { COLOR_CYAN, -1 },
		[R_STATUS] = { COLOR_BLACK, COLOR_CYAN },
		[R_DIALOG] = { COLOR_WHITE, COLOR_BLUE },
	};
	static const int mono[R_N] = {
		[R_NORMAL] = A_NORMAL,
		[R_TITLE] = A_REVERSE | A_BOLD,
		[R_TAB] = A_NORMAL,
		[R_TAB_ON] = A_REVERSE,
		[R_HEADER] = A_BOLD | A_UNDERLINE,
		[R_SELECTED] = A_REVERSE,
		[R_CRIT] = A_BOLD,
		[R_WARN] = A_BOLD,
		[R_INFO] = A_NORMAL,
		[R_GOOD] = A_NORMAL,
		[R_DIM] = A_DIM,
		[R_SPARK] = A_NORMAL,
		[R_STATUS] = A_REVERSE,
		[R_DIALOG] = A_REVERSE,
	};
	int i;

	color = has_colors() && !getenv("NO_COLOR") && start_color() == OK;
	if (color)
		use_default_colors();
	for (i = 0; i < R_N; i++) {
		attrs[i] = mono[i];
		if (!color || i == R_NORMAL)
			continue;
		init_pair(i, pairs[i][0], pairs[i][1]);
		attrs[i] = COLOR_PAIR(i);
		if (i == R_CRIT || i == R_TITLE || i == R_TAB_ON)
			attrs[i] |= A_BOLD;
	}
	attrs[R_DIM] = A_DIM;
}

int term_init(void)
{
	static bool registered;
	const char *cs;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return -ENOTTY;
	setlocale(LC_ALL, "");
	cs = nl_langinfo(CODESET);
	utf8 = cs && !strcmp(cs, "UTF-8");
	/* newterm, not initscr: an unknown TERM is an error we report,
	 * where initscr would exit on its own. */
	scr = newterm(NULL, stdout, stdin);
	if (!scr)
		return -EINVAL;
	active = true;
	if (!registered) {
		registered = true;
		atexit(term_end);
		signal(SIGABRT, on_fatal);
		signal(SIGBUS, on_fatal);
		signal(SIGFPE, on_fatal);
		signal(SIGILL, on_fatal);
#ifndef __SANITIZE_ADDRESS__
		/* ASan reports SIGSEGV itself; its handler must stay. */
		signal(SIGSEGV, on_fatal);
#endif
	}
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	setup_attrs();
	return 0;
}

/* Bytes of S that fit in N columns. */
static size_t fit(const char *s, int n)
{
	mbstate_t st;
	size_t off = 0, len = strlen(s);
	int cols = 0;

	if (!utf8)
		return len < (size_t)(n > 0 ? n : 0) ? len : (size_t)(n > 0 ? n : 0);
	memset(&st, 0, sizeof(st));
	while (off < len) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s + off, len - off, &st);
		int w;

		if (k == (size_t)-1 || k == (size_t)-2) {
			k = 1;
			w = 1;
			memset(&st, 0, sizeof(st));
		} else {
			if (k == 0)
				break;
			w = wcwidth(wc);
			if (w < 0)
				w = 1;
		}
		if (cols + w > n)
			break;
		cols += w;
		off += k;
	}
	return off;
}

void term_put(int y, int x, int n, enum term_role r, const char *s)
{
	int maxn = COLS - x;

	if (y < 0 || y >= LINES || x < 0 || x >= COLS)
		return;
	if (n < 0 || n > maxn)
		n = maxn;
	attrset(attrs[r]);
	mvaddnstr(y, x, s, (int)fit(s, n));
	attrset(A_NORMAL);
}

void term_printf(int y, int x, int n, enum term_role r, const char *fmt, ...)
{
	char buf[1024];
	va_list va;

	va_start(va, fmt);
	vsnprintf(buf, sizeof(buf), fmt, va);
	va_end(va);
	term_put(y, x, n, r, buf);
}

void term_fill(int y, int x, enum term_role r)
{
	if (y < 0 || y >= LINES || x >= COLS)
		return;
	mvhline(y, x, ' ' | attrs[r], COLS - x);
}
