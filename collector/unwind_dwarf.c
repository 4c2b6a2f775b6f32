// SPDX-License-Identifier: MIT
/*
 * DWARF unwinding of copied user stacks through libunwind's remote
 * interface (the design of perf's unwind-libunwind-local.c).
 *
 * libunwind asks us, through unw_accessors_t, for three things:
 *  - registers: served from the sample's registers (access_reg);
 *  - memory: served from the stack copy, or from the ELF file behind a
 *    read-only file mapping, at file offset addr - start + pgoff
 *    (access_mem);
 *  - the unwind table covering an address (find_proc_info): we describe
 *    the ELF's .eh_frame_hdr search table, at its run-time address, and
 *    let dwarf_search_unwind_table() binary-search it through access_mem.
 *
 * Stepping a frame is libunwind's unw_apply_reg_state() with the register
 * rules of the row of CFI covering its address.  We cache those rules per
 * address ourselves (unw_reg_states_iterate() produces them on a miss)
 * instead of using unw_step(): libunwind's own cache takes a lock that
 * blocks signals, two sigprocmask() calls per frame, which cost more than
 * the rest of the unwinding together.
 *
 * .debug_frame has no run-time address and a slightly different format,
 * and libunwind's x86-64 builds (without --enable-debug-frame, e.g.
 * Debian's) do not export its .debug_frame reader.  So we rewrite
 * .debug_frame once per ELF into an .eh_frame-style blob with a search
 * table in front, and place it at a synthetic address with bit 63 set
 * (never a user-space address), where access_mem serves it like any
 * other memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <libunwind-x86_64.h>
#include <zlib.h>
#include <zstd.h>

#include "analyzer/array.h"
#include "collector/unwind_dwarf.h"

/* Exported by libunwind but missing from its public headers; perf
 * declares it the same way. */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as,
					      unw_word_t ip,
					      unw_dyn_info_t *di,
					      unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

/* Pointer encodings (DW_EH_PE_*) used by .eh_frame_hdr. */
#define EH_PE_OMIT 0xff
#define EH_PE_FORMAT_MASK 0x0f
#define EH_PE_ABSPTR 0x00
#define EH_PE_ULEB128 0x01
#define EH_PE_UDATA2 0x02
#define EH_PE_UDATA4 0x03
#define EH_PE_UDATA8 0x04
#define EH_PE_SLEB128 0x09
#define EH_PE_SDATA2 0x0a
#define EH_PE_SDATA4 0x0b
#define EH_PE_SDATA8 0x0c
#define EH_PE_DATAREL 0x30

/* glibc's elf.h lacks it before 2.37 */
#define LOUPE_ELFCOMPRESS_ZSTD 2

/* Synthetic addresses of the rewritten .debug_frame blobs: bit 63, the
 * ELF's id in bits 32..62, the offset in the blob in bits 0..31. */
#define SYNTH_BIT (1ull << 63)
#define SYNTH_BASE(id) (SYNTH_BIT | ((__u64)(id) << 32))

#define RULE_SLOTS_LOG 11	/* 2048 cached rules per process */

struct elf_file {
	struct elf_file *next;
	dev_t dev;
	ino_t ino;
	bool vdso;		/* our own copy of the kernel's vDSO image */
	bool used;		/* mapped as of the last refresh */
	bool usable;		/* an x86-64 ELF we could read */
	unsigned int id;	/* names its synthetic address range */
	unsigned char *image;	/* the whole file */
	size_t size;
	bool image_mapped;	/* munmap (else free) IMAGE */
	Elf *elf;
	GElf_Phdr *loads;	/* the PT_LOAD headers */
	size_t nloads;
	__u64 lo_vaddr, hi_vaddr;	/* span of the PT_LOADs */
	/* .eh_frame_hdr's binary-search table */
	bool has_hdr;
	__u64 hdr_vaddr, table_vaddr, fde_count;
	/* .debug_frame rewritten by dbg_build(): 0 not tried, 1 ready, -1 none */
	int dbg_state;
	unsigned char *dbg;
	size_t dbg_size, dbg_nent;
	__u64 dbg_bias;		/* the load bias its addresses include */
};

struct map {
	__u64 start, end, pgoff;
	dev_t dev;
	ino_t ino;
	bool r, w, x, deleted, vdso;
	size_t path_off, path_len;	/* in the unwinder's maps_text */
	struct elf_file *elf;	/* NULL: no ELF file behind it */
	__u64 bias;		/* run-time address - ELF vaddr */
};

/* How to step one frame, cached per lookup address (direct-mapped). */
struct rule {
	__u64 ip;		/* the lookup address, valid when USED */
	bool used;
	bool signal;		/* a signal trampoline: its caller is the
				 * interrupted code, whose ip is where it
				 * resumes, not a return address */
	void *rs;		/* libunwind's rules for the row holding ip;
				 * NULL when no CFI covers it */
};

struct unwinder {
	pid_t pid;
	unw_addr_space_t as;
	struct rule *rules;	/* 1 << RULE_SLOTS_LOG slots */
	struct map *maps;	/* sorted by address, as the kernel lists them */
	size_t nmaps;
	char *maps_text;	/* /proc/PID/maps as last read */
	size_t maps_len;
	struct elf_file *elfs;
	unsigned int next_id;
	dev_t exe_dev;
	ino_t exe_ino;
	bool exe_known;
};

/* What the accessors see of one unwinding (libunwind's "arg"). */
struct unwind_ctx {
	struct unwinder *u;
	struct unwind_regs regs;	/* where libunwind's cursor starts */
	const unsigned char *stack;
	__u64 stack_lo, stack_hi;
	const struct map *last;		/* reads cluster: try this one first */
};

/* ---- little-endian readers over a bounded buffer ---- */

struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static __u64 rd_uint(struct rd *r, unsigned int n)
{
	__u64 v = 0;
	unsigned int i;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return 0;
	}
	for (i = 0; i < n; i++)
		v |= (__u64)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

