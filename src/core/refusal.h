/*
 * refusal — the one catalog of refusals: every way dongmul says no, with
 * the wire code a client sees, the HTTP status and the Korean message.
 * HTTP replies (http_refuse) and Socket.IO acks and error events (chat)
 * both read it; docs/API.md's table of error codes is checked against it
 * by test/openapi.test.js through `dongmul refusals`. Prefix: refusal_,
 * constants RF_*.
 *
 * A row is X(NAME, "WIRE_CODE", status, "message"). NAME is what C code
 * says; several rows may share a wire code when the message names a
 * different field (INVALID_INPUT rows), never when they mean the same
 * thing. Rows are grouped by the part that uses them (shared ones first);
 * add a row where the part that refuses is. The table is constant: safe
 * from every thread.
 */
#ifndef REFUSAL_H
#define REFUSAL_H

#include <stdio.h>

#define DM_REFUSALS(X) \
	/* shared by several parts */ \
	X(INTERNAL, "INTERNAL", 500, "서버 오류가 발생했습니다.") \
	X(INVALID_INPUT, "INVALID_INPUT", 400, "입력값이 올바르지 않습니다.") \
	X(UNAUTHORIZED, "UNAUTHORIZED", 401, "로그인이 필요합니다.") \
	X(FORBIDDEN, "FORBIDDEN", 403, "권한이 없습니다.") \
	X(NOT_FOUND, "NOT_FOUND", 404, "찾을 수 없습니다.") \
	X(CONFLICT, "CONFLICT", 409, "현재 상태에서는 할 수 없습니다.") \
	X(TOO_LARGE, "TOO_LARGE", 413, "요청이 너무 큽니다.") \
	X(UNAVAILABLE, "UNAVAILABLE", 503, "잠시 후 다시 시도해 주세요.") \
	X(ITEM_NOT_FOUND, "ITEM_NOT_FOUND", 404, "게시글을 찾을 수 없습니다.") \
	X(EMAIL_EXISTS, "EMAIL_EXISTS", 409, "이미 가입된 이메일입니다.") \
	X(ROOM_NOT_FOUND, "ROOM_NOT_FOUND", 404, "채팅방을 찾을 수 없습니다.") \
	X(USER_NOT_FOUND, "USER_NOT_FOUND", 404, "사용자를 찾을 수 없습니다.") \
	/* http */ \
	X(BAD_PATH, "BAD_PATH", 400, "잘못된 경로입니다.") \
	X(CORS_HEADERS, "CORS_HEADERS", 403, "허용되지 않은 헤더입니다.") \
	X(CORS_METHOD, "CORS_METHOD", 403, "허용되지 않은 메서드입니다.") \
	X(CORS_ORIGIN, "CORS_ORIGIN", 403, "허용되지 않은 출처입니다.") \
	X(DB_DOWN, "DB_DOWN", 503, "데이터베이스가 응답하지 않습니다.") \
	X(INVALID_JSON, "INVALID_JSON", 400, "요청 형식(JSON)이 올바르지 않습니다.") \
	X(METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", 405, "지원하지 않는 메서드입니다.") \
	X(NO_ROUTE, "NOT_FOUND", 404, "없는 주소입니다.") \
	/* account */ \
	X(BAD_ORIGIN, "BAD_ORIGIN", 403, "허용되지 않은 출처의 요청입니다.") \
	X(BUSY, "BUSY", 503, "요청이 많아 처리하지 못했습니다. 잠시 후 다시 시도해 주세요.") \
	X(CODE_EXPIRED, "CODE_EXPIRED", 400, "인증번호가 만료되었습니다. 다시 요청해 주세요.") \
	X(CODE_LOCKED, "CODE_LOCKED", 400, "인증번호를 5회 잘못 입력했습니다. 인증번호를 다시 요청해 주세요.") \
	X(CODE_MISMATCH, "CODE_MISMATCH", 400, "인증번호가 일치하지 않습니다.") \
	X(CODE_NOT_FOUND, "CODE_NOT_FOUND", 400, "인증번호를 먼저 요청해 주세요.") \
	X(EMAIL_NOT_VERIFIED, "EMAIL_NOT_VERIFIED", 403, "이메일 인증을 먼저 완료해 주세요.") \
	X(INVALID_CODE, "INVALID_CODE", 400, "인증번호는 6자리 숫자입니다.") \
	X(INVALID_EMAIL, "INVALID_EMAIL", 400, "이메일 형식이 올바르지 않습니다.") \
	X(LOGIN_FIELDS_REQUIRED, "INVALID_INPUT", 400, "이메일과 비밀번호를 입력해 주세요.") \
	X(REFRESH_TOKEN_REQUIRED, "INVALID_INPUT", 400, "refreshToken이 필요합니다.") \
	X(INVALID_NICKNAME, "INVALID_NICKNAME", 400, "닉네임은 2~20자여야 합니다.") \
	X(INVALID_PASSWORD, "INVALID_PASSWORD", 400, "비밀번호는 영문과 숫자를 포함한 8~72자여야 합니다.") \
	X(LOGIN_FAILED, "LOGIN_FAILED", 401, "이메일 또는 비밀번호가 올바르지 않습니다.") \
	X(REFRESH_INVALID, "REFRESH_INVALID", 401, "토큰이 만료되었거나 올바르지 않습니다. 다시 로그인해 주세요.") \
	X(REFRESH_REUSED, "REFRESH_REUSED", 401, "이미 사용된 토큰입니다. 다시 로그인해 주세요.") \
	/* appt */ \
	X(APPOINTMENT_PASSED, "APPOINTMENT_PASSED", 409, "이미 지난 시간입니다. 새 시간을 제안해 주세요.") \
	X(APPT_TRADE_NOT_IN_PROGRESS, "TRADE_NOT_IN_PROGRESS", 409, "진행 중인 교환에만 거래약속을 잡을 수 있습니다.") \
	X(INVALID_APPOINTMENT, "INVALID_APPOINTMENT", 400, "수락할 약속(apptId)을 지정해 주세요.") \
	X(INVALID_PLACE, "INVALID_PLACE", 400, "약속 장소를 1~100자로 입력해 주세요.") \
	X(INVALID_TIME, "INVALID_TIME", 400, "약속 시간은 지금부터 90일 안의 앞으로의 시간이어야 합니다.") \
	X(NOT_A_PARTY, "NOT_A_PARTY", 403, "교환 당사자(글쓴이와 선택된 상대)만 할 수 있습니다.") \
	X(NO_SUCH_PROPOSAL, "NO_SUCH_PROPOSAL", 409, "수락할 제안이 없습니다. 이미 수락되었거나 새 제안으로 바뀌었습니다.") \
	X(OWN_PROPOSAL, "OWN_PROPOSAL", 403, "내 제안은 상대가 수락합니다.") \
	/* block */ \
	X(ALREADY_BLOCKED, "ALREADY_BLOCKED", 409, "이미 차단한 사용자입니다.") \
	X(CANNOT_BLOCK_SELF, "CANNOT_BLOCK_SELF", 400, "자기 자신은 차단할 수 없습니다.") \
	X(BLOCK_USER_REQUIRED, "INVALID_USER", 400, "차단할 사용자(userId)를 지정해 주세요.") \
	X(NOT_BLOCKED, "NOT_BLOCKED", 404, "차단한 사용자가 아닙니다.") \
	X(TOO_MANY_BLOCKS, "TOO_MANY_BLOCKS", 409, "차단은 1,000명까지 할 수 있습니다.") \
	/* chat (socket events and the chat HTTP routes) */ \
	X(SOCK_UNAUTHORIZED, "UNAUTHORIZED", 401, "Unauthorization") \
	X(INVALID_MESSAGE, "INVALID_MESSAGE", 400, "메시지는 1~1,000자여야 합니다.") \
	X(NOT_MEMBER, "NOT_MEMBER", 403, "채팅방 참여자가 아닙니다.") \
	X(KICKED, "KICKED", 403, "강퇴된 채팅방입니다.") \
	X(SUSPENDED, "SUSPENDED", 403, "이용이 정지된 계정입니다.") \
	X(ITEM_CLOSED, "ITEM_CLOSED", 403, "교환 신청이 마감된 물건입니다.") \
	X(NOT_OWNER, "NOT_OWNER", 403, "물건을 올린 사람만 할 수 있습니다.") \
	X(CANNOT_KICK_OWNER, "CANNOT_KICK_OWNER", 403, "방장은 강퇴할 수 없습니다.") \
	X(INVALID_PARTNER, "INVALID_PARTNER", 400, "자기 자신과는 교환할 수 없습니다.") \
	X(TARGET_NOT_MEMBER, "TARGET_NOT_MEMBER", 403, "상대가 채팅방 참여자가 아닙니다.") \
	X(OWNER_CANNOT_LEAVE, "OWNER_CANNOT_LEAVE", 403, "방장은 채팅방을 나갈 수 없습니다.") \
	X(PARTNER_CANNOT_LEAVE, "PARTNER_CANNOT_LEAVE", 403, "교환 상대는 채팅방을 나갈 수 없습니다.") \
	X(PARTNER_CHOSEN, "PARTNER_CHOSEN", 403, "교환 상대로 정한 사용자는 강퇴할 수 없습니다.") \
	X(RATE_LIMITED, "RATE_LIMITED", 429, "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.") \
	X(UNKNOWN_EVENT, "UNKNOWN_EVENT", 400, "알 수 없는 요청입니다.") \
	X(INVALID_BEFORE, "INVALID_INPUT", 400, "before는 메시지 id여야 합니다.") \
	X(INVALID_MSG_LIMIT, "INVALID_INPUT", 400, "limit은 1~200이어야 합니다.") \
	/* image */ \
	X(IMAGE_FILE_NOT_FOUND, "NOT_FOUND", 404, "사진을 찾을 수 없습니다.") \
	/* item */ \
	X(ADDRESS_REQUIRED, "ADDRESS_REQUIRED", 400, "먼저 내 동네를 설정해 주세요.") \
	X(ADDRESS_TOO_LONG, "INVALID_ADDRESS", 400, "주소(new_address)를 200자 이하의 문자열로 보내 주세요.") \
	X(INVALID_ADDRESS, "INVALID_ADDRESS", 400, "알 수 없는 지역입니다. 예: 서울특별시 강남구 역삼동") \
	X(INVALID_CATEGORY, "INVALID_CATEGORY", 400, "카테고리를 목록에서 골라 주세요.") \
	X(INVALID_CURSOR, "INVALID_CURSOR", 400, "다음 페이지 정보(cursor)가 올바르지 않습니다.") \
	X(INVALID_ICR_ID, "INVALID_ICR_ID", 400, "icrId가 올바르지 않습니다.") \
	X(INVALID_FREE_FILTER, "INVALID_INPUT", 400, "freeYn은 Y 또는 N이어야 합니다.") \
	X(INVALID_ITEM_ID, "INVALID_ITEM_ID", 400, "삭제할 게시글의 itemId가 올바르지 않습니다.") \
	X(INVALID_LIMIT, "INVALID_LIMIT", 400, "limit은 1~200 사이의 숫자여야 합니다.") \
	X(QUERY_TOO_LONG, "INVALID_QUERY", 400, "검색어는 100자 이하여야 합니다.") \
	X(QUERY_REQUIRED, "INVALID_QUERY", 400, "검색어나 카테고리를 입력해 주세요.") \
	X(ITEM_NOT_DELETABLE, "ITEM_NOT_DELETABLE", 409, "거래가 진행 중이거나 끝난 게시글은 삭제할 수 없습니다.") \
	X(KICKED_ITEM_VIEW, "KICKED", 403, "강퇴당한 게시글은 볼 수 없습니다.") \
	X(ROOM_MISMATCH, "ROOM_MISMATCH", 400, "icrId가 이 게시글의 채팅방이 아닙니다.") \
	/* item_post */ \
	X(DEADLINE_PAST, "DEADLINE_PAST", 400, "마감 시간은 지금 이후여야 합니다.") \
	X(DEADLINE_TOO_FAR, "DEADLINE_TOO_FAR", 400, "마감 시간이 너무 멉니다.") \
	X(DUPLICATE_FIELD, "DUPLICATE_FIELD", 400, "같은 항목이 두 번 들어 있습니다.") \
	X(FILE_REQUIRED, "FILE_REQUIRED", 400, "사진(file)을 올려 주세요.") \
	X(IMAGE_NOT_FOUND, "IMAGE_NOT_FOUND", 404, "이 게시글에 그 사진이 없습니다.") \
	X(INVALID_DEADLINE, "INVALID_DEADLINE", 400, "마감 시간 형식이 올바르지 않습니다. 예: 2026-12-01 18:00") \
	X(INVALID_FREE, "INVALID_FREE", 400, "나눔 여부(freeYn)는 Y 또는 N으로 보내 주세요.") \
	X(INVALID_IMAGE, "INVALID_IMAGE", 400, "사진은 JPEG, PNG, WebP, GIF 이미지만 올릴 수 있습니다.") \
	X(INVALID_ITEM_COMMENT, "INVALID_COMMENT", 400, "설명은 1~2,000자로 입력해 주세요.") \
	X(INVALID_MULTIPART, "INVALID_MULTIPART", 400, "multipart/form-data 형식으로 보내 주세요.") \
	X(INVALID_ORDER, "INVALID_ORDER", 400, "order는 이 게시글의 모든 사진 id를 한 번씩 담아야 합니다.") \
	X(INVALID_THUMB, "INVALID_THUMB", 400, "썸네일은 긴 변이 480px 이하인 JPEG, PNG, WebP, GIF 이미지만 올릴 수 있습니다.") \
	X(INVALID_TITLE, "INVALID_TITLE", 400, "제목은 1~100자로 입력해 주세요.") \
	X(INVALID_WANT_ITEM, "INVALID_WANT_ITEM", 400, "원하는 물건은 1~100자로 입력해 주세요.") \
	X(ITEM_CLOSED_PHOTOS, "ITEM_CLOSED", 409, "교환 신청이 마감된 물건의 사진은 바꿀 수 없습니다.") \
	X(LAST_IMAGE, "LAST_IMAGE", 409, "사진이 한 장은 있어야 합니다.") \
	X(PHOTO_TOO_LARGE, "TOO_LARGE", 413, "사진이 올릴 수 있는 크기보다 큽니다.") \
	X(QUOTA_EXCEEDED, "QUOTA_EXCEEDED", 429, "사진 저장 공간을 모두 사용했습니다. 지난 물건을 삭제한 뒤 다시 올려 주세요.") \
	X(THUMB_TOO_LARGE, "THUMB_TOO_LARGE", 413, "썸네일은 64KB 이하만 올릴 수 있습니다.") \
	X(TOO_MANY_IMAGES, "TOO_MANY_IMAGES", 400, "사진은 물건 하나에 10장까지 올릴 수 있습니다.") \
	X(TOO_MANY_IMAGES_ADDED, "TOO_MANY_IMAGES", 409, "더하면 이 게시글의 사진이 10장을 넘습니다.") \
	/* keyword */ \
	X(DUPLICATE_KEYWORD, "DUPLICATE_KEYWORD", 400, "같은 키워드가 두 번 들어 있습니다.") \
	X(KEYWORDS_NOT_ARRAY, "INVALID_KEYWORD", 400, "keywords는 키워드(글자)의 배열이어야 합니다.") \
	X(INVALID_KEYWORD, "INVALID_KEYWORD", 400, "키워드는 앞뒤 공백을 빼고 1~20자여야 합니다.") \
	X(TOO_MANY_KEYWORDS, "TOO_MANY_KEYWORDS", 400, "키워드는 30개까지 등록할 수 있습니다.") \
	/* notify */ \
	X(INVALID_IDS, "INVALID_IDS", 400, "ids는 알림 id 배열(최대 500개)이어야 합니다.") \
	X(INVALID_ALL_FLAG, "INVALID_INPUT", 400, "all은 true 또는 false여야 합니다.") \
	X(INVALID_NOTIF_LIMIT, "INVALID_LIMIT", 400, "limit은 1~100 사이의 숫자여야 합니다.") \
	X(SETTINGS_NOT_ARRAYS, "INVALID_SETTINGS", 400, "email과 push는 알림 종류의 배열이어야 합니다.") \
	X(INVALID_SETTINGS, "INVALID_SETTINGS", 400, "알 수 없는 알림 종류가 있습니다.") \
	/* oidc */ \
	X(ACCESS_TOKEN_UNSUPPORTED, "ACCESS_TOKEN_UNSUPPORTED", 400, "이 서버는 accessToken 로그인을 받지 않습니다. idToken을 보내 주세요.") \
	X(BAD_HOST, "BAD_HOST", 400, "요청의 Host가 올바르지 않습니다.") \
	X(CODE_INVALID, "CODE_INVALID", 401, "로그인 코드가 만료되었거나 이미 사용되었습니다.") \
	X(EMAIL_REQUIRED, "EMAIL_REQUIRED", 400, "인증된 이메일 정보가 필요합니다.") \
	X(OIDC_CODE_REQUIRED, "INVALID_INPUT", 400, "code가 필요합니다.") \
	X(PROVIDER_DISABLED, "PROVIDER_DISABLED", 404, "이 로그인 방식은 설정되어 있지 않습니다.") \
	X(PROVIDER_UNAVAILABLE, "PROVIDER_UNAVAILABLE", 502, "로그인 제공자에 연결할 수 없습니다.") \
	X(TOKEN_INVALID, "TOKEN_INVALID", 401, "로그인 토큰이 올바르지 않습니다.") \
	X(TOKEN_REPLAYED, "TOKEN_REPLAYED", 401, "이미 사용된 로그인 토큰입니다.") \
	X(TOKEN_REQUIRED, "TOKEN_REQUIRED", 400, "idToken이 필요합니다. 이메일만으로는 로그인할 수 없습니다.") \
	/* operator */ \
	X(INVALID_DAYS, "INVALID_DAYS", 400, "정지 기간은 1~365일로 입력해 주세요.") \
	X(INVALID_USER_QUERY, "INVALID_INPUT", 400, "찾을 이메일이나 닉네임을 1~100자로 입력해 주세요.") \
	X(INVALID_SUSPEND_REASON, "INVALID_REASON", 400, "사유를 1~200자로 입력해 주세요.") \
	X(NOT_ADMIN, "NOT_ADMIN", 403, "운영자만 할 수 있습니다.") \
	X(SELF_ACTION, "SELF_ACTION", 400, "자기 자신에게는 할 수 없습니다.") \
	/* push */ \
	X(PUSH_HOST_NOT_ALLOWED, "INVALID_ENDPOINT", 400, "endpoint는 지원하는 푸시 서비스의 https 주소여야 합니다.") \
	X(INVALID_ENDPOINT, "INVALID_ENDPOINT", 400, "endpoint는 https 주소여야 합니다.") \
	X(PUSH_KEYS_REQUIRED, "INVALID_PUSH_KEYS", 400, "keys {p256dh, auth}가 필요합니다.") \
	X(INVALID_PUSH_KEYS, "INVALID_PUSH_KEYS", 400, "keys.p256dh는 P-256 공개키(65바이트), keys.auth는 16바이트여야 합니다.") \
	X(PUSH_ENDPOINT_TAKEN, "PUSH_ENDPOINT_TAKEN", 409, "다른 계정이 이 브라우저로 푸시 알림을 받고 있습니다.") \
	X(PUSH_LIMIT, "PUSH_LIMIT", 409, "푸시 알림은 기기 10개까지 받을 수 있습니다.") \
	X(PUSH_SUBSCRIPTION_NOT_FOUND, "PUSH_SUBSCRIPTION_NOT_FOUND", 404, "이 계정의 푸시 구독이 아닙니다.") \
	/* trust */ \
	X(ALREADY_REPORTED, "ALREADY_REPORTED", 409, "이미 신고한 메시지입니다.") \
	X(ALREADY_REVIEWED, "ALREADY_REVIEWED", 409, "이 교환의 후기는 이미 남겼습니다.") \
	X(CANNOT_REPORT_SELF, "CANNOT_REPORT_SELF", 400, "자기 자신은 신고할 수 없습니다.") \
	X(INVALID_COMMENT, "INVALID_COMMENT", 400, "후기는 500자 이하의 글이어야 합니다.") \
	X(INVALID_DETAIL, "INVALID_DETAIL", 400, "상세 내용은 1000자 이하의 글이어야 합니다.") \
	X(INVALID_ITEM, "INVALID_ITEM", 400, "itemId가 올바르지 않습니다.") \
	X(INVALID_MSG_ID, "INVALID_MESSAGE", 400, "icruMsgId가 올바르지 않습니다.") \
	X(MESSAGE_NOT_FOUND, "MESSAGE_NOT_FOUND", 404, "메시지를 찾을 수 없습니다.") \
	X(MSG_REPORT_EXTRA_FIELDS, "INVALID_MESSAGE", 400, "메시지 신고에는 userId와 itemId를 보내지 않습니다.") \
	X(INVALID_CANCEL_REASON, "INVALID_REASON", 400, "취소 사유를 1~200자로 입력해 주세요.") \
	X(INVALID_REASON, "INVALID_REASON", 400, "reason은 noshow, breach, abuse, fraud, other 중 하나여야 합니다.") \
	X(INVALID_SCORE, "INVALID_SCORE", 400, "score는 \"good\" 또는 \"bad\"여야 합니다.") \
	X(INVALID_TAGS, "INVALID_TAGS", 400, "tags는 정해진 태그 중 서로 다른 5개 이하의 배열이어야 합니다.") \
	X(NOT_A_CHAT_MESSAGE, "NOT_A_CHAT_MESSAGE", 400, "이웃이 쓴 채팅 메시지만 신고할 수 있습니다.") \
	X(NOT_A_MEMBER, "NOT_A_MEMBER", 403, "참여 중인 채팅방의 메시지만 신고할 수 있습니다.") \
	X(REPORT_USER_REQUIRED, "INVALID_USER", 400, "신고할 사용자(userId)를 지정해 주세요.") \
	X(TRADE_NOT_FINISHED, "TRADE_NOT_FINISHED", 409, "교환이 완료되거나 취소된 뒤에 후기를 남길 수 있습니다.") \
	X(TRADE_NOT_IN_PROGRESS, "TRADE_NOT_IN_PROGRESS", 409, "진행 중인 교환에서만 할 수 있습니다.")

typedef enum {
#define X(name, wire, status, msg) RF_##name,
	DM_REFUSALS(X)
#undef X
	RF_COUNT
} refusal_t;

/* The wire code ("ITEM_NOT_FOUND"), HTTP status and Korean message of a
 * refusal. rf must be < RF_COUNT (asserted). Static strings. */
const char *refusal_code(refusal_t rf);
int refusal_status(refusal_t rf);
const char *refusal_msg(refusal_t rf);
/* The generic refusal that fits a DM_* status (DM_EINVAL → INVALID_INPUT,
 * DM_ENOTFOUND → NOT_FOUND, ...; unknown or DM_ERR → INTERNAL). */
refusal_t refusal_of_status(int dm_status);
/* Prints the table as tab-separated lines: NAME, code, status, message
 * (`dongmul refusals`; the documentation test reads it). */
void refusal_print(FILE *f);

#endif
