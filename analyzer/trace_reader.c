// SPDX-License-Identifier: MIT
/*
 * Streaming trace reader; format in docs/trace-format.md.
 *
 * The file is read through one window buffer with pread(2): small chunks
 * come out of a 256 KiB read-ahead, a large one makes the window grow to
 * its size (at most 32 bytes + LOUPE_CHUNK_MAX_RAW).  Decompressed payloads
 * go to a second reusable buffer and decoded records into a reusable arena,
 * so after the largest chunk has been seen the reader allocates nothing more,
 * however long the file.
 *
 * Damage handling follows the format's recovery rules: a chunk header that
 * fails its checksum (or describes an impossible chunk) cannot be trusted
 * for its length, so the reader scans forward byte by byte for the next
 * chunk magic whose header checksum holds; a chunk with a good header but a
 * bad payload is skipped by its length, so a valid-looking header inside
 * its payload is never mistaken for a real one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "analyzer/crc32c.h"
#include "analyzer/trace_codec.h"
#include "analyzer/trace_reader.h"

#define READER_READAHEAD (256u << 10)
/* Bytes examined per step while resynchronising. */
#define READER_SCAN_STEP (64u << 10)
/* Each step overlaps the next by a header's length less one, so a header
 * straddling two steps is still seen whole. */
#define READER_SCAN_LEN (READER_SCAN_STEP + TRACE_CHUNK_HEADER_SIZE - 1)

struct trace_reader {
	int fd;
	bool sized;		/* a regular file: fstat() knows its size */
	bool done;		/* stopped at a cut-short chunk for good */
	bool follow;		/* a cut-short chunk may still be in flight */
	__u64 pos;		/* file offset of the next chunk header */
	__u64 expect_seq;	/* seq the next chunk should carry */
	bool have_seq;		/* false right after an unreadable header */

	/* Window on the file: bytes [win_off, win_off + win_len). */
	__u8 *win;
	size_t win_cap;
	size_t win_len;
	__u64 win_off;

	ZSTD_DCtx *dctx;
	__u8 *raw;		/* decompressed payload */
	size_t raw_cap;
	struct trace_codec_arena arena;

	struct trace_reader_stats st;
	bool damaged;
	char damage[160];
};

/*
 * Makes file bytes [off, off + len) available at *p.  *avail is len, or less
 * when the file ends first.  Bytes already in the window are kept rather
 * than read again: the payload read right after a header hits them.
 */
static int reader_view(struct trace_reader *r, __u64 off, size_t len,
		       const __u8 **p, size_t *avail)
{
	size_t keep = 0, want;

	if (r->win_len && off >= r->win_off &&
	    off - r->win_off <= r->win_len) {
		size_t skip = (size_t)(off - r->win_off);

		if (r->win_len - skip >= len) {
			*p = r->win + skip;
			*avail = len;
			return 0;
		}
		keep = r->win_len - skip;
		if (keep && skip)
			memmove(r->win, r->win + skip, keep);
	}
	r->win_off = off;
	r->win_len = keep;

	want = len > READER_READAHEAD ? len : READER_READAHEAD;
	/* No read-ahead buffer larger than the file: most traces of a short
	 * run are smaller than READER_READAHEAD. */
	if (r->sized) {
		__u64 rest = off < r->st.file_size ? r->st.file_size - off : 0;

		if (rest < want)
			want = rest > len ? (size_t)rest : len;
	}
	if (want > r->win_cap) {
		__u8 *n = realloc(r->win, want);

		if (!n)
			return -ENOMEM;
		r->win = n;
		r->win_cap = want;
	}
	/* Read ahead only as far as asked or READER_READAHEAD: after one big
	 * chunk the window is large, but filling all of it for every small
	 * one would just copy bytes around. */
	while (r->win_len < want) {
		ssize_t k = pread(r->fd, r->win + r->win_len, want - r->win_len,
				  (off_t)(off + r->win_len));

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		r->win_len += (size_t)k;
	}
	/* The file may have grown since open (a live recording). */
	if (off + r->win_len > r->st.file_size)
		r->st.file_size = off + r->win_len;
	*p = r->win;
	*avail = r->win_len < len ? r->win_len : len;
	return 0;
}

