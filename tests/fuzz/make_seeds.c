// SPDX-License-Identifier: MIT
/*
 * Writes a starting corpus for fuzz_trace_reader into DIR:
 *
 *   gcc -O1 -g -Iinclude -I. tests/fuzz/make_seeds.c analyzer/hist.c \
 *     analyzer/crc32c.c analyzer/trace_codec.c analyzer/trace_reader.c \
 *     collector/trace_writer.c -lzstd -lm -o build/make_seeds
 *   build/make_seeds build/fuzz-corpus
 *
 * Seeds: a whole trace with one chunk of every type (used as is); the same
 * chunks without the file header behind mode byte 0x03 (header prepended,
 * chunks repaired); and each raw payload behind 0x05 (decoders fed
 * directly).  See the mode bits in fuzz_trace_reader.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <loupe/trace.h>
#include "analyzer/hist.h"
#include "analyzer/trace_codec.h"
#include "collector/trace_writer.h"

static int seeds_put(const char *dir, const char *name, unsigned char mode,
		     const void *p, size_t n)
{
	char path[4096];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	if ((mode && fputc(mode, f) == EOF) || fwrite(p, 1, n, f) != n)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

int main(int argc, char **argv)
{
	static struct hist h[2];
	struct trace_meta meta = { "ranker --qps 100", "host", "0.1.0",
				   "launch", 42, 2, 1, 2, 1000000000ULL };
	struct trace_name names[] = { { 1, "request" }, { 2, "mlp" } };
	struct trace_config cfg[] = { { 5, "workers", "2" } };
	struct trace_hist_entry he[2] = { { 0, 1, &h[0] }, { 0, 2, &h[1] } };
	struct trace_window win = { 0, 10, 20, 5, 1, 0, 0, 2, he };
	struct trace_request req[3] = { 0 };
	struct trace_end end = { 30, 3, 1, 0, TRACE_END_DURATION, -1 };
	struct trace_codec_buf b;
	char path[4096], name[32];
	struct trace_writer *w;
	unsigned char *file = NULL;
	size_t len = 0, done;
	int i, err = 0;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	mkdir(argv[1], 0755);
	for (i = 0; i < 2; i++) {
		hist_init(&h[i]);
		hist_add(&h[i], 1000 * (i + 1));
		hist_add(&h[i], 250000);
	}
	for (i = 0; i < 3; i++) {
		req[i].req_id = (__u64)i;
		req[i].begin_ns = 100 + (__u64)i;
		req[i].end_ns = 200 + (__u64)i;
		req[i].nstages = 2;
		req[i].stages[1].name_id = 2;
	}

	snprintf(path, sizeof(path), "%s/whole.lpt", argv[1]);
	w = trace_writer_new(path);
	if (!w) {
		fprintf(stderr, "make_seeds: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (trace_writer_meta(w, &meta) || trace_writer_names(w, names, 2) ||
	    trace_writer_config(w, cfg, 1) || trace_writer_window(w, &win) ||
	    trace_writer_requests(w, req, 3) || trace_writer_end(w, &end) ||
	    trace_writer_close(w)) {
		fprintf(stderr, "make_seeds: write %s failed\n", path);
		return 1;
	}

	f = fopen(path, "rb");
	if (f) {
		file = malloc(1 << 16);
		len = file ? fread(file, 1, 1 << 16, f) : 0;
		fclose(f);
	}
	if (len > TRACE_FILE_HEADER_SIZE)
		err = seeds_put(argv[1], "chunks", 0x03,
				file + TRACE_FILE_HEADER_SIZE,
				len - TRACE_FILE_HEADER_SIZE);
	free(file);

	trace_codec_buf_init(&b);
	for (i = LOUPE_CHUNK_META; i <= LOUPE_CHUNK_END && !err; i++) {
		trace_codec_buf_reset(&b);
		switch (i) {
		case LOUPE_CHUNK_META:
			err = trace_codec_encode_meta(&b, &meta);
			break;
		case LOUPE_CHUNK_NAMES:
			err = trace_codec_encode_names(&b, names, 2, &done);
			break;
		case LOUPE_CHUNK_CONFIG:
			err = trace_codec_encode_config(&b, cfg, 1, &done);
			break;
		case LOUPE_CHUNK_WINDOW:
			err = trace_codec_encode_window(&b, &win);
			break;
		case LOUPE_CHUNK_REQUESTS:
			err = trace_codec_encode_requests(&b, req, 3, &done);
			break;
		case LOUPE_CHUNK_END:
			err = trace_codec_encode_end(&b, &end);
			break;
		}
		snprintf(name, sizeof(name), "payload-%d", i);
		if (!err)
			err = seeds_put(argv[1], name, 0x05, b.data, b.len);
	}
	trace_codec_buf_release(&b);
	if (err) {
		fprintf(stderr, "make_seeds: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
