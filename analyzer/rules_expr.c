// SPDX-License-Identifier: MIT
/*
 * The expression language of rule files (docs/rules.md): a recursive-descent
 * parser into trees carved from the ruleset's pool, and an evaluator over a
 * finding, a lookup function and the fix under construction.
 *
 * Values are numbers, strings or unknown.  Config and environment values
 * arrive as strings and count as numbers wherever they read as one, so
 * "workers > @machine.cores" compares 16 with 2, not "16" with "2".  Unknown
 * spreads: arithmetic on it is unknown, a comparison or predicate with it is
 * false, and a change or a text that needs it is not proposed at all -- a
 * rule proposes only what it can state in full.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/rules_expr.h"
#include "analyzer/units.h"

/* ---- pool ------------------------------------------------------------ */

#define POOL_CHUNK 16384
#define POOL_ALIGN _Alignof(max_align_t)

struct pool {
	struct pool *next;
	size_t used, size;
	max_align_t data[];
};

void *pool_alloc(struct pool **pool, size_t n)
{
	struct pool *c = *pool;
	void *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	n = (n + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);
	if (!c || c->size - c->used < n) {
		size_t size = n > POOL_CHUNK ? n : POOL_CHUNK;

		/* calloc: every allocation comes out zeroed, never reused. */
		c = calloc(1, sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->next = *pool;
		*pool = c;
	}
	p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

char *pool_strndup(struct pool **pool, const char *s, size_t n)
{
	char *d = pool_alloc(pool, n + 1);

	if (d)
		memcpy(d, s, n);
	return d;
}

void pool_free(struct pool *pool)
{
	while (pool) {
		struct pool *next = pool->next;

		free(pool);
		pool = next;
	}
}

/* ---- trees ----------------------------------------------------------- */

enum expr_op {
	E_NUM, E_STR, E_KEY, E_FIELD, E_CALL,
	E_NEG, E_NOT, E_ADD, E_SUB, E_MUL, E_DIV,
	E_LT, E_LE, E_GT, E_GE, E_EQ, E_NE, E_AND, E_OR,
};

/*
 * Expressions are evaluated recursively, so their depth is bounded at parse
 * time: a rule nests a few levels, a pathological file ("a+a+a+..." over a
 * megabyte) must not exhaust the stack.
 */
#define MAX_DEPTH 100

struct expr {
	enum expr_op op;
	int depth;		/* 1 + the deepest operand or argument */
	double num;		/* E_NUM */
	const char *str;	/* E_STR text, E_KEY key as lookup knows it */
	int id;			/* E_FIELD field, E_CALL function */
	struct expr *a, *b;	/* operands; E_CALL: first argument */
	struct expr *next;	/* next argument, or next template part */
};

/* Names that mean the finding or the fix, never a config key. */
enum field {
	F_VALUE, F_REFERENCE, F_METRIC, F_MODEL, F_STAGE, F_FUNCTION, F_FILE,
	F_LINE, F_KIND, F_SEVERITY, F_TRANSIENT, F_START_S, F_END_S,
	F_KEY, F_FROM, F_TO, F_N
};

static const char *const field_names[F_N] = {
	[F_VALUE] = "value",		[F_REFERENCE] = "reference",
	[F_METRIC] = "metric",		[F_MODEL] = "model",
	[F_STAGE] = "stage",		[F_FUNCTION] = "function",
	[F_FILE] = "file",		[F_LINE] = "line",
	[F_KIND] = "kind",		[F_SEVERITY] = "severity",
	[F_TRANSIENT] = "transient",	[F_START_S] = "start_s",
	[F_END_S] = "end_s",		[F_KEY] = "key",
	[F_FROM] = "from",		[F_TO] = "to",
};

/* Machine facts the lookup function promises (rules.h). */
static const char *const machine_facts[] = { "cores", "mem_bytes" };

/* ---- values ---------------------------------------------------------- */

enum vtype { V_UNKNOWN, V_NUM, V_STR };

struct val {
	enum vtype t;
	double n;
	const char *s;
};

static const struct val unknown;

static struct val num_val(double n)
{
	/* 1/0 and overflow are as good as unknown: nothing to propose. */
	if (!isfinite(n))
		return unknown;
	return (struct val){ .t = V_NUM, .n = n };
}

static struct val str_val(const char *s)
{
	if (!s)
		return unknown;
	return (struct val){ .t = V_STR, .s = s };
}

bool expr_read_number(const char *s, double *out)
{
	char *end;
	double d;

	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	d = strtod(s, &end);
	if (end == s)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	/* "nan" and "inf" read as numbers to strtod, not to a rule. */
	if (*end || !isfinite(d))
		return false;
	*out = d;
	return true;
}

static bool val_number(struct val v, double *out)
{
	if (v.t == V_NUM) {
		*out = v.n;
		return true;
	}
	return v.t == V_STR && expr_read_number(v.s, out);
}

static bool truthy(struct val v)
{
	double d;

	return val_number(v, &d) && d != 0;
}

/* Exact: config values ("0.75"); text: what a person reads ("2.35"). */
enum numfmt { NF_EXACT, NF_TEXT };

static void fmt_num(char *buf, size_t len, double x, enum numfmt how)
{
	if (x == 0)
		snprintf(buf, len, "0");	/* never "-0" */
	else if (fabs(x) < 1e15 && x == floor(x))
		snprintf(buf, len, "%.0f", x);
	else if (how == NF_TEXT)
		snprintf(buf, len, fabs(x) >= 100 ? "%.0f" : "%.3g", x);
	else
		snprintf(buf, len, fabs(x) >= 1e6 ? "%.0f" : "%.6g", x);
}

static char *arena_dup(struct eval_ctx *c, const char *s, size_t n)
{
	char *d;

	/* A full arena makes the value unknown: the rule stays silent rather
	 * than propose something cut short. */
	if (n + 1 > sizeof(c->arena) - c->used)
		return NULL;
	d = c->arena + c->used;
	memcpy(d, s, n);
	d[n] = '\0';
	c->used += n + 1;
	return d;
}

static const char *val_text(struct eval_ctx *c, struct val v, enum numfmt how)
{
	char buf[64];

	if (v.t == V_STR)
		return v.s;
	if (v.t != V_NUM)
		return NULL;
	fmt_num(buf, sizeof(buf), v.n, how);
	return arena_dup(c, buf, strlen(buf));
}

/* ---- functions ------------------------------------------------------- */

/* Functions get their arguments unevaluated: set() and default() must see
 * an unknown argument without it spoiling the whole call. */
struct func {
	const char *name;
	unsigned char min, max;		/* arguments */
	struct val (*fn)(struct eval_ctx *c, const struct expr *args);
};

static struct val eval(struct eval_ctx *c, const struct expr *e);

static struct val fn_minmax(struct eval_ctx *c, const struct expr *a, bool max)
{
	double best = 0, d;
	bool first = true;

	for (; a; a = a->next) {
		if (!val_number(eval(c, a), &d))
			return unknown;
		if (first || (max ? d > best : d < best))
			best = d;
		first = false;
	}
	return num_val(best);
}

static struct val fn_min(struct eval_ctx *c, const struct expr *a)
{
	return fn_minmax(c, a, false);
}

static struct val fn_max(struct eval_ctx *c, const struct expr *a)
{
	return fn_minmax(c, a, true);
}

static struct val fn_round1(struct eval_ctx *c, const struct expr *a,
			    double (*op)(double))
{
	double d;

	return val_number(eval(c, a), &d) ? num_val(op(d)) : unknown;
}

static struct val fn_round(struct eval_ctx *c, const struct expr *a)
{
	return fn_round1(c, a, round);
}

static struct val fn_ceil(struct eval_ctx *c, const struct expr *a)
{
	return fn_round1(c, a, ceil);
}

static struct val fn_floor(struct eval_ctx *c, const struct expr *a)
{
	return fn_round1(c, a, floor);
}

static struct val fn_set(struct eval_ctx *c, const struct expr *a)
{
	return num_val(eval(c, a).t != V_UNKNOWN);
}

static struct val fn_unset(struct eval_ctx *c, const struct expr *a)
{
	return num_val(eval(c, a).t == V_UNKNOWN);
}

static struct val fn_default(struct eval_ctx *c, const struct expr *a)
{
	struct val v = eval(c, a);

	return v.t != V_UNKNOWN ? v : eval(c, a->next);
}

static struct val fn_contains(struct eval_ctx *c, const struct expr *a)
{
	const char *s = val_text(c, eval(c, a), NF_EXACT);
	const char *sub = val_text(c, eval(c, a->next), NF_EXACT);

	return num_val(s && sub && strstr(s, sub));
}

static struct val fn_concat(struct eval_ctx *c, const struct expr *a)
{
	char buf[512];
	const char *s;
	size_t len = 0, n;

	for (; a; a = a->next) {
		s = val_text(c, eval(c, a), NF_EXACT);
		if (!s)
			return unknown;
		n = strlen(s);
		if (n >= sizeof(buf) - len)
			return unknown;
		memcpy(buf + len, s, n);
		len += n;
	}
	return str_val(arena_dup(c, buf, len));
}

static struct val fn_unit(struct eval_ctx *c, const struct expr *a,
			  char *(*fmt)(char *, size_t, __u64))
{
	char buf[32];
	double d;

	if (!val_number(eval(c, a), &d) || d < 0 || d >= 1.8e19)
		return unknown;
	fmt(buf, sizeof(buf), (__u64)(d + 0.5));
	return str_val(arena_dup(c, buf, strlen(buf)));
}

static struct val fn_ns(struct eval_ctx *c, const struct expr *a)
{
	return fn_unit(c, a, units_ns);
}

static struct val fn_bytes(struct eval_ctx *c, const struct expr *a)
{
	return fn_unit(c, a, units_bytes);
}

static struct val fn_pct(struct eval_ctx *c, const struct expr *a)
{
	char buf[64];
	size_t n;
	double d;

	if (!val_number(eval(c, a), &d) || !isfinite(d * 100))
		return unknown;
	fmt_num(buf, sizeof(buf) - 1, d * 100, NF_TEXT);
	n = strlen(buf);
	buf[n++] = '%';
	return str_val(arena_dup(c, buf, n));
}

static struct val fn_basename(struct eval_ctx *c, const struct expr *a)
{
	const char *s = val_text(c, eval(c, a), NF_EXACT);
	const char *slash = s ? strrchr(s, '/') : NULL;

	return str_val(slash ? slash + 1 : s);
}

static const struct func funcs[] = {
	{ "min", 1, 255, fn_min },
	{ "max", 1, 255, fn_max },
	{ "round", 1, 1, fn_round },
	{ "ceil", 1, 1, fn_ceil },
	{ "floor", 1, 1, fn_floor },
	{ "set", 1, 1, fn_set },
	{ "unset", 1, 1, fn_unset },
	{ "default", 2, 2, fn_default },
	{ "contains", 2, 2, fn_contains },
	{ "concat", 1, 255, fn_concat },
	{ "ns", 1, 1, fn_ns },
	{ "bytes", 1, 1, fn_bytes },
	{ "pct", 1, 1, fn_pct },
	{ "basename", 1, 1, fn_basename },
};

static const size_t nfuncs = sizeof(funcs) / sizeof(funcs[0]);

/* ---- lexer ----------------------------------------------------------- */

enum tok {
	T_END, T_NUM, T_STR, T_NAME, T_LP, T_RP, T_COMMA,
	T_ADD, T_SUB, T_MUL, T_DIV, T_LT, T_LE, T_GT, T_GE, T_EQ, T_NE,
	T_AND, T_OR, T_NOT, T_ASSIGN, T_RBRACE,
};

struct lexer {
	const char *p;		/* the next character to read */
	const char *start;	/* where the current token starts */
	enum tok t;
	double num;		/* T_NUM */
	const char *s;		/* T_NAME: in the source; T_STR: unescaped */
	size_t len;
	struct pool **pool;
	char *err;
	size_t errlen;
	bool failed;
	int nest;		/* parentheses, calls, unary operators open */
};

static void *lex_error(struct lexer *lx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Keeps the first error: later ones are consequences of it. */
static void *lex_error(struct lexer *lx, const char *fmt, ...)
{
	va_list ap;

	if (!lx->failed) {
		va_start(ap, fmt);
		vsnprintf(lx->err, lx->errlen, fmt, ap);
		va_end(ap);
		lx->failed = true;
	}
	lx->t = T_END;	/* every parse level unwinds from here */
	return NULL;
}

static void *lex_nomem(struct lexer *lx)
{
	return lex_error(lx, "out of memory");
}

static bool is_name_start(int ch)
{
	return isalpha(ch) || ch == '_' || ch == '@';
}

static bool is_name_char(int ch)
{
	return isalnum(ch) || ch == '_' || ch == '.';
}

static void lex_number(struct lexer *lx)
{
	static const struct {
		char sfx[3];
		double mul;
	} sfx[] = {
		{ "Ki", 1024.0 }, { "Mi", 1048576.0 },
		{ "Gi", 1073741824.0 }, { "Ti", 1099511627776.0 },
	};
	char *end;
	size_t i;

	lx->num = strtod(lx->p, &end);
	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if (!strncmp(end, sfx[i].sfx, 2) && !is_name_char(end[2])) {
			lx->num *= sfx[i].mul;
			end += 2;
			break;
		}
	}
	if (end == lx->p || is_name_char(*end) || !isfinite(lx->num)) {
		const char *q = lx->p;

		while (is_name_char(*q))
			q++;
		lex_error(lx, "bad number '%.*s'", (int)(q - lx->p), lx->p);
		return;
	}
	lx->p = end;
	lx->t = T_NUM;
}

/* "..." or '...' with \\, \" and \' escapes, unescaped into the pool. */
static void lex_string(struct lexer *lx)
{
	char q = *lx->p++;
	const char *s = lx->p;
	char *d;
	size_t n = 0;

	while (*s && *s != q)
		s += (*s == '\\' && s[1]) ? 2 : 1;
	if (*s != q) {
		lex_error(lx, "unterminated string");
		return;
	}
	d = pool_alloc(lx->pool, (size_t)(s - lx->p) + 1);
	if (!d) {
		lex_nomem(lx);
		return;
	}
	for (; lx->p < s; lx->p++) {
		if (*lx->p == '\\') {
			lx->p++;
			if (*lx->p != '\\' && *lx->p != '"' && *lx->p != '\'') {
				lex_error(lx, "unknown escape '\\%c' in string",
					  *lx->p);
				return;
			}
		}
		d[n++] = *lx->p;
	}
	lx->p++;		/* the closing quote */
	lx->s = d;
	lx->len = n;
	lx->t = T_STR;
}

static void lex_name(struct lexer *lx)
{
	static const struct {
		const char *word;
		enum tok t;
	} words[] = { { "and", T_AND }, { "or", T_OR }, { "not", T_NOT } };
	const char *s = lx->p;
	size_t i, n;

	s++;
	while (is_name_char(*s))
		s++;
	n = (size_t)(s - lx->p);
	lx->s = lx->p;
	lx->len = n;
	lx->p = s;
	lx->t = T_NAME;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].word) == n && !memcmp(words[i].word, lx->s, n))
			lx->t = words[i].t;
}

