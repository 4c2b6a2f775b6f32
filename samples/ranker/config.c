/* SPDX-License-Identifier: MIT */
/*
 * Config files: "key = value" lines, '#' starts a comment.
 *
 * A file is the whole truth: keys it does not set take their defaults, so
 * deleting a fault_* line and sending SIGHUP switches the fault off.  A
 * file with a bad line is refused whole (the running config stays), since
 * half-applying an operator's edit is worse than applying none of it.
 * Unknown keys only warn: a typo must not take a server down.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loupe/probe.h>

#include "ranker.h"

enum key_type {
	KEY_INT,
	KEY_LLONG,
	KEY_DOUBLE,
	KEY_STAGE,
};

struct key_def {
	const char *name;	/* static: handed to LOUPE_CONFIG */
	enum key_type type;
	size_t offset;		/* in struct config */
	double min, max;
};

#define KEY(field, type, lo, hi) { #field, type, offsetof(struct config, field), lo, hi }

static const struct key_def keys[] = {
	KEY(workers, KEY_INT, 1, 1024),
	KEY(queue_depth, KEY_INT, 1, 1000000),
	KEY(model_mix, KEY_DOUBLE, 0, 1),
	KEY(batch_min, KEY_INT, 1, 65536),
	KEY(batch_max, KEY_INT, 1, 65536),
	KEY(slo_p99_ms, KEY_INT, 0, 3600000),
	KEY(fault_leak_bytes, KEY_LLONG, 0, 1 << 30),
	KEY(fault_slow_stage, KEY_STAGE, 0, 0),
	KEY(fault_slow_pct, KEY_INT, 0, 100000),
	KEY(fault_lock_us, KEY_INT, 0, 1000000),
	KEY(fault_alloc_churn, KEY_INT, 0, 100000),
	KEY(fault_stall_period_ms, KEY_INT, 0, 3600000),
	KEY(fault_stall_ms, KEY_INT, 0, 3600000),
	KEY(fault_page_fault_kb, KEY_INT, 0, 4194304),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void config_init(struct config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = cpus > 0 ? (int)(cpus < 1024 ? cpus : 1024) : 1;
	cfg->queue_depth = 128;
	cfg->model_mix = 0.7;
	cfg->batch_min = 64;
	cfg->batch_max = 256;
	cfg->slo_p99_ms = 25;
	cfg->fault_slow_stage = -1;
}

static const struct key_def *key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* Parse value into the field of cfg that def names; 0 or -EINVAL. */
static int key_parse(const struct key_def *def, const char *value, struct config *cfg)
{
	void *field = (char *)cfg + def->offset;
	char *end;

	errno = 0;
	switch (def->type) {
	case KEY_INT:
	case KEY_LLONG: {
		long long v = strtoll(value, &end, 10);

		if (errno || end == value || *end || v < def->min || v > def->max)
			return -EINVAL;
		if (def->type == KEY_INT)
			*(int *)field = (int)v;
		else
			*(long long *)field = v;
		return 0;
	}
	case KEY_DOUBLE: {
		double v = strtod(value, &end);

		if (errno || end == value || *end || !(v >= def->min && v <= def->max))
			return -EINVAL;
		*(double *)field = v;
		return 0;
	}
	case KEY_STAGE: {
		int s = stage_lookup(value);

		if (!strcmp(value, "none") || !*value)
			s = -1;
		else if (s < 0 || s == STAGE_QUEUE_WAIT)
			return -EINVAL;	/* queue_wait is waiting, not work */
		*(int *)field = s;
		return 0;
	}
	}
	return -EINVAL;
}

/* What a key accepts, for error messages. */
static void key_expect(const struct key_def *def, char *buf, size_t len)
{
	switch (def->type) {
	case KEY_INT:
	case KEY_LLONG:
		snprintf(buf, len, "an integer from %.0f to %.0f", def->min, def->max);
		break;
	case KEY_DOUBLE:
		snprintf(buf, len, "a number from %g to %g", def->min, def->max);
		break;
	case KEY_STAGE:
		snprintf(buf, len, "embedding, bottom_mlp, interaction, top_mlp or none");
		break;
	}
}

static void key_format(const struct key_def *def, const struct config *cfg, char *buf,
		       size_t len)
{
	const void *field = (const char *)cfg + def->offset;

	switch (def->type) {
	case KEY_INT:
		snprintf(buf, len, "%d", *(const int *)field);
		break;
	case KEY_LLONG:
		snprintf(buf, len, "%lld", *(const long long *)field);
		break;
	case KEY_DOUBLE:
		snprintf(buf, len, "%g", *(const double *)field);
		break;
	case KEY_STAGE: {
		int s = *(const int *)field;

		snprintf(buf, len, "%s", s >= 0 ? stage_names[s] : "none");
		break;
	}
	}
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
			   end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* Checks between keys, once the whole file is read. */
static int config_check(const struct config *cfg, const char *path)
{
	if (cfg->batch_min > cfg->batch_max) {
		fprintf(stderr, "ranker: config %s: batch_min %d is above batch_max %d\n", path,
			cfg->batch_min, cfg->batch_max);
		return -EINVAL;
	}
	if (cfg->fault_stall_ms > 0 && cfg->fault_stall_period_ms > 0 &&
	    cfg->fault_stall_ms >= cfg->fault_stall_period_ms) {
		fprintf(stderr, "ranker: config %s: fault_stall_ms %d must be below fault_stall_period_ms %d\n",
			path, cfg->fault_stall_ms, cfg->fault_stall_period_ms);
		return -EINVAL;
	}
	return 0;
}

int config_load(const char *path, struct config *cfg, int *file_workers)
{
	struct config tmp;
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, fw = 0, ret = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		fprintf(stderr, "ranker: config %s: %s\n", path, strerror(errno));
		return ret;
	}
	config_init(&tmp);
	while (getline(&line, &cap, f) >= 0) {
		const struct key_def *def;
		char *key, *value, *p;

		lineno++;
		p = strchr(line, '#');
		if (p)
			*p = '\0';
		key = trim(line);
		if (!*key)
			continue;
		p = strchr(key, '=');
		if (!p) {
			fprintf(stderr, "ranker: config %s:%d: expected 'key = value'\n", path, lineno);
			ret = -EINVAL;
			goto cleanup;
		}
		*p = '\0';
		key = trim(key);
		value = trim(p + 1);
		def = key_find(key);
		if (!def) {
			fprintf(stderr, "ranker: config %s:%d: warning: unknown key '%s', ignored\n",
				path, lineno, key);
			continue;
		}
		if (key_parse(def, value, &tmp)) {
			char want[96];

			key_expect(def, want, sizeof(want));
			fprintf(stderr, "ranker: config %s:%d: %s: invalid value '%s' (want %s)\n",
				path, lineno, key, value, want);
			ret = -EINVAL;
			goto cleanup;
		}
		if (def->offset == offsetof(struct config, workers))
			fw = tmp.workers;
	}
	if (ferror(f)) {
		ret = -EIO;
		fprintf(stderr, "ranker: config %s: read error\n", path);
		goto cleanup;
	}
	ret = config_check(&tmp, path);
	if (!ret) {
		*cfg = tmp;
		*file_workers = fw;
	}

cleanup:
	free(line);
	fclose(f);
	return ret;
}

void config_announce(const struct config *cfg, const char *abs_path)
{
	char value[64];

	/* Every key, defaults included: a profiler must not have to know our
	 * defaults to tell what the running config is. */
	for (size_t i = 0; i < NKEYS; i++) {
		key_format(&keys[i], cfg, value, sizeof(value));
		LOUPE_CONFIG(keys[i].name, value);
	}
	if (abs_path)
		LOUPE_CONFIG("config_file", abs_path);
}

void config_describe(const struct config *cfg, char *buf, size_t len)
{
	struct config def;
	size_t n = 0;

	config_init(&def);
	buf[0] = '\0';
	/* Only what differs from the defaults (workers always): a start-up
	 * line that says "fault_lock_us=200" is hard to miss. */
	for (size_t i = 0; i < NKEYS && n < len; i++) {
		char a[64], b[64];

		key_format(&keys[i], cfg, a, sizeof(a));
		key_format(&keys[i], &def, b, sizeof(b));
		if (i && !strcmp(a, b))
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s=%s", n ? " " : "", keys[i].name, a);
	}
}
