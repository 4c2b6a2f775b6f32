// SPDX-License-Identifier: MIT
/*
 * Test workload with known answers: issues N requests of model "m_test",
 * each with stage "outer" (spin OUTER_US) containing stage "inner" (spin
 * INNER_US), then sleeps GAP_US.  Usage: reqgen N OUTER_US INNER_US GAP_US
 * [WAIT_FOR_ATTACH_S].  Announces config "test_key" = "test_value".
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <loupe/probe.h>

static __attribute__((noinline)) void spin_us(unsigned long us)
{
	__u64 end = loupe_now_ns() + us * 1000ull;

	while (loupe_now_ns() < end)
		;
}

int main(int argc, char **argv)
{
	unsigned long n, outer, inner, gap, i;

	if (argc < 5) {
		fprintf(stderr, "usage: reqgen N OUTER_US INNER_US GAP_US [WAIT_S]\n");
		return 2;
	}
	n = strtoul(argv[1], NULL, 10);
	outer = strtoul(argv[2], NULL, 10);
	inner = strtoul(argv[3], NULL, 10);
	gap = strtoul(argv[4], NULL, 10);
	LOUPE_MODEL("m_test");
	LOUPE_CONFIG("test_key", "test_value");
	if (argc > 5)
		sleep(atoi(argv[5]));
	for (i = 0; i < n; i++) {
		LOUPE_REQUEST_BEGIN(i, "m_test", 8);
		LOUPE_STAGE_BEGIN("outer");
		spin_us(outer > inner ? outer - inner : 0);
		LOUPE_STAGE_BEGIN("inner");
		spin_us(inner);
		LOUPE_STAGE_END("inner");
		LOUPE_STAGE_END("outer");
		LOUPE_REQUEST_END(i, 0);
		if (gap) {
			LOUPE_IDLE();
			usleep(gap);
		}
	}
	LOUPE_IDLE();
	printf("reqgen: %lu requests\n", n);
	return 0;
}
