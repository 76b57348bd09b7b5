/*
 * ws.c — RFC 6455 frames for sio's event loop (see ws.h). civetweb parses
 * the HTTP upgrade; once a WebSocket is detached from civetweb, every byte
 * the client sends goes through ws_parse here, which is why this file is a
 * parser of hostile input with its own table-driven unit test
 * (test/unit_ws.c).
 *
 * Rules enforced (the connection ends with the close code in brackets):
 * client frames are masked [1002]; RSV bits are zero (no extension is
 * negotiated) [1002]; opcodes are the six of the RFC [1002]; control frames
 * are final and carry at most 125 bytes [1002]; a continuation needs a
 * message in progress, and a new data frame cannot start inside one
 * [1002]; a 64-bit length has its top bit clear [1002]; a frame over
 * max_frame, or a message over max_msg, is refused from its header before
 * anything is kept [1009]; a text message is valid UTF-8 [1007]; a close
 * frame's payload is empty or a valid code with a UTF-8 reason [1002/1007].
 */
#include <stdlib.h>
#include <string.h>

#include "dm.h"
#include "ws.h"

static void set_err(ws_ev_t *ev, int code, const char *why)
{
	ev->kind = WS_EV_ERROR;
	ev->code = code;
	ev->why = why;
}

/* XORs p[0..n) with the 4-byte key, 8 bytes at a time where it can. */
static void unmask(unsigned char *p, size_t n, const unsigned char key[4])
{
	size_t i = 0;
	uint64_t k8;
	unsigned char kk[8];
	for (int j = 0; j < 8; j++)
		kk[j] = key[j & 3];
	memcpy(&k8, kk, 8);
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		v ^= k8;
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] ^= key[i & 3];
}

/* A close code a peer may send (RFC 6455 7.4, plus the registered
 * 1012-1014 and the application range). */
