/* SPDX-License-Identifier: MIT */
/*
 * Internal to the rules engine (rules.c): the expression and template
 * language of rule files (docs/rules.md, "Expressions" and "Templates"),
 * and the pool every parsed rule lives in.  Not an API of its own.
 */
#ifndef LOUPE_RULES_EXPR_H
#define LOUPE_RULES_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "analyzer/analyze.h"
#include "analyzer/rules.h"

/*
 * A bump allocator: a ruleset's rules, expressions and strings are carved
 * out of its chunks and freed together, so a parse error half-way through
 * a rule leaves nothing to unwind.
 */
struct pool;

/* Zeroed memory, or NULL on ENOMEM. */
void *pool_alloc(struct pool **pool, size_t n);
char *pool_strndup(struct pool **pool, const char *s, size_t n);
void pool_free(struct pool *pool);

struct expr;

/*
 * Parses one expression from *P, stopping before the end of the string, a
 * '#' comment, a '}' or an '=' that is not part of "==" (the caller says
 * whether what follows is right).  *P is left there.  NULL with a message
 * (no location) in ERR on a syntax error or ENOMEM.
 */
struct expr *expr_parse(const char **p, struct pool **pool, char *err,
			size_t errlen);

/*
 * Parses a name as "change" accepts it ("workers", "@env.NAME", "@config.X"
 * which is "X") from *P.  Returns the key as the lookup function knows it,
 * or NULL with a message in ERR (a finding field, @machine, a bad name).
 */
const char *expr_parse_key(const char **p, struct pool **pool, char *err,
			   size_t errlen);

/* A AND B, for the "when" lines of a rule. */
struct expr *expr_and(struct pool **pool, struct expr *a, struct expr *b);

/*
 * Parses template text TEXT (already unescaped: literal text, "{{", "}}"
 * and "{EXPR}") and appends its parts to *T, which starts NULL.  Returns 0,
 * or -EINVAL / -ENOMEM with a message in ERR.
 */
int tmpl_parse(struct expr **t, const char *text, struct pool **pool,
	       char *err, size_t errlen);

/* What an expression is evaluated against. */
struct eval_ctx {
	rules_lookup_fn lookup;		/* may be NULL */
	void *arg;
	const struct finding *f;
	/* The fix under construction: NULL while unknown (a code change has
	 * no key or from; "to" is unknown while it is being computed). */
	const char *key, *from, *to;
	/* Copies of looked-up strings and formatted numbers, reset per rule. */
	char arena[4096];
	size_t used;
};

/* True when E is a number other than 0 (unknown values are false). */
bool expr_eval_true(struct eval_ctx *c, const struct expr *e);

/*
 * The value of E as a config value ("2", "0.75", "none") in OUT.  Returns 0,
 * -ENOENT when E needs something unknown, -ENOSPC when it does not fit.
 */
int expr_eval_value(struct eval_ctx *c, const struct expr *e, char *out,
		    size_t outlen);

/*
 * Expands template T into OUT, cut at a UTF-8 character boundary and ended
 * with "..." when too long.  Returns 0, or -ENOENT when a placeholder needs
 * something unknown.
 */
int tmpl_expand(struct eval_ctx *c, const struct expr *t, char *out,
		size_t outlen);

/*
 * Reads one quoted string ("..." or '...', with \\, \" and \' escapes)
 * from *P, unescaped into the pool; *P is left after it.  NULL with a
 * message in ERR when *P holds no string or it is unterminated.
 */
char *expr_parse_string(const char **p, struct pool **pool, char *err,
			size_t errlen);

/* Reads S as a number the way rules do (whole string, finite). */
bool expr_read_number(const char *s, double *out);

/* "info", "warning", "critical"; NULL for anything else. */
const char *expr_severity_name(enum severity s);

#endif
