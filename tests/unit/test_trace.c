// SPDX-License-Identifier: MIT
/*
 * Unit tests for the trace file: crc32c, the payload codec, writer and
 * reader round trips, and the reader's behaviour on truncated, corrupt and
 * foreign files.  Files live in a mkdtemp() folder removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* Under ASan glibc's mallinfo2() sees nothing; ask ASan's allocator.  GCC
 * does not ship <sanitizer/allocator_interface.h>, so declare it here. */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#include <loupe/trace.h>
#include "analyzer/crc32c.h"
#include "analyzer/hist.h"
#include "analyzer/trace_codec.h"
#include "analyzer/trace_reader.h"
#include "collector/trace_writer.h"

#define NREQ 200
#define MAX_CHUNKS 64

static char tmpdir[PATH_MAX / 2];

/* ---- helpers ---- */

static __u64 rng_state = 42;

static __u64 rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static const char *tpath(const char *name)
{
	static char buf[4][PATH_MAX];
	static int which;

	which = (which + 1) % 4;
	snprintf(buf[which], sizeof(buf[which]), "%s/%s", tmpdir, name);
	return buf[which];
}

static int group_setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/loupe-test-trace-XXXXXX",
		 t && *t ? t : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	struct dirent *de;
	DIR *d = opendir(tmpdir);

	(void)state;
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			unlink(tpath(de->d_name));
		}
		closedir(d);
	}
	return rmdir(tmpdir);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	struct stat sb;
	unsigned char *p;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	p = malloc((size_t)sb.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)sb.st_size), sb.st_size);
	close(fd);
	*len = (size_t)sb.st_size;
	return p;
}

/* Writes the concatenation of up to three pieces. */
static void spit3(const char *path, const void *a, size_t na, const void *b,
		  size_t nb, const void *c, size_t nc)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	if (na)
		assert_int_equal(write(fd, a, na), (ssize_t)na);
	if (nb)
		assert_int_equal(write(fd, b, nb), (ssize_t)nb);
	if (nc)
		assert_int_equal(write(fd, c, nc), (ssize_t)nc);
	assert_int_equal(close(fd), 0);
}

static void spit(const char *path, const void *p, size_t n)
{
	spit3(path, p, n, NULL, 0, NULL, 0);
}

static void assert_str_same(const char *a, const char *b)
{
	if (!a || !b)
		assert_true(a == b);
	else
		assert_string_equal(a, b);
}

/* What read_all saw. */
struct readout {
	int n;
	int rc;			/* last trace_reader_next return */
	enum loupe_chunk_type type[MAX_CHUNKS];
	__u64 seq[MAX_CHUNKS];
	__u64 off[MAX_CHUNKS];
	struct trace_reader_stats st;
	bool damaged;
	char damage[256];
};

static void read_all(const char *path, struct readout *o)
{
	struct trace_reader *r = trace_reader_open(path);
	struct trace_chunk c;

	memset(o, 0, sizeof(*o));
	assert_non_null(r);
	while ((o->rc = trace_reader_next(r, &c)) == 1) {
		assert_true(o->n < MAX_CHUNKS);
		o->type[o->n] = c.type;
		o->seq[o->n] = c.seq;
		o->off[o->n] = c.offset;
		o->n++;
	}
	/* Past the end it stays at the end. */
	assert_int_equal(trace_reader_next(r, &c), o->rc);
	trace_reader_stats(r, &o->st);
	if (trace_reader_damage(r)) {
		o->damaged = true;
		snprintf(o->damage, sizeof(o->damage), "%s",
			 trace_reader_damage(r));
	}
	trace_reader_free(r);
}

/* ---- the sample trace: one chunk of every type ---- */

struct sample {
	struct trace_meta meta;
	struct trace_name names[5];
	struct trace_config cfg[3];
	struct hist *h[3];
	struct trace_hist_entry he[3];
	struct trace_window win;
	struct trace_request req[NREQ];
	struct trace_end end;
};

static struct sample *sample_new(void)
{
	struct sample *s = calloc(1, sizeof(*s));
	unsigned int i, j;

	assert_non_null(s);
	s->meta = (struct trace_meta){
		.cmdline = "ranker --models 3 --qps 2000",
		.hostname = "bench-01",
		.loupe_version = "0.1.0",
		.mode = "launch",
		.pid = 4242,
		.ncpus = 2,
		.start_realtime_ns = 1790000000123456789ULL,
		.start_mono_ns = 123456789012ULL,
		.window_ns = 1000000000ULL,
	};
	s->names[0] = (struct trace_name){ 1, "request" };
	s->names[1] = (struct trace_name){ 2, "embedding" };
	s->names[2] = (struct trace_name){ 3, "model-a \xc3\xa9" };
	s->names[3] = (struct trace_name){ 9, "" };
	s->names[4] = (struct trace_name){ UINT32_MAX, NULL };
	s->cfg[0] = (struct trace_config){ 1000, "workers", "4" };
	s->cfg[1] = (struct trace_config){ 999, "batch_max", "32" };
	s->cfg[2] = (struct trace_config){ UINT64_MAX, "k", NULL };

	for (i = 0; i < 3; i++) {
		s->h[i] = malloc(sizeof(struct hist));
		assert_non_null(s->h[i]);
		hist_init(s->h[i]);
		s->he[i] = (struct trace_hist_entry){ i, 10 + i, s->h[i] };
	}
	/* h[0] stays empty. */
	for (i = 0; i < 5000; i++)
		hist_add(s->h[1], 50000 + rng_next() % 3000000);
	hist_add(s->h[2], 0);
	hist_add(s->h[2], UINT64_MAX);
	hist_add_n(s->h[2], 1ULL << 42, 3);
	s->win = (struct trace_window){
		.index = 7,
		.start_ns = 7000000000ULL,
		.end_ns = 8000000000ULL,
		.requests = 12345,
		.errors = 3,
		.dropped = 2,
		.late = 1,
		.nhists = 3,
		.hists = s->he,
	};