static __u64 rd_uleb(struct rd *r)
{
	__u64 v = 0;
	unsigned int shift = 0;

	while (!r->bad) {
		unsigned char b;

		if (r->p >= r->end) {
			r->bad = true;
			break;
		}
		b = *r->p++;
		if (shift < 64)
			v |= (__u64)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	return v;
}

static __s64 rd_sleb(struct rd *r)
{
	__u64 v = 0;
	unsigned int shift = 0;
	unsigned char b = 0;

	while (!r->bad) {
		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		b = *r->p++;
		if (shift < 64)
			v |= (__u64)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	if (shift < 64 && (b & 0x40))
		v |= ~0ull << shift;
	return (__s64)v;
}

static const char *rd_str(struct rd *r)
{
	const unsigned char *s = r->p;

	while (!r->bad && r->p < r->end && *r->p)
		r->p++;
	if (r->bad || r->p >= r->end) {
		r->bad = true;
		return "";
	}
	r->p++;
	return (const char *)s;
}

/* Reads a value in pointer encoding ENC; only the absolute forms (the
 * application part is ignored by the callers, which want counts or just
 * to skip the field). */
static __u64 rd_encoded(struct rd *r, unsigned int enc)
{
	switch (enc & EH_PE_FORMAT_MASK) {
	case EH_PE_ABSPTR:
	case EH_PE_UDATA8:
	case EH_PE_SDATA8:
		return rd_uint(r, 8);
	case EH_PE_UDATA4:
		return rd_uint(r, 4);
	case EH_PE_SDATA4:
		return (__u64)(__s64)(int32_t)rd_uint(r, 4);
	case EH_PE_UDATA2:
		return rd_uint(r, 2);
	case EH_PE_SDATA2:
		return (__u64)(__s64)(int16_t)rd_uint(r, 2);
	case EH_PE_ULEB128:
		return rd_uleb(r);
	case EH_PE_SLEB128:
		return (__u64)rd_sleb(r);
	default:
		r->bad = true;
		return 0;
	}
}

/* ---- a growable output buffer ---- */

struct wbuf {
	unsigned char *p;
	size_t len, cap;
	bool bad;
};

static void wbuf_put(struct wbuf *w, const void *src, size_t n)
{
	if (w->bad)
		return;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 4096;
		unsigned char *p;

		while (cap - w->len < n) {
			if (cap > SIZE_MAX / 2) {
				w->bad = true;
				return;
			}
			cap *= 2;
		}
		p = realloc(w->p, cap);
		if (!p) {
			w->bad = true;
			return;
		}
		w->p = p;
		w->cap = cap;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void wbuf_uint(struct wbuf *w, __u64 v, unsigned int n)
{
	unsigned char b[8];
	unsigned int i;

	for (i = 0; i < n; i++)
		b[i] = v >> (8 * i);
	wbuf_put(w, b, n);
}

static void wbuf_uleb(struct wbuf *w, __u64 v)
{
	do {
		unsigned char b = v & 0x7f;

		v >>= 7;
		if (v)
			b |= 0x80;
		wbuf_put(w, &b, 1);
	} while (v);
}

static void wbuf_sleb(struct wbuf *w, __s64 v)
{
	bool more = true;

	while (more) {
		unsigned char b = v & 0x7f;

		v >>= 7;	/* arithmetic shift: gcc defines it so */
		if ((v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40)))
			more = false;
		else
			b |= 0x80;
		wbuf_put(w, &b, 1);
	}
}

static void wbuf_patch32(struct wbuf *w, size_t at, __u32 v)
{
	unsigned int i;

	if (w->bad)
		return;
	for (i = 0; i < 4; i++)
		w->p[at + i] = v >> (8 * i);
}

/* ---- .debug_frame rewriting ---- */

struct dbg_cie {
	size_t off;		/* of the record in .debug_frame */
	bool ok;		/* a form we can rewrite */
	__u64 code_align, ra;
	__s64 data_align;
	const unsigned char *ins;
	size_t ins_len;
	long out;		/* its offset in the blob, -1 until written */
};

struct dbg_fde {
	__u64 start, range;
	size_t cie;		/* index into the CIE array */
	const unsigned char *ins;
	size_t ins_len;
};

/* One CIE or FDE record of .debug_frame: its offset, its CIE id / CIE
 * pointer, and a reader over the rest of its body. */
struct dbg_rec {
	size_t off;
	bool is_cie;
	__u64 id;
	struct rd body;
};

/* Steps over the record at *OFF; false at the end or on a malformed
 * length (everything after it is unreachable anyway). */
static bool dbg_next(const unsigned char *d, size_t n, size_t *off,
		     struct dbg_rec *rec)
{
	struct rd r = { d + *off, d + n, false };
	__u64 len;
	unsigned int idsize = 4;

	if (*off >= n)
		return false;
	len = rd_uint(&r, 4);
	if (len == 0xffffffff) {
		len = rd_uint(&r, 8);
		idsize = 8;
	} else if (len >= 0xfffffff0) {
		return false;
	}
	if (r.bad || len > (size_t)(r.end - r.p) || len < idsize)
		return false;
	rec->off = *off;
	*off = (size_t)(r.p - d) + len;
	r.end = r.p + len;
	rec->id = rd_uint(&r, idsize);
	rec->is_cie = rec->id == (idsize == 4 ? 0xffffffffull : ~0ull);
	rec->body = r;
	return true;
}

static void dbg_parse_cie(struct dbg_rec *rec, struct dbg_cie *c)
{
	struct rd *r = &rec->body;
	unsigned int version, addr_size = 8, seg_size = 0;
	const char *aug;

	memset(c, 0, sizeof(*c));
	c->off = rec->off;
	c->out = -1;
	version = rd_uint(r, 1);
	aug = rd_str(r);
	if (version == 4) {
		addr_size = rd_uint(r, 1);
		seg_size = rd_uint(r, 1);
	}
	c->code_align = rd_uleb(r);
	c->data_align = rd_sleb(r);
	c->ra = version == 1 ? rd_uint(r, 1) : rd_uleb(r);
	c->ins = r->p;
	c->ins_len = r->end - r->p;
	/* Augmentations are an .eh_frame thing; compilers emit none here. */
	c->ok = !r->bad && (version == 1 || version == 3 || version == 4) &&
		!*aug && addr_size == 8 && seg_size == 0;
}

static int dbg_cmp_fde(const void *a, const void *b)
{
	const struct dbg_fde *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static long dbg_find_cie(const struct dbg_cie *v, size_t n, __u64 off)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].off == off)
			return mid;
		if (v[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Whether [start, start+range) lies in one executable PT_LOAD. */
static bool elf_covers_code(const struct elf_file *ef, __u64 start,
			    __u64 range)
{
	size_t i;

	for (i = 0; i < ef->nloads; i++) {
		const GElf_Phdr *ph = &ef->loads[i];

		if ((ph->p_flags & PF_X) && start >= ph->p_vaddr &&
		    start - ph->p_vaddr < ph->p_memsz &&
		    range <= ph->p_memsz - (start - ph->p_vaddr))
			return true;
	}
	return false;
}

static Elf_Scn *elf_section_find(Elf *elf, const char *want, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, sh) || sh->sh_type == SHT_NOBITS)
			continue;
		name = elf_strptr(elf, shstrndx, sh->sh_name);
		if (name && !strcmp(name, want))
			return scn;
	}
	return NULL;
}