/* Two-character operators first, so "<=" is not "<" then "=". */
static bool lex_op(struct lexer *lx)
{
	static const struct {
		const char *op;
		enum tok t;
	} ops[] = {
		{ "<=", T_LE }, { ">=", T_GE }, { "==", T_EQ }, { "!=", T_NE },
		{ "<", T_LT }, { ">", T_GT }, { "=", T_ASSIGN }, { "+", T_ADD },
		{ "-", T_SUB }, { "*", T_MUL }, { "/", T_DIV }, { "(", T_LP },
		{ ")", T_RP }, { ",", T_COMMA }, { "}", T_RBRACE },
	};
	size_t i, n;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		n = strlen(ops[i].op);
		if (!strncmp(lx->p, ops[i].op, n)) {
			lx->t = ops[i].t;
			lx->p += n;
			return true;
		}
	}
	return false;
}

static void lex_next(struct lexer *lx)
{
	const char *p;

	if (lx->failed)
		return;
	while (*lx->p == ' ' || *lx->p == '\t')
		lx->p++;
	lx->start = p = lx->p;
	if (!*p || *p == '#') {
		lx->t = T_END;	/* a comment ends the line */
	} else if (isdigit((unsigned char)*p) ||
		   (*p == '.' && isdigit((unsigned char)p[1]))) {
		lex_number(lx);
	} else if (*p == '"' || *p == '\'') {
		lex_string(lx);
	} else if (is_name_start((unsigned char)*p)) {
		lex_name(lx);
	} else if (!lex_op(lx)) {
		lex_error(lx, "unexpected '%c'", *p);
	}
}

