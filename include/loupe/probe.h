/* SPDX-License-Identifier: MIT */
/*
 * loupe instrumentation API: request and stage timing for inference servers.
 *
 * Header-only, C and C++.  Include it wherever you instrument; nothing to link.
 *
 * Cost model (DESIGN.md §1).  A USDT trap costs ~5 µs on a VM; a ranking
 * request takes 0.5-5 ms.  So:
 *   - With no profiler attached every macro is one load and one branch on a
 *     USDT semaphore, which the kernel bumps while loupe (or perf/bpftrace
 *     with semaphore support) is attached.
 *   - Attached, stage boundaries are recorded in a thread-local context
 *     (struct loupe_thread_ctx: a clock read and a few stores), and finished
 *     requests are handed to the kernel by ONE probe, loupe:flush, whose
 *     argument points at the context.  The flush fires when LOUPE_BATCH
 *     records are buffered, or at the end of a request when the last flush
 *     is LOUPE_FLUSH_NS old, or when the thread goes idle (LOUPE_IDLE).  So it
 *     is at most one trap per request, and far fewer under load.
 *   - Model and stage names travel as pointers; each thread ships a name's
 *     pointer once per announce epoch (1 s) in new_names[], and loupe reads
 *     the string.  Models and config are re-announced every second while a
 *     profiler is attached, so one that attaches late still learns them.
 *
 * Probes (provider "loupe"), all plain USDT, visible to perf and bpftrace:
 *   loupe:flush(struct loupe_thread_ctx *ctx)
 *   loupe:model(const char *name)
 *   loupe:config(const char *key, const char *value)
 *
 * Needs POSIX.1-2008 (clock_gettime): the default in gcc's gnu modes; with
 * -std=c11 also define _POSIX_C_SOURCE=200809L.
 *
 * Threading: per-request macros must be called on one thread per request
 * (the worker).  LOUPE_MODEL and LOUPE_CONFIG are thread-safe and cold.
 * Names passed to the macros must outlive the process (string literals or
 * static storage).  Define LOUPE_DISABLE to compile every macro out.
 */
#ifndef LOUPE_PROBE_H
#define LOUPE_PROBE_H

#include <linux/types.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <loupe/probe_abi.h>

/* Strict ISO C modes (-std=c11) hide syscall(); its prototype is fixed. */
#if !defined(__cplusplus) && defined(__GLIBC__) && !defined(__USE_MISC)
extern long syscall(long number, ...);
#endif

#ifndef LOUPE_DISABLE
/* Outside extern "C": in C++ sdt.h declares templates. */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifndef LOUPE_FLUSH_NS
#define LOUPE_FLUSH_NS 10000000ull	/* hand over at least every 10 ms */
#endif
#define LOUPE_ANNOUNCE_NS 1000000000ull /* re-announce models/config */
#define LOUPE_MAX_MODELS 32
#define LOUPE_MAX_CONFIG 64

static inline __u64 loupe_now_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC is what bpf_ktime_get_ns() reads: one time base. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

#ifdef LOUPE_DISABLE

#define LOUPE_ATTACHED() 0
#define LOUPE_MODEL(name) ((void)sizeof(name))
#define LOUPE_CONFIG(key, value) ((void)sizeof(key), (void)sizeof(value))
#define LOUPE_REQUEST_BEGIN(id, model, batch) \
	((void)sizeof(id), (void)sizeof(model), (void)sizeof(batch))
#define LOUPE_REQUEST_BEGIN_AT(id, model, batch, t) \
	((void)sizeof(id), (void)sizeof(model), (void)sizeof(batch), \
	 (void)sizeof(t))
#define LOUPE_REQUEST_END(id, status) ((void)sizeof(id), (void)sizeof(status))
#define LOUPE_REQUEST_END_AT(id, status, t) \
	((void)sizeof(id), (void)sizeof(status), (void)sizeof(t))
#define LOUPE_STAGE_BEGIN(name) ((void)sizeof(name))
#define LOUPE_STAGE_END(name) ((void)sizeof(name))
#define LOUPE_STAGE_SPAN(name, b, e) \
	((void)sizeof(name), (void)sizeof(b), (void)sizeof(e))
#define LOUPE_IDLE() ((void)0)

#else /* !LOUPE_DISABLE */

