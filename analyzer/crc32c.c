// SPDX-License-Identifier: MIT
/*
 * CRC-32C, slicing-by-8 (Intel's "A Systematic Approach to Building High
 * Performance Software-Based CRC Generators", 2005): eight table lookups per
 * eight input bytes instead of one per byte.  The tables are built once, on
 * first use, under pthread_once so concurrent first calls are safe.
 */
#include <pthread.h>

#include "analyzer/crc32c.h"

#define CRC32C_POLY 0x82f63b78U /* reflected 0x1edc6f41 */

static __u32 crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_build(void)
{
	unsigned int i, j, k;

	for (i = 0; i < 256; i++) {
		__u32 c = i;

		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0U - (c & 1)));
		crc32c_table[0][i] = c;
	}
	/* table[j][i] is the CRC of byte i followed by j zero bytes. */
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			crc32c_table[j][i] =
				(crc32c_table[j - 1][i] >> 8) ^
				crc32c_table[0][crc32c_table[j - 1][i] & 0xff];
}

static __u32 crc32c_le32(const unsigned char *p)
{
	return (__u32)p[0] | (__u32)p[1] << 8 | (__u32)p[2] << 16 |
	       (__u32)p[3] << 24;
}

__u32 crc32c(__u32 crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	__u32 c = ~crc;

	pthread_once(&crc32c_once, crc32c_build);

	/* Byte order is fixed by the loads below, so this is endian-neutral. */
	while (len >= 8) {
		__u32 lo = c ^ crc32c_le32(p);
		__u32 hi = crc32c_le32(p + 4);

		c = crc32c_table[7][lo & 0xff] ^
		    crc32c_table[6][(lo >> 8) & 0xff] ^
		    crc32c_table[5][(lo >> 16) & 0xff] ^
		    crc32c_table[4][lo >> 24] ^
		    crc32c_table[3][hi & 0xff] ^
		    crc32c_table[2][(hi >> 8) & 0xff] ^
		    crc32c_table[1][(hi >> 16) & 0xff] ^
		    crc32c_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc32c_table[0][(c ^ *p++) & 0xff];
	return ~c;
}
