// SPDX-License-Identifier: MIT
/*
 * The live session's collector is a child `loupe record`: collection and
 * rendering are separate processes, so a slow terminal can never make the
 * collector drop events, and the child's trace is the same file `loupe
 * record` would write.  The TUI follows that file, and hands the child
 * lines for the trace (its actions) through a pipe, the child's
 * --control-fd.  If the TUI dies, the pipe's end of file stops the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "tui/tui.h"

static int log_path(const struct recorder *r, char *buf, size_t len)
{
	return snprintf(buf, len, "%s/record.log", r->dir) >= (int)len ? -ENAMETOOLONG : 0;
}

int recorder_start(struct recorder *r, pid_t pid, const char *out,
		   char *const *args, int nargs)
{
	const char *tmp = getenv("TMPDIR");
	char pidbuf[16], fdbuf[16], logp[4200];
	char **argv = NULL;
	int ctl[2] = { -1, -1 }, i, k = 0, err;

	memset(r, 0, sizeof(*r));
	r->ctl = -1;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(r->dir, sizeof(r->dir), "%s/loupe-top-XXXXXX", tmp);
	if (!mkdtemp(r->dir)) {
		err = -errno;
		r->dir[0] = 0;
		return err;
	}
	r->own_trace = !out;
	snprintf(r->trace, sizeof(r->trace), "%s", out ? out : r->dir);
	if (!out)
		strncat(r->trace, "/live.lpt", sizeof(r->trace) - strlen(r->trace) - 1);
	if (log_path(r, logp, sizeof(logp)))
		return -ENAMETOOLONG;
	argv = calloc(nargs + 12, sizeof(*argv));
	if (!argv || pipe2(ctl, O_CLOEXEC)) {
		err = argv ? -errno : -ENOMEM;
		free(argv);
		return err;
	}
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	snprintf(fdbuf, sizeof(fdbuf), "%d", ctl[0]);
	argv[k++] = "loupe";
	argv[k++] = "record";
	argv[k++] = "-p";
	argv[k++] = pidbuf;
	argv[k++] = "-o";
	argv[k++] = r->trace;
	argv[k++] = "--control-fd";
	argv[k++] = fdbuf;
	for (i = 0; i < nargs; i++)
		argv[k++] = args[i];
	argv[k] = NULL;

	r->pid = fork();
	if (r->pid < 0) {
		err = -errno;
		r->pid = 0;
		close(ctl[0]);
		close(ctl[1]);
		free(argv);
		return err;
	}
	if (r->pid == 0) {
		int null = open("/dev/null", O_RDWR);
		int log = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* Its own process group: Ctrl-C / Ctrl-Z at the terminal are
		 * the TUI's to handle; the TUI stops the recorder cleanly. */
		setpgid(0, 0);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		if (log >= 0)
			dup2(log, STDERR_FILENO);
		fcntl(ctl[0], F_SETFD, 0);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "loupe: top: start the recorder: %s\n", strerror(errno));
		_exit(127);
	}
	free(argv);
	close(ctl[0]);
	r->ctl = ctl[1];
	/* An action must never block the UI; the pipe holds 64 KiB. */
	fcntl(r->ctl, F_SETFL, O_NONBLOCK);
	return 0;
}

bool recorder_alive(struct recorder *r)
{
	if (!r->pid || r->exited)
		return false;
	if (waitpid(r->pid, &r->status, WNOHANG) == r->pid)
		r->exited = true;
	return !r->exited;
}

void recorder_action(struct recorder *r, const char *line)
{
	char buf[600];
	int n;
	char *p;

	if (r->ctl < 0)
		return;
	n = snprintf(buf, sizeof(buf), "@action=%s", line);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	/* One action is one line. */
	for (p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	buf[n] = '\n';
	/* A full pipe drops the line rather than stall the UI; a gone
	 * recorder is for recorder_alive() to tell. */
	if (write(r->ctl, buf, n + 1) < 0)
		return;
}

void recorder_stop(struct recorder *r, int timeout_ms)
{
	struct timespec ts = { 0, 20 * 1000000 };
	int waited = 0;

	if (r->pid && recorder_alive(r)) {
		kill(r->pid, SIGINT);
		while (waited < timeout_ms && recorder_alive(r)) {
			nanosleep(&ts, NULL);
			waited += 20;
		}
		if (recorder_alive(r)) {
			kill(r->pid, SIGKILL);
			if (waitpid(r->pid, &r->status, 0) == r->pid)
				r->exited = true;
		}
	}
	if (r->ctl >= 0)
		close(r->ctl);
	r->ctl = -1;
}

void recorder_print_log(const struct recorder *r, FILE *f)
{
	char path[4200], line[1024];
	FILE *in;

	if (!r->dir[0] || log_path(r, path, sizeof(path)))
		return;
	in = fopen(path, "re");
	if (!in)
		return;
	while (fgets(line, sizeof(line), in))
		if (!strncmp(line, "loupe:", 6))
			fputs(line, f);
	fclose(in);
}

void recorder_release(struct recorder *r)
{
	char path[4200];

	if (r->ctl >= 0)
		close(r->ctl);
	r->ctl = -1;
	if (!r->dir[0])
		return;
	if (!log_path(r, path, sizeof(path)))
		unlink(path);
	if (r->own_trace)
		unlink(r->trace);
	rmdir(r->dir);
	r->dir[0] = 0;
}
