// SPDX-License-Identifier: MIT
/*
 * loupe export --format pprof: profile.proto encoded by hand (varints and
 * length-delimited fields are all it needs, not worth a protobuf
 * dependency) and gzipped with zlib, as 'go tool pprof' reads it.
 *
 * How a trace maps onto pprof:
 *  - one Location per distinct (module, module_offset).  The frames the
 *    symbolizer expanded from that one address (inline frames, then the
 *    real function they were inlined into) become its Line[], innermost
 *    first, which is pprof's own order;
 *  - one Mapping per module name.  The trace keeps offsets within modules,
 *    not the process's load addresses, so each mapping gets a made-up
 *    address range, disjoint from the others, and a location's address is
 *    chosen so that address - memory_start + file_offset == module_offset:
 *    pprof's address-based merging and -addresses stay consistent.  The
 *    mappings say they are symbolized, so pprof never looks the made-up
 *    addresses up in the binary;
 *  - kernel frames are in the mapping "[kernel]", at their real addresses
 *    unless those collide with the made-up user ranges;
 *  - one Function per distinct (name, file).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "analyzer/export_pprof.h"
#include "analyzer/u64map.h"

/* Field numbers of profile.proto. */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_COMMENT = 13,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
};
enum { VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT = 2 };
enum { SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3 };
enum { LABEL_KEY = 1, LABEL_STR = 2 };
enum {
	MAPPING_ID = 1,
	MAPPING_MEMORY_START = 2,
	MAPPING_MEMORY_LIMIT = 3,
	MAPPING_FILE_OFFSET = 4,
	MAPPING_FILENAME = 5,
	MAPPING_HAS_FUNCTIONS = 7,
	MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9,
	MAPPING_HAS_INLINE_FRAMES = 10,
};
enum {
	LOCATION_ID = 1,
	LOCATION_MAPPING_ID = 2,
	LOCATION_ADDRESS = 3,
	LOCATION_LINE = 4,
};
enum { LINE_FUNCTION_ID = 1, LINE_LINE = 2 };
enum {
	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_SYSTEM_NAME = 3,
	FUNCTION_FILENAME = 4,
};

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* Strings every profile has, at these string-table indices. */
enum {
	STR_EMPTY,	/* string_table[0] must be "" */
	STR_SAMPLES,
	STR_EPISODES,
	STR_COUNT,
	STR_CPU,
	STR_OFFCPU,
	STR_NANOSECONDS,
	STR_MODEL,
	STR_STAGE,
	STR_KIND,
	STR_BLOCKED,
	STR_RUNQ,
	STR_UNKNOWN,
	STR_LOST,
	STR_ALLOC_OBJECTS,
	STR_ALLOC_SPACE,
	STR_INUSE_OBJECTS,
	STR_INUSE_SPACE,
	STR_BYTES,
	STR_SPACE,
	STR_NFIXED
};

static const char *const fixed_strs[STR_NFIXED] = {
	[STR_EMPTY] = "",
	[STR_SAMPLES] = "samples",
	[STR_EPISODES] = "episodes",
	[STR_COUNT] = "count",
	[STR_CPU] = "cpu",
	[STR_OFFCPU] = "offcpu",
	[STR_NANOSECONDS] = "nanoseconds",
	[STR_MODEL] = "model",
	[STR_STAGE] = "stage",
	[STR_KIND] = "kind",
	[STR_BLOCKED] = "blocked",
	[STR_RUNQ] = "runq",
	[STR_UNKNOWN] = "[unknown]",
	[STR_ALLOC_OBJECTS] = "alloc_objects",
	[STR_ALLOC_SPACE] = "alloc_space",
	[STR_INUSE_OBJECTS] = "inuse_objects",
	[STR_INUSE_SPACE] = "inuse_space",
	[STR_BYTES] = "bytes",
	[STR_SPACE] = "space",
	[STR_LOST] = "?",	/* a name the trace lost, as summary_name() says */
};

#define PAGE_SIZE_FAKE 4096ull
/* Compressed output goes out whenever this much protobuf is pending. */
#define DRAIN_BYTES (64u << 10)