	for (i = 0; i < NREQ; i++) {
		struct trace_request *r = &s->req[i];

		r->req_id = 1000 + i * 3;
		r->begin_ns = 5000000000ULL + i * 100000ULL + rng_next() % 5000;
		r->end_ns = r->begin_ns + 500000 + rng_next() % 4000000;
		r->model_id = i % 3;
		r->batch = 1 + i % 32;
		r->tid = 100 + i % 4;
		r->status = i % 17 ? 0 : -5;
		r->nstages = (__u16)(i % (LOUPE_TRACE_MAX_STAGES + 1));
		r->flags = r->nstages == LOUPE_TRACE_MAX_STAGES;
		for (j = 0; j < r->nstages; j++) {
			r->stages[j].name_id = 1 + j;
			r->stages[j].start_off_ns = j * 10000;
			r->stages[j].dur_ns = (__u32)rng_next();
		}
	}
	/* Out of order and extreme values must survive the delta coding. */
	s->req[5].req_id = 3;
	s->req[6].begin_ns = 1;
	s->req[6].end_ns = 0;
	s->req[7].req_id = UINT64_MAX;
	s->req[7].status = INT32_MIN;
	s->req[8].model_id = UINT32_MAX;
	s->req[8].status = INT32_MAX;

	s->end = (struct trace_end){
		.end_mono_ns = 9000000000ULL,
		.requests = NREQ,
		.windows = 1,
		.dropped = 2,
		.reason = TRACE_END_SIGNAL,
		.target_exit_status = -1,
	};
	return s;
}

static void sample_free(struct sample *s)
{
	unsigned int i;

	for (i = 0; i < 3; i++)
		free(s->h[i]);
	free(s);
}

/* meta, names, config, window, requests, end: 6 chunks, seq 0..5. */
static void sample_write(const char *path, const struct sample *s)
{
	struct trace_writer *w = trace_writer_new(path);
	struct stat sb;
	__u64 bytes;

	assert_non_null(w);
	assert_int_equal(trace_writer_meta(w, &s->meta), 0);
	assert_int_equal(trace_writer_names(w, s->names, 5), 0);
	assert_int_equal(trace_writer_config(w, s->cfg, 3), 0);
	assert_int_equal(trace_writer_window(w, &s->win), 0);
	assert_int_equal(trace_writer_requests(w, s->req, NREQ), 0);
	assert_int_equal(trace_writer_end(w, &s->end), 0);
	bytes = trace_writer_bytes(w);
	assert_int_equal(trace_writer_close(w), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(bytes, sb.st_size);
}

static void check_request(const struct trace_request *a,
			  const struct trace_request *b)
{
	unsigned int j;

	assert_true(a->req_id == b->req_id);
	assert_true(a->begin_ns == b->begin_ns);
	assert_true(a->end_ns == b->end_ns);
	assert_int_equal(a->model_id, b->model_id);
	assert_int_equal(a->batch, b->batch);
	assert_int_equal(a->tid, b->tid);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->nstages, b->nstages);
	assert_int_equal(a->flags, b->flags);
	for (j = 0; j < a->nstages; j++) {
		assert_int_equal(a->stages[j].name_id, b->stages[j].name_id);
		assert_int_equal(a->stages[j].start_off_ns,
				 b->stages[j].start_off_ns);
		assert_int_equal(a->stages[j].dur_ns, b->stages[j].dur_ns);
	}
}

static void check_window(const struct trace_window *a,
			 const struct trace_window *b)
{
	__u32 i;

	assert_true(a->index == b->index);
	assert_true(a->start_ns == b->start_ns);
	assert_true(a->end_ns == b->end_ns);
	assert_true(a->requests == b->requests);
	assert_true(a->errors == b->errors);
	assert_true(a->dropped == b->dropped);
	assert_true(a->late == b->late);
	assert_int_equal(a->nhists, b->nhists);
	for (i = 0; i < a->nhists; i++) {
		assert_int_equal(a->hists[i].model_id, b->hists[i].model_id);
		assert_int_equal(a->hists[i].stage_id, b->hists[i].stage_id);
		/* struct hist is all __u64: no padding, memcmp is exact. */
		assert_memory_equal(a->hists[i].hist, b->hists[i].hist,
				    sizeof(struct hist));
	}
}

/* ---- crc32c and codec ---- */

static void test_crc32c_vectors(void **state)
{
	unsigned char buf[1000];
	unsigned int i, cut;

	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(crc32c(0, "", 0), 0);
	/* RFC 3720 (iSCSI) appendix B.4 test patterns. */
	memset(buf, 0, 32);
	assert_int_equal(crc32c(0, buf, 32), 0x8a9136aa);
	memset(buf, 0xff, 32);
	assert_int_equal(crc32c(0, buf, 32), 0x62a8ab43);
	for (i = 0; i < 32; i++)
		buf[i] = (unsigned char)i;
	assert_int_equal(crc32c(0, buf, 32), 0x46dd794e);

	/* Chaining equals one pass, whatever the split and alignment. */
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rng_next();
	for (cut = 0; cut <= 40; cut++) {
		const unsigned char *p = buf + cut % 7;
		__u32 whole = crc32c(0, p, 900);
		__u32 part = crc32c(crc32c(0, p, cut), p + cut, 900 - cut);

		assert_int_equal(whole, part);
	}
}

