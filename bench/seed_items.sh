#!/bin/sh
# bench/seed_items.sh [ITEMS] [USERS] — seeds ITEMS items (default 100000)
# into a fresh dongmul data dir and times the anonymous feed (first page,
# 50 items), the region feed, search and the item detail.
#
#   DONGMUL_BIN=build/dev/dongmul sh bench/seed_items.sh 100000
#
# How: dongmul starts once on an empty data dir (schema) and one user signs
# up through the API (a real password hash); dongmul stops; USERS-1 more
# users (default 1000) and the items are inserted directly with the sqlite3
# command-line tool into the STOPPED server's database (benchmark seeding
# only; tests never do this). 90% of the items are open (SI01, deadlines in
# the next 30 days), the rest expired (SI03); 25 Seoul districts; every item
# has its room with the owner in it; all share one real photo. dongmul then
# starts again and is measured with curl (per-request time_total, 200
# sequential requests: p50/p95) and wrk (2 threads, 8 connections, 10 s).
# Needs node, sqlite3, curl and wrk (apt-get install -y sqlite3 curl wrk).
# Run from the repository root.
# KEEP=1 keeps the data dir (its path is printed).
set -eu
ITEMS=${1:-100000}
USERS=${2:-1000}
BIN=${DONGMUL_BIN:-./dongmul}
PORT=${PORT:-18471}
URL=http://127.0.0.1:$PORT
DIR=$(mktemp -d /tmp/dongmul-items.XXXXXX)
PID=

say() { printf '%s\n' "$*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

stop() {
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
		PID=
	fi
}
cleanup() {
	stop
	if [ "${KEEP:-0}" = 1 ]; then say "data kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT INT TERM

serve() {
	"$BIN" serve --http "127.0.0.1:$PORT" --data "$DIR" --access-log=0 --pbkdf2-iterations 1000 \
		--no-email-verification >>"$DIR/server.log" 2>&1 &
	PID=$!
	i=0
	until curl -fs -o /dev/null "$URL/healthz"; do
		i=$((i + 1))
		[ $i -lt 200 ] || { say "dongmul did not start:"; cat "$DIR/server.log" >&2; exit 1; }
		sleep 0.05
	done
}

# ---------------------------------------------------------------- seed
serve
curl -fs -o /dev/null -H 'content-type: application/json' \
	-d '{"email":"u1@bench.test","nickname":"이웃1","password":"passw0rd1"}' "$URL/account"
stop
PHC=$(sqlite3 "$DIR/dongmul.db" "SELECT password FROM user WHERE userId = 1")
NOW=$(now_ms)
# one real photo (a small gray PNG from the tests' image builder), named by
# its content hash
node -e "process.stdout.write(require('./test/lib/img.js').png({ w: 4, h: 4 }))" >"$DIR/p.png"
IMG="$(sha256sum "$DIR/p.png" | cut -c1-64).png"
mv "$DIR/p.png" "$DIR/images/$IMG"

t0=$(date +%s)
sqlite3 "$DIR/dongmul.db" <<SQL
PRAGMA synchronous=OFF;
PRAGMA cache_size=-262144;
BEGIN;
CREATE TEMP TABLE district(k INTEGER PRIMARY KEY, name TEXT);
INSERT INTO district(k, name) SELECT key, '서울 ' || value FROM json_each(json_array(
 '강남구','강동구','강북구','강서구','관악구','광진구','구로구','금천구','노원구','도봉구',
 '동대문구','동작구','마포구','서대문구','서초구','성동구','성북구','송파구','양천구',
 '영등포구','용산구','은평구','종로구','중구','중랑구'));
CREATE TEMP TABLE word(k INTEGER PRIMARY KEY, w TEXT);
INSERT INTO word(k, w) SELECT key, value FROM json_each(json_array(
 '어린이자전거','아이폰','노트북','유모차','캠핑의자','전기포트','책상','화분','레고','운동화',
 '모니터','키보드','청소기','에어프라이어','텐트','통기타','카메라','소설책','수족관','커피머신'));
CREATE TEMP TABLE cat(k INTEGER PRIMARY KEY, c TEXT);
INSERT INTO cat(k, c) SELECT key, value FROM json_each(json_array(
 '디지털/가전','가구/인테리어','유아동/유아도서','식품','스포츠/레저','여성잡화','여성의류',
 '남성패션/잡화','게임/취미','뷰티/미용','반려동물용품','도서/티켓/음반','생활용품','식물','기타 중고물품'));
UPDATE user SET address = '서울 강남구' WHERE userId = 1;
INSERT INTO user(userId, email, nickname, password, address, createdDt)
WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < $USERS)
SELECT i, 'u' || i || '@bench.test', '이웃' || i, '$PHC', (SELECT name FROM district WHERE k = i % 25), $NOW
FROM n;
INSERT INTO saleItem(itemId, userId, image, title, category, wantItem, comment, address, deadLine,
                     status, statusDt, createdDt)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ITEMS)
