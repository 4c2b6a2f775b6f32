// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the trace reader and the payload decoders.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -I. \
 *     tests/fuzz/fuzz_trace_reader.c analyzer/hist.c analyzer/crc32c.c \
 *     analyzer/trace_codec.c analyzer/trace_reader.c \
 *     collector/trace_writer.c -lzstd -lm -o build/fuzz_trace_reader
 *
 * Checksums stop random bytes at the first chunk header, so the first input
 * byte picks how much help the input gets:
 *
 *   even (a real trace starts with 'L', 0x4c): the input is the file.
 *   odd: a valid file header is put in front of the rest of the input, and
 *     bit 1 (0x02) "repairs" the chunk stream first: walking it chunk by
 *       chunk, it sets each magic, clamps comp_len to what is left, makes
 *       raw_len equal comp_len for stored chunks and recomputes both
 *       checksums, so mutations reach zstd and the payload decoders;
 *     bit 2 (0x04) also hands the rest to each payload decoder directly and
 *       checks that decode -> encode -> decode -> encode is stable.
 *
 * The file is a memfd reached through /proc/self/fd, so no disk I/O and
 * nothing to clean up.  tests/fuzz/make_seeds.c writes a starting corpus.
 */
/* memfd_create() is a GNU extension; the fuzz build passes no -std. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <loupe/trace.h>
#include "analyzer/crc32c.h"
#include "analyzer/hist.h"
#include "analyzer/trace_codec.h"
#include "analyzer/trace_reader.h"

#define FZ_REPAIR 0x02
#define FZ_DECODERS 0x04
/* Repaired zstd chunks claim at most this much output: zstd rejects junk
 * quickly either way, but 32 MiB buffers per run would slow the fuzzer. */
#define FZ_MAX_RAW (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fz_fd = -1;
static char fz_path[64];

static size_t fz_strlen(const char *s)
{
	return s ? strlen(s) : 0;
}

/* Reads every byte a chunk points to, so ASan sees any dangling pointer. */
static size_t fz_touch(const struct trace_chunk *c)
{
	size_t acc = 0, i;
	unsigned int j;

	switch (c->type) {
	case LOUPE_CHUNK_META:
		acc += fz_strlen(c->meta.cmdline) +
		       fz_strlen(c->meta.hostname) +
		       fz_strlen(c->meta.loupe_version) +
		       fz_strlen(c->meta.mode);
		break;
	case LOUPE_CHUNK_NAMES:
		for (i = 0; i < c->names.n; i++)
			acc += c->names.v[i].id + fz_strlen(c->names.v[i].str);
		break;
	case LOUPE_CHUNK_CONFIG:
		for (i = 0; i < c->config.n; i++)
			acc += fz_strlen(c->config.v[i].key) +
			       fz_strlen(c->config.v[i].value);
		break;
	case LOUPE_CHUNK_WINDOW:
		for (i = 0; i < c->window.nhists; i++) {
			const struct hist *h = c->window.hists[i].hist;

			acc += (size_t)hist_quantile(h, 0.99);
			acc += (size_t)h->buckets[HIST_NBUCKETS - 1];
		}
		break;
	case LOUPE_CHUNK_REQUESTS:
		for (i = 0; i < c->requests.n; i++)
			for (j = 0; j < c->requests.v[i].nstages; j++)
				acc += c->requests.v[i].stages[j].dur_ns;
		break;
	case LOUPE_CHUNK_END:
		acc += c->end.reason;
		break;
	case LOUPE_CHUNK_FRAMES:
		for (i = 0; i < c->frames.n; i++)
			acc += c->frames.v[i].function_id + c->frames.v[i].line;
		break;
	case LOUPE_CHUNK_STACKS:
		for (i = 0; i < c->stacks.n; i++)
			for (j = 0; j < c->stacks.v[i].nframes; j++)
				acc += c->stacks.v[i].frames[j];
		break;
	case LOUPE_CHUNK_SAMPLES:
		for (i = 0; i < c->samples.n; i++)
			acc += c->samples.v[i].count + c->samples.v[i].kind;
		break;
	case LOUPE_CHUNK_COUNTERS:
		acc += c->counters.present + c->counters.v[0];
		break;
	}
	return acc;
}

/* Makes every chunk header in BUF[0, len) consistent and checksummed. */
static void fz_repair(uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= TRACE_CHUNK_HEADER_SIZE) {
		uint8_t *h = buf + off;
		size_t left = len - off - TRACE_CHUNK_HEADER_SIZE;
		__u32 comp = trace_codec_load_le32(h + 12);
		__u32 raw = trace_codec_load_le32(h + 8);
		__u16 flags = trace_codec_load_le16(h + 6);

		if (comp > left)
			comp = (__u32)left;
		if (!(flags & LOUPE_CHUNK_F_ZSTD))
			raw = comp;
		else if (raw > FZ_MAX_RAW)
			raw %= FZ_MAX_RAW;
		trace_codec_store_le32(h, LOUPE_CHUNK_MAGIC);
		trace_codec_store_le32(h + 8, raw);
		trace_codec_store_le32(h + 12, comp);
		trace_codec_store_le32(h + 24, crc32c(0, h + 32, comp));
		trace_codec_store_le32(h + 28, crc32c(0, h, 28));
		off += TRACE_CHUNK_HEADER_SIZE + comp;
	}
}

/* Decodes P as a payload of TYPE and re-encodes it into OUT; -1 when the
 * decoder refuses it.  An encoder refusing what a decoder accepted, or a
 * batch not fitting one chunk, aborts: the two must agree. */
