// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Exact latency of chosen functions (loupe record --probe BINARY:SYMBOL):
 * a uprobe stamps the entry, a uretprobe sends the duration.  Two traps
 * per call (~19 + ~25 us on a VM), so this is for rare functions; the
 * collector measures and reports what the probes cost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <loupe/profile_events.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 target_tgid;	/* 0: any process (calibration) */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);		/* tid << 16 | probe index */
	__type(value, __u64);		/* entry time */
} entry_ts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} lat_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);		/* 0: calls, 1: lost */
	__type(key, __u32);
	__type(value, __u64);
} lat_stats SEC(".maps");

static __always_inline void bump(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&lat_stats, &i);

	if (v)
		*v += 1;
}

static __always_inline int mine(void *ctx, __u64 *key)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (target_tgid && id >> 32 != target_tgid)
		return 0;
	*key = (id & 0xffffffff) << 16 | (bpf_get_attach_cookie(ctx) & 0xffff);
	return 1;
}

SEC("uprobe")
int BPF_KPROBE(on_entry)
{
	__u64 key, now = bpf_ktime_get_ns();

	if (!mine(ctx, &key))
		return 0;
	bpf_map_update_elem(&entry_ts, &key, &now, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_return)
{
	struct funclat_event *ev;
	__u64 key, *ts;

	if (!mine(ctx, &key))
		return 0;
	ts = bpf_map_lookup_elem(&entry_ts, &key);
	if (!ts)
		return 0;
	bump(0);
	ev = bpf_ringbuf_reserve(&lat_events, sizeof(*ev), 0);
	if (ev) {
		ev->probe = key & 0xffff;
		ev->end_ns = bpf_ktime_get_ns();
		ev->dur_ns = ev->end_ns - *ts;
		bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	} else {
		bump(1);
	}
	bpf_map_delete_elem(&entry_ts, &key);
	return 0;
}
