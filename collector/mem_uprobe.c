// SPDX-License-Identifier: MIT
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <loupe/mem_sample.h>
#include <loupe/profile_events.h>
#include "mem_uprobe.skel.h"
#include "collector/mem_uprobe.h"
#include "collector/usdt_scan.h"
#include "log.h"

#define CALIBRATION_CALLS 200
#define CALIBRATION_ROUNDS 9

static const char *const fn_names[MEM_FN_N] = {
	[MEM_FN_MALLOC] = "malloc",
	[MEM_FN_CALLOC] = "calloc",
	[MEM_FN_REALLOC] = "realloc",
	[MEM_FN_FREE] = "free",
};

/* Function entry points of one allocator object. */
struct fn_set {
	char path[PATH_MAX];
	__u64 off[MEM_FN_N];	/* file offsets, 0: absent */
};

struct mem_uprobe {
	struct mem_uprobe_opts o;
	struct mem_uprobe_bpf *skel;
	struct fn_set target, self;
	__u64 addr[MEM_FN_N];	/* in the target, for stack tops */
	bool session;
	__u32 session_type;	/* BPF_TRACE_UPROBE_SESSION, from BTF */
	struct bpf_link *links[2 * MEM_FN_N];	/* plain allocation probes */
	int nlinks;
	struct bpf_link *free_link;
	int session_fd;		/* the session link, -1: none */
	double malloc_ns, free_ns;
};

/* This thread's CPU time, traps included: unlike the wall clock, it does
 * not count the time other processes (the target!) ran in between. */
static __u64 thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* ---- ELF: where the allocator's functions are ---- */

static bool is_push(const unsigned char *b)
{
	return (b[0] >= 0x50 && b[0] <= 0x57) ||
	       (b[0] == 0x41 && b[1] >= 0x50 && b[1] <= 0x57);
}

/*
 * Where to probe free, at file offset OFF of FD.  The kernel emulates a
 * push in place (6.11+) but single-steps most other instructions out of
 * line, a second exception: on this VM ~7 us against ~25 us per hit.
 * glibc's free opens with `if (p == NULL) return;` (test %rdi,%rdi; je)
 * and pushes after it; probing the push skips only free(NULL), a no-op,
 * and finds the pointer still in %rdi.  Any other opening: the entry.
 */
static __u64 free_probe_offset(int fd, __u64 off)
{
	unsigned char b[16];
	size_t i = 0;

	if (pread(fd, b, sizeof(b), (off_t)off) != (ssize_t)sizeof(b) ||
	    is_push(b))
		return off;
	if (b[0] != 0x48 || b[1] != 0x85 || b[2] != 0xff)	/* test %rdi,%rdi */
		return off;
	i = 3;
	if (b[i] == 0x74)					/* je rel8 */
		i += 2;
	else if (b[i] == 0x0f && b[i + 1] == 0x84)		/* je rel32 */
		i += 6;
	else
		return off;
	return is_push(b + i) ? off + i : off;
}

/*
 * File offsets of the functions of fn_names[] that the ELF file PATH
 * defines (dynamic symbols first, then the full table), free's moved to
 * where probing it is cheapest.  Returns how many were found, or -errno.
 */
