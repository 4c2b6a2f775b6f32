/* SPDX-License-Identifier: MIT */
/* Growable arrays: the one doubling helper the modules share. */
#ifndef LOUPE_ARRAY_H
#define LOUPE_ARRAY_H

#include <stddef.h>

/*
 * Makes *V (of *CAP elements of ELEM bytes) hold at least NEED elements,
 * doubling from 16.  Returns 0 or -ENOMEM (*V unchanged).
 */
int array_grow(void **v, size_t *cap, size_t need, size_t elem);

/*
 * A trace's name table, indexed by id: sets (*V)[ID] to a copy of STR,
 * growing *V (of *N entries, new ones NULL).  Ids are small and dense; an
 * absurd one (>= 2^20) is ignored.  Returns 0 or -ENOMEM.
 */
int names_set(char ***v, size_t *n, unsigned int id, const char *str);

#endif
