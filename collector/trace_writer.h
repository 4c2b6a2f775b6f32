/* SPDX-License-Identifier: MIT */
/*
 * Append-only trace file writer (format: include/loupe/trace.h).
 *
 * Each call encodes one chunk, compresses it with zstd and writes it with a
 * single write(2) straight to the file (no stdio buffering), so everything a
 * call returned 0 for survives SIGKILL of the recorder.  Not thread-safe.
 * Functions return 0 or a negative errno.
 */
#ifndef LOUPE_TRACE_WRITER_H
#define LOUPE_TRACE_WRITER_H

#include <stddef.h>
#include <loupe/trace.h>

struct trace_writer;

/* Creates (truncating) PATH with mode 0600 and writes the file header.
 * Returns NULL and sets errno on failure. */
struct trace_writer *trace_writer_new(const char *path);

int trace_writer_meta(struct trace_writer *w, const struct trace_meta *m);
int trace_writer_names(struct trace_writer *w, const struct trace_name *v,
		       size_t n);
int trace_writer_config(struct trace_writer *w, const struct trace_config *v,
			size_t n);
int trace_writer_window(struct trace_writer *w, const struct trace_window *win);
int trace_writer_requests(struct trace_writer *w,
			  const struct trace_request *v, size_t n);
int trace_writer_end(struct trace_writer *w, const struct trace_end *e);
/* CPU profiles: frames and stacks before the samples that use them. */
int trace_writer_frames(struct trace_writer *w, const struct trace_frame *v,
			size_t n);
int trace_writer_stacks(struct trace_writer *w, const struct trace_stack *v,
			size_t n);
int trace_writer_samples(struct trace_writer *w,
			 const struct trace_sample *v, size_t n);
int trace_writer_counters(struct trace_writer *w,
			  const struct trace_counters *c);

/* Bytes written to the file so far. */
__u64 trace_writer_bytes(const struct trace_writer *w);

/* fsync()s and closes; returns the first error seen.  NULL is a no-op. */
int trace_writer_close(struct trace_writer *w);

#endif
