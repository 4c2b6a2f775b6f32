/* SPDX-License-Identifier: MIT */
/*
 * Finding loupe's USDT probes: in one ELF file, and in every object a
 * process has mapped executable (the program and its shared libraries).
 */
#ifndef LOUPE_USDT_SCAN_H
#define LOUPE_USDT_SCAN_H

#include <stddef.h>
#include <sys/types.h>

#define USDT_PROVIDER "loupe"

/* Number of "loupe" provider probes in the ELF file PATH, or -errno
 * (-ENOEXEC when it is not an ELF file). */
int usdt_count_probes(const char *path);

struct mapped_object {
	char *path;
	dev_t dev;
	ino_t ino;
};

/*
 * The distinct file-backed executable mappings of PID (deleted files are
 * skipped).  On success returns 0 and an array the caller frees with
 * usdt_objects_free(); -errno otherwise (-ESRCH when PID is gone).
 */
int usdt_mapped_objects(pid_t pid, struct mapped_object **out, size_t *n);
void usdt_objects_free(struct mapped_object *v, size_t n);

#endif