static int elf_fn_offsets(const char *path, __u64 off[MEM_FN_N])
{
	GElf_Phdr *ph = NULL;
	size_t nph = 0, i;
	Elf_Scn *scn = NULL;
	int fd, found = 0, pass, f;
	Elf *elf;

	memset(off, 0, MEM_FN_N * sizeof(off[0]));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &nph)) {
		found = -ENOEXEC;
		goto cleanup;
	}
	ph = calloc(nph + 1, sizeof(*ph));
	if (!ph) {
		found = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < nph; i++)
		if (!gelf_getphdr(elf, i, &ph[i]))
			ph[i].p_type = PT_NULL;
	for (pass = 0; pass < 2; pass++) {
		scn = NULL;
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			Elf_Data *d;
			size_t k, nsym;

			if (!gelf_getshdr(scn, &sh) || !sh.sh_entsize ||
			    sh.sh_type != (pass ? SHT_SYMTAB : SHT_DYNSYM) ||
			    !(d = elf_getdata(scn, NULL)))
				continue;
			nsym = sh.sh_size / sh.sh_entsize;
			for (k = 0; k < nsym; k++) {
				GElf_Sym sym;
				const char *name;

				/* An IFUNC's symbol is its resolver, not the
				 * function: not a place to probe. */
				if (!gelf_getsym(d, k, &sym) ||
				    GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
				    sym.st_shndx == SHN_UNDEF || !sym.st_value ||
				    GELF_ST_BIND(sym.st_info) == STB_LOCAL)
					continue;
				name = elf_strptr(elf, sh.sh_link, sym.st_name);
				for (f = 0; name && f < MEM_FN_N; f++) {
					if (off[f] || strcmp(name, fn_names[f]))
						continue;
					for (i = 0; i < nph; i++) {
						if (ph[i].p_type != PT_LOAD ||
						    sym.st_value < ph[i].p_vaddr ||
						    sym.st_value >= ph[i].p_vaddr + ph[i].p_filesz)
							continue;
						off[f] = sym.st_value - ph[i].p_vaddr +
							 ph[i].p_offset;
						found++;
						break;
					}
				}
			}
		}
	}
	if (off[MEM_FN_FREE])
		off[MEM_FN_FREE] = free_probe_offset(fd, off[MEM_FN_FREE]);
cleanup:
	free(ph);
	elf_end(elf);
	close(fd);
	return found;
}

/* Where file offset OFF of PATH is mapped in PID, or 0. */
static __u64 mapped_address(pid_t pid, const char *path, __u64 off)
{
	char maps[64], *line = NULL;
	size_t cap = 0;
	__u64 addr = 0;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	f = fopen(maps, "re");
	if (!f)
		return 0;
	while (!addr && getline(&line, &cap, f) > 0) {
		unsigned long long start, end, moff;
		int pos = 0;

		if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &start, &end,
			   &moff, &pos) < 3 || !pos)
			continue;
		line[strcspn(line, "\n")] = 0;
		if (strcmp(line + pos, path) || off < moff ||
		    off >= moff + (end - start))
			continue;
		addr = start + (off - moff);
	}
	free(line);
	fclose(f);
	return addr;
}

/* ---- which allocator ---- */

