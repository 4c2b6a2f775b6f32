// SPDX-License-Identifier: MIT
/*
 * Probe discovery against real ELF files: this test binary includes
 * probe.h (so it carries loupe's USDT notes), /bin/true does not.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include <loupe/probe.h>
#include "collector/usdt_scan.h"

/* Referencing the macros makes the probe sites part of this binary. */
static void __attribute__((used)) instrumented(void)
{
	LOUPE_MODEL("m");
	LOUPE_REQUEST_BEGIN(1, "m", 1);
	LOUPE_REQUEST_END(1, 0);
}

static void test_counts_own_probes(void **state)
{
	(void)state;
	/* flush, model, config: at least one site each */
	assert_true(usdt_count_probes("/proc/self/exe") >= 3);
}

static void test_uninstrumented_and_bad_files(void **state)
{
	(void)state;
	assert_int_equal(usdt_count_probes("/bin/true"), 0);
	assert_int_equal(usdt_count_probes("/etc/passwd"), -ENOEXEC);
	assert_int_equal(usdt_count_probes("/no/such/file"), -ENOENT);
}

static void test_mapped_objects(void **state)
{
	struct mapped_object *v;
	char self[4096];
	ssize_t n;
	size_t len, i;
	int found = 0;

	(void)state;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = 0;
	assert_int_equal(usdt_mapped_objects(getpid(), &v, &len), 0);
	for (i = 0; i < len; i++) {
		found += !strcmp(v[i].path, self);
		assert_true(v[i].path[0] == '/');
	}
	assert_int_equal(found, 1);	/* once, though mapped several times */
	assert_true(len >= 2);		/* and libc */
	usdt_objects_free(v, len);
	assert_int_equal(usdt_mapped_objects(4194303, &v, &len), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_own_probes),
		cmocka_unit_test(test_uninstrumented_and_bad_files),
		cmocka_unit_test(test_mapped_objects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
