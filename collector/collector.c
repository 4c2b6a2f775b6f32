// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <loupe/probe_abi.h>
#include <loupe/events.h>
#include <loupe/profile_events.h>
#include "latency.skel.h"
#include "analyzer/array.h"
#include "analyzer/u64map.h"
#include "collector/aggregate.h"
#include "collector/bpf_util.h"
#include "collector/collector.h"
#include "collector/counters.h"
#include "collector/cpu_profile.h"
#include "collector/funclat.h"
#include "collector/mem_uprobe.h"
#include "collector/target_facts.h"
#include "collector/trace_writer.h"
#include "collector/usdt_scan.h"
#include "log.h"

struct attached {
	dev_t dev;
	ino_t ino;
	char *path;
};

#define CTR_SNAPS 16

struct collector {
	struct collector_opts o;
	struct latency_bpf *skel;
	struct ring_buffer *rb;
	struct trace_writer *w;
	struct aggregate *agg;
	struct cpu_profile *prof;
	struct counters *ctrs;
	struct funclat *flat;
	unsigned int mem_objects;
	struct mem_uprobe *memu;	/* --mem without the shim */
	int mem_mode;			/* enum collector_mem_mode */
	unsigned int mem_changes;
	__u64 mem_maps;			/* objects mapped when mem_mode was set */
	char mem_exe[PATH_MAX];		/* launched: exe at the last rescan */
	char mem_failed[PATH_MAX];	/* allocator whose uprobes failed */
	bool mem_unloadable;		/* the uprobe programs failed to load */
	const char *bad_probe;
	__u64 task_clock_ns;
	/* Counters read as each window ends (not when it is written, a grace
	 * period later), so that a window's task-clock matches its requests:
	 * the reading of window i is in ctr_snap[i % CTR_SNAPS]. */
	struct trace_counters ctr_snap[CTR_SNAPS];
	bool ctr_snap_ok[CTR_SNAPS];
	__u64 ctr_next;			/* the window whose end comes next */
	struct bpf_link **links;
	size_t nlinks, links_cap;
	struct attached *objs;
	size_t nobjs, objs_cap;
	__u64 final_bytes;	/* file size once closed */
	__u64 traps_final;	/* probe hits, read before detaching */
	int err;		/* first error inside the ring buffer callback */
};

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static __u64 realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Fallback when a name event was lost: read the string from the target. */
static int resolve_name(void *arg, __u64 ptr, char *buf, size_t len)
{
	struct collector *c = arg;
	struct iovec local = { buf, len - 1 };
	struct iovec remote = { (void *)(unsigned long)ptr, len - 1 };
	ssize_t n;

	n = process_vm_readv(c->o.pid, &local, 1, &remote, 1, 0);
	if (n <= 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct collector *c = ctx;
	const struct loupe_ev_hdr *h = data;
	int err = 0;

	if (size < sizeof(*h) || c->err || !c->agg)
		return 0;
	switch (h->type) {
	case LOUPE_EV_REQS: {
		const struct loupe_ev_reqs *ev = data;
		size_t n = (size - sizeof(*h)) / sizeof(ev->recs[0]);

		if (n > h->n)
			n = h->n;
		err = aggregate_records(c->agg, ev->recs, n);
		break;
	}
	case LOUPE_EV_NAME:
	case LOUPE_EV_MODEL: {
		const struct loupe_ev_name *ev = data;
		char str[LOUPE_NAME_MAX];

		if (size < sizeof(*ev))
			break;
		memcpy(str, ev->str, sizeof(str));
		str[sizeof(str) - 1] = 0;
		/* BPF cannot fault in a page the target has not touched yet
		 * (string literals early in its life); we can. */
		if (!str[0] && resolve_name(c, ev->ptr, str, sizeof(str)))
			break;
		err = aggregate_name(c->agg, ev->ptr, str);
		if (!err && h->type == LOUPE_EV_MODEL)
			err = aggregate_model(c->agg, h->ts_ns, str);
		break;
	}
	case LOUPE_EV_CONFIG: {
		const struct loupe_ev_config *ev = data;
		char key[LOUPE_NAME_MAX], value[LOUPE_VALUE_MAX];

		if (size < sizeof(*ev))
			break;
		memcpy(key, ev->key, sizeof(key));
		memcpy(value, ev->value, sizeof(value));
		key[sizeof(key) - 1] = value[sizeof(value) - 1] = 0;
		err = aggregate_config(c->agg, h->ts_ns, key, value);
		break;
	}
	default:
		break;
	}
	if (err)
		c->err = err;
	return 0;
}

/* Events lost in the kernel so far.  Records ride inside events: count
 * the events only. */
static __u64 read_drops(struct collector *c)
{
	return bpf_percpu_sum(bpf_map__fd(c->skel->maps.drops),
			      LOUPE_DROP_NKINDS, LOUPE_DROP_RECORDS);
}

static int write_meta(struct collector *c, __u64 start_mono)
{
	struct trace_meta m = { 0 };
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	m.cmdline = c->o.cmdline ? c->o.cmdline : "";
	m.hostname = host;
	m.loupe_version = LOUPE_VERSION;
	m.mode = c->o.mode ? c->o.mode : "attach";
	m.pid = c->o.pid;
	m.ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	m.start_realtime_ns = realtime_ns();
	m.start_mono_ns = start_mono;
	m.window_ns = c->o.window_ns;
	return trace_writer_meta(c->w, &m);
}

struct collector *collector_new(const struct collector_opts *o)
{
	struct collector *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return NULL;
	c->o = *o;
	if (!c->o.window_ns)
		c->o.window_ns = 1000000000ull;
	c->skel = latency_bpf__open_and_load();
	if (!c->skel) {
		err = -errno;
		goto fail;
	}
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.events),
				 handle_event, c, NULL);
	if (!c->rb) {
		err = -errno;
		goto fail;
	}
	/* Only now, with BPF loaded: a failed load leaves no empty file. */
	c->w = trace_writer_new(o->out_path);
	if (!c->w) {
		err = -errno;
		goto fail;
	}
	return c;
