/* SPDX-License-Identifier: MIT */
/*
 * CPU and off-CPU profiling of the target: loads bpf/cpu.bpf.c and
 * bpf/offcpu.bpf.c, samples every CPU, and at each window close turns the
 * kernel's counts (or, in DWARF mode, the unwound stacks) into symbolized
 * FRAMES / STACKS / SAMPLES chunks of the trace.
 */
#ifndef LOUPE_CPU_PROFILE_H
#define LOUPE_CPU_PROFILE_H

#include <stdbool.h>
#include <sys/types.h>

struct aggregate;

enum callgraph_mode {
	CALLGRAPH_FP = 0,	/* frame pointers, walked by the kernel */
	CALLGRAPH_DWARF = 1,	/* stack copy + CFI unwinding in loupe */
	CALLGRAPH_AUTO = 2,	/* DWARF when the executable lacks frame pointers */
};

struct cpu_profile_opts {
	pid_t pid;
	int hz;			/* 0: no on-CPU sampling */
	bool offcpu;
	enum callgraph_mode mode;
	const char *exe;	/* target executable, for CALLGRAPH_AUTO */
	int thread_ctx_fd;	/* latency.bpf.c's tid -> context map */
	bool mem;		/* sampled allocations (libloupe-alloc.so) */
};

struct cpu_profile;

/* Loads and attaches.  NULL + errno.  Prints one note line when hardware
 * events are unavailable and it falls back to cpu-clock. */
struct cpu_profile *cpu_profile_new(const struct cpu_profile_opts *o,
				    struct aggregate *agg);
/* Attaches the allocation probes of the ELF file PATH (libloupe-alloc.so,
 * or a program linking it) for the target.  Returns how many probes were
 * attached (0: none there), or -errno.  Needs opts.mem. */
int cpu_profile_attach_mem(struct cpu_profile *p, const char *path);
/* The maps record --mem's uprobe mode shares (collector/mem_uprobe.h). */
void cpu_profile_maps(const struct cpu_profile *p, int *stacks_fd,
		      int *counts_fd, int *drops_fd);
/*
 * Allocation stacks taken at an allocator's return start in its caller;
 * their keys say which allocator function (ustack_key = 1 + enum mem_fn).
 * ADDR[fn] (N entries, copied; 0: unknown) is put on top of such stacks,
 * so they read like the shim's, which start at malloc.
 */
void cpu_profile_set_mem_tops(struct cpu_profile *p, const __u64 *addr,
			      unsigned int n);
/* DWARF mode: unwinds the samples waiting in the ring buffer.  0/-errno. */
int cpu_profile_poll(struct cpu_profile *p);
/* Window hook (agg_window_hook): reads and clears the kernel's counts and
 * writes the window's frames, stacks and samples. */
int cpu_profile_window(void *p, __u64 index);
/* Samples seen, and samples lost (maps full, stack collisions). */
void cpu_profile_stats(const struct cpu_profile *p, __u64 *samples,
		       __u64 *lost);
const char *cpu_profile_mode_name(const struct cpu_profile *p);
void cpu_profile_free(struct cpu_profile *p);

#endif
