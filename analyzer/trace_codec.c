// SPDX-License-Identifier: MIT
/*
 * Trace payload codec: byte layouts of docs/trace-format.md, "Payloads".
 *
 * Decoders treat every payload as hostile (the fuzzer feeds them directly):
 * each read goes through a bounds-checked cursor, every count is checked
 * against the bytes left before anything is allocated, and all output goes
 * into an arena sized once per payload, so the largest allocation a payload
 * can cause is a small multiple of its own length, capped by the per-chunk
 * item limits in trace_codec.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/crc32c.h"
#include "analyzer/hist.h"
#include "analyzer/trace_codec.h"

/* Smallest encodings, used to reject counts the payload cannot hold before
 * allocating for them: each varint or string takes at least one byte. */
#define CODEC_MIN_NAME 2	/* id, str */
#define CODEC_MIN_CONFIG 3	/* ts, key, value */
#define CODEC_MIN_REQUEST 9	/* 8 fields + nstages */
#define CODEC_MIN_STAGE 3	/* name_id, start_off, dur */
#define CODEC_MIN_HIST 7	/* model, stage, count, sum, min, max, nnz */
#define CODEC_MIN_BUCKET 2	/* index delta, count */
/* Padding the arena sizing allows for aligning a few arrays. */
#define CODEC_ARENA_SLACK TRACE_CODEC_ARENA_SLACK

/* ---- output buffer ---- */