/*
 * The contents of section SCN: in the image, or when compressed (-gz) in
 * *OWNED, which the caller frees.  libelf's elf_compress() is not used:
 * it rewrites the section header, which lies in our read-only image.
 * 0 or -errno.
 */
static int elf_section_bytes(Elf_Scn *scn, const GElf_Shdr *sh,
			     const unsigned char **p, size_t *n,
			     unsigned char **owned)
{
	Elf_Data *d = elf_rawdata(scn, NULL);
	const unsigned char *src;
	Elf64_Chdr ch;
	size_t srclen;
	unsigned char *buf;
	int err = 0;

	*owned = NULL;
	if (!d || !d->d_buf || !d->d_size)
		return -ENOENT;
	if (!(sh->sh_flags & SHF_COMPRESSED)) {
		*p = d->d_buf;
		*n = d->d_size;
		return 0;
	}
	if (d->d_size < sizeof(ch))
		return -EINVAL;
	memcpy(&ch, d->d_buf, sizeof(ch));
	src = (const unsigned char *)d->d_buf + sizeof(ch);
	srclen = d->d_size - sizeof(ch);
	/* CFI of even the largest libraries is tens of MiB */
	if (!ch.ch_size || ch.ch_size > (1u << 30))
		return -EINVAL;
	buf = malloc(ch.ch_size);
	if (!buf)
		return -ENOMEM;
	if (ch.ch_type == ELFCOMPRESS_ZLIB) {
		uLongf len = ch.ch_size;

		if (uncompress(buf, &len, src, srclen) != Z_OK ||
		    len != ch.ch_size)
			err = -EINVAL;
	} else if (ch.ch_type == LOUPE_ELFCOMPRESS_ZSTD) {
		size_t len = ZSTD_decompress(buf, ch.ch_size, src, srclen);

		if (ZSTD_isError(len) || len != ch.ch_size)
			err = -EINVAL;
	} else {
		err = -EOPNOTSUPP;
	}
	if (err) {
		free(buf);
		return err;
	}
	*p = buf;
	*n = ch.ch_size;
	*owned = buf;
	return 0;
}

/*
 * Rewrites .debug_frame into an .eh_frame-style blob that libunwind's
 * remote table search can read through access_mem:
 *
 *   [search table: nent x (s32 ip - lo_vaddr, s32 FDE offset in blob)]
 *   [CIE records: id 0, version 1 or 3, no augmentation]
 *   [FDE records: pc-relative CIE pointer, absolute udata8 addresses]
 *
 * Without augmentation libunwind reads FDE addresses as udata8, so they
 * must be run-time addresses: the blob is built for one load bias.
 * Returns 0 or -errno (-ENOENT: no usable .debug_frame).
 */
static int dbg_build(struct elf_file *ef, __u64 bias)
{
	struct dbg_cie *cies = NULL;
	struct dbg_fde *fdes = NULL;
	size_t ncie = 0, ccap = 0, nfde = 0, fcap = 0, off, i, nent = 0;
	struct wbuf w = { 0 };
	struct dbg_rec rec;
	const unsigned char *d;
	unsigned char *owned = NULL;
	GElf_Shdr sh;
	Elf_Scn *scn;
	size_t n;
	int err;

	scn = elf_section_find(ef->elf, ".debug_frame", &sh);
	if (!scn)
		return -ENOENT;
	err = elf_section_bytes(scn, &sh, &d, &n, &owned);
	if (err)
		return err == -ENOMEM ? err : -ENOENT;

	/* CIEs first: an FDE may point at a CIE written after it. */
	for (off = 0; dbg_next(d, n, &off, &rec);) {
		if (!rec.is_cie)
			continue;
		err = array_grow((void **)&cies, &ccap, ncie + 1, sizeof(*cies));
		if (err)
			goto cleanup;
		dbg_parse_cie(&rec, &cies[ncie++]);
	}
	for (off = 0; dbg_next(d, n, &off, &rec);) {
		struct dbg_fde f;
		long ci;

		if (rec.is_cie)
			continue;
		ci = dbg_find_cie(cies, ncie, rec.id);
		if (ci < 0 || !cies[ci].ok)
			continue;
		f.cie = ci;
		f.start = rd_uint(&rec.body, 8);
		f.range = rd_uint(&rec.body, 8);
		f.ins = rec.body.p;
		f.ins_len = rec.body.end - rec.body.p;
		/* FDEs of functions the linker discarded keep address 0 */
		if (rec.body.bad || !f.range ||
		    !elf_covers_code(ef, f.start, f.range) ||
		    f.start - ef->lo_vaddr > INT32_MAX)
			continue;
		err = array_grow((void **)&fdes, &fcap, nfde + 1, sizeof(*fdes));
		if (err)
			goto cleanup;
		fdes[nfde++] = f;
	}
	if (!nfde) {
		err = -ENOENT;
		goto cleanup;
	}
	qsort(fdes, nfde, sizeof(*fdes), dbg_cmp_fde);

	/* The search table is filled in as the FDEs are written. */
	for (i = 0; i < nfde; i++)
		wbuf_uint(&w, 0, 8);
	for (i = 0; i < nfde; i++) {
		struct dbg_fde *f = &fdes[i];
		struct dbg_cie *c = &cies[f->cie];
		size_t at;

		if (i && f->start == fdes[i - 1].start)
			continue;	/* the search needs distinct keys */
		if (c->out < 0) {
			at = w.len;
			c->out = at;
			wbuf_uint(&w, 0, 4);	/* length, patched below */
			wbuf_uint(&w, 0, 4);	/* CIE id in .eh_frame */
			wbuf_uint(&w, c->ra <= 255 ? 1 : 3, 1);
			wbuf_uint(&w, 0, 1);	/* augmentation "" */
			wbuf_uleb(&w, c->code_align);
			wbuf_sleb(&w, c->data_align);
			if (c->ra <= 255)
				wbuf_uint(&w, c->ra, 1);
			else
				wbuf_uleb(&w, c->ra);
			wbuf_put(&w, c->ins, c->ins_len);
			wbuf_patch32(&w, at, w.len - at - 4);
		}
		at = w.len;
		wbuf_uint(&w, 0, 4);
		/* .eh_frame's CIE pointer counts back from the field itself */
		wbuf_uint(&w, at + 4 - c->out, 4);
		wbuf_uint(&w, f->start + bias, 8);
		wbuf_uint(&w, f->range, 8);
		wbuf_put(&w, f->ins, f->ins_len);
		wbuf_patch32(&w, at, w.len - at - 4);
		if (!w.bad) {
			wbuf_patch32(&w, nent * 8, f->start - ef->lo_vaddr);
			wbuf_patch32(&w, nent * 8 + 4, at);
		}
		nent++;
	}
	/* access_mem reads whole words: pad so the last bytes can be read */
	wbuf_uint(&w, 0, 8);
	if (w.bad) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (w.len > INT32_MAX) {
		err = -E2BIG;
		goto cleanup;
	}
	free(ef->dbg);
	ef->dbg = w.p;
	w.p = NULL;
	ef->dbg_size = w.len;
	ef->dbg_nent = nent;
	ef->dbg_bias = bias;
cleanup:
	free(w.p);
	free(cies);
	free(fdes);
	free(owned);
	return err;
}

