/* SPDX-License-Identifier: MIT */
/*
 * Streaming trace reader: one chunk at a time, memory bounded by the largest
 * chunk (LOUPE_CHUNK_MAX_RAW), whatever the file size.
 *
 * On a damaged file the reader keeps what is whole: a chunk whose header or
 * payload checksum fails is skipped by scanning forward to the next valid
 * chunk header; a chunk cut short at the end of the file ends the stream.
 * trace_reader_stats() says how much was recovered.
 */
#ifndef LOUPE_TRACE_READER_H
#define LOUPE_TRACE_READER_H

#include <stddef.h>
#include <stdbool.h>
#include <loupe/trace.h>

struct trace_reader;

struct trace_chunk {
	enum loupe_chunk_type type;
	__u64 seq;
	__u64 offset;		  /* file offset of the chunk header */
	union {
		struct trace_meta meta;
		struct {
			struct trace_name *v;
			size_t n;
		} names;
		struct {
			struct trace_config *v;
			size_t n;
		} config;
		struct trace_window window;
		struct {
			struct trace_request *v;
			size_t n;
		} requests;
		struct trace_end end;
		struct {
			struct trace_frame *v;
			size_t n;
		} frames;
		struct {
			struct trace_stack *v;
			size_t n;
		} stacks;
		struct {
			struct trace_sample *v;
			size_t n;
		} samples;
		struct trace_counters counters;
	};
};

struct trace_reader_stats {
	__u64 file_size;
	__u64 chunks_ok;	  /* chunks decoded and returned */
	__u64 bytes_ok;		  /* header + the bytes of those chunks */
	__u64 chunks_bad;	  /* corrupt chunks skipped (a damaged region
				   * passed in one resync counts once) */
	__u64 bytes_skipped;	  /* bytes skipped while resynchronising */
	__u64 trailing_bytes;	  /* incomplete chunk at the end of the file */
	bool saw_end;		  /* an END chunk was read: recorder closed cleanly */
	__u64 chunks_unknown;	  /* intact chunks of a type (or with flags) this
				   * reader does not know, stepped over; counted
				   * in bytes_ok */
};

/*
 * Opens PATH and checks the file header.  Returns NULL and sets errno:
 * ENOENT etc. from open(), EPROTO when the file is not a loupe trace (bad
 * magic or header checksum), EPROTONOSUPPORT for an unknown version.
 */
struct trace_reader *trace_reader_open(const char *path);

/*
 * Reads the next chunk into *out.  Returns 1 when a chunk was read, 0 at the
 * end of the readable data, negative errno on an I/O or allocation error.
 * Unknown chunk types are skipped (forward compatibility).  Everything *out
 * points to is owned by the reader and valid until the next call.
 */
int trace_reader_next(struct trace_reader *r, struct trace_chunk *out);

/*
 * Follow mode, for a file a recorder is still writing: a chunk cut short at
 * the end is taken to be in flight (trace_reader_next() returns 0 and reads
 * it whole on a later call) rather than as damage.
 */
void trace_reader_set_follow(struct trace_reader *r, bool on);
void trace_reader_stats(const struct trace_reader *r,
			struct trace_reader_stats *st);

/* A one-line description of the first damage seen ("checksum mismatch in
 * chunk at offset 4096"), or NULL if the file read back whole so far. */
const char *trace_reader_damage(const struct trace_reader *r);

/* NULL is a no-op. */
void trace_reader_free(struct trace_reader *r);

#endif
