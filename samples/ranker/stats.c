/* SPDX-License-Identifier: MIT */
/*
 * Ground truth: every completed request's latency, stored exactly.
 *
 * loupe's own numbers are checked against these, so no histogram and no
 * sampling here: percentiles are nearest-rank over the sorted latencies of
 * every request that completed ok.  Each worker appends to its own shard
 * without locks; shards are merged once, after the workers are joined.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ranker.h"

struct lat_vec {
	uint64_t *v;
	size_t n, cap;
};

struct stats_shard {
	struct stats *st;
	struct lat_vec lat[MODEL_COUNT];
	uint64_t stage_ns[MODEL_COUNT][STAGE_COUNT];
	double score_sum[MODEL_COUNT];
	uint64_t dropped;	/* latencies lost to ENOMEM (reported) */
	struct stats_shard *next;
};

struct stats {
	pthread_mutex_t lock;	/* shard list */
	struct stats_shard *shards;
	atomic_uint_fast64_t ok;
	atomic_uint_fast64_t errors;
};

struct stats *stats_new(void)
{
	struct stats *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	pthread_mutex_init(&st->lock, NULL);
	return st;
}

void stats_free(struct stats *st)
{
	struct stats_shard *sh, *next;

	if (!st)
		return;
	for (sh = st->shards; sh; sh = next) {
		next = sh->next;
		for (int m = 0; m < MODEL_COUNT; m++)
			free(sh->lat[m].v);
		free(sh);
	}
	pthread_mutex_destroy(&st->lock);
	free(st);
}

struct stats_shard *stats_shard_new(struct stats *st)
{
	struct stats_shard *sh = calloc(1, sizeof(*sh));

	if (!sh)
		return NULL;
	sh->st = st;
	pthread_mutex_lock(&st->lock);
	sh->next = st->shards;
	st->shards = sh;
	pthread_mutex_unlock(&st->lock);
	return sh;
}

void stats_record(struct stats_shard *sh, int model, uint64_t latency_ns,
		  const uint64_t stage_ns[STAGE_COUNT], double score_sum)
{
	struct lat_vec *lv = &sh->lat[model];

	atomic_fetch_add_explicit(&sh->st->ok, 1, memory_order_relaxed);
	if (lv->n == lv->cap) {
		/* Doubling: a handful of reallocs per run, none in steady state. */
		size_t cap = lv->cap ? lv->cap * 2 : 4096;
		uint64_t *v = realloc(lv->v, cap * sizeof(*v));

		if (!v) {
			sh->dropped++;
			return;
		}
		lv->v = v;
		lv->cap = cap;
	}
	lv->v[lv->n++] = latency_ns;
	for (int s = 0; s < STAGE_COUNT; s++)
		sh->stage_ns[model][s] += stage_ns[s];
	sh->score_sum[model] += score_sum;
}

void stats_count_error(struct stats *st)
{
	atomic_fetch_add_explicit(&st->errors, 1, memory_order_relaxed);
}

uint64_t stats_ok(const struct stats *st)
{
	return atomic_load_explicit(&st->ok, memory_order_relaxed);
}

uint64_t stats_errors(const struct stats *st)
{
	return atomic_load_explicit(&st->errors, memory_order_relaxed);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least per_mille/1000 of the
 * values at or below it.  Integer arithmetic, so p99 of 100 values is the
 * 99th, not the 100th through a rounding error. */
static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned per_mille)
{
	size_t rank;

	if (!n)
		return 0;
	rank = (n * per_mille + 999) / 1000;
	return sorted[rank ? rank - 1 : 0];
}

struct summary {
	uint64_t *v;		/* sorted latencies */
	size_t n;
	uint64_t stage_ns[STAGE_COUNT];
	double score_sum;
};

