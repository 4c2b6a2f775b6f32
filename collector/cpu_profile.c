// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <loupe/trace.h>
#include <loupe/profile_events.h>
#include "cpu.skel.h"
#include "analyzer/array.h"
#include "collector/bpf_util.h"
#include "offcpu.skel.h"
#include "mem.skel.h"
#include "collector/aggregate.h"
#include "collector/cpu_profile.h"
#include "collector/symbolize.h"
#include "collector/trace_writer.h"
#include "analyzer/u64map.h"
#include "collector/unwind_dwarf.h"
#include "log.h"

#define MAX_IPS 256		/* kernel + user frames of one sample */
#define KERNEL_BIT (1ull << 63)	/* frame cache key: kernel address */

struct cpu_profile {
	struct cpu_profile_opts o;
	struct aggregate *agg;
	struct cpu_bpf *cpu;
	struct offcpu_bpf *off;
	struct mem_bpf *mem;
	struct bpf_link **links;
	size_t nlinks;
	int *perf_fds;
	int nperf;
	struct ring_buffer *dwarf_rb;
	struct symbolizer *sym;
	struct unwinder *unw;
	bool dwarf;
	bool readers_ok;	/* symbolizer (and unwinder) made */
	__u64 period_ns;

	struct u64map frame_cache;	/* address -> index in fc */
	struct {
		__u32 first, n;		/* consecutive frame ids */
	} *fc;
	size_t nfc, fc_cap;
	__u32 next_frame;
	struct trace_frame *new_frames;
	size_t nnew_frames, new_frames_cap;

	struct u64map stack_ids;	/* hash of frame ids -> stack id */
	__u32 next_stack;
	struct trace_stack *new_stacks;
	size_t nnew_stacks, new_stacks_cap;

	struct u64map pending_idx;	/* sample key -> index in pending */
	struct trace_sample *pending;
	size_t npending, pending_cap;

	/* DWARF mode: kernel stack ids used since the last window, freed in
	 * the stack map at the window like the FP mode's. */
	struct u64map dwarf_kstacks;

	__u64 mem_top[MEM_FN_N];	/* allocator entry points, uprobe mode */

	__u64 samples, lost;
	int err;
};

/* ---- frames: address -> symbolized frame ids (inline frames expanded) ---- */

static int new_frame(struct cpu_profile *p, const struct sym_frame *f,
		     bool kernel)
{
	struct trace_frame *tf;
	int err;

	err = array_grow((void **)&p->new_frames, &p->new_frames_cap,
		   p->nnew_frames + 1, sizeof(*p->new_frames));
	if (err)
		return err;
	tf = &p->new_frames[p->nnew_frames++];
	memset(tf, 0, sizeof(*tf));
	tf->id = p->next_frame++;
	tf->line = f->line;
	tf->module_offset = f->module_offset;
	tf->flags = (f->inlined ? TRACE_FRAME_INLINED : 0) |
		    (kernel ? TRACE_FRAME_KERNEL : 0);
	tf->file_id = TRACE_NO_ID;
	err = aggregate_intern(p->agg, f->function ? f->function : "[unknown]",
			       &tf->function_id);
	if (!err && f->file)
		err = aggregate_intern(p->agg, f->file, &tf->file_id);
	if (!err)
		err = aggregate_intern(p->agg, f->module ? f->module : "[unknown]",
				       &tf->module_id);
	return err;
}

