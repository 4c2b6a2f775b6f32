// SPDX-License-Identifier: MIT
/*
 * Detectors over CPU and off-CPU stacks and counters: lock contention
 * (blocked in a lock inside a stage), thread oversubscription (run-queue
 * wait), allocator pressure (malloc/free share of CPU), page-fault churn
 * (faults per request and the kernel's fault path), and the hottest
 * function of each stage.  Stacks come merged from the window stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/analyze_int.h"
#include "analyzer/units.h"

#define LOCK_SHARE 0.05		/* of a stage's own time, blocked in a lock */
#define LOCK_MIN_NS 50e6
#define RUNQ_SHARE 0.20		/* run-queue wait / (on-CPU + run-queue) */
#define ALLOC_SHARE 0.08	/* CPU samples inside the allocator */
#define FAULTS_PER_S 2000
#define FAULTS_PER_REQUEST 16
#define HOT_MIN_SAMPLES 30

struct frame_match {
	const char *const *names;	/* prefixes */
	size_t n;
};

static const char *const lock_fns[] = {
	"__lll_lock_wait", "pthread_mutex_lock", "__pthread_mutex_lock",
	"___pthread_mutex_lock", "pthread_rwlock_", "__pthread_rwlock_",
	"sem_wait", "__new_sem_wait", "futex_wait", "__futex_abstimed_wait",
	"do_futex", "__x64_sys_futex", "std::mutex::lock", "std::__mutex",
};

static const char *const alloc_fns[] = {
	"malloc", "calloc", "realloc", "free", "cfree", "_int_malloc",
	"_int_free", "_int_realloc", "malloc_consolidate", "unlink_chunk",
	"sysmalloc", "tcache_", "__libc_malloc", "__libc_free",
	"__libc_calloc", "__libc_realloc", "__GI___libc_malloc",
	"__GI___libc_free", "posix_memalign", "aligned_alloc", "memalign",
	"_mid_memalign", "operator new", "operator delete", "je_", "tc_",
	"loupe_alloc", "loupe_free",
};

static const char *const fault_fns[] = {
	"asm_exc_page_fault", "exc_page_fault", "do_user_addr_fault",
	"handle_mm_fault", "__handle_mm_fault", "do_anonymous_page",
	"clear_page", "do_fault", "handle_pte_fault",
};

#define MATCH(v) ((struct frame_match){ v, sizeof(v) / sizeof(v[0]) })

static bool matches(const char *fn, struct frame_match m)
{
	size_t i;

	/* glibc's internal aliases: __GI___lll_lock_wait is __lll_lock_wait. */
	if (!strncmp(fn, "__GI_", 5))
		fn += 5;

	for (i = 0; i < m.n; i++)
		if (!strncmp(fn, m.names[i], strlen(m.names[i])))
			return true;
	return false;
}

static const struct profile_stack *stack_of(const struct analyzer *a, __u32 id)
{
	const struct profile *p = window_stream_dict(a->ws);

	return id < p->nstacks && p->stacks[id].frames ? &p->stacks[id] : NULL;
}

static bool is_kernel(const struct analyzer *a, __u32 frame)
{
	const struct profile *p = window_stream_dict(a->ws);

	return frame < p->nframes && (p->frames[frame].flags & TRACE_FRAME_KERNEL);
}

/*
 * Index of the first frame of ST matching M; -1 when none.  *CALLER: the
 * first user frame above the match that does not match (who called the
 * lock or the allocator), TRACE_NO_ID when none.
 */
static int find_in_stack(const struct analyzer *a, const struct profile_stack *st,
			 struct frame_match m, __u32 *caller)
{
	int hit = -1;
	__u32 i;

	*caller = TRACE_NO_ID;
	for (i = 0; i < st->nframes; i++) {
		const char *fn = an_frame_function(a, st->frames[i]);
		bool match = matches(fn, m);

		if (match && hit < 0)
			hit = (int)i;
		if (hit >= 0 && !match && !is_kernel(a, st->frames[i]) && *fn) {
			*caller = st->frames[i];
			break;
		}
	}
	return hit;
}

/* A small tally of (model, stage, frame) -> ns, to find the biggest. */
struct tally {
	__u32 model, stage, frame;
	double ns;
};

static void tally_add(struct tally *t, size_t *n, size_t cap, __u32 model,
		      __u32 stage, __u32 frame, double ns)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (t[i].model == model && t[i].stage == stage && t[i].frame == frame) {
			t[i].ns += ns;
			return;
		}
	}
	if (*n < cap)
		t[(*n)++] = (struct tally){ model, stage, frame, ns };
}

