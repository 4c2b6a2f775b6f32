// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collector/bpf_util.h"

__u64 bpf_percpu_sum(int fd, __u32 nkeys, __u32 skip)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	__u64 total = 0, *vals;
	__u32 k;

	if (ncpu <= 0)
		return 0;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return 0;
	for (k = 0; k < nkeys; k++) {
		if (k == skip || bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (i = 0; i < ncpu; i++)
			total += vals[i];
	}
	free(vals);
	return total;
}
