// SPDX-License-Identifier: MIT
/*
 * Two-sample statistics for loupe diff / gate: Mann-Whitney U (exact and
 * normal), Hodges-Lehmann shift, variance inflation for windows grouped in
 * runs, a run-then-block bootstrap, Holm's adjustment.  See stats.h.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/stats.h"

double stats_norm_sf(double z)
{
	return 0.5 * erfc(z / M_SQRT2);
}

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return a < b ? -1 : a > b;
}

/* Hoare-style quickselect: afterwards v[k] is the k-th smallest and
 * everything before it is <= v[k]. */
static double select_kth(double *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		double pivot = v[lo + (hi - lo) / 2];
		size_t i = lo, j = hi;

		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				double t = v[i];

				v[i] = v[j];
				v[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return v[k];
}

/* Median of V (reordered). */
static double median_inplace(double *v, size_t n)
{
	double hi, lo;
	size_t i;

	if (!n)
		return NAN;
	hi = select_kth(v, n, n / 2);
	if (n & 1)
		return hi;
	lo = v[0];
	for (i = 1; i < n / 2; i++)
		if (v[i] > lo)
			lo = v[i];
	return (lo + hi) / 2;
}

double stats_median(const double *v, size_t n)
{
	double *tmp, m;

	if (!n)
		return NAN;
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return NAN;
	memcpy(tmp, v, n * sizeof(*tmp));
	m = median_inplace(tmp, n);
	free(tmp);
	return m;
}

double stats_quantile(const double *v, size_t n, double q)
{
	double *tmp, x, f, r;
	size_t i;

	if (!n)
		return NAN;
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return NAN;
	memcpy(tmp, v, n * sizeof(*tmp));
	qsort(tmp, n, sizeof(*tmp), cmp_double);
	x = q * (n - 1);
	f = floor(x);
	i = (size_t)f;
	r = i + 1 < n ? tmp[i] + (x - f) * (tmp[i + 1] - tmp[i]) : tmp[n - 1];
	free(tmp);
	return r;
}

double stats_trimmed_mean(const double *v, size_t n, double frac)
{
	double *tmp, sum = 0;
	size_t cut, i;

	if (!n)
		return NAN;
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return NAN;
	memcpy(tmp, v, n * sizeof(*tmp));
	qsort(tmp, n, sizeof(*tmp), cmp_double);
	cut = (size_t)(frac * n);
	if (2 * cut >= n)
		cut = (n - 1) / 2;
	for (i = cut; i < n - cut; i++)
		sum += tmp[i];
	free(tmp);
	return sum / (n - 2 * cut);
}

struct ranked {
	double v;
	size_t i;
};

static int cmp_ranked(const void *pa, const void *pb)
{
	const struct ranked *a = pa, *b = pb;

	if (a->v != b->v)
		return a->v < b->v ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

/* Mid-ranks (1-based) of V into RANK; *TIES = sum of t^3 - t over tie
 * groups.  0 or -ENOMEM. */
static int rank_values(const double *v, size_t n, double *rank, double *ties)
{
	struct ranked *s = malloc(n * sizeof(*s));
	size_t i, j, k;

	if (!s)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		s[i].v = v[i];
		s[i].i = i;
	}
	qsort(s, n, sizeof(*s), cmp_ranked);
	*ties = 0;
	for (i = 0; i < n; i = j) {
		double t;

		for (j = i + 1; j < n && s[j].v == s[i].v; j++)
			;
		t = (double)(j - i);
		for (k = i; k < j; k++)
			rank[s[k].i] = (i + 1 + j) / 2.0;
		*ties += t * t * t - t;
	}
	free(s);
	return 0;
}

/*
 * Both tails of an exact null distribution given as counts C[0..MAX] by
 * statistic value: P(X >= X0) and P(X <= X0).
 */
static void null_tails(const long long *c, size_t max, double x0,
		       double *p_ge, double *p_le)
{
	long double total = 0, ge = 0, le = 0;
	size_t k;

	for (k = 0; k <= max; k++) {
		total += c[k];
		if ((double)k >= x0 - 1e-9)
			ge += c[k];
		if ((double)k <= x0 + 1e-9)
			le += c[k];
	}
	*p_ge = (double)(ge / total);
	*p_le = (double)(le / total);
}

/*
 * Null distribution of U for sizes M and N without ties: the coefficients
 * of the Gaussian binomial [M+N choose M]_q, built as the product of
 * (1 - q^(N+i)) / (1 - q^i), i = 1..M.  Every intermediate is a polynomial
 * with integer coefficients no larger than twice C(M+N, M), exact in 64
 * bits for M N <= STATS_MW_EXACT_MAX.
 */
static int mw_exact(size_t m, size_t n, double u, double *p_ge, double *p_le)
{
	size_t deg = 0, maxdeg = m * n, i, k;
	long long *c = calloc(maxdeg + n + m + 1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c[0] = 1;
	for (i = 1; i <= m; i++) {
		size_t j = n + i;

		/* times (1 - q^j) */
		for (k = deg + j; k >= j; k--)
			c[k] -= c[k - j];
		deg += j;
		/* divided by (1 - q^i): c'[k] = c[k] + c'[k - i] */
		for (k = i; k <= deg; k++)
			c[k] += c[k - i];
		deg -= i;
	}
	null_tails(c, maxdeg, u, p_ge, p_le);
	free(c);
	return 0;
}

int stats_mann_whitney(const double *a, size_t na, const double *b, size_t nb,
		       double var_factor, struct mw_result *r)
{
	size_t n = na + nb, i;
	double *v, *rank, ties, rb = 0, mu, var;
	int err;

	memset(r, 0, sizeof(*r));
	if (!na || !nb)
		return -EINVAL;
	if (!(var_factor >= 1))
		var_factor = 1;
	v = malloc(2 * n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	rank = v + n;
	memcpy(v, a, na * sizeof(*v));
	memcpy(v + na, b, nb * sizeof(*v));
	err = rank_values(v, n, rank, &ties);
	if (err) {
		free(v);
		return err;
	}
	for (i = na; i < n; i++)
		rb += rank[i];
	free(v);
	r->u = rb - nb * (nb + 1) / 2.0;
	r->prob_greater = r->u / ((double)na * nb);
	mu = na * (double)nb / 2;
	r->mean = mu;
	r->var = na * (double)nb / 12 *
		 ((n + 1) - ties / ((double)n * (n - 1))) * var_factor;

	if (ties == 0 && var_factor == 1 && na * nb <= STATS_MW_EXACT_MAX) {
		err = mw_exact(na < nb ? na : nb, na < nb ? nb : na, r->u,
			       &r->p_greater, &r->p_less);
		if (err)
			return err;
		r->exact = true;
	} else {
		var = r->var;
		if (var <= 0) {
			/* every value equal: no evidence either way */
			r->p_greater = r->p_less = 1;
		} else {
			double sd = sqrt(var);

			r->z = (r->u - mu) / sd;
			r->p_greater = stats_norm_sf((r->u - mu - 0.5) / sd);
			r->p_less = stats_norm_sf((mu - r->u - 0.5) / sd);
		}
	}
	r->p_two = 2 * (r->p_greater < r->p_less ? r->p_greater : r->p_less);
	if (r->p_two > 1)
		r->p_two = 1;
	return 0;
}

/* HL shift with caller scratch of na * nb doubles. */
static double hl_scratch(const double *a, size_t na, const double *b,
			 size_t nb, double *d)
{
	size_t i, j, k = 0;

	for (i = 0; i < na; i++)
		for (j = 0; j < nb; j++)
			d[k++] = b[j] - a[i];
	return median_inplace(d, k);
}

int stats_hodges_lehmann(const double *a, size_t na, const double *b,
			 size_t nb, double *shift)
{
	double *d;

	if (!na || !nb)
		return -EINVAL;
	d = malloc(na * nb * sizeof(*d));
	if (!d)
		return -ENOMEM;
	*shift = hl_scratch(a, na, b, nb, d);
	free(d);
	return 0;
}

size_t stats_side_count(const struct stats_side *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->nruns; i++)
		n += s->run_len[i];
	return n;
}

/*
 * One run of ranks centred on its own mean: adds its lag-1 cross products
 * to *NUM, its squares to *DEN and its lag-1 pairs to *PAIRS.  Returns
 * the run's mean.
 */
static double run_lag1(const double *rank, size_t len, double *num,
		       double *den, size_t *pairs)
{
	double m = 0;
	size_t t;

	for (t = 0; t < len; t++)
		m += rank[t];
	m = len ? m / len : 0;
	for (t = 0; t < len; t++) {
		double c = rank[t] - m;

		*den += c * c;
		if (t + 1 < len) {
			*num += c * (rank[t + 1] - m);
			++*pairs;
		}
	}
	return m;
}

/*
 * The lag-1 autocorrelation from run_lag1()'s sums over runs of mean
 * length MEAN_LEN, 0 with fewer than 5 pairs.  The estimate from short
 * series centred on their own mean is biased low by about (1 + 4 rho) / m
 * (Marriott and Pope, 1954): added back, then clamped to [0, 0.8].
 */
static double lag1_rho(double num, double den, size_t pairs, double mean_len)
{
	double rho;

	if (pairs < 5 || den <= 0)
		return 0;
	rho = num / den;
	rho += (1 + 4 * rho) / mean_len;
	return rho < 0 ? 0 : rho > 0.8 ? 0.8 : rho;
}

double stats_variance_factor(const struct stats_side *a,
			     const struct stats_side *b, double *rho_out,
			     double *icc_out)
{
	const struct stats_side *side[2] = { a, b };
	size_t na = stats_side_count(a), nb = stats_side_count(b);
	size_t n = na + nb, s, i, off, pairs = 0, runs = 0;
	double *v, *rank, ties, num = 0, den = 0, rho, icc = 0;
	double ssb = 0, dfb = 0, dfw = 0, sum_n2 = 0, nsum = 0;
	double factor;

	if (rho_out)
		*rho_out = 0;
	if (icc_out)
		*icc_out = 0;
	if (n < 4)
		return 1;
	v = malloc(2 * n * sizeof(*v));
	if (!v)
		return 1;
	rank = v + n;
	if (na)
		memcpy(v, a->v, na * sizeof(*v));
	if (nb)
		memcpy(v + na, b->v, nb * sizeof(*v));
	if (rank_values(v, n, rank, &ties)) {
		free(v);
		return 1;
	}
	off = 0;
	for (s = 0; s < 2; s++) {
		const struct stats_side *sd = side[s];
		size_t side_off = off, side_n = stats_side_count(sd);
		double side_mean = 0, side_sum_n2 = 0;

		for (i = 0; i < side_n; i++)
			side_mean += rank[side_off + i];
		side_mean /= side_n ? side_n : 1;
		for (i = 0; i < sd->nruns; i++) {
			size_t len = sd->run_len[i];
			double m = run_lag1(rank + off, len, &num, &den, &pairs);

			ssb += len * (m - side_mean) * (m - side_mean);
			side_sum_n2 += (double)len * len;
			off += len;
			runs++;
		}
		if (sd->nruns >= 2) {
			dfb += sd->nruns - 1;
			dfw += side_n - sd->nruns;
			/* n0 of the unbalanced one-way ANOVA, summed over sides */
			sum_n2 += side_n - side_sum_n2 / side_n;
			nsum += sd->nruns - 1;
		} else {
			/* one run: its spread still counts as within-run */
			dfw += side_n ? side_n - 1 : 0;
		}
	}
	free(v);
	rho = lag1_rho(num, den, pairs, (double)n / runs);
	if (dfb > 0 && dfw > 0) {
		/* within-run sum of squares: the centred lag-0 sum */
		double msb = ssb / dfb, msw = den / dfw, n0 = sum_n2 / nsum;

		if (msb + (n0 - 1) * msw > 0)
			icc = (msb - msw) / (msb + (n0 - 1) * msw);
		if (icc < 0)
			icc = 0;
		if (icc > 1)
			icc = 1;
	}
	factor = (1 + rho) / (1 - rho) * (1 + ((double)n / runs - 1) * icc);
	if (rho_out)
		*rho_out = rho;
	if (icc_out)
		*icc_out = icc;
	return factor < 1 ? 1 : factor;
}

/* splitmix64: small, fast, and the same on every platform. */
static __u64 rng_next(__u64 *s)
{
	__u64 z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t rng_below(__u64 *s, size_t n)
{
	return (size_t)(rng_next(s) % n);
}

/* One resample of side S into OUT (stats_side_count(S) values). */
static void resample_side(const struct stats_side *s, const size_t *run_off,
			  __u64 *rng, double *out)
{
	size_t r, k = 0;

	for (r = 0; r < s->nruns; r++) {
		size_t pick = s->nruns >= 2 ? rng_below(rng, s->nruns) : r;
		const double *v = s->v + run_off[pick];
		size_t len = s->run_len[pick], want = s->run_len[r], got;

		if (!len)
			continue;
		for (got = 0; got < want; got++)
			out[k++] = v[rng_below(rng, len)];
	}
}

static double percentile_sorted(const double *v, size_t n, double p)
{
	double x = p * (n - 1), f = floor(x);
	size_t i = (size_t)f;

	if (i + 1 >= n)
		return v[n - 1];
	if (isinf(v[i]) || isinf(v[i + 1]))
		return x - f < 0.5 ? v[i] : v[i + 1];
	return v[i] + (x - f) * (v[i + 1] - v[i]);
}

/* Percentile interval of sorted V, its distances from the bootstrap
 * median stretched by W. */
static void widen(const double *v, size_t n, double level, double w,
		  double *lo, double *hi)
{
	double mid = percentile_sorted(v, n, 0.5);

	*lo = percentile_sorted(v, n, (1 - level) / 2);
	*hi = percentile_sorted(v, n, 1 - (1 - level) / 2);
	if (isfinite(mid) && isfinite(*lo))
		*lo = mid - w * (mid - *lo);
	if (isfinite(mid) && isfinite(*hi))
		*hi = mid + w * (*hi - mid);
}

static double rel_of(double shift, double base)
{
	if (base != 0)
		return shift / fabs(base);
	return shift > 0 ? INFINITY : shift < 0 ? -INFINITY : 0;
}

/* Strata with both sides non-empty, with run offsets, for resampling. */
struct boot_stratum {
	const struct stats_stratum *s;
	size_t *off_a, *off_b, na, nb;
};

/* Stratified HL and median(A) of the values in BA / BB (per stratum, back
 * to back, sizes as in BS); D and T are scratch. */
static void stratified_shift(const struct boot_stratum *bs, const size_t *pick,
			     size_t k, const double *va, const double *vb,
			     double *d, double *t, double *shift, double *base)
{
	size_t i, j, l, nd = 0, nt = 0;

	for (i = 0; i < k; i++) {
		const struct boot_stratum *b = &bs[pick[i]];

		for (j = 0; j < b->na; j++) {
			for (l = 0; l < b->nb; l++)
				d[nd++] = vb[l] - va[j];
			t[nt++] = va[j];
		}
		va += b->na;
		vb += b->nb;
	}
	*shift = median_inplace(d, nd);
	*base = median_inplace(t, nt);
}

static int bootstrap(const struct boot_stratum *bs, size_t k, unsigned int reps,
		     double level, __u64 seed, double rho, struct stats_ci *ci)
{
	size_t i, j, na = 0, nb = 0, nd = 0, maxd = 0, maxa = 0;
	size_t *pick = malloc(k * sizeof(*pick));
	double *va = NULL, *vb = NULL, *d = NULL, *t = NULL, *rel = NULL;
	double *abs_ = NULL, w;
	__u64 rng = seed;
	int err = -ENOMEM;

	for (i = 0; i < k; i++) {
		na += bs[i].na;
		nb += bs[i].nb;
		nd += bs[i].na * bs[i].nb;
		if (bs[i].na * bs[i].nb > maxd)
			maxd = bs[i].na * bs[i].nb;
		if (bs[i].na > maxa)
			maxa = bs[i].na;
	}
	/* a draw of k strata can repeat the largest one k times */
	if (k >= 2) {
		nd = maxd * k;
		na = maxa * k;
		for (i = 0, nb = 0; i < k; i++)
			if (bs[i].nb > nb)
				nb = bs[i].nb;
		nb *= k;
	}
	va = malloc(na * sizeof(*va));
	vb = malloc(nb * sizeof(*vb));
	d = malloc(nd * sizeof(*d));
	t = malloc(na * sizeof(*t));
	rel = malloc(reps * sizeof(*rel));
	abs_ = malloc(reps * sizeof(*abs_));
	if (!pick || !va || !vb || !d || !t || !rel || !abs_)
		goto cleanup;
	for (i = 0; i < reps; i++) {
		double shift, base, *pa = va, *pb = vb;

		for (j = 0; j < k; j++) {
			pick[j] = k >= 2 ? rng_below(&rng, k) : j;
			resample_side(&bs[pick[j]].s->a, bs[pick[j]].off_a, &rng, pa);
			resample_side(&bs[pick[j]].s->b, bs[pick[j]].off_b, &rng, pb);
			pa += bs[pick[j]].na;
			pb += bs[pick[j]].nb;
		}
		stratified_shift(bs, pick, k, va, vb, d, t, &shift, &base);
		abs_[i] = shift;
		rel[i] = rel_of(shift, base);
	}
	qsort(rel, reps, sizeof(*rel), cmp_double);
	qsort(abs_, reps, sizeof(*abs_), cmp_double);
	w = sqrt((1 + rho) / (1 - rho));
	widen(rel, reps, level, w, &ci->lo, &ci->hi);
	widen(abs_, reps, level, w, &ci->abs_lo, &ci->abs_hi);
	err = 0;
cleanup:
	free(pick);
	free(va);
	free(vb);
	free(d);
	free(t);
	free(rel);
	free(abs_);
	return err;
}

static void boot_strata_free(struct boot_stratum *bs, size_t k)
{
	size_t i;

	for (i = 0; bs && i < k; i++) {
		free(bs[i].off_a);
		free(bs[i].off_b);
	}
	free(bs);
}

static size_t *run_offsets(const struct stats_side *s)
{
	size_t *off = calloc(s->nruns ? s->nruns : 1, sizeof(*off)), i;

	for (i = 1; off && i < s->nruns; i++)
		off[i] = off[i - 1] + s->run_len[i - 1];
	return off;
}

/* The usable strata of ST as boot_strata; NULL with *K = 0 on -ENOMEM. */
static struct boot_stratum *boot_strata(const struct stats_stratum *st,
					size_t ns, size_t *k)
{
	struct boot_stratum *bs = calloc(ns ? ns : 1, sizeof(*bs));
	size_t i;

	*k = 0;
	if (!bs)
		return NULL;
	for (i = 0; i < ns; i++) {
		struct boot_stratum *b = &bs[*k];

		b->na = stats_side_count(&st[i].a);
		b->nb = stats_side_count(&st[i].b);
		if (!b->na || !b->nb)
			continue;
		b->s = &st[i];
		b->off_a = run_offsets(&st[i].a);
		b->off_b = run_offsets(&st[i].b);
		++*k;
		if (!b->off_a || !b->off_b) {
			boot_strata_free(bs, *k);
			*k = 0;
			return NULL;
		}
	}
	return bs;
}

int stats_bootstrap_shift(const struct stats_side *a,
			  const struct stats_side *b, unsigned int reps,
			  double level, __u64 seed, struct stats_ci *ci)
{
	struct stats_stratum st = { *a, *b };
	struct boot_stratum *bs;
	size_t k;
	double rho;
	int err;

	memset(ci, 0, sizeof(*ci));
	if (!stats_side_count(a) || !stats_side_count(b) || reps < 10 ||
	    !(level > 0 && level < 1))
		return -EINVAL;
	bs = boot_strata(&st, 1, &k);
	if (!bs)
		return -ENOMEM;
	stats_variance_factor(a, b, &rho, NULL);
	err = bootstrap(bs, k, reps, level, seed, rho, ci);
	boot_strata_free(bs, k);
	return err;
}

/* Concatenates the values of side S into OUT. */
static size_t side_values(const struct stats_side *s, double *out)
{
	size_t n = stats_side_count(s);

	memcpy(out, s->v, n * sizeof(*out));
	return n;
}

int stats_compare(const struct stats_stratum *st, size_t ns, unsigned int reps,
		  double level, __u64 seed, struct stats_cmp *out)
{
	struct boot_stratum *bs = NULL;
	double *va = NULL, *vb = NULL, *d = NULL, *t = NULL, *z = NULL;
	size_t k = 0, i, na = 0, nb = 0, nd = 0, *pick = NULL;
	double u = 0, mean = 0, var = 0, zbar = 0, ss = 0;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if ((reps && reps < 10) || !(level > 0 && level < 1))
		return -EINVAL;
	bs = boot_strata(st, ns, &k);
	if (!bs)
		return -ENOMEM;
	if (!k) {
		err = -EINVAL;
		goto cleanup;
	}
	for (i = 0; i < k; i++) {
		na += bs[i].na;
		nb += bs[i].nb;
		nd += bs[i].na * bs[i].nb;
	}
	va = malloc(na * sizeof(*va));
	vb = malloc(nb * sizeof(*vb));
	d = malloc(nd * sizeof(*d));
	t = malloc(na * sizeof(*t));
	z = malloc(k * sizeof(*z));
	pick = malloc(k * sizeof(*pick));
	if (!va || !vb || !d || !t || !z || !pick)
		goto cleanup;
	out->na = na;
	out->nb = nb;

	/* the test, stratum by stratum */
	for (i = 0; i < k; i++) {
		const struct stats_stratum *s = bs[i].s;
		double rho, icc, f;
		struct mw_result r;

		side_values(&s->a, va);
		side_values(&s->b, vb);
		f = stats_variance_factor(&s->a, &s->b, &rho, &icc);
		err = stats_mann_whitney(va, bs[i].na, vb, bs[i].nb, f, &r);
		if (err)
			goto cleanup;
		if (k == 1)
			out->mw = r;
		u += r.u;
		mean += r.mean;
		var += r.var;
		z[i] = r.var > 0 ? (r.u - r.mean) / sqrt(r.var) : 0;
		zbar += z[i] / k;
		out->var_factor += f / k;
		out->rho += rho / k;
		out->icc += icc / k;
	}
	out->overdispersion = 1;
	if (k >= 2) {
		for (i = 0; i < k; i++)
			ss += (z[i] - zbar) * (z[i] - zbar);
		if (ss / (k - 1) > 1)
			out->overdispersion = ss / (k - 1);
		var *= out->overdispersion;
		out->mw.u = u;
		out->mw.mean = mean;
		out->mw.var = var;
		out->mw.prob_greater = u / (double)nd;
		if (var > 0) {
			out->mw.z = (u - mean) / sqrt(var);
			out->mw.p_greater = stats_norm_sf((u - mean - 0.5) / sqrt(var));
			out->mw.p_less = stats_norm_sf((mean - u - 0.5) / sqrt(var));
		} else {
			out->mw.p_greater = out->mw.p_less = 1;
		}
		out->mw.p_two = 2 * fmin(out->mw.p_greater, out->mw.p_less);
		if (out->mw.p_two > 1)
			out->mw.p_two = 1;
	}

	/* the estimate over all strata, as each bootstrap replicate takes it */
	{
		double *pa = va, *pb = vb;

		for (i = 0; i < k; i++) {
			pick[i] = i;
			pa += side_values(&bs[i].s->a, pa);
			pb += side_values(&bs[i].s->b, pb);
		}
	}
	stratified_shift(bs, pick, k, va, vb, d, t, &out->shift, &out->base);
	out->rel = rel_of(out->shift, out->base);
	err = reps ? bootstrap(bs, k, reps, level, seed, out->rho, &out->ci) : 0;
cleanup:
	boot_strata_free(bs, k);
	free(va);
	free(vb);
	free(d);
	free(t);
	free(z);
	free(pick);
	return err;
}

/* ---- paired differences ---- */

/* Null distribution of T+ over n distinct ranks: subsets of 1..n by sum. */
static int sr_exact(size_t n, double t, double *p_ge, double *p_le)
{
	size_t max = n * (n + 1) / 2, i, k;
	long long *c = calloc(max + 1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c[0] = 1;
	for (i = 1; i <= n; i++)
		for (k = i * (i + 1) / 2; k >= i; k--)
			c[k] += c[k - i];
	null_tails(c, max, t, p_ge, p_le);
	free(c);
	return 0;
}

int stats_signed_rank(const double *d, size_t n, double var_factor,
		      struct mw_result *r)
{
	double *v, *rank, ties, tp = 0, tm = 0, mean, var;
	size_t i, m = 0;
	int err;

	memset(r, 0, sizeof(*r));
	r->prob_greater = 0.5;
	if (!(var_factor >= 1))
		var_factor = 1;
	v = malloc(2 * (n ? n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	rank = v + n;
	for (i = 0; i < n; i++)
		if (d[i] != 0)
			v[m++] = fabs(d[i]);
	if (!m) {
		free(v);
		r->p_greater = r->p_less = r->p_two = 1;
		return 0;
	}
	err = rank_values(v, m, rank, &ties);
	if (err) {
		free(v);
		return err;
	}
	for (i = 0, m = 0; i < n; i++) {
		if (d[i] > 0)
			tp += rank[m++];
		else if (d[i] < 0)
			tm += rank[m++];
	}
	free(v);
	mean = m * (m + 1) / 4.0;
	var = (m * (m + 1) * (2.0 * m + 1) / 24 - ties / 48) * var_factor;
	r->u = tp;
	r->mean = mean;
	r->var = var;
	r->prob_greater = tp / (tp + tm);
	if (ties == 0 && var_factor == 1 && m <= STATS_SR_EXACT_MAX) {
		err = sr_exact(m, tp, &r->p_greater, &r->p_less);
		if (err)
			return err;
		r->exact = true;
	} else if (var <= 0) {
		r->p_greater = r->p_less = 1;
	} else {
		r->z = (tp - mean) / sqrt(var);
		r->p_greater = stats_norm_sf((tp - mean - 0.5) / sqrt(var));
		r->p_less = stats_norm_sf((mean - tp - 0.5) / sqrt(var));
	}
	r->p_two = 2 * fmin(r->p_greater, r->p_less);
	if (r->p_two > 1)
		r->p_two = 1;
	return 0;
}

/* Walsh averages' median with caller scratch of n (n + 1) / 2 doubles. */
static double hl1_scratch(const double *d, size_t n, double *w)
{
	size_t i, j, k = 0;

	for (i = 0; i < n; i++)
		for (j = i; j < n; j++)
			w[k++] = (d[i] + d[j]) / 2;
	return median_inplace(w, k);
}

int stats_hodges_lehmann1(const double *d, size_t n, double *est)
{
	double *w;

	if (!n)
		return -EINVAL;
	w = malloc(n * (n + 1) / 2 * sizeof(*w));
	if (!w)
		return -ENOMEM;
	*est = hl1_scratch(d, n, w);
	free(w);
	return 0;
}

double stats_serial_factor(const double *v, const size_t *run_len,
			   size_t nruns, double *rho_out)
{
	struct stats_side one = { v, run_len, nruns };
	size_t n = stats_side_count(&one), r, off = 0, pairs = 0;
	double *rank, ties, num = 0, den = 0, rho = 0;

	if (rho_out)
		*rho_out = 0;
	if (n < 4 || !nruns)
		return 1;
	rank = malloc(n * sizeof(*rank));
	if (!rank || rank_values(v, n, rank, &ties)) {
		free(rank);
		return 1;
	}
	for (r = 0; r < nruns; r++) {
		run_lag1(rank + off, run_len[r], &num, &den, &pairs);
		off += run_len[r];
	}
	free(rank);
	rho = lag1_rho(num, den, pairs, (double)n / nruns);
	if (rho_out)
		*rho_out = rho;
	return (1 + rho) / (1 - rho);
}

int stats_compare_paired(const struct stats_stratum *st, size_t ns,
			 unsigned int reps, double level, __u64 seed,
			 struct stats_cmp *out)
{
	size_t i, j, k = 0, n = 0, maxn = 0, *idx = NULL, rep;
	double *d = NULL, *a = NULL, *w = NULL, *z = NULL, *rel = NULL;
	double *abs_ = NULL, *bd = NULL, *ba = NULL;
	double u = 0, mean = 0, var = 0, zbar = 0, ss = 0;
	__u64 rng = seed;
	bool logr = true;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if ((reps && reps < 10) || !(level > 0 && level < 1))
		return -EINVAL;
	for (i = 0; i < ns; i++) {
		size_t na = stats_side_count(&st[i].a), nb = stats_side_count(&st[i].b);

		if (na != nb)
			return -EINVAL;
		n += na;
		if (na > maxn)
			maxn = na;
	}
	if (!n)
		return -EINVAL;
	d = malloc(n * sizeof(*d));
	a = malloc(n * sizeof(*a));
	w = malloc(n * (n + 1) / 2 * sizeof(*w));
	z = malloc(ns * sizeof(*z));
	idx = malloc(ns * sizeof(*idx));
	if (!d || !a || !w || !z || !idx)
		goto cleanup;
	/* Latency and CPU change by factors: when every value is positive the
	 * test runs on log ratios, so that how much the machine slowed both
	 * sides at a moment scales neither the differences nor their serial
	 * correlation. */
	for (i = 0; i < ns; i++) {
		size_t m = stats_side_count(&st[i].a), l;

		for (l = 0; l < m; l++)
			if (!(st[i].a.v[l] > 0 && st[i].b.v[l] > 0))
				logr = false;
	}
	/* the differences, stratum after stratum; serial correlation is
	 * estimated from all of them (a stratum alone is too short) */
	for (i = 0, n = 0; i < ns; i++) {
		size_t m = stats_side_count(&st[i].a), l;

		if (!m)
			continue;
		for (l = 0; l < m; l++) {
			d[n] = logr ? log(st[i].b.v[l] / st[i].a.v[l]) :
				      st[i].b.v[l] - st[i].a.v[l];
			a[n++] = st[i].a.v[l];
		}
		z[k] = (double)m;	/* its length, for a moment */
		idx[k++] = i;
	}
	{
		/* Under the null, T+ varies through the signs of the
		 * differences (their ranks are given), so it is the signs'
		 * serial correlation that inflates its variance: that of the
		 * differences themselves would also count a true effect whose
		 * size drifts with the machine's load. */
		size_t *lens = calloc(k ? k : 1, sizeof(*lens));
		double *sg = malloc(n * sizeof(*sg));

		if (!lens || !sg) {
			free(lens);
			free(sg);
			goto cleanup;
		}
		for (j = 0; j < k; j++)
			lens[j] = (size_t)z[j];
		for (j = 0; j < n; j++)
			sg[j] = (d[j] > 0) - (d[j] < 0);
		out->var_factor = stats_serial_factor(sg, lens, k, &out->rho);
		free(lens);
		free(sg);
	}
	for (j = 0, i = 0; j < k; j++) {
		size_t m = stats_side_count(&st[idx[j]].a);
		struct mw_result r;

		err = stats_signed_rank(d + i, m, out->var_factor, &r);
		if (err)
			goto cleanup;
		if (j == 0)
			out->mw = r;
		u += r.u;
		mean += r.mean;
		var += r.var;
		z[j] = r.var > 0 ? (r.u - r.mean) / sqrt(r.var) : 0;
		i += m;
	}
	out->na = out->nb = n;
	out->overdispersion = 1;
	for (j = 0; j < k; j++)
		zbar += z[j] / k;
	if (k >= 2) {
		for (j = 0; j < k; j++)
			ss += (z[j] - zbar) * (z[j] - zbar);
		if (ss / (k - 1) > 1)
			out->overdispersion = ss / (k - 1);
		var *= out->overdispersion;
		memset(&out->mw, 0, sizeof(out->mw));
		out->mw.u = u;
		out->mw.mean = mean;
		out->mw.var = var;
		/* T+ / (T+ + T-) summed over strata */
		out->mw.prob_greater = mean > 0 ? u / (2 * mean) : 0.5;
		if (var > 0) {
			out->mw.z = (u - mean) / sqrt(var);
			out->mw.p_greater = stats_norm_sf((u - mean - 0.5) / sqrt(var));
			out->mw.p_less = stats_norm_sf((mean - u - 0.5) / sqrt(var));
		} else {
			out->mw.p_greater = out->mw.p_less = 1;
		}
		out->mw.p_two = fmin(1, 2 * fmin(out->mw.p_greater, out->mw.p_less));
	}
	memcpy(w, a, n * sizeof(*a));
	out->base = median_inplace(w, n);
	if (logr) {
		out->rel = expm1(hl1_scratch(d, n, w));
		out->shift = out->rel * fabs(out->base);
	} else {
		out->shift = hl1_scratch(d, n, w);
		out->rel = rel_of(out->shift, out->base);
	}
	if (!reps) {
		err = 0;
		goto cleanup;
	}

	/* bootstrap: strata (when 2+), then pairs inside each */
	rel = malloc(reps * sizeof(*rel));
	abs_ = malloc(reps * sizeof(*abs_));
	bd = malloc(maxn * k * sizeof(*bd));
	ba = malloc(maxn * k * sizeof(*ba));
	free(w);
	w = malloc(maxn * k * (maxn * k + 1) / 2 * sizeof(*w));
	if (!rel || !abs_ || !bd || !ba || !w)
		goto cleanup;
	for (rep = 0; rep < reps; rep++) {
		size_t nn = 0;

		for (j = 0; j < k; j++) {
			const struct stats_stratum *s =
				&st[idx[k >= 2 ? rng_below(&rng, k) : j]];
			size_t m = stats_side_count(&s->a), l;

			for (l = 0; l < m; l++) {
				size_t q = rng_below(&rng, m);

				bd[nn] = logr ? log(s->b.v[q] / s->a.v[q]) :
						s->b.v[q] - s->a.v[q];
				ba[nn++] = s->a.v[q];
			}
		}
		if (logr) {
			rel[rep] = expm1(hl1_scratch(bd, nn, w));
			abs_[rep] = rel[rep] * fabs(median_inplace(ba, nn));
		} else {
			abs_[rep] = hl1_scratch(bd, nn, w);
			rel[rep] = rel_of(abs_[rep], median_inplace(ba, nn));
		}
	}
	qsort(rel, reps, sizeof(*rel), cmp_double);
	qsort(abs_, reps, sizeof(*abs_), cmp_double);
	{
		double wf = sqrt((1 + out->rho) / (1 - out->rho));

		widen(rel, reps, level, wf, &out->ci.lo, &out->ci.hi);
		widen(abs_, reps, level, wf, &out->ci.abs_lo, &out->ci.abs_hi);
	}
	err = 0;
cleanup:
	free(d);
	free(a);
	free(w);
	free(z);
	free(idx);
	free(rel);
	free(abs_);
	free(bd);
	free(ba);
	return err;
}

int stats_holm_weighted(const double *p, const double *w, size_t n,
			double *adj)
{
	struct ranked *s = malloc((n ? n : 1) * sizeof(*s));
	size_t i, m = 0;
	double run = 0, left = 0;

	if (!s)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		adj[i] = NAN;
		if (!isnan(p[i])) {
			/* ordered by p / w: the order in which they fall */
			s[m].v = p[i] / (w ? w[i] : 1);
			s[m].i = i;
			left += w ? w[i] : 1;
			m++;
		}
	}
	qsort(s, m, sizeof(*s), cmp_ranked);
	for (i = 0; i < m; i++) {
		double v = left * s[i].v;

		if (v > 1)
			v = 1;
		if (v > run)
			run = v;
		adj[s[i].i] = run;
		left -= w ? w[s[i].i] : 1;
	}
	free(s);
	return 0;
}

int stats_holm(const double *p, size_t n, double *adj)
{
	return stats_holm_weighted(p, NULL, n, adj);
}

double stats_ols_slope(const double *x, const double *y, size_t n, double *t)
{
	double mx = 0, my = 0, sxx = 0, sxy = 0, syy = 0, slope, s2;
	size_t i;

	*t = 0;
	if (n < 3)
		return 0;
	for (i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= n;
	my /= n;
	for (i = 0; i < n; i++) {
		sxx += (x[i] - mx) * (x[i] - mx);
		sxy += (x[i] - mx) * (y[i] - my);
		syy += (y[i] - my) * (y[i] - my);
	}
	if (sxx <= 0)
		return 0;
	slope = sxy / sxx;
	s2 = (syy - slope * sxy) / (n - 2);
	if (s2 <= 0)
		*t = slope > 0 ? INFINITY : slope < 0 ? -INFINITY : 0;
	else
		*t = slope / sqrt(s2 / sxx);
	return slope;
}
