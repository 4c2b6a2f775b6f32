/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tid -> address of the thread's struct loupe_thread_ctx (probe.h).
 * latency.bpf.c fills it on each thread's first flush; cpu.bpf.c and
 * offcpu.bpf.c read it to tag samples with the model and stage.  Each
 * object declares it; the collector makes them one map with
 * bpf_map__reuse_fd() before loading.
 */
#ifndef LOUPE_THREAD_CTX_BPF_H
#define LOUPE_THREAD_CTX_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} thread_ctx SEC(".maps");

#endif
