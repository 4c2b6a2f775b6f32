/* SPDX-License-Identifier: MIT */
/*
 * `loupe record --control-fd N`: lines "key=value" that a front end (loupe
 * top) writes to fd N are recorded into the trace as config records, so the
 * trace says what was done to the target while it was recorded.  Only keys
 * in loupe's own namespace ('@', e.g. "@action") are taken: a front end
 * cannot forge the workload's config.  End of file on N means the front end
 * is gone.  Single-threaded, like the collector.
 */
#ifndef LOUPE_CONTROL_H
#define LOUPE_CONTROL_H

#include <stddef.h>

#include "collector/collector.h"

struct control {
	int fd;			/* -1: none */
	char buf[1024];		/* a partial line */
	size_t len;
};

/* Takes FD (made non-blocking).  Returns 0 or -EBADF when FD is not open. */
int control_open(struct control *ctl, int fd);
/* Reads what is there and records each whole line.  Returns 0, 1 at end of
 * file (the writer closed it; the fd is closed), or -errno of a trace
 * write.  Malformed lines are skipped with a warning. */
int control_poll(struct control *ctl, struct collector *c);
void control_close(struct control *ctl);

#endif
