/* SPDX-License-Identifier: MIT */
/*
 * The memory layout shared by an instrumented process (probe.h) and loupe's
 * BPF programs (bpf/latency.bpf.c).  BPF reads these structures straight out
 * of the process with bpf_probe_read_user(), so field order and sizes are an
 * ABI: append fields, bump LOUPE_ABI_VERSION, never reorder.
 *
 * The includer provides __u16/__u32/__u64 (<linux/types.h> in user space,
 * vmlinux.h in BPF).
 */
#ifndef LOUPE_PROBE_ABI_H
#define LOUPE_PROBE_ABI_H

#define LOUPE_ABI_VERSION 1
#define LOUPE_MAX_STAGES 12	/* stage spans kept per request */
#define LOUPE_MAX_DEPTH 8	/* stage nesting depth */
#define LOUPE_BATCH 16		/* finished requests handed over per trap */
#define LOUPE_MAX_NEW_NAMES 16	/* first-seen names handed over per trap */
#define LOUPE_NAME_MAX 64	/* model/stage names, config keys */
#define LOUPE_VALUE_MAX 256	/* config values */

#define LOUPE_REC_F_TRUNCATED 0x1 /* more than LOUPE_MAX_STAGES spans */
#define LOUPE_REC_F_UNBALANCED 0x2 /* stage_end did not match stage_begin */

struct loupe_stage_rec {
	__u64 name;		/* const char * in the process */
	__u32 start_off_ns;	/* from request begin */
	__u32 dur_ns;		/* saturates at ~4.29 s */
};

struct loupe_req_rec {
	__u64 req_id;
	__u64 model;		/* const char * in the process */
	__u64 begin_ns;		/* CLOCK_MONOTONIC == bpf_ktime_get_ns() */
	__u64 end_ns;
	__u32 batch;
	__s32 status;
	__u32 tid;
	__u16 nstages;
	__u16 flags;
	struct loupe_stage_rec stages[LOUPE_MAX_STAGES];
};

/*
 * One per thread.  The first part is read by BPF: samplers read cur_* to tag
 * a sample with the thread's request/model/stage; the flush probe copies
 * new_names[] and recs[].  The rest is private to probe.h.
 */
struct loupe_thread_ctx {
	__u32 abi_version;
	__u32 tid;
	__u64 cur_model;	/* model of the open request, 0 outside one */
	__u64 cur_stage;	/* innermost open stage, 0 if none */
	__u64 cur_req_id;
	__u32 nrec;		/* finished records in recs[] */
	__u32 nnames;		/* pointers in new_names[] */
	__u64 new_names[LOUPE_MAX_NEW_NAMES];
	struct loupe_req_rec recs[LOUPE_BATCH]; /* recs[nrec] is in progress */

	/* ---- private to probe.h ---- */
	__u64 last_flush_ns;
	__u32 in_request;
	__u32 depth;
	struct {
		__u64 name;
		__u64 begin_ns;
		__s32 slot;	/* index in stages[], -1 when truncated */
		__u32 pad;
	} stack[LOUPE_MAX_DEPTH];
	__u64 epoch;		/* names known as of this announce epoch */
	__u32 nknown;
	__u32 pad;
	__u64 known[32];
};

#endif