static void test_codec_varint(void **state)
{
	const __u64 uv[] = { 0, 1, 127, 128, 16383, 16384, UINT32_MAX,
			     1ULL << 56, UINT64_MAX - 1, UINT64_MAX };
	const __s64 sv[] = { 0,	      -1,	 1,	   -64,
			     64,      INT32_MIN, INT64_MIN, INT64_MAX };
	const __u8 overlong[11] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
				    0x80, 0x80, 0x80, 0x80, 0x00 };
	const __u8 bit64[10] = { 0xff, 0xff, 0xff, 0xff, 0xff,
				 0xff, 0xff, 0xff, 0xff, 0x02 };
	const __u8 big32[5] = { 0x80, 0x80, 0x80, 0x80, 0x10 };
	struct trace_codec_buf b;
	struct trace_codec_cur c;
	unsigned int i;
	__u64 u;
	__s64 s;
	__u32 u32;

	(void)state;
	trace_codec_buf_init(&b);
	for (i = 0; i < sizeof(uv) / sizeof(uv[0]); i++)
		trace_codec_put_varint(&b, uv[i]);
	for (i = 0; i < sizeof(sv) / sizeof(sv[0]); i++)
		trace_codec_put_svarint(&b, sv[i]);
	trace_codec_put_le16(&b, 0xbeef);
	trace_codec_put_le32(&b, 0xdeadbeef);
	trace_codec_put_le64(&b, 0x0123456789abcdefULL);
	assert_int_equal(b.err, 0);
	/* 0 is one byte, UINT64_MAX ten. */
	assert_int_equal(b.data[0], 0);

	trace_codec_cur_init(&c, b.data, b.len);
	for (i = 0; i < sizeof(uv) / sizeof(uv[0]); i++) {
		assert_int_equal(trace_codec_get_varint(&c, &u), 0);
		assert_true(u == uv[i]);
	}
	for (i = 0; i < sizeof(sv) / sizeof(sv[0]); i++) {
		assert_int_equal(trace_codec_get_svarint(&c, &s), 0);
		assert_true(s == sv[i]);
	}
	{
		__u16 a16;
		__u32 a32;
		__u64 a64;

		assert_int_equal(trace_codec_get_le16(&c, &a16), 0);
		assert_int_equal(trace_codec_get_le32(&c, &a32), 0);
		assert_int_equal(trace_codec_get_le64(&c, &a64), 0);
		assert_int_equal(a16, 0xbeef);
		assert_int_equal(a32, 0xdeadbeef);
		assert_true(a64 == 0x0123456789abcdefULL);
	}
	assert_int_equal(c.left, 0);
	assert_int_equal(trace_codec_get_varint(&c, &u), -EBADMSG);

	/* Every truncation of a 10-byte varint fails. */
	trace_codec_buf_reset(&b);
	trace_codec_put_varint(&b, UINT64_MAX);
	for (i = 0; i < b.len; i++) {
		trace_codec_cur_init(&c, b.data, i);
		assert_int_equal(trace_codec_get_varint(&c, &u), -EBADMSG);
	}
	trace_codec_cur_init(&c, overlong, sizeof(overlong));
	assert_int_equal(trace_codec_get_varint(&c, &u), -EBADMSG);
	trace_codec_cur_init(&c, bit64, sizeof(bit64));
	assert_int_equal(trace_codec_get_varint(&c, &u), -EBADMSG);
	trace_codec_cur_init(&c, big32, sizeof(big32));
	assert_int_equal(trace_codec_get_u32(&c, &u32), -EBADMSG);
	trace_codec_buf_release(&b);
}

static void test_codec_strings(void **state)
{
	const __u8 with_nul[] = { 4, 'a', 0, 'b' };
	const __u8 too_long[] = { 9, 'a', 'b' };
	struct trace_codec_arena a;
	struct trace_codec_buf b;
	struct trace_codec_cur c;
	const char *s1, *s2, *s3;

	(void)state;
	trace_codec_arena_init(&a);
	trace_codec_buf_init(&b);
	trace_codec_put_str(&b, NULL);
	trace_codec_put_str(&b, "");
	trace_codec_put_str(&b, "hello");
	assert_int_equal(b.len, 1 + 1 + 6);
	assert_int_equal(trace_codec_arena_reset(&a, 64), 0);
	trace_codec_cur_init(&c, b.data, b.len);
	assert_int_equal(trace_codec_get_str(&c, &a, &s1), 0);
	assert_int_equal(trace_codec_get_str(&c, &a, &s2), 0);
	assert_int_equal(trace_codec_get_str(&c, &a, &s3), 0);
	assert_null(s1);
	assert_string_equal(s2, "");
	assert_string_equal(s3, "hello");

	trace_codec_cur_init(&c, with_nul, sizeof(with_nul));
	assert_int_equal(trace_codec_get_str(&c, &a, &s1), -EBADMSG);
	trace_codec_cur_init(&c, too_long, sizeof(too_long));
	assert_int_equal(trace_codec_get_str(&c, &a, &s1), -EBADMSG);
	trace_codec_buf_release(&b);
	trace_codec_arena_release(&a);
}

/* Encodes each chunk type of the sample into B, one payload per call. */
static void encode_type(struct trace_codec_buf *b, const struct sample *s,
			int type)
{
	size_t done = 0;

	trace_codec_buf_reset(b);
	switch (type) {
	case LOUPE_CHUNK_META:
		assert_int_equal(trace_codec_encode_meta(b, &s->meta), 0);
		break;
	case LOUPE_CHUNK_NAMES:
		assert_int_equal(trace_codec_encode_names(b, s->names, 5,
							  &done), 0);
		assert_int_equal(done, 5);
		break;
	case LOUPE_CHUNK_CONFIG:
		assert_int_equal(trace_codec_encode_config(b, s->cfg, 3,
							   &done), 0);
		assert_int_equal(done, 3);
		break;
	case LOUPE_CHUNK_WINDOW:
		assert_int_equal(trace_codec_encode_window(b, &s->win), 0);
		break;
	case LOUPE_CHUNK_REQUESTS:
		assert_int_equal(trace_codec_encode_requests(b, s->req, 20,
							     &done), 0);
		assert_int_equal(done, 20);
		break;
	case LOUPE_CHUNK_END:
		assert_int_equal(trace_codec_encode_end(b, &s->end), 0);
		break;
	}
}

static int decode_type(const void *p, size_t len, struct trace_codec_arena *a,
		       int type)
{
	struct trace_meta m;
	struct trace_name *nv;
	struct trace_config *cv;
	struct trace_window w;
	struct trace_request *rv;
	struct trace_end e;
	size_t n;

	switch (type) {
	case LOUPE_CHUNK_META:
		return trace_codec_decode_meta(p, len, a, &m);
	case LOUPE_CHUNK_NAMES:
		return trace_codec_decode_names(p, len, a, &nv, &n);
	case LOUPE_CHUNK_CONFIG:
		return trace_codec_decode_config(p, len, a, &cv, &n);
	case LOUPE_CHUNK_WINDOW:
		return trace_codec_decode_window(p, len, a, &w);
	case LOUPE_CHUNK_REQUESTS:
		return trace_codec_decode_requests(p, len, a, &rv, &n);
	case LOUPE_CHUNK_END:
		return trace_codec_decode_end(p, len, &e);
	}
	return -EINVAL;
}

/* Every field is required, so every proper prefix of a payload must be
 * refused; and each prefix is copied to its own exact-size allocation so
 * ASan sees any read past it. */
static void test_codec_prefixes_rejected(void **state)
{
	struct sample *s = sample_new();
	struct trace_codec_arena a;
	struct trace_codec_buf b;
	int type;
	size_t k;

	(void)state;
	trace_codec_arena_init(&a);
	trace_codec_buf_init(&b);
	for (type = LOUPE_CHUNK_META; type <= LOUPE_CHUNK_END; type++) {
		encode_type(&b, s, type);
		for (k = 0; k < b.len; k++) {
			unsigned char *p = malloc(k ? k : 1);

			assert_non_null(p);
			memcpy(p, b.data, k);
			assert_int_equal(decode_type(p, k, &a, type), -EBADMSG);
			free(p);
		}
		assert_int_equal(decode_type(b.data, b.len, &a, type), 0);
	}
	trace_codec_buf_release(&b);
	trace_codec_arena_release(&a);
	sample_free(s);
}