int mem_uprobe_has_shim(pid_t pid)
{
	struct mapped_object *v;
	size_t n, i;
	int err, shim = 0;

	err = usdt_mapped_objects(pid, &v, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		shim |= !!strstr(base_name(v[i].path), "libloupe-alloc");
	usdt_objects_free(v, n);
	return shim;
}

static bool is_libc(const char *base)
{
	return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-2.", 7);
}

int mem_uprobe_find_allocator(pid_t pid, char *path, size_t len)
{
	/* A replacement allocator wins: once loaded it serves malloc. */
	static const char *const preferred[] = {
		"libjemalloc", "libtcmalloc", "libmimalloc",
	};
	struct mapped_object *v;
	char exe_link[64], exe[PATH_MAX];
	const char *pick = NULL, *libc = NULL;
	__u64 off[MEM_FN_N];
	size_t n, i, k;
	ssize_t el;
	int err;

	err = usdt_mapped_objects(pid, &v, &n);
	if (err)
		return err;
	for (k = 0; !pick && k < sizeof(preferred) / sizeof(preferred[0]); k++)
		for (i = 0; !pick && i < n; i++)
			if (!strncmp(base_name(v[i].path), preferred[k],
				     strlen(preferred[k])))
				pick = v[i].path;
	snprintf(exe_link, sizeof(exe_link), "/proc/%d/exe", (int)pid);
	el = readlink(exe_link, exe, sizeof(exe) - 1);
	exe[el > 0 ? el : 0] = 0;
	for (i = 0; !pick && i < n; i++) {
		if (is_libc(base_name(v[i].path)) && !libc)
			libc = v[i].path;
		/* A static program, or one with its own allocator. */
		if (el > 0 && !strcmp(v[i].path, exe) &&
		    elf_fn_offsets(v[i].path, off) > 0 &&
		    off[MEM_FN_MALLOC] && off[MEM_FN_FREE])
			pick = v[i].path;
	}
	if (!pick)
		pick = libc;
	err = pick ? 0 : -ENOENT;
	if (pick && (size_t)snprintf(path, len, "%s", pick) >= len)
		err = -ENAMETOOLONG;
	usdt_objects_free(v, n);
	return err;
}

/* ---- attaching ---- */

/*
 * BPF_TRACE_UPROBE_SESSION's value, from the running kernel's BTF (our
 * uapi headers predate it), when the kernel has session uprobes (6.13+)
 * and their kfunc; 0 otherwise.
 */
static __u32 session_attach_type(void)
{
	const struct btf_type *t;
	const struct btf_enum *e;
	struct btf *btf;
	__u32 val = 0;
	int id, i;

	btf = btf__load_vmlinux_btf();
	if (!btf)
		return 0;
	id = btf__find_by_name_kind(btf, "bpf_attach_type", BTF_KIND_ENUM);
	if (id > 0 &&
	    btf__find_by_name_kind(btf, "bpf_session_is_return", BTF_KIND_FUNC) > 0) {
		t = btf__type_by_id(btf, id);
		e = btf_enum(t);
		for (i = 0; i < btf_vlen(t); i++)
			if (!strcmp(btf__name_by_offset(btf, e[i].name_off),
				    "BPF_TRACE_UPROBE_SESSION"))
				val = e[i].val;
	}
	btf__free(btf);
	return val;
}

/*
 * BPF_LINK_CREATE of a uprobe_multi link, spelled out because libbpf 1.1
 * predates it (the layout is the kernel's union bpf_attr, 6.6+).
 */
static int link_uprobe_multi(int prog_fd, __u32 attach_type, const char *path,
			     const __u64 *offs, const __u64 *cookies, __u32 cnt,
			     pid_t pid)
{
	struct {
		__u32 prog_fd;
		__u32 target_fd;
		__u32 attach_type;
		__u32 flags;
		__u64 path;
		__u64 offsets;
		__u64 ref_ctr_offsets;
		__u64 cookies;
		__u32 cnt;
		__u32 multi_flags;
		__u32 pid;
		__u32 pad;
	} attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = prog_fd;
	attr.attach_type = attach_type;
	attr.path = (__u64)(unsigned long)path;
	attr.offsets = (__u64)(unsigned long)offs;
	attr.cookies = (__u64)(unsigned long)cookies;
	attr.cnt = cnt;
	attr.pid = pid;
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : fd;
}

/*
 * Allocation probes go before free's: a block sampled while free's probe
 * is not (yet, or no longer) there would never be seen freed, and would
 * stay outstanding.  Unregistering a uprobe takes milliseconds, in which
 * a busy target allocates plenty.
 */
static void detach(struct mem_uprobe *m)
{
	if (m->session_fd >= 0)
		close(m->session_fd);
	m->session_fd = -1;
	while (m->nlinks)
		bpf_link__destroy(m->links[--m->nlinks]);
	bpf_link__destroy(m->free_link);
	m->free_link = NULL;
}

/* Attaches free's program, then the allocation programs, to the functions
 * of FS in PID.  0 or -errno; on failure nothing stays attached. */
static int attach(struct mem_uprobe *m, const struct fn_set *fs, pid_t pid)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
	__u64 offs[MEM_FN_N], cookies[MEM_FN_N];
	struct bpf_link *l;
	__u32 cnt = 0, f, k;
	int err = 0, r;

	uo.bpf_cookie = MEM_FN_FREE;
	m->free_link = bpf_program__attach_uprobe_opts(m->skel->progs.on_free, pid,
						       fs->path, fs->off[MEM_FN_FREE],
						       &uo);
	if (!m->free_link)
		return -errno;
	for (f = 0; f < MEM_FN_FREE; f++) {
		/* An alias of an entry point already probed would count
		 * its calls twice. */
		for (k = 0; k < cnt && offs[k] != fs->off[f]; k++)
			;
		if (!fs->off[f] || k < cnt)
			continue;
		offs[cnt] = fs->off[f];
		cookies[cnt++] = f;
	}
	if (m->session) {
		r = link_uprobe_multi(bpf_program__fd(m->skel->progs.on_alloc_session),
				      m->session_type, fs->path, offs, cookies,
				      cnt, pid);
		if (r < 0)
			err = r;
		else
			m->session_fd = r;
	} else {
		for (k = 0; k < cnt && !err; k++) {
			for (r = 0; r < 2 && !err; r++) {
				uo.bpf_cookie = cookies[k];
				uo.retprobe = r;
				l = bpf_program__attach_uprobe_opts(
					r ? m->skel->progs.on_alloc_return :
					    m->skel->progs.on_alloc_entry,
					pid, fs->path, offs[k], &uo);
				if (!l)
					err = -errno;
				else
					m->links[m->nlinks++] = l;
			}
		}
	}
	if (err)
		detach(m);
	return err;
}

