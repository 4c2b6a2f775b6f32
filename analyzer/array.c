// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/array.h"

int array_grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *nv;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	nv = realloc(*v, ncap * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

int names_set(char ***v, size_t *n, unsigned int id, const char *str)
{
	if (id >= 1u << 20)
		return 0;
	if (id >= *n) {
		char **nv = realloc(*v, (id + 1) * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		memset(nv + *n, 0, (id + 1 - *n) * sizeof(*nv));
		*v = nv;
		*n = id + 1;
	}
	free((*v)[id]);
	(*v)[id] = strdup(str);
	return (*v)[id] ? 0 : -ENOMEM;
}