static int fz_reencode(int type, const void *p, size_t len,
		       struct trace_codec_arena *a, struct trace_codec_buf *out)
{
	struct trace_meta m;
	struct trace_name *nv;
	struct trace_config *cv;
	struct trace_window w;
	struct trace_request *rv;
	struct trace_end e;
	size_t n, done = 0;
	int err = 0;

	trace_codec_buf_reset(out);
	switch (type) {
	case LOUPE_CHUNK_META:
		if (trace_codec_decode_meta(p, len, a, &m))
			return -1;
		err = trace_codec_encode_meta(out, &m);
		break;
	case LOUPE_CHUNK_NAMES:
		if (trace_codec_decode_names(p, len, a, &nv, &n))
			return -1;
		err = trace_codec_encode_names(out, nv, n, &done);
		if (!err && done != n)
			return -1;
		break;
	case LOUPE_CHUNK_CONFIG:
		if (trace_codec_decode_config(p, len, a, &cv, &n))
			return -1;
		err = trace_codec_encode_config(out, cv, n, &done);
		if (!err && done != n)
			return -1;
		break;
	case LOUPE_CHUNK_WINDOW:
		if (trace_codec_decode_window(p, len, a, &w))
			return -1;
		err = trace_codec_encode_window(out, &w);
		break;
	case LOUPE_CHUNK_REQUESTS:
		if (trace_codec_decode_requests(p, len, a, &rv, &n))
			return -1;
		err = trace_codec_encode_requests(out, rv, n, &done);
		if (!err && done != n)
			return -1;
		break;
	case LOUPE_CHUNK_END:
		if (trace_codec_decode_end(p, len, &e))
			return -1;
		err = trace_codec_encode_end(out, &e);
		break;
	}
	if (err) {
		fprintf(stderr, "encoder refused decoded type %d: %d\n", type,
			err);
		abort();
	}
	return 0;
}

static void fz_decoders(const uint8_t *p, size_t len)
{
	struct trace_codec_arena a1, a2;
	struct trace_codec_buf b1, b2;
	int type;

	trace_codec_arena_init(&a1);
	trace_codec_arena_init(&a2);
	trace_codec_buf_init(&b1);
	trace_codec_buf_init(&b2);
	for (type = LOUPE_CHUNK_META; type <= LOUPE_CHUNK_END; type++) {
		if (fz_reencode(type, p, len, &a1, &b1))
			continue;
		/* The canonical form must decode and re-encode to itself. */
		if (fz_reencode(type, b1.data, b1.len, &a2, &b2) ||
		    b1.len != b2.len || memcmp(b1.data, b2.data, b1.len)) {
			fprintf(stderr, "type %d: re-encoding not stable\n",
				type);
			abort();
		}
	}
	trace_codec_buf_release(&b1);
	trace_codec_buf_release(&b2);
	trace_codec_arena_release(&a1);
	trace_codec_arena_release(&a2);
}

static int fz_store(const uint8_t *p, size_t len)
{
	size_t off = 0;

	if (fz_fd < 0) {
		fz_fd = memfd_create("fuzz_trace", MFD_CLOEXEC);
		if (fz_fd < 0)
			return -errno;
		snprintf(fz_path, sizeof(fz_path), "/proc/self/fd/%d", fz_fd);
	}
	if (ftruncate(fz_fd, 0))
		return -errno;
	while (off < len) {
		ssize_t k = pwrite(fz_fd, p + off, len - off, (off_t)off);

		if (k <= 0)
			return -EIO;
		off += (size_t)k;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace_reader_stats st;
	struct trace_reader *r;
	struct trace_chunk c;
	const uint8_t *file = data;
	uint8_t *buf = NULL;
	volatile size_t sink = 0;
	size_t len = size;
	const char *dmg;
	int rc;

	if (size && (data[0] & 1)) {
		struct loupe_file_header fh = {
			.version = LOUPE_TRACE_VERSION,
			.header_size = TRACE_FILE_HEADER_SIZE,
		};

		len = TRACE_FILE_HEADER_SIZE + size - 1;
		buf = malloc(len);
		if (!buf)
			return 0;
		memcpy(fh.magic, LOUPE_TRACE_MAGIC, sizeof(fh.magic));
		trace_codec_pack_file_header(buf, &fh);
		memcpy(buf + TRACE_FILE_HEADER_SIZE, data + 1, size - 1);
		if (data[0] & FZ_REPAIR)
			fz_repair(buf + TRACE_FILE_HEADER_SIZE, size - 1);
		if (data[0] & FZ_DECODERS)
			fz_decoders(data + 1, size - 1);
		file = buf;
	}
	if (fz_store(file, len))
		abort();
	free(buf);

	r = trace_reader_open(fz_path);
	if (!r)
		return 0;
	while ((rc = trace_reader_next(r, &c)) == 1)
		sink += fz_touch(&c);
	/* Only allocation failures may stop a read early. */
	if (rc < 0 && rc != -ENOMEM)
		abort();
	trace_reader_stats(r, &st);
	if (st.bytes_ok + st.bytes_skipped + st.trailing_bytes != st.file_size)
		abort();
	dmg = trace_reader_damage(r);
	if (dmg)
		sink += strlen(dmg);
	if ((st.chunks_bad || st.trailing_bytes || st.bytes_skipped) && !dmg)
		abort();
	trace_reader_free(r);
	(void)sink;
	return 0;
}