/* ---- what a trap costs ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * CPU ns per malloc(64) and per free, over CALIBRATION_CALLS calls through
 * the function pointers.  The blocks are kept in an array so that the compiler
 * cannot pair and drop them.
 */
static void time_calls(void *(*mal)(size_t), void (*fre)(void *),
		       double *mal_ns, double *free_ns)
{
	static void *blocks[CALIBRATION_CALLS];
	__u64 t0, t1, t2;
	int i;

	t0 = thread_cpu_ns();
	for (i = 0; i < CALIBRATION_CALLS; i++)
		blocks[i] = mal(64);
	t1 = thread_cpu_ns();
	for (i = 0; i < CALIBRATION_CALLS; i++)
		fre(blocks[i]);
	t2 = thread_cpu_ns();
	*mal_ns = (double)(t1 - t0) / CALIBRATION_CALLS;
	*free_ns = (double)(t2 - t1) / CALIBRATION_CALLS;
}

static double median(double *v)
{
	qsort(v, CALIBRATION_ROUNDS, sizeof(v[0]), cmp_double);
	return v[CALIBRATION_ROUNDS / 2];
}

/*
 * What a probed malloc and free cost here: loupe's own calls into its libc
 * without the probes, then with them, in rounds; medians.  The first hits
 * after attaching set up the probes in our address space, a one-off the
 * target pays once too: a warm-up round is left out.  loupe's calls are
 * sampled like the target's but never recorded (the programs'
 * calib_tgid).  The traps dominate; the BPF work is included.  Under ASan
 * loupe's malloc is not libc's, hence libc's own entry points.  Returns 0
 * or the attach error; the costs stay 0 when not measurable.
 */
static int calibrate(struct mem_uprobe *m)
{
	double pm[CALIBRATION_ROUNDS], pf[CALIBRATION_ROUNDS];
	double qm[CALIBRATION_ROUNDS], qf[CALIBRATION_ROUNDS];
	void *(*mal)(size_t);
	void (*fre)(void *);
	void *libc;
	Dl_info di;
	int r, err;

	libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	if (!libc)
		return 0;
	mal = (void *(*)(size_t))dlsym(libc, "malloc");
	fre = (void (*)(void *))dlsym(libc, "free");
	if (!mal || !fre || !dladdr((void *)mal, &di) || !di.dli_fname ||
	    !realpath(di.dli_fname, m->self.path) ||
	    elf_fn_offsets(m->self.path, m->self.off) <= 0 ||
	    !m->self.off[MEM_FN_MALLOC] || !m->self.off[MEM_FN_FREE]) {
		dlclose(libc);
		return 0;
	}
	time_calls(mal, fre, &pm[0], &pf[0]);	/* warm-up */
	for (r = 0; r < CALIBRATION_ROUNDS; r++)
		time_calls(mal, fre, &pm[r], &pf[r]);
	err = attach(m, &m->self, getpid());
	if (err) {
		dlclose(libc);
		return err;
	}
	time_calls(mal, fre, &qm[0], &qf[0]);	/* warm-up */
	for (r = 0; r < CALIBRATION_ROUNDS; r++)
		time_calls(mal, fre, &qm[r], &qf[r]);
	detach(m);
	dlclose(libc);
	m->malloc_ns = median(qm) - median(pm);
	m->free_ns = median(qf) - median(pf);
	if (m->malloc_ns < 0)
		m->malloc_ns = 0;
	if (m->free_ns < 0)
		m->free_ns = 0;
	return 0;
}

