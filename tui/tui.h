/* SPDX-License-Identifier: MIT */
/*
 * loupe top: the live TUI and trace replay.
 *
 * Data flows one way: a window stream (a trace being written by a child
 * `loupe record`, or a finished file) -> source.c feeds each window to the
 * analyzer and to model.c, which keeps the little history the screens draw
 * (sparklines, hot functions, allocation sites) -> screen_*.c render it.
 * Screens never read /proc, BPF maps or the file themselves (htop's
 * Platform_* seam), so unit tests can feed the model synthetic windows.
 * apply.c edits the workload's config file, sends SIGHUP and judges the
 * following windows; recorder.c owns the child recorder.
 *
 * Single-threaded: everything here is called from cmd_top's loop.
 */
#ifndef LOUPE_TUI_H
#define LOUPE_TUI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#include <loupe/trace.h>
#include "analyzer/analyze.h"
#include "analyzer/window.h"

/* ---- model.c: what the screens show, fed one window at a time ---- */

#define MODEL_HISTORY 240	/* windows kept for sparklines and verify */
#define MODEL_HOT_WINDOWS 10	/* windows summed for hot functions, sites */
#define MODEL_ACTIONS 8		/* @action lines kept */

/* One (model, stage) of one window.  cpu/blocked/runq: sampled time. */
struct snap_stage {
	__u32 model_id, stage_id;
	__u64 count, errors;	/* errors: request records with status != 0 */
	double mean_ns;
	__u64 p50_ns, p90_ns, p99_ns, max_ns;
	__u64 cpu_ns, blocked_ns, runq_ns;
};

/* What one window said, kept after the stream moved on. */
struct snap {
	__u64 index, start_ns, end_ns;
	__u64 requests, errors, dropped;
	struct snap_stage *st;
	size_t nst;
	bool have_counters;
	struct trace_counters ctr;
	bool have_heap;
	double heap_bytes;	/* sampled heap outstanding since the start */
	double heap_net;	/* of which allocated - freed in this window */
	bool have_rss, have_rss_delta;
	__u64 rss_bytes;
	double rss_delta;	/* since the previous window */
};

/* Self time of one function (leaf frame) in one (model, stage). */
struct hot_fn {
	__u32 model_id, stage_id, frame_id;
	__u64 value_ns;
};

/* An allocation site: the first frame past the allocator. */
struct alloc_site {
	__u32 frame_id;
	double outstanding;	/* bytes, alloc - freed since the start */
	double recent[MODEL_HOT_WINDOWS]; /* net bytes per window, a ring */
};

struct tui_model {
	const struct window_stream *ws;	/* names; set by model_feed */
	struct snap ring[MODEL_HISTORY];
	size_t n, head;			/* head: next slot to fill */
	__u32 *models;			/* model name ids, first-seen order */
	size_t nmodels, models_cap;
	struct {
		struct hot_fn *v;
		size_t n, cap;
	} hot[MODEL_HOT_WINDOWS];	/* per window, same ring position */
	struct alloc_site *sites;
	size_t nsites, sites_cap;
	/* The newest actions a front end logged into the trace (@action),
	 * a ring: what was applied, verified, rolled back, and when. */
	struct {
		__u64 window;
		char text[200];
	} actions[MODEL_ACTIONS];
	size_t nactions;		/* logged in all */
	__u64 windows;			/* windows fed */
	double heap_acc;
	bool any_heap;
};

void model_init(struct tui_model *m);
void model_release(struct tui_model *m);
/* Keeps what the screens need of W.  Returns 0 or -ENOMEM. */
int model_feed(struct tui_model *m, const struct window_stream *ws,
	       const struct window *w);
/* The BACK-th newest window (0: newest), or NULL. */
const struct snap *model_snap(const struct tui_model *m, size_t back);
/* The (MODEL, STAGE) entry of S, or NULL. */
const struct snap_stage *snap_stage(const struct snap *s, __u32 model,
				    __u32 stage);
/* Window length in seconds (1 when unknown). */
double snap_seconds(const struct snap *s);
/* Hot functions of (MODEL, STAGE) over the last MODEL_HOT_WINDOWS windows,
 * most time first, into OUT (up to N); STAGE "request": all of the model's
 * samples (samples carry the stage they ran in, never "request").
 * Returns how many. */
size_t model_hot(const struct tui_model *m, __u32 model, __u32 stage,
		 struct hot_fn *out, size_t n);
