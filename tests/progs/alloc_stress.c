// SPDX-License-Identifier: MIT
/*
 * Allocator stress for libloupe-alloc.so (run it under LD_PRELOAD).
 *
 *   alloc_stress [THREADS [OPS]]   8 threads x 200000 ops by default
 *   alloc_stress --bench PAIRS     ns per malloc(64)+free pair, one thread
 *
 * Each thread keeps a table of live blocks and, per op, allocates into an
 * empty slot (malloc, calloc, posix_memalign or aligned_alloc), or grows or
 * shrinks a block with realloc, frees it, or hands it to another thread
 * through a shared queue (cross-thread frees).  Sizes are log-uniform in
 * 1 B - 1 MiB, like a real heap: mostly small, a few large.  Every block
 * carries a stamp checked before it is freed, so a shim that corrupts or
 * mixes up blocks fails here.  Thread 0 forks halfway; the child allocates,
 * frees and exits, and the parent checks it exited cleanly.
 *
 * At the end it deliberately keeps LEAK_BLOCKS blocks of 1 MiB live and
 * prints one line to stdout:
 *   alloc_stress: pid=P total_bytes=B live_blocks=L ops=N
 * total_bytes is every byte requested by the program (realloc counts its
 * new size), which the shim's sampled weights should estimate.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#define SLOTS 256
#define QUEUE 1024
#define LEAK_BLOCKS 512
#define MAX_SIZE (1u << 20)

struct block {
	unsigned char *p;
	size_t n;
};

static struct {
	pthread_mutex_t lock;
	struct block q[QUEUE];
	unsigned int head, len;
} queue = { PTHREAD_MUTEX_INITIALIZER, { { 0, 0 } }, 0, 0 };

static unsigned long ops_per_thread = 200000;
static unsigned long long total_bytes; /* atomically summed */
static void *leaked[LEAK_BLOCKS];

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Log-uniform in [1, MAX_SIZE]: pick a power of two, then a size in it. */
static size_t rnd_size(uint64_t *s)
{
	unsigned int b = (unsigned int)(rnd(s) % 21); /* 2^0 .. 2^20 */
	size_t lo = (size_t)1 << b;

	if (b == 20)
		return MAX_SIZE;
	return lo + (size_t)(rnd(s) % lo);
}

static void die(const char *what)
{
	fprintf(stderr, "alloc_stress: %s\n", what);
	exit(1);
}

/* Stamp the first and last byte with something derived from the size. */
static unsigned char last_stamp(size_t n)
{
	/* A 1-byte block's first byte is its last. */
	return (unsigned char)(n > 1 ? n * 17 + 3 : n * 31 + 7);
}

static void stamp(struct block *b)
{
	b->p[0] = (unsigned char)(b->n * 31 + 7);
	b->p[b->n - 1] = last_stamp(b->n);
}

static void check(const struct block *b)
{
	if (b->p[0] != (unsigned char)(b->n * 31 + 7) ||
	    b->p[b->n - 1] != last_stamp(b->n))
		die("block stamp corrupted");
}

static void release(struct block *b)
{
	check(b);
	free(b->p);
	b->p = NULL;
}

static int allocate(struct block *b, uint64_t *s, unsigned long long *bytes)
{
	size_t n = rnd_size(s);
	void *p = NULL;
	int rc;

	switch (rnd(s) % 6) {
	case 0:
	case 1:
		p = malloc(n);
		break;
	case 2:
		/* Keep calloc small-ish: zeroing a fresh 1 MiB per op is the
		 * kernel's time, not the allocator's. */
		if (n > 65536)
			n = 65536;
		p = calloc(1, n);
		if (p && ((unsigned char *)p)[n - 1])
			die("calloc memory not zero");
		break;
	case 3:
		rc = posix_memalign(&p, (size_t)64 << (rnd(s) % 4), n);
		if (rc)
			p = NULL;
		break;
	case 4:
		p = aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
		n = (n + 4095) & ~(size_t)4095;
		break;
	default:
		p = malloc(n);
		break;
	}
	if (!p)
		return -1;
	*bytes += n;
	b->p = p;
	b->n = n;
	stamp(b);
	return 0;
}

static int do_realloc(struct block *b, uint64_t *s, unsigned long long *bytes)
{
	/* Half grow, half shrink, so blocks move and also resize in place. */
	size_t n = rnd(s) & 1 ? b->n + 1 + rnd(s) % (b->n + 1)
			      : 1 + rnd(s) % b->n;
	unsigned char first = b->p[0];
	unsigned char *p;

	if (n > MAX_SIZE)
		n = MAX_SIZE;
	check(b);
	p = realloc(b->p, n);
	if (!p)
		return -1;
	if (p[0] != first)
		die("realloc lost the contents");
	*bytes += n;
	b->p = p;
	b->n = n;
	stamp(b);
	return 0;
}