SELECT i, o, '$IMG',
       (SELECT w FROM word WHERE k = i % 20) || ' 교환해요 #' || i,
       (SELECT c FROM cat WHERE k = i % 15),
       (SELECT w FROM word WHERE k = (i * 7) % 20) || ' 원해요',
       '상태 좋은 ' || (SELECT w FROM word WHERE k = i % 20) || ' 입니다. 동네에서 직거래해요. #' || i,
       (SELECT name FROM district WHERE k = o % 25), dl,
       CASE WHEN i % 10 = 5 THEN 'SI03' ELSE 'SI01' END, $NOW, $NOW - (i % 1000) * 60000
FROM (SELECT i, 1 + (i * 7919) % $USERS AS o,
             CASE WHEN i % 10 = 5 THEN $NOW - 3600000 - (i * 104729) % (20 * 86400000)
                  ELSE $NOW + 3600000 + (i * 104729) % (29 * 86400000) END AS dl
      FROM n);
INSERT INTO itemChatRoom(icrId, itemId, createdDt) SELECT itemId, itemId, createdDt FROM saleItem;
INSERT INTO itemChatRoomUser(icrId, userId, chooseYn, createdDt)
  SELECT itemId, userId, 'Y', createdDt FROM saleItem;
COMMIT;
SQL
say "seeded $ITEMS items and $USERS users in $(($(date +%s) - t0)) s ($(du -sm "$DIR" | cut -f1) MB)"

# ---------------------------------------------------------------- measure
serve
TOKEN=$(curl -fs -H 'content-type: application/json' -d '{"email":"u1@bench.test","password":"passw0rd1"}' \
	"$URL/account/login" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
DETAIL=$(sqlite3 "$DIR/dongmul.db" "SELECT itemId FROM saleItem WHERE status = 'SI01' ORDER BY itemId LIMIT 1 OFFSET 5000")
Q=$(printf '%s' '자전거' | od -An -tx1 | tr ' ' '%' | tr -d '\n' | tr 'a-f' 'A-F')
RARE=$(printf '%s' '#77777' | od -An -tx1 | tr ' ' '%' | tr -d '\n')

# p50 / p95 / max in ms of N sequential requests (curl's own timing)
timed() {
	name=$1
	shift
	i=0
	: >"$DIR/t"
	while [ $i -lt 200 ]; do
		curl -fs -o /dev/null -w '%{time_total}\n' "$@" >>"$DIR/t"
		i=$((i + 1))
	done
	sort -n "$DIR/t" | awk -v name="$name" '{ v[NR] = $1 * 1000 }
		END { printf "%-34s p50 %6.2f ms  p95 %6.2f ms  max %6.2f ms  (200 sequential curl requests)\n",
		      name, v[int(NR * 0.5)], v[int(NR * 0.95)], v[NR] }'
}

bytes=$(curl -fs "$URL/mainPage/noLogin" | wc -c)
say "first page of the anonymous feed: $bytes bytes"
timed "GET /mainPage/noLogin (50 items)" "$URL/mainPage/noLogin"
timed "GET /mainPage/noLogin?limit=200" "$URL/mainPage/noLogin?limit=200"
timed "GET /mainPage (region, bearer)" -H "Authorization: $TOKEN" "$URL/mainPage"
timed "GET /postDetail/$DETAIL" "$URL/postDetail/$DETAIL"
timed "GET /postDetail/$DETAIL (bearer)" -H "Authorization: $TOKEN" "$URL/postDetail/$DETAIL"
timed "GET /mainPage/search?q=자전거" "$URL/mainPage/search?q=$Q"
timed "GET /mainPage/search?q=#77777 (rare)" "$URL/mainPage/search?q=$RARE"
NEXT=$(curl -fs "$URL/mainPage/noLogin" | sed -n 's/.*"next":"\([^"]*\)".*/\1/p')
timed "GET /mainPage/noLogin?cursor=(page 2)" "$URL/mainPage/noLogin?cursor=$NEXT"

if command -v wrk >/dev/null; then
	for u in "/mainPage/noLogin" "/postDetail/$DETAIL"; do
		say "wrk -t2 -c8 -d10s --latency $URL$u"
		wrk -t2 -c8 -d10s --latency "$URL$u" | grep -E 'Requests/sec|Latency  |50%|99%' >&2
	done
fi
