/* SPDX-License-Identifier: MIT */
/*
 * The serving side: a bounded FIFO of requests and a pool of workers that
 * run the model stages, each wrapped in a loupe probe.
 *
 * The queue is bounded on purpose: an overloaded server that queues without
 * limit turns overload into unbounded latency; rejecting at a fixed depth
 * keeps latency bounded and makes overload visible as errors.
 *
 * The pool can grow and shrink while serving (config key "workers" on
 * SIGHUP).  Worker i runs while i < target; shrinking lowers the target and
 * joins the surplus workers once they finish their current request.  Worker
 * slots (stats shard, scratch buffers) outlive their threads, so a worker
 * restarted in the same slot keeps appending to the same latencies.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <loupe/probe.h>

#include "ranker.h"

const char *const stage_names[STAGE_COUNT] = {
	[STAGE_QUEUE_WAIT] = "queue_wait",
	[STAGE_EMBEDDING] = "embedding",
	[STAGE_BOTTOM_MLP] = "bottom_mlp",
	[STAGE_INTERACTION] = "interaction",
	[STAGE_TOP_MLP] = "top_mlp",
};

int stage_lookup(const char *name)
{
	for (int s = 0; s < STAGE_COUNT; s++)
		if (!strcmp(stage_names[s], name))
			return s;
	return -1;
}

struct worker {
	struct server *srv;
	int id;
	pthread_t thread;
	struct stats_shard *shard;
	struct model_work *work;
	struct config cfg;	/* private copy, refreshed at dequeue */
	uint64_t cfg_gen;
};

struct server {
	pthread_mutex_t lock;	/* everything below except cfg_gen */
	pthread_cond_t work;	/* queue not empty, draining, or resized */
	pthread_cond_t done;	/* a request finished (closed loop waits) */
	struct request *ring;
	unsigned cap, head, count;
	unsigned depth;		/* admission limit, <= cap */
	unsigned outstanding;	/* queued + in service */
	unsigned done_waiters;
	struct config cfg;
	atomic_uint_fast64_t cfg_gen;
	int target;		/* workers wanted */
	int nstarted;		/* workers [0, nstarted) have threads; main only */
	struct worker **slots;
	int nslots;
	bool draining;
	struct stats *stats;
};

/* End a stage: apply the slow-stage fault (extra work proportional to the
 * time the stage really took) and return the stage's end time. */
static uint64_t stage_close(const struct config *cfg, enum stage s, uint64_t begin_ns)
{
	uint64_t end = ranker_now_ns();

	if (cfg->fault_slow_stage == (int)s && cfg->fault_slow_pct > 0) {
		faults_slow_stage((end - begin_ns) * (uint64_t)cfg->fault_slow_pct / 100);
		end = ranker_now_ns();
	}
	return end;
}

/*
 * One request, start to finish, on this worker's thread.  The probes get
 * the scheduled arrival as the request's begin, so queueing (and any delay
 * of the generator) counts as latency, as the client would see it.  Stall
 * safepoints sit between stages: a global pause shows up as request time
 * outside every stage, not as a slow stage.
 */
