/* SPDX-License-Identifier: MIT */
/* A small open-addressing hash map from __u64 keys to __u32 values. */
#ifndef LOUPE_U64MAP_H
#define LOUPE_U64MAP_H

#include <stddef.h>
#include <linux/types.h>

#define U64MAP_EMPTY (~0ull)	/* the one key that cannot be stored */

struct u64map {
	__u64 *keys;
	__u32 *vals;
	size_t cap, n;
};

/* 0 and *VAL when KEY is present, -ENOENT otherwise. */
int u64map_get(const struct u64map *m, __u64 key, __u32 *val);
/* Inserts or replaces; 0, -EINVAL for U64MAP_EMPTY, or -ENOMEM. */
int u64map_put(struct u64map *m, __u64 key, __u32 val);
/* Forgets every entry, keeping the memory. */
void u64map_clear(struct u64map *m);
void u64map_release(struct u64map *m);
/* A 64-bit mix of N words, for keys made of several values. */
__u64 u64map_hash(const __u64 *v, size_t n);

#endif