/* The current token as an error message shows it. */
static int tok_width(const struct lexer *lx)
{
	return lx->t == T_END ? 0 : (int)(lx->p - lx->start);
}

static void *unexpected(struct lexer *lx, const char *wanted)
{
	if (lx->t == T_END)
		return lex_error(lx, "%s, found the end of the line", wanted);
	return lex_error(lx, "%s, found '%.*s'", wanted, tok_width(lx),
			 lx->start);
}

/* ---- parser ---------------------------------------------------------- */

static struct expr *new_node(struct lexer *lx, enum expr_op op,
			     struct expr *a, struct expr *b)
{
	struct expr *e;
	int depth = 0;

	if (a)
		depth = a->depth;
	if (b && b->depth > depth)
		depth = b->depth;
	if (depth >= MAX_DEPTH)
		return lex_error(lx, "expression deeper than %d levels", MAX_DEPTH);
	e = pool_alloc(lx->pool, sizeof(*e));
	if (!e)
		return lex_nomem(lx);
	e->op = op;
	e->depth = depth + 1;
	e->a = a;
	e->b = b;
	return e;
}

/* Bounds the parser's own recursion, before any node exists. */
static bool nest_enter(struct lexer *lx)
{
	if (++lx->nest <= MAX_DEPTH)
		return true;
	lex_error(lx, "expression deeper than %d levels", MAX_DEPTH);
	return false;
}

