// SPDX-License-Identifier: MIT
/*
 * The one edit `loupe top` makes to a workload's config file: set one key.
 * The syntax is the common `key = value  # comment` (the sample ranker's):
 * '#' starts a comment anywhere, blanks around key and value do not count.
 * Everything but the value of that key is kept byte for byte, so the diff an
 * operator sees later is exactly the change that was confirmed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "tui/tui.h"

static bool key_ok(const char *k)
{
	const char *p;

	/* Keys starting with '@' are loupe's own (environment, machine),
	 * never a file's. */
	if (!*k || *k == '@')
		return false;
	for (p = k; *p; p++)
		if (!(*p == '_' || *p == '.' || *p == '-' ||
		      (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z')))
			return false;
	return true;
}

static bool value_ok(const char *v)
{
	size_t n = strlen(v);

	/* A '#' would start a comment, a newline a new line; blanks at the
	 * ends would be trimmed away by the reader anyway. */
	return n && !strpbrk(v, "#\n\r") && v[0] != ' ' && v[0] != '\t' &&
	       v[n - 1] != ' ' && v[n - 1] != '\t';
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * If the line [S, E) assigns KEY, sets *VS and *VE to its value's extent
 * and *EQ to the '='.  E excludes the newline.
 */
static bool line_sets(const char *s, const char *e, const char *key,
		      const char **eq, const char **vs, const char **ve)
{
	const char *hash = memchr(s, '#', e - s);
	const char *end = hash ? hash : e;
	const char *ks, *ke, *p;
	size_t kl = strlen(key);

	p = memchr(s, '=', end - s);
	if (!p)
		return false;
	for (ks = s; ks < p && blank(*ks); ks++)
		;
	for (ke = p; ke > ks && blank(ke[-1]); ke--)
		;
	if ((size_t)(ke - ks) != kl || memcmp(ks, key, kl))
		return false;
	*eq = p;
	for (*vs = p + 1; *vs < end && blank(**vs); (*vs)++)
		;
	/* A CR of a CRLF file belongs to the line end, not the value. */
	for (*ve = end; *ve > *vs && (blank((*ve)[-1]) || (*ve)[-1] == '\r'); (*ve)--)
		;
	return true;
}

struct buf {
	char *p;
	size_t n, cap;
};

static int put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
	return 0;
}

int config_text_set(const char *in, size_t len, const char *key,
		    const char *value, char **out, size_t *outlen)
{
	struct buf b = { 0 };
	const char *s = in, *end = in + len;
	int changed = 0, err = 0;

	if (!key_ok(key) || !value_ok(value))
		return -EINVAL;
	while (s < end && !err) {
		const char *nl = memchr(s, '\n', end - s);
		const char *e = nl ? nl : end, *next = nl ? nl + 1 : end;
		const char *eq, *vs, *ve;

		if (line_sets(s, e, key, &eq, &vs, &ve)) {
			err = put(&b, s, vs - s);
			/* "key =" with nothing after: keep it readable. */
			if (!err && vs == eq + 1 && ve == vs)
				err = put(&b, " ", 1);
			if (!err)
				err = put(&b, value, strlen(value));
			if (!err)
				err = put(&b, ve, next - ve);
			changed++;
		} else {
			err = put(&b, s, next - s);
		}
		s = next;
	}
	if (!err && !changed) {
		if (len && in[len - 1] != '\n')
			err = put(&b, "\n", 1);
		if (!err)
			err = put(&b, key, strlen(key));
		if (!err)
			err = put(&b, " = ", 3);
		if (!err)
			err = put(&b, value, strlen(value));
		if (!err)
			err = put(&b, "\n", 1);
	}
	if (!err && !b.p)
		err = put(&b, "", 0);
	if (err) {
		free(b.p);
		return err;
	}
	*out = b.p;
	*outlen = b.n;
	return changed;
}

int config_file_read(const char *path, char **buf, size_t *len)
{
	struct buf b = { 0 };
	char chunk[4096];
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (b.n + n > (16u << 20)) {
			err = -EFBIG;	/* not a config file */
			break;
		}
		err = put(&b, chunk, n);
		if (err)
			break;
	}
	close(fd);
	if (!err && !b.p)
		err = put(&b, "", 0);
	if (err) {
		free(b.p);
		return err;
	}
	*buf = b.p;
	*len = b.n;
	return 0;
}

int config_file_write(const char *path, const char *buf, size_t len)
{
	char real[PATH_MAX], tmp[PATH_MAX + 16];
	struct stat st;
	size_t off = 0;
	int fd, err = 0;

	/* Through a symlink, replace its target, not the link. */
	if (!realpath(path, real))
		return -errno;
	if (stat(real, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	snprintf(tmp, sizeof(tmp), "%s.loupe-XXXXXX", real);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (off < len && !err) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n > 0)
			off += n;
	}
	if (!err && fchmod(fd, st.st_mode & 07777))
		err = -errno;
	/* Root editing someone's file must not make it root's; best effort
	 * (EPERM as a plain user, who could only write their own file). */
	if (!err && (st.st_uid != geteuid() || st.st_gid != getegid()) &&
	    fchown(fd, st.st_uid, st.st_gid) && errno != EPERM)
		err = -errno;
	/* The workload reads it right after our SIGHUP: it must be whole. */
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, real))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
