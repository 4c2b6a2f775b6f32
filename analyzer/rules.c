// SPDX-License-Identifier: MIT
/*
 * Rule files (docs/rules.md): a line-oriented reader that turns "rule NAME"
 * blocks into struct rule, and ruleset_apply(), which runs them against a
 * finding.  The expressions and templates inside the fields are
 * rules_expr.c's.
 *
 * Rules are data so that whoever knows a workload's knobs can teach loupe a
 * fix without touching C: a wrong rule costs a proposal, never a crash, and
 * a malformed one is refused with its file and line at load time.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer/rules.h"
#include "analyzer/rules_expr.h"

#define MAX_FIXES (sizeof(((struct finding *)0)->fixes) / sizeof(struct fix))
#define MAX_RULE_FILE (1 << 20)


_Static_assert(FK_N <= 32, "rule.kinds is a 32-bit mask");

const char *rules_kind_name(enum finding_kind k)
{
	/* The analyzer owns the names; NULL rather than its "?" here. */
	return (unsigned int)k < FK_N ? finding_kind_name(k) : NULL;
}

struct rule {
	struct rule *next;
	const char *name;
	const char *where;	/* "PATH:LINE", for a duplicate name */
	char src[64];		/* "NAME:LINE", copied to fix.rule */
	unsigned int line;
	unsigned int seen;	/* fields given, 1 << enum rfield */
	__u32 kinds;		/* 1 << enum finding_kind */
	const char *model, *stage;	/* globs; NULL: any */
	enum severity min_severity;
	struct expr *when;	/* the when lines and-ed; NULL: always */
	const char *key;	/* NULL for a code change */
	struct expr *to;
	struct expr *site, *why, *effect;	/* templates */
	double confidence;
};

struct ruleset {
	struct pool *pool;
	struct rule *head, **tail;
	size_t n;
};

/* ---- reading rule files ---------------------------------------------- */

struct rparser {
	struct ruleset *rs;
	const char *errname;	/* in errors: the path */
	const char *srcname;	/* in fix.rule: the base name */
	unsigned int line;
	struct rule *cur;	/* the rule being read; NULL before the first */
	struct expr **cont;	/* the text a string-only line continues */
	char *err;
	size_t errlen;
	int ret;		/* the first error: -EINVAL or -ENOMEM */
};

