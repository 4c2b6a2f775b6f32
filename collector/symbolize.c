// SPDX-License-Identifier: MIT
/*
 * The symbolizer: /proc/PID/maps is parsed here and every file with an
 * executable mapping is reported to libdwfl as one module; libdwfl opens
 * the ELF lazily through find_elf_cb(), finds separate debug info with its
 * standard callback, and answers symbol, line and DIE queries.  On top of
 * that sit an address -> mapping table (binary search), a result cache keyed
 * by (module identity, file offset) and a string intern table.
 */
#include <dlfcn.h>
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "collector/symbolize.h"

/* Frames kept per address: deeper inline chains lose their innermost end. */
#define SYM_MAX_FRAMES 64
/* Namespaces nest; a bound keeps corrupt DWARF from recursing forever. */
#define SYM_MAX_NS_DEPTH 32
#define STR_CHUNK_SIZE (64 * 1024)
#define DELETED_SUFFIX " (deleted)"

/* ---- string interning ---- */

struct str_chunk {
	struct str_chunk *next;
	size_t used, cap;
	char data[];
};

struct strtab {
	const char **slots;	/* open addressing; NULL marks an empty slot */
	__u32 *hashes;
	size_t cap, len;
	struct str_chunk *chunks;
};

static __u64 str_hash(const char *p, size_t n)
{
	__u64 h = 0xcbf29ce484222325ull;	/* FNV-1a */

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static char *strtab_alloc(struct strtab *t, size_t n)
{
	struct str_chunk *c = t->chunks;

	if (!c || c->cap - c->used < n) {
		size_t cap = n > STR_CHUNK_SIZE / 4 ? n : STR_CHUNK_SIZE;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		/* A big string gets a chunk of its own behind the head, so
		 * the head's free space is not abandoned. */
		if (cap == n && t->chunks) {
			c->next = t->chunks->next;
			t->chunks->next = c;
		} else {
			c->next = t->chunks;
			t->chunks = c;
		}
	}
	c->used += n;
	return c->data + c->used - n;
}

static int strtab_grow(struct strtab *t)
{
	size_t cap = t->cap ? t->cap * 2 : 256, i, j;
	const char **slots;
	__u32 *hashes;

	slots = calloc(cap, sizeof(*slots));
	hashes = calloc(cap, sizeof(*hashes));
	if (!slots || !hashes) {
		free(slots);
		free(hashes);
		return -ENOMEM;
	}
	for (i = 0; i < t->cap; i++) {
		if (!t->slots[i])
			continue;
		for (j = t->hashes[i] & (cap - 1); slots[j]; j = (j + 1) & (cap - 1))
			;
		slots[j] = t->slots[i];
		hashes[j] = t->hashes[i];
	}
	free(t->slots);
	free(t->hashes);
	t->slots = slots;
	t->hashes = hashes;
	t->cap = cap;
	return 0;
}

/* The interned copy of P[0..N), NULL on allocation failure. */
static const char *strtab_intern_n(struct strtab *t, const char *p, size_t n)
{
	__u32 h = (__u32)str_hash(p, n);
	size_t i;
	char *copy;

	/* Linear probing stays short below half load. */
	if ((t->len + 1) * 2 > t->cap && strtab_grow(t))
		return NULL;
	for (i = h & (t->cap - 1); t->slots[i]; i = (i + 1) & (t->cap - 1)) {
		if (t->hashes[i] == h && !strncmp(t->slots[i], p, n) &&
		    !t->slots[i][n])
			return t->slots[i];
	}
	copy = strtab_alloc(t, n + 1);
	if (!copy)
		return NULL;
	memcpy(copy, p, n);
	copy[n] = 0;
	t->slots[i] = copy;
	t->hashes[i] = h;
	t->len++;
	return copy;
}

static const char *strtab_intern(struct strtab *t, const char *s)
{
	return strtab_intern_n(t, s, strlen(s));
}

static void strtab_release(struct strtab *t)
{
	struct str_chunk *c, *next;

	for (c = t->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(t->slots);
	free(t->hashes);
	memset(t, 0, sizeof(*t));
}

/* Interned string -> interned string: mangled names to demangled ones, so
 * each symbol is demangled once however many addresses fall in it. */
struct strmap {
	const char **keys;	/* NULL marks an empty slot */
	const char **vals;
	size_t cap, len;
};

static size_t ptr_hash(const void *p)
{
	__u64 h = (__u64)(uintptr_t)p * 0x9e3779b97f4a7c15ull;

	return (size_t)(h ^ h >> 29);
}

static const char *strmap_get(const struct strmap *m, const char *key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	for (i = ptr_hash(key) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key)
			return m->vals[i];
	}
	return NULL;
}

/* Adds a key known to be absent; failure only costs a later repeat. */
static void strmap_put(struct strmap *m, const char *key, const char *val)
{
	size_t i, j;

	if ((m->len + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		const char **keys = calloc(cap, sizeof(*keys));
		const char **vals = calloc(cap, sizeof(*vals));

		if (!keys || !vals) {
			free(keys);
			free(vals);
			return;
		}
		for (i = 0; i < m->cap; i++) {
			if (!m->keys[i])
				continue;
			for (j = ptr_hash(m->keys[i]) & (cap - 1); keys[j]; j = (j + 1) & (cap - 1))
				;
			keys[j] = m->keys[i];
			vals[j] = m->vals[i];
		}
		free(m->keys);
		free(m->vals);
		m->keys = keys;
		m->vals = vals;
		m->cap = cap;
	}
	for (i = ptr_hash(key) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
		;
	m->keys[i] = key;
	m->vals[i] = val;
	m->len++;
}

static void strmap_release(struct strmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- result cache: (module identity, file offset) -> frames ---- */

struct cframe {
	const char *function;
	const char *file;
	__u32 line;
	bool inlined;
};

struct centry {
	const char *ident;	/* interned, so compared by pointer; NULL: empty */
	__u64 off;
	__u32 first, n;		/* frames[first..first+n) */
};

struct fcache {
	struct centry *slots;
	size_t cap, len;
	struct cframe *frames;
	size_t nframes, frames_cap;
};

static size_t fcache_hash(const char *ident, __u64 off)
{
	__u64 h = (__u64)(uintptr_t)ident * 0x9e3779b97f4a7c15ull ^ off;

	/* murmur3's finalizer: offsets differ in low bits only */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (size_t)h;
}

static const struct centry *fcache_find(const struct fcache *c,
					const char *ident, __u64 off)
{
	size_t i;

	if (!c->cap)
		return NULL;
	for (i = fcache_hash(ident, off) & (c->cap - 1); c->slots[i].ident;
	     i = (i + 1) & (c->cap - 1)) {
		if (c->slots[i].ident == ident && c->slots[i].off == off)
			return &c->slots[i];
	}
	return NULL;
}

static int fcache_grow(struct fcache *c)
{
	size_t cap = c->cap ? c->cap * 2 : 1024, i, j;
	struct centry *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < c->cap; i++) {
		if (!c->slots[i].ident)
			continue;
		for (j = fcache_hash(c->slots[i].ident, c->slots[i].off) & (cap - 1);
		     slots[j].ident; j = (j + 1) & (cap - 1))
			;
		slots[j] = c->slots[i];
	}
	free(c->slots);
	c->slots = slots;
	c->cap = cap;
	return 0;
}

/* Adds a key known to be absent. */
static int fcache_add(struct fcache *c, const char *ident, __u64 off,
		      const struct cframe *fr, int n)
{
	struct centry *e;
	size_t i;

	if ((c->len + 1) * 2 > c->cap && fcache_grow(c))
		return -ENOMEM;
	if (c->nframes + n > c->frames_cap) {
		size_t cap = c->frames_cap ? c->frames_cap * 2 : 4096;
		struct cframe *v;

		while (cap < c->nframes + n)
			cap *= 2;
		v = realloc(c->frames, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->frames = v;
		c->frames_cap = cap;
	}
	memcpy(c->frames + c->nframes, fr, n * sizeof(*fr));
	for (i = fcache_hash(ident, off) & (c->cap - 1); c->slots[i].ident;
	     i = (i + 1) & (c->cap - 1))
		;
	e = &c->slots[i];
	e->ident = ident;
	e->off = off;
	e->first = (__u32)c->nframes;
	e->n = (__u32)n;
	c->nframes += n;
	c->len++;
	return 0;
}

static void fcache_release(struct fcache *c)
{
	free(c->slots);
	free(c->frames);
	memset(c, 0, sizeof(*c));
}

/* ---- modules and mappings ---- */

struct symbolizer;
struct ksyms;
static void ksyms_put(struct ksyms *k);

/* An ELF function symbol, at its run-time address. */
struct msym {
	__u64 addr, end;
	const char *name;	/* in the module's Elf: lives as long as it */
	__u32 rank;		/* preference among symbols at one address */
};

/* One mapped ELF file: libdwfl's module plus what libdwfl does not keep.
 * It hangs off the Dwfl_Module's userdata, so a module libdwfl keeps across
 * a refresh keeps it too. */
struct lmodule {
	struct symbolizer *s;
	Dwfl_Module *mod;
	const char *path;	/* interned, as mapped, no " (deleted)" */
	const char *build_id;	/* interned hex, NULL if none */
	const char *ident;	/* cache key: build_id, else path@dev:ino */
	__u64 map_start, map_end;	/* one of its mappings, for map_files */
	dev_t dev;
	ino_t ino;
	bool deleted, vdso;
	bool probed;		/* ELF opened (or tried) and ident set */
	bool syms_loaded;
	struct msym *syms;	/* sorted by addr, one per address */
	size_t nsyms;
};

static void lmodule_free(struct lmodule *m)
{
	if (!m)
		return;
	free(m->syms);
	free(m);
}

struct lmap {
	__u64 start, end, offset;
	struct lmodule *m;
};

/* One line of /proc/PID/maps worth keeping (file-backed or the vDSO). */
struct rawmap {
	__u64 start, end, offset;
	const char *path;	/* into the maps text, not terminated */
	size_t path_len;
	dev_t dev;
	ino_t ino;
	bool exec, deleted, vdso;
};

struct ksym {
	__u64 addr;
	const char *name;	/* into ksyms_buf */
	__u32 order;		/* position in kallsyms */
	bool global;
};

struct symbolizer {
	pid_t pid;
	Dwfl *dwfl;
	char *maps;		/* last /proc/PID/maps text, to detect changes */
	size_t maps_len;
	struct lmap *lmaps;	/* sorted by start */
	size_t nlmaps, nmodules;
	struct strtab strs;
	struct strmap demangled;
	struct fcache cache;
	char *vdso_image;	/* copy of our own vDSO, shared by all */
	size_t vdso_len;
	struct ksyms *ksyms;	/* shared, a reference held */
	int ksyms_err;		/* -errno of the one attempt to get it */
	bool ksyms_tried;
	struct symbolizer_stats st;
};

/* ---- C++ demangling through libstdc++, loaded at run time ---- */

typedef char *(*demangle_fn)(const char *mangled, char *buf, size_t *len,
			     int *status);
static demangle_fn cxa_demangle;
static pthread_once_t demangle_once = PTHREAD_ONCE_INIT;

static void demangle_load(void)
{
	/* Linking libstdc++ would put a C++ runtime into every loupe binary
	 * for one function; where it is missing names stay mangled.  The
	 * handle stays open for the process's lifetime on purpose. */
	void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);

	if (h)
		cxa_demangle = (demangle_fn)dlsym(h, "__cxa_demangle");
}

/* NAME demangled if it is an Itanium C++ name, interned. */
static const char *intern_name(struct symbolizer *s, const char *name)
{
	const char *mangled, *r;
	char *d;
	int status = -1;

	if (name[0] != '_' || name[1] != 'Z')
		return strtab_intern(&s->strs, name);
	mangled = strtab_intern(&s->strs, name);
	if (!mangled)
		return NULL;
	r = strmap_get(&s->demangled, mangled);
	if (r)
		return r;
	pthread_once(&demangle_once, demangle_load);
	if (!cxa_demangle)
		return mangled;
	d = cxa_demangle(name, NULL, NULL, &status);
	r = status == 0 && d ? strtab_intern(&s->strs, d) : mangled;
	free(d);
	if (r)
		strmap_put(&s->demangled, mangled, r);
	return r;
}

/* ---- opening a module's ELF ---- */

/* Opens PATH only if it is a regular file: maps also show device files
 * (GPU drivers map /dev/nvidia*), which must not be opened blindly. */
static int open_regular(const char *path, struct stat *st)
{
	int fd;

	if (stat(path, st) || !S_ISREG(st->st_mode))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool same_inode(const struct stat *st, const struct lmodule *m)
{
	return st->st_dev == m->dev && st->st_ino == m->ino;
}

/*
 * A read-only fd on the very file M maps, or -1.  The path is reached
 * through /proc/PID/root so a process in another mount namespace (a
 * container) gets its own file.  A file deleted or replaced since it was
 * mapped is reached through map_files (privileged) or, for the main
 * program, /proc/PID/exe.
 */
static int module_open(const struct lmodule *m)
{
	pid_t pid = m->s->pid;
	char p[PATH_MAX + 64];
	struct stat st;
	int fd, loose = -1;

	if (!m->deleted) {
		snprintf(p, sizeof(p), "/proc/%d/root%s", (int)pid, m->path);
		fd = open_regular(p, &st);
		if (fd >= 0) {
			if (same_inode(&st, m))
				return fd;
			/* On overlayfs maps show the lower file's device and
			 * inode while stat shows the overlay's: keep this one
			 * unless an exact match turns up below. */
			loose = fd;
		} else {
			/* The process may be gone with its /proc entry;
			 * our own view of the path is fine if it is the
			 * same inode. */
			fd = open_regular(m->path, &st);
			if (fd >= 0 && same_inode(&st, m))
				return fd;
			if (fd >= 0)
				close(fd);
		}
	}
	snprintf(p, sizeof(p), "/proc/%d/map_files/%llx-%llx", (int)pid,
		 (unsigned long long)m->map_start, (unsigned long long)m->map_end);
	fd = open_regular(p, &st);
	if (fd < 0) {
		snprintf(p, sizeof(p), "/proc/%d/exe", (int)pid);
		fd = open_regular(p, &st);
		if (fd >= 0 && !same_inode(&st, m)) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0)
		return loose;
	if (loose >= 0)
		close(loose);
	return fd;
}

/*
 * An Elf for the process's vDSO, SIZE bytes mapped.  The vDSO is the same
 * image in every 64-bit process of a kernel, so our own copy (found through
 * the auxiliary vector) serves, which needs no access to the target's
 * memory; a size mismatch means another image (a 32-bit process).
 */
static Elf *vdso_elf(struct symbolizer *s, __u64 size)
{
	const Elf64_Ehdr *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
	long page = sysconf(_SC_PAGESIZE);
	size_t len;

	if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64)
		return NULL;
	/* The section headers are the image's last part. */
	len = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
	if (page <= 0 || len > size || size - len >= (__u64)page)
		return NULL;
	if (!s->vdso_image) {
		s->vdso_image = malloc(len);
		if (!s->vdso_image)
			return NULL;
		memcpy(s->vdso_image, eh, len);
		s->vdso_len = len;
	}
	return elf_memory(s->vdso_image, s->vdso_len);
}

static int find_elf_cb(Dwfl_Module *mod, void **userdata, const char *modname,
		       Dwarf_Addr base, char **file_name, Elf **elfp)
{
	struct lmodule *m = *userdata;
	int fd;

	(void)mod;
	(void)modname;
	(void)base;
	if (!m)
		return -1;
	if (m->vdso) {
		*elfp = vdso_elf(m->s, m->map_end - m->map_start);
		return -1;
	}
	fd = module_open(m);
	if (fd < 0)
		return -1;
	/* The mapped path, not the /proc alias we opened: libdwfl looks for
	 * .gnu_debuglink files next to it and under /usr/lib/debug/<dir>. */
	*file_name = strdup(m->path);
	if (!*file_name) {
		close(fd);
		return -1;
	}
	return fd;
}

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = find_elf_cb,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* Opens M's ELF the first time an address in it is resolved and sets its
 * build-id and cache identity. */
static void module_probe(struct symbolizer *s, struct lmodule *m)
{
	const unsigned char *bits;
	char hex[2 * 64 + 1], *key;
	GElf_Addr vaddr;
	Dwarf_Addr bias;
	int n, i;

	m->probed = true;
	if (!dwfl_module_getelf(m->mod, &bias))
		return;		/* not cached: resolving it is cheap anyway */
	n = dwfl_module_build_id(m->mod, &bits, &vaddr);
	if (n > 0 && n <= 64) {
		for (i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x", bits[i]);
		m->build_id = strtab_intern(&s->strs, hex);
		m->ident = m->build_id;
		return;
	}
	if (asprintf(&key, "%s@%llx:%llu", m->path, (unsigned long long)m->dev,
		     (unsigned long long)m->ino) < 0)
		return;
	m->ident = strtab_intern(&s->strs, key);
	free(key);
}

/* ---- reading /proc/PID/maps and reporting modules ---- */

/* The whole of a /proc file, NUL-terminated; 0 or -errno. */
static int read_proc_file(const char *path, char **out, size_t *out_len)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = NULL, *nb;
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		if (cap - len < 4096) {
			nb = realloc(buf, cap * 2);
			if (!nb) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = 0;
	*out = buf;
	*out_len = len;
	buf = NULL;
cleanup:
	free(buf);
	close(fd);
	return err;
}

static int read_maps(pid_t pid, char **out, size_t *len)
{
	char path[64];
	int err;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	err = read_proc_file(path, out, len);
	/* A reaped process has no /proc entry; a zombie reads as empty but
	 * ESRCH shows up on some kernels when the mm is gone mid-read. */
	return err == -ENOENT ? -ESRCH : err;
}

/* Parses one maps line; false for lines that are neither file-backed nor
 * the vDSO. */
static bool parse_maps_line(const char *p, const char *eol, struct rawmap *r)
{
	unsigned long maj, min;
	char *q;

	r->start = strtoull(p, &q, 16);
	if (*q != '-')
		return false;
	r->end = strtoull(q + 1, &q, 16);
	if (*q != ' ' || eol - q < 6)
		return false;
	r->exec = q[3] == 'x';
	r->offset = strtoull(q + 6, &q, 16);
	maj = strtoul(q, &q, 16);
	if (*q != ':')
		return false;
	min = strtoul(q + 1, &q, 16);
	r->ino = strtoull(q, &q, 10);
	while (q < eol && *q == ' ')
		q++;
	if (q >= eol)
		return false;	/* anonymous */
	r->dev = makedev(maj, min);
	r->path = q;
	r->path_len = eol - q;
	r->vdso = r->path_len == 6 && !memcmp(q, "[vdso]", 6);
	if (!r->vdso && q[0] != '/')
		return false;	/* [heap], [stack], [vsyscall] ... */
	r->deleted = r->path_len > sizeof(DELETED_SUFFIX) - 1 &&
		     !memcmp(eol - (sizeof(DELETED_SUFFIX) - 1), DELETED_SUFFIX,
			     sizeof(DELETED_SUFFIX) - 1);
	if (r->deleted)
		r->path_len -= sizeof(DELETED_SUFFIX) - 1;
	return r->start < r->end;
}

static bool same_file(const struct rawmap *a, const struct rawmap *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->path_len == b->path_len &&
	       a->deleted == b->deleted && !memcmp(a->path, b->path, a->path_len);
}

static int module_removed_cb(Dwfl_Module *mod, void *userdata,
			     const char *name, Dwarf_Addr base, void *arg)
{
	(void)mod;
	(void)name;
	(void)base;
	(void)arg;
	/* libdwfl passes the address of the module's userdata slot
	 * (MODCB_ARGS), not the userdata itself. */
	lmodule_free(*(void **)userdata);
	*(void **)userdata = NULL;
	return DWARF_CB_OK;
}

/*
 * Reports the modules of V[0..n) (one run of mappings of one file) to
 * libdwfl and appends its mappings to LMAPS.  A module libdwfl already had
 * with the same name and range comes back with our lmodule on it.
 */
static int report_group(struct symbolizer *s, const struct rawmap *v, size_t n,
			struct lmap *lmaps, size_t *nlmaps)
{
	__u64 low = v[0].start >= v[0].offset ? v[0].start - v[0].offset : v[0].start;
	struct lmodule *m;
	Dwfl_Module *mod;
	void **slot;
	char *name;
	size_t i;

	/* The inode is in the name: a different file at the same path and
	 * address must not inherit the old module's ELF. */
	if (asprintf(&name, "%.*s%s@%llx:%llu", (int)v[0].path_len, v[0].path,
		     v[0].deleted ? DELETED_SUFFIX : "",
		     (unsigned long long)v[0].dev, (unsigned long long)v[0].ino) < 0)
		return -ENOMEM;
	/* libdwfl derives the load bias from the module's low address and
	 * the first PT_LOAD's p_vaddr: file offset 0 is where that lies. */
	mod = dwfl_report_module(s->dwfl, name, low, v[n - 1].end);
	free(name);
	if (!mod)
		return -ENOMEM;
	dwfl_module_info(mod, &slot, NULL, NULL, NULL, NULL, NULL, NULL);
	m = *slot;
	if (!m) {
		m = calloc(1, sizeof(*m));
		if (!m)
			return -ENOMEM;
		m->s = s;
		m->mod = mod;
		m->path = strtab_intern_n(&s->strs, v[0].path, v[0].path_len);
		if (!m->path) {
			free(m);
			return -ENOMEM;
		}
		m->map_start = v[0].start;
		m->map_end = v[0].end;
		m->dev = v[0].dev;
		m->ino = v[0].ino;
		m->deleted = v[0].deleted;
		m->vdso = v[0].vdso;
		*slot = m;
	}
	for (i = 0; i < n; i++) {
		lmaps[*nlmaps].start = v[i].start;
		lmaps[*nlmaps].end = v[i].end;
		lmaps[*nlmaps].offset = v[i].offset;
		lmaps[*nlmaps].m = m;
		(*nlmaps)++;
	}
	s->nmodules++;
	return 0;
}

/* Replaces the reported modules with those of maps text TEXT. */
static int maps_report(struct symbolizer *s, const char *text, size_t len)
{
	const char *p = text, *end = text + len, *eol;
	struct rawmap *raw = NULL;
	struct lmap *lmaps = NULL;
	size_t nlines = 1, nraw = 0, nlmaps = 0, i, j;
	bool exec;
	int err = 0;

	for (i = 0; i < len; i++)
		nlines += text[i] == '\n';
	raw = malloc(nlines * sizeof(*raw));
	lmaps = malloc(nlines * sizeof(*lmaps));
	if (!raw || !lmaps) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', end - p);
		if (!eol)
			eol = end;
		if (parse_maps_line(p, eol, &raw[nraw]))
			nraw++;
	}

	dwfl_report_begin(s->dwfl);
	s->nmodules = 0;
	/* A module is a run of mappings of one file (anonymous ones such as
	 * .bss in between do not break it) with at least one executable
	 * mapping; data-only files (model weights, locale archives) are not
	 * worth an ELF parse. */
	for (i = 0; i < nraw && !err; i = j) {
		exec = raw[i].exec;
		for (j = i + 1; j < nraw && same_file(&raw[j], &raw[j - 1]) &&
				raw[j].offset >= raw[j - 1].offset;
		     j++)
			exec |= raw[j].exec;
		if (exec)
			err = report_group(s, raw + i, j - i, lmaps, &nlmaps);
	}
	/* Even after a failure: libdwfl is unusable until the report ends,
	 * and LMAPS describes exactly what was reported. */
	dwfl_report_end(s->dwfl, module_removed_cb, NULL);
	free(s->lmaps);
	s->lmaps = lmaps;
	s->nlmaps = nlmaps;
	lmaps = NULL;
	s->st.refreshes++;
cleanup:
	free(raw);
	free(lmaps);
	return err;
}

static const struct lmap *lmap_find(const struct symbolizer *s, __u64 addr)
{
	size_t lo = 0, hi = s->nlmaps, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (addr < s->lmaps[mid].start)
			hi = mid;
		else if (addr >= s->lmaps[mid].end)
			lo = mid + 1;
		else
			return &s->lmaps[mid];
	}
	return NULL;
}

/* ---- lifecycle ---- */

struct symbolizer *symbolizer_new(pid_t pid)
{
	struct symbolizer *s;
	int err;

	if (pid <= 0) {
		errno = EINVAL;
		return NULL;
	}
	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = ENOSYS;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->pid = pid;
	s->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!s->dwfl) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = symbolizer_refresh(s);
	if (!err)
		return s;
cleanup:
	symbolizer_free(s);
	errno = -err;
	return NULL;
}

int symbolizer_refresh(struct symbolizer *s)
{
	size_t len;
	char *text;
	int err;

	if (!s)
		return -EINVAL;
	err = read_maps(s->pid, &text, &len);
	if (err)
		return err;
	if (s->maps && len == s->maps_len && !memcmp(text, s->maps, len)) {
		free(text);
		return 0;
	}
	err = maps_report(s, text, len);
	free(s->maps);
	/* After a failure the next refresh must report again. */
	s->maps = err ? NULL : text;
	s->maps_len = err ? 0 : len;
	if (err)
		free(text);
	return err;
}

static int free_module_cb(Dwfl_Module *mod, void **userdata, const char *name,
			  Dwarf_Addr base, void *arg)
{
	(void)mod;
	(void)name;
	(void)base;
	(void)arg;
	lmodule_free(*userdata);
	*userdata = NULL;
	return DWARF_CB_OK;
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	if (s->dwfl) {
		dwfl_getmodules(s->dwfl, free_module_cb, NULL, 0);
		dwfl_end(s->dwfl);
	}
	/* After dwfl_end: the vDSO's Elf pointed into this image. */
	free(s->vdso_image);
	free(s->maps);
	free(s->lmaps);
	ksyms_put(s->ksyms);
	fcache_release(&s->cache);
	strmap_release(&s->demangled);
	strtab_release(&s->strs);
	free(s);
}

void symbolizer_stats(const struct symbolizer *s, struct symbolizer_stats *st)
{
	*st = s->st;
	st->modules = s->nmodules;
	st->strings = s->strs.len;
}

/* ---- ELF symbols ---- */

static int msym_cmp(const void *a, const void *b)
{
	const struct msym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->rank > y->rank ? -1 : x->rank < y->rank;
}

/* The run-time end of section SHNDX of ELF, or 0. */
static __u64 section_end(Elf *elf, GElf_Word shndx, Dwarf_Addr bias)
{
	Elf_Scn *scn = elf_getscn(elf, shndx);
	GElf_Shdr sh;

	if (!scn || !gelf_getshdr(scn, &sh))
		return 0;
	return sh.sh_addr + sh.sh_size + bias;
}

/*
 * Sorts M's function symbols (.symtab, else .dynsym, plus .gnu_debugdata)
 * once.  dwfl_module_addrinfo() scans the whole table on every call, which
 * made a cold pass over libc's text 10x slower than the DWARF path.
 * Failure leaves the module without symbols.
 */
static void module_load_syms(struct lmodule *m)
{
	struct msym *v;
	size_t n = 0, i, k;
	int count;

	m->syms_loaded = true;
	count = dwfl_module_getsymtab(m->mod);
	if (count <= 1)
		return;
	v = malloc(count * sizeof(*v));
	if (!v)
		return;
	for (i = 1; i < (size_t)count; i++) {
		GElf_Word shndx;
		Dwarf_Addr bias;
		GElf_Addr addr;
		GElf_Sym sym;
		const char *name;
		Elf *elf;
		int type, bind;

		name = dwfl_module_getsym_info(m->mod, (int)i, &sym, &addr,
					       &shndx, &elf, &bias);
		type = GELF_ST_TYPE(sym.st_info);
		bind = GELF_ST_BIND(sym.st_info);
		if (!name || !*name || shndx == SHN_UNDEF || shndx == SHN_ABS ||
		    (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE))
			continue;
		v[n].addr = addr;
		v[n].name = name;
		/* sized before sizeless, global before weak before local */
		v[n].rank = (sym.st_size ? 4 : 0) +
			    (bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0);
		if (sym.st_size) {
			v[n].end = addr + sym.st_size;
		} else {
			/* Reaches at most to the next symbol (below) and
			 * never past its section: _init must not swallow
			 * the PLT that follows it. */
			v[n].end = section_end(elf, shndx, bias);
			if (v[n].end <= addr)
				continue;
		}
		/* NOTYPE is for assembler labels in code only. */
		if (type == STT_NOTYPE) {
			Elf_Scn *scn = elf_getscn(elf, shndx);
			GElf_Shdr sh;

			if (!scn || !gelf_getshdr(scn, &sh) ||
			    !(sh.sh_flags & SHF_EXECINSTR))
				continue;
		}
		n++;
	}
	qsort(v, n, sizeof(*v), msym_cmp);
	for (i = 0, k = 0; i < n; i++) {
		if (k && v[k - 1].addr == v[i].addr)
			continue;	/* an alias ranked lower */
		v[k++] = v[i];
	}
	for (i = 0; i + 1 < k; i++) {
		if (!(v[i].rank & 4) && v[i].end > v[i + 1].addr)
			v[i].end = v[i + 1].addr;
	}
	m->syms = v;
	m->nsyms = k;
}

/* The name of M's function symbol holding ADDR, or NULL. */
static const char *module_symbol(struct lmodule *m, __u64 addr)
{
	size_t lo = 0, hi, j, stop;

	if (!m->syms_loaded)
		module_load_syms(m);
	hi = m->nsyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* The closest symbol below, or one a few before that encloses it
	 * (a local label inside a sized function). */
	stop = lo > 8 ? lo - 8 : 0;
	for (j = lo; j > stop; j--) {
		if (addr < m->syms[j - 1].end)
			return m->syms[j - 1].name;
	}
	return NULL;
}

/* ---- user-space resolution ---- */

static bool is_function_scope(int tag)
{
	return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine;
}

/*
 * The child of PARENT whose address range holds PC.  Namespaces carry no
 * addresses but GCC nests function definitions in them, so they are
 * searched through; scopes not holding PC are skipped whole, which keeps
 * the walk far below the size of the CU.
 */
static bool scope_child(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *out,
			int depth)
{
	Dwarf_Die child;

	if (dwarf_child(parent, &child) != 0)
		return false;
	do {
		switch (dwarf_tag(&child)) {
		case DW_TAG_subprogram:
		case DW_TAG_inlined_subroutine:
		case DW_TAG_lexical_block:
		case DW_TAG_try_block:
		case DW_TAG_catch_block:
			if (dwarf_haspc(&child, pc) == 1) {
				*out = child;
				return true;
			}
			break;
		case DW_TAG_namespace:
			if (depth < SYM_MAX_NS_DEPTH &&
			    scope_child(&child, pc, out, depth + 1))
				return true;
			break;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return false;
}

/* A function DIE's name, through abstract_origin and specification: the
 * linkage name (mangled, to demangle into the full qualified name) where
 * there is one, else the plain name with *LINKAGE false. */
static const char *die_function_name(Dwarf_Die *die, bool *linkage)
{
	Dwarf_Attribute a;
	const char *name;

	*linkage = true;
	name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
	if (name)
		return name;
	*linkage = false;
	return dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
}

/*
 * Frames from the DWARF scopes around ADDR in CU: the innermost function
 * scope gets the line table's file:line for ADDR, each outer one the call
 * site recorded on the inlined_subroutine it contains.  0 when no function
 * scope holds ADDR (assembly with line info only), -ENOMEM.
 */
static int resolve_dwarf(struct symbolizer *s, struct lmodule *m, Dwarf_Die *cu,
			 Dwarf_Addr bias, __u64 addr, struct cframe *fr, int max)
{
	Dwfl_Module *mod = m->mod;
	Dwarf_Die scopes[SYM_MAX_FRAMES * 2], cur = *cu;
	int nscopes = 0, n = 0, i, line = 0, skip = 0;
	Dwarf_Files *files = NULL;
	const char *name, *file;
	Dwarf_Attribute a;
	Dwfl_Line *dl;
	Dwarf_Word w;
	size_t nfiles;
	bool linkage;

	/* Outermost first; a chain too deep for the array loses its inner
	 * end, which keeps the real function. */
	while (nscopes < (int)(sizeof(scopes) / sizeof(scopes[0])) &&
	       scope_child(&cur, addr - bias, &scopes[nscopes], 0))
		cur = scopes[nscopes++];

	dl = dwfl_module_getsrc(mod, addr);
	file = dl ? dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL) : NULL;
	if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
		files = NULL;

	/* More inlined frames than MAX: the innermost ones are dropped. */
	for (i = nscopes - 1; i >= 0; i--) {
		int tag = dwarf_tag(&scopes[i]);

		skip += is_function_scope(tag);
		if (tag == DW_TAG_subprogram)
			break;
	}
	skip = skip > max ? skip - max : 0;

	for (i = nscopes - 1; i >= 0 && n < max; i--) {
		int tag = dwarf_tag(&scopes[i]);

		if (!is_function_scope(tag))
			continue;
		if (skip) {
			skip--;
		} else {
			name = die_function_name(&scopes[i], &linkage);
			if (!linkage && tag == DW_TAG_subprogram) {
				/* GCC gives functions in anonymous namespaces
				 * no linkage name, and the bare name loses
				 * the namespaces; the ELF symbol has them. */
				const char *sym = module_symbol(m, addr);

				if (sym && sym[0] == '_' && sym[1] == 'Z')
					name = sym;
			}
			fr[n].function = intern_name(s, name ? name : SYM_UNKNOWN);
			fr[n].file = file ? strtab_intern(&s->strs, file) : NULL;
			if (!fr[n].function || (file && !fr[n].file))
				return -ENOMEM;
			fr[n].line = line > 0 ? (__u32)line : 0;
			fr[n].inlined = tag == DW_TAG_inlined_subroutine;
			n++;
		}
		if (tag == DW_TAG_subprogram)
			break;
		/* The next outer frame is at this instance's call site. */
		file = NULL;
		line = 0;
		if (files && dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &a), &w) == 0)
			file = dwarf_filesrc(files, w, NULL, NULL);
		if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &a), &w) == 0)
			line = (int)w;
	}
	return n;
}

