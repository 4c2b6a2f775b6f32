// SPDX-License-Identifier: MIT
/*
 * Append-only trace writer; format in docs/trace-format.md.
 *
 * The payload is encoded straight after 32 bytes reserved for the chunk
 * header, so an uncompressed chunk goes out from that one buffer and a
 * compressed one from the zstd output buffer, which reserves the same 32
 * bytes.  Either way header and payload leave in a single write(2): a reader
 * (or a recorder killed mid-chunk) only ever sees whole chunks followed by
 * at most one cut-short chunk at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "analyzer/crc32c.h"
#include "analyzer/trace_codec.h"
#include "collector/trace_writer.h"

/* zstd level 3: its default, ~300 MB/s a core, and the level at which a
 * 1-second window costs well under a millisecond. */
#define TRACE_WRITER_ZSTD_LEVEL 3
/* Below this zstd's frame overhead (~10-20 bytes) eats any gain. */
#define TRACE_WRITER_MIN_COMPRESS 64

struct trace_writer {
	int fd;
	int err;		/* first failure: later appends return it */
	__u64 seq;
	__u64 bytes;
	ZSTD_CCtx *cctx;
	struct trace_codec_buf buf;	/* chunk header room + raw payload */
	struct trace_codec_buf zbuf;	/* chunk header room + compressed */
};

/* Writes all of P or fails: write(2) may be interrupted or return short on
 * a full disk or a signal, and a chunk must never be left half-written if
 * the rest can still go out. */
