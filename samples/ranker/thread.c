/* SPDX-License-Identifier: MIT */
/*
 * Thread creation for every thread the ranker starts.
 *
 * A process-directed signal goes to any thread that does not block it.  The
 * main thread is the only one that should see SIGINT/SIGTERM/SIGHUP: its
 * sleep is then interrupted at once, instead of the signal landing in a
 * busy worker and waiting for the main loop's next poll.  Threads inherit
 * the creator's mask, so block around pthread_create and restore.
 */
#include <errno.h>
#include <signal.h>

#include "ranker.h"

int thread_spawn(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	sigset_t block, old;
	int err;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	err = pthread_sigmask(SIG_BLOCK, &block, &old);
	if (err)
		return -err;
	err = pthread_create(thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}
