// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <loupe/profile_events.h>
#include "funclat.skel.h"
#include "collector/aggregate.h"
#include "collector/bpf_util.h"
#include "collector/funclat.h"
#include "collector/usdt_scan.h"
#include "log.h"

#define CALIBRATION_CALLS 500
#define PROBE_MODEL "[probe]"

struct funclat {
	struct funclat_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link **links;
	int nlinks;
	__u32 model;
	__u32 *stage;		/* name id per probe */
	int nprobes;
	struct aggregate *agg;
	double ns_per_call;
	int err;
};

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The calibration target: a function of our own, called in a loop. */
__attribute__((noinline, used)) int funclat_calibration_target(int x)
{
	__asm__ __volatile__("" : "+r"(x));
	return x + 1;
}

static int handle(void *ctx, void *data, size_t size)
{
	struct funclat *f = ctx;
	const struct funclat_event *ev = data;
	int err;

	if (size < sizeof(*ev) || ev->probe >= (__u32)f->nprobes || f->err)
		return 0;
	err = aggregate_add_value(f->agg, f->model, f->stage[ev->probe],
				  ev->end_ns, ev->dur_ns);
	if (err)
		f->err = err;
	return 0;
}

/* BINARY as given, or the mapped object of PID with that file name. */
static int resolve_binary(pid_t pid, const char *bin, char *out, size_t len)
{
	struct mapped_object *v;
	size_t n, i;
	const char *base;
	int err;

	if (strchr(bin, '/')) {
		if (access(bin, R_OK))
			return -errno;
		snprintf(out, len, "%s", bin);
		return 0;
	}
	err = usdt_mapped_objects(pid, &v, &n);
	if (err)
		return err;
	err = -ENOENT;
	for (i = 0; i < n && err; i++) {
		base = strrchr(v[i].path, '/');
		if (!strcmp(base ? base + 1 : v[i].path, bin)) {
			snprintf(out, len, "%s", v[i].path);
			err = 0;
		}
	}
	usdt_objects_free(v, n);
	return err;
}

static int attach_pair(struct funclat *f, pid_t pid, const char *binary,
		       const char *symbol, __u64 cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = symbol,
		    .bpf_cookie = cookie);
	struct bpf_link *l;
	int i;

	for (i = 0; i < 2; i++) {
		opts.retprobe = i;
		l = bpf_program__attach_uprobe_opts(i ? f->skel->progs.on_return :
							f->skel->progs.on_entry,
						    pid, binary, 0, &opts);
		if (!l)
			return -errno;
		f->links[f->nlinks++] = l;
	}
	return 0;
}

/*
 * What one probed call costs here: time N calls of our own function with
 * and without the probes.  The traps dominate; the BPF work is included.
 */
static double calibrate(struct funclat *f)
{
	char self[PATH_MAX];
	__u64 t0, plain, probed;
	ssize_t n;
	int i, x = 0, mark = f->nlinks;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 0;
	self[n] = 0;
	t0 = now_ns();
	for (i = 0; i < CALIBRATION_CALLS; i++)
		x = funclat_calibration_target(x);
	plain = now_ns() - t0;
	if (attach_pair(f, getpid(), self, "funclat_calibration_target", 0xffff))
		return 0;
	t0 = now_ns();
	for (i = 0; i < CALIBRATION_CALLS; i++)
		x = funclat_calibration_target(x);
	probed = now_ns() - t0;
	while (f->nlinks > mark)
		bpf_link__destroy(f->links[--f->nlinks]);
	return probed > plain ? (double)(probed - plain) / CALIBRATION_CALLS : 0;
}

struct funclat *funclat_new(pid_t pid, char **specs, int n,
			    struct aggregate *agg, const char **bad)
{
	struct funclat *f = calloc(1, sizeof(*f));
	char binary[PATH_MAX], spec[PATH_MAX];
	int i, err;

	if (!f)
		return NULL;
	f->agg = agg;
	f->nprobes = n;
	f->stage = calloc(n + 1, sizeof(*f->stage));
	f->links = calloc(2 * n + 2, sizeof(*f->links));
	f->skel = funclat_bpf__open();
	if (!f->stage || !f->links || !f->skel) {
		err = -ENOMEM;
		goto fail;
	}
	/* 0: every process; the uprobes are per-pid anyway, and this lets
	 * the calibration probe loupe itself. */
	f->skel->rodata->target_tgid = 0;
	err = funclat_bpf__load(f->skel);
	if (err)
		goto fail;
	f->rb = ring_buffer__new(bpf_map__fd(f->skel->maps.lat_events), handle,
				 f, NULL);
	if (!f->rb) {
		err = -errno;
		goto fail;
	}
	f->ns_per_call = calibrate(f);
	{
		/* The calibration's calls are not the target's. */
		int ncpu = libbpf_num_possible_cpus();
		__u64 *zero = calloc(ncpu > 0 ? ncpu : 1, sizeof(__u64));
		__u32 k;

		for (k = 0; zero && k < 2; k++)
			bpf_map_update_elem(bpf_map__fd(f->skel->maps.lat_stats),
					    &k, zero, BPF_ANY);
		free(zero);
		ring_buffer__consume(f->rb);
	}
	err = aggregate_intern(agg, PROBE_MODEL, &f->model);
	for (i = 0; !err && i < n; i++) {
		char *colon;

		*bad = specs[i];
		snprintf(spec, sizeof(spec), "%s", specs[i]);
		colon = strrchr(spec, ':');
		if (!colon || colon == spec || !colon[1]) {
			err = -EINVAL;
			break;
		}
		*colon = 0;
		err = resolve_binary(pid, spec, binary, sizeof(binary));
		if (!err)
			err = aggregate_intern(agg, colon + 1, &f->stage[i]);
		if (!err)
			err = attach_pair(f, pid, binary, colon + 1, i);
	}
	if (err)
		goto fail;
	*bad = NULL;
	return f;
fail:
	funclat_free(f);
	errno = -err;
	return NULL;
}

int funclat_poll(struct funclat *f)
{
	ring_buffer__consume(f->rb);
	return f->err;
}

void funclat_cost(const struct funclat *f, __u64 *calls, double *ns_per_call)
{
	/* key 0: calls; key 1: events lost */
	*calls = bpf_percpu_sum(bpf_map__fd(f->skel->maps.lat_stats), 1, 1);
	*ns_per_call = f->ns_per_call;
}

void funclat_free(struct funclat *f)
{
	if (!f)
		return;
	while (f->nlinks)
		bpf_link__destroy(f->links[--f->nlinks]);
	free(f->links);
	ring_buffer__free(f->rb);
	funclat_bpf__destroy(f->skel);
	free(f->stage);
	free(f);
}
