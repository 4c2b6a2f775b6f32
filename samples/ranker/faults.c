/* SPDX-License-Identifier: MIT */
/*
 * Switchable faults: each one reproduces a production problem that loupe's
 * analyzer should find.  All are off by default and driven by config keys
 * (fault_*), so they can be switched on and off with a SIGHUP.
 *
 * Every fault runs in a noinline function with a telling name
 * (leak_request_context, slow_stage_burn, lock_contention_hold,
 * alloc_churn_candidate, page_fault_churn, stall_park), so stack samples and
 * heap profiles point at it the way they would point at a real culprit.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ranker.h"

/* Results written here so the compiler cannot drop the work. */
static _Atomic(void *) leak_last;
static atomic_llong leak_total;
static atomic_uint burn_sink;

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* the stall thread's timer, and its stop */
	pthread_cond_t release;	/* workers parked at a safepoint */
	atomic_int active;	/* a stall is in progress */
	bool running;
	bool stop;
	int period_ms;
	int length_ms;
	long long count;
	pthread_t thread;
} stall = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.release = PTHREAD_COND_INITIALIZER,
};

static long page_size;

/* Sleep on c until deadline_ns (CLOCK_MONOTONIC; c must use that clock). */
static void cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / 1000000000u),
		.tv_nsec = (long)(deadline_ns % 1000000000u),
	};

	pthread_cond_timedwait(c, m, &ts);
}

/* Busy work for ns nanoseconds; checks the clock every few hundred flops
 * so the overshoot stays well under a microsecond. */
static unsigned spin_ns(uint64_t ns)
{
	uint64_t end = ranker_now_ns() + ns;
	float x = 1.0f, acc = 0;

	do {
		for (int i = 0; i < 256; i++) {
			x = x * 0.9999999f + 1e-7f;
			acc += x;
		}
	} while (ranker_now_ns() < end);
	return (unsigned)acc;
}

void faults_init(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&stall.wake, &attr);
	pthread_condattr_destroy(&attr);
	page_size = sysconf(_SC_PAGESIZE);
	if (page_size <= 0)
		page_size = 4096;
}

/* ---- fault_leak_bytes: a per-request context that is never freed ---- */

RANKER_NOINLINE static void *leak_request_context(long long bytes)
{
	void *ctx = malloc((size_t)bytes);

	/* Touch it, so the leak grows RSS and not just address space. */
	if (ctx)
		memset(ctx, 0xa5, (size_t)bytes);
	return ctx;
}

void faults_leak_request(long long bytes)
{
	void *ctx;

	if (bytes <= 0)
		return;
	ctx = leak_request_context(bytes);
	if (!ctx)
		return;
	/* Only the latest pointer is kept: every earlier one is lost, which
	 * is what a leak checker reports. */
	atomic_store_explicit(&leak_last, ctx, memory_order_relaxed);
	atomic_fetch_add_explicit(&leak_total, bytes, memory_order_relaxed);
}

long long faults_leaked_total(void)
{
	return atomic_load(&leak_total);
}

/* ---- fault_slow_stage / fault_slow_pct: a stage regressed ---- */

RANKER_NOINLINE static unsigned slow_stage_burn(uint64_t ns)
{
	return spin_ns(ns);
}

void faults_slow_stage(uint64_t extra_ns)
{
	if (extra_ns)
		atomic_fetch_add_explicit(&burn_sink, slow_stage_burn(extra_ns),
					  memory_order_relaxed);
}

/* ---- fault_lock_us: one global lock around per-request work ---- */

/* Like a shared cache refreshed under one mutex: the holder works (on-CPU)
 * while every other worker sleeps in futex_wait (off-CPU). */
RANKER_NOINLINE static unsigned lock_contention_hold(int us)
{
	unsigned r;

	pthread_mutex_lock(&fault_lock);
	r = spin_ns((uint64_t)us * 1000);
	pthread_mutex_unlock(&fault_lock);
	return r;
}

void faults_lock_hold(int us)
{
	if (us > 0)
		atomic_fetch_add_explicit(&burn_sink, lock_contention_hold(us),
					  memory_order_relaxed);
}

/* ---- fault_alloc_churn: temporary buffers malloc'd per candidate ---- */

#define CHURN_LIVE 8	/* allocations alive at once: frees interleave */

