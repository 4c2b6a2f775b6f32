/* SPDX-License-Identifier: MIT */
/*
 * CPU / off-CPU profiling data shared by bpf/cpu.bpf.c, bpf/offcpu.bpf.c
 * and collector/cpu_profile.c.  Includer provides __u32/__u64.
 */
#ifndef LOUPE_PROFILE_EVENTS_H
#define LOUPE_PROFILE_EVENTS_H

enum prof_kind {
	PROF_CPU = 0,		/* == TRACE_SAMPLE_CPU */
	PROF_OFFCPU_BLOCKED = 1,
	PROF_OFFCPU_RUNQ = 2,
	PROF_MEM_ALLOC = 3,	/* == TRACE_SAMPLE_MEM_ALLOC */
	PROF_MEM_FREE = 4,
};

struct prof_key {
	__s32 user_stack_id;	/* -1: none (DWARF mode: ustack_key) */
	__s32 kernel_stack_id;	/* -1: none */
	__u64 model;		/* const char * in the target, 0 if none */
	__u64 stage;
	__u32 kind;		/* enum prof_kind */
	__u32 ustack_key;	/* DWARF mode: collector's id, else 0;
				 * PROF_MEM_* from uprobes (mem_uprobe.bpf.c):
				 * 1 + the enum mem_fn the stack returned from
				 * (its first frame is the caller's, the
				 * collector puts the allocator back on top) */
	__u32 window;		/* CPU and off-CPU: the recording's window
				 * when it happened (set by prof_add) */
	__u32 pad;
};

struct prof_val {
	__u64 count;
	__u64 value_ns;
};

enum prof_drop_kind {
	PROF_DROP_MAP_FULL = 0,	/* prof_counts full */
	PROF_DROP_STACK = 1,	/* stack map full or collision */
	PROF_DROP_RINGBUF = 2,	/* DWARF sample lost */
	PROF_DROP_NKINDS
};

#define PROF_DWARF_STACK 8192	/* bytes of user stack copied per sample */

/* A DWARF-mode sample: registers and the top of the user stack. */
struct prof_dwarf_event {
	__u32 tid;
	__u32 stack_len;	/* valid bytes in stack[] */
	__s32 kernel_stack_id;
	__u32 window;		/* the recording's window (profile.bpf.h) */
	__u64 model, stage;
	__u64 ip, sp, bp, bx, r12, r13, r14, r15;
	__u8 stack[PROF_DWARF_STACK];
};

/* One call of a --probe function (bpf/funclat.bpf.c). */
struct funclat_event {
	__u32 probe;		/* index of the --probe */
	__u32 pad;
	__u64 end_ns;
	__u64 dur_ns;
};

/* Allocator entry points of bpf/mem_uprobe.bpf.c (attach cookies). */
enum mem_fn {
	MEM_FN_MALLOC = 0,
	MEM_FN_CALLOC = 1,
	MEM_FN_REALLOC = 2,
	MEM_FN_FREE = 3,
	MEM_FN_N
};

/* Per-CPU counters of bpf/mem_uprobe.bpf.c. */
enum mem_uprobe_stat {
	MEM_UPROBE_STAT_ALLOC_CALLS = 0,	/* malloc/calloc/realloc traps */
	MEM_UPROBE_STAT_FREE_CALLS = 1,		/* free traps */
	MEM_UPROBE_STAT_SAMPLED = 2,		/* allocations recorded */
	MEM_UPROBE_STAT_NO_STATE = 3,		/* no thread state: not sampled */
	MEM_UPROBE_NSTATS
};

#endif