/* Makes EF's rewritten .debug_frame ready for BIAS; 0 or -errno. */
static int dbg_prepare(struct elf_file *ef, __u64 bias)
{
	int err;

	if (ef->dbg_state < 0)
		return -ENOENT;
	if (ef->dbg_state > 0 && ef->dbg_bias == bias)
		return 0;
	/* Another load of the same file (dlmopen): only the FDE addresses
	 * change, the layout does not, so cached rules pointing into the
	 * blob stay right. */
	err = dbg_build(ef, bias);
	/* Out of memory may pass; a missing section will not appear. */
	if (err && err != -ENOMEM)
		ef->dbg_state = -1;
	else if (!err)
		ef->dbg_state = 1;
	return err;
}

/* ---- ELF files ---- */

/* Locates the .eh_frame_hdr search table at file offset OFF, run-time
 * vaddr VADDR.  Leaves has_hdr false when it is absent or unusable. */
static void elf_parse_hdr(struct elf_file *ef, __u64 vaddr, __u64 off,
			  __u64 size)
{
	struct rd r;
	unsigned int version, ptr_enc, cnt_enc, tab_enc;
	__u64 count, table_off;

	if (off > ef->size || size > ef->size - off || size < 4)
		return;
	r.p = ef->image + off;
	r.end = r.p + size;
	r.bad = false;
	version = rd_uint(&r, 1);
	ptr_enc = rd_uint(&r, 1);
	cnt_enc = rd_uint(&r, 1);
	tab_enc = rd_uint(&r, 1);
	/* libunwind's search wants (s32, s32) pairs relative to the header */
	if (version != 1 || cnt_enc == EH_PE_OMIT ||
	    tab_enc != (EH_PE_DATAREL | EH_PE_SDATA4) || ptr_enc == EH_PE_OMIT)
		return;
	rd_encoded(&r, ptr_enc);
	count = rd_encoded(&r, cnt_enc);
	if (r.bad || !count)
		return;
	table_off = r.p - (ef->image + off);
	/* a truncated section: use the entries that are there */
	if (count > (size - table_off) / 8)
		count = (size - table_off) / 8;
	ef->has_hdr = count > 0;
	ef->hdr_vaddr = vaddr;
	ef->table_vaddr = vaddr + table_off;
	ef->fde_count = count;
}

/* Reads the headers of EF->image; 0, or -ENOEXEC when it is no x86-64
 * ELF with loadable segments. */
static int elf_parse(struct elf_file *ef)
{
	const GElf_Phdr *hdr = NULL;
	GElf_Phdr ph_hdr;
	GElf_Ehdr eh;
	size_t phnum, i;

	/* Checked before libelf sees the image: it would convert a
	 * foreign byte order in place, and the image is read-only. */
	if (ef->size < EI_NIDENT || memcmp(ef->image, ELFMAG, SELFMAG) ||
	    ef->image[EI_CLASS] != ELFCLASS64 ||
	    ef->image[EI_DATA] != ELFDATA2LSB)
		return -ENOEXEC;
	ef->elf = elf_memory((char *)ef->image, ef->size);
	if (!ef->elf || elf_kind(ef->elf) != ELF_K_ELF ||
	    !gelf_getehdr(ef->elf, &eh) || eh.e_machine != EM_X86_64 ||
	    elf_getphdrnum(ef->elf, &phnum) || !phnum)
		return -ENOEXEC;
	ef->loads = calloc(phnum, sizeof(*ef->loads));
	if (!ef->loads)
		return -ENOMEM;
	ef->lo_vaddr = UINT64_MAX;
	for (i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(ef->elf, i, &ph))
			continue;
		if (ph.p_type == PT_GNU_EH_FRAME) {
			ph_hdr = ph;
			hdr = &ph_hdr;
		}
		if (ph.p_type != PT_LOAD)
			continue;
		ef->loads[ef->nloads++] = ph;
		if (ph.p_vaddr < ef->lo_vaddr)
			ef->lo_vaddr = ph.p_vaddr;
		if (ph.p_vaddr + ph.p_memsz > ef->hi_vaddr)
			ef->hi_vaddr = ph.p_vaddr + ph.p_memsz;
	}
	if (!ef->nloads)
		return -ENOEXEC;
	if (hdr) {
		elf_parse_hdr(ef, hdr->p_vaddr, hdr->p_offset, hdr->p_filesz);
	} else {
		GElf_Shdr sh;

		if (elf_section_find(ef->elf, ".eh_frame_hdr", &sh) &&
		    sh.sh_addr && !(sh.sh_flags & SHF_COMPRESSED))
			elf_parse_hdr(ef, sh.sh_addr, sh.sh_offset,
				      sh.sh_size);
	}
	return 0;
}

static void elf_file_free(struct elf_file *ef)
{
	if (!ef)
		return;
	if (ef->elf)
		elf_end(ef->elf);
	if (ef->image_mapped)
		munmap(ef->image, ef->size);
	else
		free(ef->image);
	free(ef->loads);
	free(ef->dbg);
	free(ef);
}

/*
 * Opens the file behind mapping M (path PATH, possibly deleted).  The
 * mapped file itself is /proc/PID/map_files/START-END, but opening that
 * needs CAP_SYS_ADMIN (CAP_CHECKPOINT_RESTORE since 5.9); without it the
 * executable is still reachable as /proc/PID/exe, and other files by
 * path, through the target's root for containers.  A path whose device
 * and inode differ is still taken when the file was not deleted: overlayfs
 * reports the upper inode to fstat() but the lower one in maps.
 */
