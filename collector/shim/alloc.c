// SPDX-License-Identifier: MIT
/*
 * libloupe-alloc.so: byte-sampled allocation profiling for LD_PRELOAD.
 *
 *   LD_PRELOAD=/path/to/libloupe-alloc.so ./server
 *
 * Interposes malloc, calloc, realloc, reallocarray, free, posix_memalign,
 * aligned_alloc, memalign, valloc, pvalloc (C++ new/delete end up in these)
 * and passes malloc_usable_size through.  Every block still comes from
 * glibc's allocator; the shim only decides which allocations to report.
 *
 * Why each choice:
 *
 * - Real functions: glibc exports __libc_malloc/calloc/realloc/free/memalign,
 *   so we call them directly.  dlsym(RTLD_NEXT) would allocate (dlerror
 *   state) on the path that provides allocation, and would leave a window
 *   before the constructor where malloc has nowhere to go.  Only
 *   malloc_usable_size has no __libc_ twin; it is looked up lazily and is
 *   never on an allocation path.
 *
 * - Sampling by bytes, a Poisson process (tcmalloc, Go, jemalloc prof): each
 *   thread counts down bytes to the next sample point; the gaps are drawn
 *   from an exponential distribution with mean M = LOUPE_ALLOC_SAMPLE_BYTES
 *   (default 512 KiB) by an xorshift64* PRNG seeded per thread.  Because the
 *   process is memoryless, the sample points are a Poisson process of rate
 *   1/M over the thread's stream of allocated bytes, whatever the mix of
 *   sizes.  An allocation is sampled when one or more points fall in it.
 *
 * - Estimator: weight = M + the bytes of the allocation that lie past its
 *   first sample point.  With the point at offset X ~ Exp(M) into a block
 *   of size s: E[weight] = M(1 - e^(-s/M)) + (s - M(1 - e^(-s/M))) = s,
 *   so the sum of weights is an unbiased estimate of bytes allocated (and,
 *   over live sampled blocks, of live bytes), with relative error about
 *   1/sqrt(samples).  It is O(1) per sample even for a block thousands of
 *   times M (counting every point in it, k * M, is also unbiased but is a
 *   loop of s/M draws), and it tends to tcmalloc's max(s, M) at both ends.
 *   We do not use max(s, M) itself: the probability of sampling a block is
 *   1 - e^(-s/M), so max(s, M) under-counts blocks near M by up to 37 %
 *   (s = M gives E = (1 - 1/e) M) -- and ML servers allocate exactly such
 *   blocks (activations, batches).  size/(1 - e^(-s/M)) is unbiased too but
 *   needs exp() from libm, which a preloaded shim cannot rely on.  Gaps are
 *   whole bytes (rounded, at least 1), so M is clamped to >= 16, where the
 *   rounding bias stays below 0.2 %.
 * - A bounded sample rate: at 10 GB/s of churn (the sample ranker's
 *   allocator fault) M = 512 KiB means 20000 samples and 40000 traps a
 *   second, half the program's time.  So each thread keeps at most
 *   LOUPE_ALLOC_MAX_RATE samples a second (default 200, 0: no limit): a
 *   thread that samples more than a tenth of that within 100 ms doubles
 *   its own mean; one that samples under a quarter of the budget in a
 *   window halves it again, down to M.  The estimator stays unbiased: the
 *   weight uses the mean its gap was drawn with (the process is
 *   memoryless, so each gap may have its own rate); only the variance
 *   grows, for the threads that allocate that fast.
 *
 * - No allocation, lock or syscall on any path except the exit report.
 *   Thread state is __thread with the initial-exec TLS model: the dynamic
 *   model's first access per thread goes through __tls_get_addr, which can
 *   call malloc, i.e. recurse into us.  A thread-local guard still drops
 *   re-entrant samples (a signal handler that allocates during a sample).
 *
 * - Probes (provider "loupe", USDT with semaphores; see README.md):
 *     loupe:alloc(ptr, size, weight)   a sampled allocation
 *     loupe:free(ptr)                  free of a sampled pointer
 *     loupe:alloc_config(mean_bytes)   first sample after a profiler arrives
 *   realloc is reported as free(old) [if old was sampled] then alloc(new)
 *   [if the new size is sampled]; an in-place resize of a sampled block is
 *   free(p) + alloc(p).  Each probe sits in its own noinline function so
 *   its arguments are registers (libbpf cannot decode every operand form).
 *
 * - Attached or not: "attached" means the loupe:alloc semaphore is nonzero.
 *   Unattached, a sample point costs the exponential draw and nothing else:
 *   no set insert, no trap.  Sampled pointers are inserted into the set
 *   only while attached (or in test-count mode), so a profiler that
 *   attaches late sees frees only of blocks whose allocation it saw, plus
 *   blocks from an earlier session that are still live (it must ignore
 *   frees of unknown pointers).  Frees always consult the set, attached or
 *   not, so entries never go stale when a profiler detaches.
 *
 * - Which pointers were sampled: a lock-free open-addressing hash set of
 *   2^16 pointers (512 KiB, BSS: untouched pages cost nothing).  Insert
 *   CASes the pointer into the first empty or tombstone slot within 64
 *   slots of its home; delete stores a tombstone.  A pointer is inserted
 *   before malloc returns it and removed before free hands it back to
 *   glibc, so the same address is never in the set twice.  Beside the
 *   slots, home[] counts the live entries whose home is each slot: free()
 *   of an unsampled pointer is one multiply and one byte load when that
 *   count is zero (the common case: with M = 512 KiB, 1 GiB of live heap is
 *   ~2000 entries, a 3 % load), otherwise a scan of at most 64 slots (8
 *   cache lines).  A set that is full within the window drops the sample
 *   (counted in the test report) rather than block or allocate.
 *
 * - fork: nothing to unlock (no locks).  The child reseeds the forking
 *   thread's PRNG so parent and child do not sample in lockstep; the set
 *   and its entries are inherited, which is right, because the child
 *   inherits the blocks too.  Threads created before or after load are
 *   alike: their state is zero until their first allocation.
 *
 * - Test hook: LOUPE_ALLOC_TEST_COUNT=1 tracks sampled pointers without a
 *   profiler and counts sampled allocs, frees and weights in atomics; a
 *   destructor writes them to stderr with write(2) from a stack buffer.
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

#define EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#define DEFAULT_MEAN (512 * 1024)
#define SET_BITS 16
#define SET_SIZE (1u << SET_BITS)
#define SET_WINDOW 64
#define SLOT_EMPTY ((uintptr_t)0)
#define SLOT_TOMB ((uintptr_t)1) /* malloc results are 16-aligned */

