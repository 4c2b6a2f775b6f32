// SPDX-License-Identifier: MIT
/* Sparklines: one cell per window, eight levels (or five in ASCII). */
#include <string.h>

#include "tui/tui.h"

size_t sparkline(char *buf, size_t len, const double *v, size_t n,
		 enum spark_scale scale, bool utf8)
{
	/* U+2581..U+2588, three bytes each in UTF-8. */
	static const char *const blocks[] = {
		"\u2581", "\u2582", "\u2583", "\u2584",
		"\u2585", "\u2586", "\u2587", "\u2588",
	};
	static const char ascii[] = "_.-=#";
	double lo = 0, hi = 0;
	bool any = false;
	size_t i, used = 0, cells = 0;

	if (!len)
		return 0;
	for (i = 0; i < n; i++) {
		if (v[i] < 0)
			continue;
		if (!any || v[i] > hi)
			hi = v[i];
		if (scale == SPARK_RANGE && (!any || v[i] < lo))
			lo = v[i];
		any = true;
	}
	for (i = 0; i < n; i++) {
		const char *cell;
		char one[2] = { 0, 0 };
		double x = hi > lo ? (v[i] - lo) / (hi - lo) : 0;
		size_t cl;
		int lv;

		if (v[i] < 0) {
			cell = " ";
		} else if (utf8) {
			lv = (int)(x * 8);
			cell = blocks[lv > 7 ? 7 : lv];
		} else {
			lv = (int)(x * 5);
			one[0] = ascii[lv > 4 ? 4 : lv];
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