static int elf_open_fd(struct unwinder *u, const struct map *m,
		       const char *path)
{
	char buf[PATH_MAX + 64];
	int fd, fallback = -1, i;
	struct stat st;

	for (i = 0; i < 4; i++) {
		switch (i) {
		case 0:
			snprintf(buf, sizeof(buf), "/proc/%d/map_files/%llx-%llx",
				 u->pid, (unsigned long long)m->start,
				 (unsigned long long)m->end);
			break;
		case 1:
			if (!u->exe_known || u->exe_dev != m->dev ||
			    u->exe_ino != m->ino)
				continue;
			snprintf(buf, sizeof(buf), "/proc/%d/exe", u->pid);
			break;
		case 2:
			if (m->deleted || path[0] != '/')
				continue;
			snprintf(buf, sizeof(buf), "/proc/%d/root%s", u->pid,
				 path);
			break;
		default:
			if (m->deleted || path[0] != '/')
				continue;
			snprintf(buf, sizeof(buf), "%s", path);
			break;
		}
		fd = open(buf, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
			close(fd);
			continue;
		}
		if (st.st_dev == m->dev && st.st_ino == m->ino) {
			if (fallback >= 0)
				close(fallback);
			return fd;
		}
		if (i >= 2 && fallback < 0)
			fallback = fd;
		else
			close(fd);
	}
	return fallback >= 0 ? fallback : -ENOENT;
}

/* Copies our own vDSO: the kernel maps the same image into every 64-bit
 * process, and the target's copy may not be read (it is live memory). */
static int elf_load_vdso(struct elf_file *ef, __u64 target_len)
{
	unsigned long base = getauxval(AT_SYSINFO_EHDR);
	unsigned long long start, end;
	char line[512];
	size_t len = 0;
	FILE *f;

	if (!base)
		return -ENOENT;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "[vdso]") &&
		    sscanf(line, "%llx-%llx", &start, &end) == 2 &&
		    start == base) {
			len = end - start;
			break;
		}
	}
	fclose(f);
	if (!len)
		return -ENOENT;
	if (target_len && target_len < len)
		len = target_len;
	ef->image = malloc(len);
	if (!ef->image)
		return -ENOMEM;
	memcpy(ef->image, (const void *)base, len);
	ef->size = len;
	return 0;
}

/* A cache entry for the file behind M.  An entry that could not be read
 * is returned too (usable false), so that it is not retried at every
 * refresh.  NULL only when out of memory. */
static struct elf_file *elf_file_open(struct unwinder *u, const struct map *m,
				      const char *path)
{
	struct elf_file *ef;
	struct stat st;
	void *image;
	int fd;

	ef = calloc(1, sizeof(*ef));
	if (!ef)
		return NULL;
	ef->dev = m->dev;
	ef->ino = m->ino;
	ef->vdso = m->vdso;
	ef->id = u->next_id++ & 0x7fffffff;
	if (m->vdso) {
		if (elf_load_vdso(ef, m->end - m->start))
			return ef;
	} else {
		fd = elf_open_fd(u, m, path);
		if (fd < 0)
			return ef;
		if (fstat(fd, &st) || st.st_size <= 0) {
			close(fd);
			return ef;
		}
		/* Private and read-only: nothing is copied, and the fd can
		 * go, so hundreds of libraries cost no descriptors. */
		image = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		if (image == MAP_FAILED)
			return ef;
		ef->image = image;
		ef->size = st.st_size;
		ef->image_mapped = true;
	}
	ef->usable = elf_parse(ef) == 0;
	return ef;
}

static struct elf_file *elf_file_find(struct unwinder *u, const struct map *m)
{
	struct elf_file *ef;

	for (ef = u->elfs; ef; ef = ef->next)
		if (m->vdso ? ef->vdso
			    : !ef->vdso && ef->dev == m->dev && ef->ino == m->ino)
			return ef;
	return NULL;
}

/* Load bias of mapping M of EF: the PT_LOAD holding file offset pgoff,
 * preferring one whose executability matches, for two segments can share
 * a file page. */
static int elf_bias(const struct elf_file *ef, const struct map *m,
		    __u64 *bias)
{
	const GElf_Phdr *best = NULL;
	size_t i;

	for (i = 0; i < ef->nloads; i++) {
		const GElf_Phdr *ph = &ef->loads[i];
		__u64 page = ph->p_offset & ~0xfffull;

		if (m->pgoff < page || m->pgoff >= ph->p_offset + ph->p_filesz)
			continue;
		if (!best || (!!(ph->p_flags & PF_X) == m->x &&
			      !!(best->p_flags & PF_X) != m->x))
			best = ph;
	}
	if (!best)
		return -ENOENT;
	/* start maps file offset pgoff, which is vaddr
	 * p_vaddr + (pgoff - p_offset) */
	*bias = m->start - (best->p_vaddr + m->pgoff - best->p_offset);
	return 0;
}

/* ---- /proc/PID/maps ---- */

static int maps_read(pid_t pid, char **text, size_t *len)
{
	size_t cap = 16384, n = 0;
	char path[64], *buf, *tmp;
	ssize_t got;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (n == cap) {
			tmp = realloc(buf, cap * 2);
			if (!tmp) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = tmp;
			cap *= 2;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			err = errno == ENOENT ? -ESRCH : -errno;
			goto cleanup;
		}
		if (!got)
			break;
		n += got;
	}
	/* a zombie or a kernel thread: nothing to unwind */
	if (!n)
		err = -ESRCH;
cleanup:
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*text = buf;
	*len = n;
	return 0;
}

/* Parses one line "start-end perms offset maj:min inode   path". */
static bool maps_parse_line(const char *line, size_t len, size_t line_off,
			    struct map *m)
{
	unsigned long long start, end, pgoff, ino;
	unsigned int maj, min;
	char perms[8], tmp[256];
	const char *path;
	int pos = 0;
	size_t plen;

	/* the fields before the path are short; sscanf needs a terminator */
	plen = len < sizeof(tmp) - 1 ? len : sizeof(tmp) - 1;
	memcpy(tmp, line, plen);
	tmp[plen] = 0;
	if (sscanf(tmp, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end,
		   perms, &pgoff, &maj, &min, &ino, &pos) < 7 || start >= end ||
	    strlen(perms) < 3)
		return false;
	/* %n is not reached when the line ends after the inode */
	if (pos <= 0 || pos > (int)len)
		pos = len;
	memset(m, 0, sizeof(*m));
	m->start = start;
	m->end = end;
	m->pgoff = pgoff;
	m->dev = makedev(maj, min);
	m->ino = ino;
	m->r = perms[0] == 'r';
	m->w = perms[1] == 'w';
	m->x = perms[2] == 'x';
	path = line + pos;
	plen = len - pos;
	m->path_off = line_off + pos;
	m->path_len = plen;
	if (plen >= 10 && !memcmp(path + plen - 10, " (deleted)", 10)) {
		m->deleted = true;
		m->path_len -= 10;
	}
	m->vdso = plen == 6 && !memcmp(path, "[vdso]", 6);
	return true;
}

