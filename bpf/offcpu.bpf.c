// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Off-CPU time of the target's threads, split in two: blocked (asleep on a
 * futex, I/O, a timer: from switch-out to wake-up) and runnable-but-waiting
 * (from wake-up, or from preemption, to switch-in: run-queue delay, the
 * signature of more runnable threads than cores).  The stack and the
 * stage are taken at switch-out, when the thread is still current.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "profile.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct off_start {
	__u64 ts;		/* switched out */
	__u64 wake_ts;		/* woken up, 0 if not yet */
	struct prof_key k;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct off_start);
} off_start SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	__u64 now = bpf_ktime_get_ns();
	struct off_start *st, s = {};
	struct prof_key k;
	__u32 tid;

	if (prev->tgid == target_tgid && prev->pid) {
		tid = prev->pid;
		s.ts = now;
		/* Preempted while runnable: all of it is run-queue wait. */
		s.k.kind = preempt || prev_state == 0 ? PROF_OFFCPU_RUNQ :
							PROF_OFFCPU_BLOCKED;
		s.k.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		/* Skip this program and bpf_trace_run4: the leaf is
		 * __schedule. */
		s.k.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 2);
		read_stage(tid, &s.k);
		bpf_map_update_elem(&off_start, &tid, &s, BPF_ANY);
	}
	if (next->tgid != target_tgid)
		return 0;
	tid = next->pid;
	st = bpf_map_lookup_elem(&off_start, &tid);
	if (!st)
		return 0;
	if (st->k.kind == PROF_OFFCPU_BLOCKED && st->wake_ts > st->ts &&
	    now > st->wake_ts) {
		prof_add(&st->k, 1, st->wake_ts - st->ts);
		k = st->k;
		k.kind = PROF_OFFCPU_RUNQ;
		prof_add(&k, 1, now - st->wake_ts);
	} else if (now > st->ts) {
		prof_add(&st->k, 1, now - st->ts);
	}
	bpf_map_delete_elem(&off_start, &tid);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	struct off_start *st;
	__u32 tid;

	if (p->tgid != target_tgid)
		return 0;
	tid = p->pid;
	st = bpf_map_lookup_elem(&off_start, &tid);
	if (st && !st->wake_ts)
		st->wake_ts = bpf_ktime_get_ns();
	return 0;
}