static struct expr *parse_expr(struct lexer *lx);

static struct expr *parse_call(struct lexer *lx, const char *name, size_t len)
{
	struct expr *e, **tail;
	size_t i, n = 0;

	for (i = 0; i < nfuncs; i++)
		if (strlen(funcs[i].name) == len && !memcmp(funcs[i].name, name, len))
			break;
	if (i == nfuncs)
		return lex_error(lx, "unknown function '%.*s'", (int)len, name);
	e = new_node(lx, E_CALL, NULL, NULL);
	if (!e || !nest_enter(lx))
		return NULL;
	e->id = (int)i;
	tail = &e->a;
	lex_next(lx);		/* past '(' */
	while (lx->t != T_RP) {
		if (n && lx->t != T_COMMA)
			return unexpected(lx, "expected ',' or ')'");
		if (n)
			lex_next(lx);
		*tail = parse_expr(lx);
		if (!*tail)
			return NULL;
		if ((*tail)->depth >= MAX_DEPTH)
			return lex_error(lx, "expression deeper than %d levels",
					 MAX_DEPTH);
		if ((*tail)->depth >= e->depth)
			e->depth = (*tail)->depth + 1;
		tail = &(*tail)->next;
		n++;
	}
	lx->nest--;
	lex_next(lx);
	if (n < funcs[i].min || n > funcs[i].max) {
		if (funcs[i].min == funcs[i].max)
			return lex_error(lx, "%s() takes %u argument%s, not %zu",
					 funcs[i].name, funcs[i].min,
					 funcs[i].min == 1 ? "" : "s", n);
		return lex_error(lx, "%s() takes at least %u argument%s",
				 funcs[i].name, funcs[i].min,
				 funcs[i].min == 1 ? "" : "s");
	}
	return e;
}