/* Frame ids of ADDR, symbolized once and cached. */
static int address_frames(struct cpu_profile *p, __u64 addr, bool kernel,
			  __u32 *first, __u32 *n)
{
	__u64 key = kernel ? addr | KERNEL_BIT : addr & ~KERNEL_BIT;
	struct sym_frame f[16];
	__u32 idx;
	int i, cnt, err;

	if (!u64map_get(&p->frame_cache, key, &idx)) {
		*first = p->fc[idx].first;
		*n = p->fc[idx].n;
		return 0;
	}
	/* No symbolizer: the target died before we could read its maps. */
	if (!p->sym)
		cnt = 0;
	else if (kernel)
		cnt = symbolizer_kernel(p->sym, addr, f);
	else
		cnt = symbolizer_user(p->sym, addr, f, 16);
	if (cnt <= 0) {
		memset(f, 0, sizeof(f[0]));
		f[0].function = "[unknown]";
		f[0].module = kernel ? "[kernel]" : "[unknown]";
		cnt = 1;
	}
	*first = p->next_frame;
	for (i = 0; i < cnt; i++) {
		err = new_frame(p, &f[i], kernel);
		if (err)
			return err;
	}
	*n = cnt;
	err = array_grow((void **)&p->fc, &p->fc_cap, p->nfc + 1, sizeof(*p->fc));
	if (err)
		return err;
	p->fc[p->nfc].first = *first;
	p->fc[p->nfc].n = *n;
	return u64map_put(&p->frame_cache, key, p->nfc++);
}

/*
 * Stack id of a sample: kernel addresses (leaf first), then user ones.
 * User return addresses are looked up at addr - 1, inside the call
 * instruction, so the line is the call's and inlining is right.
 */
static int intern_stack(struct cpu_profile *p, const __u64 *kips, int nk,
			const __u64 *uips, int nu, __u32 *stack_id)
{
	__u32 frames[TRACE_MAX_FRAMES], first, n, j;
	__u64 h, fr64[TRACE_MAX_FRAMES];
	struct trace_stack *ts;
	int i, nf = 0, err;

	for (i = 0; i < nk + nu && nf < TRACE_MAX_FRAMES; i++) {
		bool kernel = i < nk;
		__u64 a = kernel ? kips[i] : uips[i - nk];

		if (!kernel && i - nk > 0 && a)
			a--;
		else if (kernel && i > 0)
			a--;
		err = address_frames(p, a, kernel, &first, &n);
		if (err)
			return err;
		for (j = 0; j < n && nf < TRACE_MAX_FRAMES; j++)
			frames[nf++] = first + j;
	}
	for (i = 0; i < nf; i++)
		fr64[i] = frames[i];
	h = u64map_hash(fr64, nf);
	if (!u64map_get(&p->stack_ids, h, stack_id))
		return 0;
	err = array_grow((void **)&p->new_stacks, &p->new_stacks_cap,
		   p->nnew_stacks + 1, sizeof(*p->new_stacks));
	if (err)
		return err;
	ts = &p->new_stacks[p->nnew_stacks];
	ts->frames = malloc((nf + 1) * sizeof(__u32));
	if (!ts->frames)
		return -ENOMEM;
	memcpy(ts->frames, frames, nf * sizeof(__u32));
	ts->nframes = nf;
	ts->id = p->next_stack++;
	p->nnew_stacks++;
	*stack_id = ts->id;
	return u64map_put(&p->stack_ids, h, ts->id);
}

/* The key of a pending sample: what it is, and the window it is for. */
static __u64 pending_key(const struct trace_sample *s)
{
	__u64 key[5] = { s->stack_id, s->model_id, s->stage_id, s->kind, s->window };

	return u64map_hash(key, 5);
}

/*
 * Counts for the trace's next SAMPLES chunks.  WINDOW is the window they
 * happened in when known (DWARF samples), else 0: due at the next write.
 */
static int pending_add(struct cpu_profile *p, __u64 window, __u32 stack,
		       __u64 model_ptr, __u64 stage_ptr, __u32 kind,
		       __u64 count, __u64 value)
{
	struct trace_sample *s, k = { .window = window, .stack_id = stack,
				      .kind = kind };
	__u32 idx;
	int err;

	err = aggregate_ptr_name(p->agg, model_ptr, &k.model_id);
	if (!err)
		err = aggregate_ptr_name(p->agg, stage_ptr, &k.stage_id);
	if (err)
		return err;
	if (!u64map_get(&p->pending_idx, pending_key(&k), &idx)) {
		p->pending[idx].count += count;
		p->pending[idx].value_ns += value;
		return 0;
	}
	err = array_grow((void **)&p->pending, &p->pending_cap, p->npending + 1,
		   sizeof(*p->pending));
	if (err)
		return err;
	s = &p->pending[p->npending];
	*s = k;
	s->count = count;
	s->value_ns = value;
	return u64map_put(&p->pending_idx, pending_key(s), p->npending++);
}

