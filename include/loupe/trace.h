/* SPDX-License-Identifier: MIT */
/*
 * loupe trace file format, version 1 (see docs/trace-format.md).
 *
 * A trace is a 32-byte file header followed by self-delimiting chunks.  Each
 * chunk has a 32-byte header (type, lengths, sequence number, checksums) and
 * a zstd-compressed payload.  Chunks are only ever appended, and each one is
 * written with a single write(2), so a recorder killed at any instant leaves
 * a file whose complete chunks all read back.
 *
 * This header holds the on-disk constants and the in-memory records that the
 * writer (collector/trace_writer.h) takes and the reader
 * (analyzer/trace_reader.h) yields.  Fixed-width kernel-style types only.
 */
#ifndef LOUPE_TRACE_H
#define LOUPE_TRACE_H

#include <linux/types.h>

#define LOUPE_TRACE_MAGIC "LOUPETRC" /* 8 bytes, no NUL on disk */
#define LOUPE_TRACE_VERSION 1
#define LOUPE_CHUNK_MAGIC 0x4b43504cU /* "LPCK" little-endian */
#define LOUPE_CHUNK_MAX_RAW (32u << 20) /* bounds reader memory per chunk */
#define LOUPE_TRACE_MAX_STAGES 12

struct loupe_file_header {
	char magic[8];
	__u32 version;
	__u32 header_size;	 /* 32; lets later versions grow the header */
	__u64 created_realtime_ns;
	__u32 flags;		 /* none defined yet */
	__u32 header_crc;	 /* crc32c of the preceding 28 bytes */
};

struct loupe_chunk_header {
	__u32 magic;		 /* LOUPE_CHUNK_MAGIC */
	__u16 type;		 /* enum loupe_chunk_type */
	__u16 flags;		 /* bit 0: payload is zstd-compressed */
	__u32 raw_len;		 /* payload length after decompression */
	__u32 comp_len;		 /* payload length on disk */
	__u64 seq;		 /* 0, 1, 2 ... in file order */
	__u32 payload_crc;	 /* crc32c of the on-disk payload */
	__u32 header_crc;	 /* crc32c of the preceding 28 bytes */
};

enum loupe_chunk_type {
	LOUPE_CHUNK_META = 1,	  /* who was recorded, when, how */
	LOUPE_CHUNK_NAMES = 2,	  /* id -> string, before first use */
	LOUPE_CHUNK_CONFIG = 3,	  /* workload config announcements */
	LOUPE_CHUNK_WINDOW = 4,	  /* one closed aggregation window */
	LOUPE_CHUNK_REQUESTS = 5, /* a batch of per-request records */
	LOUPE_CHUNK_END = 6,	  /* clean end of recording, totals */
	LOUPE_CHUNK_FRAMES = 7,	  /* symbolized frames, before first use */
	LOUPE_CHUNK_STACKS = 8,	  /* stacks as frame ids, before first use */
	LOUPE_CHUNK_SAMPLES = 9,  /* CPU / off-CPU samples of one window */
	LOUPE_CHUNK_COUNTERS = 10, /* perf counters of one window */
};

#define LOUPE_CHUNK_F_ZSTD 0x1

/* ---- in-memory records (what the writer takes, the reader yields) ---- */

struct hist; /* analyzer/hist.h: log-linear latency histogram */

struct trace_meta {
	const char *cmdline;	   /* target command line, spaces between args */
	const char *hostname;
	const char *loupe_version;
	const char *mode;	   /* "attach" or "launch" */
	__u32 pid;
	__u32 ncpus;
	__u64 start_realtime_ns;   /* CLOCK_REALTIME at start */
	__u64 start_mono_ns;	   /* CLOCK_MONOTONIC at start (BPF clock) */
	__u64 window_ns;	   /* aggregation window length */
};

struct trace_name {
	__u32 id;
	const char *str;
};

struct trace_config {
	__u64 ts_ns;		   /* CLOCK_MONOTONIC when announced */
	const char *key;
	const char *value;
};

/* Latency histogram of one (model, stage); stage "request" = whole request. */
struct trace_hist_entry {
	__u32 model_id;
	__u32 stage_id;
	struct hist *hist;
};

struct trace_window {
	__u64 index;		   /* 0-based window number */
	__u64 start_ns, end_ns;	   /* CLOCK_MONOTONIC */
	__u64 requests;		   /* requests that ended in the window */
	__u64 errors;		   /* of which status != 0 */
	__u64 dropped;		   /* events lost (ring buffer full etc.) */
	__u64 late;		   /* records that arrived after their window closed */
	__u32 nhists;
	struct trace_hist_entry *hists;
};