RANKER_NOINLINE static unsigned alloc_churn_candidate(long pairs, uint64_t seed)
{
	unsigned char *live[CHURN_LIVE] = { NULL };
	uint64_t rs = seed;
	unsigned sink = 0;

	for (long i = 0; i < pairs; i++) {
		uint64_t r = rng_next(&rs);
		/* 64 B .. 64 KiB, log-uniform: tcache-sized and bin-sized
		 * chunks alike, so the whole allocator is exercised. */
		size_t base = (size_t)64 << (r % 10);
		size_t size = base + (size_t)((r >> 8) % base);
		unsigned char **slot = &live[i % CHURN_LIVE];
		unsigned char *p;

		free(*slot);
		*slot = NULL;
		p = malloc(size);
		if (!p)
			continue;
		/* Write both ends so neither the allocation nor its pages
		 * can be optimised away. */
		p[0] = (unsigned char)i;
		p[size - 1] = (unsigned char)r;
		sink += ((volatile unsigned char *)p)[size - 1];
		*slot = p;
	}
	for (int i = 0; i < CHURN_LIVE; i++)
		free(live[i]);
	return sink;
}

void faults_alloc_churn(long pairs, uint64_t seed)
{
	if (pairs > 0)
		atomic_fetch_add_explicit(&burn_sink,
					  alloc_churn_candidate(pairs, rng_mix64(seed ^ SALT_CHURN)),
					  memory_order_relaxed);
}

/* ---- fault_page_fault_kb: a fresh scratch mapping per request ---- */

RANKER_NOINLINE static void page_fault_churn(int kb)
{
	size_t len = (size_t)kb * 1024;
	volatile char *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	/* One fault per base page even where THP is "always". */
	madvise((void *)p, len, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < len; off += (size_t)page_size)
		p[off] = 1;
	munmap((void *)p, len);
}

void faults_page_fault_churn(int kb)
{
	if (kb > 0)
		page_fault_churn(kb);
}

/* ---- fault_stall_period_ms / fault_stall_ms: stop-the-world pauses ---- */

/*
 * Like a garbage collector: every period the stall thread raises a flag,
 * workers park at their next safepoint (between stages) until it drops,
 * length ms later.  The pause is off-CPU, so it shows in off-CPU profiles
 * and latency, not in CPU profiles.
 */
static void *stall_main(void *arg)
{
	uint64_t period = (uint64_t)stall.period_ms * 1000000;
	uint64_t length = (uint64_t)stall.length_ms * 1000000;
	uint64_t next;

	(void)arg;
	pthread_mutex_lock(&stall.lock);
	next = ranker_now_ns() + period;
	while (!stall.stop) {
		uint64_t now = ranker_now_ns(), until;

		if (now < next) {
			cond_wait_until(&stall.wake, &stall.lock, next);
			continue;
		}
		atomic_store(&stall.active, 1);
		stall.count++;
		until = next + length;
		while (!stall.stop && (now = ranker_now_ns()) < until)
			cond_wait_until(&stall.wake, &stall.lock, until);
		atomic_store(&stall.active, 0);
		pthread_cond_broadcast(&stall.release);
		/* Period is start to start; if we were descheduled past a
		 * whole period, do not fire back-to-back to catch up. */
		next += period;
		if (next < now)
			next = now + period;
	}
	atomic_store(&stall.active, 0);
	pthread_cond_broadcast(&stall.release);
	pthread_mutex_unlock(&stall.lock);
	return NULL;
}

static void stall_stop(void)
{
	if (!stall.running)
		return;
	pthread_mutex_lock(&stall.lock);
	stall.stop = true;
	pthread_cond_signal(&stall.wake);
	pthread_mutex_unlock(&stall.lock);
	pthread_join(stall.thread, NULL);
	stall.running = false;
}

void faults_configure(const struct config *cfg)
{
	int err;

	if (stall.running && stall.period_ms == cfg->fault_stall_period_ms &&
	    stall.length_ms == cfg->fault_stall_ms)
		return;
	stall_stop();
	if (cfg->fault_stall_period_ms <= 0 || cfg->fault_stall_ms <= 0)
		return;
	stall.period_ms = cfg->fault_stall_period_ms;
	stall.length_ms = cfg->fault_stall_ms;
	stall.stop = false;
	err = thread_spawn(&stall.thread, stall_main, NULL);
	if (err) {
		fprintf(stderr, "ranker: fault_stall: start stall thread: %s\n", strerror(-err));
		return;
	}
	stall.running = true;
}

void faults_shutdown(void)
{
	stall_stop();
}

RANKER_NOINLINE static void stall_park(void)
{
	pthread_mutex_lock(&stall.lock);
	while (atomic_load(&stall.active))
		pthread_cond_wait(&stall.release, &stall.lock);
	pthread_mutex_unlock(&stall.lock);
}

void faults_safepoint(void)
{
	/* A single load when no stall is in progress: safe to call often. */
	if (atomic_load_explicit(&stall.active, memory_order_acquire))
		stall_park();
}

long long faults_stall_count(void)
{
	long long n;

	pthread_mutex_lock(&stall.lock);
	n = stall.count;
	pthread_mutex_unlock(&stall.lock);
	return n;
}