static const struct tally *tally_max(const struct tally *t, size_t n)
{
	const struct tally *best = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		if (!best || t[i].ns > best->ns)
			best = &t[i];
	return best;
}

static double stage_time(const struct analyzer *a, __u32 model, __u32 stage)
{
	double t = 0;
	size_t i, k;

	for (i = 0; i < a->nseries; i++) {
		const struct an_series *s = &a->series[i];

		if (s->model_id != model || s->stage_id != stage)
			continue;
		for (k = 0; k < a->nwin; k++)
			t += s->mean[k] * s->count[k];
	}
	return t;
}

#define TALLY_CAP 256

/* The finding is where most of it happens: model, stage and code site. */
static void place_at(const struct analyzer *a, struct finding *f,
		     const struct tally *top)
{
	if (!top)
		return;
	snprintf(f->model, sizeof(f->model), "%s",
		 top->model == TRACE_NO_ID ? "" : an_name(a, top->model));
	snprintf(f->stage, sizeof(f->stage), "%s",
		 top->stage == TRACE_NO_ID ? "" : an_name(a, top->stage));
	if (top->frame != TRACE_NO_ID)
		an_set_site(a, f, top->frame);
}

static void detect_locks(struct analyzer *a)
{
	const struct profile *p = window_stream_dict(a->ws);
	struct tally stage_ns[TALLY_CAP], site_ns[TALLY_CAP], runq_ns[TALLY_CAP];
	size_t ns = 0, nsite = 0, nrunq = 0, i;
	const struct profile_sample *x;
	__u32 caller;

	profile_for_each_sample(p, x) {
		const struct profile_stack *st;

		if (x->kind == TRACE_SAMPLE_OFFCPU_RUNQ)
			tally_add(runq_ns, &nrunq, TALLY_CAP, x->model_id, x->stage_id,
				  TRACE_NO_ID, (double)x->value_ns);
		if (x->kind != TRACE_SAMPLE_OFFCPU_BLOCKED || x->stage_id == TRACE_NO_ID ||
		    x->stage_id == a->queue_stage || x->stage_id == a->request_stage)
			continue;
		st = stack_of(a, x->stack_id);
		if (!st || find_in_stack(a, st, MATCH(lock_fns), &caller) < 0)
			continue;
		tally_add(stage_ns, &ns, TALLY_CAP, x->model_id, x->stage_id, TRACE_NO_ID,
			  (double)x->value_ns);
		tally_add(site_ns, &nsite, TALLY_CAP, x->model_id, x->stage_id, caller,
			  (double)x->value_ns);
	}
	for (i = 0; i < ns; i++) {
		double total = stage_time(a, stage_ns[i].model, stage_ns[i].stage);
		double share;
		const struct tally *site = NULL;
		struct finding *f;
		char b1[16], site_buf[200];
		size_t k;

		/* Of the stage's own time: waiting for a CPU is the run
		 * queue's story (oversubscription), not the lock's. */
		for (k = 0; k < nrunq; k++)
			if (runq_ns[k].model == stage_ns[i].model &&
			    runq_ns[k].stage == stage_ns[i].stage)
				total -= runq_ns[k].ns;
		if (total < stage_ns[i].ns)
			total = stage_ns[i].ns;
		share = total > 0 ? stage_ns[i].ns / total : 0;

		if (share < LOCK_SHARE || stage_ns[i].ns < LOCK_MIN_NS)
			continue;
		for (k = 0; k < nsite; k++)
			if (site_ns[k].model == stage_ns[i].model &&
			    site_ns[k].stage == stage_ns[i].stage &&
			    (!site || site_ns[k].ns > site->ns))
				site = &site_ns[k];
		f = an_add(a, FK_LOCK_CONTENTION, share > 0.5 ? SEV_CRITICAL : SEV_WARNING);
		if (!f)
			return;
		snprintf(f->model, sizeof(f->model), "%s", an_name(a, stage_ns[i].model));
		snprintf(f->stage, sizeof(f->stage), "%s", an_name(a, stage_ns[i].stage));
		an_span(a, f, 0, a->nwin);
		if (site && site->frame != TRACE_NO_ID)
			an_set_site(a, f, site->frame);
		snprintf(f->metric, sizeof(f->metric), "lock_wait_share");
		f->value = share;
		an_title(f, "%s/%s waits on a lock %.0f%% of its time",
			 f->model, f->stage, 100 * share);
		an_evidence(f, "%s blocked in futex/mutex waits in the stage (CPU waits not counted)",
			    units_ns(b1, sizeof(b1), (__u64)stage_ns[i].ns));
		if (f->function[0])
			an_evidence(f, "the lock is taken in %s", an_site(f, site_buf, sizeof(site_buf)));
	}
}