static int maps_parse(const char *text, size_t len, struct map **out,
		      size_t *count)
{
	size_t lines = 0, n = 0, off = 0, i;
	struct map *v;

	for (i = 0; i < len; i++)
		lines += text[i] == '\n';
	v = calloc(lines + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (text + off)) : len - off;

		if (maps_parse_line(text + off, l, off, &v[n]))
			n++;
		off += l + 1;
	}
	*out = v;
	*count = n;
	return 0;
}

static const struct map *map_find(const struct unwinder *u, __u64 addr)
{
	size_t lo = 0, hi = u->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct map *m = &u->maps[mid];

		if (addr < m->start)
			hi = mid;
		else if (addr >= m->end)
			lo = mid + 1;
		else
			return m;
	}
	return NULL;
}

static void rules_flush(struct unwinder *u)
{
	size_t i;

	for (i = 0; i < 1u << RULE_SLOTS_LOG; i++) {
		free(u->rules[i].rs);
		memset(&u->rules[i], 0, sizeof(u->rules[i]));
	}
}

int unwinder_refresh(struct unwinder *u)
{
	struct elf_file **pp, *ef;
	struct map *maps = NULL;
	size_t nmaps = 0, len = 0, i;
	char *text = NULL, path[PATH_MAX];
	struct stat st;
	int err;

	if (!u)
		return -EINVAL;
	err = maps_read(u->pid, &text, &len);
	if (err)
		return err;
	if (u->maps_text && len == u->maps_len &&
	    !memcmp(text, u->maps_text, len)) {
		free(text);
		return 0;
	}
	err = maps_parse(text, len, &maps, &nmaps);
	if (err)
		goto cleanup;
	if (!nmaps) {
		err = -ESRCH;
		goto cleanup;
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", u->pid);
	u->exe_known = !stat(path, &st);
	if (u->exe_known) {
		u->exe_dev = st.st_dev;
		u->exe_ino = st.st_ino;
	}

	/* Files mapped executable hold code and so CFI; a file never mapped
	 * executable (model weights, say) is not opened at all. */
	for (ef = u->elfs; ef; ef = ef->next)
		ef->used = false;
	for (i = 0; i < nmaps; i++) {
		struct map *m = &maps[i];

		if (!m->x || (!m->ino && !m->vdso))
			continue;
		ef = elf_file_find(u, m);
		if (!ef) {
			snprintf(path, sizeof(path), "%.*s", (int)m->path_len,
				 text + m->path_off);
			ef = elf_file_open(u, m, path);
			if (!ef) {
				err = -ENOMEM;
				goto cleanup;
			}
			ef->next = u->elfs;
			u->elfs = ef;
		}
		ef->used = true;
	}
	for (i = 0; i < nmaps; i++) {
		struct map *m = &maps[i];

		if (!m->ino && !m->vdso)
			continue;
		ef = elf_file_find(u, m);
		if (ef && ef->used && ef->usable && !elf_bias(ef, m, &m->bias))
			m->elf = ef;
	}
	for (pp = &u->elfs; *pp;) {
		ef = *pp;
		if (ef->used) {
			pp = &ef->next;
			continue;
		}
		*pp = ef->next;
		elf_file_free(ef);
	}

	free(u->maps);
	free(u->maps_text);
	u->maps = maps;
	u->nmaps = nmaps;
	u->maps_text = text;
	u->maps_len = len;
	maps = NULL;
	text = NULL;
	/* cached rules are keyed by address, and the code there changed */
	rules_flush(u);
cleanup:
	free(maps);
	free(text);
	return err;
}

/* ---- libunwind accessors ---- */

static const struct map *ctx_map_find(struct unwind_ctx *c, __u64 addr)
{
	const struct map *m = c->last;

	if (m && addr >= m->start && addr < m->end)
		return m;
	m = map_find(c->u, addr);
	if (m)
		c->last = m;
	return m;
}

static struct elf_file *ctx_synth_find(struct unwind_ctx *c, __u64 addr)
{
	unsigned int id = (addr & ~SYNTH_BIT) >> 32;
	struct elf_file *ef;

	for (ef = c->u->elfs; ef; ef = ef->next)
		if (ef->id == id)
			return ef;
	return NULL;
}

/* Reads N bytes at ADDR from the stack copy only; 0 or -EFAULT. */
static int ctx_read_stack(const struct unwind_ctx *c, __u64 addr, void *buf,
			  size_t n)
{
	if (addr < c->stack_lo || addr >= c->stack_hi ||
	    c->stack_hi - addr < n)
		return -EFAULT;
	memcpy(buf, c->stack + (addr - c->stack_lo), n);
	return 0;
}

/*
 * Reads N bytes at ADDR: from the stack copy, from a rewritten
 * .debug_frame, or from the ELF file behind a read-only file mapping.
 * Bytes of a mapping past the end of its file read as zero, as they do
 * in memory.  0 or -EFAULT.
 */
static int ctx_read(struct unwind_ctx *c, __u64 addr, void *buf, size_t n)
{
	const struct map *m;
	struct elf_file *ef;
	__u64 off;
	size_t avail;

	if (!ctx_read_stack(c, addr, buf, n))
		return 0;
	if (addr & SYNTH_BIT) {
		ef = ctx_synth_find(c, addr);
		off = addr & 0xffffffffull;
		if (!ef || !ef->dbg || off >= ef->dbg_size ||
		    ef->dbg_size - off < n)
			return -EFAULT;
		memcpy(buf, ef->dbg + off, n);
		return 0;
	}
	m = ctx_map_find(c, addr);
	/* Writable mappings differ from the file, and the live process
	 * is not to be read: those bytes are unknown. */
	if (!m || !m->elf || m->w || m->end - addr < n)
		return -EFAULT;
	ef = m->elf;
	off = addr - m->start + m->pgoff;
	if (off >= ef->size)
		return -EFAULT;
	avail = ef->size - off;
	if (avail >= n) {
		memcpy(buf, ef->image + off, n);
	} else {
		memcpy(buf, ef->image + off, avail);
		memset((char *)buf + avail, 0, n - avail);
	}
	return 0;
}

static int acc_access_mem(unw_addr_space_t as, unw_word_t addr,
			  unw_word_t *valp, int write, void *arg)
{
	(void)as;
	if (write)
		return -UNW_EINVAL;
	if (ctx_read(arg, addr, valp, sizeof(*valp))) {
		*valp = 0;
		return -UNW_EINVAL;
	}
	return 0;
}

static int acc_access_reg(unw_addr_space_t as, unw_regnum_t regnum,
			  unw_word_t *valp, int write, void *arg)
{
	const struct unwind_regs *r = &((struct unwind_ctx *)arg)->regs;

	(void)as;
	if (write)
		return -UNW_EREADONLYREG;
	switch (regnum) {
	case UNW_X86_64_RIP:
		*valp = r->ip;
		break;
	case UNW_X86_64_RSP:
		*valp = r->sp;
		break;
	case UNW_X86_64_RBP:
		*valp = r->bp;
		break;
	case UNW_X86_64_RBX:
		*valp = r->bx;
		break;
	case UNW_X86_64_R12:
		*valp = r->r12;
		break;
	case UNW_X86_64_R13:
		*valp = r->r13;
		break;
	case UNW_X86_64_R14:
		*valp = r->r14;
		break;
	case UNW_X86_64_R15:
		*valp = r->r15;
		break;
	default:
		/* caller-saved registers are not captured; CFI of an
		 * ordinary call frame never needs them */
		return -UNW_EBADREG;
	}
	return 0;
}

static int acc_access_fpreg(unw_addr_space_t as, unw_regnum_t regnum,
			    unw_fpreg_t *val, int write, void *arg)
{
	(void)as;
	(void)regnum;
	(void)val;
	(void)write;
	(void)arg;
	return -UNW_EBADREG;
}

static int acc_resume(unw_addr_space_t as, unw_cursor_t *cu, void *arg)
{
	(void)as;
	(void)cu;
	(void)arg;
	return -UNW_EINVAL;
}

static int acc_get_proc_name(unw_addr_space_t as, unw_word_t addr,
			     char *buf, size_t len, unw_word_t *offp,
			     void *arg)
{
	(void)as;
	(void)addr;
	(void)buf;
	(void)len;
	(void)offp;
	(void)arg;
	return -UNW_ENOINFO;	/* symbolization is the symbolizer's job */
}

static int acc_get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *dil,
				      void *arg)
{
	(void)as;
	(void)dil;
	(void)arg;
	return -UNW_ENOINFO;
}

