/* SPDX-License-Identifier: MIT */
/*
 * The collector: loads the BPF programs, attaches loupe's USDT probes in a
 * target process, turns the ring buffer's request records into per-window
 * (model x stage) latency histograms, and appends everything to a trace
 * file as windows close.  Single-threaded; one target process.
 */
#ifndef LOUPE_COLLECTOR_H
#define LOUPE_COLLECTOR_H

#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>

#include <loupe/trace.h>
#include "collector/mem_uprobe.h"

/* How --mem records allocations (collector_summary's mem_mode). */
enum collector_mem_mode {
	COLLECTOR_MEM_NONE = 0,		/* not (yet) decided, or no --mem */
	COLLECTOR_MEM_SHIM = 1,		/* libloupe-alloc.so's USDT probes */
	COLLECTOR_MEM_UPROBE = 2,	/* uprobes on the target's allocator */
};

struct collector_opts {
	pid_t pid;
	__u64 window_ns;	/* default 1 s */
	const char *out_path;
	const char *mode;	/* "attach" or "launch" */
	const char *cmdline;	/* target command line for the trace */
	int cpu_hz;		/* on-CPU sampling rate, 0 = off */
	bool offcpu;		/* off-CPU time (sched_switch) */
	bool counters;		/* perf counters */
	int callgraph;		/* enum callgraph_mode */
	const char *exe;	/* target executable (callgraph auto) */
	bool mem;		/* sampled allocations (libloupe-alloc.so) */
	char **probes;		/* --probe BINARY:SYMBOL specs */
	int nprobes;
};

struct collector_summary {
	__u64 requests;		/* records received */
	__u64 errors;
	__u64 windows;		/* windows written */
	__u64 dropped;		/* events lost in the kernel */
	__u64 bytes;		/* trace file size */
	__u64 last_window_requests;
	__u64 last_window_p99_ns;
	__u64 traps;		/* probe hits (USDT traps) in the target */
	__u64 cpu_samples;	/* on-CPU samples taken */
	__u64 cpu_lost;		/* samples lost (maps full, collisions) */
	__u64 target_cpu_ns;	/* the target's task-clock while recorded */
	__u64 probe_calls;	/* --probe: calls measured */
	double probe_ns_per_call; /* --probe: calibrated cost of one call */
	unsigned int objects;	/* objects whose probes are attached */
	unsigned int mem_objects; /* of which with allocation probes */
	int mem_mode;		/* enum collector_mem_mode */
	unsigned int mem_changes; /* times mem_mode was (re)decided */
	struct mem_uprobe_info memu; /* COLLECTOR_MEM_UPROBE: what, cost */
};

struct collector;

/* Loads BPF and creates the trace file (mode 0600).  NULL + errno. */
struct collector *collector_new(const struct collector_opts *o);

/* Starts the clock: window 0 begins now, and the trace's metadata is
 * written.  Call once the probes are attached (launch mode: just before
 * the target runs).  Returns 0 or -errno. */
int collector_start(struct collector *c);

/* After collector_start failed with -EINVAL/-ENOENT on a --probe: which. */
const char *collector_bad_probe(const struct collector *c);

/*
 * Attaches the probes of the ELF file PATH for the target pid (before or
 * after exec).  Returns 1 when attached, 0 when PATH has no loupe probes or
 * is attached already, -errno on failure.
 */
int collector_attach_object(struct collector *c, const char *path);

/* Attaches every not yet attached mapped object of the target that has
 * loupe probes (shared libraries, dlopen).  Returns how many, or -errno.
 * With --mem, also (re)decides how allocations are recorded: the shim's
 * probes when libloupe-alloc.so is mapped, else uprobes on the target's
 * allocator (a launched command once its exec has settled). */
int collector_rescan(struct collector *c);

/* Waits up to TIMEOUT_MS for events, aggregates them, closes due windows.
 * Returns 0 or -errno (a trace write error). */
int collector_poll(struct collector *c, int timeout_ms);

/* Drains the ring buffer, closes the open windows, writes the end chunk
 * and closes the file.  Returns 0 or the first write error. */
int collector_finish(struct collector *c, enum trace_end_reason reason,
		     int target_exit_status);

void collector_summary(const struct collector *c, struct collector_summary *s);

/* Writes KEY = VALUE into the trace as a config record of the open window,
 * as if the target had announced it: how front ends log their actions
 * ("@action").  Returns 0 or -errno (-EINVAL before collector_start). */
int collector_note(struct collector *c, const char *key, const char *value);

/* NULL is a no-op. Does not finish the trace: call collector_finish first. */
void collector_free(struct collector *c);

#endif