/*
 * Writes the pending counts of windows up to INDEX as INDEX's, and keeps
 * those of later windows (DWARF samples read before their window is
 * written) for their own.
 */
static int pending_write(struct cpu_profile *p, __u64 index)
{
	struct trace_writer *w = aggregate_writer(p->agg);
	struct trace_sample t;
	size_t i, due = 0;
	int err = 0;

	/* due ones to the front */
	for (i = 0; i < p->npending; i++) {
		if (p->pending[i].window > index)
			continue;
		t = p->pending[i];
		p->pending[i] = p->pending[due];
		p->pending[due] = t;
		p->pending[due++].window = index;
	}
	if (due)
		err = trace_writer_samples(w, p->pending, due);
	memmove(p->pending, p->pending + due,
		(p->npending - due) * sizeof(*p->pending));
	p->npending -= due;
	u64map_clear(&p->pending_idx);
	for (i = 0; i < p->npending && !err; i++)
		err = u64map_put(&p->pending_idx, pending_key(&p->pending[i]), i);
	return err;
}

/* Reads one stack of the kernel's stack map; returns the depth. */
static int read_stack(struct cpu_profile *p, __s32 id, __u64 *ips)
{
	int fd = bpf_map__fd(p->cpu->maps.stacks), n = 0;

	if (id < 0 || bpf_map_lookup_elem(fd, &id, ips))
		return 0;
	while (n < 127 && ips[n])
		n++;
	return n;
}

/* ---- DWARF mode: unwind the copied stacks as they arrive ---- */

static int handle_dwarf(void *ctx, void *data, size_t size)
{
	struct cpu_profile *p = ctx;
	const struct prof_dwarf_event *ev = data;
	struct unwind_regs regs;
	__u64 kips[127], uips[MAX_IPS];
	__u32 stack;
	int nk, nu, err;

	if (size < sizeof(*ev) - sizeof(ev->stack) || p->err)
		return 0;
	regs.ip = ev->ip;
	regs.sp = ev->sp;
	regs.bp = ev->bp;
	regs.bx = ev->bx;
	regs.r12 = ev->r12;
	regs.r13 = ev->r13;
	regs.r14 = ev->r14;
	regs.r15 = ev->r15;
	nu = unwinder_unwind(p->unw, &regs, ev->stack,
			     ev->stack_len <= sizeof(ev->stack) ? ev->stack_len : 0,
			     uips, MAX_IPS - 127);
	if (nu < 0)
		nu = 0;
	nk = read_stack(p, ev->kernel_stack_id, kips);
	if (ev->kernel_stack_id >= 0)
		u64map_put(&p->dwarf_kstacks, ev->kernel_stack_id, 0);
	p->samples++;
	err = intern_stack(p, kips, nk, uips, nu, &stack);
	if (!err)
		err = pending_add(p, ev->window, stack, ev->model, ev->stage,
				  PROF_CPU, 1, p->period_ns);
	if (err)
		p->err = err;
	return 0;
}

/*
 * The symbolizer and unwinder read the target's maps: made on first use,
 * since in launch mode we start before the target's exec, when its maps
 * are still a copy of ours.  Afterwards refreshed every window, for
 * dlopen().
 */
static int ensure_readers(struct cpu_profile *p)
{
	if (!p->sym) {
		p->sym = symbolizer_new(p->o.pid);
		if (!p->sym)
			return -errno;
	} else {
		symbolizer_refresh(p->sym);
	}
	if (!p->dwarf)
		return 0;
	if (!p->unw) {
		p->unw = unwinder_new(p->o.pid);
		if (!p->unw)
			return -errno;
	} else {
		unwinder_refresh(p->unw);
	}
	return 0;
}

