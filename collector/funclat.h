/* SPDX-License-Identifier: MIT */
/*
 * loupe record --probe BINARY:SYMBOL: exact latency histograms of chosen
 * functions by uprobe + uretprobe, reported like stages of the model
 * "[probe]".  Two traps per call: the cost is measured (a calibration
 * against loupe's own function at start) and reported.
 */
#ifndef LOUPE_FUNCLAT_H
#define LOUPE_FUNCLAT_H

#include <sys/types.h>
#include <linux/types.h>

struct aggregate;
struct funclat;

/*
 * Attaches to each "BINARY:SYMBOL" of SPECS in process PID.  BINARY is a
 * path, or the file name of an object the process has mapped ("libc.so.6").
 * NULL + errno; *BAD is the spec that failed.
 */
struct funclat *funclat_new(pid_t pid, char **specs, int n,
			    struct aggregate *agg, const char **bad);
/* Moves finished calls into the window histograms.  0 or -errno. */
int funclat_poll(struct funclat *f);
/* Calls seen, and the measured cost of one call (both traps) in ns. */
void funclat_cost(const struct funclat *f, __u64 *calls, double *ns_per_call);
void funclat_free(struct funclat *f);

#endif