static void test_codec_hostile(void **state)
{
	struct trace_codec_arena a;
	struct trace_codec_buf b;
	struct trace_name *nv;
	struct trace_request *rv;
	struct trace_window w;
	struct trace_end e;
	size_t n;
	int i;

	(void)state;
	trace_codec_arena_init(&a);
	trace_codec_buf_init(&b);

	/* A count far beyond what the bytes could hold: refused before any
	 * allocation for it. */
	trace_codec_put_le32(&b, UINT32_MAX);
	trace_codec_put_bytes(&b, "\x01\x01\x01\x01", 4);
	assert_int_equal(trace_codec_decode_names(b.data, b.len, &a, &nv, &n),
			 -EBADMSG);
	assert_true(a.cap < 4096);

	/* Window claiming 1000 histograms in a dozen bytes. */
	trace_codec_buf_reset(&b);
	for (i = 0; i < 7; i++)
		trace_codec_put_varint(&b, 0);
	trace_codec_put_varint(&b, 1000);
	trace_codec_put_bytes(&b, "\0\0\0\0\0\0\0", 7);
	assert_int_equal(trace_codec_decode_window(b.data, b.len, &a, &w),
			 -EBADMSG);

/* One histogram: count, sum, min, max, nnz, then (delta, count) pairs. */
#define ONE_HIST(count, min, max, nnz)                                         \
	do {                                                                   \
		trace_codec_buf_reset(&b);                                     \
		for (i = 0; i < 7; i++)                                        \
			trace_codec_put_varint(&b, 0);                         \
		trace_codec_put_varint(&b, 1);                                 \
		trace_codec_put_varint(&b, 0);                                 \
		trace_codec_put_varint(&b, 0);                                 \
		trace_codec_put_varint(&b, count);                             \
		trace_codec_put_varint(&b, 0);                                 \
		trace_codec_put_varint(&b, min);                               \
		trace_codec_put_varint(&b, max);                               \
		trace_codec_put_varint(&b, nnz);                               \
	} while (0)

	/* Valid: one value 5 in bucket 5. */
	ONE_HIST(1, 5, 5, 1);
	trace_codec_put_varint(&b, 5);
	trace_codec_put_varint(&b, 1);
	assert_int_equal(trace_codec_decode_window(b.data, b.len, &a, &w), 0);
	assert_true(w.hists[0].hist->buckets[5] == 1);

	/* Bucket index past the end. */
	ONE_HIST(1, 5, 5, 1);
	trace_codec_put_varint(&b, HIST_NBUCKETS);
	trace_codec_put_varint(&b, 1);
	assert_int_equal(trace_codec_decode_window(b.data, b.len, &a, &w),
			 -EBADMSG);
	/* Huge delta that would wrap an index. */
	ONE_HIST(2, 5, 5, 2);
	trace_codec_put_varint(&b, 5);
	trace_codec_put_varint(&b, 1);
	trace_codec_put_varint(&b, UINT64_MAX);
	trace_codec_put_varint(&b, 1);
	assert_int_equal(trace_codec_decode_window(b.data, b.len, &a, &w),
			 -EBADMSG);
	/* A zero bucket count. */
	ONE_HIST(0, 5, 5, 1);
	trace_codec_put_varint(&b, 5);
	trace_codec_put_varint(&b, 0);
	assert_int_equal(trace_codec_decode_window(b.data, b.len, &a, &w),
			 -EBADMSG);
	/* Buckets not adding up to count. */
	ONE_HIST(2, 5, 5, 1);
	trace_codec_put_varint(&b, 5);
	trace_codec_put_varint(&b, 1);
	assert_int_equal(trace_codec_decode_window(b.data, b.len, &a, &w),
			 -EBADMSG);
	/* Bucket counts overflowing 64 bits. */
	ONE_HIST(1, 5, 6, 2);
	trace_codec_put_varint(&b, 5);
	trace_codec_put_varint(&b, UINT64_MAX);
	trace_codec_put_varint(&b, 0);
	trace_codec_put_varint(&b, 2);
	assert_int_equal(trace_codec_decode_window(b.data, b.len, &a, &w),
			 -EBADMSG);
	/* min > max. */
	ONE_HIST(1, 9, 5, 1);
	trace_codec_put_varint(&b, 5);
	trace_codec_put_varint(&b, 1);
	assert_int_equal(trace_codec_decode_window(b.data, b.len, &a, &w),
			 -EBADMSG);
#undef ONE_HIST

	/* A request with 13 stages. */
	trace_codec_buf_reset(&b);
	trace_codec_put_le32(&b, 1);
	for (i = 0; i < 8; i++)
		trace_codec_put_varint(&b, 0);
	trace_codec_put_varint(&b, LOUPE_TRACE_MAX_STAGES + 1);
	for (i = 0; i < 3 * (LOUPE_TRACE_MAX_STAGES + 1); i++)
		trace_codec_put_varint(&b, 0);
	assert_int_equal(trace_codec_decode_requests(b.data, b.len, &a, &rv,
						     &n), -EBADMSG);

	/* Exit status outside 32 bits. */
	trace_codec_buf_reset(&b);
	for (i = 0; i < 5; i++)
		trace_codec_put_varint(&b, 0);
	trace_codec_put_svarint(&b, (__s64)INT32_MAX + 1);
	assert_int_equal(trace_codec_decode_end(b.data, b.len, &e), -EBADMSG);

	/* Trailing bytes after the known fields are a later writer's
	 * additions and are ignored. */
	trace_codec_buf_reset(&b);
	for (i = 0; i < 5; i++)
		trace_codec_put_varint(&b, 1);
	trace_codec_put_svarint(&b, -1);
	trace_codec_put_bytes(&b, "future", 6);
	assert_int_equal(trace_codec_decode_end(b.data, b.len, &e), 0);
	assert_int_equal(e.target_exit_status, -1);

	trace_codec_buf_release(&b);
	trace_codec_arena_release(&a);
}

/* ---- writer and reader ---- */

