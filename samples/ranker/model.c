/* SPDX-License-Identifier: MIT */
/*
 * The ranking models: DLRM (Naumov et al., 2019) in plain C.
 *
 *   sparse ids --> embedding tables --> sum pooling ------------+
 *                                                               v
 *   dense features --> bottom MLP --> 64-d vector --> pairwise dot interaction
 *                                                               |
 *                         sigmoid <-- top MLP <-- [bottom, dots]+
 *
 * Each stage is one function so the server can wrap it in a probe span, and
 * so CPU samples land in a function named after the stage.  The numbers are
 * random but deterministic: tables and weights come from the run's seed,
 * ids and dense features from the request's seed.
 *
 * The kernels use generic vectors (gcc/clang vector_size: SSE on x86_64,
 * NEON on arm64; no intrinsics, no -march).  At -O2 gcc 12 keeps the
 * accumulators of a plain-loop matrix product in memory, which made the
 * MLPs 3x slower and the embedding prefetch pointless: the split of time
 * between memory-bound lookups and compute-bound MLPs would no longer look
 * like a real inference server's, and that split is what loupe is shown on.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ranker.h"

#define LANES 16		/* layer widths are multiples of this */
#define MAX_LAYERS 4
#define MAX_TABLES 16
#define ZIPF_S 1.05		/* skew of the sparse ids */
#define EMB_INIT 0.05f		/* embedding values in [-EMB_INIT, EMB_INIT) */

/* Four floats.  Loads and stores go through memcpy: no alignment or
 * aliasing assumptions, and it compiles to one movups. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f v4_load(const float *p)
{
	v4f v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void v4_store(float *p, v4f v)
{
	memcpy(p, &v, sizeof(v));
}

static inline v4f v4_relu(v4f v)
{
	const v4f zero = { 0, 0, 0, 0 };

	/* A comparison gives all-ones lanes where true: keep those bits. */
	return (v4f)((v4i)v & (v > zero));
}

struct model_spec {
	const char *name;
	int tables;
	int rows;		/* per table */
	int lookups;		/* ids per table per candidate */
	int bottom[MAX_LAYERS + 1];	/* widths DENSE_DIM ... EMB_DIM, 0-ended */
	int top[MAX_LAYERS + 1];	/* hidden widths, 0-ended; 1 output */
};

/*
 * Shapes tuned for about 1 ms (ctr_small) and 3 ms (cvr_large) per request
 * of the default mean batch (160) on one idle core of the 2-vCPU dev VM
 * (EPYC); measurements in samples/README.md.  The tables take ~440 MiB,
 * far more than any cache, so the Zipf tail of the lookups goes to DRAM as
 * it does in production.  Layer widths must be multiples of LANES.
 */
static const struct model_spec specs[MODEL_COUNT] = {
	[MODEL_CTR_SMALL] = {
		.name = "ctr_small",
		.tables = 8,
		.rows = 100000,
		.lookups = 20,
		.bottom = { DENSE_DIM, 128, EMB_DIM },
		.top = { 128, 64 },
	},
	[MODEL_CVR_LARGE] = {
		.name = "cvr_large",
		.tables = 10,
		.rows = 100000,
		.lookups = 28,
		.bottom = { DENSE_DIM, 256, 128, EMB_DIM },
		.top = { 512, 128 },
	},
};

struct layer {
	int in, out;
	float *w;		/* [in][out]: the inner loop walks a row */
	float *b;		/* [out] */
};

struct model {
	const struct model_spec *spec;
	float *tables;		/* [tables][rows][EMB_DIM], one mapping */
	size_t tables_bytes;
	struct zipf zipf;
	/* rank -> row is (rank * mult + off) mod rows, a different bijection
	 * per table: the hot ids are scattered over the table (as hashed ids
	 * are) instead of packed into its first pages. */
	uint32_t mult[MAX_TABLES];
	uint32_t off[MAX_TABLES];
	uint64_t rows_magic;	/* for fastmod() */
	struct layer bottom[MAX_LAYERS];
	int nbottom;
	struct layer top[MAX_LAYERS];
	int ntop;
	float *head_w;		/* last top layer, one output */
	float head_b;
	int nfeat;		/* vectors that interact: tables + bottom output */
	int top_in;		/* EMB_DIM + nfeat * (nfeat - 1) / 2 */
};

