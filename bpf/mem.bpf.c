// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Sampled heap allocations, from libloupe-alloc.so's probes: the shim picks
 * allocations by bytes (a Poisson process) and fires loupe:alloc only for
 * those, so this runs a few times per megabyte allocated, not per malloc.
 * Each sampled allocation is counted against its allocation stack, model
 * and stage; its free, if it comes, against the same key.  The collector
 * turns the per-window deltas into outstanding bytes per allocation site.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "profile.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct live_alloc {
	struct prof_key k;
	__u64 weight;
};

/* Sampled allocations not yet freed, by address.  Allocations made before
 * we attached are not here, so their frees are ignored: never "leaks". */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, __u64);
	__type(value, struct live_alloc);
} live SEC(".maps");

SEC("usdt")
int BPF_USDT(on_alloc, void *ptr, __u64 size, __u64 weight)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct live_alloc la = {};
	__u64 addr = (__u64)ptr;

	(void)size;
	if (id >> 32 != target_tgid)
		return 0;
	la.k.kind = PROF_MEM_ALLOC;
	/* Skip the shim's probe function: stacks start at malloc & co. */
	la.k.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK | 1);
	la.k.kernel_stack_id = -1;
	read_stage((__u32)id, &la.k);
	la.weight = weight;
	prof_add(&la.k, 1, weight);
	if (bpf_map_update_elem(&live, &addr, &la, BPF_ANY))
		prof_drop(PROF_DROP_MAP_FULL);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_free, void *ptr)
{
	__u64 addr = (__u64)ptr;
	struct live_alloc *la;
	struct prof_key k;

	la = bpf_map_lookup_elem(&live, &addr);
	if (!la)
		return 0;
	k = la->k;
	k.kind = PROF_MEM_FREE;
	prof_add(&k, 1, la->weight);
	bpf_map_delete_elem(&live, &addr);
	return 0;
}
