/* SPDX-License-Identifier: MIT */
/*
 * ranker: a DLRM-style ranking inference server, loupe's sample workload.
 *
 * One header for the whole sample: each .c file is a small module with one
 * job, and this is where their contracts live.
 *
 *   main.c     command line, signals, start-up and shut-down order
 *   config.c   "key = value" config files, defaults, LOUPE_CONFIG announces
 *   model.c    the models: embedding tables, MLPs, interaction (the compute)
 *   zipf.c     Zipf-distributed sparse ids (alias method)
 *   server.c   bounded request queue and a resizable worker pool
 *   loadgen.c  open-loop (Poisson) and closed-loop load generator
 *   faults.c   switchable faults (leak, slow stage, lock, churn, stalls...)
 *   stats.c    exact ground-truth latencies, percentiles, JSON
 *   thread.c   thread creation with signals blocked
 *
 * Threads: main (signals, reload, progress), one generator, N workers and,
 * when the stall fault is on, one stall thread.  Only the main thread ever
 * sees SIGINT/SIGTERM/SIGHUP; every other thread is created with them blocked.
 */
#ifndef RANKER_H
#define RANKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define RANKER_NOINLINE __attribute__((noinline))

/* ---- clock and random numbers (inline: used in the hot loops) ---- */

/* CLOCK_MONOTONIC in nanoseconds: the same clock as loupe_now_ns() and
 * bpf_ktime_get_ns(), so our timestamps can be handed to the probes. */
static inline uint64_t ranker_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64's finaliser: a good 64-bit mix, used both as a counter-based
 * generator (mix(base + i * golden)) and to derive independent streams. */
static inline uint64_t rng_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#define RNG_GOLDEN 0x9e3779b97f4a7c15ull

/* Seed for stream 'salt' of item 'index': deterministic from the run's seed
 * alone, so request i looks the same whichever thread handles it. */
static inline uint64_t rng_derive(uint64_t seed, uint64_t salt, uint64_t index)
{
	return rng_mix64(seed ^ rng_mix64(salt * RNG_GOLDEN + index));
}