static void acc_put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi,
				void *arg)
{
	/* libunwind frees what dwarf_search_unwind_table() allocated */
	(void)as;
	(void)pi;
	(void)arg;
}

static int acc_find_proc_info(unw_addr_space_t as, unw_word_t ip,
			      unw_proc_info_t *pi, int need_unwind_info,
			      void *arg)
{
	struct unwind_ctx *c = arg;
	const struct map *m = ctx_map_find(c, ip);
	struct elf_file *ef;
	unw_dyn_info_t di;
	int ret = -UNW_ENOINFO;

	if (!m || !m->elf || !m->x)
		return -UNW_ENOINFO;
	ef = m->elf;
	if (ip < ef->lo_vaddr + m->bias || ip >= ef->hi_vaddr + m->bias)
		return -UNW_ENOINFO;
	memset(&di, 0, sizeof(di));
	di.start_ip = ef->lo_vaddr + m->bias;
	di.end_ip = ef->hi_vaddr + m->bias;
	if (ef->has_hdr) {
		di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
		di.u.rti.segbase = ef->hdr_vaddr + m->bias;
		di.u.rti.table_data = ef->table_vaddr + m->bias;
		/* in words; each entry is two s32 */
		di.u.rti.table_len = ef->fde_count * 8 / sizeof(unw_word_t);
		ret = UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi,
							 need_unwind_info, arg);
		if (!ret)
			return 0;
	}
	if (dbg_prepare(ef, m->bias))
		return ret;
	/* IP_OFFSET: table keys are relative to start_ip, FDE offsets to
	 * segbase, so the table does not depend on the load bias. */
	di.format = UNW_INFO_FORMAT_IP_OFFSET;
	di.u.rti.segbase = SYNTH_BASE(ef->id);
	di.u.rti.table_data = SYNTH_BASE(ef->id);
	di.u.rti.table_len = ef->dbg_nent * 8 / sizeof(unw_word_t);
	return UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi,
						  need_unwind_info, arg);
}

/* ---- unwinding ---- */

/* Whether the code at IP is rt_sigreturn's trampoline (what libunwind's
 * x86-64 unw_is_signal_frame() matches): mov $0xf,%rax; syscall. */
static bool code_is_sigreturn(struct unwind_ctx *c, __u64 ip)
{
	static const unsigned char seq[9] = { 0x48, 0xc7, 0xc0, 0x0f, 0x00,
					      0x00, 0x00, 0x0f, 0x05 };
	unsigned char code[16];

	return !ctx_read(c, ip, code, sizeof(code)) &&
	       !memcmp(code, seq, sizeof(seq));
}

struct rule_pick {
	__u64 ip;
	void *rs;
	int err;
};

/* unw_reg_states_iterate() callback: keeps the row holding pick->ip. */
static int rule_pick_row(void *token, void *data, size_t size,
			 unw_word_t start, unw_word_t end)
{
	struct rule_pick *p = token;

	if (p->rs || p->ip < start || p->ip >= end)
		return 0;
	p->rs = malloc(size);
	if (!p->rs) {
		p->err = -ENOMEM;
		return 0;
	}
	memcpy(p->rs, data, size);
	return 0;
}

/*
 * The rule for stepping a frame at IP, looked up at LOOKUP (IP - 1 for a
 * return address, so that a call ending a function finds that function).
 * On a miss a scratch cursor is started at LOOKUP itself, where libunwind
 * looks up exactly, and the CFI row holding it is copied.  NULL only when
 * out of memory; rule->rs is NULL when no CFI covers LOOKUP.
 */
static const struct rule *rule_get(struct unwind_ctx *c, __u64 ip,
				   __u64 lookup)
{
	struct unwinder *u = c->u;
	struct rule *r = &u->rules[(lookup * 0x9e3779b97f4a7c15ull) >>
				   (64 - RULE_SLOTS_LOG)];
	struct rule_pick pick = { lookup, NULL, 0 };
	struct unwind_ctx scratch = *c;
	unw_cursor_t cur;

	if (r->used && r->ip == lookup)
		return r;
	scratch.regs.ip = lookup;
	if (!unw_init_remote(&cur, u->as, &scratch))
		unw_reg_states_iterate(&cur, rule_pick_row, &pick);
	if (pick.err)
		return NULL;
	c->last = scratch.last;
	free(r->rs);
	r->ip = lookup;
	r->used = true;
	r->rs = pick.rs;
	r->signal = r->rs && code_is_sigreturn(c, ip);
	return r;
}

