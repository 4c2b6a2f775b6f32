/* SPDX-License-Identifier: MIT */
/*
 * The CPU part of 'loupe report --cpu': on-CPU and off-CPU time per model x
 * stage, the top functions (self and total) of each, the top off-CPU
 * stacks, counters, and with a pattern the time under matching frames.
 */
#ifndef LOUPE_CPU_REPORT_H
#define LOUPE_CPU_REPORT_H

#include <stdio.h>

#include "analyzer/summary.h"

/* Time under frames whose function matches PATTERN (fnmatch glob; a plain
 * word also matches as a substring), per model x stage.  NULL: none. */
void cpu_report_text(FILE *f, const struct trace_summary *s,
		     const char *func_pattern);
/* The "cpu" object of the JSON report (key included, no trailing comma). */
void cpu_report_json(FILE *f, const struct trace_summary *s,
		     const char *func_pattern);

#endif
