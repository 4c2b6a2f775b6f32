/* SPDX-License-Identifier: MIT */
/*
 * Trace payload codec, shared by collector/trace_writer.c and
 * analyzer/trace_reader.c.  The byte layouts are specified in
 * docs/trace-format.md; this module is the one place that implements them.
 *
 * Three pieces:
 *  - struct trace_codec_buf: a growable output buffer with little-endian
 *    fixed-width ints, LEB128 varints (zigzag for signed) and strings.  Put
 *    errors are sticky in buf->err, so an encoder checks once at the end.
 *  - struct trace_codec_cur: a bounds-checked input cursor.  Every get
 *    returns 0 or -EBADMSG and never reads outside [p, p + left).
 *  - struct trace_codec_arena: a reusable bump allocator that decoders put
 *    their output in.  A decoder sizes it once from the payload length (so
 *    pointers it hands out never move) and the memory is kept for the next
 *    chunk, which keeps a reader's footprint at its high-water mark.
 *
 * Encoders append to a buffer and return 0, -EINVAL (a record the format
 * cannot represent or an inconsistent histogram), -E2BIG (one item larger
 * than LOUPE_CHUNK_MAX_RAW) or -ENOMEM.  Decoders take a whole payload and
 * return 0, -EBADMSG on any inconsistency, or -ENOMEM; what they yield lives
 * in the arena until its next reset.  Nothing here is thread-safe per
 * object; distinct objects may be used from distinct threads.
 */
#ifndef LOUPE_TRACE_CODEC_H
#define LOUPE_TRACE_CODEC_H

#include <stddef.h>
#include <linux/types.h>
#include <loupe/trace.h>

#define TRACE_FILE_HEADER_SIZE 32
#define TRACE_CHUNK_HEADER_SIZE 32
/* Largest file header a reader accepts (later versions may grow it). */
#define TRACE_FILE_HEADER_MAX 4096

/*
 * Per-chunk item limits.  They bound what a reader allocates for one chunk
 * (a struct hist is ~19 KB in memory but can be 7 bytes on disk), so a
 * hostile file cannot make it allocate more than a few tens of MB.  The
 * writer splits larger name/config/request batches into several chunks; a
 * window with more histograms than this is refused with -E2BIG.
 */
#define TRACE_CODEC_MAX_ITEMS 65536
#define TRACE_CODEC_MAX_HISTS 1024
/* Batch chunks are closed once their raw payload passes this size: small
 * chunks lose less to a single corrupt byte. */
#define TRACE_CODEC_SOFT_RAW (1u << 20)

/* ---- output buffer ---- */

struct trace_codec_buf {
	__u8 *data;
	size_t len;
	size_t cap;
	int err;	/* first error of a put, 0 if none */
};

void trace_codec_buf_init(struct trace_codec_buf *b);
void trace_codec_buf_release(struct trace_codec_buf *b);
/* Empties the buffer (keeping its memory) and clears err. */
void trace_codec_buf_reset(struct trace_codec_buf *b);
/* Makes room for EXTRA more bytes; 0 or -ENOMEM (also recorded in err). */
int trace_codec_buf_reserve(struct trace_codec_buf *b, size_t extra);

void trace_codec_put_bytes(struct trace_codec_buf *b, const void *p, size_t n);
void trace_codec_put_le16(struct trace_codec_buf *b, __u16 v);
void trace_codec_put_le32(struct trace_codec_buf *b, __u32 v);
void trace_codec_put_le64(struct trace_codec_buf *b, __u64 v);
void trace_codec_put_varint(struct trace_codec_buf *b, __u64 v);
void trace_codec_put_svarint(struct trace_codec_buf *b, __s64 v);
/* Varint (strlen + 1) then the bytes, no NUL; NULL is written as varint 0. */
void trace_codec_put_str(struct trace_codec_buf *b, const char *s);

/* Fixed-position little-endian access, for headers. */
void trace_codec_store_le16(void *p, __u16 v);
void trace_codec_store_le32(void *p, __u32 v);
void trace_codec_store_le64(void *p, __u64 v);
__u16 trace_codec_load_le16(const void *p);
__u32 trace_codec_load_le32(const void *p);
__u64 trace_codec_load_le64(const void *p);

/* ---- input cursor ---- */

struct trace_codec_cur {
	const __u8 *p;
	size_t left;
};

void trace_codec_cur_init(struct trace_codec_cur *c, const void *p,
			  size_t len);
/* Points *out at the next N bytes and steps over them. */
int trace_codec_get_bytes(struct trace_codec_cur *c, const void **out,
			  size_t n);
int trace_codec_get_le16(struct trace_codec_cur *c, __u16 *v);
int trace_codec_get_le32(struct trace_codec_cur *c, __u32 *v);
int trace_codec_get_le64(struct trace_codec_cur *c, __u64 *v);
/* At most 10 bytes; a 10th byte above 1 (bits past 64) is -EBADMSG. */
int trace_codec_get_varint(struct trace_codec_cur *c, __u64 *v);
/* A varint that must fit in 32 bits. */
int trace_codec_get_u32(struct trace_codec_cur *c, __u32 *v);
int trace_codec_get_svarint(struct trace_codec_cur *c, __s64 *v);

/* ---- decoder arena ---- */

struct trace_codec_arena {
	unsigned char *base;
	size_t cap;
	size_t used;
};