static void test_roundtrip_every_type(void **state)
{
	struct sample *s = sample_new();
	const char *path = tpath("roundtrip.lpt");
	struct trace_reader_stats st;
	struct trace_reader *r;
	struct trace_chunk c;
	__u64 last_off = 0;
	size_t i;
	int n = 0;

	(void)state;
	sample_write(path, s);
	r = trace_reader_open(path);
	assert_non_null(r);
	while (trace_reader_next(r, &c) == 1) {
		assert_true(c.seq == (__u64)n);
		assert_true(n == 0 ? c.offset == 32 : c.offset > last_off);
		last_off = c.offset;
		switch (n) {
		case 0:
			assert_int_equal(c.type, LOUPE_CHUNK_META);
			assert_str_same(c.meta.cmdline, s->meta.cmdline);
			assert_str_same(c.meta.hostname, s->meta.hostname);
			assert_str_same(c.meta.loupe_version,
					s->meta.loupe_version);
			assert_str_same(c.meta.mode, s->meta.mode);
			assert_int_equal(c.meta.pid, s->meta.pid);
			assert_int_equal(c.meta.ncpus, s->meta.ncpus);
			assert_true(c.meta.start_realtime_ns ==
				    s->meta.start_realtime_ns);
			assert_true(c.meta.start_mono_ns ==
				    s->meta.start_mono_ns);
			assert_true(c.meta.window_ns == s->meta.window_ns);
			break;
		case 1:
			assert_int_equal(c.type, LOUPE_CHUNK_NAMES);
			assert_int_equal(c.names.n, 5);
			for (i = 0; i < 5; i++) {
				assert_int_equal(c.names.v[i].id,
						 s->names[i].id);
				assert_str_same(c.names.v[i].str,
						s->names[i].str);
			}
			break;
		case 2:
			assert_int_equal(c.type, LOUPE_CHUNK_CONFIG);
			assert_int_equal(c.config.n, 3);
			for (i = 0; i < 3; i++) {
				assert_true(c.config.v[i].ts_ns ==
					    s->cfg[i].ts_ns);
				assert_str_same(c.config.v[i].key,
						s->cfg[i].key);
				assert_str_same(c.config.v[i].value,
						s->cfg[i].value);
			}
			break;
		case 3:
			assert_int_equal(c.type, LOUPE_CHUNK_WINDOW);
			check_window(&c.window, &s->win);
			break;
		case 4:
			assert_int_equal(c.type, LOUPE_CHUNK_REQUESTS);
			assert_int_equal(c.requests.n, NREQ);
			for (i = 0; i < NREQ; i++)
				check_request(&c.requests.v[i], &s->req[i]);
			break;
		case 5:
			assert_int_equal(c.type, LOUPE_CHUNK_END);
			assert_true(c.end.end_mono_ns == s->end.end_mono_ns);
			assert_true(c.end.requests == s->end.requests);
			assert_true(c.end.windows == s->end.windows);
			assert_true(c.end.dropped == s->end.dropped);
			assert_int_equal(c.end.reason, s->end.reason);
			assert_int_equal(c.end.target_exit_status,
					 s->end.target_exit_status);
			break;
		}
		n++;
	}
	assert_int_equal(n, 6);
	trace_reader_stats(r, &st);
	assert_null(trace_reader_damage(r));
	assert_true(st.saw_end);
	assert_int_equal(st.chunks_ok, 6);
	assert_int_equal(st.chunks_bad, 0);
	assert_int_equal(st.chunks_unknown, 0);
	assert_int_equal(st.bytes_skipped, 0);
	assert_int_equal(st.trailing_bytes, 0);
	assert_int_equal(st.bytes_ok, st.file_size);
	trace_reader_free(r);
	unlink(path);
	sample_free(s);
}

/* Empty batches are legal chunks; tiny payloads are stored raw and big
 * compressible ones zstd-compressed, never larger than raw. */
static void test_empty_batches_and_compression(void **state)
{
	struct sample *s = sample_new();
	const char *path = tpath("flags.lpt");
	struct trace_writer *w = trace_writer_new(path);
	struct loupe_chunk_header h;
	unsigned char *buf;
	size_t len, off;
	int raw = 0, zstd = 0;
	struct readout o;

	(void)state;
	assert_non_null(w);
	assert_int_equal(trace_writer_names(w, NULL, 0), 0);
	assert_int_equal(trace_writer_requests(w, s->req, 0), 0);
	assert_int_equal(trace_writer_requests(w, s->req, NREQ), 0);
	assert_int_equal(trace_writer_close(w), 0);

	buf = slurp(path, &len);
	for (off = 32; off + 32 <= len; off += 32 + h.comp_len) {
		assert_int_equal(trace_codec_unpack_chunk_header(buf + off, &h),
				 0);
		assert_true(h.comp_len <= h.raw_len);
		if (h.flags & LOUPE_CHUNK_F_ZSTD)
			zstd++;
		else
			raw++;
	}
	assert_int_equal(off, len);
	assert_int_equal(raw, 2);
	assert_int_equal(zstd, 1);
	free(buf);

	read_all(path, &o);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.rc, 0);
	assert_false(o.damaged);
	assert_false(o.st.saw_end);
	unlink(path);
	sample_free(s);
}

