// SPDX-License-Identifier: MIT
/*
 * Off-CPU fixture: thread "sleeper" sleeps 10 ms at a time in
 * sleep_in_here(); threads "lockers" (2) take turns on one mutex, holding
 * it 5 ms spinning, so each waits in wait_for_lock() about half the time;
 * with SPINNERS > 0 also that many threads spin forever in spin_forever()
 * (more runnable threads than cores: run-queue wait).  Prints its own CPU
 * time at the end (getrusage), the truth for loupe's task-clock.
 * Usage: offcpu SECONDS [SPINNERS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <loupe/probe.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop;
volatile unsigned long sink;

static void spin_ns(__u64 ns)
{
	__u64 end = loupe_now_ns() + ns;

	while (loupe_now_ns() < end)
		sink++;
}

__attribute__((noinline)) void sleep_in_here(void)
{
	usleep(10000);
}

static void *sleeper(void *arg)
{
	(void)arg;
	while (!stop)
		sleep_in_here();
	return NULL;
}

__attribute__((noinline)) void wait_for_lock(void)
{
	pthread_mutex_lock(&lock);
}

static void *locker(void *arg)
{
	(void)arg;
	while (!stop) {
		wait_for_lock();
		spin_ns(5000000);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

__attribute__((noinline)) void spin_forever(void)
{
	while (!stop)
		sink++;
}

static void *spinner(void *arg)
{
	(void)arg;
	spin_forever();
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3;
	int nspin = argc > 2 ? atoi(argv[2]) : 0, i;
	pthread_t t[64];
	int n = 0;

	pthread_create(&t[n++], NULL, sleeper, NULL);
	pthread_create(&t[n++], NULL, locker, NULL);
	pthread_create(&t[n++], NULL, locker, NULL);
	for (i = 0; i < nspin && n < 64; i++)
		pthread_create(&t[n++], NULL, spinner, NULL);
	usleep((useconds_t)(secs * 1e6));
	stop = 1;
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	{
		/* Ground truth for loupe's task-clock: all threads' CPU. */
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		printf("offcpu: cpu_ns %llu\n",
		       (unsigned long long)((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
					    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull));
	}
	return 0;
}