/* ---- protobuf encoding ---- */

/* A growing encoding buffer.  The first allocation failure sticks in ERR,
 * so callers check once per message rather than once per field. */
struct pb {
	unsigned char *p;
	size_t len, cap;
	int err;
};

static void pb_put(struct pb *b, const void *v, size_t n)
{
	unsigned char *np;
	size_t ncap;

	if (b->err || !n)
		return;
	if (n > b->cap - b->len) {
		ncap = b->cap ? b->cap : 256;
		while (ncap - b->len < n) {
			if (ncap > SIZE_MAX / 2) {
				b->err = -ENOMEM;
				return;
			}
			ncap *= 2;
		}
		np = realloc(b->p, ncap);
		if (!np) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, v, n);
	b->len += n;
}

static void pb_varint(struct pb *b, __u64 v)
{
	unsigned char t[10];
	size_t n = 0;

	while (v >= 0x80) {
		t[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	t[n++] = (unsigned char)v;
	pb_put(b, t, n);
}

static void pb_key(struct pb *b, unsigned int field, unsigned int wire)
{
	pb_varint(b, (__u64)field << 3 | wire);
}

/* A varint field (uint64, non-negative int64, bool); proto3 omits zeros. */
static void pb_uint(struct pb *b, unsigned int field, __u64 v)
{
	if (!v)
		return;
	pb_key(b, field, WIRE_VARINT);
	pb_varint(b, v);
}

/* A length-delimited field: a string, packed varints or a message. */
static void pb_bytes(struct pb *b, unsigned int field, const void *v, size_t n)
{
	pb_key(b, field, WIRE_LEN);
	pb_varint(b, n);
	pb_put(b, v, n);
}

/* Appends SUB as message (or packed) field FIELD of B and empties SUB. */
static void pb_msg(struct pb *b, unsigned int field, struct pb *sub)
{
	if (sub->err && !b->err)
		b->err = sub->err;
	pb_bytes(b, field, sub->p, sub->len);
	sub->len = 0;
}

static void pb_release(struct pb *b)
{
	free(b->p);
}

/* ---- gzip stream ---- */

/* Compresses B's bytes onto OUT and empties B; FINISH ends the gzip
 * member.  Returns 0, B's sticky error, or -EIO. */
static int gz_drain(z_stream *zs, FILE *out, struct pb *b, bool finish)
{
	unsigned char buf[16384];
	size_t done = 0, n;
	int ret, flush;

	if (b->err)
		return b->err;
	do {
		/* avail_in is a uInt: hand over at most 1 GiB at a time. */
		n = b->len - done < (1u << 30) ? b->len - done : (1u << 30);
		zs->next_in = b->p ? b->p + done : NULL;
		zs->avail_in = (uInt)n;
		done += n;
		flush = finish && done == b->len ? Z_FINISH : Z_NO_FLUSH;
		for (;;) {
			zs->next_out = buf;
			zs->avail_out = sizeof(buf);
			ret = deflate(zs, flush);
			if (ret == Z_STREAM_ERROR)
				return -EIO;
			n = sizeof(buf) - zs->avail_out;
			errno = 0;
			if (n && fwrite(buf, 1, n, out) != n)
				return errno ? -errno : -EIO;
			if (flush == Z_FINISH ? ret == Z_STREAM_END : zs->avail_out != 0)
				break;
		}
	} while (done < b->len);
	b->len = 0;
	return 0;
}

/* ---- the profile's tables ---- */

struct pp_mapping {
	__u32 module_id;	/* name id, TRACE_NO_ID for unseen frames */
	bool kernel;
	bool lines;		/* some frame had file:line (debug info) */
	__u64 min_off, max_off;	/* of its locations */
	__u64 start, limit, file_offset; /* laid out once all are known */
	__u32 id;
	struct u64map locs;	/* module_offset -> location index */
};

struct pp_location {
	__u32 mapping;		/* index into maps */
	__u64 offset;		/* module_offset */
	__u32 first_line, nlines; /* in lines[] */
};

struct pp_line {
	__u32 function;		/* index into fns */
	__u32 line;
};

struct pp_function {
	__u32 name, file;	/* string-table indices */
};

struct pprof {
	const struct trace_summary *s;
	int err;		/* first allocation failure, sticky */
	const char **strs;	/* the string table; borrowed from S or static */
	size_t nstrs, strs_cap;
	__u32 *name_str;	/* trace name id -> string index; 0: not yet */
	struct pp_mapping *maps;
	size_t nmaps, maps_cap;
	struct u64map map_index; /* module id | kernel bit -> mapping index */
	struct pp_location *locs;
	size_t nlocs, locs_cap;
	struct pp_line *lines;
	size_t nlines, lines_cap;
	struct pp_function *fns;
	size_t nfns, fns_cap;
	struct u64map fn_index;	/* name << 32 | file -> function index */
	/* Location indices of each stack, computed on first use: the run
	 * loc_ids[stack_first[id] ..][.. stack_nlocs[id]] (0: not yet).
	 * Slot nstacks stands for every sample whose stack is missing. */
	__u32 *stack_first, *stack_nlocs;
	__u32 *loc_ids;
	size_t nloc_ids, loc_ids_cap;
};

/* Makes room for NEED elements of ELEM bytes in *V; sets pp->err. */
static bool pp_grow(struct pprof *pp, void **v, size_t *cap, size_t need,
		    size_t elem)
{
	size_t ncap = *cap ? *cap : 64;
	void *nv;

	if (pp->err)
		return false;
	if (need <= *cap)
		return true;
	while (ncap < need)
		ncap *= 2;
	nv = ncap <= SIZE_MAX / elem ? realloc(*v, ncap * elem) : NULL;
	if (!nv) {
		pp->err = -ENOMEM;
		return false;
	}
	*v = nv;
	*cap = ncap;
	return true;
}

/* Adds STR (which must outlive PP) to the string table; its index, or 0
 * after a failure (pp->err says). */
static __u32 pp_str(struct pprof *pp, const char *str)
{
	if (pp->nstrs >= UINT32_MAX ||
	    !pp_grow(pp, (void **)&pp->strs, &pp->strs_cap, pp->nstrs + 1,
		     sizeof(*pp->strs)))
		return 0;
	pp->strs[pp->nstrs] = str;
	return (__u32)pp->nstrs++;
}

/* String index of trace name ID; DFLT when ID is TRACE_NO_ID. */
static __u32 pp_name(struct pprof *pp, __u32 id, __u32 dflt)
{
	const struct trace_summary *s = pp->s;

	if (id == TRACE_NO_ID)
		return dflt;
	if (id >= s->nnames || !s->names[id])
		return STR_LOST;
	if (!pp->name_str[id])
		pp->name_str[id] = pp_str(pp, s->names[id]);
	return pp->name_str[id];
}

static const struct trace_frame *frame_of(const struct profile *p, __u32 id)
{
	return id < p->nframes && p->frames[id].function_id != TRACE_NO_ID ?
		       &p->frames[id] : NULL;
}

static __u32 pp_function(struct pprof *pp, __u32 name, __u32 file)
{
	__u64 key = (__u64)name << 32 | file;
	__u32 idx;

	if (!u64map_get(&pp->fn_index, key, &idx))
		return idx;
	if (!pp_grow(pp, (void **)&pp->fns, &pp->fns_cap, pp->nfns + 1,
		     sizeof(*pp->fns)))
		return 0;
	idx = (__u32)pp->nfns;
	if (u64map_put(&pp->fn_index, key, idx)) {
		pp->err = -ENOMEM;
		return 0;
	}
	pp->fns[pp->nfns].name = name;
	pp->fns[pp->nfns++].file = file;
	return idx;
}

/* Index of the mapping of module MODULE_ID (kernel or user). */
static __u32 pp_mapping(struct pprof *pp, __u32 module_id, bool kernel)
{
	/* Bit 32 keeps a kernel and a user module apart even if they were
	 * ever to share a name. */
	__u64 key = (__u64)module_id | (kernel ? 1ull << 32 : 0);
	struct pp_mapping *m;
	__u32 idx;

	if (!u64map_get(&pp->map_index, key, &idx))
		return idx;
	if (!pp_grow(pp, (void **)&pp->maps, &pp->maps_cap, pp->nmaps + 1,
		     sizeof(*pp->maps)))
		return 0;
	idx = (__u32)pp->nmaps;
	if (u64map_put(&pp->map_index, key, idx)) {
		pp->err = -ENOMEM;
		return 0;
	}
	m = &pp->maps[pp->nmaps++];
	memset(m, 0, sizeof(*m));
	m->module_id = module_id;
	m->kernel = kernel;
	m->min_off = UINT64_MAX;
	return idx;
}

/*
 * The location of the frames V[0..N) that come from one address: V[0] and,
 * while a frame is inlined, the next ones up to the real function they
 * were inlined into.  Sets *USED to how many frames that was and returns
 * the location index (0 after a failure; pp->err says).
 */
static __u32 pp_location(struct pprof *pp, const __u32 *v, __u32 n,
			 __u32 *used)
{
	const struct profile *p = &pp->s->prof;
	const struct trace_frame *f = frame_of(p, v[0]), *prev, *next;
	struct pp_location *loc;
	struct pp_mapping *m;
	__u32 k, j, mi, li;
	__u64 off = f ? f->module_offset : 0;

	/* Same address as well as the inline flag: a stack cut short in the
	 * middle of an inline chain must not swallow the next address. */
	for (k = 1; k < n; k++) {
		prev = frame_of(p, v[k - 1]);
		next = frame_of(p, v[k]);
		if (!prev || !(prev->flags & TRACE_FRAME_INLINED) || !next ||
		    next->module_id != prev->module_id ||
		    next->module_offset != prev->module_offset ||
		    (next->flags ^ prev->flags) & TRACE_FRAME_KERNEL)
			break;
	}
	*used = k;
	mi = pp_mapping(pp, f ? f->module_id : TRACE_NO_ID,
			f && f->flags & TRACE_FRAME_KERNEL);
	if (pp->err)
		return 0;
	m = &pp->maps[mi];
	/* U64MAP_EMPTY cannot be a key: such a location is simply not shared. */
	if (off != U64MAP_EMPTY && !u64map_get(&m->locs, off, &li))
		return li;

	if (pp->nlocs >= UINT32_MAX ||
	    !pp_grow(pp, (void **)&pp->locs, &pp->locs_cap, pp->nlocs + 1,
		     sizeof(*pp->locs)) ||
	    !pp_grow(pp, (void **)&pp->lines, &pp->lines_cap, pp->nlines + k,
		     sizeof(*pp->lines)))
		return 0;
	li = (__u32)pp->nlocs;
	if (off != U64MAP_EMPTY && u64map_put(&m->locs, off, li)) {
		pp->err = -ENOMEM;
		return 0;
	}
	loc = &pp->locs[pp->nlocs++];
	loc->mapping = mi;
	loc->offset = off;
	loc->first_line = (__u32)pp->nlines;
	loc->nlines = k;
	for (j = 0; j < k; j++) {
		const struct trace_frame *fr = frame_of(p, v[j]);
		struct pp_line *ln = &pp->lines[pp->nlines++];

		__u32 name = fr ? pp_name(pp, fr->function_id, STR_UNKNOWN) : STR_UNKNOWN;
		__u32 file = fr ? pp_name(pp, fr->file_id, STR_EMPTY) : STR_EMPTY;

		ln->function = pp_function(pp, name, file);
		ln->line = fr ? fr->line : 0;
		if (fr && fr->file_id != TRACE_NO_ID)
			m->lines = true;
	}
	if (off < m->min_off)
		m->min_off = off;
	if (off > m->max_off)
		m->max_off = off;
	return li;
}

/* Location indices of stack STACK_ID, leaf first: *FIRST in loc_ids, *N
 * of them.  A stack the trace lost is one "[unknown]" location. */
static void pp_stack(struct pprof *pp, __u32 stack_id, __u32 *first, __u32 *n)
{
	static const __u32 no_frame = TRACE_NO_ID;
	const struct profile *p = &pp->s->prof;
	const struct profile_stack *st =
		stack_id < p->nstacks && p->stacks[stack_id].frames &&
				p->stacks[stack_id].nframes ?
			&p->stacks[stack_id] : NULL;
	size_t slot = st ? stack_id : p->nstacks;
	const __u32 *v = st ? st->frames : &no_frame;
	__u32 nv = st ? st->nframes : 1, i, used, loc;

	if (!pp->stack_nlocs[slot]) {
		pp->stack_first[slot] = (__u32)pp->nloc_ids;
		for (i = 0; i < nv && !pp->err; i += used) {
			loc = pp_location(pp, v + i, nv - i, &used);
			if (pp->nloc_ids >= UINT32_MAX ||
			    !pp_grow(pp, (void **)&pp->loc_ids, &pp->loc_ids_cap,
				     pp->nloc_ids + 1, sizeof(*pp->loc_ids)))
				break;
			pp->loc_ids[pp->nloc_ids++] = loc;
			pp->stack_nlocs[slot]++;
		}
	}
	*first = pp->stack_first[slot];
	*n = pp->stack_nlocs[slot];
}

static void pp_release(struct pprof *pp)
{
	size_t i;

	free(pp->strs);
	free(pp->name_str);
	for (i = 0; i < pp->nmaps; i++)
		u64map_release(&pp->maps[i].locs);
	free(pp->maps);
	u64map_release(&pp->map_index);
	free(pp->locs);
	free(pp->lines);
	free(pp->fns);
	u64map_release(&pp->fn_index);
	free(pp->stack_first);
	free(pp->stack_nlocs);
	free(pp->loc_ids);
}

static int pp_init(struct pprof *pp, const struct trace_summary *s)
{
	int i;

	memset(pp, 0, sizeof(*pp));
	pp->s = s;
	pp->name_str = calloc(s->nnames + 1, sizeof(*pp->name_str));
	pp->stack_first = calloc(s->prof.nstacks + 1, sizeof(*pp->stack_first));
	pp->stack_nlocs = calloc(s->prof.nstacks + 1, sizeof(*pp->stack_nlocs));
	if (!pp->name_str || !pp->stack_first || !pp->stack_nlocs)
		return -ENOMEM;
	for (i = 0; i < STR_NFIXED; i++)
		pp_str(pp, fixed_strs[i]);
	return pp->err;
}

/* ---- layout of the made-up address space ---- */

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/* Whether module NAME is the binary the trace's command line started:
 * profile.proto wants the main binary as mapping[0]. */
static bool is_main_binary(const struct trace_summary *s, const char *name)
{
	const char *cmd = s->have_meta && s->meta.cmdline ? s->meta.cmdline : "";
	const char *end = strchr(cmd, ' '), *argv0;
	size_t len;

	if (!end)
		end = cmd + strlen(cmd);
	for (argv0 = end; argv0 > cmd && argv0[-1] != '/'; argv0--)
		;
	len = (size_t)(end - argv0);
	name = base_name(name);
	return len && !strncmp(name, argv0, len) &&
	       (!name[len] || !strcmp(name + len, " (deleted)"));
}

/*
 * Gives every mapping its id and address range.  User modules come first,
 * the main binary first of all, from 4 MiB up with a page between ranges;
 * each range covers offsets 0 .. the largest one seen.  Offsets beyond
 * 2^40 cannot be file offsets but absolute addresses (frames outside any
 * module, kernel frames), so such a range starts at the lowest one instead
 * and says so in file_offset.  The kernel keeps its real addresses when
 * they lie above every user range, which on x86-64 and arm64 they do.
 */
static void pp_layout(struct pprof *pp)
{
	__u64 cursor = 4ull << 20, span;
	__u32 next_id = 1;
	size_t i, main_idx = pp->nmaps;
	struct pp_mapping *m;
	int pass;

	for (i = 0; i < pp->nmaps && main_idx == pp->nmaps; i++)
		if (!pp->maps[i].kernel && pp->maps[i].module_id != TRACE_NO_ID &&
		    is_main_binary(pp->s, summary_name(pp->s, pp->maps[i].module_id)))
			main_idx = i;
	/* Pass 0: the main binary; 1: other user modules; 2: the kernel. */
	for (pass = 0; pass < 3; pass++)
		for (i = 0; i < pp->nmaps; i++) {
			m = &pp->maps[i];
			if (pass != (m->kernel ? 2 : i == main_idx ? 0 : 1))
				continue;
			m->id = next_id++;
			m->file_offset = m->kernel || m->max_off >> 40 ?
						 m->min_off & ~(PAGE_SIZE_FAKE - 1) : 0;
			span = m->max_off - m->file_offset + 1;
			m->start = m->kernel && m->file_offset >= cursor ?
					   m->file_offset : cursor;
			m->limit = m->start + span;
			if (!span || m->limit < m->start)
				m->limit = UINT64_MAX;
			cursor = m->limit <= UINT64_MAX - 2 * PAGE_SIZE_FAKE ?
					 (m->limit + 2 * PAGE_SIZE_FAKE - 1) &
						 ~(PAGE_SIZE_FAKE - 1) :
					 UINT64_MAX;
		}
}

/* ---- the messages ---- */

static void put_value_type(struct pb *b, unsigned int field, struct pb *tmp,
			   __u32 type, __u32 unit)
{
	pb_uint(tmp, VALUE_TYPE_TYPE, type);
	pb_uint(tmp, VALUE_TYPE_UNIT, unit);
	pb_msg(b, field, tmp);
}

static void put_label(struct pb *msg, struct pb *tmp, __u32 key, __u32 str)
{
	pb_uint(tmp, LABEL_KEY, key);
	pb_uint(tmp, LABEL_STR, str);
	pb_msg(msg, SAMPLE_LABEL, tmp);
}

static void put_sample(struct pprof *pp, struct pb *b, struct pb *msg,
		       struct pb *tmp, const struct profile_sample *smp)
{
	__u32 first, n, i;

	pp_stack(pp, smp->stack_id, &first, &n);
	/* Location ids are indices + 1: id 0 is reserved. */
	for (i = 0; i < n && !pp->err; i++)
		pb_varint(tmp, (__u64)pp->loc_ids[first + i] + 1);
	pb_msg(msg, SAMPLE_LOCATION_ID, tmp);
	if (smp->kind == TRACE_SAMPLE_MEM_ALLOC) {
		__u64 objs, bytes;

		/* Heap profile values, pprof's order: alloc then inuse. */
		profile_inuse(&pp->s->prof, smp, &objs, &bytes);
		pb_varint(tmp, smp->count);
		pb_varint(tmp, smp->value_ns);
		pb_varint(tmp, objs);
		pb_varint(tmp, bytes);
	} else {
		pb_varint(tmp, smp->count);
		pb_varint(tmp, smp->value_ns);
	}
	pb_msg(msg, SAMPLE_VALUE, tmp);
	if (smp->model_id != TRACE_NO_ID)
		put_label(msg, tmp, STR_MODEL, pp_name(pp, smp->model_id, 0));
	if (smp->stage_id != TRACE_NO_ID)
		put_label(msg, tmp, STR_STAGE, pp_name(pp, smp->stage_id, 0));
	if (smp->kind == TRACE_SAMPLE_OFFCPU_BLOCKED ||
	    smp->kind == TRACE_SAMPLE_OFFCPU_RUNQ)
		put_label(msg, tmp, STR_KIND,
			  smp->kind == TRACE_SAMPLE_OFFCPU_RUNQ ? STR_RUNQ : STR_BLOCKED);
	pb_msg(b, PROFILE_SAMPLE, msg);
}

static void put_mapping(struct pprof *pp, struct pb *b, struct pb *msg,
			const struct pp_mapping *m)
{
	pb_uint(msg, MAPPING_ID, m->id);
	pb_uint(msg, MAPPING_MEMORY_START, m->start);
	pb_uint(msg, MAPPING_MEMORY_LIMIT, m->limit);
	pb_uint(msg, MAPPING_FILE_OFFSET, m->file_offset);
	pb_uint(msg, MAPPING_FILENAME, pp_name(pp, m->module_id, STR_UNKNOWN));
	/* Already symbolized: keeps pprof from resolving the made-up
	 * addresses against the binary on disk. */
	pb_uint(msg, MAPPING_HAS_FUNCTIONS, 1);
	pb_uint(msg, MAPPING_HAS_FILENAMES, m->lines);
	pb_uint(msg, MAPPING_HAS_LINE_NUMBERS, m->lines);
	pb_uint(msg, MAPPING_HAS_INLINE_FRAMES, m->lines);
	pb_msg(b, PROFILE_MAPPING, msg);
}

static void put_location(struct pprof *pp, struct pb *b, struct pb *msg,
			 struct pb *tmp, __u32 idx)
{
	const struct pp_location *loc = &pp->locs[idx];
	const struct pp_mapping *m = &pp->maps[loc->mapping];
	__u32 i;

	pb_uint(msg, LOCATION_ID, (__u64)idx + 1);
	pb_uint(msg, LOCATION_MAPPING_ID, m->id);
	pb_uint(msg, LOCATION_ADDRESS, m->start + (loc->offset - m->file_offset));
	for (i = 0; i < loc->nlines; i++) {
		const struct pp_line *ln = &pp->lines[loc->first_line + i];

		pb_uint(tmp, LINE_FUNCTION_ID, (__u64)ln->function + 1);
		pb_uint(tmp, LINE_LINE, ln->line);
		pb_msg(msg, LOCATION_LINE, tmp);
	}
	pb_msg(b, PROFILE_LOCATION, msg);
}

static void put_function(struct pb *b, struct pb *msg,
			 const struct pp_function *fn, __u32 idx)
{
	pb_uint(msg, FUNCTION_ID, (__u64)idx + 1);
	pb_uint(msg, FUNCTION_NAME, fn->name);
	pb_uint(msg, FUNCTION_SYSTEM_NAME, fn->name);
	pb_uint(msg, FUNCTION_FILENAME, fn->file);
	pb_msg(b, PROFILE_FUNCTION, msg);
}

/* A loupe-internal config value ("@cpu.hz"), or NULL. */
static const char *config_get(const struct trace_summary *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->nconfig; i++)
		if (!strcmp(s->config[i].key, key))
			return s->config[i].value;
	return NULL;
}

static bool wanted(const struct profile_sample *smp, enum pprof_kind kind)
{
	switch (kind) {
	case PPROF_CPU:
		return smp->kind == TRACE_SAMPLE_CPU;
	case PPROF_OFFCPU:
		return smp->kind == TRACE_SAMPLE_OFFCPU_BLOCKED ||
		       smp->kind == TRACE_SAMPLE_OFFCPU_RUNQ;
	case PPROF_MEM:
		return smp->kind == TRACE_SAMPLE_MEM_ALLOC;
	}
	return false;
}

int export_pprof(const struct trace_summary *s, enum pprof_kind kind,
		 FILE *out)
{
	bool offcpu = kind == PPROF_OFFCPU, mem = kind == PPROF_MEM;
	const struct profile_sample *smp;
	const char *hz_str = config_get(s, "@cpu.hz");
	unsigned long long hz = hz_str ? strtoull(hz_str, NULL, 10) : 0;
	__u32 value_str = offcpu ? STR_OFFCPU : STR_CPU;
	struct pb b = { 0 }, msg = { 0 }, tmp = { 0 };
	struct pprof pp;
	z_stream zs;
	bool zs_open = false;
	size_t i, id;
	int err;

	err = pp_init(&pp, s);
	if (err)
		goto cleanup;
	memset(&zs, 0, sizeof(zs));
	/* windowBits 15 + 16: a gzip wrapper, which pprof requires. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		err = -ENOMEM;
		goto cleanup;
	}
	zs_open = true;

	/* Count first: the pprof convention for the events' number. */
	if (mem) {
		put_value_type(&b, PROFILE_SAMPLE_TYPE, &tmp, STR_ALLOC_OBJECTS, STR_COUNT);
		put_value_type(&b, PROFILE_SAMPLE_TYPE, &tmp, STR_ALLOC_SPACE, STR_BYTES);
		put_value_type(&b, PROFILE_SAMPLE_TYPE, &tmp, STR_INUSE_OBJECTS, STR_COUNT);
		put_value_type(&b, PROFILE_SAMPLE_TYPE, &tmp, STR_INUSE_SPACE, STR_BYTES);
	} else {
		put_value_type(&b, PROFILE_SAMPLE_TYPE, &tmp,
			       offcpu ? STR_EPISODES : STR_SAMPLES, STR_COUNT);
		put_value_type(&b, PROFILE_SAMPLE_TYPE, &tmp, value_str,
			       STR_NANOSECONDS);
	}

	/* Samples stream out as they are encoded; the tables they refer to
	 * grow on the way and follow them (field order is free in protobuf). */
	profile_for_each_sample(&s->prof, smp) {
		if (!wanted(smp, kind))
			continue;
		put_sample(&pp, &b, &msg, &tmp, smp);
		err = pp.err;
		if (!err && b.len >= DRAIN_BYTES)
			err = gz_drain(&zs, out, &b, false);
		if (err)
			goto cleanup;
	}

	pp_layout(&pp);
	/* In id order: profile.proto wants the main binary as mapping[0]. */
	for (id = 1; id <= pp.nmaps; id++)
		for (i = 0; i < pp.nmaps; i++)
			if (pp.maps[i].id == id)
				put_mapping(&pp, &b, &msg, &pp.maps[i]);
	for (i = 0; i < pp.nlocs; i++) {
		put_location(&pp, &b, &msg, &tmp, (__u32)i);
		if (b.len >= DRAIN_BYTES && (err = gz_drain(&zs, out, &b, false)))
			goto cleanup;
	}
	for (i = 0; i < pp.nfns; i++) {
		put_function(&b, &msg, &pp.fns[i], (__u32)i);
		if (b.len >= DRAIN_BYTES && (err = gz_drain(&zs, out, &b, false)))
			goto cleanup;
	}

	if (s->have_meta)
		pb_uint(&b, PROFILE_TIME_NANOS, s->meta.start_realtime_ns);
	pb_uint(&b, PROFILE_DURATION_NANOS, summary_duration_ns(s));
	if (mem)
		put_value_type(&b, PROFILE_PERIOD_TYPE, &tmp, STR_SPACE, STR_BYTES);
	else
		put_value_type(&b, PROFILE_PERIOD_TYPE, &tmp, value_str,
			       STR_NANOSECONDS);
	/* Off-CPU time is measured, not sampled: no period.  Memory: the
	 * values are already estimates of the whole (weighted samples). */
	if (!offcpu && !mem && hz)
		pb_uint(&b, PROFILE_PERIOD, 1000000000ull / hz);
	if (s->have_meta && s->meta.cmdline && *s->meta.cmdline)
		pb_uint(&b, PROFILE_COMMENT, pp_str(&pp, s->meta.cmdline));
	pb_uint(&b, PROFILE_DEFAULT_SAMPLE_TYPE, mem ? STR_INUSE_SPACE : value_str);

	/* Last, so that every string interned above is in it. */
	err = pp.err;
	for (i = 0; !err && i < pp.nstrs; i++) {
		pb_bytes(&b, PROFILE_STRING_TABLE, pp.strs[i], strlen(pp.strs[i]));
		if (b.len >= DRAIN_BYTES)
			err = gz_drain(&zs, out, &b, false);
	}
	if (!err)
		err = gz_drain(&zs, out, &b, true);
	if (!err) {
		errno = 0;
		if (fflush(out) || ferror(out))
			err = errno ? -errno : -EIO;
	}

cleanup:
	if (zs_open)
		deflateEnd(&zs);
	pb_release(&b);
	pb_release(&msg);
	pb_release(&tmp);
	pp_release(&pp);
	return err;
}
