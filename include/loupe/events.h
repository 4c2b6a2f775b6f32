/* SPDX-License-Identifier: MIT */
/*
 * Events the BPF programs stream to the collector through the ring buffer.
 * Shared by the BPF programs and collector/; includer provides __u32/__u64 and
 * includes <loupe/probe_abi.h> first.
 */
#ifndef LOUPE_EVENTS_H
#define LOUPE_EVENTS_H

enum loupe_ev_type {
	LOUPE_EV_REQS = 1,	/* finished request records from loupe:flush */
	LOUPE_EV_NAME = 2,	/* pointer -> string, first sight per epoch */
	LOUPE_EV_MODEL = 3,	/* loupe:model announcement */
	LOUPE_EV_CONFIG = 4,	/* loupe:config announcement */
};

struct loupe_ev_hdr {
	__u32 type;
	__u32 pid;		/* tgid */
	__u32 tid;
	__u32 n;		/* LOUPE_EV_REQS: records that follow */
	__u64 ts_ns;		/* bpf_ktime_get_ns() at the trap */
};

struct loupe_ev_reqs {
	struct loupe_ev_hdr h;
	struct loupe_req_rec recs[LOUPE_BATCH];	/* only h.n are sent */
};

struct loupe_ev_name {
	struct loupe_ev_hdr h;
	__u64 ptr;
	char str[LOUPE_NAME_MAX];
};

struct loupe_ev_config {
	struct loupe_ev_hdr h;
	char key[LOUPE_NAME_MAX];
	char value[LOUPE_VALUE_MAX];
};

/* Indexes of the per-CPU drop counters. */
enum loupe_drop_kind {
	LOUPE_DROP_EVENTS = 0,	/* ring buffer full: events lost */
	LOUPE_DROP_RECORDS = 1,	/* request records inside those events */
	LOUPE_DROP_BAD_ABI = 2,	/* context with an unknown ABI version */
	LOUPE_DROP_READ = 3,	/* bpf_probe_read_user failed */
	LOUPE_DROP_NKINDS
};

/* Indexes of the per-CPU counters of probe hits (traps) we handled. */
enum loupe_trap_kind {
	LOUPE_TRAP_FLUSH = 0,
	LOUPE_TRAP_MODEL = 1,
	LOUPE_TRAP_CONFIG = 2,
	LOUPE_TRAP_NKINDS
};

#endif