struct model_work {
	int cap;		/* candidates the buffers hold */
	const float **rows;	/* two candidates' rows, [2][tables][lookups] */
	float *pooled;		/* [cap][tables][EMB_DIM] */
	float *dense;		/* [cap][DENSE_DIM] */
	float *act[2];		/* [cap][max_width], ping-pong between layers */
	float *top_in;		/* [cap][top_in] */
	const float *bottom_out; /* points into act[] after the bottom MLP */
};

static struct model models[MODEL_COUNT];
static int max_tables, max_lookups, max_width, max_top_in;

const char *model_name(int model)
{
	return specs[model].name;
}

/* Lemire's fastmod: a % d without a divide, exact for 32-bit a.  A 64-bit
 * divide per lookup would cost as much as the lookup itself. */
static inline uint32_t fastmod(uint32_t a, uint64_t magic, uint32_t d)
{
	uint64_t low = magic * a;

	return (uint32_t)(((unsigned __int128)low * d) >> 64);
}

/* Fill with uniform values in [-limit, limit).  Counter-based (each pair of
 * floats is mix(seed + i * golden)), so there is no serial dependency and
 * 460 MB fill in a fraction of a second. */
static void fill_uniform(float *dst, size_t n, uint64_t seed, float limit)
{
	const float scale = limit / 2147483648.0f;
	size_t i;

	for (i = 0; i + 1 < n; i += 2) {
		uint64_t z = rng_mix64(seed + i * RNG_GOLDEN);

		dst[i] = (float)(int32_t)(uint32_t)z * scale;
		dst[i + 1] = (float)(int32_t)(uint32_t)(z >> 32) * scale;
	}
	if (i < n)
		dst[i] = (float)(int32_t)(uint32_t)rng_mix64(seed + i * RNG_GOLDEN) * scale;
}

static int layer_init(struct layer *l, int in, int out, uint64_t seed)
{
	/* Glorot/Xavier uniform keeps activations in range through the
	 * layers, so the sigmoid does not saturate to exactly 0 or 1. */
	float limit = sqrtf(6.0f / (float)(in + out));
	size_t wbytes = ((size_t)in * out * sizeof(float) + 63) & ~(size_t)63;

	if (out % LANES)
		return -EINVAL;
	l->in = in;
	l->out = out;
	l->w = aligned_alloc(64, wbytes);
	l->b = aligned_alloc(64, ((size_t)out * sizeof(float) + 63) & ~(size_t)63);
	if (!l->w || !l->b)
		return -ENOMEM;
	fill_uniform(l->w, (size_t)in * out, seed, limit);
	fill_uniform(l->b, (size_t)out, seed ^ 0xb1a5ull, 0.01f);
	return 0;
}

static void layer_release(struct layer *l)
{
	free(l->w);
	free(l->b);
	l->w = l->b = NULL;
}

