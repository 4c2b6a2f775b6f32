/* SPDX-License-Identifier: MIT */
/*
 * What fix proposals need to know besides the workload's own config: the
 * machine (cores, memory) and the tuning variables in the target's
 * environment (OMP_NUM_THREADS, MALLOC_ARENA_MAX, LD_PRELOAD...), recorded
 * as loupe's own config keys "@machine.*" and "@env.NAME".
 */
#ifndef LOUPE_TARGET_FACTS_H
#define LOUPE_TARGET_FACTS_H

#include <sys/types.h>
#include <linux/types.h>

struct aggregate;

/* Records the facts at TS_NS.  An unreadable environ (the target gone, or
 * another user's) only loses the @env keys.  Returns 0 or -ENOMEM. */
int target_facts_record(struct aggregate *a, pid_t pid, __u64 ts_ns);

#endif