static int summary_merge(struct stats *st, int model, struct summary *out)
{
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	for (struct stats_shard *sh = st->shards; sh; sh = sh->next)
		for (int m = 0; m < MODEL_COUNT; m++)
			if (model < 0 || m == model)
				n += sh->lat[m].n;
	out->v = malloc((n ? n : 1) * sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	for (struct stats_shard *sh = st->shards; sh; sh = sh->next)
		for (int m = 0; m < MODEL_COUNT; m++) {
			if (model >= 0 && m != model)
				continue;
			memcpy(out->v + out->n, sh->lat[m].v, sh->lat[m].n * sizeof(*out->v));
			out->n += sh->lat[m].n;
			for (int s = 0; s < STAGE_COUNT; s++)
				out->stage_ns[s] += sh->stage_ns[m][s];
			out->score_sum += sh->score_sum[m];
		}
	qsort(out->v, out->n, sizeof(*out->v), cmp_u64);
	return 0;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static int json_write(const char *path, const struct summary *all,
		      const struct summary *per, uint64_t errors, double duration_s)
{
	FILE *f = fopen(path, "w");
	int ret = 0;

	if (!f) {
		ret = -errno;
		fprintf(stderr, "ranker: stats json %s: %s\n", path, strerror(errno));
		return ret;
	}
	fprintf(f, "{\n");
	fprintf(f, "  \"requests\": %zu,\n", all->n);
	fprintf(f, "  \"errors\": %llu,\n", (unsigned long long)errors);
	fprintf(f, "  \"duration_s\": %.6f,\n", duration_s);
	fprintf(f, "  \"throughput_rps\": %.3f,\n",
		duration_s > 0 ? (double)all->n / duration_s : 0.0);
	fprintf(f, "  \"p50_ns\": %llu,\n", (unsigned long long)percentile(all->v, all->n, 500));
	fprintf(f, "  \"p90_ns\": %llu,\n", (unsigned long long)percentile(all->v, all->n, 900));
	fprintf(f, "  \"p99_ns\": %llu,\n", (unsigned long long)percentile(all->v, all->n, 990));
	fprintf(f, "  \"p999_ns\": %llu,\n", (unsigned long long)percentile(all->v, all->n, 999));
	fprintf(f, "  \"max_ns\": %llu,\n",
		(unsigned long long)(all->n ? all->v[all->n - 1] : 0));
	{
		/* The ranker's own CPU time, so a benchmark can tell it from a
		 * profiler's when both run under one time(1). */
		struct rusage ru;

		if (!getrusage(RUSAGE_SELF, &ru))
			fprintf(f, "  \"cpu_s\": %.6f,\n",
				ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
				ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	}
	fprintf(f, "  \"models\": [\n");
	for (int m = 0; m < MODEL_COUNT; m++) {
		const struct summary *s = &per[m];

		fprintf(f, "    {\"model\": \"%s\", \"requests\": %zu, \"p50_ns\": %llu, \"p99_ns\": %llu}%s\n",
			model_name(m), s->n,
			(unsigned long long)percentile(s->v, s->n, 500),
			(unsigned long long)percentile(s->v, s->n, 990),
			m + 1 < MODEL_COUNT ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	if (ferror(f))
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	if (ret)
		fprintf(stderr, "ranker: stats json %s: %s\n", path, strerror(-ret));
	return ret;
}

int stats_report(struct stats *st, double duration_s, FILE *out, const char *json_path)
{
	struct summary all, per[MODEL_COUNT];
	uint64_t errors = stats_errors(st), dropped = 0;
	int ret, m;

	memset(per, 0, sizeof(per));
	ret = summary_merge(st, -1, &all);
	for (m = 0; m < MODEL_COUNT && !ret; m++)
		ret = summary_merge(st, m, &per[m]);
	if (ret) {
		fprintf(out, "ranker: stats: %s\n", strerror(-ret));
		goto cleanup;
	}
	for (struct stats_shard *sh = st->shards; sh; sh = sh->next)
		dropped += sh->dropped;

	fprintf(out, "ranker: requests %zu, errors %llu, duration %.3f s, throughput %.1f rps\n",
		all.n, (unsigned long long)errors, duration_s,
		duration_s > 0 ? (double)all.n / duration_s : 0.0);
	fprintf(out, "ranker: latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p999 %.3f ms, max %.3f ms\n",
		ms(percentile(all.v, all.n, 500)), ms(percentile(all.v, all.n, 900)),
		ms(percentile(all.v, all.n, 990)), ms(percentile(all.v, all.n, 999)),
		ms(all.n ? all.v[all.n - 1] : 0));
	for (m = 0; m < MODEL_COUNT; m++) {
		const struct summary *s = &per[m];
		double n = s->n ? (double)s->n : 1;

		/* Mean stage times are the ground truth for loupe's per-stage
		 * attribution; mean score is a checksum of the compute. */
		fprintf(out, "ranker: %s: requests %zu, p50 %.3f ms, p99 %.3f ms, mean ms:",
			model_name(m), s->n, ms(percentile(s->v, s->n, 500)),
			ms(percentile(s->v, s->n, 990)));
		for (int k = 0; k < STAGE_COUNT; k++)
			fprintf(out, " %s %.3f", stage_names[k], (double)s->stage_ns[k] / n / 1e6);
		fprintf(out, ", score sum %.6g\n", s->score_sum);
	}
	if (dropped)
		fprintf(out, "ranker: warning: %llu latencies dropped (out of memory)\n",
			(unsigned long long)dropped);
	if (json_path)
		ret = json_write(json_path, &all, per, errors, duration_s);

cleanup:
	free(all.v);
	for (m = 0; m < MODEL_COUNT; m++)
		free(per[m].v);
	return ret;
}
