// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "collector/control.h"
#include "log.h"

int control_open(struct control *ctl, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	ctl->fd = -1;
	ctl->len = 0;
	if (fl < 0)
		return -EBADF;
	/* The poll loop must never wait on a front end. */
	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK))
		return -errno;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	ctl->fd = fd;
	return 0;
}

static int take_line(char *line, struct collector *c)
{
	char *eq = strchr(line, '=');

	if (!eq || line[0] != '@' || eq == line + 1) {
		pr_warn("record: --control-fd: ignored '%.60s' (want @key=value)", line);
		return 0;
	}
	*eq = 0;
	return collector_note(c, line, eq + 1);
}

int control_poll(struct control *ctl, struct collector *c)
{
	char *nl;
	ssize_t n;
	int err;

	while (ctl->fd >= 0) {
		n = read(ctl->fd, ctl->buf + ctl->len, sizeof(ctl->buf) - 1 - ctl->len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0) {
			control_close(ctl);
			return 1;
		}
		ctl->len += n;
		ctl->buf[ctl->len] = 0;
		while ((nl = memchr(ctl->buf, '\n', ctl->len))) {
			*nl = 0;
			err = take_line(ctl->buf, c);
			ctl->len -= nl + 1 - ctl->buf;
			memmove(ctl->buf, nl + 1, ctl->len);
			if (err)
				return err;
		}
		/* A line longer than the buffer: record its start. */
		if (ctl->len == sizeof(ctl->buf) - 1) {
			err = take_line(ctl->buf, c);
			ctl->len = 0;
			if (err)
				return err;
		}
	}
	return 0;
}

void control_close(struct control *ctl)
{
	if (ctl->fd >= 0)
		close(ctl->fd);
	ctl->fd = -1;
	ctl->len = 0;
}