static void reader_damage(struct trace_reader *r, const char *what, __u64 off)
{
	if (r->damaged)
		return;
	r->damaged = true;
	snprintf(r->damage, sizeof(r->damage), "%s in chunk at offset %llu",
		 what, (unsigned long long)off);
}

/* What a header may describe, beyond its checksum holding. */
static bool reader_header_sane(const struct loupe_chunk_header *h)
{
	if (h->comp_len > LOUPE_CHUNK_MAX_RAW ||
	    h->raw_len > LOUPE_CHUNK_MAX_RAW)
		return false;
	if (!(h->flags & LOUPE_CHUNK_F_ZSTD) && h->raw_len != h->comp_len)
		return false;
	return true;
}

static bool reader_header_ok(const __u8 *p, struct loupe_chunk_header *h)
{
	return !trace_codec_unpack_chunk_header(p, h) && reader_header_sane(h);
}

/*
 * Finds the next valid chunk header at or after FROM and moves r->pos
 * there, counting everything from the old r->pos on as skipped; with none
 * left, moves r->pos to the end of the file.
 */
static int reader_resync(struct trace_reader *r, __u64 from)
{
	const __u8 first = (__u8)(LOUPE_CHUNK_MAGIC & 0xff);
	struct loupe_chunk_header h;
	__u64 off = from;
	const __u8 *p;
	size_t avail, limit, i;
	int err;

	for (;;) {
		err = reader_view(r, off, READER_SCAN_LEN, &p, &avail);
		if (err)
			return err;
		if (avail < TRACE_CHUNK_HEADER_SIZE) {
			r->st.bytes_skipped += off + avail - r->pos;
			r->pos = off + avail;
			return 0;
		}
		limit = avail - TRACE_CHUNK_HEADER_SIZE + 1;
		for (i = 0; i < limit; i++) {
			const __u8 *q = memchr(p + i, first, limit - i);

			if (!q)
				break;
			i = (size_t)(q - p);
			if (reader_header_ok(q, &h)) {
				r->st.bytes_skipped += off + i - r->pos;
				r->pos = off + i;
				return 0;
			}
		}
		off += limit;
	}
}

/* Skips a chunk whose header is good but whose payload is not usable. */
static void reader_skip_bad(struct trace_reader *r, const char *what,
			    __u64 total)
{
	reader_damage(r, what, r->pos);
	r->st.chunks_bad++;
	r->st.bytes_skipped += total;
	r->pos += total;
}

/*
 * Whether [off, off + len) can be in the file, from its size rather than
 * by reading: a header claiming a 32 MiB payload at the end of a small cut
 * file must not make the reader allocate and read 32 MiB first.  The size
 * is refreshed because a recording may still be growing.
 */
static bool reader_may_fit(struct trace_reader *r, __u64 off, size_t len)
{
	struct stat sb;

	if (!r->sized || off + len <= r->st.file_size)
		return true;
	if (!fstat(r->fd, &sb) && (__u64)sb.st_size > r->st.file_size)
		r->st.file_size = (__u64)sb.st_size;
	return off + len <= r->st.file_size;
}

static bool reader_type_known(__u16 type)
{
	return type >= LOUPE_CHUNK_META && type <= LOUPE_CHUNK_COUNTERS;
}