/*
 * Weak, hidden definitions: every translation unit that includes this header
 * emits them and the linker keeps one per executable or shared object, so
 * the header needs no companion .c file.  loupe attaches to the probes of
 * every loaded object, so each object having its own copy is fine.
 */
#define LOUPE_SHARED_ __attribute__((weak, visibility("hidden")))
#define LOUPE_COLD_ __attribute__((weak, visibility("hidden"), noinline, cold))

LOUPE_SHARED_ unsigned short loupe_flush_semaphore
	__attribute__((section(".probes")));
LOUPE_SHARED_ unsigned short loupe_model_semaphore
	__attribute__((section(".probes")));
LOUPE_SHARED_ unsigned short loupe_config_semaphore
	__attribute__((section(".probes")));

LOUPE_SHARED_ __thread struct loupe_thread_ctx loupe_tls_ctx;

struct loupe_registry {
	pthread_mutex_t lock;
	unsigned int nmodels;
	unsigned int nconfig;
	const char *models[LOUPE_MAX_MODELS];
	struct {
		char key[LOUPE_NAME_MAX];
		char value[LOUPE_VALUE_MAX];
	} config[LOUPE_MAX_CONFIG];
	__u64 last_announce_ns;	/* CAS-elected announcer, see below */
	__u64 epoch;		/* bumped by every announce */
};

LOUPE_SHARED_ struct loupe_registry loupe_registry = {
	PTHREAD_MUTEX_INITIALIZER, 0, 0, {0}, {{{0}, {0}}}, 0, 0
};

#define LOUPE_ATTACHED() __builtin_expect(loupe_flush_semaphore != 0, 0)

/* Prototypes, so users building with -Wmissing-prototypes stay quiet. */
void loupe_flush_ctx(struct loupe_thread_ctx *c, __u64 now);
void loupe_fire_model(const char *name);
void loupe_fire_config(const char *key, const char *value);
void loupe_announce_locked(void);
void loupe_model(const char *name);
void loupe_config(const char *key, const char *value);

/* Hands buffered records and new names to the kernel: the one trap. */
LOUPE_COLD_ void loupe_flush_ctx(struct loupe_thread_ctx *c, __u64 now)
{
	if (c->nrec || c->nnames)
		STAP_PROBE1(loupe, flush, c);
	c->nrec = 0;
	c->nnames = 0;
	c->last_flush_ns = now;
}

/*
 * One probe site each, with the arguments in registers: libbpf 1.1 cannot
 * decode the indexed memory operands a compiler picks inside a loop.
 */
LOUPE_COLD_ void loupe_fire_model(const char *name)
{
	STAP_PROBE1(loupe, model, name);
}

LOUPE_COLD_ void loupe_fire_config(const char *key, const char *value)
{
	STAP_PROBE2(loupe, config, key, value);
}

/* Caller holds loupe_registry.lock. */
LOUPE_COLD_ void loupe_announce_locked(void)
{
	struct loupe_registry *r = &loupe_registry;
	unsigned int i;

	for (i = 0; i < r->nmodels; i++)
		loupe_fire_model(r->models[i]);
	for (i = 0; i < r->nconfig; i++)
		loupe_fire_config(r->config[i].key, r->config[i].value);
	/* Threads re-ship their names, so a new profiler learns them too. */
	__atomic_add_fetch(&r->epoch, 1, __ATOMIC_RELAXED);
}

/*
 * At most one thread per second wins the CAS and re-announces; the others
 * pay one relaxed load.  Only ever called on the attached path.
 */
static inline void loupe_maybe_announce(__u64 now)
{
	struct loupe_registry *r = &loupe_registry;
	__u64 last = __atomic_load_n(&r->last_announce_ns, __ATOMIC_RELAXED);

	if (now - last < LOUPE_ANNOUNCE_NS)
		return;
	if (!__atomic_compare_exchange_n(&r->last_announce_ns, &last, now, 0,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&r->lock);
	loupe_announce_locked();
	pthread_mutex_unlock(&r->lock);
}

LOUPE_COLD_ void loupe_model(const char *name)
{
	struct loupe_registry *r = &loupe_registry;
	unsigned int i;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->nmodels; i++)
		if (r->models[i] == name || !strcmp(r->models[i], name))
			break;
	if (i == r->nmodels && i < LOUPE_MAX_MODELS)
		r->models[r->nmodels++] = name;
	if (loupe_model_semaphore)
		loupe_fire_model(name);
	pthread_mutex_unlock(&r->lock);
}

