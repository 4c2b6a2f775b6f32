/* SPDX-License-Identifier: MIT */
/*
 * record --mem without libloupe-alloc.so: uprobes on the allocator the
 * target really uses (bpf/mem_uprobe.bpf.c), sampled by bytes in BPF and
 * counted into the CPU profile's maps, so the trace holds the same
 * TRACE_SAMPLE_MEM_ALLOC / _FREE samples as with the shim.  Every malloc
 * and free traps: the cost is measured at start (a calibration against
 * loupe's own libc) and reported.
 */
#ifndef LOUPE_MEM_UPROBE_H
#define LOUPE_MEM_UPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

struct mem_uprobe_opts {
	pid_t pid;
	__u64 mean_bytes;	/* 0: $LOUPE_ALLOC_SAMPLE_BYTES, else 512 KiB */
	/* The CPU profile's maps (cpu_profile_maps()). */
	int stacks_fd, counts_fd, drops_fd, thread_ctx_fd;
	/* The recording's windows (aggregate_windows()): counts carry theirs */
	__u64 win_start_ns, win_ns;
};

struct mem_uprobe_info {
	const char *allocator;	/* path of the object probed, NULL: none */
	bool session;		/* one trap per unsampled malloc (6.13+) */
	__u64 mean_bytes;
	double malloc_ns, free_ns; /* measured cost of one call, 0: unknown */
	__u64 alloc_calls, free_calls, sampled;
};

/*
 * Whether PID runs with libloupe-alloc.so mapped: 1 yes, 0 no, -errno
 * (-ESRCH: no such process).
 */
int mem_uprobe_has_shim(pid_t pid);

/*
 * The allocator PID uses, into PATH (LEN bytes): a mapped libjemalloc,
 * libtcmalloc or libmimalloc first, else the executable when it defines
 * malloc itself (static), else the mapped libc.so.6.  0, or -ENOENT (none
 * found), -ESRCH, -ENOMEM.
 */
int mem_uprobe_find_allocator(pid_t pid, char *path, size_t len);

/*
 * Loads the programs and measures what a probed malloc and free cost
 * (against loupe's own libc).  Nothing is attached in the target yet.
 * NULL + errno.
 */
struct mem_uprobe *mem_uprobe_new(const struct mem_uprobe_opts *o);

/*
 * Attaches to ALLOCATOR's malloc, calloc, realloc and free for the target
 * (an earlier allocator is detached first).  0, or -errno (-ENOENT:
 * ALLOCATOR lacks malloc or free); nothing stays attached on failure.
 */
int mem_uprobe_attach(struct mem_uprobe *m, const char *allocator);

/* What is probed, what it costs, what was seen so far.  The strings stay
 * valid until mem_uprobe_free(). */
void mem_uprobe_info(const struct mem_uprobe *m, struct mem_uprobe_info *i);

/*
 * The address of allocator function FN (enum mem_fn) in the target, for
 * the top frame of stacks taken at its return; 0 when unknown.
 */
__u64 mem_uprobe_fn_addr(const struct mem_uprobe *m, unsigned int fn);

/* The allocator object probed (as given to mem_uprobe_attach), or NULL
 * when not attached. */
const char *mem_uprobe_allocator(const struct mem_uprobe *m);

/* Detaches the probes, so the target stops paying; the counts and
 * mem_uprobe_info() stay readable, mem_uprobe_attach() may follow. */
void mem_uprobe_detach(struct mem_uprobe *m);

/* Detaches, unloads.  NULL is a no-op. */
void mem_uprobe_free(struct mem_uprobe *m);

#endif