/* Name id of "request" (the whole request), or TRACE_NO_ID. */
__u32 model_request_id(const struct tui_model *m);
/* The BACK-th newest action (0: newest) and its window, or NULL. */
const char *model_action(const struct tui_model *m, size_t back, __u64 *window);
/* "function" of frame ID, or "[unknown]". */
const char *model_frame_name(const struct tui_model *m, __u32 frame_id);
/* " file:line" or " [kernel]" of frame ID into BUF ("" when unknown). */
const char *model_frame_where(const struct tui_model *m, __u32 frame_id,
			      char *buf, size_t len);

/* ---- metric.c: the numbers verify compares, from a snap ---- */

/* Value of METRIC ("p99_ns", "runq_share", ...) of MODEL/STAGE ("" for
 * the whole process / request) in S.  Returns false when S has no data
 * for it (e.g. no requests of the model in the window). */
bool metric_value(const struct tui_model *m, const struct snap *s,
		  const char *metric, const char *model, const char *stage,
		  double *v);
bool metric_known(const char *metric);
/* True when a larger value is better (throughput). */
bool metric_higher_is_better(const char *metric);
/* "12.3ms", "41.0%", "1.20 MiB": formatted for the metric's unit. */
char *metric_format(const char *metric, double v, char *buf, size_t len);

/* ---- sparkline.c ---- */

enum spark_scale {
	SPARK_ZERO,	/* 0 .. the largest value: rates, latencies */
	SPARK_RANGE,	/* the smallest .. the largest: gauges (RSS) */
};

/*
 * Renders N values as N cells into BUF (NUL-terminated, at most LEN bytes):
 * block characters U+2581..U+2588 when UTF8, else "_.-=#".  A negative
 * value (no data) is a blank; a flat series is all lowest cells.  Returns
 * the number of cells written (fewer when LEN is short).
 */
size_t sparkline(char *buf, size_t len, const double *v, size_t n,
		 enum spark_scale scale, bool utf8);

/* ---- config_edit.c: the one change apply makes to a config file ---- */

/*
 * Sets KEY to VALUE in the `key = value` text IN (LEN bytes): every line
 * assigning KEY gets VALUE in place of its old value, keeping indentation,
 * spacing and trailing comments; other bytes are kept as they are.  When no
 * line sets KEY, "KEY = VALUE\n" is appended.  *OUT is malloc'ed (caller
 * frees).  Returns the number of lines changed (0: appended) or -errno
 * (-EINVAL: KEY or VALUE not fit for such a file).
 */
int config_text_set(const char *in, size_t len, const char *key,
		    const char *value, char **out, size_t *outlen);
/* Reads PATH whole.  Returns 0 or -errno; *BUF malloc'ed, NUL-terminated. */
int config_file_read(const char *path, char **buf, size_t *len);
/* Replaces PATH's content by BUF via a temporary file in the same folder
 * and rename(2), keeping mode and owner.  Returns 0 or -errno. */
int config_file_write(const char *path, const char *buf, size_t len);

/* ---- apply.c: apply a proposed fix, then verify it ---- */

enum apply_state {
	AP_IDLE,
	AP_CONFIRM,		/* waiting for y/n */
	AP_WAIT_RELOAD,		/* SIGHUP sent, waiting for the re-announce */
	AP_MEASURE,		/* collecting windows after the reload */
	AP_DONE,		/* outcome known */
};

enum apply_outcome { OUT_NONE, OUT_IMPROVED, OUT_NO_CHANGE, OUT_WORSE, OUT_FAILED };

#define APPLY_BEFORE 5		/* windows before the apply, median */
#define APPLY_MIN_BEFORE 3
#define APPLY_AFTER 5		/* full windows after the reload, median */
#define APPLY_RELOAD_TIMEOUT 10	/* windows to wait for the re-announce */
#define APPLY_THRESHOLD 0.10	/* relative change that counts */

/* Writes one action line into the trace (recorder.c); may be NULL. */
typedef void (*apply_log_fn)(void *arg, const char *line);

struct apply {
	enum apply_state state;
	enum apply_outcome outcome;
	bool is_rollback;	/* this cycle verifies a rollback */
	struct fix fix;
	char metric[32], model[48], stage[48];
	char title[120];
	char path[4096];
	pid_t pid;
	char *orig;		/* the file before the apply, for rollback */
	size_t orig_len;
	char *wrote;		/* what apply wrote */
	size_t wrote_len;
	__u64 applied_at;	/* windows fed when applied */
	__u64 reload_index;	/* window that carried the re-announce */
	double before, after;
	double vals[APPLY_AFTER];
	size_t nvals;
	char msg[240];		/* the latest outcome / error, one line */
	apply_log_fn log;
	void *log_arg;
};