/* ---- set-up ---- */

static __u64 default_mean(void)
{
	const char *s = getenv("LOUPE_ALLOC_SAMPLE_BYTES");
	unsigned long long v;
	char *end;

	/* The shim's variable: one knob for both modes. */
	if (!s || !*s)
		return MEM_SAMPLE_DEFAULT_MEAN;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !v) {
		pr_warn("record: --mem: ignoring LOUPE_ALLOC_SAMPLE_BYTES='%s' (want a byte count)",
			s);
		return MEM_SAMPLE_DEFAULT_MEAN;
	}
	if (v < MEM_SAMPLE_MIN_MEAN)
		return MEM_SAMPLE_MIN_MEAN;
	return v > MEM_SAMPLE_MAX_MEAN ? MEM_SAMPLE_MAX_MEAN : v;
}

static int load(struct mem_uprobe *m)
{
	struct mem_uprobe_bpf *s;
	int err;

	s = m->skel = mem_uprobe_bpf__open();
	if (!s)
		return -errno;
	s->rodata->target_tgid = m->o.pid;
	s->rodata->calib_tgid = getpid();
	s->rodata->mean_bytes = m->o.mean_bytes;
	s->rodata->win_start_ns = m->o.win_start_ns;
	s->rodata->win_ns = m->o.win_ns;
	bpf_program__set_autoload(s->progs.on_alloc_session, m->session);
	bpf_program__set_autoload(s->progs.on_alloc_entry, !m->session);
	bpf_program__set_autoload(s->progs.on_alloc_return, !m->session);
	if (m->session)
		bpf_program__set_expected_attach_type(
			s->progs.on_alloc_session,
			(enum bpf_attach_type)m->session_type);
	err = bpf_map__reuse_fd(s->maps.stacks, m->o.stacks_fd);
	if (!err)
		err = bpf_map__reuse_fd(s->maps.prof_counts, m->o.counts_fd);
	if (!err)
		err = bpf_map__reuse_fd(s->maps.prof_drops, m->o.drops_fd);
	if (!err)
		err = bpf_map__reuse_fd(s->maps.thread_ctx, m->o.thread_ctx_fd);
	if (!err)
		err = mem_uprobe_bpf__load(s);
	return err;
}

/* The kernel said it has session uprobes but refused them: the plain
 * pair works everywhere. */
static int fall_back(struct mem_uprobe *m, int why)
{
	pr_debug("record: --mem: session uprobes refused (%s), using uprobe + uretprobe",
		 strerror(-why));
	detach(m);
	mem_uprobe_bpf__destroy(m->skel);
	m->skel = NULL;
	m->session = false;
	return load(m);
}

struct mem_uprobe *mem_uprobe_new(const struct mem_uprobe_opts *o)
{
	struct mem_uprobe *m = calloc(1, sizeof(*m));
	const char *force = getenv("LOUPE_MEM_UPROBE_CLASSIC");
	int err;