fail:
	collector_free(c);
	errno = -err;
	return NULL;
}

/* Window hook: the profile's and the counters' chunks for window INDEX. */
static int collector_window(void *arg, __u64 index)
{
	struct collector *c = arg;
	struct trace_counters tc;
	int err = 0;

	if (c->prof)
		err = cpu_profile_window(c->prof, index);
	/* No rescan for new threads: the counters are inherited, so threads
	 * that counted threads create are already in their totals. */
	if (!err && c->ctrs) {
		if (c->ctr_snap_ok[index % CTR_SNAPS] &&
		    c->ctr_snap[index % CTR_SNAPS].window == index) {
			tc = c->ctr_snap[index % CTR_SNAPS];
			c->ctr_snap_ok[index % CTR_SNAPS] = false;
		} else {
			err = counters_read(c->ctrs, &tc);
		}
		tc.window = index;
		c->task_clock_ns += tc.v[TRACE_CTR_TASK_CLOCK_NS];
		if (!err)
			err = trace_writer_counters(c->w, &tc);
	}
	return err;
}

/* Loupe's own config entry ("@mem.mode"), at the current time. */
static int own_config(struct collector *c, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int own_config(struct collector *c, const char *key, const char *fmt, ...)
{
	char v[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	return aggregate_config(c->agg, mono_ns(), key, v);
}

static int set_mem_mode(struct collector *c, int mode)
{
	if (c->mem_mode == mode && mode != COLLECTOR_MEM_UPROBE)
		return 0;
	c->mem_mode = mode;
	c->mem_changes++;
	return own_config(c, "@mem.mode", "%s",
			  mode == COLLECTOR_MEM_SHIM ? "shim" : "uprobe");
}

/* Launched: has the command exec'd, and not again since the last look?
 * Before its exec it is a copy of loupe, and `env VAR=... prog` execs
 * twice: deciding on the first program would probe the wrong one. */
static bool exec_settled(struct collector *c)
{
	char link[64], exe[PATH_MAX], self[PATH_MAX];
	ssize_t n, m;
	bool same;

	if (!c->o.mode || strcmp(c->o.mode, "launch"))
		return true;
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)c->o.pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	m = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || m <= 0)
		return false;
	exe[n] = self[m] = 0;
	if (!strcmp(exe, self))
		return false;
	same = !strcmp(exe, c->mem_exe);
	snprintf(c->mem_exe, sizeof(c->mem_exe), "%s", exe);
	return same;
}

