// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>

#include "log.h"

int log_verbose;

static void log_vprint(const char *fmt, va_list ap)
{
	fputs("loupe: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#define LOG_FN(fn, cond)                      \
	void fn(const char *fmt, ...)         \
	{                                     \
		va_list ap;                   \
		if (!(cond))                  \
			return;               \
		va_start(ap, fmt);            \
		log_vprint(fmt, ap);          \
		va_end(ap);                   \
	}

LOG_FN(pr_err, 1)
LOG_FN(pr_warn, 1)
LOG_FN(pr_info, 1)
LOG_FN(pr_debug, log_verbose)

void log_note_no_pmu(void)
{
	static int noted;

	if (!noted++)
		pr_info("note: no hardware PMU on this machine: sampling with the cpu-clock software event, software counters only");
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	/* libbpf warns about things we handle (missing optional features);
	 * our own error line says what failed, so keep its chatter for -v. */
	if (!log_verbose || (level == LIBBPF_DEBUG && log_verbose < 2))
		return 0;
	fputs("libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

void log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
