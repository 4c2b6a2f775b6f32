// SPDX-License-Identifier: MIT
/*
 * probe.h's in-process bookkeeping, without a kernel: we raise the USDT
 * semaphore by hand (what the kernel does when loupe attaches); the probe
 * sites are NOPs with nothing attached, so every macro runs its real path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <loupe/probe.h>

static const char *const M = "model_a";
static const char *const S1 = "stage_one";
static const char *const S2 = "stage_two";

static int attach(void **state)
{
	(void)state;
	memset(&loupe_tls_ctx, 0, sizeof(loupe_tls_ctx));
	loupe_flush_semaphore = 1;
	/* Far from the last flush: the first request end would flush. */
	return 0;
}

static int detach(void **state)
{
	(void)state;
	loupe_flush_semaphore = 0;
	return 0;
}

static void test_unattached_records_nothing(void **state)
{
	(void)state;
	loupe_flush_semaphore = 0;
	LOUPE_REQUEST_BEGIN(1, M, 4);
	LOUPE_STAGE_BEGIN(S1);
	LOUPE_STAGE_END(S1);
	LOUPE_REQUEST_END(1, 0);
	assert_int_equal(loupe_tls_ctx.tid, 0);
	assert_int_equal(loupe_tls_ctx.nrec, 0);
	assert_int_equal(loupe_tls_ctx.in_request, 0);
}

static void test_request_with_nested_stages(void **state)
{
	struct loupe_thread_ctx *c = &loupe_tls_ctx;
	struct loupe_req_rec *r;
	__u64 t0;

	(void)state;
	/* Pretend we flushed just now so the record stays buffered. */
	t0 = loupe_now_ns();
	c->last_flush_ns = t0 + 1000000000ull;
	c->abi_version = LOUPE_ABI_VERSION;
	c->tid = 42;
	LOUPE_REQUEST_BEGIN_AT(7, M, 128, t0);
	assert_int_equal(c->cur_model, (__u64)(unsigned long)M);
	assert_int_equal(c->cur_req_id, 7);
	LOUPE_STAGE_SPAN("queue_wait", t0, t0 + 5000);
	LOUPE_STAGE_BEGIN(S1);
	assert_int_equal(c->cur_stage, (__u64)(unsigned long)S1);
	LOUPE_STAGE_BEGIN(S2);
	assert_int_equal(c->cur_stage, (__u64)(unsigned long)S2);
	LOUPE_STAGE_END(S2);
	assert_int_equal(c->cur_stage, (__u64)(unsigned long)S1);
	LOUPE_STAGE_END(S1);
	assert_int_equal(c->cur_stage, 0);
	LOUPE_REQUEST_END_AT(7, -3, t0 + 1000000);

	assert_int_equal(c->nrec, 1);
	assert_int_equal(c->cur_model, 0);
	r = &c->recs[0];
	assert_int_equal(r->req_id, 7);
	assert_int_equal(r->model, (__u64)(unsigned long)M);
	assert_int_equal(r->batch, 128);
	assert_int_equal(r->status, -3);
	assert_int_equal(r->end_ns - r->begin_ns, 1000000);
	assert_int_equal(r->tid, 42);
	assert_int_equal(r->flags, 0);
	assert_int_equal(r->nstages, 3);
	assert_string_equal((const char *)(unsigned long)r->stages[0].name, "queue_wait");
	assert_int_equal(r->stages[0].start_off_ns, 0);
	assert_int_equal(r->stages[0].dur_ns, 5000);
	/* Spans are kept in start order; the inner one lies inside the outer. */
	assert_ptr_equal((const char *)(unsigned long)r->stages[1].name, S1);
	assert_ptr_equal((const char *)(unsigned long)r->stages[2].name, S2);
	assert_true(r->stages[2].start_off_ns >= r->stages[1].start_off_ns);
	assert_true(r->stages[2].dur_ns <= r->stages[1].dur_ns);
	/* Every name was queued once for the profiler. */
	assert_int_equal(c->nnames, 4);
}

static void test_batch_full_flushes(void **state)
{
	struct loupe_thread_ctx *c = &loupe_tls_ctx;
	__u64 i, t = loupe_now_ns();

	(void)state;
	c->last_flush_ns = t + 1000000000ull; /* time never forces a flush */
	for (i = 0; i < LOUPE_BATCH - 1; i++) {
		LOUPE_REQUEST_BEGIN_AT(i, M, 1, t);
		LOUPE_REQUEST_END_AT(i, 0, t + 10);
	}
	assert_int_equal(c->nrec, LOUPE_BATCH - 1);
	LOUPE_REQUEST_BEGIN_AT(99, M, 1, t);
	LOUPE_REQUEST_END_AT(99, 0, t + 10);
	/* The 16th record filled the batch: handed over, buffer empty. */
	assert_int_equal(c->nrec, 0);
	assert_int_equal(c->nnames, 0);
}

