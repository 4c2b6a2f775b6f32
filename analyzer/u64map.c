// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/u64map.h"

static size_t slot(__u64 key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return key & (cap - 1);
}

int u64map_get(const struct u64map *m, __u64 key, __u32 *val)
{
	size_t i;

	if (!m->cap)
		return -ENOENT;
	for (i = slot(key, m->cap); m->keys[i] != U64MAP_EMPTY;
	     i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key) {
			*val = m->vals[i];
			return 0;
		}
	}
	return -ENOENT;
}

static int grow(struct u64map *m)
{
	struct u64map nm = { 0 };
	size_t i;

	nm.cap = m->cap ? 2 * m->cap : 64;
	nm.keys = malloc(nm.cap * sizeof(*nm.keys));
	nm.vals = malloc(nm.cap * sizeof(*nm.vals));
	if (!nm.keys || !nm.vals) {
		free(nm.keys);
		free(nm.vals);
		return -ENOMEM;
	}
	memset(nm.keys, 0xff, nm.cap * sizeof(*nm.keys));
	for (i = 0; i < m->cap; i++)
		if (m->keys[i] != U64MAP_EMPTY)
			u64map_put(&nm, m->keys[i], m->vals[i]);
	u64map_release(m);
	*m = nm;
	return 0;
}

int u64map_put(struct u64map *m, __u64 key, __u32 val)
{
	size_t i;

	if (key == U64MAP_EMPTY)
		return -EINVAL;
	if ((m->n + 1) * 2 > m->cap && grow(m))
		return -ENOMEM;
	for (i = slot(key, m->cap); m->keys[i] != U64MAP_EMPTY;
	     i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return 0;
		}
	}
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
	return 0;
}

void u64map_clear(struct u64map *m)
{
	if (m->cap)
		memset(m->keys, 0xff, m->cap * sizeof(*m->keys));
	m->n = 0;
}

void u64map_release(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

__u64 u64map_hash(const __u64 *v, size_t n)
{
	__u64 h = 0xcbf29ce484222325ull ^ n;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= v[i] + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
		h *= 0x100000001b3ull;
	}
	return h == U64MAP_EMPTY ? 0 : h;
}
