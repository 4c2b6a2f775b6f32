/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps shared by cpu.bpf.c and offcpu.bpf.c.  Each object declares them;
 * the collector makes them one map with bpf_map__reuse_fd() before loading.
 */
#ifndef LOUPE_PROFILE_BPF_H
#define LOUPE_PROFILE_BPF_H

#include <loupe/profile_events.h>

#define MAX_STACK_DEPTH 127

#include "thread_ctx.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

/* (stacks, model, stage, kind) -> samples / off-CPU time. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct prof_key);
	__type(value, struct prof_val);
} prof_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROF_DROP_NKINDS);
	__type(key, __u32);
	__type(value, __u64);
} prof_drops SEC(".maps");

const volatile __u32 target_tgid;

static __always_inline void prof_drop(__u32 kind)
{
	__u64 *v = bpf_map_lookup_elem(&prof_drops, &kind);

	if (v)
		*v += 1;
}

/* The thread's current model and stage, read from its probe.h context:
 * no trap, just user memory the thread itself keeps up to date. */
static __always_inline void read_stage(__u32 tid, struct prof_key *k)
{
	__u64 *ctxp = bpf_map_lookup_elem(&thread_ctx, &tid);
	__u64 cur[2];

	k->model = 0;
	k->stage = 0;
	if (!ctxp)
		return;
	/* cur_model and cur_stage follow abi_version and tid. */
	if (bpf_probe_read_user(cur, sizeof(cur), (void *)(*ctxp + 8)))
		return;
	k->model = cur[0];
	k->stage = cur[1];
}

/*
 * The recording's windows (start and length, CLOCK_MONOTONIC as the
 * collector's): a count carries the window it happened in, so that it
 * lands in that window although the collector drains the map only when the
 * window is written, AGG_GRACE_NS after its end.  Per-window comparisons
 * (on-CPU time per stage in diff/gate) need the two to agree, and so does a
 * leak's curve: drained late, a window's allocations were written as the
 * previous window's.
 */
const volatile __u64 win_start_ns;
const volatile __u64 win_ns;

static __always_inline __u32 prof_window(void)
{
	__u64 now;

	if (!win_ns)
		return 0;
	now = bpf_ktime_get_ns();
	return now > win_start_ns ? (now - win_start_ns) / win_ns : 0;
}

static __always_inline void prof_add(struct prof_key *k, __u64 count,
				     __u64 value)
{
	struct prof_val *v, zero = {};
	struct prof_key key = *k;

	/* A free counts in its own window, against its allocation's site. */
	key.window = prof_window();
	key.pad = 0;
	v = bpf_map_lookup_elem(&prof_counts, &key);
	if (!v) {
		/* EEXIST from a racing CPU is fine; full is a drop. */
		bpf_map_update_elem(&prof_counts, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&prof_counts, &key);
		if (!v) {
			prof_drop(PROF_DROP_MAP_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&v->count, count);
	__sync_fetch_and_add(&v->value_ns, value);
}

#endif
