// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/aggregate.h"
#include "collector/target_facts.h"

/* Variables that change how inference code uses threads and memory: the
 * knobs rules can propose.  A prefix ends in '_'. */
static const char *const tuning_vars[] = {
	"OMP_", "KMP_", "GOMP_", "MKL_", "OPENBLAS_", "BLIS_", "TF_",
	"TORCH_", "ORT_", "MALLOC_", "GLIBC_TUNABLES", "LD_PRELOAD",
	"MALLOC_CONF", "JEMALLOC_CONF", "TCMALLOC_",
};

static int is_tuning_var(const char *name, size_t len)
{
	size_t i, n;

	for (i = 0; i < sizeof(tuning_vars) / sizeof(tuning_vars[0]); i++) {
		n = strlen(tuning_vars[i]);
		if (tuning_vars[i][n - 1] == '_' ? len > n && !strncmp(name, tuning_vars[i], n)
						 : len == n && !strncmp(name, tuning_vars[i], n))
			return 1;
	}
	return 0;
}

/* /proc/PID/environ: NUL-separated NAME=VALUE, at most 1 MiB read. */
static char *read_environ(pid_t pid, size_t *len)
{
	char path[64], *buf;
	size_t cap = 1 << 20;
	ssize_t k;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	*len = 0;
	while (buf && *len < cap) {
		k = read(fd, buf + *len, cap - *len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		*len += (size_t)k;
	}
	close(fd);
	if (buf)
		buf[*len] = '\0';
	return buf;
}

static int record_env(struct aggregate *a, pid_t pid, __u64 ts)
{
	char key[96], *env, *p, *eq;
	size_t len;
	int err = 0;

	env = read_environ(pid, &len);
	if (!env)
		return 0;
	for (p = env; p < env + len && !err; p += strlen(p) + 1) {
		eq = strchr(p, '=');
		if (!eq || !is_tuning_var(p, (size_t)(eq - p)) || eq - p > 80)
			continue;
		snprintf(key, sizeof(key), "@env.%.*s", (int)(eq - p), p);
		err = aggregate_config(a, ts, key, eq + 1);
	}
	free(env);
	return err;
}

int target_facts_record(struct aggregate *a, pid_t pid, __u64 ts_ns)
{
	char v[32];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	int err;

	snprintf(v, sizeof(v), "%ld", cores > 0 ? cores : 1);
	err = aggregate_config(a, ts_ns, "@machine.cores", v);
	if (!err && pages > 0 && psz > 0) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)pages * (unsigned long long)psz);
		err = aggregate_config(a, ts_ns, "@machine.mem_bytes", v);
	}
	return err ? err : record_env(a, pid, ts_ns);
}