static void test_file_mode_0600(void **state)
{
	const char *path = tpath("mode.lpt");
	struct trace_writer *w;
	struct stat sb;
	mode_t old;
	int fd;

	(void)state;
	/* A pre-existing, world-readable file with content: the writer must
	 * truncate it and tighten its mode. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	assert_int_equal(write(fd, "old contents here", 17), 17);
	close(fd);

	old = umask(0);
	w = trace_writer_new(path);
	umask(old);
	assert_non_null(w);
	assert_int_equal(trace_writer_close(w), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_size, 32);
	unlink(path);

	/* A fresh file, with a permissive umask. */
	old = umask(0);
	w = trace_writer_new(path);
	umask(old);
	assert_non_null(w);
	assert_int_equal(trace_writer_close(w), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	unlink(path);
}

static void test_header_only(void **state)
{
	const char *path = tpath("hdr.lpt");
	struct trace_writer *w = trace_writer_new(path);
	unsigned char *buf;
	size_t len;
	struct readout o;

	(void)state;
	assert_non_null(w);
	assert_int_equal(trace_writer_bytes(w), 32);
	assert_int_equal(trace_writer_close(w), 0);
	buf = slurp(path, &len);
	assert_int_equal(len, 32);
	assert_memory_equal(buf, "LOUPETRC\x01\0\0\0\x20\0\0\0", 16);
	free(buf);

	read_all(path, &o);
	assert_int_equal(o.n, 0);
	assert_int_equal(o.rc, 0);
	assert_false(o.damaged);
	assert_int_equal(o.st.bytes_ok, 32);
	assert_int_equal(o.st.file_size, 32);
	unlink(path);
}

static void test_writer_rejects_bad_input(void **state)
{
	struct sample *s = sample_new();
	const char *path = tpath("bad-input.lpt");
	struct trace_writer *w;
	struct trace_window win;
	struct trace_request req;
	struct readout o;

	(void)state;
	errno = 0;
	assert_null(trace_writer_new(tpath("no/such/dir.lpt")));
	assert_int_equal(errno, ENOENT);

	w = trace_writer_new(path);
	assert_non_null(w);
	req = s->req[0];
	req.nstages = LOUPE_TRACE_MAX_STAGES + 1;
	assert_int_equal(trace_writer_requests(w, &req, 1), -EINVAL);

	/* Buckets that do not add up to count. */
	win = s->win;
	s->h[1]->count++;
	assert_int_equal(trace_writer_window(w, &win), -EINVAL);
	s->h[1]->count--;
	win.nhists = TRACE_CODEC_MAX_HISTS + 1;
	assert_int_equal(trace_writer_window(w, &win), -E2BIG);

	/* Refusals leave the writer usable and the file clean. */
	assert_int_equal(trace_writer_window(w, &s->win), 0);
	assert_int_equal(trace_writer_close(w), 0);
	read_all(path, &o);
	assert_int_equal(o.n, 1);
	assert_false(o.damaged);
	assert_true(o.seq[0] == 0);
	unlink(path);
	sample_free(s);
}

/* One call with more requests than a chunk may hold becomes several
 * chunks, read back in order. */
static void test_request_batch_split(void **state)
{
	const size_t total = 150000;
	const char *path = tpath("split.lpt");
	struct trace_request *v = calloc(total, sizeof(*v));
	struct trace_reader *r;
	struct trace_chunk c;
	struct trace_writer *w;
	size_t i, got = 0;
	int chunks = 0;

	(void)state;
	assert_non_null(v);
	for (i = 0; i < total; i++) {
		v[i].req_id = i;
		v[i].begin_ns = i * 1000;
		v[i].end_ns = i * 1000 + 777;
		v[i].nstages = 1;
		v[i].stages[0].dur_ns = (__u32)i;
	}
	w = trace_writer_new(path);
	assert_non_null(w);
	assert_int_equal(trace_writer_requests(w, v, total), 0);
	assert_int_equal(trace_writer_close(w), 0);

	r = trace_reader_open(path);
	assert_non_null(r);
	while (trace_reader_next(r, &c) == 1) {
		assert_int_equal(c.type, LOUPE_CHUNK_REQUESTS);
		assert_true(c.requests.n <= TRACE_CODEC_MAX_ITEMS);
		for (i = 0; i < c.requests.n; i++)
			check_request(&c.requests.v[i], &v[got + i]);
		got += c.requests.n;
		chunks++;
	}
	assert_int_equal(got, total);
	assert_true(chunks >= 3);
	assert_null(trace_reader_damage(r));
	trace_reader_free(r);
	unlink(path);
	free(v);
}

static size_t heap_in_use(void)
{
#ifdef TEST_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#endif
}

/* Reading many chunks allocates nothing per chunk: the reader's memory
 * after a few chunks is what it holds at the end. */
static void test_many_chunks_bounded_memory(void **state)
{
	const unsigned int nwin = 300, nh = 16;
	const char *path = tpath("many.lpt");
	struct trace_hist_entry he[16];
	struct trace_request *req = calloc(1000, sizeof(*req));
	struct hist *h = calloc(nh, sizeof(*h));
	struct trace_window win;
	struct trace_reader_stats st;
	struct trace_writer *w;
	struct trace_reader *r;
	struct trace_chunk c;
	size_t base = 0, peak = 0, now;
	unsigned int i, j, k, n = 0;

	(void)state;
	assert_non_null(req);
	assert_non_null(h);
	w = trace_writer_new(path);
	assert_non_null(w);
	for (i = 0; i < nwin; i++) {
		for (j = 0; j < nh; j++) {
			hist_init(&h[j]);
			for (k = 0; k < 500; k++)
				hist_add(&h[j], rng_next() % 100000000);
			he[j] = (struct trace_hist_entry){ j, j, &h[j] };
		}
		win = (struct trace_window){ .index = i, .nhists = nh,
					     .hists = he };
		assert_int_equal(trace_writer_window(w, &win), 0);
		if (i % 3 == 0) {
			for (k = 0; k < 1000; k++) {
				req[k].req_id = rng_next();
				req[k].begin_ns = rng_next();
			}
			assert_int_equal(trace_writer_requests(w, req, 1000),
					 0);
		}
	}
	assert_int_equal(trace_writer_close(w), 0);

	r = trace_reader_open(path);
	assert_non_null(r);
	while (trace_reader_next(r, &c) == 1) {
		n++;
		now = heap_in_use();
		if (n == 20)
			base = now;
		if (n > 20 && now > peak)
			peak = now;
	}
	trace_reader_stats(r, &st);
	assert_int_equal(n, nwin + nwin / 3);
	assert_int_equal(st.chunks_ok, n);
	/* 300 decoded windows of 16 histograms would be ~90 MB if kept. */
	assert_true(peak <= base + (1u << 20));
	/* Allocator bookkeeping may report 0 (no counters): then at least
	 * the read went through without error. */
	trace_reader_free(r);
	unlink(path);
	free(h);
	free(req);
}

/* meta, window, requests: the last chunk is a few KB, so cuts land in its
 * header and all through its payload. */
static void write_trunc_sample(const char *path, const struct sample *s)
{
	struct trace_writer *w = trace_writer_new(path);

	assert_non_null(w);
	assert_int_equal(trace_writer_meta(w, &s->meta), 0);
	assert_int_equal(trace_writer_window(w, &s->win), 0);
	assert_int_equal(trace_writer_requests(w, s->req, NREQ), 0);
	assert_int_equal(trace_writer_close(w), 0);
}

static void test_truncated_at_every_offset(void **state)
{
	struct sample *s = sample_new();
	const char *full = tpath("trunc-full.lpt");
	const char *cut = tpath("trunc-cut.lpt");
	unsigned char *buf;
	size_t len, at, last;
	struct readout o;

	(void)state;
	write_trunc_sample(full, s);
	read_all(full, &o);
	assert_int_equal(o.n, 3);
	last = o.off[2];
	buf = slurp(full, &len);
	assert_true(len - last > 64);

	for (at = last; at < len; at++) {
		spit(cut, buf, at);
		read_all(cut, &o);
		assert_int_equal(o.rc, 0);
		assert_int_equal(o.n, 2);
		assert_int_equal(o.type[0], LOUPE_CHUNK_META);
		assert_int_equal(o.type[1], LOUPE_CHUNK_WINDOW);
		assert_int_equal(o.st.trailing_bytes, at - last);
		assert_int_equal(o.st.chunks_bad, 0);
		assert_int_equal(o.st.bytes_skipped, 0);
		assert_int_equal(o.st.bytes_ok, last);
		assert_int_equal(o.st.file_size, at);
		/* A cut exactly on a boundary is a whole (if short) file. */
		assert_true(o.damaged == (at != last));
	}
	free(buf);
	unlink(full);
	unlink(cut);
	sample_free(s);
}

/* Damaging any single byte of one chunk loses that chunk and nothing
 * else: header damage is resynchronised past, payload damage skipped. */
static void check_corrupt_chunk(const char *path, const unsigned char *good,
				size_t len, const struct readout *ref,
				int victim)
{
	unsigned char *buf = malloc(len);
	size_t start = ref->off[victim];
	size_t end = victim + 1 < ref->n ? ref->off[victim + 1] : len;
	size_t at;
	int i, j;

	assert_non_null(buf);
	for (at = start; at < end; at++) {
		struct readout o;

		memcpy(buf, good, len);
		buf[at] ^= (unsigned char)(1u << (at % 8));
		spit(path, buf, len);
		read_all(path, &o);
		assert_int_equal(o.rc, 0);
		assert_int_equal(o.n, ref->n - 1);
		for (i = j = 0; i < ref->n; i++) {
			if (i == victim)
				continue;
			assert_int_equal(o.type[j], ref->type[i]);
			assert_true(o.seq[j] == ref->seq[i]);
			assert_true(o.off[j] == ref->off[i]);
			j++;
		}
		assert_int_equal(o.st.chunks_bad, 1);
		assert_int_equal(o.st.bytes_skipped, end - start);
		assert_int_equal(o.st.trailing_bytes, 0);
		assert_true(o.damaged);
		assert_non_null(strstr(o.damage, "offset"));
	}
	free(buf);
}

static void test_corrupt_single_byte(void **state)
{
	struct sample *s = sample_new();
	const char *full = tpath("corrupt-full.lpt");
	const char *bad = tpath("corrupt-bad.lpt");
	unsigned char *buf;
	struct readout ref;
	size_t len;

	(void)state;
	sample_write(full, s);
	read_all(full, &ref);
	assert_int_equal(ref.n, 6);
	buf = slurp(full, &len);
	/* The middle chunk (the window), then the first and the last. */
	check_corrupt_chunk(bad, buf, len, &ref, 3);
	check_corrupt_chunk(bad, buf, len, &ref, 0);
	check_corrupt_chunk(bad, buf, len, &ref, 5);
	free(buf);
	unlink(full);
	unlink(bad);
	sample_free(s);
}

static void test_garbage_between_chunks(void **state)
{
	struct sample *s = sample_new();
	const char *full = tpath("garbage-full.lpt");
	const char *bad = tpath("garbage-bad.lpt");
	unsigned char junk[300], *buf;
	struct readout ref, o;
	size_t len, at;
	unsigned int i;

	(void)state;
	sample_write(full, s);
	read_all(full, &ref);
	buf = slurp(full, &len);
	at = ref.off[3];
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)rng_next();
	/* Something that looks like a chunk start, to be rejected too. */
	memcpy(junk + 100, "LPCK", 4);
	spit3(bad, buf, at, junk, sizeof(junk), buf + at, len - at);
	read_all(bad, &o);
	assert_int_equal(o.n, 6);
	assert_int_equal(o.st.chunks_bad, 1);
	assert_int_equal(o.st.bytes_skipped, sizeof(junk));
	assert_true(o.damaged);
	assert_true(o.st.saw_end);

	/* Garbage at the very end, after END: skipped, not trailing. */
	spit3(bad, buf, len, junk, sizeof(junk), NULL, 0);
	read_all(bad, &o);
	assert_int_equal(o.n, 6);
	assert_int_equal(o.st.chunks_bad, 1);
	assert_int_equal(o.st.bytes_skipped, sizeof(junk));
	free(buf);
	unlink(full);
	unlink(bad);
	sample_free(s);
}

