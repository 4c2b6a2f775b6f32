// SPDX-License-Identifier: MIT
/*
 * Windows in: reads a window stream (following a live file, or a finished
 * one), feeds each window to the analyzer and the TUI model.  Replay seeks
 * back by re-opening and fast-forwarding, because the analyzer's state is
 * a function of every window from the first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer/array.h"

#include "tui/tui.h"

static int open_stream(struct source *s, char *err, size_t errlen)
{
	s->ws = window_stream_open(s->path);
	if (!s->ws)
		return -errno;
	window_stream_follow(s->ws, s->live);
	s->an = analyzer_new(&s->ao, err, errlen);
	if (!s->an) {
		int e = -errno;

		window_stream_close(s->ws);
		s->ws = NULL;
		return e ? e : -EINVAL;
	}
	model_init(&s->model);
	s->fed = 0;
	s->ended = false;
	s->err = 0;
	s->nfound = 0;
	s->found_stale = false;
	return 0;
}

int source_open(struct source *s, const char *path, bool live,
		const struct analyzer_opts *ao, char *err, size_t errlen)
{
	void (*cb)(void *, const struct window *) = s->on_window;
	void *arg = s->arg;

	memset(s, 0, sizeof(*s));
	s->on_window = cb;
	s->arg = arg;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->live = live;
	if (ao)
		s->ao = *ao;
	if (err && errlen)
		err[0] = 0;
	return open_stream(s, err, errlen);
}

void source_close(struct source *s)
{
	free(s->found);
	s->found = NULL;
	s->nfound = s->found_cap = 0;
	analyzer_free(s->an);
	window_stream_close(s->ws);
	model_release(&s->model);
	s->an = NULL;
	s->ws = NULL;
}

int source_step(struct source *s, size_t max)
{
	const struct window *w;
	size_t n = 0;
	int rc;

	if (!s->ws || s->ended)
		return 0;
	while (!max || n < max) {
		rc = window_stream_next(s->ws, &w);
		if (rc == -EAGAIN)
			break;
		if (rc == 0) {
			s->ended = true;
			break;
		}
		if (rc < 0) {
			s->err = rc;
			s->ended = true;
			return n ? (int)n : rc;
		}
		rc = model_feed(&s->model, s->ws, w);
		if (!rc)
			rc = analyzer_feed(s->an, s->ws, w);
		if (rc) {
			s->err = rc;
			return rc;
		}
		s->fed++;
		s->found_stale = true;
		n++;
		if (s->on_window)
			s->on_window(s->arg, w);
	}
	return (int)n;
}

int source_seek(struct source *s, __u64 target)
{
	char err[160];
	int rc;

	if (target < s->fed) {
		/* Callbacks (verify) are about the live past: not replayed. */
		void (*cb)(void *, const struct window *) = s->on_window;

		source_close(s);
		rc = open_stream(s, err, sizeof(err));
		if (rc)
			return rc;
		s->on_window = NULL;
		while (s->fed < target && !s->ended) {
			rc = source_step(s, target - s->fed);
			if (rc <= 0)
				break;
		}
		s->on_window = cb;
		return s->err;
	}
	rc = source_step(s, target - s->fed);
	return rc < 0 ? rc : 0;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

void source_update_findings(struct source *s, bool force)
{
	const struct finding *v;
	__u64 now = mono_ns();
	size_t n;

	if (!s->an || !s->found_stale)
		return;
	if (!force && now - s->found_at_ns < 100 * s->found_cost_ns)
		return;
	n = analyzer_findings(s->an, &v);
	if (array_grow((void **)&s->found, &s->found_cap, n, sizeof(*v)))
		return;		/* keep the old ones; try again next time */
	if (n)
		memcpy(s->found, v, n * sizeof(*v));
	s->nfound = n;
	s->found_stale = false;
	s->found_at_ns = mono_ns();
	s->found_cost_ns = s->found_at_ns - now;
}

size_t source_findings(struct source *s, const struct finding **v)
{
	*v = s->found;
	return s->nfound;
}
