// SPDX-License-Identifier: MIT
/*
 * Fixture for per-window on-CPU time: requests of model "m_nap", each with
 * stage "work" (spin WORK_US) then stage "nap" (asleep), the nap last so
 * that a request ends microseconds after its nap does.  The nap alternates
 * between SHORT_MS and LONG_MS every PHASE_MS: a recorder that charged
 * off-CPU time to the wrong window would see a window's naps paid with
 * another phase's sleep.  The truth: "nap" is on the CPU for almost none
 * of its time, "work" for all of it.  With LEAK_BYTES, "work" also leaks
 * one malloc of that size per request: the same bytes per request in
 * every window, however many requests the phase serves.
 * Usage: naps SECONDS [WORK_US SHORT_MS LONG_MS PHASE_MS [LEAK_BYTES]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <loupe/probe.h>

static void **leaked;

/* A list, so that nothing frees it and the compiler cannot drop it. */
static __attribute__((noinline)) void leak(size_t bytes)
{
	void **p = malloc(bytes > sizeof(*p) ? bytes : sizeof(*p));

	if (!p)
		return;
	*p = leaked;
	leaked = p;
}

static __attribute__((noinline)) void spin_us(unsigned long us)
{
	__u64 end = loupe_now_ns() + us * 1000ull;

	while (loupe_now_ns() < end)
		;
}

int main(int argc, char **argv)
{
	unsigned long work_us = 1000, short_ms = 2, long_ms = 30, phase_ms = 700;
	size_t leak_bytes = argc > 6 ? strtoul(argv[6], NULL, 10) : 0;
	__u64 start, end, now;
	unsigned long i = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: naps SECONDS [WORK_US SHORT_MS LONG_MS PHASE_MS [LEAK_BYTES]]\n");
		return 2;
	}
	if (argc > 5) {
		work_us = strtoul(argv[2], NULL, 10);
		short_ms = strtoul(argv[3], NULL, 10);
		long_ms = strtoul(argv[4], NULL, 10);
		phase_ms = strtoul(argv[5], NULL, 10);
	}
	if (!phase_ms) {
		fprintf(stderr, "naps: PHASE_MS must be > 0\n");
		return 2;
	}
	LOUPE_MODEL("m_nap");
	start = loupe_now_ns();
	end = start + strtoull(argv[1], NULL, 10) * 1000000000ull;
	while ((now = loupe_now_ns()) < end) {
		int longer = ((now - start) / 1000000 / phase_ms) % 2;

		LOUPE_REQUEST_BEGIN(i, "m_nap", 1);
		LOUPE_STAGE_BEGIN("work");
		if (leak_bytes)
			leak(leak_bytes);
		spin_us(work_us);
		LOUPE_STAGE_END("work");
		LOUPE_STAGE_BEGIN("nap");
		usleep((longer ? long_ms : short_ms) * 1000);
		LOUPE_STAGE_END("nap");
		LOUPE_REQUEST_END(i, 0);
		i++;
	}
	printf("requests %lu\n", i);
	return 0;
}
