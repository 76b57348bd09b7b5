/*
 * unit_hex.h — byte streams written as hex in unit test tables: blanks
 * are ignored and "K" stands for a zero WebSocket mask key "00000000" (so
 * masked payloads stay readable).
 */
#ifndef UNIT_HEX_H
#define UNIT_HEX_H
#include <ctype.h>
#include <stdio.h>

/* hex h into out (cap bytes); returns the length */
static size_t unhex(const char *h, unsigned char *out, size_t cap)
{
	size_t n = 0;
	while (*h) {
		unsigned v;
		if (isspace((unsigned char)*h)) {
			h++;
			continue;
		}
		if (*h == 'K') {
			for (int i = 0; i < 4 && n < cap; i++)
				out[n++] = 0;
			h++;
			continue;
		}
		if (sscanf(h, "%2x", &v) != 1 || n >= cap)
			return n;
		out[n++] = (unsigned char)v;
		h += 2;
	}
	return n;
}
#endif
