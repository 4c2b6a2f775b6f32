// SPDX-License-Identifier: MIT
/*
 * Payload codec of the CPU profile chunks (FRAMES, STACKS, SAMPLES,
 * COUNTERS); layouts in docs/trace-format.md.  Same rules as
 * trace_codec.c: encoders append, decoders are bounds-checked against
 * hostile input and yield into the arena.
 */
#include <errno.h>
#include <string.h>

#include "analyzer/trace_codec.h"

#define MIN_FRAME 7	/* id, function, file, line, module, flags, offset */
#define MIN_STACK 2	/* id, nframes */
#define MIN_SAMPLE 7	/* window, stack, model, stage, kind, count, value */

/* Ids are written +1 so TRACE_NO_ID (~0) costs one byte as 0. */
static void put_id(struct trace_codec_buf *b, __u32 id)
{
	trace_codec_put_varint(b, (__u64)id + 1 == 0x100000000ull ? 0 : id + 1);
}

static int get_id(struct trace_codec_cur *c, __u32 *id)
{
	__u32 v;

	if (trace_codec_get_u32(c, &v))
		return -EBADMSG;
	*id = v ? v - 1 : TRACE_NO_ID;
	return 0;
}

static int put_frame(struct trace_codec_buf *b, const void *item,
		     const void *prev)
{
	const struct trace_frame *f = item;

	(void)prev;
	trace_codec_put_varint(b, f->id);
	put_id(b, f->function_id);
	put_id(b, f->file_id);
	trace_codec_put_varint(b, f->line);
	put_id(b, f->module_id);
	trace_codec_put_varint(b, f->flags);
	trace_codec_put_varint(b, f->module_offset);
	return 0;
}

int trace_codec_encode_frames(struct trace_codec_buf *b,
			      const struct trace_frame *v, size_t n,
			      size_t *done)
{
	return trace_codec_encode_batch(b, v, sizeof(*v), n, done, put_frame);
}

static int put_stack(struct trace_codec_buf *b, const void *item,
		     const void *prev)
{
	const struct trace_stack *s = item;
	__u32 i;

	(void)prev;
	if (s->nframes > TRACE_MAX_FRAMES || (s->nframes && !s->frames))
		return -EINVAL;
	trace_codec_put_varint(b, s->id);
	trace_codec_put_varint(b, s->nframes);
	for (i = 0; i < s->nframes; i++)
		trace_codec_put_varint(b, s->frames[i]);
	return 0;
}

int trace_codec_encode_stacks(struct trace_codec_buf *b,
			      const struct trace_stack *v, size_t n,
			      size_t *done)
{
	return trace_codec_encode_batch(b, v, sizeof(*v), n, done, put_stack);
}

static int put_sample(struct trace_codec_buf *b, const void *item,
		      const void *prev)
{
	const struct trace_sample *s = item;

	(void)prev;
	if (s->kind >= TRACE_SAMPLE_NKINDS)
		return -EINVAL;
	trace_codec_put_varint(b, s->window);
	trace_codec_put_varint(b, s->stack_id);
	put_id(b, s->model_id);
	put_id(b, s->stage_id);
	trace_codec_put_varint(b, s->kind);
	trace_codec_put_varint(b, s->count);
	trace_codec_put_varint(b, s->value_ns);
	return 0;
}

int trace_codec_encode_samples(struct trace_codec_buf *b,
			       const struct trace_sample *v, size_t n,
			       size_t *done)
{
	return trace_codec_encode_batch(b, v, sizeof(*v), n, done, put_sample);
}

int trace_codec_encode_counters(struct trace_codec_buf *b,
				const struct trace_counters *c)
{
	unsigned int i;

	trace_codec_put_varint(b, c->window);
	trace_codec_put_varint(b, c->present);
	trace_codec_put_varint(b, TRACE_CTR_N);
	for (i = 0; i < TRACE_CTR_N; i++)
		trace_codec_put_varint(b, c->v[i]);
	return b->err;
}

/*
 * The common start of a batch decoder: the item count (checked against
 * MIN_SIZE bytes per item), an arena sized for the items plus EXTRA bytes,
 * and the item array.  NULL and *ERR set on failure.
 */
static void *batch_begin(struct trace_codec_cur *c, const void *p, size_t len,
			 struct trace_codec_arena *a, size_t min_size,
			 size_t elem, size_t align, size_t extra, size_t *cnt,
			 int *err)
{
	void *out;

	trace_codec_cur_init(c, p, len);
	*err = -EBADMSG;
	if (trace_codec_get_count(c, min_size, cnt))
		return NULL;
	*err = trace_codec_arena_reset(a, *cnt * elem + extra +
						  TRACE_CODEC_ARENA_SLACK);
	if (*err)
		return NULL;
	out = trace_codec_arena_alloc(a, *cnt * elem + 1, align);
	*err = out ? 0 : -EBADMSG;
	return out;
}