static void worker_serve(struct worker *w, const struct request *rq, uint64_t dequeue_ns)
{
	const struct config *cfg = &w->cfg;
	uint64_t stage_ns[STAGE_COUNT], t0, t1, end;
	double score;

	if (dequeue_ns < rq->arrival_ns)
		dequeue_ns = rq->arrival_ns;
	LOUPE_REQUEST_BEGIN_AT(rq->id, model_name(rq->model), rq->batch, rq->arrival_ns);
	LOUPE_STAGE_SPAN("queue_wait", rq->arrival_ns, dequeue_ns);
	stage_ns[STAGE_QUEUE_WAIT] = dequeue_ns - rq->arrival_ns;

	faults_leak_request(cfg->fault_leak_bytes);
	if (model_work_reserve(w->work, rq->batch)) {
		LOUPE_REQUEST_END_AT(rq->id, -ENOMEM, ranker_now_ns());
		stats_count_error(w->srv->stats);
		return;
	}

	faults_safepoint();
	LOUPE_STAGE_BEGIN("embedding");
	t0 = ranker_now_ns();
	faults_lock_hold(cfg->fault_lock_us);
	model_embedding(rq->model, w->work, rq->batch, rq->seed);
	faults_alloc_churn((long)cfg->fault_alloc_churn * rq->batch, rq->seed);
	t1 = stage_close(cfg, STAGE_EMBEDDING, t0);
	LOUPE_STAGE_END("embedding");
	stage_ns[STAGE_EMBEDDING] = t1 - t0;

	faults_safepoint();
	LOUPE_STAGE_BEGIN("bottom_mlp");
	t0 = ranker_now_ns();
	/* The page-fault fault stands for an activation arena mapped afresh
	 * per request instead of reused. */
	faults_page_fault_churn(cfg->fault_page_fault_kb);
	model_bottom_mlp(rq->model, w->work, rq->batch, rq->seed);
	t1 = stage_close(cfg, STAGE_BOTTOM_MLP, t0);
	LOUPE_STAGE_END("bottom_mlp");
	stage_ns[STAGE_BOTTOM_MLP] = t1 - t0;

	faults_safepoint();
	LOUPE_STAGE_BEGIN("interaction");
	t0 = ranker_now_ns();
	model_interaction(rq->model, w->work, rq->batch);
	t1 = stage_close(cfg, STAGE_INTERACTION, t0);
	LOUPE_STAGE_END("interaction");
	stage_ns[STAGE_INTERACTION] = t1 - t0;

	faults_safepoint();
	LOUPE_STAGE_BEGIN("top_mlp");
	t0 = ranker_now_ns();
	score = model_top_mlp(rq->model, w->work, rq->batch);
	t1 = stage_close(cfg, STAGE_TOP_MLP, t0);
	LOUPE_STAGE_END("top_mlp");
	stage_ns[STAGE_TOP_MLP] = t1 - t0;

	/* One timestamp for both the probe and the ground truth, so the two
	 * can be compared to the nanosecond. */
	end = ranker_now_ns();
	LOUPE_REQUEST_END_AT(rq->id, 0, end);
	stats_record(w->shard, rq->model, end - rq->arrival_ns, stage_ns, score);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct server *srv = w->srv;

	pthread_mutex_lock(&srv->lock);
	for (;;) {
		if (w->id >= srv->target)
			break;
		if (srv->count) {
			struct request rq = srv->ring[srv->head];
			uint64_t gen = atomic_load(&srv->cfg_gen);

			srv->head = (srv->head + 1) % srv->cap;
			srv->count--;
			/* Config changes reach a worker here, between requests,
			 * so a request never sees half of a reload. */
			if (w->cfg_gen != gen) {
				w->cfg = srv->cfg;
				w->cfg_gen = gen;
			}
			pthread_mutex_unlock(&srv->lock);
			worker_serve(w, &rq, ranker_now_ns());
			pthread_mutex_lock(&srv->lock);
			srv->outstanding--;
			if (srv->done_waiters)
				pthread_cond_signal(&srv->done);
			continue;
		}
		if (srv->draining)
			break;
		/* About to sleep for an unknown time: hand the records
		 * buffered on this thread to the profiler first.  Outside
		 * the lock, since the handover may trap into the kernel. */
		pthread_mutex_unlock(&srv->lock);
		LOUPE_IDLE();
		pthread_mutex_lock(&srv->lock);
		while (!srv->count && !srv->draining && w->id < srv->target)
			pthread_cond_wait(&srv->work, &srv->lock);
	}
	pthread_mutex_unlock(&srv->lock);
	LOUPE_IDLE();
	return NULL;
}

/* The slot for worker id, created on first use; NULL on ENOMEM. */
static struct worker *worker_slot(struct server *srv, int id)
{
	struct worker *w;

