/* SPDX-License-Identifier: MIT */
/* Minimal TAP output for the unit tests: one line per check, a plan, a tally. */
#ifndef NTB_TAP_H
#define NTB_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;

#define CHECK(cond, ...)						\
	do {								\
		tap_n++;						\
		if (cond) {						\
			printf("ok %d - ", tap_n);			\
		} else {						\
			tap_failed++;					\
			printf("not ok %d - ", tap_n);			\
		}							\
		printf(__VA_ARGS__);					\
		printf("\n");						\
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	printf("# %d passed, %d failed\n", tap_n - tap_failed, tap_failed);
	return tap_failed ? 1 : 0;
}

#endif
