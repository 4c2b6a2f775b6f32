/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C (Castagnoli), the checksum of the loupe trace format.
 *
 * Reflected polynomial 0x82f63b78 (0x1edc6f41 unreflected), initial value
 * and final xor 0xffffffff, so crc32c(0, "123456789", 9) == 0xe3069283.
 * The conditioning is applied inside: pass 0 to start and the previous
 * result to continue, i.e. crc32c(crc32c(0, a, n), b, m) is the checksum of
 * a followed by b.  Software only (slicing-by-8); thread-safe.
 */
#ifndef LOUPE_CRC32C_H
#define LOUPE_CRC32C_H

#include <stddef.h>
#include <linux/types.h>

__u32 crc32c(__u32 crc, const void *buf, size_t len);

#endif