/* Frames for ADDR in module M into FR[0..max); >= 1 or -ENOMEM. */
static int resolve(struct symbolizer *s, struct lmodule *m, __u64 addr,
		   struct cframe *fr, int max)
{
	const char *name, *file = NULL;
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu;
	Dwfl_Line *dl;
	int n = 0, line = 0;

	cu = dwfl_module_addrdie(m->mod, addr, &bias);
	if (cu) {
		n = resolve_dwarf(s, m, cu, bias, addr, fr, max);
		if (n)
			return n;
	}
	/* No debug info (a distribution's libc): the ELF symbol table,
	 * .symtab or else .dynsym. */
	name = module_symbol(m, addr);
	fr[0].function = name ? intern_name(s, name) : SYM_UNKNOWN;
	if (cu && (dl = dwfl_module_getsrc(m->mod, addr)))
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);
	fr[0].file = file ? strtab_intern(&s->strs, file) : NULL;
	if (!fr[0].function || (file && !fr[0].file))
		return -ENOMEM;
	fr[0].line = line > 0 ? (__u32)line : 0;
	fr[0].inlined = false;
	return 1;
}

static void frame_unknown(struct sym_frame *f, __u64 addr)
{
	f->function = SYM_UNKNOWN;
	f->file = NULL;
	f->line = 0;
	f->module = NULL;
	f->module_offset = addr;
	f->build_id = NULL;
	f->inlined = false;
}