static int writer_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t k = write(fd, c, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EIO;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

struct trace_writer *trace_writer_new(const char *path)
{
	struct loupe_file_header fh;
	struct trace_writer *w;
	struct timespec ts;
	__u8 hdr[TRACE_FILE_HEADER_SIZE];
	int err;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->fd = -1;
	trace_codec_buf_init(&w->buf);
	trace_codec_buf_init(&w->zbuf);

	w->cctx = ZSTD_createCCtx();
	if (!w->cctx) {
		err = -ENOMEM;
		goto cleanup;
	}

	/* Traces hold command lines, hostnames and config values: owner-only.
	 * O_CREAT's mode does not apply to a file that already exists, hence
	 * the fchmod. */
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		err = -errno;
		goto cleanup;
	}
	if (fchmod(w->fd, 0600)) {
		err = -errno;
		goto cleanup;
	}

	memset(&fh, 0, sizeof(fh));
	memcpy(fh.magic, LOUPE_TRACE_MAGIC, sizeof(fh.magic));
	fh.version = LOUPE_TRACE_VERSION;
	fh.header_size = TRACE_FILE_HEADER_SIZE;
	if (!clock_gettime(CLOCK_REALTIME, &ts))
		fh.created_realtime_ns =
			(__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
	trace_codec_pack_file_header(hdr, &fh);
	err = writer_write_all(w->fd, hdr, sizeof(hdr));
	if (err)
		goto cleanup;
	w->bytes = sizeof(hdr);
	return w;

cleanup:
	if (w->fd >= 0)
		close(w->fd);
	ZSTD_freeCCtx(w->cctx);
	trace_codec_buf_release(&w->buf);
	trace_codec_buf_release(&w->zbuf);
	free(w);
	errno = -err;
	return NULL;
}

/* Starts a chunk: empties the payload buffer, leaving header room. */
static int writer_begin(struct trace_writer *w)
{
	if (w->err)
		return w->err;
	trace_codec_buf_reset(&w->buf);
	if (trace_codec_buf_reserve(&w->buf, TRACE_CHUNK_HEADER_SIZE))
		return -ENOMEM;
	w->buf.len = TRACE_CHUNK_HEADER_SIZE;
	return 0;
}

/* Compresses (when that helps), frames and writes the payload in w->buf. */
static int writer_flush(struct trace_writer *w, enum loupe_chunk_type type)
{
	struct loupe_chunk_header ch;
	size_t raw_len = w->buf.len - TRACE_CHUNK_HEADER_SIZE;
	const __u8 *raw = w->buf.data + TRACE_CHUNK_HEADER_SIZE;
	struct trace_codec_buf *out = &w->buf;
	size_t bound, zlen;
	int err;

	if (w->buf.err)
		return w->buf.err;
	if (raw_len > LOUPE_CHUNK_MAX_RAW)
		return -E2BIG;

	memset(&ch, 0, sizeof(ch));
	ch.magic = LOUPE_CHUNK_MAGIC;
	ch.type = (__u16)type;
	ch.raw_len = (__u32)raw_len;
	ch.comp_len = (__u32)raw_len;
	ch.seq = w->seq;

	if (raw_len >= TRACE_WRITER_MIN_COMPRESS) {
		bound = ZSTD_compressBound(raw_len);
		trace_codec_buf_reset(&w->zbuf);
		err = trace_codec_buf_reserve(&w->zbuf,
					      TRACE_CHUNK_HEADER_SIZE + bound);
		if (err)
			return err;
		zlen = ZSTD_compressCCtx(w->cctx,
					 w->zbuf.data + TRACE_CHUNK_HEADER_SIZE,
					 bound, raw, raw_len,
					 TRACE_WRITER_ZSTD_LEVEL);
		/* A compression failure is not fatal: the raw form is a
		 * valid chunk too. */
		if (!ZSTD_isError(zlen) && zlen < raw_len) {
			w->zbuf.len = TRACE_CHUNK_HEADER_SIZE + zlen;
			ch.flags = LOUPE_CHUNK_F_ZSTD;
			ch.comp_len = (__u32)zlen;
			out = &w->zbuf;
		}
	}
	ch.payload_crc = crc32c(0, out->data + TRACE_CHUNK_HEADER_SIZE,
				ch.comp_len);
	trace_codec_pack_chunk_header(out->data, &ch);

	err = writer_write_all(w->fd, out->data, out->len);
	if (err) {
		/* Cut off whatever part of the chunk made it out, so the file
		 * ends on a chunk boundary (best effort: the reader copes with
		 * a partial chunk anyway).  The writer is then unusable. */
		if (ftruncate(w->fd, (off_t)w->bytes) == 0)
			(void)lseek(w->fd, (off_t)w->bytes, SEEK_SET);
		w->err = err;
		return err;
	}
	w->bytes += out->len;
	w->seq++;
	return 0;
}

int trace_writer_meta(struct trace_writer *w, const struct trace_meta *m)
{
	int err = writer_begin(w);

	if (!err)
		err = trace_codec_encode_meta(&w->buf, m);
	if (!err)
		err = writer_flush(w, LOUPE_CHUNK_META);
	return err;
}

typedef int (*writer_batch_fn)(struct trace_codec_buf *b, const void *v,
			       size_t n, size_t *done);

/* Writes N items as as many chunks as the codec's per-chunk limits need. */
static int writer_batch(struct trace_writer *w, enum loupe_chunk_type type,
			const void *v, size_t size, size_t n,
			writer_batch_fn enc)
{
	const unsigned char *p = v;
	size_t done;
	int err;

	if (w->err)
		return w->err;
	if (n && !v)
		return -EINVAL;
	/* An empty batch still gets its (empty) chunk: the caller asked for
	 * one, and the loop below must run at least once for it. */
	do {
		err = writer_begin(w);
		if (err)
			return err;
		err = enc(&w->buf, p, n, &done);
		if (err)
			return err;
		err = writer_flush(w, type);
		if (err)
			return err;
		n -= done;
		/* Not p += 0 on an empty batch: v may be NULL then. */
		if (n)
			p += done * size;
	} while (n);
	return 0;
}

static int writer_enc_names(struct trace_codec_buf *b, const void *v,
			    size_t n, size_t *done)
{
	return trace_codec_encode_names(b, v, n, done);
}

static int writer_enc_config(struct trace_codec_buf *b, const void *v,
			     size_t n, size_t *done)
{
	return trace_codec_encode_config(b, v, n, done);
}

static int writer_enc_requests(struct trace_codec_buf *b, const void *v,
			       size_t n, size_t *done)
{
	return trace_codec_encode_requests(b, v, n, done);
}

int trace_writer_names(struct trace_writer *w, const struct trace_name *v,
		       size_t n)
{
	return writer_batch(w, LOUPE_CHUNK_NAMES, v, sizeof(*v), n,
			    writer_enc_names);
}

int trace_writer_config(struct trace_writer *w, const struct trace_config *v,
			size_t n)
{
	return writer_batch(w, LOUPE_CHUNK_CONFIG, v, sizeof(*v), n,
			    writer_enc_config);
}

int trace_writer_window(struct trace_writer *w, const struct trace_window *win)
{
	int err = writer_begin(w);

	if (!err)
		err = trace_codec_encode_window(&w->buf, win);
	if (!err)
		err = writer_flush(w, LOUPE_CHUNK_WINDOW);
	return err;
}

int trace_writer_requests(struct trace_writer *w,
			  const struct trace_request *v, size_t n)
{
	size_t i;

	/* Validate the whole batch first so a bad record cannot leave the
	 * batch half-written across chunks. */
	for (i = 0; i < n && v; i++)
		if (v[i].nstages > LOUPE_TRACE_MAX_STAGES)
			return -EINVAL;
	return writer_batch(w, LOUPE_CHUNK_REQUESTS, v, sizeof(*v), n,
			    writer_enc_requests);
}

int trace_writer_end(struct trace_writer *w, const struct trace_end *e)
{
	int err = writer_begin(w);

	if (!err)
		err = trace_codec_encode_end(&w->buf, e);
	if (!err)
		err = writer_flush(w, LOUPE_CHUNK_END);
	return err;
}

static int writer_enc_frames(struct trace_codec_buf *b, const void *v,
			     size_t n, size_t *done)
{
	return trace_codec_encode_frames(b, v, n, done);
}

static int writer_enc_stacks(struct trace_codec_buf *b, const void *v,
			     size_t n, size_t *done)
{
	return trace_codec_encode_stacks(b, v, n, done);
}

static int writer_enc_samples(struct trace_codec_buf *b, const void *v,
			      size_t n, size_t *done)
{
	return trace_codec_encode_samples(b, v, n, done);
}

int trace_writer_frames(struct trace_writer *w, const struct trace_frame *v,
			size_t n)
{
	return writer_batch(w, LOUPE_CHUNK_FRAMES, v, sizeof(*v), n,
			    writer_enc_frames);
}

int trace_writer_stacks(struct trace_writer *w, const struct trace_stack *v,
			size_t n)
{
	return writer_batch(w, LOUPE_CHUNK_STACKS, v, sizeof(*v), n,
			    writer_enc_stacks);
}

int trace_writer_samples(struct trace_writer *w,
			 const struct trace_sample *v, size_t n)
{
	return writer_batch(w, LOUPE_CHUNK_SAMPLES, v, sizeof(*v), n,
			    writer_enc_samples);
}

int trace_writer_counters(struct trace_writer *w,
			  const struct trace_counters *c)
{
	int err = writer_begin(w);

	if (!err)
		err = trace_codec_encode_counters(&w->buf, c);
	if (!err)
		err = writer_flush(w, LOUPE_CHUNK_COUNTERS);
	return err;
}

__u64 trace_writer_bytes(const struct trace_writer *w)
{
	return w->bytes;
}

int trace_writer_close(struct trace_writer *w)
{
	int err;

	if (!w)
		return 0;
	err = w->err;
	/* EINVAL: the path was something that cannot be synced (a pipe,
	 * /dev/null); the data went wherever it goes. */
	if (fsync(w->fd) && errno != EINVAL && !err)
		err = -errno;
	/* Linux closes the fd even when close() reports EINTR; never retry. */
	if (close(w->fd) && errno != EINTR && !err)
		err = -errno;
	ZSTD_freeCCtx(w->cctx);
	trace_codec_buf_release(&w->buf);
	trace_codec_buf_release(&w->zbuf);
	free(w);
	return err;
}
