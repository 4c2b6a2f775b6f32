// SPDX-License-Identifier: MIT
/* Sparklines: one cell per window, eight levels (or five in ASCII). */
#include <string.h>

#include "tui/tui.h"

size_t sparkline(char *buf, size_t len, const double *v, size_t n, double hi,
		 bool utf8)
{
	/* U+2581..U+2588, three bytes each in UTF-8. */
	static const char *const blocks[] = {
		"\u2581", "\u2582", "\u2583", "\u2584",
		"\u2585", "\u2586", "\u2587", "\u2588",
	};
	static const char ascii[] = "_.-=#";
	size_t i, used = 0, cells = 0;

	if (!len)
		return 0;
	if (hi <= 0)
		for (i = 0; i < n; i++)
			if (v[i] > hi)
				hi = v[i];
	for (i = 0; i < n; i++) {
		const char *cell;
		char one[2] = { 0, 0 };
		size_t cl;
		int lv;

		if (v[i] < 0) {
			cell = " ";
		} else if (utf8) {
			/* Any non-zero value shows at least the lowest bar,
			 * so "little" and "none" (a blank-free zero) differ. */
			lv = hi > 0 ? (int)(v[i] / hi * 8) : 0;
			if (lv > 7)
				lv = 7;
			cell = blocks[lv];
		} else {
			lv = hi > 0 ? (int)(v[i] / hi * 5) : 0;
			if (lv > 4)
				lv = 4;
			one[0] = ascii[lv];
			cell = one;
		}
		cl = strlen(cell);
		if (used + cl + 1 > len)
			break;
		memcpy(buf + used, cell, cl);
		used += cl;
		cells++;
	}
	buf[used] = 0;
	return cells;
}