/* Checks a name's shape: "a.b" is a key, "a." and "a..b" are typos. */
static bool name_ok(const char *s, size_t n)
{
	size_t i;

	if (!n || s[n - 1] == '.')
		return false;
	for (i = 1; i < n; i++)
		if (s[i] == '.' && s[i - 1] == '.')
			return false;
	return true;
}

static struct expr *key_node(struct lexer *lx, const char *s, size_t n)
{
	struct expr *e = new_node(lx, E_KEY, NULL, NULL);

	if (!e)
		return NULL;
	e->str = pool_strndup(lx->pool, s, n);
	return e->str ? e : lex_nomem(lx);
}

/* "@env.NAME", "@machine.FACT", "@config.KEY". */
static struct expr *parse_at_name(struct lexer *lx, const char *s, size_t n)
{
	size_t i;

	if (n > 5 && !memcmp(s, "@env.", 5)) {
		if (memchr(s + 5, '.', n - 5))
			return lex_error(lx, "bad environment variable '%.*s'",
					 (int)n, s);
		return key_node(lx, s, n);
	}
	if (n > 9 && !memcmp(s, "@machine.", 9)) {
		for (i = 0; i < sizeof(machine_facts) / sizeof(machine_facts[0]); i++)
			if (strlen(machine_facts[i]) == n - 9 &&
			    !memcmp(machine_facts[i], s + 9, n - 9))
				return key_node(lx, s, n);
		return lex_error(lx, "unknown machine fact '%.*s' (known: "
				 "@machine.cores, @machine.mem_bytes)", (int)n, s);
	}
	if (n > 8 && !memcmp(s, "@config.", 8))
		return key_node(lx, s + 8, n - 8);
	return lex_error(lx, "unknown name '%.*s' (@env.NAME, @machine.FACT "
			 "or @config.KEY)", (int)n, s);
}

static struct expr *parse_name(struct lexer *lx, const char *s, size_t n)
{
	struct expr *e;
	int i;

	if (!name_ok(s, n))
		return lex_error(lx, "bad name '%.*s'", (int)n, s);
	if (*s == '@')
		return parse_at_name(lx, s, n);
	for (i = 0; i < F_N; i++) {
		if (strlen(field_names[i]) == n && !memcmp(field_names[i], s, n)) {
			e = new_node(lx, E_FIELD, NULL, NULL);
			if (e)
				e->id = i;
			return e;
		}
	}
	return key_node(lx, s, n);
}

static struct expr *parse_primary(struct lexer *lx)
{
	struct expr *e;
	const char *s;
	size_t n;