/* glibc's own entry points: the real allocator, without interposition.
 * noplt: call through the GOT, one indirect jump fewer per call. */
#define LIBC_ __attribute__((noplt))
extern void *__libc_malloc(size_t n) LIBC_;
extern void *__libc_calloc(size_t n, size_t m) LIBC_;
extern void *__libc_realloc(void *p, size_t n) LIBC_;
extern void __libc_free(void *p) LIBC_;
extern void *__libc_memalign(size_t align, size_t n) LIBC_;

/* Semaphores the kernel bumps while a probe is attached (weak, hidden:
 * one copy in this object, and no clash with the program's probe.h). */
#define SEMA_ __attribute__((weak, visibility("hidden"), section(".probes")))
SEMA_ unsigned short loupe_alloc_semaphore;
SEMA_ unsigned short loupe_free_semaphore;
SEMA_ unsigned short loupe_alloc_config_semaphore;

struct thread_state {
	int64_t countdown;	/* bytes until the next sample point */
	uint64_t rng;		/* xorshift64* state; 0 = not seeded */
	uint64_t gap_mean;	/* mean the countdown was drawn with */
	uint64_t mean;		/* this thread's mean, >= mean_bytes */
	uint64_t win_start_ms;	/* rate limit: the current 100 ms window */
	uint32_t win_samples;	/* samples in it */
	int guard;		/* inside the sampling path */
};

