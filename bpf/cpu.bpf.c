// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * On-CPU sampling of the target process, attached to a cpu-clock (or
 * cycles) perf event on every CPU, so threads created after attach are
 * covered without per-thread set-up.  Each sample is tagged with the
 * thread's current model and stage read from its probe.h context.
 *
 * Frame-pointer mode aggregates here: (user stack, kernel stack, model,
 * stage) -> count.  DWARF mode sends the registers and the top of the user
 * stack to the collector, which unwinds them with the binaries' CFI.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "profile.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u64 period_ns = 10101010;	/* 99 Hz */
const volatile __u32 dwarf_mode;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} dwarf_events SEC(".maps");

/* Copies as much of the stack above SP as is mapped, largest first:
 * near the stack's base a full 8 KiB read would fail. */
static __always_inline __u32 copy_stack(struct prof_dwarf_event *ev, __u64 sp)
{
	if (!bpf_probe_read_user(ev->stack, 8192, (void *)sp))
		return 8192;
	if (!bpf_probe_read_user(ev->stack, 4096, (void *)sp))
		return 4096;
	if (!bpf_probe_read_user(ev->stack, 2048, (void *)sp))
		return 2048;
	if (!bpf_probe_read_user(ev->stack, 1024, (void *)sp))
		return 1024;
	if (!bpf_probe_read_user(ev->stack, 256, (void *)sp))
		return 256;
	return 0;
}

static __always_inline int dwarf_sample(struct prof_key *k, __u32 tid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct prof_dwarf_event *ev;

	ev = bpf_ringbuf_reserve(&dwarf_events, sizeof(*ev), 0);
	if (!ev) {
		prof_drop(PROF_DROP_RINGBUF);
		return 0;
	}
	ev->tid = tid;
	ev->window = prof_window();
	ev->kernel_stack_id = k->kernel_stack_id;
	ev->model = k->model;
	ev->stage = k->stage;
	ev->ip = BPF_CORE_READ(regs, ip);
	ev->sp = BPF_CORE_READ(regs, sp);
	ev->bp = BPF_CORE_READ(regs, bp);
	ev->bx = BPF_CORE_READ(regs, bx);
	ev->r12 = BPF_CORE_READ(regs, r12);
	ev->r13 = BPF_CORE_READ(regs, r13);
	ev->r14 = BPF_CORE_READ(regs, r14);
	ev->r15 = BPF_CORE_READ(regs, r15);
	ev->stack_len = copy_stack(ev, ev->sp);
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct prof_key k = {};

	if (id >> 32 != target_tgid || !tid)
		return 0;
	k.kind = PROF_CPU;
	/* -EFAULT when the sample hit user mode: no kernel part. */
	k.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
	read_stage(tid, &k);
	if (dwarf_mode)
		return dwarf_sample(&k, tid);
	k.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	if (k.user_stack_id < 0 && k.kernel_stack_id < 0)
		prof_drop(PROF_DROP_STACK);
	prof_add(&k, 1, period_ns);
	return 0;
}