/* Has a launched target exec()ed yet?  Before, it is a copy of us. */
static bool target_ready(struct cpu_profile *p)
{
	char link[64], path[4096], self[4096];
	ssize_t n, m;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)p->o.pid);
	n = readlink(link, path, sizeof(path) - 1);
	m = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || m <= 0)
		return false;
	path[n] = self[m] = 0;
	return strcmp(path, self) != 0;
}

int cpu_profile_poll(struct cpu_profile *p)
{
	/* Read the maps as soon as the program runs: a short-lived one may
	 * be gone by the first window. */
	if (!p->readers_ok && target_ready(p) && !ensure_readers(p))
		p->readers_ok = true;
	/* Until then samples wait in the ring buffer (8 MiB: seconds). */
	if (p->dwarf_rb && p->readers_ok)
		ring_buffer__consume(p->dwarf_rb);
	return p->err;
}

/* ---- window: drain the kernel's counts ---- */

/* Drains the counts of windows up to INDEX; later ones stay for their own
 * window (a CPU or off-CPU count carries its window, see profile.bpf.h). */
static int drain_counts(struct cpu_profile *p, __u64 index)
{
	int fd = bpf_map__fd(p->cpu->maps.prof_counts);
	int sfd = bpf_map__fd(p->cpu->maps.stacks);
	struct prof_key key, next, *keys = NULL;
	struct prof_val val;
	size_t n = 0, cap = 0, i;
	__u64 kips[127], uips[128], top;
	struct u64map *used = &p->dwarf_kstacks;
	__u32 stack, dummy;
	int nk, nu, err = 0;
	bool first = true;

	/* Collect the keys first: deleting while iterating restarts it. */
	while (!bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		first = false;
		key = next;
		if (array_grow((void **)&keys, &cap, n + 1, sizeof(*keys))) {
			err = -ENOMEM;
			goto cleanup;
		}
		keys[n++] = key;
	}
	for (i = 0; i < n && !err; i++) {
		if (keys[i].window > index)
			continue;
		/* Lookup and delete back to back: increments in between
		 * are the only ones lost. */
		if (bpf_map_lookup_and_delete_elem(fd, &keys[i], &val) &&
		    (bpf_map_lookup_elem(fd, &keys[i], &val) ||
		     bpf_map_delete_elem(fd, &keys[i])))
			continue;
		nk = read_stack(p, keys[i].kernel_stack_id, kips);
		nu = read_stack(p, keys[i].user_stack_id, uips + 1);
		/* Taken at an allocator's return: put the allocator back
		 * on top (its caller's frame is a return address). */
		top = keys[i].kind >= PROF_MEM_ALLOC && keys[i].ustack_key &&
		      keys[i].ustack_key <= MEM_FN_N ?
			      p->mem_top[keys[i].ustack_key - 1] : 0;
		uips[0] = top;
		if (keys[i].kind == PROF_CPU)
			p->samples += val.count;
		err = intern_stack(p, kips, nk, top ? uips : uips + 1,
				   nu + !!top, &stack);
		if (!err)
			err = pending_add(p, keys[i].window, stack,
					  keys[i].model, keys[i].stage,
					  keys[i].kind, val.count, val.value_ns);
		/* A live allocation keeps its stack id until its free:
		 * those slots stay (allocation sites are few). */
		if (keys[i].kind >= PROF_MEM_ALLOC)
			continue;
		if (keys[i].kernel_stack_id >= 0)
			u64map_put(used, keys[i].kernel_stack_id, 0);
		if (keys[i].user_stack_id >= 0)
			u64map_put(used, keys[i].user_stack_id, 0);
	}
	/* ... but not the stacks of counts left for a later window */
	for (i = 0; i < n && !err; i++) {
		if (keys[i].window <= index)
			continue;
		if (keys[i].kernel_stack_id >= 0)
			err = u64map_put(used, keys[i].kernel_stack_id, 1);
		if (!err && keys[i].user_stack_id >= 0)
			err = u64map_put(used, keys[i].user_stack_id, 1);
	}
	/*
	 * Free the stack slots we resolved, so the map does not fill up.  An
	 * off-CPU episode still open may hold one of these ids; it then
	 * loses its stack (rare: the slot is refilled by the next sample of
	 * the same stack), which beats a stack map that fills for good.
	 */
	for (i = 0; i < used->cap; i++) {
		if (used->keys[i] == U64MAP_EMPTY || used->vals[i])
			continue;
		dummy = (__u32)used->keys[i];
		bpf_map_delete_elem(sfd, &dummy);
	}
	u64map_clear(used);
cleanup:
	free(keys);
	return err;
}