static __thread struct thread_state tstate
	__attribute__((tls_model("initial-exec")));

#define RATE_WINDOW_MS 100
#define MAX_MEAN (1ull << 40)

/* Set once by the constructor; zero before it runs means "don't sample". */
static uint64_t mean_bytes;
static uint32_t window_budget;	/* samples per thread per window, 0: any */
static int test_count;
static int announced;		/* alloc_config fired for this attach */
static uint64_t seed_counter;

static uintptr_t set_slot[SET_SIZE];
static uint8_t set_home[SET_SIZE];

static struct {
	uint64_t allocs, frees, weight, drops;
} counts;

static size_t (*real_usable_size)(void *);

static inline uint32_t ptr_hash(const void *p)
{
	/* Fibonacci hashing: the top bits of the product mix all the bits
	 * of the address, including the low ones glibc varies. */
	return (uint32_t)(((uintptr_t)p * 0x9e3779b97f4a7c15ull) >>
			  (64 - SET_BITS));
}

static int set_insert(void *p)
{
	uint32_t h = ptr_hash(p);
	unsigned int i;

	/* Count first: a free() that sees home == 0 must be right to skip. */
	__atomic_add_fetch(&set_home[h], 1, __ATOMIC_RELEASE);
	for (i = 0; i < SET_WINDOW; i++) {
		uintptr_t *s = &set_slot[(h + i) & (SET_SIZE - 1)];
		uintptr_t v = __atomic_load_n(s, __ATOMIC_ACQUIRE);

		if (v != SLOT_EMPTY && v != SLOT_TOMB)
			continue;
		if (__atomic_compare_exchange_n(s, &v, (uintptr_t)p, 0,
						__ATOMIC_RELEASE,
						__ATOMIC_RELAXED))
			return 1;
	}
	__atomic_sub_fetch(&set_home[h], 1, __ATOMIC_RELEASE);
	return 0;
}

/* Whether P may be in the set: the whole cost of freeing an unsampled
 * pointer in the common case. */
static inline int set_maybe(const void *p)
{
	return __atomic_load_n(&set_home[ptr_hash(p)], __ATOMIC_ACQUIRE) != 0;
}

/* Removes P if present; only the thread freeing P ever removes it. */
__attribute__((noinline)) static int set_remove_slow(void *p)
{
	uint32_t h = ptr_hash(p);
	unsigned int i;

	for (i = 0; i < SET_WINDOW; i++) {
		uintptr_t *s = &set_slot[(h + i) & (SET_SIZE - 1)];
		uintptr_t v = __atomic_load_n(s, __ATOMIC_ACQUIRE);

		if (v == (uintptr_t)p) {
			__atomic_store_n(s, SLOT_TOMB, __ATOMIC_RELEASE);
			__atomic_sub_fetch(&set_home[h], 1, __ATOMIC_RELEASE);
			return 1;
		}
		if (v == SLOT_EMPTY)
			return 0;
	}
	return 0;
}

/* ln(x) for x in (0, 1]: frexp by bit surgery, then 2*atanh(z) on the
 * mantissa (|z| < 0.172, error < 1e-9).  libm is not ours to assume. */
static double ln_unit(double x)
{
	union { double d; uint64_t u; } v = { .d = x };
	int e = (int)((v.u >> 52) & 0x7ff) - 1022;
	double m, z, z2;

	v.u = (v.u & ~(0x7ffull << 52)) | (1022ull << 52); /* m in [0.5,1) */
	m = v.d;
	if (m < 0.70710678118654752) {
		m *= 2;
		e--;
	}
	z = (m - 1) / (m + 1);
	z2 = z * z;
	return e * 0.69314718055994531 +
	       2 * z * (1 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 +
	       z2 * (1.0 / 9 + z2 / 11)))));
}

