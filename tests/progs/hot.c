// SPDX-License-Identifier: MIT
/*
 * CPU profiling fixture with known answers: for SECONDS, in a loop, spends
 * 70 % of its CPU time under hot_a() (which does its work in an always-
 * inlined helper, inlined_work) and 30 % under hot_b(), both reached from
 * main through a small call chain.  Each iteration is one loupe request of
 * model "m_hot" with stages "stage_a" and "stage_b".
 * Usage: hot SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <loupe/probe.h>

volatile unsigned long sink;

static inline __attribute__((always_inline)) void inlined_work(unsigned long n)
{
	unsigned long i, x = sink;

	for (i = 0; i < n; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	sink = x;
}

__attribute__((noinline)) void hot_a(unsigned long n)
{
	inlined_work(n);
}

__attribute__((noinline)) void hot_b(unsigned long n)
{
	unsigned long i, x = sink;

	for (i = 0; i < n; i++)
		x = x * 2862933555777941757ul + 3037000493ul;
	sink = x;
}

__attribute__((noinline)) void dispatch(unsigned long units)
{
	LOUPE_STAGE_BEGIN("stage_a");
	hot_a(7 * units);
	LOUPE_STAGE_END("stage_a");
	LOUPE_STAGE_BEGIN("stage_b");
	hot_b(3 * units);
	LOUPE_STAGE_END("stage_b");
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3;
	__u64 end = loupe_now_ns() + (__u64)(secs * 1e9), id = 0;

	LOUPE_MODEL("m_hot");
	while (loupe_now_ns() < end) {
		LOUPE_REQUEST_BEGIN(id, "m_hot", 1);
		dispatch(100000);
		LOUPE_REQUEST_END(id, 0);
		id++;
	}
	LOUPE_IDLE();
	printf("hot: %llu iterations\n", (unsigned long long)id);
	return 0;
}