struct trace_stage {
	__u32 name_id;
	__u32 start_off_ns;	   /* from request begin */
	__u32 dur_ns;		   /* saturates at ~4.29 s */
};

struct trace_request {
	__u64 req_id;
	__u64 begin_ns, end_ns;	   /* CLOCK_MONOTONIC */
	__u32 model_id;
	__u32 batch;
	__u32 tid;
	__s32 status;
	__u16 nstages;
	__u16 flags;		   /* bit 0: stages were truncated */
	struct trace_stage stages[LOUPE_TRACE_MAX_STAGES];
};

enum trace_end_reason {
	TRACE_END_DURATION = 1,	   /* -d elapsed */
	TRACE_END_SIGNAL = 2,	   /* SIGINT/SIGTERM */
	TRACE_END_TARGET_EXIT = 3, /* the target process exited */
	TRACE_END_ERROR = 4,
};

struct trace_end {
	__u64 end_mono_ns;
	__u64 requests;
	__u64 windows;
	__u64 dropped;
	__u32 reason;		   /* enum trace_end_reason */
	__s32 target_exit_status;  /* wait status of a launched target, else -1 */
};

/* ---- CPU profiles (loupe record --cpu) ---- */

#define TRACE_NO_ID 0xffffffffu	   /* no file / outside a request / no stage */
#define TRACE_MAX_FRAMES 128	   /* frames per stack, inline frames included */

enum trace_frame_flags {
	TRACE_FRAME_INLINED = 0x1, /* inlined into the next (outer) frame */
	TRACE_FRAME_KERNEL = 0x2,
};

/* A symbolized frame; strings are name ids (NAMES chunks). */
struct trace_frame {
	__u32 id;
	__u32 function_id;
	__u32 file_id;		   /* TRACE_NO_ID without debug info */
	__u32 line;
	__u32 module_id;
	__u32 flags;		   /* enum trace_frame_flags */
	__u64 module_offset;	   /* address within the module */
};

/* A call stack: frame ids, leaf first (kernel frames before user ones). */
struct trace_stack {
	__u32 id;
	__u32 nframes;
	__u32 *frames;
};

enum trace_sample_kind {
	TRACE_SAMPLE_CPU = 0,		/* on-CPU, sampled */
	TRACE_SAMPLE_OFFCPU_BLOCKED = 1, /* asleep: futex, I/O, sleep */
	TRACE_SAMPLE_OFFCPU_RUNQ = 2,	/* runnable, waiting for a CPU */
	/* Memory (record --mem, libloupe-alloc.so): count = sampled objects,
	 * value_ns = estimated bytes they stand for, per allocation stack. */
	TRACE_SAMPLE_MEM_ALLOC = 3,	/* allocated in the window */
	TRACE_SAMPLE_MEM_FREE = 4,	/* of those allocations, freed in it */
	TRACE_SAMPLE_NKINDS
};

/* Aggregated samples of one (stack, model, stage, kind) in one window. */
struct trace_sample {
	__u64 window;
	__u32 stack_id;
	__u32 model_id;		   /* TRACE_NO_ID outside a request */
	__u32 stage_id;		   /* TRACE_NO_ID outside a stage */
	__u32 kind;		   /* enum trace_sample_kind */
	__u64 count;		   /* samples (CPU) or off-CPU episodes */
	__u64 value_ns;		   /* CPU: count x period; off-CPU: time */
};

enum trace_counter {
	TRACE_CTR_TASK_CLOCK_NS,
	TRACE_CTR_CTX_VOLUNTARY,
	TRACE_CTR_CTX_INVOLUNTARY,
	TRACE_CTR_MINOR_FAULTS,
	TRACE_CTR_MAJOR_FAULTS,
	TRACE_CTR_MIGRATIONS,
	TRACE_CTR_CYCLES,
	TRACE_CTR_INSTRUCTIONS,
	TRACE_CTR_CACHE_MISSES,
	TRACE_CTR_BRANCH_MISSES,
	/* Gauges, not deltas: resident memory at the window's end, bytes. */
	TRACE_CTR_RSS_ANON,
	TRACE_CTR_RSS_FILE,
	TRACE_CTR_RSS_SHMEM,
	TRACE_CTR_N
};

#define TRACE_CTR_IS_GAUGE(i) ((i) >= TRACE_CTR_RSS_ANON)

/* Whole-process counter deltas over one window (gauges: values at its end). */
struct trace_counters {
	__u64 window;
	__u32 present;		   /* bit (1 << enum trace_counter) per counter read */
	__u64 v[TRACE_CTR_N];	   /* scaled by time_enabled / time_running */
};

#endif