/* Strings are copied (truncated to LOUPE_NAME_MAX/LOUPE_VALUE_MAX). */
LOUPE_COLD_ void loupe_config(const char *key, const char *value)
{
	struct loupe_registry *r = &loupe_registry;
	unsigned int i;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->nconfig; i++)
		if (!strncmp(r->config[i].key, key, LOUPE_NAME_MAX - 1))
			break;
	if (i < LOUPE_MAX_CONFIG) {
		if (i == r->nconfig) {
			r->nconfig++;
			strncpy(r->config[i].key, key, LOUPE_NAME_MAX - 1);
		}
		strncpy(r->config[i].value, value, LOUPE_VALUE_MAX - 1);
		if (loupe_config_semaphore)
			loupe_fire_config(r->config[i].key,
					  r->config[i].value);
	}
	pthread_mutex_unlock(&r->lock);
}

static inline struct loupe_thread_ctx *loupe_ctx(void)
{
	struct loupe_thread_ctx *c = &loupe_tls_ctx;

	if (__builtin_expect(c->tid == 0, 0)) {
		c->abi_version = LOUPE_ABI_VERSION;
		c->tid = (__u32)syscall(SYS_gettid);
	}
	return c;
}

/* Queues NAME's pointer for the next flush unless already shipped. */
static inline void loupe_note_name(struct loupe_thread_ctx *c, const char *name)
{
	__u64 p = (__u64)(unsigned long)name;
	__u64 epoch = __atomic_load_n(&loupe_registry.epoch, __ATOMIC_RELAXED);
	unsigned int i;

	if (c->epoch != epoch) {
		c->epoch = epoch;
		c->nknown = 0;
	}
	for (i = 0; i < c->nknown; i++)
		if (c->known[i] == p)
			return;
	/* Full: leave it unknown and retry at the next use. */
	if (c->nnames == LOUPE_MAX_NEW_NAMES)
		return;
	c->new_names[c->nnames++] = p;
	if (c->nknown < sizeof(c->known) / sizeof(c->known[0]))
		c->known[c->nknown++] = p;
}

static inline void loupe_request_begin(__u64 id, const char *model,
				       __u32 batch, __u64 t)
{
	struct loupe_thread_ctx *c = loupe_ctx();
	struct loupe_req_rec *rec = &c->recs[c->nrec];

	/* Before note_name: an announce starts a new epoch of names. */
	loupe_maybe_announce(t);
	loupe_note_name(c, model);
	rec->req_id = id;
	rec->model = (__u64)(unsigned long)model;
	rec->begin_ns = t;
	rec->end_ns = 0;
	rec->batch = batch;
	rec->status = 0;
	rec->tid = c->tid;
	rec->nstages = 0;
	rec->flags = 0;
	c->in_request = 1;
	c->depth = 0;
	c->cur_req_id = id;
	c->cur_model = rec->model;
	c->cur_stage = 0;
}

static inline void loupe_request_end(__u64 id, int status, __u64 t)
{
	struct loupe_thread_ctx *c = loupe_ctx();
	struct loupe_req_rec *rec = &c->recs[c->nrec];

	if (!c->in_request || rec->req_id != id)
		return;	/* began before attach, or mismatched: drop */
	rec->end_ns = t;
	rec->status = status;
	if (c->depth)
		rec->flags |= LOUPE_REC_F_UNBALANCED;
	c->in_request = 0;
	c->depth = 0;
	c->cur_model = 0;
	c->cur_stage = 0;
	c->cur_req_id = 0;
	c->nrec++;
	/* Not t - last: an END_AT time may precede the last flush. */
	if (c->nrec == LOUPE_BATCH || t >= c->last_flush_ns + LOUPE_FLUSH_NS)
		loupe_flush_ctx(c, t);
}

/* Reserves a span slot in the open request; -1 when full or outside one. */
static inline int loupe_span_slot(struct loupe_thread_ctx *c, const char *name,
				  __u64 begin)
{
	struct loupe_req_rec *rec = &c->recs[c->nrec];
	int slot;

	if (!c->in_request)
		return -1;
	if (rec->nstages == LOUPE_MAX_STAGES) {
		rec->flags |= LOUPE_REC_F_TRUNCATED;
		return -1;
	}
	loupe_note_name(c, name);
	slot = rec->nstages++;
	rec->stages[slot].name = (__u64)(unsigned long)name;
	rec->stages[slot].start_off_ns =
		begin > rec->begin_ns ? (__u32)(begin - rec->begin_ns) : 0;
	rec->stages[slot].dur_ns = 0;
	return slot;
}