/*
 * Steps over a frame without CFI (JIT code) by the frame-pointer chain:
 * [bp] is the caller's bp, [bp+8] the return address.  libunwind's own
 * fallback cannot be used here: it first probes whether the code at ip
 * is readable, and JIT code never is for us (live memory), which sends
 * it down a "bad function pointer" path that takes [sp] as the return
 * address.  The cursor restarts at the caller with the registers found.
 */
static int unwind_fp_step(struct unwind_ctx *c, unw_cursor_t *cur,
			  unw_word_t *ip, unw_word_t *sp)
{
	static const unw_regnum_t saved[] = { UNW_X86_64_RBX, UNW_X86_64_R12,
					      UNW_X86_64_R13, UNW_X86_64_R14,
					      UNW_X86_64_R15 };
	unw_word_t bp, cur_sp, v[5];
	struct unwind_regs next;
	__u64 pair[2];
	size_t i;

	if (unw_get_reg(cur, UNW_X86_64_RBP, &bp) < 0 ||
	    unw_get_reg(cur, UNW_X86_64_RSP, &cur_sp) < 0)
		return -ENOENT;
	if (bp < cur_sp || ctx_read_stack(c, bp, pair, sizeof(pair)) ||
	    !pair[1])
		return -ENOENT;
	/* callee-saved values the frame did not touch carry over */
	for (i = 0; i < 5; i++)
		if (unw_get_reg(cur, saved[i], &v[i]) < 0)
			v[i] = 0;
	next.ip = pair[1];
	next.sp = bp + 16;
	next.bp = pair[0];
	next.bx = v[0];
	next.r12 = v[1];
	next.r13 = v[2];
	next.r14 = v[3];
	next.r15 = v[4];
	c->regs = next;
	if (unw_init_remote(cur, c->u->as, c) < 0)
		return -EINVAL;
	*ip = next.ip;
	*sp = next.sp;
	return 0;
}

int unwinder_unwind(struct unwinder *u, const struct unwind_regs *regs,
		    const void *stack, size_t len, __u64 *ips, int max)
{
	struct unwind_ctx c;
	unw_cursor_t cur;
	unw_word_t ip, sp, prev_sp;
	unw_save_loc_t loc;
	const struct rule *r;
	const struct map *m;
	bool exact = true;	/* the leaf's ip is where it was stopped */
	int n = 0;

	if (!u || !regs || !ips || max < 1 || (!stack && len))
		return -EINVAL;
	c.u = u;
	c.regs = *regs;
	c.stack = stack;
	c.stack_lo = regs->sp;
	c.stack_hi = len > UINT64_MAX - regs->sp ? UINT64_MAX : regs->sp + len;
	c.last = NULL;
	ips[n++] = regs->ip;
	if (n == max || unw_init_remote(&cur, u->as, &c) < 0)
		return n;
	ip = regs->ip;
	prev_sp = regs->sp;
	while (n < max) {
		m = ctx_map_find(&c, ip);
		r = m && m->elf ? rule_get(&c, ip, exact ? ip : ip - 1) : NULL;
		if (r && r->rs) {
			/* <0: a value needed is not in the stack copy */
			if (unw_apply_reg_state(&cur, r->rs) < 0 ||
			    unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 ||
			    unw_get_reg(&cur, UNW_REG_SP, &sp) < 0)
				break;
			/* the x86-64 ABI ends the chain with an undefined
			 * return address or rbp (unw_step's test) */
			if (unw_get_save_loc(&cur, UNW_X86_64_RBP, &loc) < 0 ||
			    loc.type == UNW_SLT_NONE)
				break;
			exact = r->signal;
		} else if (unwind_fp_step(&c, &cur, &ip, &sp)) {
			break;
		} else {
			exact = false;
		}
		/* Callers sit at higher addresses; anything else, or a
		 * return address outside code, is garbage. */
		if (!ip || sp <= prev_sp)
			break;
		m = ctx_map_find(&c, ip);
		if (!m || !m->x)
			break;
		ips[n++] = ip;
		prev_sp = sp;
	}
	return n;
}

int unwinder_has_cfi(struct unwinder *u, __u64 ip)
{
	struct unwind_ctx c;
	unw_proc_info_t pi;

	if (!u)
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	c.u = u;
	memset(&pi, 0, sizeof(pi));
	return acc_find_proc_info(u->as, ip, &pi, 0, &c) == 0;
}

struct unwinder *unwinder_new(pid_t pid)
{
	unw_accessors_t acc = {
		.find_proc_info = acc_find_proc_info,
		.put_unwind_info = acc_put_unwind_info,
		.get_dyn_info_list_addr = acc_get_dyn_info_list_addr,
		.access_mem = acc_access_mem,
		.access_reg = acc_access_reg,
		.access_fpreg = acc_access_fpreg,
		.resume = acc_resume,
		.get_proc_name = acc_get_proc_name,
	};
	struct unwinder *u;
	int err;

	if (pid <= 0) {
		errno = ESRCH;
		return NULL;
	}
	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = ELIBBAD;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->pid = pid;
	u->rules = calloc(1u << RULE_SLOTS_LOG, sizeof(*u->rules));
	if (!u->rules) {
		free(u);
		errno = ENOMEM;
		return NULL;
	}
	/* libunwind copies the accessor table */
	u->as = unw_create_addr_space(&acc, 0);
	if (!u->as) {
		unwinder_free(u);
		errno = ENOMEM;
		return NULL;
	}
	/* unw_step() is not used, so libunwind's rule cache would stay
	 * empty; ours is u->rules */
	unw_set_caching_policy(u->as, UNW_CACHE_NONE);
	err = unwinder_refresh(u);
	if (err) {
		unwinder_free(u);
		errno = -err;
		return NULL;
	}
	return u;
}

void unwinder_free(struct unwinder *u)
{
	struct elf_file *ef;

	if (!u)
		return;
	while ((ef = u->elfs)) {
		u->elfs = ef->next;
		elf_file_free(ef);
	}
	if (u->rules)
		rules_flush(u);
	free(u->rules);
	if (u->as)
		unw_destroy_addr_space(u->as);
	free(u->maps);
	free(u->maps_text);
	free(u);
}