static int reader_decode(struct trace_reader *r, __u16 type, const void *p,
			 size_t len, struct trace_chunk *out)
{
	switch (type) {
	case LOUPE_CHUNK_META:
		return trace_codec_decode_meta(p, len, &r->arena, &out->meta);
	case LOUPE_CHUNK_NAMES:
		return trace_codec_decode_names(p, len, &r->arena,
						&out->names.v, &out->names.n);
	case LOUPE_CHUNK_CONFIG:
		return trace_codec_decode_config(p, len, &r->arena,
						 &out->config.v,
						 &out->config.n);
	case LOUPE_CHUNK_WINDOW:
		return trace_codec_decode_window(p, len, &r->arena,
						 &out->window);
	case LOUPE_CHUNK_REQUESTS:
		return trace_codec_decode_requests(p, len, &r->arena,
						   &out->requests.v,
						   &out->requests.n);
	case LOUPE_CHUNK_END:
		return trace_codec_decode_end(p, len, &out->end);
	case LOUPE_CHUNK_FRAMES:
		return trace_codec_decode_frames(p, len, &r->arena,
						 &out->frames.v, &out->frames.n);
	case LOUPE_CHUNK_STACKS:
		return trace_codec_decode_stacks(p, len, &r->arena,
						 &out->stacks.v, &out->stacks.n);
	case LOUPE_CHUNK_SAMPLES:
		return trace_codec_decode_samples(p, len, &r->arena,
						  &out->samples.v,
						  &out->samples.n);
	case LOUPE_CHUNK_COUNTERS:
		return trace_codec_decode_counters(p, len, &out->counters);
	}
	return -EBADMSG;
}

/* Decompresses into r->raw; -EBADMSG when the frame is not exactly
 * raw_len bytes of valid zstd. */
static int reader_inflate(struct trace_reader *r, const __u8 *src,
			  const struct loupe_chunk_header *h)
{
	size_t need = h->raw_len ? h->raw_len : 1, n;

	/* Created on first use: a file of small chunks never needs one. */
	if (!r->dctx) {
		r->dctx = ZSTD_createDCtx();
		if (!r->dctx)
			return -ENOMEM;
	}
	if (need > r->raw_cap) {
		/* Old contents are dead: free + malloc avoids a copy. */
		free(r->raw);
		r->raw_cap = 0;
		r->raw = malloc(need);
		if (!r->raw)
			return -ENOMEM;
		r->raw_cap = need;
	}
	n = ZSTD_decompressDCtx(r->dctx, r->raw, h->raw_len, src, h->comp_len);
	if (ZSTD_isError(n)) {
		if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
			return -ENOMEM;
		return -EBADMSG;
	}
	return n == h->raw_len ? 0 : -EBADMSG;
}

void trace_reader_set_follow(struct trace_reader *r, bool on)
{
	r->follow = on;
}

