/*
 * unit_ws.c — table-driven tests of src/core/ws.c, the RFC 6455 frame reader
 * sio's event loop runs on every byte a WebSocket client sends.
 *
 * Each row is a client byte stream (hex, spaces ignored; "K" stands for a
 * zero mask key "00000000" so payloads stay readable) and the events it
 * must produce, in order, as text: MSG1:payload (text), MSG2:payload
 * (binary), PING:payload, PONG:payload, CLOSE:code, ERR:code, NEED (the
 * stream ends inside a frame). Every row is run twice: all bytes at once,
 * and one byte at a time (the loop's reads can split a frame anywhere).
 */
#include "../src/core/ws.c"
#include "../src/core/dm.c"
#include "unit.h"
#include "unit_hex.h"

#include <ctype.h>
#include <stdio.h>

typedef struct row {
	const char *name;
	const char *hex;
	size_t max_frame, max_msg;
	const char *want;
} row_t;

#define BIG 1000000

static const row_t rows[] = {
	{"text, one frame", "81 85 K 68656c6c6f", BIG, BIG, "MSG1:hello"},
	{"text, empty", "81 80 K", BIG, BIG, "MSG1:"},
	{"binary", "82 83 K 616263", BIG, BIG, "MSG2:abc"},
	{"masked with a real key", "81 85 37fa213d 7f9f4d5158", BIG, BIG, "MSG1:Hello"},
	{"two frames in one read", "81 81 K 61 81 81 K 62", BIG, BIG, "MSG1:a|MSG1:b"},
	{"fragmented text", "01 83 K 48656c 80 82 K 6c6f", BIG, BIG, "MSG1:Hello"},
	{"three fragments", "01 81 K 61 00 81 K 62 80 81 K 63", BIG, BIG, "MSG1:abc"},
	{"ping between fragments", "01 81 K 61 89 82 K 7070 80 81 K 62", BIG, BIG, "PING:pp|MSG1:ab"},
	{"ping", "89 84 K 70696e67", BIG, BIG, "PING:ping"},
	{"pong", "8a 80 K", BIG, BIG, "PONG:"},
	{"close without code", "88 80 K", BIG, BIG, "CLOSE:1005"},
	{"close 1000", "88 82 K 03e8", BIG, BIG, "CLOSE:1000"},
	{"close 1001 with reason", "88 84 K 03e9 6279", BIG, BIG, "CLOSE:1001"},
	{"close 4000", "88 82 K 0fa0", BIG, BIG, "CLOSE:4000"},
	{"close code 1005 is not sendable", "88 82 K 03ed", BIG, BIG, "ERR:1002"},
	{"close code 999", "88 82 K 03e7", BIG, BIG, "ERR:1002"},
	{"close code 5000", "88 82 K 1388", BIG, BIG, "ERR:1002"},
	{"close payload of 1 byte", "88 81 K 03", BIG, BIG, "ERR:1002"},
	{"close reason not UTF-8", "88 83 K 03e8 ff", BIG, BIG, "ERR:1007"},
	{"16-bit length", "81 fe 007e K "
			  "616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
			  "616161616161616161616161616161616161616161616161616161616161616161616161616161616161"
			  "616161616161616161616161616161616161616161616161616161616161616161616161616161616161",
	 BIG, BIG, "MSG1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	{"64-bit length, small value", "82 ff 0000000000000002 K 6162", BIG, BIG, "MSG2:ab"},
	{"64-bit length with top bit", "82 ff 8000000000000002 K 6162", BIG, BIG, "ERR:1002"},
	{"unmasked", "81 05 68656c6c6f", BIG, BIG, "ERR:1002"},
	{"RSV1", "c1 81 K 61", BIG, BIG, "ERR:1002"},
	{"RSV3", "91 81 K 61", BIG, BIG, "ERR:1002"},
	{"opcode 3", "83 81 K 61", BIG, BIG, "ERR:1002"},
	{"opcode 0xb", "8b 80 K", BIG, BIG, "ERR:1002"},
	{"fragmented ping", "09 80 K", BIG, BIG, "ERR:1002"},
	{"ping of 126 bytes", "89 fe 007e K", BIG, BIG, "ERR:1002"},
	{"continuation first", "80 81 K 61", BIG, BIG, "ERR:1002"},
	{"text inside fragments", "01 81 K 61 81 81 K 62", BIG, BIG, "ERR:1002"},
	{"text not UTF-8", "81 82 K c328", BIG, BIG, "ERR:1007"},
	{"overlong UTF-8", "81 82 K c0af", BIG, BIG, "ERR:1007"},
	{"surrogate in UTF-8", "81 83 K eda080", BIG, BIG, "ERR:1007"},
	{"binary need not be UTF-8", "82 82 K c328", BIG, BIG, "MSG2:\xc3("},
	{"UTF-8 split across fragments", "01 81 K c3 80 81 K a9", BIG, BIG, "MSG1:\xc3\xa9"},
	{"fragments not UTF-8 in all", "01 81 K c3 80 81 K 28", BIG, BIG, "ERR:1007"},
	{"frame over max_frame", "81 85 K 68656c6c6f", 4, BIG, "ERR:1009"},
	{"frame at max_frame", "81 84 K 68656c6c", 4, BIG, "MSG1:hell"},
	{"declared huge, refused from the header", "82 ff 7fffffffffffffff", BIG, BIG, "ERR:1009"},
	{"message over max_msg in fragments", "01 83 K 616161 80 83 K 616161", BIG, 5, "ERR:1009"},
	{"message at max_msg in fragments", "01 83 K 616161 80 82 K 6161", BIG, 5, "MSG1:aaaaa"},
	{"control frames do not count to max_msg", "89 86 K 707070707070", BIG, 5, "PING:pppppp"},
	{"close 1004 (reserved)", "88 82 K 03ec", BIG, BIG, "ERR:1002"},
	{"close 1006 (never on the wire)", "88 82 K 03ee", BIG, BIG, "ERR:1002"},
	{"close 1015 (never on the wire)", "88 82 K 03f7", BIG, BIG, "ERR:1002"},
	{"close 1016 (unassigned)", "88 82 K 03f8", BIG, BIG, "ERR:1002"},
	{"close 1012 (registered)", "88 82 K 03f4", BIG, BIG, "CLOSE:1012"},
	{"close 1014 (registered)", "88 82 K 03f6", BIG, BIG, "CLOSE:1014"},
	{"close 2999", "88 82 K 0bb7", BIG, BIG, "ERR:1002"},
	{"close 3000", "88 82 K 0bb8", BIG, BIG, "CLOSE:3000"},
	{"close 4999", "88 82 K 1387", BIG, BIG, "CLOSE:4999"},
	{"close 0", "88 82 K 0000", BIG, BIG, "ERR:1002"},
	{"close 65535", "88 82 K ffff", BIG, BIG, "ERR:1002"},
	{"close with a UTF-8 reason", "88 85 K 03e8 eb8f99", BIG, BIG, "CLOSE:1000"},
	{"close reason cut inside a character", "88 84 K 03e8 eb8f", BIG, BIG, "ERR:1007"},
	{"fragmented close", "08 80 K", BIG, BIG, "ERR:1002"},
	{"fragmented pong", "0a 80 K", BIG, BIG, "ERR:1002"},
	{"close between fragments", "01 81 K 61 88 82 K 03e8", BIG, BIG, "CLOSE:1000"},
	{"pong between fragments", "01 81 K 61 8a 81 K 78 80 81 K 62", BIG, BIG, "PONG:x|MSG1:ab"},
	{"ping of 125 bytes", "89 fd K 7070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070707070", BIG, BIG, "PING:ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"},
	{"close of 126 bytes", "88 fe 007e K", BIG, BIG, "ERR:1002"},
	{"opcode 0xf", "8f 80 K", BIG, BIG, "ERR:1002"},
	{"RSV2", "a1 81 K 61", BIG, BIG, "ERR:1002"},
	{"empty fragments", "01 80 K 00 80 K 80 80 K", BIG, BIG, "MSG1:"},
	{"binary fragments", "02 81 K ff 80 81 K fe", BIG, BIG, "MSG2:\xff\xfe"},
	{"binary inside text fragments", "01 81 K 61 82 81 K 62", BIG, BIG, "ERR:1002"},
	{"continuation after the final fragment", "01 81 K 61 80 81 K 62 80 81 K 63", BIG, BIG, "MSG1:ab|ERR:1002"},
	{"each fragment with its own mask", "01 81 11223344 70 80 81 55667788 37", BIG, BIG, "MSG1:ab"},
	{"mask applied across 4-byte boundaries", "81 86 01020304 606060606464", BIG, BIG, "MSG1:abcdef"},
	{"16-bit length below 126 (not minimal, accepted)", "81 fe 0001 K 61", BIG, BIG, "MSG1:a"},
	{"64-bit length below 65536 (not minimal, accepted)", "81 ff 0000000000000001 K 61", BIG, BIG, "MSG1:a"},
	{"64-bit length of 2^32 + 1 (no 32-bit wrap)", "82 ff 0000000100000001 K", BIG, BIG, "ERR:1009"},
	{"64-bit length all ones", "82 ff ffffffffffffffff", BIG, BIG, "ERR:1002"},
	{"16-bit length of 65535 over max_frame", "82 fe ffff", 65534, BIG, "ERR:1009"},
	{"incomplete 64-bit length", "82 ff 00000000", BIG, BIG, "NEED"},
	{"a fragment alone delivers nothing yet", "01 81 K 61", BIG, BIG, ""},
	{"incomplete header", "81", BIG, BIG, "NEED"},
	{"incomplete 16-bit length", "81 fe 00", BIG, BIG, "NEED"},
	{"incomplete mask", "81 85 0000", BIG, BIG, "NEED"},
	{"incomplete payload", "81 85 K 6865", BIG, BIG, "NEED"},
	{"a message then an incomplete one", "81 81 K 61 81 85 K 68", BIG, BIG, "MSG1:a|NEED"},
};

/* Appends one event's text to got. */
static void describe(const ws_ev_t *ev, char *got, size_t cap)
{
	char one[512];
	switch (ev->kind) {
	case WS_EV_MSG:
		snprintf(one, sizeof one, "MSG%d:%.*s", ev->op, (int)ev->len, ev->data);
		break;
	case WS_EV_PING:
		snprintf(one, sizeof one, "PING:%.*s", (int)ev->len, ev->data);
		break;
	case WS_EV_PONG:
		snprintf(one, sizeof one, "PONG:%.*s", (int)ev->len, ev->data);
		break;
	case WS_EV_CLOSE:
		snprintf(one, sizeof one, "CLOSE:%d", ev->code);
		break;
	case WS_EV_ERROR:
		snprintf(one, sizeof one, "ERR:%d", ev->code);
		break;
	case WS_EV_NEED:
		snprintf(one, sizeof one, "NEED");
		break;
	default:
		return;
	}
	if (got[0])
		strncat(got, "|", cap - strlen(got) - 1);
	strncat(got, one, cap - strlen(got) - 1);
}

/* Runs a stream fed step bytes at a time (0: all at once), the way the
 * loop does: new bytes go after what is left unconsumed. */
static void run(const row_t *r, const unsigned char *in, size_t n, size_t step, char *got, size_t cap)
{
	unsigned char buf[4096];
	size_t have = 0, fed = 0;
	ws_in_t w = {0};
	ws_ev_t ev;
	int ended = 0;

	got[0] = 0;
	while (!ended) {
		size_t add = step ? step : n;
		if (add > n - fed)
			add = n - fed;
		memcpy(buf + have, in + fed, add);
		have += add;
		fed += add;
		for (;;) {
			size_t used = ws_parse(&w, buf, have, r->max_frame, r->max_msg, &ev);
			if (ev.kind == WS_EV_NEED)
				break;
			describe(&ev, got, cap);
			free(ev.owned);
			memmove(buf, buf + used, have - used);
			have -= used;
			if (ev.kind == WS_EV_ERROR) {
				ended = 1;
				break;
			}
		}
		if (fed == n && !ended) {
			if (have)
				describe(&ev, got, cap);
			ended = 1;
		}
	}
	ws_in_free(&w);
}

int main(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		unsigned char in[2048];
		char got[4096];
		size_t n = unhex(rows[i].hex, in, sizeof in);
		unsigned char copy[2048];

		memcpy(copy, in, n);
		run(&rows[i], copy, n, 0, got, sizeof got);
		CHECK(!strcmp(got, rows[i].want), "%s (all at once): got %s, want %s", rows[i].name, got,
		      rows[i].want);
		memcpy(copy, in, n);
		run(&rows[i], copy, n, 1, got, sizeof got);
		CHECK(!strcmp(got, rows[i].want), "%s (byte by byte): got %s, want %s", rows[i].name, got,
		      rows[i].want);
	}

	/* the writers */
	{
		unsigned char h[WS_HDR_MAX];
		CHECK(ws_header(h, WS_OP_TEXT, 5) == 2 && h[0] == 0x81 && h[1] == 5, "short header");
		CHECK(ws_header(h, WS_OP_TEXT, 126) == 4 && h[1] == 126 && h[2] == 0 && h[3] == 126, "16-bit header");
		CHECK(ws_header(h, WS_OP_TEXT, 65535) == 4 && h[2] == 0xff && h[3] == 0xff, "16-bit max");
		CHECK(ws_header(h, WS_OP_BINARY, 65536) == 10 && h[0] == 0x82 && h[1] == 127 && h[7] == 1 && h[8] == 0 &&
			  h[9] == 0,
		      "64-bit header");
		CHECK(ws_header(h, WS_OP_PONG, 0) == 2 && h[0] == 0x8a && h[1] == 0, "pong header");
		CHECK(ws_close_frame(h, 1009) == 4 && h[0] == 0x88 && h[1] == 2 && h[2] == 0x03 && h[3] == 0xf1,
		      "close frame");
	}

	/* a reassembled message is handed over: nothing stays allocated */
	{
		unsigned char in[64];
		size_t n = unhex("01 81 K 61 80 81 K 62", in, sizeof in), used;
		ws_in_t w = {0};
		ws_ev_t ev;
		used = ws_parse(&w, in, n, BIG, BIG, &ev);
		CHECK(ev.kind == WS_EV_NONE && used == 7, "first fragment");
		ws_parse(&w, in + used, n - used, BIG, BIG, &ev);
		CHECK(ev.kind == WS_EV_MSG && ev.owned && !strcmp(ev.owned, "ab") && !w.msg && !w.op,
		      "message handed over, NUL-terminated");
		free(ev.owned);
		ws_in_free(&w);
	}
	UNIT_DONE("unit_ws");
}
