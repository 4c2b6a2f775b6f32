/* SPDX-License-Identifier: MIT */
/*
 * Fix proposals from rules kept as data: *.rules files (docs/rules.md) turn
 * a finding, the workload's config, its environment and the machine's facts
 * into concrete changes ("workers: 16 -> 2", why, expected effect,
 * confidence) or into a code site to change (a leak, a hot function).
 *
 * A ruleset is immutable once parsed: ruleset_apply() may run on one set
 * from several threads at once.  Strings handed in are copied.
 */
#ifndef LOUPE_RULES_H
#define LOUPE_RULES_H

#include <stddef.h>

#include "analyzer/analyze.h"

struct ruleset;

/*
 * Looks up a config value (announced config, --config overrides,
 * "@env.NAME" for the target's environment, "@machine.cores",
 * "@machine.mem_bytes"); NULL when unknown.  The string needs to stay valid
 * only until the next call: the rules engine copies it at once.
 */
typedef const char *(*rules_lookup_fn)(void *arg, const char *key);

/*
 * Parses TEXT (NAME is used in errors and in fix.rule as "NAME:LINE").
 * NULL on a syntax error, with "NAME:LINE: what is wrong" in ERR (errno
 * EINVAL), or on -ENOMEM (errno ENOMEM).  Free with ruleset_free().
 */
struct ruleset *ruleset_parse(const char *text, const char *name, char *err,
			      size_t errlen);

/*
 * Loads every *.rules file of DIR in name order into one set.  Errors name
 * the file by its path ("DIR/x.rules:12: ..."); fix.rule names it by its
 * base name ("x.rules:12").  Rule names must be unique across the set.  A
 * directory without rule files gives an empty set.  NULL with errno and a
 * one-line message in ERR when DIR or a file cannot be read or parsed.
 */
struct ruleset *ruleset_load_dir(const char *dir, char *err, size_t errlen);

/*
 * Appends to F->fixes (at most 4 in all) the fixes of every rule that
 * matches F, best confidence first (ties in rule order); returns how many
 * were added.  A rule whose change, condition or text needs a value LOOKUP
 * does not know proposes nothing; so does a change to the current value.
 * A fix equal to one F already has is not added twice.  LOOKUP may be NULL
 * (nothing known).
 */
size_t ruleset_apply(const struct ruleset *rs, struct finding *f,
		     rules_lookup_fn lookup, void *arg);

size_t ruleset_count(const struct ruleset *rs);

/* ruleset_free(NULL) is a no-op. */
void ruleset_free(struct ruleset *rs);

/*
 * The directory loupe reads rules from by default: $LOUPE_RULES_DIR, else
 * <dir of the loupe binary>/../share/loupe/rules when it exists (installed),
 * else <dir of the loupe binary>/../analyzer/rules (build tree: build/loupe).
 * Returns a static buffer, overwritten by the next call (not thread-safe).
 */
const char *rules_default_dir(void);

/* The stable name of K as rule files spell it ("memory_leak"), or NULL. */
const char *rules_kind_name(enum finding_kind k);

#endif