	if (!m)
		return NULL;
	m->o = *o;
	m->session_fd = -1;
	if (!m->o.mean_bytes)
		m->o.mean_bytes = default_mean();
	/* Session uprobes unless told otherwise (to measure the plain pair,
	 * or on a kernel whose session links misbehave). */
	m->session_type = force && *force == '1' ? 0 : session_attach_type();
	m->session = m->session_type != 0;
	err = load(m);
	if (!err)
		err = calibrate(m);
	if (err && m->session) {
		err = fall_back(m, err);
		if (!err)
			err = calibrate(m);
	}
	if (err)
		goto fail;
	pr_debug("record: --mem: uprobes cost %.1f us per malloc, %.1f us per free (%s)",
		 m->malloc_ns / 1e3, m->free_ns / 1e3,
		 m->session ? "session uprobe" : "uprobe + uretprobe");
	return m;
fail:
	mem_uprobe_free(m);
	errno = -err;
	return NULL;
}

int mem_uprobe_attach(struct mem_uprobe *m, const char *allocator)
{
	int err, f;

	detach(m);
	m->target.path[0] = 0;
	if ((size_t)snprintf(m->target.path, sizeof(m->target.path), "%s",
			     allocator) >= sizeof(m->target.path))
		return -ENAMETOOLONG;
	err = elf_fn_offsets(allocator, m->target.off);
	if (err >= 0 && (!m->target.off[MEM_FN_MALLOC] || !m->target.off[MEM_FN_FREE]))
		err = -ENOENT;
	if (err < 0)
		goto fail;
	/* glibc's realloc calls its own malloc and free entry points for
	 * realloc(NULL, n) and realloc(p, 0); others go inside. */
	m->skel->data->realloc_nests = is_libc(base_name(allocator));
	err = attach(m, &m->target, m->o.pid);
	if (err && m->session) {
		err = fall_back(m, err);
		if (!err) {
			m->skel->data->realloc_nests = is_libc(base_name(allocator));
			err = attach(m, &m->target, m->o.pid);
		}
	}
	if (err)
		goto fail;
	for (f = 0; f < MEM_FN_N; f++)
		m->addr[f] = m->target.off[f] ?
			mapped_address(m->o.pid, allocator, m->target.off[f]) : 0;
	return 0;
fail:
	m->target.path[0] = 0;
	return err;
}

/* One key of a per-CPU counter array, summed over the CPUs. */
static __u64 percpu_key(int fd, __u32 key)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	__u64 total = 0, *vals;

	if (ncpu <= 0 || !(vals = calloc(ncpu, sizeof(*vals))))
		return 0;
	if (!bpf_map_lookup_elem(fd, &key, vals))
		for (i = 0; i < ncpu; i++)
			total += vals[i];
	free(vals);
	return total;
}

void mem_uprobe_info(const struct mem_uprobe *m, struct mem_uprobe_info *i)
{
	int fd = bpf_map__fd(m->skel->maps.mem_stats);

	memset(i, 0, sizeof(*i));
	i->allocator = mem_uprobe_allocator(m);
	i->session = m->session;
	i->mean_bytes = m->o.mean_bytes;
	i->malloc_ns = m->malloc_ns;
	i->free_ns = m->free_ns;
	i->alloc_calls = percpu_key(fd, MEM_UPROBE_STAT_ALLOC_CALLS);
	i->free_calls = percpu_key(fd, MEM_UPROBE_STAT_FREE_CALLS);
	i->sampled = percpu_key(fd, MEM_UPROBE_STAT_SAMPLED);
}

__u64 mem_uprobe_fn_addr(const struct mem_uprobe *m, unsigned int fn)
{
	return fn < MEM_FN_N ? m->addr[fn] : 0;
}

const char *mem_uprobe_allocator(const struct mem_uprobe *m)
{
	return m->target.path[0] ? m->target.path : NULL;
}

void mem_uprobe_detach(struct mem_uprobe *m)
{
	detach(m);
	memset(m->addr, 0, sizeof(m->addr));
}

void mem_uprobe_free(struct mem_uprobe *m)
{
	if (!m)
		return;
	detach(m);
	mem_uprobe_bpf__destroy(m->skel);
	free(m);
}