static void test_missing_chunk_is_sequence_gap(void **state)
{
	struct sample *s = sample_new();
	const char *full = tpath("gap-full.lpt");
	const char *bad = tpath("gap-bad.lpt");
	unsigned char *buf;
	struct readout ref, o;
	size_t len;

	(void)state;
	sample_write(full, s);
	read_all(full, &ref);
	buf = slurp(full, &len);
	spit3(bad, buf, ref.off[2], buf + ref.off[3], len - ref.off[3], NULL,
	      0);
	read_all(bad, &o);
	assert_int_equal(o.n, 5);
	assert_int_equal(o.st.chunks_bad, 0);
	assert_true(o.damaged);
	assert_non_null(strstr(o.damage, "sequence"));
	free(buf);
	unlink(full);
	unlink(bad);
	sample_free(s);
}

/* Appends a hand-made chunk: a later writer's type or flag. */
static void append_chunk(const char *path, __u16 type, __u16 flags, __u64 seq,
			 const char *payload)
{
	struct loupe_chunk_header h = {
		.magic = LOUPE_CHUNK_MAGIC,
		.type = type,
		.flags = flags,
		.raw_len = (__u32)strlen(payload),
		.comp_len = (__u32)strlen(payload),
		.seq = seq,
		.payload_crc = crc32c(0, payload, strlen(payload)),
	};
	unsigned char hdr[32];
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	trace_codec_pack_chunk_header(hdr, &h);
	assert_int_equal(write(fd, hdr, 32), 32);
	assert_int_equal(write(fd, payload, strlen(payload)),
			 (ssize_t)strlen(payload));
	close(fd);
}

/* Headers whose checksum holds but which describe an impossible chunk are
 * damage like any other bad header: resynchronised past, not trusted. */