static inline __u32 loupe_sat32(__u64 v)
{
	return v > 0xffffffffull ? 0xffffffffu : (__u32)v;
}

static inline void loupe_stage_begin(const char *name)
{
	struct loupe_thread_ctx *c = loupe_ctx();
	__u64 now = loupe_now_ns();

	if (c->depth == LOUPE_MAX_DEPTH) {
		c->recs[c->nrec].flags |= LOUPE_REC_F_TRUNCATED;
		return;
	}
	c->stack[c->depth].name = (__u64)(unsigned long)name;
	c->stack[c->depth].begin_ns = now;
	c->stack[c->depth].slot = loupe_span_slot(c, name, now);
	c->depth++;
	c->cur_stage = (__u64)(unsigned long)name;
}

static inline void loupe_stage_end(const char *name)
{
	struct loupe_thread_ctx *c = loupe_ctx();
	struct loupe_req_rec *rec = &c->recs[c->nrec];
	__u64 now = loupe_now_ns();
	int slot;

	if (!c->depth)
		return;	/* began before attach */
	c->depth--;
	if (c->stack[c->depth].name != (__u64)(unsigned long)name)
		rec->flags |= LOUPE_REC_F_UNBALANCED;
	slot = c->stack[c->depth].slot;
	if (slot >= 0 && c->in_request)
		rec->stages[slot].dur_ns =
			loupe_sat32(now - c->stack[c->depth].begin_ns);
	c->cur_stage = c->depth ? c->stack[c->depth - 1].name : 0;
}

static inline void loupe_stage_span(const char *name, __u64 b, __u64 e)
{
	struct loupe_thread_ctx *c = loupe_ctx();
	int slot = loupe_span_slot(c, name, b);

	if (slot >= 0)
		c->recs[c->nrec].stages[slot].dur_ns =
			loupe_sat32(e > b ? e - b : 0);
}

static inline void loupe_idle(void)
{
	struct loupe_thread_ctx *c = &loupe_tls_ctx;

	if (c->nrec || c->nnames)
		loupe_flush_ctx(c, loupe_now_ns());
}

#define LOUPE_MODEL(name) loupe_model(name)
#define LOUPE_CONFIG(key, value) loupe_config((key), (value))
#define LOUPE_REQUEST_BEGIN_AT(id, model, batch, t)                        \
	do {                                                               \
		if (LOUPE_ATTACHED())                                      \
			loupe_request_begin((id), (model), (batch), (t));  \
	} while (0)
#define LOUPE_REQUEST_BEGIN(id, model, batch)                              \
	do {                                                               \
		if (LOUPE_ATTACHED())                                      \
			loupe_request_begin((id), (model), (batch),        \
					    loupe_now_ns());               \
	} while (0)
#define LOUPE_REQUEST_END_AT(id, status, t)                                \
	do {                                                               \
		if (LOUPE_ATTACHED())                                      \
			loupe_request_end((id), (status), (t));            \
	} while (0)
#define LOUPE_REQUEST_END(id, status)                                      \
	do {                                                               \
		if (LOUPE_ATTACHED())                                      \
			loupe_request_end((id), (status), loupe_now_ns()); \
	} while (0)
#define LOUPE_STAGE_BEGIN(name)                                            \
	do {                                                               \
		if (LOUPE_ATTACHED())                                      \
			loupe_stage_begin(name);                           \
	} while (0)
#define LOUPE_STAGE_END(name)                                              \
	do {                                                               \
		if (LOUPE_ATTACHED())                                      \
			loupe_stage_end(name);                             \
	} while (0)
#define LOUPE_STAGE_SPAN(name, b, e)                                       \
	do {                                                               \
		if (LOUPE_ATTACHED())                                      \
			loupe_stage_span((name), (b), (e));                \
	} while (0)
/* A worker about to wait for work: hand over what is buffered. */
#define LOUPE_IDLE()                                                       \
	do {                                                               \
		if (LOUPE_ATTACHED())                                      \
			loupe_idle();                                      \
	} while (0)

#endif /* LOUPE_DISABLE */

#ifdef __cplusplus
}
#endif

#endif /* LOUPE_PROBE_H */