int symbolizer_user(struct symbolizer *s, __u64 addr, struct sym_frame *out,
		    int max)
{
	struct cframe tmp[SYM_MAX_FRAMES];
	const struct cframe *fr;
	const struct centry *e;
	const struct lmap *map;
	struct lmodule *m;
	int n, skip, i;
	__u64 off;

	if (!s || !out || max <= 0)
		return -EINVAL;
	s->st.lookups++;
	map = lmap_find(s, addr);
	if (!map) {
		frame_unknown(out, addr);
		return 1;
	}
	m = map->m;
	off = addr - map->start + map->offset;
	if (!m->probed)
		module_probe(s, m);
	e = m->ident ? fcache_find(&s->cache, m->ident, off) : NULL;
	if (e) {
		s->st.cache_hits++;
		fr = s->cache.frames + e->first;
		n = (int)e->n;
	} else {
		n = resolve(s, m, addr, tmp, SYM_MAX_FRAMES);
		if (n < 0)
			return n;
		/* A full cache only costs speed. */
		if (m->ident)
			fcache_add(&s->cache, m->ident, off, tmp, n);
		fr = tmp;
	}
	skip = n > max ? n - max : 0;
	for (i = skip; i < n; i++) {
		struct sym_frame *f = &out[i - skip];

		f->function = fr[i].function;
		f->file = fr[i].file;
		f->line = fr[i].line;
		f->inlined = fr[i].inlined;
		/* Not cached: the same build-id may be mapped from two paths. */
		f->module = m->path;
		f->module_offset = off;
		f->build_id = m->build_id;
	}
	return n - skip;
}