static inline uint64_t rng_next(struct thread_state *t)
{
	uint64_t x = t->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Exponential gap with mean t->mean, at least 1 byte; becomes the
 * thread's countdown's mean. */
static int64_t draw_gap(struct thread_state *t)
{
	/* 53 random bits -> U in (0, 1]: never ln(0). */
	double u = (double)((rng_next(t) >> 11) + 1) * (1.0 / 9007199254740992.0);
	double g = -ln_unit(u) * (double)t->mean;

	t->gap_mean = t->mean;

	if (g < 1)
		return 1;
	if (g > 4e18)
		return (int64_t)4e18;
	return (int64_t)(g + 0.5);
}

static void seed_thread(struct thread_state *t)
{
	struct timespec ts;
	uint64_t s;

	/* vDSO clock read, address of the thread's TLS and a global ticket:
	 * distinct per thread and per process, no syscall on the fast vDSO. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
	    (uint64_t)(uintptr_t)t ^
	    (__atomic_add_fetch(&seed_counter, 1, __ATOMIC_RELAXED) *
	     0x9e3779b97f4a7c15ull);
	/* splitmix64 finaliser: a well-mixed nonzero start for xorshift. */
	s += 0x9e3779b97f4a7c15ull;
	s = (s ^ (s >> 30)) * 0xbf58476d1ce4e5b9ull;
	s = (s ^ (s >> 27)) * 0x94d049bb133111ebull;
	s ^= s >> 31;
	t->rng = s ? s : 1;
	t->mean = mean_bytes;
	t->countdown = draw_gap(t);
}

static inline int attached(void)
{
	return __atomic_load_n(&loupe_alloc_semaphore, __ATOMIC_RELAXED) != 0;
}

/* The probe sites: noinline, so the arguments are plain registers. */
__attribute__((noinline, cold)) static void fire_alloc(void *p, size_t n,
							uint64_t w)
{
	STAP_PROBE3(loupe, alloc, p, n, w);
}

__attribute__((noinline, cold)) static void fire_free(void *p)
{
	STAP_PROBE1(loupe, free, p);
}

__attribute__((noinline, cold)) static void fire_config(uint64_t mean)
{
	STAP_PROBE1(loupe, alloc_config, mean);
}

/*
 * Keeps the thread under window_budget samples per RATE_WINDOW_MS (see the
 * top of the file): adjusts the mean of the gaps drawn from now on.  The
 * coarse clock is a vDSO read, and only sample points pay it.
 */
static void rate_limit(struct thread_state *t)
{
	struct timespec ts;
	uint64_t now_ms;

	if (!window_budget)
		return;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (now_ms - t->win_start_ms >= RATE_WINDOW_MS) {
		if (t->win_samples * 4 < window_budget && t->mean > mean_bytes)
			t->mean = t->mean / 2 > mean_bytes ? t->mean / 2 : mean_bytes;
		t->win_start_ms = now_ms;
		t->win_samples = 0;
	}
	if (++t->win_samples > window_budget && t->mean < MAX_MEAN) {
		t->mean *= 2;
		t->win_start_ms = now_ms;
		t->win_samples = 0;
	}
}

/*
 * The countdown went to zero or below inside an allocation of N bytes at P:
 * weigh it, draw the next gap (memoryless: starting it at the block's end
 * is the same process), and report.
 */
__attribute__((noinline)) static void sample_slow(void *p, size_t n)
{
	struct thread_state *t = &tstate;
	uint64_t w;
	int att;

	if (UNLIKELY(!mean_bytes))
		return;	/* before the constructor: countdown stays <= 0 */
	if (UNLIKELY(!t->rng)) {
		/* First allocation on this thread: replay it against a
		 * proper gap instead of sampling it for free. */
		seed_thread(t);
		t->countdown -= (int64_t)n;
		if (t->countdown > 0)
			return;
	}
	if (UNLIKELY(!p)) {
		t->countdown += (int64_t)n; /* a failed allocation: no bytes */
		return;
	}
	/* -countdown = bytes of this block past its sample point. */
	w = t->gap_mean + (uint64_t)-t->countdown;
	rate_limit(t);
	t->countdown = draw_gap(t);
	if (UNLIKELY(t->guard))
		return;
	att = attached();
	if (!att) {
		__atomic_store_n(&announced, 0, __ATOMIC_RELAXED);
		if (!test_count)
			return;
	}
	t->guard = 1;
	if (att && !__atomic_exchange_n(&announced, 1, __ATOMIC_RELAXED))
		fire_config(mean_bytes);
	if (set_insert(p)) {
		if (test_count) {
			__atomic_add_fetch(&counts.allocs, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&counts.weight, w,
					   __ATOMIC_RELAXED);
		}
		if (att)
			fire_alloc(p, n, w);
	} else if (test_count) {
		__atomic_add_fetch(&counts.drops, 1, __ATOMIC_RELAXED);
	}
	t->guard = 0;
}

/* Called after the real allocation; the fast path is a TLS subtract. */
static inline void *account(void *p, size_t n)
{
	struct thread_state *t = &tstate;

	t->countdown -= (int64_t)n;
	if (UNLIKELY(t->countdown <= 0))
		sample_slow(p, n);
	return p;
}

/* P was sampled and is about to go back to glibc. */
__attribute__((noinline)) static void unsample(void *p)
{
	if (test_count)
		__atomic_add_fetch(&counts.frees, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&loupe_free_semaphore, __ATOMIC_RELAXED))
		fire_free(p);
}