static int rp_error(struct rparser *rp, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int rp_error(struct rparser *rp, int ret, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(rp->err, rp->errlen, "%s:%u: %s", rp->errname, rp->line, msg);
	rp->ret = ret;
	return ret;
}

/*
 * An expression parser's message, which knows no location, placed.  Its one
 * message that is not about the text is "out of memory".
 */
static int rp_expr_error(struct rparser *rp, const char *field, const char *msg)
{
	int ret = strcmp(msg, "out of memory") ? -EINVAL : -ENOMEM;

	return rp_error(rp, ret, "%s: %s", field, msg);
}

static const char *skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* True when only blanks or a comment remain. */
static bool at_end(const char *p)
{
	p = skip_space(p);
	return !*p || *p == '#';
}

static int expect_end(struct rparser *rp, const char *field, const char *p)
{
	p = skip_space(p);
	if (at_end(p))
		return 0;
	return rp_error(rp, -EINVAL, "%s: unexpected '%.20s' at the end of "
			"the line", field, p);
}

/* A word: up to a blank or a comment. */
static size_t word_len(const char *p)
{
	return strcspn(p, " \t#");
}

enum rfield {
	RF_FINDING, RF_MODEL, RF_STAGE, RF_SEVERITY, RF_WHEN, RF_CHANGE,
	RF_CODE, RF_WHY, RF_EFFECT, RF_CONFIDENCE, RF_N
};

static int parse_finding(struct rparser *rp, struct rule *r, const char *p)
{
	size_t n;
	int k;

	for (;;) {
		p += strspn(p, " \t,");
		if (at_end(p))
			break;
		n = strcspn(p, " \t,#");
		for (k = 0; k < FK_N; k++)
			if (strlen(finding_kind_name(k)) == n &&
			    !memcmp(finding_kind_name(k), p, n))
				break;
		if (k == FK_N)
			return rp_error(rp, -EINVAL, "unknown finding kind "
					"'%.*s'", (int)n, p);
		r->kinds |= 1u << k;
		p += n;
	}
	if (!r->kinds)
		return rp_error(rp, -EINVAL, "finding: name at least one kind");
	return 0;
}

/* A glob, bare ("ctr_*") or quoted. */
static int parse_glob(struct rparser *rp, const char *field, const char *p,
		      const char **out)
{
	char msg[160];
	size_t n;

	if (*p == '"' || *p == '\'') {
		*out = expr_parse_string(&p, &rp->rs->pool, msg, sizeof(msg));
		if (!*out)
			return rp_expr_error(rp, field, msg);
	} else {
		n = word_len(p);
		if (!n)
			return rp_error(rp, -EINVAL, "%s: give a name or a glob",
					field);
		*out = pool_strndup(&rp->rs->pool, p, n);
		if (!*out)
			return rp_error(rp, -ENOMEM, "out of memory");
		p += n;
	}
	return expect_end(rp, field, p);
}

static int parse_model(struct rparser *rp, struct rule *r, const char *p)
{
	return parse_glob(rp, "model", p, &r->model);
}

static int parse_stage(struct rparser *rp, struct rule *r, const char *p)
{
	return parse_glob(rp, "stage", p, &r->stage);
}

static int parse_severity(struct rparser *rp, struct rule *r, const char *p)
{
	size_t n = word_len(p);
	int s;

	for (s = SEV_INFO; s <= SEV_CRITICAL; s++) {
		const char *name = expr_severity_name((enum severity)s);

		if (strlen(name) == n && !memcmp(name, p, n)) {
			r->min_severity = (enum severity)s;
			return expect_end(rp, "severity", p + n);
		}
	}
	return rp_error(rp, -EINVAL, "unknown severity '%.*s' (info, warning "
			"or critical)", (int)n, p);
}

static int parse_when(struct rparser *rp, struct rule *r, const char *p)
{
	struct expr *e;
	char msg[160];

	e = expr_parse(&p, &rp->rs->pool, msg, sizeof(msg));
	if (!e)
		return rp_expr_error(rp, "when", msg);
	if (expect_end(rp, "when", p))
		return rp->ret;
	if (r->when) {
		e = expr_and(&rp->rs->pool, r->when, e);
		if (!e)
			return rp_error(rp, -ENOMEM, "out of memory");
	}
	r->when = e;
	return 0;
}

/* change KEY = EXPR */
static int parse_change(struct rparser *rp, struct rule *r, const char *p)
{
	const char *key;
	char msg[160];

	key = expr_parse_key(&p, &rp->rs->pool, msg, sizeof(msg));
	if (!key)
		return rp_expr_error(rp, "change", msg);
	if (strlen(key) >= sizeof(((struct fix *)0)->key))
		return rp_error(rp, -EINVAL, "change: key '%s' longer than %zu "
				"characters", key,
				sizeof(((struct fix *)0)->key) - 1);
	p = skip_space(p);
	if (*p != '=' || p[1] == '=')
		return rp_error(rp, -EINVAL, "change: expected '=' after '%s'",
				key);
	p++;
	r->to = expr_parse(&p, &rp->rs->pool, msg, sizeof(msg));
	if (!r->to)
		return rp_expr_error(rp, "change", msg);
	r->key = key;
	return expect_end(rp, "change", p);
}

/* A text: one quoted template, continued by string-only lines. */
static int parse_text(struct rparser *rp, const char *field, struct expr **t,
		      const char *p)
{
	char msg[160];
	char *s;

	s = expr_parse_string(&p, &rp->rs->pool, msg, sizeof(msg));
	if (!s)
		return rp_expr_error(rp, field, msg);
	if (expect_end(rp, field, p))
		return rp->ret;
	if (tmpl_parse(t, s, &rp->rs->pool, msg, sizeof(msg)))
		return rp_expr_error(rp, field, msg);
	rp->cont = t;
	return 0;
}

static int parse_code(struct rparser *rp, struct rule *r, const char *p)
{
	return parse_text(rp, "code", &r->site, p);
}

static int parse_why(struct rparser *rp, struct rule *r, const char *p)
{
	return parse_text(rp, "why", &r->why, p);
}

static int parse_effect(struct rparser *rp, struct rule *r, const char *p)
{
	return parse_text(rp, "effect", &r->effect, p);
}

static int parse_confidence(struct rparser *rp, struct rule *r, const char *p)
{
	size_t n = word_len(p);
	char buf[32];
	double d;

	if (!n || n >= sizeof(buf))
		return rp_error(rp, -EINVAL, "confidence: expected a number "
				"from 0 to 1");
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (!expr_read_number(buf, &d))
		return rp_error(rp, -EINVAL, "confidence: '%s' is not a number",
				buf);
	if (d < 0 || d > 1)
		return rp_error(rp, -EINVAL, "confidence %s out of range 0..1",
				buf);
	r->confidence = d;
	return expect_end(rp, "confidence", p + n);
}

static const struct {
	const char *name;
	bool repeat;
	int (*parse)(struct rparser *rp, struct rule *r, const char *p);
} fields[RF_N] = {
	[RF_FINDING] = { "finding", false, parse_finding },
	[RF_MODEL] = { "model", false, parse_model },
	[RF_STAGE] = { "stage", false, parse_stage },
	[RF_SEVERITY] = { "severity", false, parse_severity },
	[RF_WHEN] = { "when", true, parse_when },
	[RF_CHANGE] = { "change", false, parse_change },
	[RF_CODE] = { "code", false, parse_code },
	[RF_WHY] = { "why", false, parse_why },
	[RF_EFFECT] = { "effect", false, parse_effect },
	[RF_CONFIDENCE] = { "confidence", false, parse_confidence },
};

/* Checks the rule read so far has what every rule needs. */
static int rule_finish(struct rparser *rp)
{
	static const enum rfield required[] = {
		RF_FINDING, RF_WHY, RF_EFFECT, RF_CONFIDENCE,
	};
	struct rule *r = rp->cur;
	unsigned int line = rp->line;
	size_t i;
	int ret = 0;

	if (!r)
		return 0;
	/* Errors about a whole rule point at its "rule" line. */
	rp->line = r->line;
	for (i = 0; i < sizeof(required) / sizeof(required[0]) && !ret; i++)
		if (!(r->seen & (1u << required[i])))
			ret = rp_error(rp, -EINVAL, "rule '%s' has no '%s'",
				       r->name, fields[required[i]].name);
	if (!ret && !r->key && !r->site)
		ret = rp_error(rp, -EINVAL, "rule '%s' needs 'change' or "
			       "'code'", r->name);
	if (!ret && r->key && r->site)
		ret = rp_error(rp, -EINVAL, "rule '%s' has both 'change' and "
			       "'code': make two rules", r->name);
	rp->line = line;
	return ret;
}

static const struct rule *find_rule(const struct ruleset *rs, const char *name)
{
	const struct rule *r;

	for (r = rs->head; r; r = r->next)
		if (!strcmp(r->name, name))
			return r;
	return NULL;
}

/* rule NAME */
static int rule_start(struct rparser *rp, const char *p)
{
	struct pool **pool = &rp->rs->pool;
	const struct rule *other;
	char where[PATH_MAX + 16];
	struct rule *r;
	size_t n;

	if (rule_finish(rp))
		return rp->ret;
	p = skip_space(p);
	n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789_-");
	if (!n)
		return rp_error(rp, -EINVAL, "rule: expected a name (letters, "
				"digits, '_' and '-')");
	if (p[n] && p[n] != ' ' && p[n] != '\t' && p[n] != '#')
		return rp_error(rp, -EINVAL, "rule: bad name '%.*s'",
				(int)word_len(p), p);
	if (expect_end(rp, "rule", p + n))
		return rp->ret;
	r = pool_alloc(pool, sizeof(*r));
	if (!r || !(r->name = pool_strndup(pool, p, n)))
		return rp_error(rp, -ENOMEM, "out of memory");
	other = find_rule(rp->rs, r->name);
	if (other)
		return rp_error(rp, -EINVAL, "rule '%s' already defined at %s",
				r->name, other->where);
	snprintf(where, sizeof(where), "%s:%u", rp->errname, rp->line);
	r->where = pool_strndup(pool, where, strlen(where));
	if (!r->where)
		return rp_error(rp, -ENOMEM, "out of memory");
	snprintf(r->src, sizeof(r->src), "%s:%u", rp->srcname, rp->line);
	r->line = rp->line;
	*rp->rs->tail = r;
	rp->rs->tail = &r->next;
	rp->rs->n++;
	rp->cur = r;
	rp->cont = NULL;
	return 0;
}

/* A line holding only a string continues the previous text field. */
static int continue_text(struct rparser *rp, const char *p)
{
	if (!rp->cont)
		return rp_error(rp, -EINVAL, "a string line only continues "
				"'why', 'effect' or 'code'");
	return parse_text(rp, "text", rp->cont, p);
}

static int parse_line(struct rparser *rp, const char *p)
{
	size_t n, i;

	p = skip_space(p);
	if (!*p || *p == '#')
		return 0;
	if (*p == '"')
		return continue_text(rp, p);
	n = word_len(p);
	if (n == 4 && !memcmp(p, "rule", 4))
		return rule_start(rp, p + 4);
	for (i = 0; i < RF_N; i++)
		if (strlen(fields[i].name) == n && !memcmp(fields[i].name, p, n))
			break;
	if (i == RF_N)
		return rp_error(rp, -EINVAL, "unknown field '%.*s'", (int)n, p);
	if (!rp->cur)
		return rp_error(rp, -EINVAL, "'%s' outside a rule (start one "
				"with 'rule NAME')", fields[i].name);
	if ((rp->cur->seen & (1u << i)) && !fields[i].repeat)
		return rp_error(rp, -EINVAL, "duplicate field '%s'",
				fields[i].name);
	rp->cur->seen |= 1u << i;
	rp->cont = NULL;
	return fields[i].parse(rp, rp->cur, skip_space(p + n));
}

/* Parses TEXT into RS; on error RS keeps what it had read (freed whole). */
static int parse_into(struct ruleset *rs, const char *text, const char *errname,
		      const char *srcname, char *err, size_t errlen)
{
	struct rparser rp = {
		.rs = rs, .errname = errname, .srcname = srcname,
		.err = err, .errlen = errlen,
	};
	char *copy, *line, *nl;
	size_t n;

	copy = strdup(text);
	if (!copy) {
		snprintf(err, errlen, "%s: out of memory", errname);
		return -ENOMEM;
	}
	for (line = copy; line && !rp.ret; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		n = strlen(line);
		if (n && line[n - 1] == '\r')
			line[n - 1] = '\0';
		rp.line++;
		parse_line(&rp, line);
	}
	if (!rp.ret)
		rule_finish(&rp);
	free(copy);
	return rp.ret;
}

static struct ruleset *ruleset_new(void)
{
	struct ruleset *rs = calloc(1, sizeof(*rs));

	if (rs)
		rs->tail = &rs->head;
	return rs;
}

void ruleset_free(struct ruleset *rs)
{
	if (!rs)
		return;
	pool_free(rs->pool);
	free(rs);
}

size_t ruleset_count(const struct ruleset *rs)
{
	return rs ? rs->n : 0;
}

struct ruleset *ruleset_parse(const char *text, const char *name, char *err,
			      size_t errlen)
{
	struct ruleset *rs = ruleset_new();
	int ret;

	if (!rs) {
		snprintf(err, errlen, "%s: out of memory", name);
		errno = ENOMEM;
		return NULL;
	}
	ret = parse_into(rs, text, name, name, err, errlen);
	if (ret) {
		ruleset_free(rs);
		errno = -ret;
		return NULL;
	}
	return rs;
}

/* The whole of PATH, NUL-terminated, or NULL with errno set. */
static char *read_file(const char *path)
{
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, n;
	FILE *f = fopen(path, "r");

	if (!f)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			if (cap >= MAX_RULE_FILE) {
				errno = EFBIG;
				goto cleanup;
			}
			cap = cap ? cap * 2 : 8192;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				errno = ENOMEM;
				goto cleanup;
			}
			buf = nbuf;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		if (!n)
			break;
		len += n;
	}
	if (ferror(f)) {
		errno = EIO;
		goto cleanup;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
cleanup:
	free(buf);
	fclose(f);
	return NULL;
}