static int enqueue(struct block *b)
{
	int ok = 0;

	pthread_mutex_lock(&queue.lock);
	if (queue.len < QUEUE) {
		queue.q[(queue.head + queue.len++) % QUEUE] = *b;
		ok = 1;
	}
	pthread_mutex_unlock(&queue.lock);
	if (ok)
		b->p = NULL;
	return ok;
}

static int dequeue(struct block *b)
{
	int ok = 0;

	pthread_mutex_lock(&queue.lock);
	if (queue.len) {
		*b = queue.q[queue.head];
		queue.head = (queue.head + 1) % QUEUE;
		queue.len--;
		ok = 1;
	}
	pthread_mutex_unlock(&queue.lock);
	return ok;
}

static void fork_child(uint64_t seed)
{
	struct block blocks[64] = { { 0, 0 } };
	unsigned long long bytes = 0;
	int i;

	/* The other threads are gone; their blocks are just leaked here. */
	for (i = 0; i < 20000; i++) {
		struct block *b = &blocks[rnd(&seed) % 64];

		if (!b->p)
			allocate(b, &seed, &bytes);
		else if (rnd(&seed) & 1)
			do_realloc(b, &seed, &bytes);
		else
			release(b);
	}
	for (i = 0; i < 64; i++)
		if (blocks[i].p)
			release(&blocks[i]);
	exit(0);
}

static void *worker(void *arg)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
	struct block *blocks = calloc(SLOTS, sizeof(*blocks));
	unsigned long long bytes = SLOTS * sizeof(*blocks);
	unsigned long i;
	struct block b;

	if (!blocks)
		die("out of memory");
	for (i = 0; i < ops_per_thread; i++) {
		struct block *s = &blocks[rnd(&seed) % SLOTS];
		unsigned int op = (unsigned int)(rnd(&seed) % 8);

		if ((uintptr_t)arg == 0 && i == ops_per_thread / 2) {
			pid_t pid;
			int st;

			fflush(NULL); /* or the child flushes our buffers too */
			pid = fork();
			if (pid < 0)
				die("fork failed");
			if (pid == 0)
				fork_child(seed);
			if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
			    WEXITSTATUS(st))
				die("forked child failed");
		}
		if (!s->p) {
			if (op == 7 && dequeue(&b)) {
				release(&b);	/* someone else's block */
				continue;
			}
			if (allocate(s, &seed, &bytes))
				die("allocation failed");
		} else if (op < 3) {
			if (do_realloc(s, &seed, &bytes))
				die("realloc failed");
		} else if (op < 6 || !enqueue(s)) {
			release(s);
		}
	}
	for (i = 0; i < SLOTS; i++)
		if (blocks[i].p)
			release(&blocks[i]);
	free(blocks);
	__atomic_add_fetch(&total_bytes, bytes, __ATOMIC_RELAXED);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bench(unsigned long pairs)
{
	unsigned long i;
	double t0, t1;

	for (i = 0; i < 100000; i++) {	/* warm up the tcache and TLS */
		void *p = malloc(64);

		__asm__ volatile("" : : "r"(p) : "memory");
		free(p);
	}
	t0 = now_s();
	for (i = 0; i < pairs; i++) {
		void *p = malloc(64);

		/* Keep the compiler from eliding the malloc/free pair. */
		__asm__ volatile("" : : "r"(p) : "memory");
		free(p);
	}
	t1 = now_s();
	printf("alloc_stress: bench pairs=%lu ns_per_pair=%.2f\n", pairs,
	       (t1 - t0) * 1e9 / (double)pairs);
	return fflush(stdout) || ferror(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long nthreads = 8, i;
	pthread_t *tids;
	struct block b;

	if (argc == 3 && !strcmp(argv[1], "--bench"))
		return bench(strtoul(argv[2], NULL, 10));
	if (argc > 1)
		nthreads = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		ops_per_thread = strtoul(argv[2], NULL, 10);
	if (!nthreads || nthreads > 1024) {
		fprintf(stderr, "usage: alloc_stress [THREADS [OPS]] | --bench PAIRS\n");
		return 2;
	}
	tids = calloc(nthreads, sizeof(*tids));
	if (!tids)
		die("out of memory");
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&tids[i], NULL, worker, (void *)(uintptr_t)i))
			die("pthread_create failed");
	for (i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	while (dequeue(&b))
		release(&b);
	/* Blocks live at exit: the shim's live sampled set must be a subset. */
	for (i = 0; i < LEAK_BLOCKS; i++) {
		leaked[i] = malloc(MAX_SIZE);
		if (!leaked[i])
			die("out of memory");
		total_bytes += MAX_SIZE;
	}
	printf("alloc_stress: pid=%d total_bytes=%llu live_blocks=%d ops=%lu\n",
	       (int)getpid(), total_bytes, LEAK_BLOCKS, nthreads * ops_per_thread);
	return fflush(stdout) || ferror(stdout) ? 1 : 0;
}