/* splitmix64 step: one add and a mix per number, plenty for a workload. */
static inline uint64_t rng_next(uint64_t *state)
{
	*state += RNG_GOLDEN;
	return rng_mix64(*state);
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double rng_unit(uint64_t *state)
{
	return (double)(rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Salts of the per-request random streams. */
enum rng_salt {
	SALT_ARRIVAL = 1,	/* inter-arrival gaps */
	SALT_REQUEST,		/* model choice, batch size, request seed */
	SALT_CANDIDATE,		/* sparse ids and dense features of a candidate */
	SALT_DENSE,
	SALT_WEIGHTS,
	SALT_PERMUTE,
	SALT_CHURN,
};

/* ---- stages ---- */

enum stage {
	STAGE_QUEUE_WAIT,
	STAGE_EMBEDDING,
	STAGE_BOTTOM_MLP,
	STAGE_INTERACTION,
	STAGE_TOP_MLP,
	STAGE_COUNT,
};

/* Names as the probes see them ("queue_wait", "embedding", ...). */
extern const char *const stage_names[STAGE_COUNT];

/* Stage by name, or -1. */
int stage_lookup(const char *name);

/* ---- config (config.c) ---- */

struct config {
	int workers;		/* worker threads */
	int queue_depth;	/* requests queued before arrivals are rejected */
	double model_mix;	/* fraction of requests for ctr_small */
	int batch_min;		/* candidates per request, uniform in [min, max] */
	int batch_max;
	int slo_p99_ms;		/* the service's p99 objective: announced only,
				 * for profilers to judge against */
	long long fault_leak_bytes;	/* leaked per request */
	int fault_slow_stage;		/* enum stage, or -1 for none */
	int fault_slow_pct;		/* extra time in that stage, % */
	int fault_lock_us;		/* global lock hold per request */
	int fault_alloc_churn;		/* malloc/free pairs per candidate */
	int fault_stall_period_ms;	/* a global stall every P ms ... */
	int fault_stall_ms;		/* ... lasting L ms */
	int fault_page_fault_kb;	/* fresh mmap touched per request */
};

/* Fill cfg with the defaults (workers = online CPUs). */
void config_init(struct config *cfg);

/*
 * Read 'path' over the defaults into *cfg.  *file_workers is set to the
 * file's workers value, or 0 when the file does not set it.  Unknown keys
 * print a warning and are ignored.  Returns 0, or a negative errno after
 * printing one error line; *cfg is untouched on error.
 */
int config_load(const char *path, struct config *cfg, int *file_workers);

/*
 * LOUPE_CONFIG every key with its effective value, then "config_file" with
 * the absolute path (when abs_path is not NULL).  Call after each (re)load.
 */
void config_announce(const struct config *cfg, const char *abs_path);

/* "workers=2 fault_lock_us=200": workers, then every key that differs from
 * its default, for log lines. */
void config_describe(const struct config *cfg, char *buf, size_t len);

/* ---- models (model.c, zipf.c) ---- */

enum model_id {
	MODEL_CTR_SMALL,
	MODEL_CVR_LARGE,
	MODEL_COUNT,
};

#define DENSE_DIM 13	/* dense features per candidate (Criteo-style) */
#define EMB_DIM 64	/* embedding width, float32 */

/* Allocate and fill every model's tables and weights from 'seed'.  Not
 * thread-safe; call once before any model_* call.  0 or negative errno. */
int models_init(uint64_t seed);
void models_release(void);

/* Static name ("ctr_small", "cvr_large"): safe to hand to the probes. */
const char *model_name(int model);

/* One line describing the model's shape, for the start-up log. */
void model_describe(int model, char *buf, size_t len);

/* Per-worker scratch space: activations for a whole batch.  Not shared. */
struct model_work;
struct model_work *model_work_new(void);
void model_work_free(struct model_work *w);

/* Make room for 'batch' candidates; 0 or -ENOMEM. */
int model_work_reserve(struct model_work *w, int batch);

/*
 * The four compute stages of one request, in order, on the same work area.
 * 'seed' is the request's seed: it determines the sparse ids and the dense
 * features, so results do not depend on which worker runs the request.
 * model_top_mlp returns the sum of the batch's scores (sigmoid outputs).
 */
void model_embedding(int model, struct model_work *w, int batch, uint64_t seed);
void model_bottom_mlp(int model, struct model_work *w, int batch, uint64_t seed);
void model_interaction(int model, struct model_work *w, int batch);
double model_top_mlp(int model, struct model_work *w, int batch);

/* Zipf(s) over [0, n) by Walker's alias method: O(n) set-up, O(1) draws. */
struct zipf {
	uint32_t n;
	uint32_t *threshold;	/* keep i when low 32 bits < threshold[i] */
	uint32_t *alias;
};

int zipf_init(struct zipf *z, uint32_t n, double s);
void zipf_release(struct zipf *z);

/* Rank in [0, n) from one 64-bit random number (rank 0 is the hottest). */
static inline uint32_t zipf_sample(const struct zipf *z, uint64_t r)
{
	uint32_t i = (uint32_t)(((r >> 32) * z->n) >> 32);

	return (uint32_t)r < z->threshold[i] ? i : z->alias[i];
}

/* ---- faults (faults.c) ---- */

/* Call once before threads start. */
void faults_init(void);

/* Main thread, after each (re)load: start, retune or stop the stall thread. */
void faults_configure(const struct config *cfg);

/* Stop the stall thread (releasing any stalled worker). */
void faults_shutdown(void);

/* Worker-side hooks; each is a no-op for a zero argument. */
void faults_leak_request(long long bytes);
void faults_slow_stage(uint64_t extra_ns);
void faults_lock_hold(int us);
void faults_alloc_churn(long pairs, uint64_t seed);
void faults_page_fault_churn(int kb);

/* Block here while a global stall is in progress (a GC-like safepoint). */
void faults_safepoint(void);

/* Totals for the summary. */
long long faults_leaked_total(void);
long long faults_stall_count(void);

/* ---- stats (stats.c) ---- */

struct stats;
struct stats_shard;	/* one per worker slot: appended to without locks */

struct stats *stats_new(void);
void stats_free(struct stats *st);

/* A new shard owned by 'st' (freed by stats_free); NULL on ENOMEM. */
struct stats_shard *stats_shard_new(struct stats *st);

/* Record one completed-ok request; stage_ns[] are its stage durations. */
void stats_record(struct stats_shard *sh, int model, uint64_t latency_ns,
		  const uint64_t stage_ns[STAGE_COUNT], double score_sum);

/* Count one rejected (or failed) request; thread-safe. */
void stats_count_error(struct stats *st);

/* Running totals, thread-safe (for progress lines). */
uint64_t stats_ok(const struct stats *st);
uint64_t stats_errors(const struct stats *st);

/*
 * Print the ground truth to 'out' and, when json_path is set, write it as
 * JSON.  Call after every worker has been joined.  0 or negative errno.
 */
int stats_report(struct stats *st, double duration_s, FILE *out,
		 const char *json_path);

/* ---- server (server.c) ---- */

struct request {
	uint64_t id;		/* request index, unique per run */
	uint64_t arrival_ns;	/* scheduled arrival: latency starts here */
	uint64_t seed;		/* derives ids and dense features */
	int model;
	int batch;
};

struct server;

/* Queue and 'cfg->workers' running workers.  NULL and errno on failure. */
struct server *server_new(const struct config *cfg, struct stats *st);

/*
 * Hand a new config to the workers (picked up at their next dequeue),
 * resize the queue and start or stop workers.  Main thread only; may block
 * while stopping workers finish their current request.  0 or negative errno.
 */
int server_apply_config(struct server *srv, const struct config *cfg);

/* Config generation, bumped by server_apply_config (generator polls it). */
uint64_t server_config_gen(struct server *srv);
void server_config_copy(struct server *srv, struct config *out);

/* Enqueue; -EAGAIN when the queue is full (the caller rejects it). */
int server_submit(struct server *srv, const struct request *rq);

/* Block until fewer than 'limit' requests are queued or in service, or
 * until timeout_ns passes; 0 or -ETIMEDOUT.  For the closed-loop generator. */
int server_wait_outstanding(struct server *srv, unsigned limit, uint64_t timeout_ns);

struct server_status {
	unsigned queued;
	unsigned depth;
	int workers;
};
void server_status(struct server *srv, struct server_status *out);

/* Let workers finish everything queued, then join them all. */
void server_drain(struct server *srv);

/* Free a drained server; NULL is a no-op. */
void server_free(struct server *srv);

/* ---- load generator (loadgen.c) ---- */

struct loadgen_opts {
	double qps;		/* open loop: Poisson arrivals at this rate */
	int closed;		/* closed loop: this many outstanding (0 = open) */
	double duration_s;	/* 0 = until stopped */
	uint64_t seed;
};

struct loadgen;

/* Start the generator thread; NULL and errno on failure. */
struct loadgen *loadgen_start(const struct loadgen_opts *opts, struct server *srv,
			      struct stats *st);

/* True once the duration has elapsed and the thread stopped issuing. */
bool loadgen_finished(struct loadgen *lg);

/* When the load started (CLOCK_MONOTONIC ns). */
uint64_t loadgen_start_ns(const struct loadgen *lg);

/* Stop issuing, join the thread and free it; NULL is a no-op. */
void loadgen_stop(struct loadgen *lg);

/* ---- threads (thread.c) ---- */

/* pthread_create with SIGINT/SIGTERM/SIGHUP blocked in the new thread, so
 * only the main thread handles them.  0 or negative errno. */
int thread_spawn(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif /* RANKER_H */
