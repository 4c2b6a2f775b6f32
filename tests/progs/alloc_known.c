// SPDX-License-Identifier: MIT
/*
 * Memory fixture with known bytes per iteration, one allocation site per
 * noinline function (for record --mem in either mode):
 *   known_malloc        malloc(4096), freed                   4096 B
 *   known_calloc        calloc(16, 128), never freed: a leak  2048 B
 *   known_realloc_null  realloc(NULL, 4096), then realloc(p, 0)
 *                       (glibc runs its malloc and free inside) 4096 B
 *   known_grow_small    malloc(1024) ...                       1024 B
 *   known_grow          ... realloc'd to 8192 here, freed      8192 B
 * Usage: alloc_known SECONDS [ITERATIONS_PER_SECOND (default 400)]
 * Prints "alloc_known: iterations=N leaked=B" at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* Written through, so that no allocation can be optimised away. */
static void *volatile sink;
/* Read through: gcc turns a literal realloc(NULL, n) into malloc(n). */
static void *volatile null_block;
static volatile size_t zero_bytes;
static long long leaked;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void touch(void *p, size_t n)
{
	if (!p) {
		fprintf(stderr, "alloc_known: out of memory\n");
		exit(1);
	}
	memset(p, 0x5a, n);
	sink = p;
}

NOINLINE void *known_malloc(void)
{
	void *p = malloc(4096);

	touch(p, 4096);
	return p;
}

NOINLINE void known_calloc(void)
{
	touch(calloc(16, 128), 2048);
	leaked += 2048;
}

NOINLINE void *known_realloc_null(void)
{
	void *p = realloc(null_block, 4096);

	touch(p, 4096);
	return p;
}

NOINLINE void *known_grow_small(void)
{
	void *p = malloc(1024);

	touch(p, 1024);
	return p;
}

NOINLINE void *known_grow(void *p)
{
	p = realloc(p, 8192);
	touch(p, 8192);
	return p;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10;
	double rate = argc > 2 ? atof(argv[2]) : 400, t0 = now();
	long long n = 0;
	void *p;

	if (secs <= 0 || rate <= 0) {
		fprintf(stderr, "usage: alloc_known SECONDS [ITERATIONS_PER_SECOND]\n");
		return 2;
	}
	while (now() - t0 < secs) {
		free(known_malloc());
		known_calloc();
		p = known_realloc_null();
		sink = realloc(p, zero_bytes);	/* frees p, returns NULL */
		free(known_grow(known_grow_small()));
		n++;
		/* paced, so the rate does not depend on what probes cost */
		while (now() - t0 < n / rate)
			usleep(500);
	}
	printf("alloc_known: iterations=%lld leaked=%lld\n", n, leaked);
	return 0;
}
