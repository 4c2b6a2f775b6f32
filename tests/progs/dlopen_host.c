// SPDX-License-Identifier: MIT
/*
 * An uninstrumented program that dlopen()s an instrumented library after
 * DELAY_MS, waits WAIT_MS, then runs N requests in it.
 * Usage: dlopen_host LIB N DELAY_MS WAIT_MS
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	void (*run)(unsigned long);
	void *h;

	if (argc != 5) {
		fprintf(stderr, "usage: dlopen_host LIB N DELAY_MS WAIT_MS\n");
		return 2;
	}
	usleep(atoi(argv[3]) * 1000);
	h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "dlopen_host: %s\n", dlerror());
		return 1;
	}
	*(void **)&run = dlsym(h, "probed_run");
	if (!run) {
		fprintf(stderr, "dlopen_host: %s\n", dlerror());
		return 1;
	}
	usleep(atoi(argv[4]) * 1000);
	run(strtoul(argv[2], NULL, 10));
	printf("dlopen_host: done\n");
	return 0;
}