void trace_codec_arena_init(struct trace_codec_arena *a);
void trace_codec_arena_release(struct trace_codec_arena *a);
/* Forgets earlier allocations and makes sure NEED bytes fit; 0 or -ENOMEM.
 * Earlier pointers into the arena are invalid afterwards. */
int trace_codec_arena_reset(struct trace_codec_arena *a, size_t need);
/* SIZE bytes aligned to ALIGN (a power of two), or NULL when the reset
 * reserved too little (a sizing bug, never a property of the input). */
void *trace_codec_arena_alloc(struct trace_codec_arena *a, size_t size,
			      size_t align);

/* A string as put_str wrote it, copied NUL-terminated into the arena; NULL
 * for varint 0.  Embedded NUL bytes are -EBADMSG. */
int trace_codec_get_str(struct trace_codec_cur *c, struct trace_codec_arena *a,
			const char **out);

/* ---- headers (always exactly 32 bytes on disk) ---- */

/* Writes H as 32 bytes to DST, computing header_crc (H's is ignored). */
void trace_codec_pack_file_header(void *dst, const struct loupe_file_header *h);
/* Unpacks the fixed v1 fields of 32 bytes; no validation. */
void trace_codec_unpack_file_header(const void *src,
				    struct loupe_file_header *h);
void trace_codec_pack_chunk_header(void *dst,
				   const struct loupe_chunk_header *h);
/* Unpacks 32 bytes; returns 0 when magic and header_crc check out, else
 * -EBADMSG (H is filled either way). */
int trace_codec_unpack_chunk_header(const void *src,
				    struct loupe_chunk_header *h);

/* ---- batch helpers (shared with trace_codec_profile.c) ---- */

/* Appends one item; PREV is the previous item (NULL for the first) for the
 * encodings that store deltas. */
typedef int (*trace_codec_put_item_fn)(struct trace_codec_buf *b,
				       const void *item, const void *prev);
/* A le32 count, then items until a per-chunk limit; *DONE = items taken. */
int trace_codec_encode_batch(struct trace_codec_buf *b, const void *v,
			     size_t size, size_t n, size_t *done,
			     trace_codec_put_item_fn put);
/* Reads a batch count, checked against the limit and the bytes left (each
 * item takes at least MIN_SIZE bytes). */
int trace_codec_get_count(struct trace_codec_cur *c, size_t min_size,
			  size_t *n);
#define TRACE_CODEC_ARENA_SLACK 256

/* ---- payload encoders (append to B) ---- */

int trace_codec_encode_meta(struct trace_codec_buf *b,
			    const struct trace_meta *m);
/*
 * Batch encoders take up to N items starting at V[0] and set *DONE to how
 * many went in: at least one when N > 0, at most TRACE_CODEC_MAX_ITEMS, and
 * no more once the payload passes TRACE_CODEC_SOFT_RAW.  The caller writes
 * the chunk and calls again with the rest.
 */
int trace_codec_encode_names(struct trace_codec_buf *b,
			     const struct trace_name *v, size_t n,
			     size_t *done);
int trace_codec_encode_config(struct trace_codec_buf *b,
			      const struct trace_config *v, size_t n,
			      size_t *done);
int trace_codec_encode_window(struct trace_codec_buf *b,
			      const struct trace_window *w);
int trace_codec_encode_requests(struct trace_codec_buf *b,
				const struct trace_request *v, size_t n,
				size_t *done);
int trace_codec_encode_end(struct trace_codec_buf *b,
			   const struct trace_end *e);

/* ---- payload decoders (P, LEN: one whole raw payload) ---- */

int trace_codec_decode_meta(const void *p, size_t len,
			    struct trace_codec_arena *a,
			    struct trace_meta *out);
int trace_codec_decode_names(const void *p, size_t len,
			     struct trace_codec_arena *a,
			     struct trace_name **v, size_t *n);
int trace_codec_decode_config(const void *p, size_t len,
			      struct trace_codec_arena *a,
			      struct trace_config **v, size_t *n);
int trace_codec_decode_window(const void *p, size_t len,
			      struct trace_codec_arena *a,
			      struct trace_window *out);
int trace_codec_decode_requests(const void *p, size_t len,
				struct trace_codec_arena *a,
				struct trace_request **v, size_t *n);
int trace_codec_decode_end(const void *p, size_t len, struct trace_end *out);

/* ---- CPU profile chunks (trace_codec_profile.c) ---- */

int trace_codec_encode_frames(struct trace_codec_buf *b,
			      const struct trace_frame *v, size_t n,
			      size_t *done);
int trace_codec_encode_stacks(struct trace_codec_buf *b,
			      const struct trace_stack *v, size_t n,
			      size_t *done);
int trace_codec_encode_samples(struct trace_codec_buf *b,
			       const struct trace_sample *v, size_t n,
			       size_t *done);
int trace_codec_encode_counters(struct trace_codec_buf *b,
				const struct trace_counters *c);
int trace_codec_decode_frames(const void *p, size_t len,
			      struct trace_codec_arena *a,
			      struct trace_frame **v, size_t *n);
int trace_codec_decode_stacks(const void *p, size_t len,
			      struct trace_codec_arena *a,
			      struct trace_stack **v, size_t *n);
int trace_codec_decode_samples(const void *p, size_t len,
			       struct trace_codec_arena *a,
			       struct trace_sample **v, size_t *n);
int trace_codec_decode_counters(const void *p, size_t len,
				struct trace_counters *out);

#endif
