/* SPDX-License-Identifier: MIT */
/* Minimal JSON output helpers (strings escaped per RFC 8259). */
#ifndef LOUPE_JSON_H
#define LOUPE_JSON_H

#include <stdio.h>

/* Writes S as a quoted JSON string; NULL writes null. */
void json_str(FILE *f, const char *s);

#endif