/* A hash of the objects PID maps (device, inode), 0 when unreadable. */
static __u64 maps_signature(pid_t pid)
{
	struct mapped_object *v;
	__u64 *ids, h = 0;
	size_t n, i;

	if (usdt_mapped_objects(pid, &v, &n))
		return 0;
	ids = calloc(2 * n + 1, sizeof(*ids));
	if (ids) {
		for (i = 0; i < n; i++) {
			ids[2 * i] = v[i].dev;
			ids[2 * i + 1] = v[i].ino;
		}
		h = u64map_hash(ids, 2 * n) | 1;
	}
	free(ids);
	usdt_objects_free(v, n);
	return h;
}

/* The uprobe programs, loaded and their cost measured (once). */
static int mem_uprobe_load(struct collector *c)
{
	struct mem_uprobe_opts mo = { 0 };

	if (c->memu)
		return 0;
	if (c->mem_unloadable)
		return -EAGAIN;
	mo.pid = c->o.pid;
	mo.thread_ctx_fd = bpf_map__fd(c->skel->maps.thread_ctx);
	cpu_profile_maps(c->prof, &mo.stacks_fd, &mo.counts_fd, &mo.drops_fd);
	aggregate_windows(c->agg, &mo.win_start_ns, &mo.win_ns);
	c->memu = mem_uprobe_new(&mo);
	if (c->memu)
		return 0;
	c->mem_unloadable = true;
	pr_warn("record: --mem: load the allocator uprobes: %s", strerror(errno));
	return -errno;
}

/*
 * --mem: libloupe-alloc.so's probes when the target has it mapped (they
 * are attached with the object's other probes), else uprobes on the
 * allocator it uses.  Never both: the shim calls glibc's malloc, whose
 * uprobe would count the same allocation again.  Failures are warnings:
 * the rest of the recording goes on.
 */
static void mem_update_mode(struct collector *c)
{
	struct mem_uprobe_info info;
	__u64 tops[MEM_FN_N], maps;
	const char *cur;
	char alloc[PATH_MAX];
	unsigned int f;
	int shim, err;

	if (!c->o.mem || !c->prof)
		return;
	/* Decided, and the same objects mapped: nothing to look at again
	 * (choosing reads the executable's symbol table). */
	maps = maps_signature(c->o.pid);
	if (!maps || (maps == c->mem_maps && (c->mem_mode || c->mem_failed[0])))
		return;
	shim = mem_uprobe_has_shim(c->o.pid);
	if (shim < 0)
		return;		/* gone: the loop notices */
	if (shim) {
		if (c->memu)
			mem_uprobe_detach(c->memu);
		cpu_profile_set_mem_tops(c->prof, NULL, 0);
		c->mem_maps = maps;
		if (set_mem_mode(c, COLLECTOR_MEM_SHIM))
			pr_warn("record: --mem: writing the mode to the trace failed");
		return;
	}
	if (!exec_settled(c) || mem_uprobe_find_allocator(c->o.pid, alloc, sizeof(alloc)))
		return;
	c->mem_maps = maps;
	cur = c->memu ? mem_uprobe_allocator(c->memu) : NULL;
	if ((cur && !strcmp(cur, alloc)) || !strcmp(alloc, c->mem_failed))
		return;
	err = mem_uprobe_load(c);
	if (!err) {
		err = mem_uprobe_attach(c->memu, alloc);
		if (err)
			pr_warn("record: --mem: uprobes on %s: %s", alloc,
				err == -ENOENT ? "no malloc or free symbol" : strerror(-err));
	}
	if (err) {
		snprintf(c->mem_failed, sizeof(c->mem_failed), "%s", alloc);
		return;
	}
	for (f = 0; f < MEM_FN_N; f++)
		tops[f] = mem_uprobe_fn_addr(c->memu, f);
	cpu_profile_set_mem_tops(c->prof, tops, MEM_FN_N);
	mem_uprobe_info(c->memu, &info);
	err = set_mem_mode(c, COLLECTOR_MEM_UPROBE);
	if (!err)
		err = own_config(c, "@mem.allocator", "%s", alloc);
	if (!err)
		err = own_config(c, "@mem.sample_bytes", "%llu",
				 (unsigned long long)info.mean_bytes);
	if (!err)
		err = own_config(c, "@mem.uprobe_cost_ns", "%.0f",
				 info.malloc_ns + info.free_ns);
	if (err)
		pr_warn("record: --mem: writing the mode to the trace failed");
}