static void detect_runq(struct analyzer *a, size_t from, size_t to)
{
	double cpu = 0, runq = 0, wall = 0, invol = 0, share, cores, workers;
	bool own;
	const struct trace_meta *m = window_stream_meta(a->ws);
	struct finding *f;
	size_t i;

	for (i = from; i < to; i++) {
		cpu += a->win[i].cpu_ns;
		runq += a->win[i].runq_ns;
		invol += a->win[i].ctx_invol;
		wall += (a->win[i].end_s - a->win[i].start_s) * 1e9;
	}
	share = cpu + runq > 0 ? runq / (cpu + runq) : 0;
	if (share < RUNQ_SHARE || wall <= 0)
		return;
	cores = an_config_num(a, "@machine.cores", m && m->ncpus ? m->ncpus : 1);
	workers = an_config_num(a, "workers", 0);
	/* Its own threads outnumber the cores (as configured; seen runnable
	 * when it announces no pool size): the process oversubscribes itself.
	 * Otherwise other processes take the CPUs -- worth knowing, but no
	 * setting of this one fixes it. */
	own = workers > 0 ? workers > cores : (cpu + runq) / wall >= 0.9 * cores;
	f = an_add(a, FK_OVERSUBSCRIPTION,
		   !own ? SEV_INFO : share > 0.5 ? SEV_CRITICAL : SEV_WARNING);
	if (!f)
		return;
	an_span(a, f, from, to);
	snprintf(f->metric, sizeof(f->metric), "runq_share");
	f->value = share;
	f->reference = cores;
	an_title(f,
		 "threads wait for a CPU %.0f%% of the time they want one", 100 * share);
	an_evidence(f, "%.2f threads runnable on average for %.0f cores (on CPU %.2f, waiting %.2f)",
		    (cpu + runq) / wall, cores, cpu / wall, runq / wall);
	an_evidence(f, "%.0f involuntary context switches per second",
		    invol / (wall / 1e9));
	if (workers > 0)
		an_evidence(f, "workers = %.0f", workers);
	if (!own)
		an_evidence(f, "fewer runnable threads than cores: other processes compete for the CPUs");
}

/*
 * CPU samples whose stack passes through a function of M: *TOTAL all CPU
 * samples, *HIT those, and SITE the hits by (model, stage, caller).
 */
static void cpu_samples_in(const struct analyzer *a, struct frame_match m,
			   double *total, double *hit, struct tally *site,
			   size_t *nsite)
{
	const struct profile *p = window_stream_dict(a->ws);
	const struct profile_sample *x;
	__u32 caller;

	profile_for_each_sample(p, x) {
		const struct profile_stack *st;

		if (x->kind != TRACE_SAMPLE_CPU)
			continue;
		*total += x->count;
		st = stack_of(a, x->stack_id);
		if (!st || find_in_stack(a, st, m, &caller) < 0)
			continue;
		*hit += x->count;
		tally_add(site, nsite, TALLY_CAP, x->model_id, x->stage_id, caller,
			  (double)x->count);
	}
}

static void detect_allocator(struct analyzer *a)
{
	struct tally site[TALLY_CAP];
	double total = 0, alloc = 0;
	size_t nsite = 0;
	const struct tally *top;
	struct finding *f;
	char site_buf[200];

	cpu_samples_in(a, MATCH(alloc_fns), &total, &alloc, site, &nsite);
	if (total < 100 || alloc < ALLOC_SHARE * total)
		return;
	f = an_add(a, FK_ALLOCATOR_PRESSURE, alloc > 0.25 * total ? SEV_CRITICAL : SEV_WARNING);
	if (!f)
		return;
	an_span(a, f, 0, a->nwin);
	top = tally_max(site, nsite);
	place_at(a, f, top);
	snprintf(f->metric, sizeof(f->metric), "alloc_cpu_share");
	f->value = alloc / total;
	an_title(f, "%.0f%% of CPU time is spent in malloc/free",
		 100 * alloc / total);
	an_evidence(f, "%.0f of %.0f CPU samples inside the allocator", alloc, total);
	if (top && f->function[0])
		an_evidence(f, "most from %s (%.0f%% of them)",
			    an_site(f, site_buf, sizeof(site_buf)), 100 * top->ns / alloc);
}

