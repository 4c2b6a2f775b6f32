// SPDX-License-Identifier: MIT
/*
 * Memory fixture: a cache of 2,000 entries of 4 KiB filled in the first
 * WARM seconds (outstanding bytes grow), then only replaced (they plateau):
 * not a leak.  With "leak" as the last argument, replaced entries are not
 * freed: a leak of 4 KiB per replacement.
 * Usage: cache_warm SECONDS WARM_SECONDS [leak]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 2000
#define ENTRY 4096

static void *cache[SLOTS];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void *cache_entry_new(void)
{
	void *p = malloc(ENTRY);

	if (p)
		memset(p, 1, ENTRY);
	return p;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10, warm = argc > 2 ? atof(argv[2]) : 2;
	int leak = argc > 3 && !strcmp(argv[3], "leak"), filled = 0;
	double t0 = now(), step = warm / SLOTS;
	unsigned int seed = 1;

	while (now() - t0 < secs) {
		if (filled < SLOTS) {
			cache[filled++] = cache_entry_new();
		} else {
			int i = rand_r(&seed) % SLOTS;

			if (!leak)
				free(cache[i]);
			cache[i] = cache_entry_new();
		}
		usleep((useconds_t)(step * 1e6));
	}
	printf("cache_warm: done\n");
	return 0;
}