	if (id < srv->nslots && srv->slots[id])
		return srv->slots[id];
	if (id >= srv->nslots) {
		int n = id + 1 > 2 * srv->nslots ? id + 1 : 2 * srv->nslots;
		struct worker **slots = realloc(srv->slots, (size_t)n * sizeof(*slots));

		if (!slots)
			return NULL;
		memset(slots + srv->nslots, 0, (size_t)(n - srv->nslots) * sizeof(*slots));
		srv->slots = slots;
		srv->nslots = n;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->srv = srv;
	w->id = id;
	w->shard = stats_shard_new(srv->stats);
	w->work = model_work_new();
	if (!w->shard || !w->work) {
		/* The shard belongs to stats and is freed with it. */
		model_work_free(w->work);
		free(w);
		return NULL;
	}
	srv->slots[id] = w;
	return w;
}

/* Start workers [nstarted, n); on failure, the target drops to what runs. */
static int workers_grow(struct server *srv, int n)
{
	int err = 0;

	while (srv->nstarted < n) {
		struct worker *w = worker_slot(srv, srv->nstarted);

		if (!w) {
			err = -ENOMEM;
			break;
		}
		w->cfg_gen = 0;	/* copy the config at the first dequeue */
		err = thread_spawn(&w->thread, worker_main, w);
		if (err)
			break;
		srv->nstarted++;
	}
	if (err) {
		pthread_mutex_lock(&srv->lock);
		srv->target = srv->nstarted;
		pthread_mutex_unlock(&srv->lock);
		fprintf(stderr, "ranker: start worker %d: %s\n", srv->nstarted, strerror(-err));
	}
	return err;
}

/* Join workers [n, nstarted); they exit after their current request. */
static void workers_shrink(struct server *srv, int n)
{
	while (srv->nstarted > n) {
		srv->nstarted--;
		pthread_join(srv->slots[srv->nstarted]->thread, NULL);
	}
}

/* Make room for 'depth' requests, keeping what is queued, in order. */
static int ring_resize(struct server *srv, unsigned depth)
{
	unsigned cap = depth > srv->count ? depth : srv->count;
	struct request *ring;

	if (cap == srv->cap)
		return 0;
	ring = malloc((size_t)cap * sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	for (unsigned i = 0; i < srv->count; i++)
		ring[i] = srv->ring[(srv->head + i) % srv->cap];
	free(srv->ring);
	srv->ring = ring;
	srv->cap = cap;
	srv->head = 0;
	return 0;
}

struct server *server_new(const struct config *cfg, struct stats *st)
{
	struct server *srv = calloc(1, sizeof(*srv));
	pthread_condattr_t attr;
	int err;

	if (!srv)
		return NULL;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->work, NULL);
	/* Timed waits use CLOCK_MONOTONIC: wall-clock steps must not
	 * stretch or cut them. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->done, &attr);
	pthread_condattr_destroy(&attr);
	srv->stats = st;
	srv->cfg = *cfg;
	atomic_store(&srv->cfg_gen, 1);
	srv->depth = (unsigned)cfg->queue_depth;
	err = ring_resize(srv, srv->depth);
	if (!err) {
		srv->target = cfg->workers;
		err = workers_grow(srv, cfg->workers);
	}
	if (err) {
		server_drain(srv);
		server_free(srv);
		errno = -err;
		return NULL;
	}
	return srv;
}

int server_apply_config(struct server *srv, const struct config *cfg)
{
	int err;

	pthread_mutex_lock(&srv->lock);
	srv->cfg = *cfg;
	atomic_fetch_add(&srv->cfg_gen, 1);
	err = ring_resize(srv, (unsigned)cfg->queue_depth);
	if (!err)
		srv->depth = (unsigned)cfg->queue_depth;
	srv->target = cfg->workers;
	pthread_cond_broadcast(&srv->work);
	pthread_mutex_unlock(&srv->lock);
	if (err)
		fprintf(stderr, "ranker: resize queue to %d: %s\n", cfg->queue_depth, strerror(-err));

	if (cfg->workers > srv->nstarted) {
		int e = workers_grow(srv, cfg->workers);

		if (!err)
			err = e;
	} else {
		workers_shrink(srv, cfg->workers);
	}
	return err;
}

uint64_t server_config_gen(struct server *srv)
{
	return atomic_load(&srv->cfg_gen);
}

void server_config_copy(struct server *srv, struct config *out)
{
	pthread_mutex_lock(&srv->lock);
	*out = srv->cfg;
	pthread_mutex_unlock(&srv->lock);
}

int server_submit(struct server *srv, const struct request *rq)
{
	pthread_mutex_lock(&srv->lock);
	if (srv->draining || srv->count >= srv->depth) {
		pthread_mutex_unlock(&srv->lock);
		return -EAGAIN;
	}
	srv->ring[(srv->head + srv->count) % srv->cap] = *rq;
	srv->count++;
	srv->outstanding++;
	pthread_cond_signal(&srv->work);
	pthread_mutex_unlock(&srv->lock);
	return 0;
}

int server_wait_outstanding(struct server *srv, unsigned limit, uint64_t timeout_ns)
{
	uint64_t deadline = ranker_now_ns() + timeout_ns;
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / 1000000000u),
		.tv_nsec = (long)(deadline % 1000000000u),
	};
	int ret = 0;

	pthread_mutex_lock(&srv->lock);
	while (srv->outstanding >= limit) {
		srv->done_waiters++;
		ret = pthread_cond_timedwait(&srv->done, &srv->lock, &ts);
		srv->done_waiters--;
		if (ret == ETIMEDOUT && srv->outstanding >= limit) {
			ret = -ETIMEDOUT;
			break;
		}
		ret = 0;
	}
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

void server_status(struct server *srv, struct server_status *out)
{
	pthread_mutex_lock(&srv->lock);
	out->queued = srv->count;
	out->depth = srv->depth;
	out->workers = srv->target;
	pthread_mutex_unlock(&srv->lock);
}

void server_drain(struct server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->draining = true;
	pthread_cond_broadcast(&srv->work);
	pthread_mutex_unlock(&srv->lock);
	workers_shrink(srv, 0);
}

void server_free(struct server *srv)
{
	if (!srv)
		return;
	for (int i = 0; i < srv->nslots; i++) {
		if (srv->slots[i])
			model_work_free(srv->slots[i]->work);
		free(srv->slots[i]);
	}
	free(srv->slots);
	free(srv->ring);
	pthread_cond_destroy(&srv->work);
	pthread_cond_destroy(&srv->done);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