static uint32_t gcd32(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static int model_init(struct model *md, const struct model_spec *spec, int index,
		      uint64_t seed)
{
	uint64_t s = rng_derive(seed, SALT_PERMUTE, (uint64_t)index);
	int in, err, i;

	if (spec->tables > MAX_TABLES)
		return -EINVAL;
	md->spec = spec;
	md->tables_bytes = (size_t)spec->tables * spec->rows * EMB_DIM * sizeof(float);
	md->tables = mmap(NULL, md->tables_bytes, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (md->tables == MAP_FAILED) {
		md->tables = NULL;
		return -errno;
	}
	/* Production embedding servers back tables with huge pages: random
	 * lookups over hundreds of MB otherwise miss the TLB on every row.
	 * Best effort; it also makes the first touch below much cheaper. */
	madvise(md->tables, md->tables_bytes, MADV_HUGEPAGE);
	for (int t = 0; t < spec->tables; t++) {
		size_t n = (size_t)spec->rows * EMB_DIM;

		fill_uniform(md->tables + (size_t)t * n, n,
			     rng_derive(seed, SALT_WEIGHTS, (uint64_t)index * 1000 + t),
			     EMB_INIT);
	}

	err = zipf_init(&md->zipf, (uint32_t)spec->rows, ZIPF_S);
	if (err)
		return err;
	/* mult < 2^32 / rows keeps rank * mult + off within 32 bits. */
	for (int t = 0; t < spec->tables; t++) {
		uint32_t limit = (uint32_t)(4294967295u / (uint32_t)spec->rows) - 1;
		uint32_t m;

		do
			m = limit / 2 + (uint32_t)(rng_next(&s) % (limit / 2));
		while (gcd32(m, (uint32_t)spec->rows) != 1);
		md->mult[t] = m;
		md->off[t] = (uint32_t)(rng_next(&s) % (uint32_t)spec->rows);
	}
	md->rows_magic = UINT64_MAX / (uint32_t)spec->rows + 1;

	in = spec->bottom[0];
	for (i = 1; i <= MAX_LAYERS && spec->bottom[i]; i++) {
		err = layer_init(&md->bottom[md->nbottom++], in, spec->bottom[i],
				 rng_derive(seed, SALT_WEIGHTS, (uint64_t)index * 1000 + 100 + i));
		if (err)
			return err;
		in = spec->bottom[i];
	}
	md->nfeat = spec->tables + 1;
	md->top_in = EMB_DIM + md->nfeat * (md->nfeat - 1) / 2;
	in = md->top_in;
	for (i = 0; i < MAX_LAYERS && spec->top[i]; i++) {
		err = layer_init(&md->top[md->ntop++], in, spec->top[i],
				 rng_derive(seed, SALT_WEIGHTS, (uint64_t)index * 1000 + 200 + i));
		if (err)
			return err;
		in = spec->top[i];
		if (in > max_width)
			max_width = in;
	}
	md->head_w = aligned_alloc(64, ((size_t)in * sizeof(float) + 63) & ~(size_t)63);
	if (!md->head_w)
		return -ENOMEM;
	fill_uniform(md->head_w, (size_t)in, rng_derive(seed, SALT_WEIGHTS, (uint64_t)index * 1000 + 300),
		     sqrtf(6.0f / (float)(in + 1)));
	md->head_b = 0;

	for (i = 1; i <= MAX_LAYERS && spec->bottom[i]; i++)
		if (spec->bottom[i] > max_width)
			max_width = spec->bottom[i];
	if (spec->tables > max_tables)
		max_tables = spec->tables;
	if (spec->lookups > max_lookups)
		max_lookups = spec->lookups;
	if (md->top_in > max_top_in)
		max_top_in = md->top_in;
	return 0;
}

int models_init(uint64_t seed)
{
	for (int m = 0; m < MODEL_COUNT; m++) {
		int err = model_init(&models[m], &specs[m], m, seed);

		if (err) {
			models_release();
			return err;
		}
	}
	return 0;
}

void models_release(void)
{
	for (int m = 0; m < MODEL_COUNT; m++) {
		struct model *md = &models[m];

		if (md->tables)
			munmap(md->tables, md->tables_bytes);
		zipf_release(&md->zipf);
		for (int i = 0; i < md->nbottom; i++)
			layer_release(&md->bottom[i]);
		for (int i = 0; i < md->ntop; i++)
			layer_release(&md->top[i]);
		free(md->head_w);
		memset(md, 0, sizeof(*md));
	}
}

void model_describe(int model, char *buf, size_t len)
{
	const struct model *md = &models[model];
	const struct model_spec *sp = md->spec;
	size_t n;

	n = (size_t)snprintf(buf, len,
			     "%s: %d tables x %d rows x %d dims (%zu MiB), %d lookups/table, bottom",
			     sp->name, sp->tables, sp->rows, EMB_DIM, md->tables_bytes >> 20,
			     sp->lookups);
	for (int i = 0; i <= md->nbottom && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%c%d", i ? '-' : ' ', sp->bottom[i]);
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, ", top %d", md->top_in);
	for (int i = 0; i < md->ntop && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "-%d", sp->top[i]);
	if (n < len)
		snprintf(buf + n, len - n, "-1");
}

struct model_work *model_work_new(void)
{
	struct model_work *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->rows = malloc(2 * (size_t)max_tables * max_lookups * sizeof(*w->rows));
	if (!w->rows) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	return w;
}

void model_work_free(struct model_work *w)
{
	if (!w)
		return;
	free(w->rows);
	free(w->pooled);
	free(w->dense);
	free(w->act[0]);
	free(w->act[1]);
	free(w->top_in);
	free(w);
}

int model_work_reserve(struct model_work *w, int batch)
{
	size_t c;

	if (batch <= w->cap)
		return 0;
	/* Grow only: a worker's buffers settle at the largest batch seen, so
	 * the steady state allocates nothing per request. */
	c = (size_t)batch;
	free(w->pooled);
	free(w->dense);
	free(w->act[0]);
	free(w->act[1]);
	free(w->top_in);
	w->pooled = malloc(c * max_tables * EMB_DIM * sizeof(float));
	w->dense = malloc(c * DENSE_DIM * sizeof(float));
	w->act[0] = malloc(c * max_width * sizeof(float));
	w->act[1] = malloc(c * max_width * sizeof(float));
	w->top_in = malloc(c * max_top_in * sizeof(float));
	if (!w->pooled || !w->dense || !w->act[0] || !w->act[1] || !w->top_in) {
		w->cap = 0;
		return -ENOMEM;
	}
	w->cap = batch;
	return 0;
}

/* A candidate's sparse features, as row addresses: tables in order,
 * 'lookups' rows each, drawn from the request's seed. */
static void candidate_rows(const struct model *md, uint64_t seed, int b, const float **rows)
{
	const int T = md->spec->tables, L = md->spec->lookups;
	const uint32_t nrows = (uint32_t)md->spec->rows;
	uint64_t rs = rng_derive(seed, SALT_CANDIDATE, (uint64_t)b);

	for (int t = 0; t < T; t++) {
		const float *table = md->tables + (size_t)t * nrows * EMB_DIM;

		for (int l = 0; l < L; l++) {
			uint32_t rank = zipf_sample(&md->zipf, rng_next(&rs));
			uint32_t row = fastmod(rank * md->mult[t] + md->off[t], md->rows_magic, nrows);

			*rows++ = table + (size_t)row * EMB_DIM;
		}
	}
}

/* All four cache lines of a row: a row is always read whole. */
static inline void prefetch_row(const float *row)
{
	for (int k = 0; k < EMB_DIM; k += 64 / sizeof(float))
		__builtin_prefetch(row + k);
}

/*
 * Sum pooling: each candidate's rows of a table are summed into one vector.
 *
 * Embedding lookups are latency-bound: the Zipf tail misses every cache,
 * and a demand miss costs ~100 ns.  As production kernels do (FBGEMM's
 * embedding bag), prefetch PREFETCH_ROWS rows ahead, across the boundary
 * into the next candidate, whose rows are drawn before this one is summed.
 */
#define PREFETCH_ROWS 16

void model_embedding(int model, struct model_work *w, int batch, uint64_t seed)
{
	const struct model *md = &models[model];
	const int T = md->spec->tables, L = md->spec->lookups, n = T * L;
	const float **cur = w->rows, **next = w->rows + n;

	candidate_rows(md, seed, 0, cur);
	for (int b = 0; b < batch; b++) {
		const bool more = b + 1 < batch;
		const float **tmp;

		if (more)
			candidate_rows(md, seed, b + 1, next);
		for (int t = 0; t < T; t++) {
			float *out = w->pooled + ((size_t)b * T + t) * EMB_DIM;

			memset(out, 0, EMB_DIM * sizeof(float));
			for (int f = t * L; f < (t + 1) * L; f++) {
				const int pf = f + PREFETCH_ROWS;
				const float *row = cur[f];

				if (pf < n)
					prefetch_row(cur[pf]);
				else if (more)
					prefetch_row(next[pf - n]);
				/* out stays in L1: load-add-store is cheap next
				 * to the row's miss. */
				for (int k = 0; k < EMB_DIM; k += 4)
					v4_store(out + k, v4_load(out + k) + v4_load(row + k));
			}
		}
		tmp = cur;
		cur = next;
		next = tmp;
	}
}

/*
 * y = x W + b over the batch, optionally ReLU.  Output chunks of LANES are
 * the outer loop, so one chunk of W (in x 64 bytes) stays in L1 while the
 * candidates stream through it; two candidates at a time share each load
 * of W and give eight independent accumulator chains.
 */
static void layer_forward(const struct layer *l, const float *in, float *out, int batch,
			  bool relu)
{
	const int nin = l->in, nout = l->out;

	for (int j0 = 0; j0 < nout; j0 += LANES) {
		const float *wc = l->w + j0;
		v4f bias[4];
		int b = 0;

		for (int k = 0; k < 4; k++)
			bias[k] = v4_load(l->b + j0 + 4 * k);
		for (; b < batch; b += 2) {
			/* An odd last candidate pairs with itself. */
			const int b1 = b + 1 < batch ? b + 1 : b;
			const float *x0 = in + (size_t)b * nin, *x1 = in + (size_t)b1 * nin;
			v4f a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
			v4f c0 = bias[0], c1 = bias[1], c2 = bias[2], c3 = bias[3];

			for (int i = 0; i < nin; i++) {
				const float *w = wc + (size_t)i * nout;
				const v4f w0 = v4_load(w), w1 = v4_load(w + 4);
				const v4f w2 = v4_load(w + 8), w3 = v4_load(w + 12);
				const float s0 = x0[i], s1 = x1[i];

				a0 += w0 * s0;
				a1 += w1 * s0;
				a2 += w2 * s0;
				a3 += w3 * s0;
				c0 += w0 * s1;
				c1 += w1 * s1;
				c2 += w2 * s1;
				c3 += w3 * s1;
			}
			if (relu) {
				a0 = v4_relu(a0), a1 = v4_relu(a1), a2 = v4_relu(a2), a3 = v4_relu(a3);
				c0 = v4_relu(c0), c1 = v4_relu(c1), c2 = v4_relu(c2), c3 = v4_relu(c3);
			}
			float *y0 = out + (size_t)b * nout + j0, *y1 = out + (size_t)b1 * nout + j0;

			v4_store(y1, c0);
			v4_store(y1 + 4, c1);
			v4_store(y1 + 8, c2);
			v4_store(y1 + 12, c3);
			v4_store(y0, a0);
			v4_store(y0 + 4, a1);
			v4_store(y0 + 8, a2);
			v4_store(y0 + 12, a3);
		}
	}
}

/* Dot product of n floats, n a multiple of LANES. */
static float dot_lanes(const float *a, const float *b, int n)
{
	v4f acc[4] = { { 0 } };
	float sum = 0;

	for (int d0 = 0; d0 < n; d0 += LANES)
		for (int k = 0; k < 4; k++)
			acc[k] += v4_load(a + d0 + 4 * k) * v4_load(b + d0 + 4 * k);
	acc[0] += acc[1] + acc[2] + acc[3];
	for (int k = 0; k < 4; k++)
		sum += acc[0][k];
	return sum;
}

void model_bottom_mlp(int model, struct model_work *w, int batch, uint64_t seed)
{
	const struct model *md = &models[model];
	const float *in = w->dense;
	int which = 0;

	/* Dense features look like Criteo's: non-negative counts, log1p'd. */
	for (int b = 0; b < batch; b++) {
		uint64_t rs = rng_derive(seed, SALT_DENSE, (uint64_t)b);

		for (int k = 0; k < DENSE_DIM; k++)
			w->dense[b * DENSE_DIM + k] = log1pf((float)(rng_unit(&rs) * 1000.0));
	}
	for (int i = 0; i < md->nbottom; i++) {
		layer_forward(&md->bottom[i], in, w->act[which], batch, true);
		in = w->act[which];
		which ^= 1;
	}
	w->bottom_out = in;
}

/*
 * Pairwise dot products between the bottom MLP's output and every pooled
 * embedding (DLRM's "dot" interaction), concatenated after the bottom
 * output itself: that is the top MLP's input.
 */
void model_interaction(int model, struct model_work *w, int batch)
{
	const struct model *md = &models[model];
	const int T = md->spec->tables;

	for (int b = 0; b < batch; b++) {
		const float *feat[MAX_TABLES + 1];
		float *out = w->top_in + (size_t)b * md->top_in;

		feat[0] = w->bottom_out + (size_t)b * EMB_DIM;
		for (int t = 0; t < T; t++)
			feat[t + 1] = w->pooled + ((size_t)b * T + t) * EMB_DIM;
		memcpy(out, feat[0], EMB_DIM * sizeof(float));
		out += EMB_DIM;
		for (int i = 1; i < md->nfeat; i++)
			for (int j = 0; j < i; j++)
				*out++ = dot_lanes(feat[i], feat[j], EMB_DIM);
	}
}

double model_top_mlp(int model, struct model_work *w, int batch)
{
	const struct model *md = &models[model];
	const float *in = w->top_in;
	const int width = md->top[md->ntop - 1].out;
	int which = 0;
	double sum = 0;

	for (int i = 0; i < md->ntop; i++) {
		layer_forward(&md->top[i], in, w->act[which], batch, true);
		in = w->act[which];
		which ^= 1;
	}
	for (int b = 0; b < batch; b++) {
		float z = md->head_b + dot_lanes(in + (size_t)b * width, md->head_w, width);

		sum += 1.0 / (1.0 + exp(-(double)z));
	}
	return sum;
}