static int is_rules_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 6 &&
	       !strcmp(d->d_name + n - 6, ".rules");
}

struct ruleset *ruleset_load_dir(const char *dir, char *err, size_t errlen)
{
	struct dirent **names = NULL;
	struct ruleset *rs = NULL;
	char path[PATH_MAX];
	int i, n, ret = 0;
	char *text;

	n = scandir(dir, &names, is_rules_file, alphasort);
	if (n < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto cleanup;
	}
	rs = ruleset_new();
	if (!rs) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", dir);
		goto cleanup;
	}
	for (i = 0; i < n && !ret; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		text = read_file(path);
		if (!text) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			break;
		}
		ret = parse_into(rs, text, path, names[i]->d_name, err, errlen);
		free(text);
	}
cleanup:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (ret) {
		ruleset_free(rs);
		errno = -ret;
		return NULL;
	}
	return rs;
}

/* ---- applying rules -------------------------------------------------- */

static bool rule_matches(const struct rule *r, const struct finding *f)
{
	if ((unsigned int)f->kind >= FK_N || !(r->kinds & (1u << f->kind)))
		return false;
	if (f->severity < r->min_severity)
		return false;
	if (r->model && fnmatch(r->model, f->model, 0))
		return false;
	return !r->stage || !fnmatch(r->stage, f->stage, 0);
}