int collector_start(struct collector *c)
{
	struct cpu_profile_opts po = { 0 };
	__u64 start = mono_ns();
	char hz[16];
	size_t i;
	int err = write_meta(c, start);

	if (err)
		return err;
	c->agg = aggregate_new(c->w, start, c->o.window_ns, resolve_name, c);
	if (!c->agg)
		return -ENOMEM;
	if (c->o.cpu_hz > 0 || c->o.offcpu || c->o.mem) {
		po.pid = c->o.pid;
		po.hz = c->o.cpu_hz;
		po.offcpu = c->o.offcpu;
		po.mode = c->o.callgraph;
		po.exe = c->o.exe;
		po.thread_ctx_fd = bpf_map__fd(c->skel->maps.thread_ctx);
		po.mem = c->o.mem;
		c->prof = cpu_profile_new(&po, c->agg);
		if (!c->prof)
			return -errno;
		for (i = 0; c->o.mem && i < c->nobjs; i++) {
			err = cpu_profile_attach_mem(c->prof, c->objs[i].path);
			if (err < 0)
				return err;
			c->mem_objects += err > 0;
		}
		/* A launched command may turn out to need the uprobes: load
		 * and time them now, before it runs, so that they go in as
		 * soon as its exec settles and the timing is not disturbed
		 * by the command itself.  Unneeded with the shim. */
		if (c->o.mem && c->o.mode && !strcmp(c->o.mode, "launch"))
			mem_uprobe_load(c);
		mem_update_mode(c);
		/* How the profile was taken, for the report ("@" = loupe's). */
		snprintf(hz, sizeof(hz), "%d", c->o.cpu_hz);
		err = aggregate_config(c->agg, start, "@cpu.hz", hz);
		if (!err)
			err = aggregate_config(c->agg, start, "@cpu.callgraph",
					       cpu_profile_mode_name(c->prof));
		/* every switch is counted: 'oncpu' in diff/gate relies on it */
		if (!err)
			err = aggregate_config(c->agg, start, "@offcpu",
					       c->o.offcpu ? "1" : "0");
		if (err)
			return err;
	}
	err = target_facts_record(c->agg, c->o.pid, start);
	if (err)
		return err;
	if (c->o.counters) {
		c->ctrs = counters_new(c->o.pid);
		if (!c->ctrs)
			return -errno;
	}
	if (c->o.nprobes) {
		c->flat = funclat_new(c->o.pid, c->o.probes, c->o.nprobes, c->agg,
				      &c->bad_probe);
		if (!c->flat)
			return -errno;
	}
	aggregate_set_window_hook(c->agg, collector_window, c);
	return 0;
}

const char *collector_bad_probe(const struct collector *c)
{
	return c->bad_probe;
}

static int add_link(struct collector *c, struct bpf_link *l)
{
	int err = array_grow((void **)&c->links, &c->links_cap, c->nlinks + 1,
			     sizeof(*c->links));

	if (!err)
		c->links[c->nlinks++] = l;
	return err;
}

