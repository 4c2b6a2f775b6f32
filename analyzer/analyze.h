/* SPDX-License-Identifier: MIT */
/*
 * The analyzer: fed one window at a time (window.h), it keeps a compact
 * history per model x stage and turns it into findings with evidence, and
 * findings plus the workload's config and the machine into fix proposals
 * (rules.h).  The same code serves `loupe analyze` on a file and the live
 * TUI; analyzer_findings() may be called after any window.
 */
#ifndef LOUPE_ANALYZE_H
#define LOUPE_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#include "analyzer/window.h"

enum severity {
	SEV_INFO = 0,
	SEV_WARNING = 1,
	SEV_CRITICAL = 2,
};

/* Stable names (JSON "kind", rules' "finding" field) in finding_kind_name(). */
enum finding_kind {
	FK_SLO_VIOLATION,	/* "slo_violation" */
	FK_LATENCY_SPIKE,	/* "latency_spike" */
	FK_PERIODIC_STALL,	/* "periodic_stall" */
	FK_CHANGE_POINT,	/* "change_point" */
	FK_MEMORY_LEAK,		/* "memory_leak" */
	FK_RSS_GROWTH,		/* "rss_growth" */
	FK_LOCK_CONTENTION,	/* "lock_contention" */
	FK_OVERSUBSCRIPTION,	/* "oversubscription" */
	FK_ALLOCATOR_PRESSURE,	/* "allocator_pressure" */
	FK_PAGE_FAULT_CHURN,	/* "page_fault_churn" */
	FK_QUEUEING,		/* "queueing" */
	FK_OVERSIZED_BATCH,	/* "oversized_batch" */
	FK_HOT_FUNCTION,	/* "hot_function" */
	FK_N
};

/* A proposed change: a config key (from -> to), or a code site. */
struct fix {
	char key[64];		/* "" for a code change */
	char from[64];		/* current value; "(unset)" when not announced */
	char to[64];
	char why[200];
	char effect[200];	/* expected effect */
	double confidence;	/* 0..1 */
	char rule[64];		/* "file:line" of the rule that proposed it */
};

struct finding {
	enum finding_kind kind;
	enum severity severity;
	bool transient;		/* seen, then went away before the end */
	__u64 first_window, last_window;
	double start_s, end_s;	/* seconds since the recording started */
	char model[48], stage[48];	/* "" when not about one */
	char title[120];	/* one line, <= 76 columns */
	char evidence[768];	/* lines of "  ...", numbers that back it */
	/* The metric the finding is about, for verify-after-apply and gates:
	 * e.g. "p99_ns" of model/stage, "runq_share", "bytes_per_request". */
	char metric[32];
	double value;		/* observed */
	double reference;	/* SLO, baseline before a change, etc.; 0 if none */
	/* Code site (leaks, hot functions, lock holders): "" when none. */
	char function[128];
	char file[128];
	__u32 line;
	struct fix fixes[4];
	size_t nfixes;
};

struct analyzer_opts {
	/* "p99=25ms", "p50=5ms,p99=25ms" or "MODEL:p99=25ms,..."; NULL: use
	 * the workload's announced "slo_p99_ms" / "MODEL.slo_p99_ms" config. */
	const char *slo;
	/* key = value file overriding/adding to the announced config (for
	 * un-instrumented processes).  NULL: none. */
	const char *config_path;
	/* Directory of *.rules files; NULL: the installed default. */
	const char *rules_dir;
};

struct analyzer;

/* NULL with errno set and a one-line message in ERR (rules or SLO syntax). */
struct analyzer *analyzer_new(const struct analyzer_opts *o, char *err,
			      size_t errlen);
void analyzer_free(struct analyzer *a);

/* Feeds window W of stream WS (names, frames and config come from WS).
 * Returns 0 or -ENOMEM. */
int analyzer_feed(struct analyzer *a, const struct window_stream *ws,
		  const struct window *w);

/*
 * Current findings, most severe first, with fixes attached.  Valid until
 * the next analyzer_feed() or analyzer_free().  Cheap enough to call once
 * per window.
 */
size_t analyzer_findings(struct analyzer *a, const struct finding **v);

/* Windows fed, and the first window judged (after warm-up), or -1. */
size_t analyzer_windows(const struct analyzer *a);
long analyzer_stable_from(const struct analyzer *a);

const char *finding_kind_name(enum finding_kind k);
const char *severity_name(enum severity s);

#endif
