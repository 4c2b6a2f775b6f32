/* SPDX-License-Identifier: MIT */
/* The memory part of 'loupe report --mem': allocation sites and leaks. */
#ifndef LOUPE_MEM_REPORT_H
#define LOUPE_MEM_REPORT_H

#include <stdio.h>

#include "analyzer/summary.h"

void mem_report_text(FILE *f, const struct trace_summary *s);
/* The "mem" object of the JSON report (key included, no trailing comma). */
void mem_report_json(FILE *f, const struct trace_summary *s);

#endif
