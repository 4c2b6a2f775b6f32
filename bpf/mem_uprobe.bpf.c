// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sampled heap allocations of a process that runs without libloupe-alloc.so:
 * uprobes on the allocator it really uses (glibc, jemalloc, tcmalloc).
 * Every malloc and free traps (~19 us each on a VM), so this mode is for
 * bounded windows; the collector measures and reports the cost.
 *
 * Sampling happens here, by bytes, with the shim's Poisson process
 * (<loupe/mem_sample.h>): each thread counts down to its next sample point
 * in task-local storage.  Only a sampled allocation needs its returned
 * pointer, so with session uprobes (kernel 6.13+) the entry program returns
 * 1 for the others and the kernel does not even hook their return: one trap
 * per unsampled malloc instead of two.  Older kernels get a plain uprobe +
 * uretprobe pair, the entry handing the weight over in a per-thread map.
 *
 * A sampled allocation is counted against its stack taken at the return:
 * there the frame pointer is the caller's again and the instruction pointer
 * is in the caller (at the entry of glibc's malloc, which does not push
 * %rbp first, a frame-pointer walk would skip the direct caller).  Records
 * and maps are mem.bpf.c's: the same PROF_MEM_ALLOC / PROF_MEM_FREE keys,
 * so report --mem, leaks and exports do not know which mode recorded.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <loupe/mem_sample.h>
#include "profile.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u64 mean_bytes = MEM_SAMPLE_DEFAULT_MEAN;
/* glibc's realloc(NULL, n) and realloc(p, 0) call its malloc and free
 * entry points, which trap themselves: count them there only.  Set when
 * the allocator is known, after loading, hence not read-only. */
__u32 realloc_nests = 1;
/* loupe itself while it measures what a trap costs: sampled like the
 * target, never recorded. */
const volatile __u32 calib_tgid;

extern bool bpf_session_is_return(void) __ksym __weak;
extern __u64 *bpf_session_cookie(void) __ksym __weak;

struct live_alloc {
	struct prof_key k;
	__u64 weight;
};

/* Sampled allocations not yet freed, by address (as in mem.bpf.c). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, __u64);
	__type(value, struct live_alloc);
} live SEC(".maps");

struct thread_state {
	__s64 countdown;
	__u32 seeded;
	__u32 pad;
};

/* Freed with the thread: no table of dead threads to prune. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread_state);
} tstate SEC(".maps");

/* Plain uretprobe mode: the weight of the thread's pending sampled call. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MEM_UPROBE_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} mem_stats SEC(".maps");

static __always_inline void stat_inc(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&mem_stats, &i);

	if (v)
		*v += 1;
}

/* 0: not ours; 1: the target; 2: loupe calibrating. */
static __always_inline int whose(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (tgid == target_tgid)
		return 1;
	return calib_tgid && tgid == calib_tgid ? 2 : 0;
}

/* A sampled pointer is going back to the allocator: count its free.
 * WHO 2 (calibration) pays the lookup but never matches the target's. */
static __always_inline void forget(__u64 addr, int who)
{
	struct live_alloc *la;
	struct prof_key k;

	if (!addr)
		return;
	la = bpf_map_lookup_elem(&live, &addr);
	if (!la || who != 1)
		return;
	k = la->k;
	k.kind = PROF_MEM_FREE;
	prof_add(&k, 1, la->weight);
	bpf_map_delete_elem(&live, &addr);
}

/*
 * Entry of malloc, calloc or realloc (the attach cookie says which).
 * Returns the sample's weight, 0 when not sampled.
 */
static __always_inline __u64 on_entry(struct pt_regs *ctx)
{
	__u64 fn = bpf_get_attach_cookie(ctx), size, a, b;
	struct thread_state *t;
	int who = whose();

	if (!who)
		return 0;
	if (who == 1)
		stat_inc(MEM_UPROBE_STAT_ALLOC_CALLS);
	a = PT_REGS_PARM1(ctx);
	b = PT_REGS_PARM2(ctx);
	switch (fn) {
	case MEM_FN_CALLOC:
		/* a * b, saturated: a calloc that large fails anyway. */
		size = (a >> 32 || b >> 32) ? MEM_SAMPLE_MAX_SIZE : a * b;
		break;
	case MEM_FN_REALLOC:
		if (realloc_nests && (!a || !b))
			return 0;
		if (!b) {		/* realloc(p, 0) frees p */
			forget(a, who);
			return 0;
		}
		/* Before the allocator has the block back, as the shim:
		 * another thread may get it from malloc at once.  (A realloc
		 * that fails leaves the block live but forgotten: its free
		 * is then ignored.) */
		forget(a, who);
		size = b;
		break;
	default:
		size = a;
		break;
	}
	t = bpf_task_storage_get(&tstate, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t) {
		stat_inc(MEM_UPROBE_STAT_NO_STATE);
		return 0;
	}
	if (!t->seeded) {
		/* A thread's first allocation counts against a proper gap,
		 * not a countdown of 0 that would sample it for free. */
		t->countdown = mem_sample_gap(bpf_get_prandom_u32(), mean_bytes);
		t->seeded = 1;
	}
	return mem_sample_account(&t->countdown, size, mean_bytes,
				  bpf_get_prandom_u32());
}

/* Return of a sampled call: the block and its stack. */
static __always_inline void on_return(struct pt_regs *ctx, __u64 weight)
{
	__u64 addr = PT_REGS_RC(ctx), id = bpf_get_current_pid_tgid();
	struct live_alloc la = {};

	if (!addr || whose() != 1)
		return;
	stat_inc(MEM_UPROBE_STAT_SAMPLED);
	la.k.kind = PROF_MEM_ALLOC;
	la.k.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	la.k.kernel_stack_id = -1;
	/* The stack starts in the caller: the collector puts the allocator
	 * function back on top (see <loupe/profile_events.h>). */
	la.k.ustack_key = 1 + (bpf_get_attach_cookie(ctx) & 0xff);
	read_stage((__u32)id, &la.k);
	la.weight = weight;
	prof_add(&la.k, 1, weight);
	if (bpf_map_update_elem(&live, &addr, &la, BPF_ANY))
		prof_drop(PROF_DROP_MAP_FULL);
}

/* Session uprobe: entry and return in one program. */
SEC("uprobe")
int on_alloc_session(struct pt_regs *ctx)
{
	__u64 *cookie = bpf_session_cookie();
	__u64 w;

	if (bpf_session_is_return()) {
		if (cookie && *cookie)
			on_return(ctx, *cookie);
		return 0;
	}
	w = on_entry(ctx);
	if (!w || !cookie)
		return 1;	/* not sampled: no return probe */
	*cookie = w;
	return 0;
}

/* Plain uprobe + uretprobe (kernels before session uprobes). */
SEC("uprobe")
int on_alloc_entry(struct pt_regs *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 w = on_entry(ctx);

	if (w)
		bpf_map_update_elem(&pending, &tid, &w, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int on_alloc_return(struct pt_regs *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *w = bpf_map_lookup_elem(&pending, &tid), weight;

	if (!w)
		return 0;
	weight = *w;
	bpf_map_delete_elem(&pending, &tid);
	on_return(ctx, weight);
	return 0;
}

SEC("uprobe")
int on_free(struct pt_regs *ctx)
{
	int who = whose();

	if (!who)
		return 0;
	if (who == 1)
		stat_inc(MEM_UPROBE_STAT_FREE_CALLS);
	/* Unsampled pointers (nearly all) end at this one hash lookup. */
	forget(PT_REGS_PARM1(ctx), who);
	return 0;
}