int collector_attach_object(struct collector *c, const char *path)
{
	static const struct {
		const char *probe;
		size_t prog_off;
	} probes[] = {
		{ "flush", offsetof(struct latency_bpf, progs.on_flush) },
		{ "model", offsetof(struct latency_bpf, progs.on_model) },
		{ "config", offsetof(struct latency_bpf, progs.on_config) },
	};
	struct stat st;
	size_t i;
	int n, err;

	if (stat(path, &st))
		return -errno;
	for (i = 0; i < c->nobjs; i++)
		if (c->objs[i].dev == st.st_dev && c->objs[i].ino == st.st_ino)
			return 0;
	n = usdt_count_probes(path);
	if (n <= 0)
		return n == -ENOEXEC ? 0 : n;
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		struct bpf_program *prog =
			*(struct bpf_program **)((char *)c->skel + probes[i].prog_off);
		struct bpf_link *l;

		l = bpf_program__attach_usdt(prog, c->o.pid, path, USDT_PROVIDER,
					     probes[i].probe, NULL);
		if (!l) {
			err = -errno;
			/* An object may use only some of the probes. */
			if (err == -ENOENT)
				continue;
			return err;
		}
		err = add_link(c, l);
		if (err) {
			bpf_link__destroy(l);
			return err;
		}
	}
	err = array_grow((void **)&c->objs, &c->objs_cap, c->nobjs + 1,
			 sizeof(*c->objs));
	if (err)
		return err;
	c->objs[c->nobjs].dev = st.st_dev;
	c->objs[c->nobjs].ino = st.st_ino;
	c->objs[c->nobjs].path = strdup(path);
	if (!c->objs[c->nobjs].path)
		return -ENOMEM;
	c->nobjs++;
	/* Before collector_start the profile does not exist yet: it then
	 * attaches the allocation probes of every object known so far. */
	if (c->o.mem && c->prof) {
		err = cpu_profile_attach_mem(c->prof, path);
		if (err < 0)
			return err;
		c->mem_objects += err > 0;
	}
	pr_debug("record: attached %d probe sites in %s", n, path);
	return 1;
}

int collector_rescan(struct collector *c)
{
	struct mapped_object *v;
	size_t n, i;
	int err, added = 0;

	err = usdt_mapped_objects(c->o.pid, &v, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		err = collector_attach_object(c, v[i].path);
		if (err < 0) {
			pr_warn("record: attach usdt in %s: %s", v[i].path,
				strerror(-err));
			continue;
		}
		added += err;
	}
	usdt_objects_free(v, n);
	mem_update_mode(c);
	return added;
}

/* Milliseconds until the end of the window the counters wait for. */
static int ms_to_window_end(struct collector *c, int timeout_ms)
{
	__u64 start, len, end, now;

	if (!c->agg || !c->ctrs)
		return timeout_ms;
	aggregate_windows(c->agg, &start, &len);
	end = start + (c->ctr_next + 1) * len;
	now = mono_ns();
	if (now >= end)
		return 0;
	if ((end - now) / 1000000 + 1 < (__u64)timeout_ms)
		return (int)((end - now) / 1000000 + 1);
	return timeout_ms;
}

/* Reads the counters once the window they wait for has ended. */
static int snapshot_counters(struct collector *c)
{
	__u64 start, len, now = mono_ns();
	struct trace_counters *tc;
	int err;

	if (!c->agg || !c->ctrs)
		return 0;
	aggregate_windows(c->agg, &start, &len);
	if (now < start + (c->ctr_next + 1) * len)
		return 0;
	/* The last window that ended; any skipped are read when written. */
	c->ctr_next = (now - start) / len - 1;
	tc = &c->ctr_snap[c->ctr_next % CTR_SNAPS];
	err = counters_read(c->ctrs, tc);
	if (err)
		return err;
	tc->window = c->ctr_next;
	c->ctr_snap_ok[c->ctr_next % CTR_SNAPS] = true;
	c->ctr_next++;
	return 0;
}

int collector_poll(struct collector *c, int timeout_ms)
{
	int err = ring_buffer__poll(c->rb, ms_to_window_end(c, timeout_ms));

	/* BPF wakes us only when the buffer fills: read what is there. */
	if (err >= 0)
		err = ring_buffer__consume(c->rb);
	if (err >= 0 && c->prof)
		err = cpu_profile_poll(c->prof);
	if (err >= 0 && c->flat)
		err = funclat_poll(c->flat);
	if (err >= 0)
		err = snapshot_counters(c);
	if (err < 0 && err != -EINTR)
		return err;
	if (c->err)
		return c->err;
	if (!c->agg)
		return 0;
	return aggregate_tick(c->agg, mono_ns(), read_drops(c));
}