static void detect_faults(struct analyzer *a, size_t from, size_t to)
{
	double faults = 0, req = 0, secs = 0, total = 0, in_fault = 0;
	struct tally site[TALLY_CAP];
	const struct tally *top;
	struct finding *f;
	size_t i, nsite = 0;
	char site_buf[200];

	for (i = from; i < to; i++) {
		if (!a->win[i].have_ctr)
			continue;
		faults += a->win[i].minflt + a->win[i].majflt;
		req += a->win[i].requests;
		secs += a->win[i].end_s - a->win[i].start_s;
	}
	if (secs <= 0 || faults / secs < FAULTS_PER_S ||
	    (req > 0 && faults / req < FAULTS_PER_REQUEST))
		return;
	cpu_samples_in(a, MATCH(fault_fns), &total, &in_fault, site, &nsite);
	f = an_add(a, FK_PAGE_FAULT_CHURN, SEV_WARNING);
	if (!f)
		return;
	an_span(a, f, from, to);
	top = tally_max(site, nsite);
	place_at(a, f, top);
	snprintf(f->metric, sizeof(f->metric), "faults_per_request");
	f->value = req > 0 ? faults / req : faults / secs;
	an_title(f, "%.0f page faults per %s",
		 f->value, req > 0 ? "request" : "second");
	an_evidence(f, "%.0f faults/s over %.0f s", faults / secs, secs);
	if (total > 0)
		an_evidence(f, "%.0f%% of CPU samples in the kernel's page-fault path",
			    100 * in_fault / total);
	if (f->function[0])
		an_evidence(f, "faulting from %s", an_site(f, site_buf, sizeof(site_buf)));
}

/* The leaf user frame of each (model, stage)'s CPU samples, the top one. */
static void detect_hot(struct analyzer *a)
{
	const struct profile *p = window_stream_dict(a->ws);
	struct tally *fn = calloc(4096, sizeof(*fn)), stage[TALLY_CAP];
	size_t nfn = 0, ns = 0, i, k;
	const struct profile_sample *x;

	if (!fn)
		return;
	profile_for_each_sample(p, x) {
		const struct profile_stack *st;
		__u32 leaf = TRACE_NO_ID, j;

		if (x->kind != TRACE_SAMPLE_CPU || x->stage_id == TRACE_NO_ID ||
		    x->stage_id == a->request_stage)
			continue;
		st = stack_of(a, x->stack_id);
		for (j = 0; st && j < st->nframes && leaf == TRACE_NO_ID; j++)
			if (!is_kernel(a, st->frames[j]))
				leaf = st->frames[j];
		tally_add(stage, &ns, TALLY_CAP, x->model_id, x->stage_id, TRACE_NO_ID,
			  (double)x->count);
		if (leaf != TRACE_NO_ID)
			tally_add(fn, &nfn, 4096, x->model_id, x->stage_id, leaf,
				  (double)x->count);
	}
	for (i = 0; i < ns; i++) {
		const struct tally *best = NULL;
		struct finding *f;

		if (stage[i].ns < HOT_MIN_SAMPLES)
			continue;
		for (k = 0; k < nfn; k++)
			if (fn[k].model == stage[i].model && fn[k].stage == stage[i].stage &&
			    (!best || fn[k].ns > best->ns))
				best = &fn[k];
		if (!best)
			continue;
		f = an_add(a, FK_HOT_FUNCTION, SEV_INFO);
		if (!f)
			break;
		snprintf(f->model, sizeof(f->model), "%s",
			 stage[i].model == TRACE_NO_ID ? "" : an_name(a, stage[i].model));
		snprintf(f->stage, sizeof(f->stage), "%s", an_name(a, stage[i].stage));
		an_span(a, f, 0, a->nwin);
		an_set_site(a, f, best->frame);
		snprintf(f->metric, sizeof(f->metric), "cpu_share");
		f->value = best->ns / stage[i].ns;
		an_title(f, "hottest in %s/%s: %.40s (%.0f%%)",
			 f->model, f->stage, f->function, 100 * f->value);
		an_evidence(f, "%.0f of the stage's %.0f CPU samples have it as the leaf",
			    best->ns, stage[i].ns);
	}
	free(fn);
}

void detect_cpu(struct analyzer *a)
{
	size_t from, to;

	an_judged(a, &from, &to);
	if (to - from < 3)
		return;
	detect_locks(a);
	detect_runq(a, from, to);
	detect_allocator(a);
	detect_faults(a, from, to);
	detect_hot(a);
}
