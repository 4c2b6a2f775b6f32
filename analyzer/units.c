// SPDX-License-Identifier: MIT
#include <stdio.h>

#include "analyzer/units.h"

char *units_ns(char *buf, size_t len, __u64 ns)
{
	static const char *const unit[] = { "us", "ms", "s" };
	double v = ns / 1e3;
	int u = 0;

	if (ns < 1000) {
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
		return buf;
	}
	/* Move up a unit before %.3g would print 1e+03. */
	while (v >= 999.5 && u < 2) {
		v /= 1e3;
		u++;
	}
	/* Three significant digits, keeping trailing zeros ("1.00ms"). */
	snprintf(buf, len, "%.*f%s", v < 10 ? 2 : v < 100 ? 1 : 0, v, unit[u]);
	return buf;
}

char *units_bytes(char *buf, size_t len, __u64 bytes)
{
	if (bytes < 1024)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else if (bytes < 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", bytes / 1024.0);
	else if (bytes < 1024ull * 1024 * 1024)
		snprintf(buf, len, "%.2f MiB", bytes / 1048576.0);
	else
		snprintf(buf, len, "%.2f GiB", bytes / 1073741824.0);
	return buf;
}