/* With kernel.bpf_stats_enabled=1 the kernel times every program run. */
static void log_bpf_run_time(struct collector *c)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, c->skel->obj) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) ||
		    !info.run_cnt)
			continue;
		pr_debug("record: bpf %s: %llu runs, %llu ns per run",
			 bpf_program__name(prog), (unsigned long long)info.run_cnt,
			 (unsigned long long)(info.run_time_ns / info.run_cnt));
	}
}

int collector_finish(struct collector *c, enum trace_end_reason reason,
		     int target_exit_status)
{
	struct trace_end e = { 0 };
	struct agg_stats st;
	__u64 now;
	int err, err2;

	c->traps_final = bpf_percpu_sum(bpf_map__fd(c->skel->maps.traps),
					LOUPE_TRAP_NKINDS, LOUPE_TRAP_NKINDS);
	if (!c->agg)
		return -EINVAL;
	/* Uprobes detach one by one, tens of ms each: the recording ends
	 * now, not when the last one is gone. */
	now = mono_ns();
	aggregate_stop(c->agg, now);
	/* Detach first so nothing arrives after the final drain.  The
	 * allocator's uprobes too: each trap slows the target. */
	while (c->nlinks)
		bpf_link__destroy(c->links[--c->nlinks]);
	if (c->memu)
		mem_uprobe_detach(c->memu);
	ring_buffer__consume(c->rb);
	if (c->flat)
		funclat_poll(c->flat);
	log_bpf_run_time(c);
	err = c->err;
	if (!err)
		err = aggregate_close(c->agg, now, read_drops(c));
	aggregate_stats(c->agg, &st);
	e.end_mono_ns = now;
	e.requests = st.requests;
	e.windows = st.windows;
	e.dropped = read_drops(c);
	e.reason = reason;
	e.target_exit_status = target_exit_status;
	if (!err)
		err = trace_writer_end(c->w, &e);
	c->final_bytes = trace_writer_bytes(c->w);
	err2 = trace_writer_close(c->w);
	c->w = NULL;
	if (!err)
		err = err2;
	c->err = err;
	return err;
}

int collector_note(struct collector *c, const char *key, const char *value)
{
	if (!c->agg)
		return -EINVAL;
	return aggregate_config(c->agg, mono_ns(), key, value);
}

void collector_summary(const struct collector *c, struct collector_summary *s)
{
	struct agg_stats st = { 0 };

	if (c->agg)
		aggregate_stats(c->agg, &st);
	memset(s, 0, sizeof(*s));
	s->requests = st.requests;
	s->errors = st.errors;
	s->windows = st.windows;
	s->dropped = read_drops((struct collector *)c);
	s->bytes = c->w ? trace_writer_bytes(c->w) : c->final_bytes;
	s->last_window_requests = st.last_window_requests;
	s->last_window_p99_ns = st.last_window_p99_ns;
	s->objects = c->nobjs;
	s->mem_objects = c->mem_objects;
	s->mem_mode = c->mem_mode;
	s->mem_changes = c->mem_changes;
	if (c->memu)
		mem_uprobe_info(c->memu, &s->memu);
	if (c->prof)
		cpu_profile_stats(c->prof, &s->cpu_samples, &s->cpu_lost);
	if (c->flat)
		funclat_cost(c->flat, &s->probe_calls, &s->probe_ns_per_call);
	s->target_cpu_ns = c->task_clock_ns;
	s->traps = c->traps_final ? c->traps_final :
		bpf_percpu_sum(bpf_map__fd(c->skel->maps.traps),
			       LOUPE_TRAP_NKINDS, LOUPE_TRAP_NKINDS);
}

void collector_free(struct collector *c)
{
	if (!c)
		return;
	while (c->nlinks)
		bpf_link__destroy(c->links[--c->nlinks]);
	free(c->links);
	while (c->nobjs)
		free(c->objs[--c->nobjs].path);
	free(c->objs);
	mem_uprobe_free(c->memu);
	cpu_profile_free(c->prof);
	funclat_free(c->flat);
	counters_free(c->ctrs);
	aggregate_free(c->agg);
	ring_buffer__free(c->rb);
	latency_bpf__destroy(c->skel);
	trace_writer_close(c->w);
	free(c);
}