static void test_impossible_headers(void **state)
{
	struct sample *s = sample_new();
	const char *path = tpath("impossible.lpt");
	struct loupe_chunk_header h = {
		.magic = LOUPE_CHUNK_MAGIC,
		.type = LOUPE_CHUNK_END,
		.raw_len = 13,	/* stored, yet raw_len != comp_len */
		.comp_len = 12,
		.seq = 6,
	};
	unsigned char hdr[32];
	struct readout o;
	int fd;

	(void)state;
	sample_write(path, s);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	h.payload_crc = crc32c(0, "twelve bytes", 12);
	trace_codec_pack_chunk_header(hdr, &h);
	assert_int_equal(write(fd, hdr, 32), 32);
	assert_int_equal(write(fd, "twelve bytes", 12), 12);
	/* Larger than any chunk may be. */
	h.flags = LOUPE_CHUNK_F_ZSTD;
	h.raw_len = 100;
	h.comp_len = LOUPE_CHUNK_MAX_RAW + 1;
	trace_codec_pack_chunk_header(hdr, &h);
	assert_int_equal(write(fd, hdr, 32), 32);
	close(fd);
	/* A good chunk after both must still be found. */
	append_chunk(path, 99, 0, 7, "found again");

	read_all(path, &o);
	assert_int_equal(o.n, 6);
	/* One resynchronisation passes over both: they count as one damaged
	 * region, all of whose bytes are skipped. */
	assert_int_equal(o.st.chunks_bad, 1);
	assert_int_equal(o.st.bytes_skipped, 32 + 12 + 32);
	assert_int_equal(o.st.chunks_unknown, 1);
	assert_int_equal(o.st.trailing_bytes, 0);
	assert_true(o.damaged);
	assert_non_null(strstr(o.damage, "bad header"));
	unlink(path);
	sample_free(s);
}

static void test_unknown_chunks_skipped(void **state)
{
	struct sample *s = sample_new();
	const char *path = tpath("unknown.lpt");
	struct readout o;

	(void)state;
	sample_write(path, s);
	append_chunk(path, 99, 0, 6, "from the future");
	append_chunk(path, LOUPE_CHUNK_WINDOW, 0x8000, 7, "new encoding");
	append_chunk(path, LOUPE_CHUNK_END, 0, 8, "");
	read_all(path, &o);
	/* The last one is an END with an empty payload: undecodable. */
	assert_int_equal(o.n, 6);
	assert_int_equal(o.st.chunks_unknown, 2);
	assert_int_equal(o.st.chunks_bad, 1);
	assert_true(o.damaged);
	assert_non_null(strstr(o.damage, "undecodable"));
	assert_int_equal(o.st.bytes_ok + o.st.bytes_skipped, o.st.file_size);
	unlink(path);

	sample_write(path, s);
	append_chunk(path, 99, 0, 6, "from the future");
	read_all(path, &o);
	assert_int_equal(o.n, 6);
	assert_int_equal(o.st.chunks_unknown, 1);
	assert_false(o.damaged);
	assert_int_equal(o.st.bytes_ok, o.st.file_size);
	unlink(path);
	sample_free(s);
}

static void expect_open_error(const char *path, int err)
{
	errno = 0;
	assert_null(trace_reader_open(path));
	assert_int_equal(errno, err);
}

static void test_open_errors(void **state)
{
	const char *path = tpath("notatrace");
	struct loupe_file_header fh = {
		.version = LOUPE_TRACE_VERSION,
		.header_size = 32,
	};
	unsigned char hdr[64];

	(void)state;
	memcpy(fh.magic, LOUPE_TRACE_MAGIC, sizeof(fh.magic));
	expect_open_error(tpath("does-not-exist.lpt"), ENOENT);

	spit(path, "", 0);
	expect_open_error(path, EPROTO);

	spit(path, "#!/bin/sh\necho this is not a loupe trace at all\n", 48);
	expect_open_error(path, EPROTO);

	/* The magic alone is shorter than a header. */
	spit(path, "LOUPETRC\x01\0\0\0", 12);
	expect_open_error(path, EPROTO);

	trace_codec_pack_file_header(hdr, &fh);
	spit(path, hdr, 31);
	expect_open_error(path, EPROTO);

	/* One flipped bit in the creation time: checksum mismatch. */
	hdr[20] ^= 0x10;
	spit(path, hdr, 32);
	expect_open_error(path, EPROTO);

	fh.header_size = 40;
	trace_codec_pack_file_header(hdr, &fh);
	spit(path, hdr, 40);
	expect_open_error(path, EPROTO);

	/* A well-formed header from a later version. */
	fh.header_size = 32;
	fh.version = LOUPE_TRACE_VERSION + 1;
	trace_codec_pack_file_header(hdr, &fh);
	spit(path, hdr, 32);
	expect_open_error(path, EPROTONOSUPPORT);
	fh.version = 0;
	trace_codec_pack_file_header(hdr, &fh);
	spit(path, hdr, 32);
	expect_open_error(path, EPROTONOSUPPORT);

	/* The current version reads. */
	fh.version = LOUPE_TRACE_VERSION;
	trace_codec_pack_file_header(hdr, &fh);
	spit(path, hdr, 32);
	{
		struct trace_reader *r = trace_reader_open(path);

		assert_non_null(r);
		trace_reader_free(r);
	}
	trace_reader_free(NULL);
	assert_int_equal(trace_writer_close(NULL), 0);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_codec_varint),
		cmocka_unit_test(test_codec_strings),
		cmocka_unit_test(test_codec_prefixes_rejected),
		cmocka_unit_test(test_codec_hostile),
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_empty_batches_and_compression),
		cmocka_unit_test(test_file_mode_0600),
		cmocka_unit_test(test_header_only),
		cmocka_unit_test(test_writer_rejects_bad_input),
		cmocka_unit_test(test_request_batch_split),
		cmocka_unit_test(test_many_chunks_bounded_memory),
		cmocka_unit_test(test_truncated_at_every_offset),
		cmocka_unit_test(test_corrupt_single_byte),
		cmocka_unit_test(test_garbage_between_chunks),
		cmocka_unit_test(test_missing_chunk_is_sequence_gap),
		cmocka_unit_test(test_unknown_chunks_skipped),
		cmocka_unit_test(test_impossible_headers),
		cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests_name("trace", tests, group_setup,
					   group_teardown);
}
