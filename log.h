/* SPDX-License-Identifier: MIT */
/*
 * Diagnostics to stderr.  Messages are lowercase, no trailing period, with
 * context: pr_err("record: attach to pid %d: %s", pid, strerror(-err)).
 * Every line is prefixed "loupe: ".  pr_debug shows only with -v.
 */
#ifndef LOUPE_LOG_H
#define LOUPE_LOG_H

extern int log_verbose;

void pr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The one-line note that hardware PMU events are missing, once per run. */
void log_note_no_pmu(void);

/* Routes libbpf's messages through pr_debug (warnings too, unless -v). */
void log_setup_libbpf(void);

#endif