void trace_codec_buf_init(struct trace_codec_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void trace_codec_buf_release(struct trace_codec_buf *b)
{
	free(b->data);
	trace_codec_buf_init(b);
}

void trace_codec_buf_reset(struct trace_codec_buf *b)
{
	b->len = 0;
	b->err = 0;
}

int trace_codec_buf_reserve(struct trace_codec_buf *b, size_t extra)
{
	size_t want, ncap;
	__u8 *p;

	if (b->err)
		return b->err;
	if (extra <= b->cap - b->len)
		return 0;
	if (__builtin_add_overflow(b->len, extra, &want))
		goto nomem;
	ncap = b->cap ? b->cap : 4096;
	while (ncap < want) {
		if (__builtin_mul_overflow(ncap, 2, &ncap))
			goto nomem;
	}
	p = realloc(b->data, ncap);
	if (!p)
		goto nomem;
	b->data = p;
	b->cap = ncap;
	return 0;
nomem:
	b->err = -ENOMEM;
	return b->err;
}

void trace_codec_put_bytes(struct trace_codec_buf *b, const void *p, size_t n)
{
	if (!n || trace_codec_buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void trace_codec_store_le16(void *p, __u16 v)
{
	__u8 *d = p;

	d[0] = (__u8)v;
	d[1] = (__u8)(v >> 8);
}

void trace_codec_store_le32(void *p, __u32 v)
{
	__u8 *d = p;

	d[0] = (__u8)v;
	d[1] = (__u8)(v >> 8);
	d[2] = (__u8)(v >> 16);
	d[3] = (__u8)(v >> 24);
}

void trace_codec_store_le64(void *p, __u64 v)
{
	trace_codec_store_le32(p, (__u32)v);
	trace_codec_store_le32((__u8 *)p + 4, (__u32)(v >> 32));
}

__u16 trace_codec_load_le16(const void *p)
{
	const __u8 *s = p;

	return (__u16)(s[0] | s[1] << 8);
}

__u32 trace_codec_load_le32(const void *p)
{
	const __u8 *s = p;

	return (__u32)s[0] | (__u32)s[1] << 8 | (__u32)s[2] << 16 |
	       (__u32)s[3] << 24;
}

__u64 trace_codec_load_le64(const void *p)
{
	return (__u64)trace_codec_load_le32(p) |
	       (__u64)trace_codec_load_le32((const __u8 *)p + 4) << 32;
}

void trace_codec_put_le16(struct trace_codec_buf *b, __u16 v)
{
	__u8 t[2];

	trace_codec_store_le16(t, v);
	trace_codec_put_bytes(b, t, sizeof(t));
}

void trace_codec_put_le32(struct trace_codec_buf *b, __u32 v)
{
	__u8 t[4];

	trace_codec_store_le32(t, v);
	trace_codec_put_bytes(b, t, sizeof(t));
}

void trace_codec_put_le64(struct trace_codec_buf *b, __u64 v)
{
	__u8 t[8];

	trace_codec_store_le64(t, v);
	trace_codec_put_bytes(b, t, sizeof(t));
}

void trace_codec_put_varint(struct trace_codec_buf *b, __u64 v)
{
	__u8 t[10];
	size_t n = 0;

	while (v >= 0x80) {
		t[n++] = (__u8)(v | 0x80);
		v >>= 7;
	}
	t[n++] = (__u8)v;
	trace_codec_put_bytes(b, t, n);
}

/* Zigzag keeps small negative deltas small: 0, -1, 1, -2 -> 0, 1, 2, 3. */
static __u64 codec_zigzag(__s64 v)
{
	__u64 u = (__u64)v;

	return (u << 1) ^ (0 - (u >> 63));
}

static __s64 codec_unzigzag(__u64 z)
{
	return (__s64)((z >> 1) ^ (0 - (z & 1)));
}

void trace_codec_put_svarint(struct trace_codec_buf *b, __s64 v)
{
	trace_codec_put_varint(b, codec_zigzag(v));
}

void trace_codec_put_str(struct trace_codec_buf *b, const char *s)
{
	size_t n;

	if (!s) {
		trace_codec_put_varint(b, 0);
		return;
	}
	n = strlen(s);
	trace_codec_put_varint(b, (__u64)n + 1);
	trace_codec_put_bytes(b, s, n);
}

/* ---- input cursor ---- */

void trace_codec_cur_init(struct trace_codec_cur *c, const void *p, size_t len)
{
	c->p = p;
	c->left = len;
}

int trace_codec_get_bytes(struct trace_codec_cur *c, const void **out,
			  size_t n)
{
	if (n > c->left)
		return -EBADMSG;
	*out = c->p;
	c->p += n;
	c->left -= n;
	return 0;
}

int trace_codec_get_le16(struct trace_codec_cur *c, __u16 *v)
{
	const void *p;

	if (trace_codec_get_bytes(c, &p, 2))
		return -EBADMSG;
	*v = trace_codec_load_le16(p);
	return 0;
}

int trace_codec_get_le32(struct trace_codec_cur *c, __u32 *v)
{
	const void *p;

	if (trace_codec_get_bytes(c, &p, 4))
		return -EBADMSG;
	*v = trace_codec_load_le32(p);
	return 0;
}

int trace_codec_get_le64(struct trace_codec_cur *c, __u64 *v)
{
	const void *p;

	if (trace_codec_get_bytes(c, &p, 8))
		return -EBADMSG;
	*v = trace_codec_load_le64(p);
	return 0;
}

int trace_codec_get_varint(struct trace_codec_cur *c, __u64 *v)
{
	__u64 r = 0;
	size_t i;

	for (i = 0; i < 10 && i < c->left; i++) {
		__u8 byte = c->p[i];

		/* The 10th byte carries bit 63 only. */
		if (i == 9 && byte > 1)
			return -EBADMSG;
		r |= (__u64)(byte & 0x7f) << (7 * i);
		if (!(byte & 0x80)) {
			c->p += i + 1;
			c->left -= i + 1;
			*v = r;
			return 0;
		}
	}
	return -EBADMSG;
}

int trace_codec_get_u32(struct trace_codec_cur *c, __u32 *v)
{
	__u64 x;

	if (trace_codec_get_varint(c, &x) || x > UINT32_MAX)
		return -EBADMSG;
	*v = (__u32)x;
	return 0;
}

int trace_codec_get_svarint(struct trace_codec_cur *c, __s64 *v)
{
	__u64 z;

	if (trace_codec_get_varint(c, &z))
		return -EBADMSG;
	*v = codec_unzigzag(z);
	return 0;
}

/* ---- arena ---- */

void trace_codec_arena_init(struct trace_codec_arena *a)
{
	memset(a, 0, sizeof(*a));
}

void trace_codec_arena_release(struct trace_codec_arena *a)
{
	free(a->base);
	trace_codec_arena_init(a);
}

int trace_codec_arena_reset(struct trace_codec_arena *a, size_t need)
{
	unsigned char *p;

	a->used = 0;
	if (need <= a->cap)
		return 0;
	/* Nothing in the arena survives a reset, so free + malloc instead of
	 * realloc: no pointless copy of the old contents. */
	free(a->base);
	a->base = NULL;
	a->cap = 0;
	p = malloc(need);
	if (!p)
		return -ENOMEM;
	a->base = p;
	a->cap = need;
	return 0;
}

void *trace_codec_arena_alloc(struct trace_codec_arena *a, size_t size,
			      size_t align)
{
	size_t off = (a->used + align - 1) & ~(align - 1);

	if (off < a->used || off > a->cap || size > a->cap - off)
		return NULL;
	a->used = off + size;
	return a->base + off;
}

int trace_codec_get_str(struct trace_codec_cur *c, struct trace_codec_arena *a,
			const char **out)
{
	const void *src;
	char *dst;
	__u64 n;

	if (trace_codec_get_varint(c, &n))
		return -EBADMSG;
	if (!n) {
		*out = NULL;
		return 0;
	}
	n--;
	if (n > c->left || trace_codec_get_bytes(c, &src, (size_t)n))
		return -EBADMSG;
	/* A C string cannot hold a NUL; one here is damage or a forgery. */
	if (memchr(src, 0, (size_t)n))
		return -EBADMSG;
	dst = trace_codec_arena_alloc(a, (size_t)n + 1, 1);
	if (!dst)
		return -EBADMSG;
	memcpy(dst, src, (size_t)n);
	dst[n] = '\0';
	*out = dst;
	return 0;
}

/* ---- headers ---- */

void trace_codec_pack_file_header(void *dst, const struct loupe_file_header *h)
{
	__u8 *d = dst;

	memcpy(d, h->magic, 8);
	trace_codec_store_le32(d + 8, h->version);
	trace_codec_store_le32(d + 12, h->header_size);
	trace_codec_store_le64(d + 16, h->created_realtime_ns);
	trace_codec_store_le32(d + 24, h->flags);
	trace_codec_store_le32(d + 28, crc32c(0, d, 28));
}

void trace_codec_unpack_file_header(const void *src,
				    struct loupe_file_header *h)
{
	const __u8 *s = src;

	memcpy(h->magic, s, 8);
	h->version = trace_codec_load_le32(s + 8);
	h->header_size = trace_codec_load_le32(s + 12);
	h->created_realtime_ns = trace_codec_load_le64(s + 16);
	h->flags = trace_codec_load_le32(s + 24);
	h->header_crc = trace_codec_load_le32(s + 28);
}

void trace_codec_pack_chunk_header(void *dst,
				   const struct loupe_chunk_header *h)
{
	__u8 *d = dst;

	trace_codec_store_le32(d, h->magic);
	trace_codec_store_le16(d + 4, h->type);
	trace_codec_store_le16(d + 6, h->flags);
	trace_codec_store_le32(d + 8, h->raw_len);
	trace_codec_store_le32(d + 12, h->comp_len);
	trace_codec_store_le64(d + 16, h->seq);
	trace_codec_store_le32(d + 24, h->payload_crc);
	trace_codec_store_le32(d + 28, crc32c(0, d, 28));
}

int trace_codec_unpack_chunk_header(const void *src,
				    struct loupe_chunk_header *h)
{
	const __u8 *s = src;

	h->magic = trace_codec_load_le32(s);
	h->type = trace_codec_load_le16(s + 4);
	h->flags = trace_codec_load_le16(s + 6);
	h->raw_len = trace_codec_load_le32(s + 8);
	h->comp_len = trace_codec_load_le32(s + 12);
	h->seq = trace_codec_load_le64(s + 16);
	h->payload_crc = trace_codec_load_le32(s + 24);
	h->header_crc = trace_codec_load_le32(s + 28);
	if (h->magic != LOUPE_CHUNK_MAGIC || h->header_crc != crc32c(0, s, 28))
		return -EBADMSG;
	return 0;
}

/* ---- encoders ---- */

/* A string longer than a chunk can hold is refused before it is copied. */
static int codec_check_str(const char *s)
{
	if (s && strnlen(s, LOUPE_CHUNK_MAX_RAW + 1) > LOUPE_CHUNK_MAX_RAW)
		return -E2BIG;
	return 0;
}

static int codec_finish(struct trace_codec_buf *b, size_t start)
{
	if (b->err)
		return b->err;
	if (b->len - start > LOUPE_CHUNK_MAX_RAW)
		return -E2BIG;
	return 0;
}

int trace_codec_encode_meta(struct trace_codec_buf *b,
			    const struct trace_meta *m)
{
	size_t start = b->len;

	if (codec_check_str(m->cmdline) || codec_check_str(m->hostname) ||
	    codec_check_str(m->loupe_version) || codec_check_str(m->mode))
		return -E2BIG;
	trace_codec_put_varint(b, m->pid);
	trace_codec_put_varint(b, m->ncpus);
	trace_codec_put_varint(b, m->start_realtime_ns);
	trace_codec_put_varint(b, m->start_mono_ns);
	trace_codec_put_varint(b, m->window_ns);
	trace_codec_put_str(b, m->cmdline);
	trace_codec_put_str(b, m->hostname);
	trace_codec_put_str(b, m->loupe_version);
	trace_codec_put_str(b, m->mode);
	return codec_finish(b, start);
}

/*
 * Shared batch loop: a le32 count (patched at the end, because how many
 * items fit is only known afterwards), then items until the limits say
 * stop.  An item that pushes the payload past LOUPE_CHUNK_MAX_RAW is taken
 * back out and left for the next chunk, unless it is alone (-E2BIG).
 */
int trace_codec_encode_batch(struct trace_codec_buf *b, const void *v,
			     size_t size, size_t n, size_t *done,
			     trace_codec_put_item_fn put)
{
	const unsigned char *item = v;
	size_t start = b->len, i, mark;
	int err;

	*done = 0;
	trace_codec_put_le32(b, 0);
	for (i = 0; i < n && i < TRACE_CODEC_MAX_ITEMS; i++) {
		if (i && b->len - start >= TRACE_CODEC_SOFT_RAW)
			break;
		mark = b->len;
		err = put(b, item + i * size, i ? item + (i - 1) * size : NULL);
		if (err)
			return err;
		if (b->err)
			return b->err;
		if (b->len - start > LOUPE_CHUNK_MAX_RAW) {
			if (!i)
				return -E2BIG;
			b->len = mark;
			break;
		}
	}
	if (b->err)
		return b->err;
	trace_codec_store_le32(b->data + start, (__u32)i);
	*done = i;
	return 0;
}

static int codec_put_name(struct trace_codec_buf *b, const void *item,
			  const void *prev)
{
	const struct trace_name *nm = item;

	(void)prev;
	if (codec_check_str(nm->str))
		return -E2BIG;
	trace_codec_put_varint(b, nm->id);
	trace_codec_put_str(b, nm->str);
	return 0;
}

int trace_codec_encode_names(struct trace_codec_buf *b,
			     const struct trace_name *v, size_t n,
			     size_t *done)
{
	return trace_codec_encode_batch(b, v, sizeof(*v), n, done, codec_put_name);
}

static int codec_put_config(struct trace_codec_buf *b, const void *item,
			    const void *prev)
{
	const struct trace_config *c = item;
	const struct trace_config *p = prev;
	__u64 prev_ts = p ? p->ts_ns : 0;

	if (codec_check_str(c->key) || codec_check_str(c->value))
		return -E2BIG;
	trace_codec_put_svarint(b, (__s64)(c->ts_ns - prev_ts));
	trace_codec_put_str(b, c->key);
	trace_codec_put_str(b, c->value);
	return 0;
}

int trace_codec_encode_config(struct trace_codec_buf *b,
			      const struct trace_config *v, size_t n,
			      size_t *done)
{
	return trace_codec_encode_batch(b, v, sizeof(*v), n, done, codec_put_config);
}

/* The reader rejects a histogram whose buckets do not add up to its count,
 * so refuse to write one rather than lose the whole window later. */
static int codec_check_hist(const struct hist *h)
{
	__u64 total = 0;
	unsigned int i;

	for (i = 0; i < HIST_NBUCKETS; i++)
		if (__builtin_add_overflow(total, h->buckets[i], &total))
			return -EINVAL;
	if (total != h->count || (h->count && h->min > h->max))
		return -EINVAL;
	return 0;
}

static void codec_put_hist(struct trace_codec_buf *b, const struct hist *h)
{
	unsigned int i, nnz = 0, next = 0;

	for (i = 0; i < HIST_NBUCKETS; i++)
		nnz += h->buckets[i] != 0;
	trace_codec_put_varint(b, h->count);
	trace_codec_put_varint(b, h->sum);
	trace_codec_put_varint(b, h->min);
	trace_codec_put_varint(b, h->max);
	trace_codec_put_varint(b, nnz);
	/* Sparse: the gap since the bucket after the previous one, so runs
	 * of neighbouring buckets cost one byte of index each. */
	for (i = 0; i < HIST_NBUCKETS; i++) {
		if (!h->buckets[i])
			continue;
		trace_codec_put_varint(b, i - next);
		trace_codec_put_varint(b, h->buckets[i]);
		next = i + 1;
	}
}

int trace_codec_encode_window(struct trace_codec_buf *b,
			      const struct trace_window *w)
{
	size_t start = b->len;
	__u32 i;

	if (w->nhists > TRACE_CODEC_MAX_HISTS)
		return -E2BIG;
	if (w->nhists && !w->hists)
		return -EINVAL;
	for (i = 0; i < w->nhists; i++)
		if (!w->hists[i].hist || codec_check_hist(w->hists[i].hist))
			return -EINVAL;
	trace_codec_put_varint(b, w->index);
	trace_codec_put_varint(b, w->start_ns);
	/* Unsigned wrap-around makes end - start lossless even if end is
	 * somehow earlier than start. */
	trace_codec_put_varint(b, w->end_ns - w->start_ns);
	trace_codec_put_varint(b, w->requests);
	trace_codec_put_varint(b, w->errors);
	trace_codec_put_varint(b, w->dropped);
	trace_codec_put_varint(b, w->late);
	trace_codec_put_varint(b, w->nhists);
	for (i = 0; i < w->nhists; i++) {
		trace_codec_put_varint(b, w->hists[i].model_id);
		trace_codec_put_varint(b, w->hists[i].stage_id);
		codec_put_hist(b, w->hists[i].hist);
	}
	return codec_finish(b, start);
}

static int codec_put_request(struct trace_codec_buf *b, const void *item,
			     const void *prev)
{
	static const struct trace_request zero;
	const struct trace_request *r = item;
	const struct trace_request *p = prev ? prev : &zero;
	unsigned int i;

	if (r->nstages > LOUPE_TRACE_MAX_STAGES)
		return -EINVAL;
	/* Neighbouring requests have close ids and begin times. */
	trace_codec_put_svarint(b, (__s64)(r->req_id - p->req_id));
	trace_codec_put_svarint(b, (__s64)(r->begin_ns - p->begin_ns));
	trace_codec_put_varint(b, r->end_ns - r->begin_ns);
	trace_codec_put_varint(b, r->model_id);
	trace_codec_put_varint(b, r->batch);
	trace_codec_put_varint(b, r->tid);
	trace_codec_put_svarint(b, r->status);
	trace_codec_put_varint(b, r->flags);
	trace_codec_put_varint(b, r->nstages);
	for (i = 0; i < r->nstages; i++) {
		trace_codec_put_varint(b, r->stages[i].name_id);
		trace_codec_put_varint(b, r->stages[i].start_off_ns);
		trace_codec_put_varint(b, r->stages[i].dur_ns);
	}
	return 0;
}

int trace_codec_encode_requests(struct trace_codec_buf *b,
				const struct trace_request *v, size_t n,
				size_t *done)
{
	return trace_codec_encode_batch(b, v, sizeof(*v), n, done,
				  codec_put_request);
}

int trace_codec_encode_end(struct trace_codec_buf *b, const struct trace_end *e)
{
	size_t start = b->len;

	trace_codec_put_varint(b, e->end_mono_ns);
	trace_codec_put_varint(b, e->requests);
	trace_codec_put_varint(b, e->windows);
	trace_codec_put_varint(b, e->dropped);
	trace_codec_put_varint(b, e->reason);
	trace_codec_put_svarint(b, e->target_exit_status);
	return codec_finish(b, start);
}

/* ---- decoders ---- */

/*
 * Reads a batch's le32 item count and checks it against the limit and the
 * bytes left (each item takes at least MIN_SIZE), so the arena is sized for
 * at most what the payload could really describe.
 */
int trace_codec_get_count(struct trace_codec_cur *c, size_t min_size,
			  size_t *n)
{
	__u32 v;

	if (trace_codec_get_le32(c, &v) || v > TRACE_CODEC_MAX_ITEMS ||
	    v > c->left / min_size)
		return -EBADMSG;
	*n = v;
	return 0;
}

int trace_codec_decode_meta(const void *p, size_t len,
			    struct trace_codec_arena *a,
			    struct trace_meta *out)
{
	struct trace_codec_cur c;
	int err;

	memset(out, 0, sizeof(*out));
	trace_codec_cur_init(&c, p, len);
	/* Four strings: their bytes plus a NUL each, at most. */
	err = trace_codec_arena_reset(a, len + 4 + CODEC_ARENA_SLACK);
	if (err)
		return err;
	if (trace_codec_get_u32(&c, &out->pid) ||
	    trace_codec_get_u32(&c, &out->ncpus) ||
	    trace_codec_get_varint(&c, &out->start_realtime_ns) ||
	    trace_codec_get_varint(&c, &out->start_mono_ns) ||
	    trace_codec_get_varint(&c, &out->window_ns) ||
	    trace_codec_get_str(&c, a, &out->cmdline) ||
	    trace_codec_get_str(&c, a, &out->hostname) ||
	    trace_codec_get_str(&c, a, &out->loupe_version) ||
	    trace_codec_get_str(&c, a, &out->mode))
		return -EBADMSG;
	/* Bytes after the last known field are ignored: a later writer may
	 * append fields (docs/trace-format.md, "Compatibility"). */
	return 0;
}

int trace_codec_decode_names(const void *p, size_t len,
			     struct trace_codec_arena *a,
			     struct trace_name **v, size_t *n)
{
	struct trace_codec_cur c;
	struct trace_name *out;
	size_t i, cnt;
	int err;

	*v = NULL;
	*n = 0;
	trace_codec_cur_init(&c, p, len);
	if (trace_codec_get_count(&c, CODEC_MIN_NAME, &cnt))
		return -EBADMSG;
	err = trace_codec_arena_reset(a, cnt * sizeof(*out) + c.left + cnt +
						 CODEC_ARENA_SLACK);
	if (err)
		return err;
	out = trace_codec_arena_alloc(a, cnt * sizeof(*out) + 1,
				      _Alignof(struct trace_name));
	if (!out)
		return -EBADMSG;
	for (i = 0; i < cnt; i++) {
		if (trace_codec_get_u32(&c, &out[i].id) ||
		    trace_codec_get_str(&c, a, &out[i].str))
			return -EBADMSG;
	}
	*v = out;
	*n = cnt;
	return 0;
}

int trace_codec_decode_config(const void *p, size_t len,
			      struct trace_codec_arena *a,
			      struct trace_config **v, size_t *n)
{
	struct trace_codec_cur c;
	struct trace_config *out;
	size_t i, cnt;
	__u64 ts = 0;
	__s64 d;
	int err;

	*v = NULL;
	*n = 0;
	trace_codec_cur_init(&c, p, len);
	if (trace_codec_get_count(&c, CODEC_MIN_CONFIG, &cnt))
		return -EBADMSG;
	err = trace_codec_arena_reset(a, cnt * sizeof(*out) + c.left +
						 2 * cnt + CODEC_ARENA_SLACK);
	if (err)
		return err;
	out = trace_codec_arena_alloc(a, cnt * sizeof(*out) + 1,
				      _Alignof(struct trace_config));
	if (!out)
		return -EBADMSG;
	for (i = 0; i < cnt; i++) {
		if (trace_codec_get_svarint(&c, &d) ||
		    trace_codec_get_str(&c, a, &out[i].key) ||
		    trace_codec_get_str(&c, a, &out[i].value))
			return -EBADMSG;
		ts += (__u64)d;
		out[i].ts_ns = ts;
	}
	*v = out;
	*n = cnt;
	return 0;
}

static int codec_get_hist(struct trace_codec_cur *c, struct hist *h)
{
	__u64 nnz, idx, delta, cnt, total = 0;
	__u64 i;

	hist_init(h);
	if (trace_codec_get_varint(c, &h->count) ||
	    trace_codec_get_varint(c, &h->sum) ||
	    trace_codec_get_varint(c, &h->min) ||
	    trace_codec_get_varint(c, &h->max) ||
	    trace_codec_get_varint(c, &nnz))
		return -EBADMSG;
	if (nnz > HIST_NBUCKETS || nnz > c->left / CODEC_MIN_BUCKET)
		return -EBADMSG;
	idx = 0;
	for (i = 0; i < nnz; i++) {
		if (trace_codec_get_varint(c, &delta) ||
		    trace_codec_get_varint(c, &cnt))
			return -EBADMSG;
		/* delta is checked first so idx + delta cannot wrap. */
		if (delta >= HIST_NBUCKETS || idx + delta >= HIST_NBUCKETS)
			return -EBADMSG;
		idx += delta;
		/* Zero counts are never written; one means damage, and it
		 * would also let a bucket index repeat. */
		if (!cnt || __builtin_add_overflow(total, cnt, &total))
			return -EBADMSG;
		h->buckets[idx] = cnt;
		idx++;
	}
	if (total != h->count || (h->count && h->min > h->max))
		return -EBADMSG;
	return 0;
}

int trace_codec_decode_window(const void *p, size_t len,
			      struct trace_codec_arena *a,
			      struct trace_window *out)
{
	struct trace_codec_cur c;
	struct trace_hist_entry *e;
	struct hist *hs;
	__u64 dur, nh;
	__u32 i;
	int err;

	memset(out, 0, sizeof(*out));
	trace_codec_cur_init(&c, p, len);
	if (trace_codec_get_varint(&c, &out->index) ||
	    trace_codec_get_varint(&c, &out->start_ns) ||
	    trace_codec_get_varint(&c, &dur) ||
	    trace_codec_get_varint(&c, &out->requests) ||
	    trace_codec_get_varint(&c, &out->errors) ||
	    trace_codec_get_varint(&c, &out->dropped) ||
	    trace_codec_get_varint(&c, &out->late) ||
	    trace_codec_get_varint(&c, &nh))
		return -EBADMSG;
	out->end_ns = out->start_ns + dur;
	if (nh > TRACE_CODEC_MAX_HISTS || nh > c.left / CODEC_MIN_HIST)
		return -EBADMSG;
	err = trace_codec_arena_reset(a, nh * (sizeof(*e) + sizeof(*hs)) +
						 CODEC_ARENA_SLACK);
	if (err)
		return err;
	e = trace_codec_arena_alloc(a, nh * sizeof(*e) + 1,
				    _Alignof(struct trace_hist_entry));
	hs = trace_codec_arena_alloc(a, nh * sizeof(*hs) + 1,
				     _Alignof(struct hist));
	if (!e || !hs)
		return -EBADMSG;
	for (i = 0; i < nh; i++) {
		if (trace_codec_get_u32(&c, &e[i].model_id) ||
		    trace_codec_get_u32(&c, &e[i].stage_id) ||
		    codec_get_hist(&c, &hs[i]))
			return -EBADMSG;
		e[i].hist = &hs[i];
	}
	out->nhists = (__u32)nh;
	out->hists = e;
	return 0;
}

static int codec_get_request(struct trace_codec_cur *c,
			     const struct trace_request *prev,
			     struct trace_request *r)
{
	__u64 dur, flags, nst;
	__s64 did, dbegin, status;
	unsigned int i;

	memset(r, 0, sizeof(*r));
	if (trace_codec_get_svarint(c, &did) ||
	    trace_codec_get_svarint(c, &dbegin) ||
	    trace_codec_get_varint(c, &dur) ||
	    trace_codec_get_u32(c, &r->model_id) ||
	    trace_codec_get_u32(c, &r->batch) ||
	    trace_codec_get_u32(c, &r->tid) ||
	    trace_codec_get_svarint(c, &status) ||
	    trace_codec_get_varint(c, &flags) ||
	    trace_codec_get_varint(c, &nst))
		return -EBADMSG;
	if (status < INT32_MIN || status > INT32_MAX || flags > UINT16_MAX ||
	    nst > LOUPE_TRACE_MAX_STAGES)
		return -EBADMSG;
	r->req_id = prev->req_id + (__u64)did;
	r->begin_ns = prev->begin_ns + (__u64)dbegin;
	r->end_ns = r->begin_ns + dur;
	r->status = (__s32)status;
	r->flags = (__u16)flags;
	r->nstages = (__u16)nst;
	for (i = 0; i < nst; i++) {
		if (trace_codec_get_u32(c, &r->stages[i].name_id) ||
		    trace_codec_get_u32(c, &r->stages[i].start_off_ns) ||
		    trace_codec_get_u32(c, &r->stages[i].dur_ns))
			return -EBADMSG;
	}
	return 0;
}

int trace_codec_decode_requests(const void *p, size_t len,
				struct trace_codec_arena *a,
				struct trace_request **v, size_t *n)
{
	static const struct trace_request zero;
	struct trace_codec_cur c;
	struct trace_request *out;
	size_t i, cnt;
	int err;

	*v = NULL;
	*n = 0;
	trace_codec_cur_init(&c, p, len);
	if (trace_codec_get_count(&c, CODEC_MIN_REQUEST, &cnt))
		return -EBADMSG;
	err = trace_codec_arena_reset(a, cnt * sizeof(*out) +
						 CODEC_ARENA_SLACK);
	if (err)
		return err;
	out = trace_codec_arena_alloc(a, cnt * sizeof(*out) + 1,
				      _Alignof(struct trace_request));
	if (!out)
		return -EBADMSG;
	for (i = 0; i < cnt; i++)
		if (codec_get_request(&c, i ? &out[i - 1] : &zero, &out[i]))
			return -EBADMSG;
	*v = out;
	*n = cnt;
	return 0;
}

int trace_codec_decode_end(const void *p, size_t len, struct trace_end *out)
{
	struct trace_codec_cur c;
	__s64 status;

	memset(out, 0, sizeof(*out));
	trace_codec_cur_init(&c, p, len);
	if (trace_codec_get_varint(&c, &out->end_mono_ns) ||
	    trace_codec_get_varint(&c, &out->requests) ||
	    trace_codec_get_varint(&c, &out->windows) ||
	    trace_codec_get_varint(&c, &out->dropped) ||
	    trace_codec_get_u32(&c, &out->reason) ||
	    trace_codec_get_svarint(&c, &status))
		return -EBADMSG;
	if (status < INT32_MIN || status > INT32_MAX)
		return -EBADMSG;
	out->target_exit_status = (__s32)status;
	return 0;
}
