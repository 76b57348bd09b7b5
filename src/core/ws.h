/*
 * ws — RFC 6455 framing for the WebSockets sio serves from its own event
 * loop (once civetweb handed the upgraded connection over): a frame reader
 * that reassembles fragmented messages, checks masking, control-frame
 * rules, sizes and the UTF-8 of text, and the few writers a server needs.
 * No I/O here: the caller reads bytes into a buffer and writes what these
 * functions build. Prefix: ws_.
 *
 * Thread-safety: a ws_in_t belongs to one connection and is used by one
 * thread at a time; the functions keep no other state.
 */
#ifndef WS_H
#define WS_H

#include <stddef.h>
#include <stdint.h>

enum {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa
};

/* Close codes we send. */
enum {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005,   /* (received) a close frame without a code */
	WS_CLOSE_BAD_DATA = 1007,    /* text that is not UTF-8 */
	WS_CLOSE_TOO_BIG = 1009
};

/* What ws_parse found. */
enum {
	WS_EV_NEED,  /* an incomplete frame: read more, call again with all of it */
	WS_EV_NONE,  /* a frame that completes nothing yet (a fragment) */
	WS_EV_MSG,   /* a whole message: op TEXT (valid UTF-8) or BINARY */
	WS_EV_PING,  /* answer with a PONG carrying data */
	WS_EV_PONG,
	WS_EV_CLOSE, /* the peer's close frame: code (1005: none) */
	WS_EV_ERROR  /* a protocol violation: send a close with code, then end */
};

/* A connection's reassembly state (zero it to start; ws_in_free at end). */
typedef struct ws_in {
	int op;             /* opcode of the fragmented message being built; 0: none */
	char *msg;          /* its bytes so far (malloc'd) */
	size_t len, cap;
} ws_in_t;

typedef struct ws_ev {
	int kind;           /* WS_EV_* */
	int op;             /* WS_EV_MSG: WS_OP_TEXT or WS_OP_BINARY */
	const char *data;   /* MSG/PING/PONG payload; valid until the next
			       ws_parse on this ws_in_t or the next change of
			       the buffer passed in */
	size_t len;
	char *owned;        /* MSG of several fragments: data is this malloc'd,
			       NUL-terminated buffer, now the caller's to free
			       (NULL otherwise) */
	int code;           /* CLOSE: the peer's code; ERROR: the code to send */
	const char *why;    /* ERROR: a short reason for the log */
} ws_ev_t;

/* Parses at most one frame from buf[0..len), a client's bytes (masking
 * required; payloads are unmasked in place). max_frame bounds one frame's
 * payload and max_msg a whole message (both checked on the declared length,
 * before anything is kept). Sets *ev and returns the bytes consumed: 0 with
 * WS_EV_NEED when the frame is not complete yet. After WS_EV_ERROR the
 * connection must end. */
size_t ws_parse(ws_in_t *w, unsigned char *buf, size_t len, size_t max_frame, size_t max_msg, ws_ev_t *ev);

/* Frees what w holds (a half-built message). */
void ws_in_free(ws_in_t *w);

/* The header of an unmasked final frame with opcode op and a payload of
 * len bytes into out (WS_HDR_MAX bytes room); returns its length. */
#define WS_HDR_MAX 10
size_t ws_header(unsigned char *out, int op, uint64_t len);

/* A close frame with code (no reason) into out (4 bytes); returns 4. */
size_t ws_close_frame(unsigned char *out, int code);

#endif
