// SPDX-License-Identifier: MIT
/*
 * A shared library instrumented with probe.h, for the test that loupe finds
 * probes in libraries, also ones dlopen()ed after it attached.
 */
#include <loupe/probe.h>

__attribute__((visibility("default"))) void probed_run(unsigned long n)
{
	unsigned long i;
	__u64 end;

	LOUPE_MODEL("m_lib");
	for (i = 0; i < n; i++) {
		LOUPE_REQUEST_BEGIN(i, "m_lib", 1);
		LOUPE_STAGE_BEGIN("lib_stage");
		end = loupe_now_ns() + 200000;
		while (loupe_now_ns() < end)
			;
		LOUPE_STAGE_END("lib_stage");
		LOUPE_REQUEST_END(i, 0);
	}
	LOUPE_IDLE();
}