/* ---- kernel ---- */

/*
 * /proc/kallsyms is ~10 MB to read and parse; one copy serves every
 * symbolizer of the process (a recording of eight worker processes must not
 * hold eight).  It is read when first needed and freed with the last
 * symbolizer holding it, so a later one sees modules and BPF programs
 * loaded since.
 */
struct ksyms {
	char *buf;		/* the file's text, names NUL-terminated */
	struct ksym *v;		/* text symbols by address */
	size_t n;
	bool zero;		/* kptr_restrict hid every address */
	int refs;
};

static pthread_mutex_t ksyms_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ksyms *ksyms_shared;

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* Aliases: global names before local ones, then kallsyms order. */
	if (x->global != y->global)
		return x->global ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void ksyms_destroy(struct ksyms *k)
{
	if (!k)
		return;
	free(k->v);
	free(k->buf);
	free(k);
}

/* Reads and sorts the text symbols of /proc/kallsyms; NULL and errno. */
static struct ksyms *ksyms_load(void)
{
	char *p, *end, *eol, *name, *q;
	size_t len, cap = 0;
	struct ksym *nv;
	struct ksyms *k;
	bool nonzero = false;
	char type;
	int err;

	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	err = read_proc_file("/proc/kallsyms", &k->buf, &len);
	if (err)
		goto cleanup;
	for (p = k->buf, end = p + len; p < end; p = eol + 1) {
		__u64 addr;

		eol = memchr(p, '\n', end - p);
		if (!eol)
			eol = end;
		*eol = 0;
		/* "ffffffff81000000 T _stext" or "... t name\t[module]" */
		addr = strtoull(p, &q, 16);
		if (q == p || q[0] != ' ' || !q[1] || q[2] != ' ')
			continue;
		type = q[1];
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		name = q + 3;
		name[strcspn(name, "\t ")] = 0;
		if (k->n == cap) {
			cap = cap ? cap * 2 : 65536;
			nv = realloc(k->v, cap * sizeof(*nv));
			if (!nv) {
				err = -ENOMEM;
				goto cleanup;
			}
			k->v = nv;
		}
		k->v[k->n].addr = addr;
		k->v[k->n].name = name;
		k->v[k->n].order = (__u32)k->n;
		k->v[k->n].global = type == 'T' || type == 'W';
		nonzero |= addr != 0;
		k->n++;
	}
	qsort(k->v, k->n, sizeof(*k->v), ksym_cmp);
	k->zero = !nonzero;
	return k;
cleanup:
	ksyms_destroy(k);
	errno = -err;
	return NULL;
}

