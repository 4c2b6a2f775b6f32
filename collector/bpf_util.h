/* SPDX-License-Identifier: MIT */
/* Small helpers over libbpf shared by the collector's modules. */
#ifndef LOUPE_BPF_UTIL_H
#define LOUPE_BPF_UTIL_H

#include <linux/types.h>

/*
 * Sum over all CPUs of the per-CPU array map FD at keys [0, NKEYS), leaving
 * out key SKIP (pass NKEYS to keep all).  Unreadable keys count as 0.
 */
__u64 bpf_percpu_sum(int fd, __u32 nkeys, __u32 skip);

#endif