static inline int set_remove(void *p)
{
	return p && UNLIKELY(set_maybe(p)) && set_remove_slow(p);
}

static inline void forget(void *p)
{
	if (UNLIKELY(set_remove(p)))
		unsample(p);
}

EXPORT void *malloc(size_t n)
{
	return account(__libc_malloc(n), n);
}

EXPORT void free(void *p)
{
	/* Remove before freeing: once glibc has P another thread may get
	 * it back from malloc and insert it again. */
	forget(p);
	__libc_free(p);
}

EXPORT void *calloc(size_t n, size_t m)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, m, &bytes))
		return __libc_calloc(n, m); /* glibc sets ENOMEM */
	return account(__libc_calloc(n, m), bytes);
}

EXPORT void *realloc(void *old, size_t n)
{
	void *p;
	int was;

	if (!old)
		return malloc(n);
	if (n == 0) {
		/* glibc frees OLD and returns NULL. */
		free(old);
		return NULL;
	}
	was = set_remove(old);
	p = __libc_realloc(old, n);
	if (UNLIKELY(!p)) {
		/* OLD is untouched and still ours: put it back silently. */
		if (was && !set_insert(old) && test_count)
			__atomic_add_fetch(&counts.drops, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	if (UNLIKELY(was))
		unsample(old);
	return account(p, n);
}

EXPORT void *reallocarray(void *old, size_t n, size_t m)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, m, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, bytes);
}