int trace_reader_next(struct trace_reader *r, struct trace_chunk *out)
{
	struct loupe_chunk_header h;
	const __u8 *p, *payload;
	size_t avail, total;
	int err;

	while (!r->done) {
		err = reader_view(r, r->pos, TRACE_CHUNK_HEADER_SIZE, &p,
				  &avail);
		if (err)
			return err;
		/* A clean end is not final: a recorder may still append, and
		 * a caller following a live file simply calls again. */
		if (!avail)
			break;
		if (avail < TRACE_CHUNK_HEADER_SIZE) {
			if (r->follow)
				break;
			reader_damage(r, "truncated header", r->pos);
			r->st.trailing_bytes = avail;
			r->done = true;
			break;
		}
		if (!reader_header_ok(p, &h)) {
			/* Its length cannot be trusted: hunt for the next
			 * header instead. */
			reader_damage(r, "bad header", r->pos);
			r->st.chunks_bad++;
			r->have_seq = false;
			err = reader_resync(r, r->pos + 1);
			if (err)
				return err;
			continue;
		}

		total = TRACE_CHUNK_HEADER_SIZE + (size_t)h.comp_len;
		if (reader_may_fit(r, r->pos, total)) {
			err = reader_view(r, r->pos, total, &p, &avail);
			if (err)
				return err;
		} else {
			avail = (size_t)(r->st.file_size - r->pos);
		}
		if (avail < total) {
			/* Being written right now: try again later. */
			if (r->follow)
				break;
			/* The recorder died while writing this one. */
			reader_damage(r, "truncated payload", r->pos);
			r->st.trailing_bytes = avail;
			r->done = true;
			break;
		}
		payload = p + TRACE_CHUNK_HEADER_SIZE;

		if (r->have_seq && h.seq != r->expect_seq)
			reader_damage(r, "sequence gap", r->pos);
		r->expect_seq = h.seq + 1;
		r->have_seq = true;

		if (crc32c(0, payload, h.comp_len) != h.payload_crc) {
			reader_skip_bad(r, "payload checksum mismatch", total);
			continue;
		}
		/* Forward compatibility: a newer writer's chunk types and
		 * flag bits (which may change how the payload is stored) are
		 * stepped over, intact. */
		if (!reader_type_known(h.type) ||
		    (h.flags & ~LOUPE_CHUNK_F_ZSTD)) {
			r->st.chunks_unknown++;
			r->st.bytes_ok += total;
			r->pos += total;
			continue;
		}
		if (h.flags & LOUPE_CHUNK_F_ZSTD) {
			err = reader_inflate(r, payload, &h);
			if (err == -EBADMSG) {
				reader_skip_bad(r, "bad compressed payload",
						total);
				continue;
			}
			if (err)
				goto retry;
			payload = r->raw;
		}

		memset(out, 0, sizeof(*out));
		err = reader_decode(r, h.type, payload, h.raw_len, out);
		if (err == -EBADMSG) {
			reader_skip_bad(r, "undecodable payload", total);
			continue;
		}
		if (err)
			goto retry;
		out->type = (enum loupe_chunk_type)h.type;
		out->seq = h.seq;
		out->offset = r->pos;
		r->st.chunks_ok++;
		r->st.bytes_ok += total;
		if (h.type == LOUPE_CHUNK_END)
			r->st.saw_end = true;
		r->pos += total;
		return 1;
	}
	return 0;

retry:
	/* Out of memory: the chunk stays where it is for the next call, which
	 * must not then see its own seq as a gap. */
	r->expect_seq = h.seq;
	return err;
}

struct trace_reader *trace_reader_open(const char *path)
{
	struct loupe_file_header fh;
	struct trace_reader *r;
	struct stat sb;
	const __u8 *p;
	size_t avail;
	int err;

	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	trace_codec_arena_init(&r->arena);
	r->have_seq = true;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		err = -errno;
		goto cleanup;
	}
	if (fstat(r->fd, &sb)) {
		err = -errno;
		goto cleanup;
	}
	r->sized = S_ISREG(sb.st_mode);
	if (r->sized)
		r->st.file_size = (__u64)sb.st_size;
	err = reader_view(r, 0, TRACE_FILE_HEADER_SIZE, &p, &avail);
	if (err)
		goto cleanup;
	if (avail < TRACE_FILE_HEADER_SIZE ||
	    memcmp(p, LOUPE_TRACE_MAGIC, sizeof(fh.magic))) {
		err = -EPROTO;
		goto cleanup;
	}
	trace_codec_unpack_file_header(p, &fh);
	/* Magic and version are the only fields every version keeps in
	 * place, so the version is judged before anything it may redefine,
	 * the checksum included. */
	if (fh.version != LOUPE_TRACE_VERSION) {
		err = -EPROTONOSUPPORT;
		goto cleanup;
	}
	if (fh.header_size != TRACE_FILE_HEADER_SIZE ||
	    fh.header_crc != crc32c(0, p, TRACE_FILE_HEADER_SIZE - 4)) {
		err = -EPROTO;
		goto cleanup;
	}
	r->pos = fh.header_size;
	r->st.bytes_ok = fh.header_size;
	return r;

cleanup:
	trace_reader_free(r);
	errno = -err;
	return NULL;
}

void trace_reader_stats(const struct trace_reader *r,
			struct trace_reader_stats *st)
{
	*st = r->st;
}

const char *trace_reader_damage(const struct trace_reader *r)
{
	return r->damaged ? r->damage : NULL;
}

void trace_reader_free(struct trace_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	free(r->win);
	free(r->raw);
	trace_codec_arena_release(&r->arena);
	free(r);
}
