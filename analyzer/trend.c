// SPDX-License-Identifier: MIT
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/trend.h"

void trend_fit(const double *x, const double *y, size_t from, size_t to,
		double *slope, double *t)
{
	double n = to - from, mx = 0, my = 0, sxx = 0, sxy = 0, sse = 0, e, se;
	size_t i;

	*slope = *t = 0;
	if (n < 3)
		return;
	for (i = from; i < to; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= n;
	my /= n;
	for (i = from; i < to; i++) {
		sxx += (x[i] - mx) * (x[i] - mx);
		sxy += (x[i] - mx) * (y[i] - my);
	}
	if (sxx <= 0)
		return;
	*slope = sxy / sxx;
	for (i = from; i < to; i++) {
		e = y[i] - my - *slope * (x[i] - mx);
		sse += e * e;
	}
	se = sqrt(sse / (n - 2) / sxx);
	/* A perfectly straight line: as significant as it gets. */
	*t = se > 0 ? *slope / se : (*slope > 0 ? 1e9 : 0);
}


static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double trend_median(const double *v, size_t n)
{
	double *c, m;

	if (!n)
		return 0;
	c = malloc(n * sizeof(*c));
	if (!c)
		return v[n / 2];
	memcpy(c, v, n * sizeof(*c));
	qsort(c, n, sizeof(*c), cmp_double);
	m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	free(c);
	return m;
}

void trend_mean_var(const double *v, size_t n, double *mean, double *var)
{
	double m = 0, s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		m += v[i];
	m = n ? m / n : 0;
	for (i = 0; i < n; i++)
		s += (v[i] - m) * (v[i] - m);
	*mean = m;
	*var = n > 1 ? s / (n - 1) : 0;
}

double trend_welch_t(const double *a, size_t na, const double *b, size_t nb)
{
	double ma, va, mb, vb, se;

	if (na < 2 || nb < 2)
		return 0;
	trend_mean_var(a, na, &ma, &va);
	trend_mean_var(b, nb, &mb, &vb);
	se = sqrt(va / na + vb / nb);
	if (se > 0)
		return (mb - ma) / se;
	return mb > ma ? 1e9 : mb < ma ? -1e9 : 0;
}