void apply_init(struct apply *ap, apply_log_fn log, void *arg);
void apply_release(struct apply *ap);
/*
 * Checks that fix FIX of finding F can be applied to the config file PATH
 * of process PID, and enters AP_CONFIRM.  Returns 0, or -errno with ap->msg
 * saying why not (a code change, a '@' key, no config file, ...).
 */
int apply_prepare(struct apply *ap, const struct finding *f, size_t fix,
		  const char *path, pid_t pid);
/* y: writes the file, SIGHUP, takes the baseline from M.  Returns 0 or
 * -errno (ap->msg says what failed; the state goes back to idle). */
int apply_confirm(struct apply *ap, const struct tui_model *m);
void apply_cancel(struct apply *ap);
/* After every window fed (S is the newest snap, W the window). */
void apply_on_window(struct apply *ap, const struct tui_model *m,
		     const struct window *w);
/* Restores the file as it was before the apply, SIGHUP, and verifies
 * again.  Returns 0 or -errno (ap->msg). */
int apply_rollback(struct apply *ap, const struct tui_model *m);
/* A rollback is on offer: the applied fix made things worse or failed. */
bool apply_can_rollback(const struct apply *ap);
/* "improved", "no change", "worse", "failed". */
const char *apply_outcome_name(enum apply_outcome o);

/* ---- recorder.c: the child `loupe record` of a live session ---- */

struct recorder {
	pid_t pid;		/* child, 0 when none */
	int ctl;		/* write end of its --control-fd pipe */
	bool exited;
	int status;		/* wait status once exited */
	char dir[4096];		/* private temp folder: stderr log, temp trace */
	char trace[4096];	/* the trace it writes */
	bool own_trace;		/* no -o: remove the trace at the end */
};

/* Starts `loupe record -p PID -o OUT --control-fd N ARGS...` from
 * /proc/self/exe; OUT NULL: a temp file.  Returns 0 or -errno. */
int recorder_start(struct recorder *r, pid_t pid, const char *out,
		   char *const *args, int nargs);
/* Reaps the child if it exited.  Returns true while it runs. */
bool recorder_alive(struct recorder *r);
/* Sends "@action=LINE" to be written into the trace. */
void recorder_action(struct recorder *r, const char *line);
/* SIGINT, wait up to TIMEOUT_MS (it writes its END chunk), then SIGKILL. */
void recorder_stop(struct recorder *r, int timeout_ms);
/* Copies the recorder's stderr lines matching "loupe:" to F. */
void recorder_print_log(const struct recorder *r, FILE *f);
/* Removes the temp folder (and the trace when it was a temp file). */
void recorder_release(struct recorder *r);

/* ---- source.c: windows in, analyzer and model fed ---- */

struct source {
	char path[4096];
	bool live;
	struct window_stream *ws;
	struct analyzer *an;
	struct analyzer_opts ao;
	struct tui_model model;
	__u64 fed;		/* windows fed since (re)open */
	bool ended;		/* the stream ended (END or end of a file) */
	int err;		/* a read error, negative errno */
	void (*on_window)(void *arg, const struct window *w);
	void *arg;
	/* The findings as of the last source_update_findings(), a copy:
	 * the analyzer's own array lives only until its next feed. */
	struct finding *found;
	size_t nfound, found_cap;
	bool found_stale;	/* windows fed since */
	__u64 found_at_ns, found_cost_ns;
};

/* Opens PATH (live: follow it).  Returns 0 or -errno; for the analyzer's
 * errors ERR holds its message. */
int source_open(struct source *s, const char *path, bool live,
		const struct analyzer_opts *ao, char *err, size_t errlen);
void source_close(struct source *s);
/* Feeds up to MAX windows (0: all there are).  Returns how many, or a
 * negative errno (-EAGAIN never: live streams just return 0). */
int source_step(struct source *s, size_t max);
/* Replay: re-opens and feeds windows until TARGET were fed (seek back). */
int source_seek(struct source *s, __u64 target);
/*
 * Recomputes the findings when windows were fed since, and (unless FORCE)
 * when enough time passed: analyzer_findings() judges the whole history,
 * so its cost grows with the session; spacing the calls to at least 100x
 * their cost keeps them under 1 % of a core however long top runs.
 */