/* "2" and "2.0" are one value: a change between them changes nothing. */
static bool same_value(const char *a, const char *b)
{
	double x, y;

	if (expr_read_number(a, &x) && expr_read_number(b, &y))
		return x == y;
	return !strcmp(a, b);
}

/* Fills FX with the change rule R proposes; false when it has none. */
static bool rule_change(const struct rule *r, struct eval_ctx *c,
			struct fix *fx)
{
	const char *cur = c->lookup ? c->lookup(c->arg, r->key) : NULL;

	snprintf(fx->key, sizeof(fx->key), "%s", r->key);
	c->key = fx->key;
	if (cur) {
		snprintf(fx->from, sizeof(fx->from), "%s", cur);
		c->from = fx->from;
	} else {
		snprintf(fx->from, sizeof(fx->from), "(unset)");
	}
	/* A value that does not fit could not be applied as written. */
	if (expr_eval_value(c, r->to, fx->to, sizeof(fx->to)))
		return false;
	if (c->from && same_value(c->from, fx->to))
		return false;
	c->to = fx->to;
	return true;
}

/* The fix rule R proposes for C->f, or false. */
static bool rule_fix(const struct rule *r, struct eval_ctx *c, struct fix *fx)
{
	memset(fx, 0, sizeof(*fx));
	c->used = 0;
	c->key = c->from = c->to = NULL;
	if (r->key && !rule_change(r, c, fx))
		return false;
	if (r->when && !expr_eval_true(c, r->when))
		return false;
	if (r->site) {
		if (tmpl_expand(c, r->site, fx->to, sizeof(fx->to)))
			return false;
		c->to = fx->to;
	}
	if (tmpl_expand(c, r->why, fx->why, sizeof(fx->why)) ||
	    tmpl_expand(c, r->effect, fx->effect, sizeof(fx->effect)))
		return false;
	fx->confidence = r->confidence;
	snprintf(fx->rule, sizeof(fx->rule), "%s", r->src);
	return true;
}