	switch (lx->t) {
	case T_NUM:
		e = new_node(lx, E_NUM, NULL, NULL);
		if (e)
			e->num = lx->num;
		lex_next(lx);
		return e;
	case T_STR:
		e = new_node(lx, E_STR, NULL, NULL);
		if (e)
			e->str = lx->s;
		lex_next(lx);
		return e;
	case T_LP:
		if (!nest_enter(lx))
			return NULL;
		lex_next(lx);
		e = parse_expr(lx);
		if (!e)
			return NULL;
		if (lx->t != T_RP)
			return unexpected(lx, "expected ')'");
		lx->nest--;
		lex_next(lx);
		return e;
	case T_NAME:
		s = lx->s;
		n = lx->len;
		lex_next(lx);
		if (lx->t == T_LP)
			return parse_call(lx, s, n);
		return parse_name(lx, s, n);
	default:
		return unexpected(lx, "expected a value");
	}
}

static struct expr *parse_unary(struct lexer *lx)
{
	struct expr *a;

	if (lx->t != T_SUB)
		return parse_primary(lx);
	if (!nest_enter(lx))
		return NULL;
	lex_next(lx);
	a = parse_unary(lx);
	lx->nest--;
	return a ? new_node(lx, E_NEG, a, NULL) : NULL;
}

/* One precedence level of left-associative binary operators. */
static struct expr *parse_binary(struct lexer *lx, int level);

static const struct {
	enum tok t;
	enum expr_op op;
	int level;
} binops[] = {
	{ T_OR, E_OR, 0 }, { T_AND, E_AND, 1 },
	/* level 2 is "not", level 3 comparisons (parse_cmp) */
	{ T_ADD, E_ADD, 4 }, { T_SUB, E_SUB, 4 },
	{ T_MUL, E_MUL, 5 }, { T_DIV, E_DIV, 5 },
};

static const struct {
	enum tok t;
	enum expr_op op;
} cmpops[] = {
	{ T_LT, E_LT }, { T_LE, E_LE }, { T_GT, E_GT },
	{ T_GE, E_GE }, { T_EQ, E_EQ }, { T_NE, E_NE },
};

static int cmp_op(enum tok t)
{
	size_t i;

	for (i = 0; i < sizeof(cmpops) / sizeof(cmpops[0]); i++)
		if (cmpops[i].t == t)
			return (int)cmpops[i].op;
	return -1;
}

static struct expr *parse_cmp(struct lexer *lx)
{
	struct expr *a, *b;
	int op;

	a = parse_binary(lx, 4);
	if (!a)
		return NULL;
	if (lx->t == T_ASSIGN)
		return lex_error(lx, "'=' in an expression: compare with '=='");
	op = cmp_op(lx->t);
	if (op < 0)
		return a;
	lex_next(lx);
	b = parse_binary(lx, 4);
	if (!b)
		return NULL;
	if (cmp_op(lx->t) >= 0)
		return lex_error(lx, "comparisons do not chain: join them "
				 "with 'and'");
	return new_node(lx, (enum expr_op)op, a, b);
}

static struct expr *parse_not(struct lexer *lx)
{
	struct expr *a;

	if (lx->t != T_NOT)
		return parse_cmp(lx);
	if (!nest_enter(lx))
		return NULL;
	lex_next(lx);
	a = parse_not(lx);
	lx->nest--;
	return a ? new_node(lx, E_NOT, a, NULL) : NULL;
}

static struct expr *parse_operand(struct lexer *lx, int level)
{
	if (level == 2)
		return parse_not(lx);
	if (level == 6)
		return parse_unary(lx);
	return parse_binary(lx, level);
}

static struct expr *parse_binary(struct lexer *lx, int level)
{
	struct expr *a, *b;
	size_t i;

	a = parse_operand(lx, level + 1);
	while (a) {
		for (i = 0; i < sizeof(binops) / sizeof(binops[0]); i++)
			if (binops[i].t == lx->t && binops[i].level == level)
				break;
		if (i == sizeof(binops) / sizeof(binops[0]))
			return a;
		lex_next(lx);
		b = parse_operand(lx, level + 1);
		if (!b)
			return NULL;
		a = new_node(lx, binops[i].op, a, b);
	}
	return NULL;
}

static struct expr *parse_expr(struct lexer *lx)
{
	return parse_binary(lx, 0);
}

static void lex_init(struct lexer *lx, const char *p, struct pool **pool,
		     char *err, size_t errlen)
{
	memset(lx, 0, sizeof(*lx));
	lx->p = p;
	lx->pool = pool;
	lx->err = err;
	lx->errlen = errlen;
}

