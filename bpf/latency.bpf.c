// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Request/stage latency: the kernel side of include/loupe/probe.h.
 *
 * loupe:flush hands over a thread's buffer of finished requests in one trap;
 * we copy the records verbatim into the ring buffer and let the collector
 * aggregate, because it sees every record anyway and can do it exactly.
 * New name pointers shipped with the flush are resolved to strings here,
 * while the process is certainly alive.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include <loupe/probe_abi.h>
#include <loupe/events.h>
#include "thread_ctx.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LOUPE_DROP_NKINDS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Probe hits by kind: what the workload paid in traps. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LOUPE_TRAP_NKINDS);
	__type(key, __u32);
	__type(value, __u64);
} traps SEC(".maps");

/* The part of struct loupe_thread_ctx in front of recs[]. */
struct ctx_head {
	__u32 abi_version;
	__u32 tid;
	__u64 cur_model;
	__u64 cur_stage;
	__u64 cur_req_id;
	__u32 nrec;
	__u32 nnames;
	__u64 new_names[LOUPE_MAX_NEW_NAMES];
};

static __always_inline void count(void *map, __u32 kind, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(map, &kind);

	if (v)
		*v += n;
}

#define count_drop(kind, n) count(&drops, kind, n)

/*
 * Waking the collector costs more than the rest of a flush (an irq_work per
 * event); it polls every 100 ms anyway, so wake it only when the buffer is
 * filling up.
 */
static __always_inline __u64 wakeup_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > (2 << 20) ?
		       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_hdr(struct loupe_ev_hdr *h, __u32 type)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->type = type;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->n = 0;
	h->ts_ns = bpf_ktime_get_ns();
}

static __always_inline void emit_name(__u32 type, __u64 ptr)
{
	struct loupe_ev_name *ev;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_drop(LOUPE_DROP_EVENTS, 1);
		return;
	}
	fill_hdr(&ev->h, type);
	ev->ptr = ptr;
	if (bpf_probe_read_user_str(ev->str, sizeof(ev->str), (void *)ptr) < 0)
		ev->str[0] = 0;
	bpf_ringbuf_submit(ev, wakeup_flags());
}

SEC("usdt")
int BPF_USDT(on_flush, void *ctxp)
{
	struct ctx_head head;
	struct loupe_ev_reqs *ev;
	__u32 n, i;
	__u64 size;

	count(&traps, LOUPE_TRAP_FLUSH, 1);
	if (bpf_probe_read_user(&head, sizeof(head), ctxp)) {
		count_drop(LOUPE_DROP_READ, 1);
		return 0;
	}
	if (head.abi_version != LOUPE_ABI_VERSION) {
		count_drop(LOUPE_DROP_BAD_ABI, 1);
		return 0;
	}
	{
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		__u64 addr = (__u64)ctxp;

		/* A lookup is cheaper than an update: register once. */
		if (!bpf_map_lookup_elem(&thread_ctx, &tid))
			bpf_map_update_elem(&thread_ctx, &tid, &addr, BPF_ANY);
	}
	/* Names first: the ring buffer keeps this order for the collector. */
	for (i = 0; i < LOUPE_MAX_NEW_NAMES; i++) {
		if (i >= head.nnames)
			break;
		emit_name(LOUPE_EV_NAME, head.new_names[i]);
	}

	n = head.nrec;
	if (n == 0)
		return 0;
	if (n > LOUPE_BATCH)
		n = LOUPE_BATCH;
	/*
	 * Reserve the largest batch and read straight into it: a staging copy
	 * would touch twice the cache lines, and the workload (a ranking
	 * server sweeping embedding tables) leaves them all cold.  The unused
	 * tail costs ring space, not memory traffic.
	 */
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_drop(LOUPE_DROP_EVENTS, 1);
		count_drop(LOUPE_DROP_RECORDS, n);
		return 0;
	}
	fill_hdr(&ev->h, LOUPE_EV_REQS);
	ev->h.n = n;
	size = (__u64)n * sizeof(struct loupe_req_rec);
	if (bpf_probe_read_user(ev->recs, size,
				(char *)ctxp + __builtin_offsetof(struct loupe_thread_ctx, recs))) {
		count_drop(LOUPE_DROP_READ, n);
		bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
		return 0;
	}
	bpf_ringbuf_submit(ev, wakeup_flags());
	return 0;
}

SEC("usdt")
int BPF_USDT(on_model, void *name)
{
	count(&traps, LOUPE_TRAP_MODEL, 1);
	emit_name(LOUPE_EV_MODEL, (__u64)name);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_config, void *key, void *value)
{
	struct loupe_ev_config *ev;

	count(&traps, LOUPE_TRAP_CONFIG, 1);
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_drop(LOUPE_DROP_EVENTS, 1);
		return 0;
	}
	fill_hdr(&ev->h, LOUPE_EV_CONFIG);
	if (bpf_probe_read_user_str(ev->key, sizeof(ev->key), key) < 0)
		ev->key[0] = 0;
	if (bpf_probe_read_user_str(ev->value, sizeof(ev->value), value) < 0)
		ev->value[0] = 0;
	bpf_ringbuf_submit(ev, wakeup_flags());
	return 0;
}