/*
 * Two rules saying the same thing: one key set to one value, or one code
 * site (a specific rule and a general one often both know the site).
 */
static bool same_fix(const struct fix *a, const struct fix *b)
{
	return !strcmp(a->key, b->key) && !strcmp(a->to, b->to);
}

/*
 * Keeps the best ROOM fixes in BEST (*N of them, best confidence first,
 * ties in rule order), one of each.
 */
static void keep_best(struct fix *best, size_t *n, size_t room,
		      const struct fix *fx)
{
	size_t i, at;

	for (i = 0; i < *n; i++) {
		if (!same_fix(&best[i], fx))
			continue;
		if (best[i].confidence >= fx->confidence)
			return;
		/* The better of the two stays: drop the old, insert below. */
		memmove(&best[i], &best[i + 1], (*n - i - 1) * sizeof(*best));
		(*n)--;
		break;
	}
	for (at = 0; at < *n; at++)
		if (best[at].confidence < fx->confidence)
			break;
	if (at >= room)
		return;
	if (*n == room)
		(*n)--;
	memmove(&best[at + 1], &best[at], (*n - at) * sizeof(*best));
	best[at] = *fx;
	(*n)++;
}

size_t ruleset_apply(const struct ruleset *rs, struct finding *f,
		     rules_lookup_fn lookup, void *arg)
{
	struct fix best[MAX_FIXES], fx;
	struct eval_ctx c;
	const struct rule *r;
	size_t i, n = 0, room;

	if (!rs || f->nfixes >= MAX_FIXES)
		return 0;
	room = MAX_FIXES - f->nfixes;
	memset(&c, 0, sizeof(c));
	c.lookup = lookup;
	c.arg = arg;
	c.f = f;
	for (r = rs->head; r; r = r->next) {
		if (!rule_matches(r, f) || !rule_fix(r, &c, &fx))
			continue;
		for (i = 0; i < f->nfixes; i++)
			if (same_fix(&f->fixes[i], &fx))
				break;
		if (i == f->nfixes)
			keep_best(best, &n, room, &fx);
	}
	for (i = 0; i < n; i++)
		f->fixes[f->nfixes++] = best[i];
	return n;
}

/* ---- where rules live ------------------------------------------------ */

const char *rules_default_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("LOUPE_RULES_DIR");
	char exe[PATH_MAX - 32];	/* room for the suffixes below */
	struct stat st;
	char *slash;
	ssize_t n;
	int up;

	if (env && *env) {
		snprintf(dir, sizeof(dir), "%s", env);
		return dir;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		/* No /proc: the source tree's rules, from its root. */
		snprintf(dir, sizeof(dir), "analyzer/rules");
		return dir;
	}
	exe[n] = '\0';
	/* <prefix>/bin/loupe -> <prefix>; <tree>/build/loupe -> <tree>. */
	for (up = 0; up < 2; up++) {
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
	}
	snprintf(dir, sizeof(dir), "%s/share/loupe/rules", exe);
	if (!stat(dir, &st) && S_ISDIR(st.st_mode))
		return dir;
	snprintf(dir, sizeof(dir), "%s/analyzer/rules", exe);
	return dir;
}