/* The shared table, a reference taken; 0 or -errno. */
static int ksyms_get(struct ksyms **out)
{
	int err = 0;

	pthread_mutex_lock(&ksyms_lock);
	if (!ksyms_shared)
		ksyms_shared = ksyms_load();
	if (ksyms_shared) {
		ksyms_shared->refs++;
		*out = ksyms_shared;
	} else {
		err = -errno;
	}
	pthread_mutex_unlock(&ksyms_lock);
	return err;
}

static void ksyms_put(struct ksyms *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&ksyms_lock);
	if (--k->refs == 0) {
		ksyms_shared = NULL;
		ksyms_destroy(k);
	}
	pthread_mutex_unlock(&ksyms_lock);
}

int symbolizer_kernel(struct symbolizer *s, __u64 addr, struct sym_frame *out)
{
	const struct ksyms *k;
	size_t lo = 0, hi, mid;

	if (!s || !out)
		return -EINVAL;
	/* One attempt per symbolizer: a failure is not retried per frame. */
	if (!s->ksyms_tried) {
		s->ksyms_tried = true;
		s->ksyms_err = ksyms_get(&s->ksyms);
	}
	if (s->ksyms_err)
		return s->ksyms_err;
	k = s->ksyms;
	frame_unknown(out, addr);
	out->module = SYM_KERNEL;
	if (k->zero)
		return 1;
	/* The first symbol above ADDR; the one before it holds ADDR. */
	hi = k->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (k->v[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 1;
	lo--;
	/* Back to the preferred alias at that address. */
	while (lo > 0 && k->v[lo - 1].addr == k->v[lo].addr)
		lo--;
	out->function = k->v[lo].name;
	return 1;
}