static inline int pow2(size_t a)
{
	return a && !(a & (a - 1));
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (!pow2(align) || align % sizeof(void *))
		return EINVAL;
	p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = account(p, n);
	return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (!pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	return account(__libc_memalign(align, n), n);
}

EXPORT void *memalign(size_t align, size_t n)
{
	/* glibc rounds a non-power-of-two alignment up itself. */
	return account(__libc_memalign(align, n), n);
}

EXPORT void *valloc(size_t n)
{
	return account(__libc_memalign((size_t)getpagesize(), n), n);
}

EXPORT void *pvalloc(size_t n)
{
	size_t ps = (size_t)getpagesize();
	size_t r = (n + ps - 1) & ~(ps - 1);

	if (r < n) {
		errno = ENOMEM;
		return NULL;
	}
	return account(__libc_memalign(ps, r ? r : ps), r ? r : ps);
}

EXPORT size_t malloc_usable_size(void *p)
{
	size_t (*f)(void *) = __atomic_load_n(&real_usable_size,
					      __ATOMIC_ACQUIRE);

	if (!p)
		return 0;
	if (UNLIKELY(!f)) {
		/* Not on an allocation path, so dlsym's own malloc is fine. */
		f = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
		if (!f)
			return 0;
		__atomic_store_n(&real_usable_size, f, __ATOMIC_RELEASE);
	}
	return f(p);
}

static void atfork_child(void)
{
	/* Only the forking thread survives; give it a fresh stream. */
	tstate.rng = 0;
	tstate.guard = 0;
	tstate.countdown = 0;
}

__attribute__((constructor)) static void shim_init(void)
{
	const char *s = getenv("LOUPE_ALLOC_SAMPLE_BYTES");
	uint64_t m = DEFAULT_MEAN;

	if (s && *s) {
		char *end;
		unsigned long long v = strtoull(s, &end, 10);

		if (*end == '\0' && v > 0 && v < (1ull << 40))
			m = v < 16 ? 16 : v;
	}
	s = getenv("LOUPE_ALLOC_MAX_RATE");
	window_budget = 200 * RATE_WINDOW_MS / 1000;
	if (s && *s) {
		char *end;
		unsigned long long v = strtoull(s, &end, 10);

		/* Below 10 a second, a window's budget would round to 0. */
		if (*end == '\0' && v < (1ull << 31))
			window_budget = v == 0 ? 0 :
				v < 10 ? 1 : (uint32_t)(v * RATE_WINDOW_MS / 1000);
	}
	s = getenv("LOUPE_ALLOC_TEST_COUNT");
	test_count = s && s[0] == '1';
	pthread_atfork(NULL, NULL, atfork_child);
	__atomic_store_n(&mean_bytes, m, __ATOMIC_RELEASE);
}

/* Appends "KEY=VALUE " to BUF at *LEN without allocating. */
static void put_num(char *buf, size_t *len, size_t cap, const char *key,
		    uint64_t v)
{
	char digits[24];
	int nd = 0;

	while (*key && *len < cap)
		buf[(*len)++] = *key++;
	do {
		digits[nd++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (nd && *len < cap)
		buf[(*len)++] = digits[--nd];
	if (*len < cap)
		buf[(*len)++] = ' ';
}

__attribute__((destructor)) static void shim_report(void)
{
	char buf[256];
	size_t len = 0, cap = sizeof(buf) - 1;
	uint64_t live = 0;
	unsigned int i;
	ssize_t rc;

	if (!test_count)
		return;
	for (i = 0; i < SET_SIZE; i++) {
		uintptr_t v = __atomic_load_n(&set_slot[i], __ATOMIC_RELAXED);

		live += v != SLOT_EMPTY && v != SLOT_TOMB;
	}
	memcpy(buf, "loupe-alloc: ", 13);
	len = 13;
	put_num(buf, &len, cap, "pid=", (uint64_t)getpid());
	put_num(buf, &len, cap, "mean=", mean_bytes);
	put_num(buf, &len, cap, "sampled_allocs=",
		__atomic_load_n(&counts.allocs, __ATOMIC_RELAXED));
	put_num(buf, &len, cap, "sampled_frees=",
		__atomic_load_n(&counts.frees, __ATOMIC_RELAXED));
	put_num(buf, &len, cap, "weight_bytes=",
		__atomic_load_n(&counts.weight, __ATOMIC_RELAXED));
	put_num(buf, &len, cap, "live=", live);
	put_num(buf, &len, cap, "drops=",
		__atomic_load_n(&counts.drops, __ATOMIC_RELAXED));
	put_num(buf, &len, cap, "max_rate=",
		(uint64_t)window_budget * 1000 / RATE_WINDOW_MS);
	buf[len - 1] = '\n';
	rc = write(STDERR_FILENO, buf, len);
	(void)rc;
}
