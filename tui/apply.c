// SPDX-License-Identifier: MIT
/*
 * Apply a proposed config fix and verify it: write the one key into the
 * config file the workload announced, SIGHUP it, wait until the workload
 * re-announces the key with the new value (so we measure the new config,
 * not the reload), then compare the finding's metric over the windows
 * before and after.  Each step is logged into the trace.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tui/tui.h"

void apply_init(struct apply *ap, apply_log_fn log, void *arg)
{
	memset(ap, 0, sizeof(*ap));
	ap->log = log;
	ap->log_arg = arg;
}

void apply_release(struct apply *ap)
{
	free(ap->orig);
	free(ap->wrote);
	ap->orig = ap->wrote = NULL;
}

const char *apply_outcome_name(enum apply_outcome o)
{
	switch (o) {
	case OUT_IMPROVED: return "improved";
	case OUT_NO_CHANGE: return "no change";
	case OUT_WORSE: return "worse";
	case OUT_FAILED: return "failed";
	default: return "";
	}
}

/* The one-line status; truncation is fine (it is clipped on screen). */
static void set_msg(struct apply *ap, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_msg(struct apply *ap, const char *fmt, ...)
{
	va_list va;

	va_start(va, fmt);
	vsnprintf(ap->msg, sizeof(ap->msg), fmt, va);
	va_end(va);
}

static void logf_action(struct apply *ap, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void logf_action(struct apply *ap, const char *fmt, ...)
{
	char line[512];
	va_list va;

	va_start(va, fmt);
	vsnprintf(line, sizeof(line), fmt, va);
	va_end(va);
	if (ap->log)
		ap->log(ap->log_arg, line);
}

/* "p99 ctr_small", "runq_share ctr_small/embedding": what verify measures. */
static const char *metric_label(const struct apply *ap, char *buf, size_t len)
{
	size_t l = strlen(ap->metric);
	bool stage = ap->stage[0] && strcmp(ap->stage, "request");

	snprintf(buf, len, "%.*s%s%s%s%s",
		 (int)(l > 3 && !strcmp(ap->metric + l - 3, "_ns") ? l - 3 : l),
		 ap->metric, ap->model[0] || stage ? " " : "", ap->model,
		 stage ? "/" : "", stage ? ap->stage : "");
	return buf;
}

int apply_prepare(struct apply *ap, const struct finding *f, size_t fix,
		  const char *path, pid_t pid)
{
	const struct fix *x;
	struct stat st;

	if (ap->state == AP_WAIT_RELOAD || ap->state == AP_MEASURE) {
		set_msg(ap, "a fix is being verified; wait for its outcome");
		return -EBUSY;
	}
	if (fix >= f->nfixes) {
		set_msg(ap, "this finding proposes no fix");
		return -ENOENT;
	}
	x = &f->fixes[fix];
	if (!x->key[0]) {
		set_msg(ap, "a code change, not a config key: see the evidence");
		return -EINVAL;
	}
	if (x->key[0] == '@') {
		set_msg(ap, "%s is not in the config file: change it by hand", x->key);
		return -EINVAL;
	}
	if (pid <= 0) {
		set_msg(ap, "apply needs a live session (loupe top -p PID)");
		return -EINVAL;
	}
	if (!path || path[0] != '/') {
		set_msg(ap, "the workload announced no config_file: change %s by hand",
			 x->key);
		return -ENOENT;
	}
	if (stat(path, &st) || !S_ISREG(st.st_mode)) {
		set_msg(ap, "config file %s: %s", path,
			 errno ? strerror(errno) : "not a regular file");
		return -ENOENT;
	}
	ap->fix = *x;
	ap->is_rollback = false;
	snprintf(ap->path, sizeof(ap->path), "%s", path);
	snprintf(ap->title, sizeof(ap->title), "%s", f->title);
	snprintf(ap->model, sizeof(ap->model), "%s", f->model);
	snprintf(ap->stage, sizeof(ap->stage), "%s", f->stage);
	/* A metric verify cannot read from windows: judge the request p99
	 * of the model, the latency users feel, and say so. */
	if (metric_known(f->metric)) {
		snprintf(ap->metric, sizeof(ap->metric), "%s", f->metric);
	} else {
		snprintf(ap->metric, sizeof(ap->metric), "p99_ns");
		ap->stage[0] = 0;
	}
	ap->pid = pid;
	ap->outcome = OUT_NONE;
	ap->msg[0] = 0;
	ap->state = AP_CONFIRM;
	return 0;
}

void apply_cancel(struct apply *ap)
{
	if (ap->state == AP_CONFIRM)
		ap->state = ap->outcome != OUT_NONE ? AP_DONE : AP_IDLE;
	set_msg(ap, "apply cancelled");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Writes BUF to the file and SIGHUPs the workload; when the signal cannot
 * be sent, puts UNDO back so the file says what the workload runs. */
static int write_and_signal(struct apply *ap, const char *buf, size_t len,
			    const char *undo, size_t undo_len)
{
	int err = config_file_write(ap->path, buf, len);

	if (err) {
		set_msg(ap, "write %s: %s", ap->path,
			 strerror(-err));
		return err;
	}
	if (kill(ap->pid, SIGHUP)) {
		err = -errno;
		set_msg(ap, "SIGHUP pid %d: %s",
			 (int)ap->pid, strerror(errno));
		config_file_write(ap->path, undo, undo_len);
		return err;
	}
	return 0;
}

int apply_confirm(struct apply *ap, const struct tui_model *m)
{
	double v[APPLY_BEFORE];
	char *orig = NULL, *out = NULL, label[160];
	size_t n = 0, back, olen, outlen;
	int err;

	if (ap->state != AP_CONFIRM)
		return -EINVAL;
	/* The baseline: the newest windows that have the metric. */
	for (back = 0; n < APPLY_BEFORE && back < 2 * APPLY_BEFORE; back++) {
		const struct snap *s = model_snap(m, back);

		if (!s)
			break;
		if (metric_value(m, s, ap->metric, ap->model, ap->stage, &v[n]))
			n++;
	}
	if (n < APPLY_MIN_BEFORE) {
		set_msg(ap, "need %d windows with %s before applying (have %zu)",
			 APPLY_MIN_BEFORE, metric_label(ap, label, sizeof(label)), n);
		ap->state = AP_IDLE;
		return -EAGAIN;
	}
	ap->before = median(v, n);
	err = config_file_read(ap->path, &orig, &olen);
	if (err) {
		set_msg(ap, "read %s: %s", ap->path,
			 strerror(-err));
		goto fail;
	}
	err = config_text_set(orig, olen, ap->fix.key, ap->fix.to, &out, &outlen);
	if (err < 0) {
		set_msg(ap, "%s = '%s' cannot be written to %s",
			 ap->fix.key, ap->fix.to, ap->path);
		goto fail;
	}
	err = write_and_signal(ap, out, outlen, orig, olen);
	if (err)
		goto fail;
	apply_release(ap);
	ap->orig = orig;
	ap->orig_len = olen;
	ap->wrote = out;
	ap->wrote_len = outlen;
	ap->applied_at = m->windows;
	ap->nvals = 0;
	ap->outcome = OUT_NONE;
	ap->state = AP_WAIT_RELOAD;
	set_msg(ap, "applied %s: %s -> %s, SIGHUP sent; waiting for the reload",
		 ap->fix.key, ap->fix.from, ap->fix.to);
	logf_action(ap, "apply %s: %s -> %s in %s (rule %s) at window %llu",
		    ap->fix.key, ap->fix.from, ap->fix.to, ap->path,
		    ap->fix.rule[0] ? ap->fix.rule : "-",
		    (unsigned long long)m->windows);
	return 0;
fail:
	logf_action(ap, "apply-failed %s: %s -> %s: %s", ap->fix.key,
		    ap->fix.from, ap->fix.to, ap->msg);
	free(orig);
	free(out);
	ap->state = AP_IDLE;
	return err < 0 ? err : -EIO;
}

static void judge(struct apply *ap, const struct tui_model *m)
{
	char label[160], b[32], a[32];
	double rel;
	bool higher = metric_higher_is_better(ap->metric);

	ap->after = median(ap->vals, ap->nvals);
	if (ap->before > 0)
		rel = (ap->after - ap->before) / ap->before;
	else
		rel = ap->after > 0 ? 1 : 0;
	if (higher)
		rel = -rel;
	ap->outcome = rel <= -APPLY_THRESHOLD ? OUT_IMPROVED :
		      rel >= APPLY_THRESHOLD ? OUT_WORSE : OUT_NO_CHANGE;
	metric_label(ap, label, sizeof(label));
	metric_format(ap->metric, ap->before, b, sizeof(b));
	metric_format(ap->metric, ap->after, a, sizeof(a));
	set_msg(ap, "verify %s=%s: %s %s -> %s (%+.0f%%): %s%s", ap->fix.key,
		 ap->fix.to, label, b, a,
		 ap->before > 0 ? (ap->after - ap->before) * 100 / ap->before : 0.0,
		 apply_outcome_name(ap->outcome),
		 ap->outcome == OUT_WORSE ? " - press r to roll back" : "");
	logf_action(ap, "verify %s %s -> %s %s (%s: %s -> %s, median of %d windows before and %zu after, at window %llu)",
		    label, b, a, apply_outcome_name(ap->outcome), ap->fix.key,
		    ap->fix.from, ap->fix.to, APPLY_BEFORE, ap->nvals,
		    (unsigned long long)m->windows);
	ap->state = AP_DONE;
}

void apply_on_window(struct apply *ap, const struct tui_model *m,
		     const struct window *w)
{
	size_t i;
	double v;

	if (ap->state == AP_WAIT_RELOAD) {
		for (i = 0; i < w->nconfig_changes; i++) {
			const struct trace_config *c = &w->config_changes[i];
			bool to = !strcmp(c->value, ap->fix.to);

			if (strcmp(c->key, ap->fix.key))
				continue;
			/* A rollback restores the old file, whose value may be
			 * a default nobody wrote down: any other value counts. */
			if (ap->is_rollback ? !to : to) {
				ap->reload_index = w->index;
				ap->state = AP_MEASURE;
				ap->nvals = 0;
				break;
			}
		}
		if (ap->state == AP_MEASURE && ap->is_rollback) {
			set_msg(ap, "rolled back %s to %s: the workload reloaded it",
				 ap->fix.key, window_stream_config(m->ws, ap->fix.key));
			logf_action(ap, "rollback-reloaded %s=%s at window %llu",
				    ap->fix.key,
				    window_stream_config(m->ws, ap->fix.key),
				    (unsigned long long)m->windows);
			ap->state = AP_DONE;
			return;
		}
		if (ap->state == AP_WAIT_RELOAD &&
		    m->windows - ap->applied_at > APPLY_RELOAD_TIMEOUT) {
			ap->outcome = OUT_FAILED;
			ap->state = AP_DONE;
			set_msg(ap, "%s=%s not re-announced within %d windows: the reload failed?%s",
				 ap->fix.key, ap->is_rollback ? ap->fix.from : ap->fix.to,
				 APPLY_RELOAD_TIMEOUT,
				 ap->is_rollback ? "" : " - press r to roll back");
			logf_action(ap, "verify %s %s: not re-announced within %d windows",
				    ap->is_rollback ? "rollback" : "apply",
				    ap->fix.key, APPLY_RELOAD_TIMEOUT);
		}
		return;
	}
	if (ap->state != AP_MEASURE || w->index <= ap->reload_index)
		return;
	/* Only whole windows after the one the reload happened in. */
	if (metric_value(m, model_snap(m, 0), ap->metric, ap->model, ap->stage, &v))
		ap->vals[ap->nvals++] = v;
	if (ap->nvals == APPLY_AFTER)
		judge(ap, m);
}

bool apply_can_rollback(const struct apply *ap)
{
	return ap->state == AP_DONE && !ap->is_rollback && ap->orig &&
	       (ap->outcome == OUT_WORSE || ap->outcome == OUT_FAILED ||
		ap->outcome == OUT_NO_CHANGE);
}

int apply_rollback(struct apply *ap, const struct tui_model *m)
{
	char *cur = NULL, *out = NULL;
	size_t clen, olen;
	int err;

	if (ap->state != AP_DONE || ap->is_rollback || !ap->orig) {
		set_msg(ap, "nothing to roll back");
		return -EINVAL;
	}
	err = config_file_read(ap->path, &cur, &clen);
	if (err) {
		set_msg(ap, "read %s: %s", ap->path,
			 strerror(-err));
		return err;
	}
	/* Untouched since the apply: restore it byte for byte.  Edited by
	 * someone since: only put the old value back, keep their edit. */
	if (clen == ap->wrote_len && !memcmp(cur, ap->wrote, clen)) {
		err = write_and_signal(ap, ap->orig, ap->orig_len, cur, clen);
	} else if (strcmp(ap->fix.from, "(unset)")) {
		err = config_text_set(cur, clen, ap->fix.key, ap->fix.from, &out, &olen);
		if (err >= 0)
			err = write_and_signal(ap, out, olen, cur, clen);
		else
			set_msg(ap, "cannot set %s back to '%s'",
				 ap->fix.key, ap->fix.from);
		free(out);
	} else {
		set_msg(ap, "%s changed since the apply: remove %s by hand", ap->path,
			 ap->fix.key);
		err = -EBUSY;
	}
	free(cur);
	if (err < 0) {
		logf_action(ap, "rollback-failed %s: %s", ap->fix.key, ap->msg);
		return err;
	}
	logf_action(ap, "rollback %s: %s -> %s in %s (after %s) at window %llu",
		    ap->fix.key, ap->fix.to, ap->fix.from, ap->path,
		    apply_outcome_name(ap->outcome), (unsigned long long)m->windows);
	set_msg(ap, "rolling back %s: %s -> %s, SIGHUP sent; waiting for the reload",
		 ap->fix.key, ap->fix.to, ap->fix.from);
	ap->is_rollback = true;
	ap->applied_at = m->windows;
	ap->state = AP_WAIT_RELOAD;
	return 0;
}
