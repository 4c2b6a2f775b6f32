// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>

#include "analyzer/array.h"
#include "collector/counters.h"
#include "log.h"

struct counter_def {
	enum trace_counter ctr;
	__u32 type;
	__u64 config;
};

static const struct counter_def defs[] = {
	{ TRACE_CTR_TASK_CLOCK_NS, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK },
	{ TRACE_CTR_MINOR_FAULTS, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN },
	{ TRACE_CTR_MAJOR_FAULTS, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ },
	{ TRACE_CTR_MIGRATIONS, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS },
	{ TRACE_CTR_CYCLES, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES },
	{ TRACE_CTR_INSTRUCTIONS, PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS },
	{ TRACE_CTR_CACHE_MISSES, PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES },
	{ TRACE_CTR_BRANCH_MISSES, PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES },
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

struct thread_fds {
	pid_t tid;
	int fd[NDEFS];
};

struct counters {
	pid_t pid;
	struct thread_fds *t;
	size_t nt, cap;
	__u32 unsupported;	/* bit per def that cannot be opened */
	__u64 last[TRACE_CTR_N];
	bool noted;
};

static void read_ctx_switches(struct counters *c, __u64 *vol, __u64 *invol);

static int open_counter(const struct counter_def *d, pid_t tid)
{
	struct perf_event_attr attr = { 0 };

	attr.size = sizeof(attr);
	attr.type = d->type;
	attr.config = d->config;
	attr.inherit = 1;
	attr.exclude_kernel = 0;
	attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED |
			   PERF_FORMAT_TOTAL_TIME_RUNNING;
	return syscall(SYS_perf_event_open, &attr, tid, -1, -1,
		       PERF_FLAG_FD_CLOEXEC);
}

/* Scaled value: a multiplexed counter ran part of the time. */
static __u64 read_scaled(int fd)
{
	__u64 v[3];

	if (fd < 0 || read(fd, v, sizeof(v)) != sizeof(v) || !v[2])
		return 0;
	return v[1] == v[2] ? v[0] : (__u64)((double)v[0] * v[1] / v[2]);
}

static int add_thread(struct counters *c, pid_t tid)
{
	struct thread_fds *t;
	size_t i;

	for (i = 0; i < c->nt; i++)
		if (c->t[i].tid == tid)
			return 0;
	if (array_grow((void **)&c->t, &c->cap, c->nt + 1, sizeof(*c->t)))
		return -ENOMEM;
	t = &c->t[c->nt];
	t->tid = tid;
	for (i = 0; i < NDEFS; i++) {
		t->fd[i] = -1;
		if (c->unsupported & (1u << i))
			continue;
		t->fd[i] = open_counter(&defs[i], tid);
		if (t->fd[i] >= 0)
			continue;
		if (errno == ESRCH) /* gone already */
			break;
		if (defs[i].type == PERF_TYPE_HARDWARE)
			c->unsupported |= 1u << i;
	}
	c->nt++;
	return 0;
}

static int scan_threads(struct counters *c)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)c->pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while (!err && (de = readdir(d)))
		if (de->d_name[0] != '.')
			err = add_thread(c, atoi(de->d_name));
	closedir(d);
	return err;
}

struct counters *counters_new(pid_t pid)
{
	struct counters *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return NULL;
	c->pid = pid;
	err = scan_threads(c);
	if (err) {
		counters_free(c);
		errno = -err;
		return NULL;
	}
	/* /proc's switch counts cover each thread's whole life: start from
	 * what they are now, as the perf counters do. */
	read_ctx_switches(c, &c->last[TRACE_CTR_CTX_VOLUNTARY],
			  &c->last[TRACE_CTR_CTX_INVOLUNTARY]);
	if (c->unsupported && !c->noted) {
		c->noted = true;
		log_note_no_pmu();
	}
	return c;
}

/* voluntary/involuntary switches summed over the live threads */
static void read_ctx_switches(struct counters *c, __u64 *vol, __u64 *invol)
{
	char path[320], line[128];
	struct dirent *de;
	DIR *d;
	FILE *f;

	*vol = *invol = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)c->pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status",
			 (int)c->pid, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			unsigned long long v;

			if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1)
				*vol += v;
			else if (sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
				*invol += v;
		}
		fclose(f);
	}
	closedir(d);
}

/* RssAnon/RssFile/RssShmem of the process, in bytes; false once it is
 * gone (a gauge of zero would read as the memory being freed). */
static bool read_rss(struct counters *c, __u64 *v)
{
	static const char *const keys[3] = { "RssAnon:", "RssFile:", "RssShmem:" };
	char path[64], line[128];
	unsigned long long kb;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	bool found = false;

	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		for (i = 0; i < 3; i++)
			if (!strncmp(line, keys[i], strlen(keys[i])) &&
			    sscanf(line + strlen(keys[i]), "%llu", &kb) == 1) {
				v[i] = kb * 1024;
				found = true;
			}
	fclose(f);
	return found;
}

int counters_read(struct counters *c, struct trace_counters *out)
{
	__u64 now[TRACE_CTR_N] = { 0 };
	size_t i, j;

	memset(out, 0, sizeof(*out));
	for (j = 0; j < NDEFS; j++) {
		if (c->unsupported & (1u << j))
			continue;
		/* An inherited counter reads as itself plus its children. */
		for (i = 0; i < c->nt; i++)
			now[defs[j].ctr] += read_scaled(c->t[i].fd[j]);
		out->present |= 1u << defs[j].ctr;
	}
	read_ctx_switches(c, &now[TRACE_CTR_CTX_VOLUNTARY],
			  &now[TRACE_CTR_CTX_INVOLUNTARY]);
	out->present |= 1u << TRACE_CTR_CTX_VOLUNTARY |
			1u << TRACE_CTR_CTX_INVOLUNTARY;
	if (read_rss(c, &now[TRACE_CTR_RSS_ANON]))
		out->present |= 1u << TRACE_CTR_RSS_ANON | 1u << TRACE_CTR_RSS_FILE |
				1u << TRACE_CTR_RSS_SHMEM;
	for (i = 0; i < TRACE_CTR_N; i++) {
		if (TRACE_CTR_IS_GAUGE(i)) {
			out->v[i] = now[i];
			continue;
		}
		/* Threads exit and /proc sums shrink: never go negative. */
		out->v[i] = now[i] > c->last[i] ? now[i] - c->last[i] : 0;
		if (now[i] > c->last[i] || i == TRACE_CTR_CTX_VOLUNTARY ||
		    i == TRACE_CTR_CTX_INVOLUNTARY)
			c->last[i] = now[i];
	}
	return 0;
}

void counters_free(struct counters *c)
{
	size_t i, j;

	if (!c)
		return;
	for (i = 0; i < c->nt; i++)
		for (j = 0; j < NDEFS; j++)
			if (c->t[i].fd[j] >= 0)
				close(c->t[i].fd[j]);
	free(c->t);
	free(c);
}
