/*
 * unit.h — a tiny test framework for the C unit tests: TAP-like lines and
 * a closing "NAME: N passed, M failed" line. A unit test #includes the .c
 * files it tests (h2o's t/00unit style).
 */
#ifndef UNIT_H
#define UNIT_H
#include <stdio.h>
#include <string.h>

static int unit_pass, unit_fail;
#define CHECK(cond, ...)                                                                                   \
	do {                                                                                               \
		if (cond) {                                                                                \
			unit_pass++;                                                                       \
		} else {                                                                                   \
			unit_fail++;                                                                       \
			printf("not ok - %s:%d: ", __FILE__, __LINE__);                                    \
			printf(__VA_ARGS__);                                                               \
			printf("\n");                                                                      \
		}                                                                                          \
	} while (0)
#define UNIT_DONE(name)                                                                                    \
	do {                                                                                               \
		printf("%s: %d passed, %d failed\n", name, unit_pass, unit_fail);                          \
		return unit_fail ? 1 : 0;                                                                  \
	} while (0)
#endif
