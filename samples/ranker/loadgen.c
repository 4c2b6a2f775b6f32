/* SPDX-License-Identifier: MIT */
/*
 * The built-in load generator, one thread.
 *
 * Open loop (--qps): Poisson arrivals on a schedule fixed in advance.  A
 * request's latency runs from its scheduled arrival, not from when it was
 * actually enqueued, so a slow server (or a late generator) cannot hide its
 * queueing by delaying the next request: no coordinated omission.
 *
 * Closed loop (--closed C): C requests outstanding, the next one issued
 * when one completes; latency runs from issue.  This measures capacity.
 *
 * Request i's gap, model, batch size and seed depend only on (seed, i), so
 * two runs with one seed send the same requests whatever the scheduling.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <loupe/probe.h>

#include "ranker.h"

#define CLOSED_POLL_NS 50000000ull	/* re-check stop while waiting */
#define REJECT_BACKOFF_NS 1000000ull	/* closed loop, queue full */

struct loadgen {
	struct loadgen_opts opts;
	struct server *srv;
	struct stats *st;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* CLOCK_MONOTONIC; signalled on stop */
	atomic_bool stop;
	atomic_bool finished;
	uint64_t start_ns;
	uint64_t end_ns;	/* UINT64_MAX: run until stopped */
	struct config cfg;	/* copy, refreshed when the generation moves */
	uint64_t cfg_gen;
	bool idle_pending;	/* probe records buffered on this thread */
};

/*
 * Sleep until t_ns or stop; false when stopped.  Rejections recorded on
 * this thread are handed to the profiler before sleeping, as workers do.
 */
static bool gen_sleep_until(struct loadgen *lg, uint64_t t_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(t_ns / 1000000000u),
		.tv_nsec = (long)(t_ns % 1000000000u),
	};

	if (lg->idle_pending) {
		LOUPE_IDLE();
		lg->idle_pending = false;
	}
	pthread_mutex_lock(&lg->lock);
	while (!atomic_load(&lg->stop) && ranker_now_ns() < t_ns)
		pthread_cond_timedwait(&lg->wake, &lg->lock, &ts);
	pthread_mutex_unlock(&lg->lock);
	return !atomic_load(&lg->stop);
}

/* Request 'index', derived from (seed, index) and the current config. */
static void gen_plan(struct loadgen *lg, uint64_t index, uint64_t arrival_ns, struct request *rq)
{
	uint64_t rs = rng_derive(lg->opts.seed, SALT_REQUEST, index);
	uint64_t gen = server_config_gen(lg->srv);
	unsigned span;

	if (gen != lg->cfg_gen) {
		server_config_copy(lg->srv, &lg->cfg);
		lg->cfg_gen = gen;
	}
	span = (unsigned)(lg->cfg.batch_max - lg->cfg.batch_min + 1);
	rq->id = index;
	rq->arrival_ns = arrival_ns;
	rq->model = rng_unit(&rs) < lg->cfg.model_mix ? MODEL_CTR_SMALL : MODEL_CVR_LARGE;
	rq->batch = lg->cfg.batch_min + (int)(rng_next(&rs) % span);
	rq->seed = rng_next(&rs);
}

/* Enqueue, or reject: a full queue fails the request at once.  The
 * rejection is recorded here, on the generator's thread, since no worker
 * will ever see the request.  0 or -EAGAIN. */
static int gen_issue(struct loadgen *lg, const struct request *rq)
{
	if (!server_submit(lg->srv, rq))
		return 0;
	LOUPE_REQUEST_BEGIN_AT(rq->id, model_name(rq->model), rq->batch, rq->arrival_ns);
	LOUPE_REQUEST_END_AT(rq->id, -1, ranker_now_ns());
	stats_count_error(lg->st);
	lg->idle_pending = true;
	return -EAGAIN;
}

static void gen_open_loop(struct loadgen *lg)
{
	const double mean_gap_ns = 1e9 / lg->opts.qps;
	double t_ns = 0;	/* scheduled offset; double: no drift from rounding */

	for (uint64_t i = 0;; i++) {
		uint64_t rs = rng_derive(lg->opts.seed, SALT_ARRIVAL, i);
		uint64_t arrival;
		struct request rq;

		/* Exponential gaps: -ln(1 - u) * mean, u in [0, 1). */
		t_ns += -log1p(-rng_unit(&rs)) * mean_gap_ns;
		arrival = lg->start_ns + (uint64_t)t_ns;
		if (arrival >= lg->end_ns)
			break;
		/* When behind schedule this returns at once and the request
		 * goes out late but keeps its scheduled arrival. */
		if (!gen_sleep_until(lg, arrival))
			break;
		gen_plan(lg, i, arrival, &rq);
		gen_issue(lg, &rq);
	}
}

static void gen_closed_loop(struct loadgen *lg)
{
	const unsigned limit = (unsigned)lg->opts.closed;

	for (uint64_t i = 0;; i++) {
		struct request rq;
		uint64_t now;

		for (;;) {
			if (atomic_load(&lg->stop))
				return;
			if (!server_wait_outstanding(lg->srv, limit, CLOSED_POLL_NS))
				break;
		}
		now = ranker_now_ns();
		if (now >= lg->end_ns)
			return;
		gen_plan(lg, i, now, &rq);
		/* C above queue_depth + workers fills the queue; back off
		 * instead of spinning on rejections. */
		if (gen_issue(lg, &rq) && !gen_sleep_until(lg, now + REJECT_BACKOFF_NS))
			return;
	}
}

static void *gen_main(void *arg)
{
	struct loadgen *lg = arg;

	/* Default timer slack (50 us) would make every arrival up to 50 us
	 * late, and that lateness is charged to the requests' latency. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	if (lg->opts.closed)
		gen_closed_loop(lg);
	else
		gen_open_loop(lg);
	if (lg->idle_pending)
		LOUPE_IDLE();
	atomic_store(&lg->finished, true);
	return NULL;
}

struct loadgen *loadgen_start(const struct loadgen_opts *opts, struct server *srv,
			      struct stats *st)
{
	struct loadgen *lg = calloc(1, sizeof(*lg));
	pthread_condattr_t attr;
	int err;

	if (!lg)
		return NULL;
	lg->opts = *opts;
	lg->srv = srv;
	lg->st = st;
	pthread_mutex_init(&lg->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&lg->wake, &attr);
	pthread_condattr_destroy(&attr);
	lg->start_ns = ranker_now_ns();
	lg->end_ns = opts->duration_s > 0 ?
		lg->start_ns + (uint64_t)(opts->duration_s * 1e9) : UINT64_MAX;
	err = thread_spawn(&lg->thread, gen_main, lg);
	if (err) {
		pthread_cond_destroy(&lg->wake);
		pthread_mutex_destroy(&lg->lock);
		free(lg);
		errno = -err;
		return NULL;
	}
	return lg;
}

bool loadgen_finished(struct loadgen *lg)
{
	return atomic_load(&lg->finished);
}

uint64_t loadgen_start_ns(const struct loadgen *lg)
{
	return lg->start_ns;
}

void loadgen_stop(struct loadgen *lg)
{
	if (!lg)
		return;
	pthread_mutex_lock(&lg->lock);
	atomic_store(&lg->stop, true);
	pthread_cond_signal(&lg->wake);
	pthread_mutex_unlock(&lg->lock);
	pthread_join(lg->thread, NULL);
	pthread_cond_destroy(&lg->wake);
	pthread_mutex_destroy(&lg->lock);
	free(lg);
}