void source_update_findings(struct source *s, bool force);
/* The cached findings, most severe first. */
size_t source_findings(struct source *s, const struct finding **v);

/* ---- term.c: the terminal, set up and always restored ---- */

enum term_role {
	R_NORMAL, R_TITLE, R_TAB, R_TAB_ON, R_HEADER, R_SELECTED,
	R_CRIT, R_WARN, R_INFO, R_GOOD, R_DIM, R_SPARK, R_STATUS, R_DIALOG,
	R_N
};

int term_init(void);
/* Idempotent; safe from atexit and fatal-signal handlers. */
void term_end(void);
bool term_active(void);
bool term_utf8(void);
bool term_color(void);
int term_attr(enum term_role r);
/* Draws at most N columns of S at (Y, X) with role R (clips, no wrap). */
void term_put(int y, int x, int n, enum term_role r, const char *s);
void term_printf(int y, int x, int n, enum term_role r, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Fills row Y from X to the right edge with blanks in role R. */
void term_fill(int y, int x, enum term_role r);
/* "→" on UTF-8 terminals, else "->". */
const char *term_arrow(void);

/* ---- the session (cmd_top.c), the UI (ui.c, keys.c, screen_*.c) ---- */

enum tui_screen { SCR_OVERVIEW, SCR_STAGES, SCR_MEMORY, SCR_FINDINGS, SCR_N };

struct top_env {
	pid_t pid;		/* live: the target */
	const char *output;	/* live: -o FILE */
	const char *file;	/* replay: the trace */
	double refresh_s;
	bool auto_rollback;
	struct analyzer_opts ao;
	char *rec_args[40];	/* record flags passed through */
	int nrec_args;
};

struct ui {
	enum tui_screen screen;
	int sel[SCR_N];		/* selected row per screen */
	int scroll[SCR_N];	/* first row shown */
	int nrows[SCR_N];	/* rows listed by the last draw */
	int sort[SCR_N];
	char filter[48];
	bool editing;		/* typing into the filter */
	bool help;
	bool detail;		/* findings: the selected one in full */
	struct finding shown;	/* the finding the detail view shows */
	int fix_sel;
	char msg[240];		/* status line, until the next key */
	/* Selected (model, stage) of the stages screen, and the selected
	 * model of the overview, from the last draw. */
	__u32 sel_model, sel_stage;
	char ov_model[48];
	/* The selected finding by identity: findings come and go with each
	 * window, and the cursor should stay on the one it was on. */
	struct {
		bool set;
		enum finding_kind kind;
		char model[48], stage[48];
	} fsel;
};

struct top {
	struct top_env env;
	bool live;
	struct source src;
	bool src_open;
	struct recorder rec;
	bool rec_ended;		/* the recorder exited (target gone, error) */
	struct apply ap;
	struct ui ui;
	bool playing;		/* replay */
	double speed;		/* replay: windows per second */
	double cpu_pct;		/* our own CPU, % of one core */
	bool quit;
};

/* Redraw flags actions return. */
#define K_REDRAW 1
#define K_QUIT 2

/* One frame: erase, draw everything, one doupdate (no flicker). */
void ui_draw(struct top *t);
/* Applies key CH; returns K_* flags. */
int keys_handle(struct top *t, int ch);
/* The keys of a live session or a replay, as help lines. */
size_t keys_help(bool live, const char *const **names, const char *const **helps);

/* Screens draw rows [Y, Y + H) and set t->ui.nrows[their screen]. */
void screen_overview(struct top *t, int y, int h);
void screen_stages(struct top *t, int y, int h);
void screen_memory(struct top *t, int y, int h);
void screen_findings(struct top *t, int y, int h);
/* The finding the cursor (or the detail view) is on, or NULL. */
const struct finding *screen_findings_selected(struct top *t);
/* Keeps the cursor on F (NULL: forget) while the list changes. */
void screen_findings_remember(struct top *t, const struct finding *f);

/* How many orders 's' cycles through on screen S. */
int ui_nsorts(enum tui_screen s);
/* Does NAME pass the '/' filter (a substring, case-insensitive)? */
bool ui_match(const struct top *t, const char *name);
/* Sets the status line message (clipped to fit). */
void ui_msg(struct top *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Draws ap->msg with a role for its outcome at row Y, if any. */
void ui_apply_line(struct top *t, int y);
/* The severity tag and role. */
const char *ui_sev(enum severity s);
enum term_role ui_sev_role(enum severity s);

#endif