int trace_codec_decode_frames(const void *p, size_t len,
			      struct trace_codec_arena *a,
			      struct trace_frame **v, size_t *n)
{
	struct trace_codec_cur c;
	struct trace_frame *out;
	size_t i, cnt;
	int err;

	*v = NULL;
	*n = 0;
	out = batch_begin(&c, p, len, a, MIN_FRAME, sizeof(*out),
			  _Alignof(struct trace_frame), 0, &cnt, &err);
	if (!out)
		return err;
	for (i = 0; i < cnt; i++) {
		struct trace_frame *f = &out[i];

		if (trace_codec_get_u32(&c, &f->id) ||
		    get_id(&c, &f->function_id) || get_id(&c, &f->file_id) ||
		    trace_codec_get_u32(&c, &f->line) ||
		    get_id(&c, &f->module_id) ||
		    trace_codec_get_u32(&c, &f->flags) ||
		    trace_codec_get_varint(&c, &f->module_offset))
			return -EBADMSG;
	}
	*v = out;
	*n = cnt;
	return 0;
}

int trace_codec_decode_stacks(const void *p, size_t len,
			      struct trace_codec_arena *a,
			      struct trace_stack **v, size_t *n)
{
	struct trace_codec_cur c;
	struct trace_stack *out;
	size_t i, cnt;
	__u32 j;
	int err;

	*v = NULL;
	*n = 0;
	/* Each frame id takes at least one byte: the payload length bounds
	 * them all (plus alignment slack per stack). */
	out = batch_begin(&c, p, len, a, MIN_STACK, sizeof(*out),
			  _Alignof(struct trace_stack),
			  len * sizeof(__u32) + len * _Alignof(__u32), &cnt, &err);
	if (!out)
		return err;
	for (i = 0; i < cnt; i++) {
		if (trace_codec_get_u32(&c, &out[i].id) ||
		    trace_codec_get_u32(&c, &out[i].nframes) ||
		    out[i].nframes > TRACE_MAX_FRAMES ||
		    out[i].nframes > c.left)
			return -EBADMSG;
		out[i].frames = trace_codec_arena_alloc(
			a, out[i].nframes * sizeof(__u32) + 1, _Alignof(__u32));
		if (!out[i].frames)
			return -EBADMSG;
		for (j = 0; j < out[i].nframes; j++)
			if (trace_codec_get_u32(&c, &out[i].frames[j]))
				return -EBADMSG;
	}
	*v = out;
	*n = cnt;
	return 0;
}

int trace_codec_decode_samples(const void *p, size_t len,
			       struct trace_codec_arena *a,
			       struct trace_sample **v, size_t *n)
{
	struct trace_codec_cur c;
	struct trace_sample *out;
	size_t i, cnt;
	int err;

	*v = NULL;
	*n = 0;
	out = batch_begin(&c, p, len, a, MIN_SAMPLE, sizeof(*out),
			  _Alignof(struct trace_sample), 0, &cnt, &err);
	if (!out)
		return err;
	for (i = 0; i < cnt; i++) {
		struct trace_sample *s = &out[i];

		if (trace_codec_get_varint(&c, &s->window) ||
		    trace_codec_get_u32(&c, &s->stack_id) ||
		    get_id(&c, &s->model_id) || get_id(&c, &s->stage_id) ||
		    trace_codec_get_u32(&c, &s->kind) ||
		    s->kind >= TRACE_SAMPLE_NKINDS ||
		    trace_codec_get_varint(&c, &s->count) ||
		    trace_codec_get_varint(&c, &s->value_ns))
			return -EBADMSG;
	}
	*v = out;
	*n = cnt;
	return 0;
}

int trace_codec_decode_counters(const void *p, size_t len,
				struct trace_counters *out)
{
	struct trace_codec_cur c;
	__u64 n, i, v;

	memset(out, 0, sizeof(*out));
	trace_codec_cur_init(&c, p, len);
	if (trace_codec_get_varint(&c, &out->window) ||
	    trace_codec_get_u32(&c, &out->present) ||
	    trace_codec_get_varint(&c, &n) || n > 64)
		return -EBADMSG;
	/* A later writer may know more counters: keep the ones we know. */
	for (i = 0; i < n; i++) {
		if (trace_codec_get_varint(&c, &v))
			return -EBADMSG;
		if (i < TRACE_CTR_N)
			out->v[i] = v;
	}
	out->present &= (1u << TRACE_CTR_N) - 1;
	return 0;
}
