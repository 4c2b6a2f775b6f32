// SPDX-License-Identifier: MIT
/* hot.c built without frame pointers (see the Makefile's nofp rule). */
#include "../hot.c"