int cpu_profile_window(void *arg, __u64 index)
{
	struct cpu_profile *p = arg;
	struct trace_writer *w = aggregate_writer(p->agg);
	size_t i;
	int err;

	/* A target that is gone keeps what was resolved so far. */
	if (!ensure_readers(p))
		p->readers_ok = true;
	cpu_profile_poll(p);
	if (p->err)
		return p->err;
	err = drain_counts(p, index);
	if (!err)
		err = aggregate_write_names(p->agg);
	if (!err && p->nnew_frames)
		err = trace_writer_frames(w, p->new_frames, p->nnew_frames);
	if (!err && p->nnew_stacks)
		err = trace_writer_stacks(w, p->new_stacks, p->nnew_stacks);
	if (!err)
		err = pending_write(p, index);
	for (i = 0; i < p->nnew_stacks; i++)
		free(p->new_stacks[i].frames);
	p->nnew_stacks = 0;
	p->nnew_frames = 0;
	p->lost = bpf_percpu_sum(bpf_map__fd(p->cpu->maps.prof_drops),
				  PROF_DROP_NKINDS, PROF_DROP_NKINDS);
	return err;
}

/* ---- set-up ---- */

/*
 * Frame pointers or not: most functions of a -fno-omit-frame-pointer
 * binary open with push %rbp; mov %rsp,%rbp.  Looks at up to 200 function
 * symbols of the executable.
 */
static bool elf_has_frame_pointers(const char *path)
{
	static const unsigned char prologue[] = { 0x55, 0x48, 0x89, 0xe5 };
	unsigned char buf[8];
	int fd, with = 0, total = 0;
	Elf_Scn *scn = NULL;
	Elf *elf;

	if (!path || elf_version(EV_CURRENT) == EV_NONE)
		return true;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	while (elf && (scn = elf_nextscn(elf, scn)) && total < 200) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t i, nsym;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !sh.sh_entsize || !(d = elf_getdata(scn, NULL)))
			continue;
		nsym = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < nsym && total < 200; i++) {
			GElf_Sym sym;
			GElf_Shdr tsh;
			Elf_Scn *ts;

			if (!gelf_getsym(d, i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    sym.st_size < 16 || sym.st_shndx == SHN_UNDEF)
				continue;
			ts = elf_getscn(elf, sym.st_shndx);
			if (!ts || !gelf_getshdr(ts, &tsh) ||
			    pread(fd, buf, 8, sym.st_value - tsh.sh_addr +
						      tsh.sh_offset) != 8)
				continue;
			total++;
			/* endbr64 (f3 0f 1e fa) may come first */
			if (!memcmp(buf, prologue, 4) ||
			    (buf[0] == 0xf3 && !memcmp(buf + 4, prologue, 4)))
				with++;
		}
	}
	elf_end(elf);
	close(fd);
	return total == 0 || with * 2 >= total;
}

static int open_sampling_events(struct cpu_profile *p)
{
	int ncpu = libbpf_num_possible_cpus(), cpu, fd;
	struct perf_event_attr attr = { 0 };
	bool hw = true;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	p->perf_fds = calloc(ncpu, sizeof(int));
	p->links = calloc(ncpu + 4, sizeof(*p->links));
	if (!p->perf_fds || !p->links)
		return -ENOMEM;
	attr.size = sizeof(attr);
	attr.freq = 1;
	attr.sample_freq = p->o.hz;
	for (cpu = 0; cpu < ncpu; cpu++) {
		struct bpf_link *l;

		attr.type = hw ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE;
		attr.config = hw ? PERF_COUNT_HW_CPU_CYCLES : PERF_COUNT_SW_CPU_CLOCK;
		fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1,
			     PERF_FLAG_FD_CLOEXEC);
		if (fd < 0 && hw && (errno == ENOENT || errno == EOPNOTSUPP ||
				     errno == ENODEV || errno == EINVAL)) {
			/* No PMU (most VMs): the software clock samples
			 * just as well for CPU time, minus skid detail. */
			log_note_no_pmu();
			hw = false;
			cpu--;
			continue;
		}
		if (fd < 0) {
			if (errno == ENODEV)	/* offline CPU */
				continue;
			return -errno;
		}
		p->perf_fds[p->nperf++] = fd;
		l = bpf_program__attach_perf_event(p->cpu->progs.on_cpu_sample, fd);
		if (!l)
			return -errno;
		p->links[p->nlinks++] = l;
	}
	return 0;
}