struct expr *expr_parse(const char **p, struct pool **pool, char *err,
			size_t errlen)
{
	struct lexer lx;
	struct expr *e;

	lex_init(&lx, *p, pool, err, errlen);
	lex_next(&lx);
	e = parse_expr(&lx);
	if (e && lx.t != T_END && lx.t != T_RBRACE)
		e = unexpected(&lx, "expected an operator");
	if (lx.failed)
		return NULL;
	*p = lx.start;
	return e;
}

const char *expr_parse_key(const char **p, struct pool **pool, char *err,
			   size_t errlen)
{
	struct lexer lx;
	struct expr *e;

	lex_init(&lx, *p, pool, err, errlen);
	lex_next(&lx);
	if (lx.t != T_NAME)
		return unexpected(&lx, "expected a config key");
	e = parse_name(&lx, lx.s, lx.len);
	if (!e)
		return NULL;
	if (e->op == E_FIELD)
		return lex_error(&lx, "'%s' is the finding's or the fix's, "
				 "not a config key", field_names[e->id]);
	if (!strncmp(e->str, "@machine.", 9))
		return lex_error(&lx, "'%s' is a fact of the machine, not a "
				 "setting", e->str);
	*p = lx.p;
	return e->str;
}

char *expr_parse_string(const char **p, struct pool **pool, char *err,
			size_t errlen)
{
	struct lexer lx;

	lex_init(&lx, *p, pool, err, errlen);
	lex_next(&lx);
	if (lx.failed)
		return NULL;
	if (lx.t != T_STR)
		return unexpected(&lx, "expected a quoted string");
	*p = lx.p;
	return (char *)lx.s;
}

struct expr *expr_and(struct pool **pool, struct expr *a, struct expr *b)
{
	struct expr *e = pool_alloc(pool, sizeof(*e));

	if (e) {
		e->op = E_AND;
		e->a = a;
		e->b = b;
	}
	return e;
}

/* ---- templates ------------------------------------------------------- */

static struct expr *literal(struct pool **pool, const char *s, size_t n)
{
	struct expr *e = pool_alloc(pool, sizeof(*e));

	if (e) {
		e->op = E_STR;
		e->str = pool_strndup(pool, s, n);
		if (!e->str)
			return NULL;
	}
	return e;
}

int tmpl_parse(struct expr **t, const char *text, struct pool **pool,
	       char *err, size_t errlen)
{
	const char *p = text, *q;
	struct expr *e;

	while (*t)
		t = &(*t)->next;
	while (*p) {
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			e = literal(pool, p, 1);
			p += 2;
		} else if (*p == '{') {
			p++;
			e = expr_parse(&p, pool, err, errlen);
			if (!e)
				return -EINVAL;
			if (*p != '}') {
				snprintf(err, errlen, "'{' without '}' in text");
				return -EINVAL;
			}
			p++;
		} else if (*p == '}') {
			snprintf(err, errlen, "'}' without '{' in text "
				 "(write '}}' for a brace)");
			return -EINVAL;
		} else {
			q = p + strcspn(p, "{}");
			e = literal(pool, p, (size_t)(q - p));
			p = q;
		}
		if (!e) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		*t = e;
		t = &e->next;
	}
	return 0;
}

/* ---- evaluation ------------------------------------------------------ */

const char *expr_severity_name(enum severity s)
{
	switch (s) {
	case SEV_INFO:
		return "info";
	case SEV_WARNING:
		return "warning";
	case SEV_CRITICAL:
		return "critical";
	}
	return NULL;
}

/* Empty strings in a finding mean "not about one": unknown. */
static struct val field_str(const char *s)
{
	return *s ? str_val(s) : unknown;
}

static struct val eval_field(struct eval_ctx *c, enum field id)
{
	const struct finding *f = c->f;

	switch (id) {
	case F_VALUE:		return num_val(f->value);
	case F_REFERENCE:	return num_val(f->reference);
	case F_METRIC:		return field_str(f->metric);
	case F_MODEL:		return field_str(f->model);
	case F_STAGE:		return field_str(f->stage);
	case F_FUNCTION:	return field_str(f->function);
	case F_FILE:		return field_str(f->file);
	case F_LINE:		return f->line ? num_val(f->line) : unknown;
	case F_KIND:		return str_val(rules_kind_name(f->kind));
	case F_SEVERITY:	return str_val(expr_severity_name(f->severity));
	case F_TRANSIENT:	return num_val(f->transient);
	case F_START_S:		return num_val(f->start_s);
	case F_END_S:		return num_val(f->end_s);
	case F_KEY:		return str_val(c->key);
	case F_FROM:		return str_val(c->from);
	case F_TO:		return str_val(c->to);
	case F_N:		break;
	}
	return unknown;
}