static void test_time_flushes_and_idle(void **state)
{
	struct loupe_thread_ctx *c = &loupe_tls_ctx;
	__u64 t = loupe_now_ns();

	(void)state;
	c->last_flush_ns = t;
	LOUPE_REQUEST_BEGIN_AT(1, M, 1, t);
	LOUPE_REQUEST_END_AT(1, 0, t + 1000);
	assert_int_equal(c->nrec, 1);		/* 1 µs after a flush: keep */
	LOUPE_REQUEST_BEGIN_AT(2, M, 1, t);
	LOUPE_REQUEST_END_AT(2, 0, t + LOUPE_FLUSH_NS);
	assert_int_equal(c->nrec, 0);		/* 10 ms: hand over */
	c->last_flush_ns = loupe_now_ns() + 1000000000ull;
	LOUPE_REQUEST_BEGIN(3, M, 1);
	LOUPE_REQUEST_END(3, 0);
	assert_int_equal(c->nrec, 1);
	LOUPE_IDLE();
	assert_int_equal(c->nrec, 0);		/* going idle hands over */
}

static void test_truncation_and_mismatch(void **state)
{
	struct loupe_thread_ctx *c = &loupe_tls_ctx;
	int i;

	(void)state;
	c->last_flush_ns = loupe_now_ns() + 1000000000ull;
	LOUPE_REQUEST_BEGIN(5, M, 1);
	for (i = 0; i < LOUPE_MAX_STAGES + 3; i++) {
		LOUPE_STAGE_BEGIN(S1);
		LOUPE_STAGE_END(S1);
	}
	LOUPE_STAGE_BEGIN(S1);
	LOUPE_STAGE_END(S2);		/* wrong name */
	LOUPE_STAGE_BEGIN(S2);		/* left open */
	LOUPE_REQUEST_END(5, 0);
	assert_int_equal(c->nrec, 1);
	assert_int_equal(c->recs[0].nstages, LOUPE_MAX_STAGES);
	assert_true(c->recs[0].flags & LOUPE_REC_F_TRUNCATED);
	assert_true(c->recs[0].flags & LOUPE_REC_F_UNBALANCED);
	assert_int_equal(c->depth, 0);
}

static void test_end_without_begin_is_ignored(void **state)
{
	struct loupe_thread_ctx *c = &loupe_tls_ctx;

	(void)state;
	/* A request that began before the profiler attached. */
	LOUPE_STAGE_END(S1);
	LOUPE_REQUEST_END(77, 0);
	assert_int_equal(c->nrec, 0);
	/* An end for another request id does not close this one. */
	c->last_flush_ns = loupe_now_ns() + 1000000000ull;
	LOUPE_REQUEST_BEGIN(1, M, 1);
	LOUPE_REQUEST_END(2, 0);
	assert_int_equal(c->nrec, 0);
	assert_int_equal(c->in_request, 1);
	LOUPE_REQUEST_END(1, 0);
	assert_int_equal(c->nrec, 1);
}

static void test_names_reshipped_each_epoch(void **state)
{
	struct loupe_thread_ctx *c = &loupe_tls_ctx;

	(void)state;
	c->last_flush_ns = loupe_now_ns() + 1000000000ull;
	loupe_registry.last_announce_ns = loupe_now_ns();
	LOUPE_REQUEST_BEGIN(1, M, 1);
	LOUPE_REQUEST_END(1, 0);
	assert_int_equal(c->nnames, 1);
	LOUPE_REQUEST_BEGIN(2, M, 1);
	LOUPE_REQUEST_END(2, 0);
	assert_int_equal(c->nnames, 1);	/* known in this epoch */
	/* A second later an announce starts a new epoch: ship again. */
	loupe_registry.last_announce_ns -= LOUPE_ANNOUNCE_NS;
	LOUPE_REQUEST_BEGIN(3, M, 1);
	LOUPE_REQUEST_END(3, 0);
	assert_int_equal(c->nnames, 2);
}

static void test_registry(void **state)
{
	(void)state;
	LOUPE_MODEL(M);
	LOUPE_MODEL("model_a");	/* same name, other pointer: once */
	LOUPE_CONFIG("workers", "4");
	LOUPE_CONFIG("workers", "8");
	LOUPE_CONFIG("batch", "64");
	assert_int_equal(loupe_registry.nmodels, 1);
	assert_int_equal(loupe_registry.nconfig, 2);
	assert_string_equal(loupe_registry.config[0].value, "8");
	assert_string_equal(loupe_registry.config[1].key, "batch");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unattached_records_nothing),
		cmocka_unit_test_setup_teardown(test_request_with_nested_stages, attach, detach),
		cmocka_unit_test_setup_teardown(test_batch_full_flushes, attach, detach),
		cmocka_unit_test_setup_teardown(test_time_flushes_and_idle, attach, detach),
		cmocka_unit_test_setup_teardown(test_truncation_and_mismatch, attach, detach),
		cmocka_unit_test_setup_teardown(test_end_without_begin_is_ignored, attach, detach),
		cmocka_unit_test_setup_teardown(test_names_reshipped_each_epoch, attach, detach),
		cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