struct cpu_profile *cpu_profile_new(const struct cpu_profile_opts *o,
				    struct aggregate *agg)
{
	struct cpu_profile *p = calloc(1, sizeof(*p));
	struct bpf_link *l;
	__u64 win_start, win_ns;
	int err;

	if (!p)
		return NULL;
	p->o = *o;
	p->agg = agg;
	p->period_ns = o->hz > 0 ? 1000000000ull / o->hz : 0;
	p->dwarf = o->mode == CALLGRAPH_DWARF ||
		   (o->mode == CALLGRAPH_AUTO && !elf_has_frame_pointers(o->exe));
	p->cpu = cpu_bpf__open();
	if (!p->cpu) {
		err = -errno;
		goto fail;
	}
	aggregate_windows(agg, &win_start, &win_ns);
	p->cpu->rodata->target_tgid = o->pid;
	p->cpu->rodata->win_start_ns = win_start;
	p->cpu->rodata->win_ns = win_ns;
	p->cpu->rodata->period_ns = p->period_ns;
	p->cpu->rodata->dwarf_mode = p->dwarf;
	if (!p->dwarf)
		bpf_map__set_max_entries(p->cpu->maps.dwarf_events, 4096);
	err = bpf_map__reuse_fd(p->cpu->maps.thread_ctx, o->thread_ctx_fd);
	if (!err)
		err = cpu_bpf__load(p->cpu);
	if (err)
		goto fail;
	if (p->dwarf) {
		p->dwarf_rb = ring_buffer__new(bpf_map__fd(p->cpu->maps.dwarf_events),
					       handle_dwarf, p, NULL);
		if (!p->dwarf_rb) {
			err = -errno;
			goto fail;
		}
	}
	if (o->hz > 0) {
		err = open_sampling_events(p);
		if (err)
			goto fail;
	} else {
		p->links = calloc(4, sizeof(*p->links));
		if (!p->links) {
			err = -ENOMEM;
			goto fail;
		}
	}
	if (o->offcpu) {
		p->off = offcpu_bpf__open();
		if (!p->off) {
			err = -errno;
			goto fail;
		}
		p->off->rodata->target_tgid = o->pid;
		p->off->rodata->win_start_ns = win_start;
		p->off->rodata->win_ns = win_ns;
		err = bpf_map__reuse_fd(p->off->maps.thread_ctx, o->thread_ctx_fd);
		if (!err)
			err = bpf_map__reuse_fd(p->off->maps.stacks,
						bpf_map__fd(p->cpu->maps.stacks));
		if (!err)
			err = bpf_map__reuse_fd(p->off->maps.prof_counts,
						bpf_map__fd(p->cpu->maps.prof_counts));
		if (!err)
			err = bpf_map__reuse_fd(p->off->maps.prof_drops,
						bpf_map__fd(p->cpu->maps.prof_drops));
		if (!err)
			err = offcpu_bpf__load(p->off);
		if (err)
			goto fail;
		l = bpf_program__attach(p->off->progs.on_switch);
		if (!l) {
			err = -errno;
			goto fail;
		}
		p->links[p->nlinks++] = l;
		l = bpf_program__attach(p->off->progs.on_wakeup);
		if (!l) {
			err = -errno;
			goto fail;
		}
		p->links[p->nlinks++] = l;
	}
	if (o->mem) {
		p->mem = mem_bpf__open();
		if (!p->mem) {
			err = -errno;
			goto fail;
		}
		p->mem->rodata->target_tgid = o->pid;
		p->mem->rodata->win_start_ns = win_start;
		p->mem->rodata->win_ns = win_ns;
		err = bpf_map__reuse_fd(p->mem->maps.thread_ctx, o->thread_ctx_fd);
		if (!err)
			err = bpf_map__reuse_fd(p->mem->maps.stacks,
						bpf_map__fd(p->cpu->maps.stacks));
		if (!err)
			err = bpf_map__reuse_fd(p->mem->maps.prof_counts,
						bpf_map__fd(p->cpu->maps.prof_counts));
		if (!err)
			err = bpf_map__reuse_fd(p->mem->maps.prof_drops,
						bpf_map__fd(p->cpu->maps.prof_drops));
		if (!err)
			err = mem_bpf__load(p->mem);
		if (err)
			goto fail;
	}
	return p;
fail:
	cpu_profile_free(p);
	errno = err < 0 ? -err : EINVAL;
	return NULL;
}