static int close_code_ok(int c)
{
	return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

void ws_in_free(ws_in_t *w)
{
	free(w->msg);
	memset(w, 0, sizeof *w);
}

size_t ws_parse(ws_in_t *w, unsigned char *buf, size_t len, size_t max_frame, size_t max_msg, ws_ev_t *ev)
{
	size_t hl = 2, used;
	uint64_t plen;
	int fin, op, masked;
	unsigned char *pay;

	/* between calls a message in progress has its buffer (and room for
	 * its NUL), and nothing else does: whatever the bytes were */
	dm_assert(!w->op == !w->msg && (!w->msg || w->len < w->cap));
	memset(ev, 0, sizeof *ev);
	ev->kind = WS_EV_NEED;
	if (len < 2)
		return 0;
	fin = buf[0] & 0x80;
	op = buf[0] & 0x0f;
	masked = buf[1] & 0x80;
	plen = buf[1] & 0x7f;
	if (buf[0] & 0x70) {
		set_err(ev, WS_CLOSE_PROTOCOL, "RSV bits set");
		return len;
	}
	if (!(op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG))) {
		set_err(ev, WS_CLOSE_PROTOCOL, "unknown opcode");
		return len;
	}
	if (!masked) {
		set_err(ev, WS_CLOSE_PROTOCOL, "unmasked client frame");
		return len;
	}
	if (op >= WS_OP_CLOSE && (!fin || plen > 125)) {
		set_err(ev, WS_CLOSE_PROTOCOL, "bad control frame");
		return len;
	}
	if (plen == 126) {
		hl = 4;
		if (len < hl)
			return 0;
		plen = (uint64_t)buf[2] << 8 | buf[3];
	} else if (plen == 127) {
		hl = 10;
		if (len < hl)
			return 0;
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | buf[2 + i];
		if (plen >> 63) {
			set_err(ev, WS_CLOSE_PROTOCOL, "64-bit length with its top bit set");
			return len;
		}
	}
	/* fragmentation rules and sizes, from the header alone */
	if (op == WS_OP_CONT && !w->op) {
		set_err(ev, WS_CLOSE_PROTOCOL, "continuation without a message");
		return len;
	}
	if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && w->op) {
		set_err(ev, WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
		return len;
	}
	if (plen > max_frame) {
		set_err(ev, WS_CLOSE_TOO_BIG, "frame too large");
		return len;
	}
	if (op < WS_OP_CLOSE && (plen > max_msg || (op == WS_OP_CONT && w->len + plen > max_msg))) {
		set_err(ev, WS_CLOSE_TOO_BIG, "message too large");
		return len;
	}
	hl += 4; /* the mask key */
	if (len < hl || len - hl < plen)
		return 0;
	used = hl + (size_t)plen;
	pay = buf + hl;
	unmask(pay, (size_t)plen, buf + hl - 4);
	ev->data = (const char *)pay;
	ev->len = (size_t)plen;

	switch (op) {
	case WS_OP_PING:
		ev->kind = WS_EV_PING;
		return used;
	case WS_OP_PONG:
		ev->kind = WS_EV_PONG;
		return used;
	case WS_OP_CLOSE:
		ev->data = NULL;
		ev->len = 0;
		if (plen == 0) {
			ev->kind = WS_EV_CLOSE;
			ev->code = WS_CLOSE_NO_STATUS;
		} else if (plen == 1) {
			set_err(ev, WS_CLOSE_PROTOCOL, "close payload of one byte");
		} else {
			int code = pay[0] << 8 | pay[1];
			if (!close_code_ok(code))
				set_err(ev, WS_CLOSE_PROTOCOL, "invalid close code");
			else if (!dm_utf8_valid((const char *)pay + 2, (size_t)plen - 2))
				set_err(ev, WS_CLOSE_BAD_DATA, "close reason not UTF-8");
			else {
				ev->kind = WS_EV_CLOSE;
				ev->code = code;
			}
		}
		return used;
	default:
		break;
	}

	/* data: a whole message in one frame needs no copy */
	if (op != WS_OP_CONT && fin) {
		if (op == WS_OP_TEXT && !dm_utf8_valid(ev->data, ev->len)) {
			set_err(ev, WS_CLOSE_BAD_DATA, "text not UTF-8");
			return used;
		}
		ev->kind = WS_EV_MSG;
		ev->op = op;
		return used;
	}
	/* a fragment: keep it */
	if (w->len + plen + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		char *np;
		while (cap < w->len + plen + 1)
			cap *= 2;
		np = realloc(w->msg, cap);
		if (!np) {
			set_err(ev, WS_CLOSE_TOO_BIG, "out of memory");
			return used;
		}
		w->msg = np;
		w->cap = cap;
	}
	memcpy(w->msg + w->len, pay, (size_t)plen);
	w->len += (size_t)plen;
	w->msg[w->len] = 0;
	if (op != WS_OP_CONT)
		w->op = op;
	ev->data = NULL;
	ev->len = 0;
	if (!fin) {
		ev->kind = WS_EV_NONE;
		return used;
	}
	/* the last fragment */
	ev->op = w->op;
	ev->data = w->msg;
	ev->len = w->len;
	if (ev->op == WS_OP_TEXT && !dm_utf8_valid(ev->data, ev->len)) {
		set_err(ev, WS_CLOSE_BAD_DATA, "text not UTF-8");
		ev->data = NULL;
		ev->len = 0;
		return used;
	}
	/* the caller takes the buffer: nothing stays allocated between
	 * messages */
	ev->kind = WS_EV_MSG;
	ev->owned = w->msg;
	memset(w, 0, sizeof *w);
	return used;
}

size_t ws_header(unsigned char *out, int op, uint64_t len)
{
	/* a server frame: a data or control opcode, a control one short */
	dm_assert((op >= WS_OP_TEXT && op <= WS_OP_BINARY) || (op >= WS_OP_CLOSE && op <= WS_OP_PONG && len <= 125));
	out[0] = (unsigned char)(0x80 | (op & 0x0f));
	if (len < 126) {
		out[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
	return 10;
}

size_t ws_close_frame(unsigned char *out, int code)
{
	/* a code one may send: ours, or a peer's that close_code_ok let
	 * through (never 1005/1006/1015, which only report) */
	dm_assert(close_code_ok(code));
	out[0] = 0x80 | WS_OP_CLOSE;
	out[1] = 2;
	out[2] = (unsigned char)(code >> 8);
	out[3] = (unsigned char)code;
	return 4;
}
