// SPDX-License-Identifier: MIT
/*
 * Round trip of the CPU profile chunks (FRAMES, STACKS, SAMPLES, COUNTERS)
 * through the real writer and reader, including TRACE_NO_ID values, the
 * longest stack, and a reader that meets a damaged profile chunk.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "analyzer/trace_reader.h"
#include "collector/trace_writer.h"

static char path[64];

static void write_profile(void)
{
	static __u32 deep[TRACE_MAX_FRAMES], two[2] = { 1, 0 };
	struct trace_frame fr[2] = {
		{ .id = 0, .function_id = 3, .file_id = TRACE_NO_ID, .line = 0,
		  .module_id = 4, .flags = TRACE_FRAME_KERNEL,
		  .module_offset = 0xffffffff81000000ull },
		{ .id = 1, .function_id = 5, .file_id = 6, .line = 1234,
		  .module_id = 7, .flags = TRACE_FRAME_INLINED,
		  .module_offset = 0x1a2b },
	};
	struct trace_stack st[3] = {
		{ .id = 0, .nframes = 2, .frames = two },
		{ .id = 1, .nframes = TRACE_MAX_FRAMES, .frames = deep },
		{ .id = 2, .nframes = 0, .frames = NULL },
	};
	struct trace_sample sm[2] = {
		{ .window = 7, .stack_id = 1, .model_id = TRACE_NO_ID,
		  .stage_id = TRACE_NO_ID, .kind = TRACE_SAMPLE_CPU,
		  .count = 99, .value_ns = 99 * 10101010ull },
		{ .window = 7, .stack_id = 0, .model_id = 2, .stage_id = 8,
		  .kind = TRACE_SAMPLE_OFFCPU_RUNQ, .count = 3,
		  .value_ns = 123456789 },
	};
	struct trace_counters c = { .window = 7 };
	struct trace_writer *w;
	unsigned int i;

	for (i = 0; i < TRACE_MAX_FRAMES; i++)
		deep[i] = i % 2;
	c.present = 1u << TRACE_CTR_TASK_CLOCK_NS | 1u << TRACE_CTR_MIGRATIONS;
	c.v[TRACE_CTR_TASK_CLOCK_NS] = 987654321;
	c.v[TRACE_CTR_MIGRATIONS] = 5;
	w = trace_writer_new(path);
	assert_non_null(w);
	assert_int_equal(trace_writer_frames(w, fr, 2), 0);
	assert_int_equal(trace_writer_stacks(w, st, 3), 0);
	assert_int_equal(trace_writer_samples(w, sm, 2), 0);
	assert_int_equal(trace_writer_counters(w, &c), 0);
	assert_int_equal(trace_writer_close(w), 0);
}

static void test_roundtrip(void **state)
{
	struct trace_reader *r;
	struct trace_chunk ch;
	int seen = 0;

	(void)state;
	write_profile();
	r = trace_reader_open(path);
	assert_non_null(r);
	while (trace_reader_next(r, &ch) > 0) {
		switch (ch.type) {
		case LOUPE_CHUNK_FRAMES:
			assert_int_equal(ch.frames.n, 2);
			assert_int_equal(ch.frames.v[0].file_id, TRACE_NO_ID);
			assert_int_equal(ch.frames.v[0].flags, TRACE_FRAME_KERNEL);
			assert_int_equal(ch.frames.v[0].module_offset,
					 0xffffffff81000000ull);
			assert_int_equal(ch.frames.v[1].function_id, 5);
			assert_int_equal(ch.frames.v[1].file_id, 6);
			assert_int_equal(ch.frames.v[1].line, 1234);
			assert_int_equal(ch.frames.v[1].module_id, 7);
			assert_int_equal(ch.frames.v[1].flags, TRACE_FRAME_INLINED);
			seen |= 1;
			break;
		case LOUPE_CHUNK_STACKS:
			assert_int_equal(ch.stacks.n, 3);
			assert_int_equal(ch.stacks.v[0].nframes, 2);
			assert_int_equal(ch.stacks.v[0].frames[0], 1);
			assert_int_equal(ch.stacks.v[1].nframes, TRACE_MAX_FRAMES);
			assert_int_equal(ch.stacks.v[1].frames[TRACE_MAX_FRAMES - 1], 1);
			assert_int_equal(ch.stacks.v[2].nframes, 0);
			seen |= 2;
			break;
		case LOUPE_CHUNK_SAMPLES:
			assert_int_equal(ch.samples.n, 2);
			assert_int_equal(ch.samples.v[0].model_id, TRACE_NO_ID);
			assert_int_equal(ch.samples.v[0].stage_id, TRACE_NO_ID);
			assert_int_equal(ch.samples.v[0].value_ns, 99 * 10101010ull);
			assert_int_equal(ch.samples.v[1].kind, TRACE_SAMPLE_OFFCPU_RUNQ);
			assert_int_equal(ch.samples.v[1].model_id, 2);
			assert_int_equal(ch.samples.v[1].window, 7);
			seen |= 4;
			break;
		case LOUPE_CHUNK_COUNTERS:
			assert_int_equal(ch.counters.window, 7);
			assert_int_equal(ch.counters.present,
					 1u << TRACE_CTR_TASK_CLOCK_NS |
						 1u << TRACE_CTR_MIGRATIONS);
			assert_int_equal(ch.counters.v[TRACE_CTR_TASK_CLOCK_NS], 987654321);
			assert_int_equal(ch.counters.v[TRACE_CTR_MIGRATIONS], 5);
			seen |= 8;
			break;
		default:
			break;
		}
	}
	assert_int_equal(seen, 15);
	trace_reader_free(r);
}

static void test_writer_refuses_bad_items(void **state)
{
	struct trace_stack too_deep = { .id = 0, .nframes = TRACE_MAX_FRAMES + 1 };
	struct trace_sample bad_kind = { .kind = TRACE_SAMPLE_NKINDS, .count = 1 };
	static __u32 frames[TRACE_MAX_FRAMES + 1];
	struct trace_writer *w;

	(void)state;
	too_deep.frames = frames;
	w = trace_writer_new(path);
	assert_non_null(w);
	assert_int_equal(trace_writer_stacks(w, &too_deep, 1), -EINVAL);
	assert_int_equal(trace_writer_samples(w, &bad_kind, 1), -EINVAL);
	assert_int_equal(trace_writer_close(w), 0);
}

/* A flipped byte in any profile chunk loses that chunk, nothing else. */
static void test_damage_costs_one_chunk(void **state)
{
	struct trace_reader_stats st;
	struct trace_reader *r;
	struct trace_chunk ch;
	long size;
	int n = 0;
	FILE *f;

	(void)state;
	write_profile();
	f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	/* the second chunk (STACKS) starts after the header and FRAMES */
	fseek(f, size / 3, SEEK_SET);
	fputc(0x5a ^ fgetc(f), f);
	fclose(f);
	r = trace_reader_open(path);
	assert_non_null(r);
	while (trace_reader_next(r, &ch) > 0)
		n++;
	trace_reader_stats(r, &st);
	assert_int_equal(st.chunks_bad, 1);
	assert_int_equal(n, 3);
	trace_reader_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_writer_refuses_bad_items),
		cmocka_unit_test(test_damage_costs_one_chunk),
	};
	int ret;

	snprintf(path, sizeof(path), "/tmp/loupe-test-prof-%d.lpt", (int)getpid());
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	return ret;
}