int cpu_profile_attach_mem(struct cpu_profile *p, const char *path)
{
	struct bpf_program *progs[2];
	static const char *const names[2] = { "alloc", "free" };
	struct bpf_link *l, **nv;
	int i, n = 0;

	if (!p->mem)
		return -EINVAL;
	progs[0] = p->mem->progs.on_alloc;
	progs[1] = p->mem->progs.on_free;
	for (i = 0; i < 2; i++) {
		l = bpf_program__attach_usdt(progs[i], p->o.pid, path, "loupe",
					     names[i], NULL);
		if (!l) {
			if (errno == ENOENT)	/* not the allocation shim */
				continue;
			return -errno;
		}
		nv = realloc(p->links, (p->nlinks + 1) * sizeof(*nv));
		if (!nv) {
			bpf_link__destroy(l);
			return -ENOMEM;
		}
		p->links = nv;
		p->links[p->nlinks++] = l;
		n++;
	}
	return n;
}

void cpu_profile_maps(const struct cpu_profile *p, int *stacks_fd,
		      int *counts_fd, int *drops_fd)
{
	*stacks_fd = bpf_map__fd(p->cpu->maps.stacks);
	*counts_fd = bpf_map__fd(p->cpu->maps.prof_counts);
	*drops_fd = bpf_map__fd(p->cpu->maps.prof_drops);
}

void cpu_profile_set_mem_tops(struct cpu_profile *p, const __u64 *addr,
			      unsigned int n)
{
	unsigned int i;

	for (i = 0; i < MEM_FN_N; i++)
		p->mem_top[i] = i < n ? addr[i] : 0;
}

void cpu_profile_stats(const struct cpu_profile *p, __u64 *samples,
		       __u64 *lost)
{
	*samples = p->samples;
	*lost = p->lost;
}

const char *cpu_profile_mode_name(const struct cpu_profile *p)
{
	return p->dwarf ? "dwarf" : "fp";
}

void cpu_profile_free(struct cpu_profile *p)
{
	size_t i;

	if (!p)
		return;
	while (p->nlinks)
		bpf_link__destroy(p->links[--p->nlinks]);
	free(p->links);
	for (i = 0; i < (size_t)p->nperf; i++)
		close(p->perf_fds[i]);
	free(p->perf_fds);
	ring_buffer__free(p->dwarf_rb);
	offcpu_bpf__destroy(p->off);
	mem_bpf__destroy(p->mem);
	cpu_bpf__destroy(p->cpu);
	symbolizer_free(p->sym);
	unwinder_free(p->unw);
	for (i = 0; i < p->nnew_stacks; i++)
		free(p->new_stacks[i].frames);
	free(p->new_stacks);
	free(p->new_frames);
	free(p->fc);
	free(p->pending);
	u64map_release(&p->frame_cache);
	u64map_release(&p->stack_ids);
	u64map_release(&p->pending_idx);
	u64map_release(&p->dwarf_kstacks);
	free(p);
}
