/* SPDX-License-Identifier: MIT */
/* Human-readable numbers for 80-column reports. */
#ifndef LOUPE_UNITS_H
#define LOUPE_UNITS_H

#include <stddef.h>
#include <linux/types.h>

/* "812ns", "41.2us", "3.21ms", "12.5s": at most 7 characters. Returns BUF. */
char *units_ns(char *buf, size_t len, __u64 ns);
/* "512 B", "45.2 KiB", "1.50 MiB". Returns BUF. */
char *units_bytes(char *buf, size_t len, __u64 bytes);

#endif