static struct val eval_key(struct eval_ctx *c, const char *key)
{
	const char *s;

	if (!c->lookup)
		return unknown;
	s = c->lookup(c->arg, key);
	/* Copied at once: the lookup's buffer may serve the next call. */
	return s ? str_val(arena_dup(c, s, strlen(s))) : unknown;
}

static struct val eval_arith(enum expr_op op, struct val x, struct val y)
{
	double a, b;

	if (!val_number(x, &a) || !val_number(y, &b))
		return unknown;
	switch (op) {
	case E_ADD:
		return num_val(a + b);
	case E_SUB:
		return num_val(a - b);
	case E_MUL:
		return num_val(a * b);
	default:
		return b == 0 ? unknown : num_val(a / b);
	}
}

static bool eval_cmp(struct eval_ctx *c, enum expr_op op, struct val x,
		     struct val y)
{
	const char *sx, *sy;
	double a, b;

	if (x.t == V_UNKNOWN || y.t == V_UNKNOWN)
		return false;
	if (val_number(x, &a) && val_number(y, &b)) {
		switch (op) {
		case E_LT: return a < b;
		case E_LE: return a <= b;
		case E_GT: return a > b;
		case E_GE: return a >= b;
		case E_EQ: return a == b;
		default:   return a != b;
		}
	}
	/* Text has no order worth proposing a change on: only == and !=. */
	if (op != E_EQ && op != E_NE)
		return false;
	sx = val_text(c, x, NF_EXACT);
	sy = val_text(c, y, NF_EXACT);
	if (!sx || !sy)
		return false;
	return (strcmp(sx, sy) == 0) == (op == E_EQ);
}

static struct val eval(struct eval_ctx *c, const struct expr *e)
{
	switch (e->op) {
	case E_NUM:
		return num_val(e->num);
	case E_STR:
		return str_val(e->str);
	case E_KEY:
		return eval_key(c, e->str);
	case E_FIELD:
		return eval_field(c, (enum field)e->id);
	case E_CALL:
		return funcs[e->id].fn(c, e->a);
	case E_NEG:
		return eval_arith(E_SUB, num_val(0), eval(c, e->a));
	case E_NOT:
		return num_val(!truthy(eval(c, e->a)));
	case E_ADD:
	case E_SUB:
	case E_MUL:
	case E_DIV:
		return eval_arith(e->op, eval(c, e->a), eval(c, e->b));
	case E_AND:
		return num_val(truthy(eval(c, e->a)) && truthy(eval(c, e->b)));
	case E_OR:
		return num_val(truthy(eval(c, e->a)) || truthy(eval(c, e->b)));
	default:
		return num_val(eval_cmp(c, e->op, eval(c, e->a), eval(c, e->b)));
	}
}

bool expr_eval_true(struct eval_ctx *c, const struct expr *e)
{
	return truthy(eval(c, e));
}

int expr_eval_value(struct eval_ctx *c, const struct expr *e, char *out,
		    size_t outlen)
{
	const char *s = val_text(c, eval(c, e), NF_EXACT);

	if (!s)
		return -ENOENT;
	if (strlen(s) >= outlen)
		return -ENOSPC;
	strcpy(out, s);
	return 0;
}

/* Cuts BUF (LEN bytes of text) to fit OUTLEN, on a character boundary. */
static void copy_cut(char *out, size_t outlen, const char *buf, size_t len)
{
	size_t cut;

	if (len < outlen) {
		memcpy(out, buf, len + 1);
		return;
	}
	cut = outlen > 4 ? outlen - 4 : 0;
	while (cut > 0 && ((unsigned char)buf[cut] & 0xc0) == 0x80)
		cut--;
	memcpy(out, buf, cut);
	snprintf(out + cut, outlen - cut, "...");
}

int tmpl_expand(struct eval_ctx *c, const struct expr *t, char *out,
		size_t outlen)
{
	char buf[1024];
	const char *s;
	size_t len = 0, n;

	buf[0] = '\0';
	for (; t; t = t->next) {
		s = val_text(c, eval(c, t), NF_TEXT);
		if (!s)
			return -ENOENT;
		n = strlen(s);
		if (n > sizeof(buf) - 1 - len)
			n = sizeof(buf) - 1 - len;
		memcpy(buf + len, s, n);
		len += n;
		buf[len] = '\0';
	}
	copy_cut(out, outlen, buf, len);
	return 0;
}
