#!/bin/sh
# bench/run.sh — `make bench`: measures dongmul against this machine's limit
# and prints one table (also written to bench/RESULTS.md).
#
#   1 HTTP      wrk (2 threads, 64 connections, 10 s) on three endpoints, and
#               nginx serving the same bytes as static files (before and after
#               dongmul: the two nginx runs show how noisy the machine was)
#   2 fan-out   1,000 WebSocket clients in one room, 500 messages one at a time
#   3 chat      100 rooms x 10 members, senders keep 8 messages in flight, 10 s
#   4 crash     kill -9 during load like 3, restart, every message any client
#               received must be in the database
#   5 footprint binary size, idle RSS, RSS with the clients of 2, exec to 200
#   6 growth    feed p50 with 10k, 100k and 1M items
#   7 acme      start to a certificate from pebble served, on a fresh data dir
#   8 web       what the web app's first and returning visits transfer
#   9 backup    chat send -> ack p50/p99 with and without `dongmul backup`
#               running on a database of 1M items; the Raspberry Pi binaries'
#               sizes (build/static-{aarch64,armv7}, from `make cross`)
#  10 conn      10,000 authenticated WebSocket clients with default flags
#               (RSS, threads), then GET /healthz under wrk while they and
#               2,000 idle TCP connections are open, against nginx
#  11 keywords  a post's latency with 10,000 users x 30 keywords vs none stored
#
# Environment: B (build dir, default build), BENCH_CHAT_THREADS (--threads
# of parts 2-4, default 1200; "default": the binary's own), BIN (the binary, default
# $B/static/dongmul), BENCH_QUICK=1 (short runs, to try the script),
# BENCH_KEEP=1 (keep the temporary directory), BENCH_GROWTH=0 (skip 6),
# BENCH_ONLY="http chat" (only those parts of: foot http chat growth acme web backup conn keywords push; prints
# the figures as lines, no table, RESULTS.md untouched — for A/B work).
# Needs wrk, nginx, sqlite3 and pebble (installed when missing and run as root).
# Every process it starts is stopped on exit (trap).
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${B:-build}
BIN=${BIN:-$B/static/dongmul}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
TOOLS=$ROOT/build/bench-tools
QUICK=${BENCH_QUICK:-0}
GROWTH=${BENCH_GROWTH:-1}
ONLY=${BENCH_ONLY:-}
want() { [ -z "$ONLY" ] || case " $ONLY " in *" $1 "*) true ;; *) false ;; esac; }
want growth || GROWTH=0
PASSWORD=benchpass1
T_START=$(date +%s)

if [ "$QUICK" = 1 ]; then
	WRK_S=3 WARM_S=1 FANOUT_MSGS=50 TP_S=3 STARTS=3 GROWTH_SIZES="10000 100000" BK_ITEMS=100000 BK_BASE_S=5
else
	WRK_S=10 WARM_S=2 FANOUT_MSGS=500 TP_S=10 STARTS=10 GROWTH_SIZES="10000 100000 1000000" BK_ITEMS=1000000 BK_BASE_S=20
fi
BK_DATA=""
USERS=10000
ITEMS=100000
RECEIVERS=1000
ROOMS=100
PER=10
CONN_N=10000
CONN_IDLE=2000
[ "$QUICK" = 1 ] && CONN_N=2000 CONN_IDLE=500

say() { printf '%s [bench] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- tools
need=""
command -v wrk >/dev/null 2>&1 || need="$need wrk"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need="$need nginx-light"
command -v sqlite3 >/dev/null 2>&1 || need="$need sqlite3"
command -v pebble >/dev/null 2>&1 || need="$need pebble"
if [ -n "$need" ]; then
	if [ "$(id -u)" = 0 ]; then
		say "installing$need"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		# shellcheck disable=SC2086
		# shellcheck disable=SC2086,SC2046
		apt-get install -y -qq --no-install-recommends $need >/dev/null ||
			apt-get install -y -qq --no-install-recommends $(echo "$need" | sed 's/nginx-light/nginx/') >/dev/null
	else
		die "missing$need. Run: sudo apt-get install$need"
	fi
fi
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
[ -x "$BIN" ] || die "no binary at $BIN (make B=$B static)"

mkdir -p "$TOOLS"
for t in hget starttime chatbench; do
	if [ ! -x "$TOOLS/$t" ] || [ bench/$t.c -nt "$TOOLS/$t" ] || [ bench/bt.h -nt "$TOOLS/$t" ]; then
		gcc -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$TOOLS/$t" bench/$t.c -lpthread || die "cannot build $t"
	fi
done

# ---------------------------------------------------- processes and trap
WORK=$(mktemp -d /tmp/dongmul-bench.XXXXXX)
DM_PID=""
NGX_PID=""
PB_PID=""
CHILD=""
BK_PID=""
BG=""
cleanup() {
	set +e
	[ -n "$PB_PID" ] && kill "$PB_PID" 2>/dev/null && wait "$PB_PID" 2>/dev/null
	[ -n "$CHILD" ] && kill -9 "$CHILD" 2>/dev/null
	for p in $BG; do kill -9 "$p" 2>/dev/null; done
	[ -n "$DM_PID" ] && kill -9 "$DM_PID" 2>/dev/null && wait "$DM_PID" 2>/dev/null
	[ -n "$BK_PID" ] && kill -9 "$BK_PID" 2>/dev/null
	[ -n "$NGX_PID" ] && kill -QUIT "$NGX_PID" 2>/dev/null && sleep 0.3 && kill -9 "$NGX_PID" 2>/dev/null
	if [ "${BENCH_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# run CMD...: runs a load generator in the background and waits for it, so
# that a signal reaches the trap at once (sh runs traps only between
# foreground commands); the exit status is the command's.
run() {
	"$@" &
	CHILD=$!
	rc=0
	wait "$CHILD" || rc=$?
	CHILD=""
	return $rc
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
NPORT=$(free_port)
URL=http://127.0.0.1:$PORT

# start_dm DATA ARGS...: starts dongmul on DATA and waits for /healthz.
start_dm() {
	data=$1
	shift
	"$BIN" serve --http "127.0.0.1:$PORT" --data "$data" "$@" >>"$WORK/dongmul.log" 2>&1 &
	DM_PID=$!
	i=0
	until curl -fs -o /dev/null "$URL/healthz"; do
		kill -0 "$DM_PID" 2>/dev/null || { DM_PID=""; tail -5 "$WORK/dongmul.log" >&2; die "dongmul did not start"; }
		i=$((i + 1))
		[ $i -lt 1500 ] || die "dongmul did not answer /healthz in 15 s"
		sleep 0.01
	done
}
# stop_dm: SIGTERM and wait; the exit status must be 0.
stop_dm() {
	kill -TERM "$DM_PID"
	rc=0
	wait "$DM_PID" || rc=$?
	DM_PID=""
	[ $rc = 0 ] || say "warning: dongmul exited with status $rc"
}
post() { # PATH JSON [TOKEN]
	if [ -n "${3:-}" ]; then
		curl -s -X POST "$URL$1" -H 'content-type: application/json' -H "authorization: $3" -d "$2"
	else
		curl -s -X POST "$URL$1" -H 'content-type: application/json' -d "$2"
	fi
}
kv() { sed -n "s/^$1=//p" "$2" | tail -1; }
jfield() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
login() { post /account/login "{\"email\":\"$1\",\"password\":\"$PASSWORD\"}" | jfield token; }
now_ms() { echo $(($(date +%s) * 1000)); }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# ms from a wrk latency figure ("131.49ms", "850.00us", "1.20s")
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, v }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
kv() { sed -n "s/^$1=//p" "$2" | tail -1; }

LOAD0=$(loadavg)
say "work dir $WORK, port $PORT, load average $LOAD0"

# ------------------------------------------------------------------ seed
# 1. the schema and user 1 (through the API: a real PHC hash)
EMPTY=$WORK/empty
DATA=$WORK/data
mkdir -p "$EMPTY"
start_dm "$EMPTY" --pbkdf2-iterations 1000 --no-email-verification --access-log=0
r=$(post /account "{\"email\":\"u1@bench.test\",\"nickname\":\"벤치1\",\"password\":\"$PASSWORD\"}")
echo "$r" | grep -q '"success"' || die "sign-up: $r"
TOK1=$(login u1@bench.test)
[ -n "$TOK1" ] || die "login of u1 failed"
r=$(post /myPage/address '{"new_address":"서울 강남구"}' "$TOK1")
echo "$r" | grep -q '"success"' || die "address: $r"
stop_dm
PHC=$(sqlite3 "$EMPTY/dongmul.db" "SELECT password FROM user WHERE userId = 1")
case $PHC in '$pbkdf2'*) ;; *) die "no password hash for user 1" ;; esac

# seed SIZE DIR: a copy of the empty database with USERS users and SIZE items
seed() {
	mkdir -p "$2"
	cp "$EMPTY/dongmul.db" "$EMPTY/jwt.key" "$2/"
	t0=$(date +%s)
	sh bench/seed.sh "$2/dongmul.db" "$USERS" "$1" "$PHC" "$(now_ms)"
	say "seeded $1 items in $(($(date +%s) - t0)) s ($(du -sm "$2" | cut -f1) MB)"
}
seed $ITEMS "$DATA"
DETAIL_ID=$(sqlite3 "$DATA/dongmul.db" "SELECT itemId FROM saleItem WHERE status = 'SI01' ORDER BY itemId LIMIT 1 OFFSET 500")

# -------------------------------------------------------- 5. start time
if want foot; then
say "start time: $STARTS starts"
run "$TOOLS/starttime" "$STARTS" "$PORT" "$BIN" serve --http "127.0.0.1:$PORT" --data "$DATA" \
	--access-log=0 >"$WORK/start.txt" || die "starttime"
START_MS=$(tail -1 "$WORK/start.txt" | awk '{ printf "%.1f", $1 / 1000 }')
START_SPREAD=$(tail -1 "$WORK/start.txt" | awk '{ printf "%.1f–%.1f", $2 / 1000, $3 / 1000 }')
BIN_SIZE=$(stat -c %s "$BIN")
if file "$BIN" 2>/dev/null | grep -q 'not stripped'; then STRIPPED=no; else STRIPPED=yes; fi

# ---------------------------------------------- 5. idle RSS (defaults)
start_dm "$DATA" --access-log=0
for p in /healthz /mainPage/noLogin "/postDetail/$DETAIL_ID" /mainPage/noLogin; do
	curl -fs -o /dev/null "$URL$p" || die "GET $p"
done
curl -fs -o /dev/null -H "authorization: $(login u1@bench.test)" "$URL/mainPage" || die "GET /mainPage"
sleep 1
IDLE_KB=$(rss_kb "$DM_PID")
stop_dm
say "  start $START_MS ms, binary $BIN_SIZE bytes, idle RSS $IDLE_KB kB"
fi

# wrkrun NAME URL [HEADER]: sets W_RPS W_P50 W_P99 W_ERR
wrkrun() {
	out=$WORK/wrk-$1.txt
	if [ -n "${3:-}" ]; then
		run wrk -t2 -c64 -d"${WARM_S}s" -H "$3" "$2" >/dev/null 2>&1
		run wrk -t2 -c64 -d"${WRK_S}s" --latency -H "$3" "$2" >"$out" 2>&1
	else
		run wrk -t2 -c64 -d"${WARM_S}s" "$2" >/dev/null 2>&1
		run wrk -t2 -c64 -d"${WRK_S}s" --latency "$2" >"$out" 2>&1
	fi
	W_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	W_P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	W_P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	W_ERR=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
	[ -n "$W_RPS" ] || die "wrk $1: $(cat "$out")"
}
# kv KEY FILE: the value of a key=value line a tool printed
kv() { sed -n "s/^$1=//p" "$2" | tail -1; }

# ---------------------------------------------------------------- 1. HTTP
if want http; then
say "HTTP: dongmul vs nginx, wrk -t2 -c64 -d${WRK_S}s"
start_dm "$DATA" --access-log=0 --threads 72
TOK1=$(login u1@bench.test)
NG=$WORK/nginx
mkdir -p "$NG/www" "$NG/tmp"
curl -fs -o "$NG/www/feed.json" "$URL/mainPage/noLogin" || die "feed"
curl -fs -o "$NG/www/detail.json" "$URL/postDetail/$DETAIL_ID" || die "detail"
curl -fs -o "$NG/www/region.json" -H "authorization: $TOK1" "$URL/mainPage" || die "region feed"
curl -fs -o "$NG/www/healthz.json" "$URL/healthz" || die "healthz"
NGUSER=""
[ "$(id -u)" = 0 ] && NGUSER="user root;"
cat >"$NG/nginx.conf" <<EOF
$NGUSER
worker_processes $(nproc);
daemon off;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $NG/tmp/body;
	proxy_temp_path $NG/tmp/proxy;
	fastcgi_temp_path $NG/tmp/fastcgi;
	uwsgi_temp_path $NG/tmp/uwsgi;
	scgi_temp_path $NG/tmp/scgi;
	keepalive_requests 1000000;
	default_type application/json;
	server {
		listen 127.0.0.1:$NPORT;
		location = /mainPage/noLogin { alias $NG/www/feed.json; }
		location = /postDetail/$DETAIL_ID { alias $NG/www/detail.json; }
		location = /mainPage { alias $NG/www/region.json; }
		location = /healthz { alias $NG/www/healthz.json; }
	}
}
EOF
"$NGINX" -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" &
NGX_PID=$!
i=0
until curl -fs -o /dev/null "http://127.0.0.1:$NPORT/mainPage/noLogin"; do
	i=$((i + 1))
	[ $i -lt 500 ] || { cat "$NG/error.log" >&2; die "nginx did not start"; }
	sleep 0.01
done

http_case() { # KEY PATH [HEADER]
	wrkrun "$1-nginx1" "http://127.0.0.1:$NPORT$2" "${3:-}"
	n1=$W_RPS
	wrkrun "$1-dongmul" "$URL$2" "${3:-}"
	eval "H_$1_RPS=$W_RPS H_$1_P50=$W_P50 H_$1_P99=$W_P99 H_$1_ERR=$W_ERR"
	wrkrun "$1-nginx2" "http://127.0.0.1:$NPORT$2" "${3:-}"
	n2=$W_RPS
	eval "H_$1_NGX=$(awk -v a="$n1" -v b="$n2" 'BEGIN { printf "%.0f", (a + b) / 2 }')"
	eval "H_$1_NGXP99=$W_P99"
	eval "H_$1_NOISE=$(awk -v a="$n1" -v b="$n2" 'BEGIN { d = a - b; if (d < 0) d = -d; printf "%.0f", 100 * d / ((a + b) / 2) }')"
	say "  $2: dongmul $(eval echo "\$H_$1_RPS") req/s, nginx $n1 / $n2 req/s"
}
http_case feed /mainPage/noLogin
http_case detail "/postDetail/$DETAIL_ID"
http_case region /mainPage "authorization: $TOK1"
http_case healthz /healthz
kill -QUIT "$NGX_PID" 2>/dev/null || true
wait "$NGX_PID" 2>/dev/null || true
NGX_PID=""
stop_dm
fi

# ---------------------------------------------------------------- 8. web app
# What a first visit to / transfers (app shell gzip'd + the first data,
# photos excluded) and a returning visit (index.html revalidated + data),
# against the seeded market; bench/webload.sh.
if want web; then
	start_dm "$DATA" --access-log=0
	sh "$ROOT/bench/webload.sh" "$URL" >"$WORK/web.txt" || die "webload: $(cat "$WORK/web.txt")"
	stop_dm
	WEB_FILES=$(kv web_files "$WORK/web.txt")
	WEB_APP=$(kv web_app_bytes "$WORK/web.txt")
	WEB_PLAIN=$(kv web_app_plain_bytes "$WORK/web.txt")
	WEB_DATA=$(kv web_data_bytes "$WORK/web.txt")
	WEB_FIRST=$(kv web_first_bytes "$WORK/web.txt")
	WEB_RETURN=$(kv web_return_bytes "$WORK/web.txt")
	say "  web: first load $WEB_FIRST bytes (app $WEB_APP in $WEB_FILES files, $WEB_PLAIN uncompressed; data $WEB_DATA); returning visit $WEB_RETURN"
fi

# ---------------------------------------------------------- 11. keyword alerts
# POST /mainPage/write → its reply (the alerts commit in the post's own write
# job), KW_POSTS sequential posts by user 1, p50/p99: on a copy of the market
# whose 10,000 users all live in the poster's region (the worst case: every
# match alerts) with 30 keywords each (300,000 rows, words drawn from a pool of
# 3,000: 40 everyday item names, some of which the post mentions, the rest 2–3
# syllable words), against the same copy with no keywords stored, measured
# before and after it.
if want keywords; then
	KWD=$WORK/data-kw
	mkdir -p "$KWD"
	cp "$DATA/dongmul.db" "$DATA/jwt.key" "$KWD/"
	sqlite3 "$KWD/dongmul.db" >/dev/null <<SQL || die "keyword seed"
CREATE TEMP TABLE pool(k INTEGER PRIMARY KEY, w TEXT);
INSERT INTO pool(k, w) SELECT key, value FROM json_each(json_array(
 '자전거','아이폰','노트북','유모차','캠핑의자','전기포트','책상','화분','레고','운동화',
 '모니터','키보드','청소기','에어프라이어','텐트','기타','카메라','소설책','수족관','커피머신',
 '아이패드','닌텐도','스위치','의자','식탁','침대','옷장','선풍기','가습기','밥솥',
 '헬멧','킥보드','보드게임','그림책','장난감','인형','카시트','젖병','골프채','등산화'));
INSERT INTO pool(k, w)
WITH RECURSIVE n(i) AS (SELECT 40 UNION ALL SELECT i + 1 FROM n WHERE i < 2999)
SELECT i, char(44032 + (i * 7919) % 11172) || char(44032 + (i * 104729) % 11172)
       || iif(i % 3 = 0, '', char(44032 + (i * 31) % 11172)) FROM n;
INSERT OR IGNORE INTO keyword(userId, word, head, createdDt)
WITH RECURSIVE u(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM u WHERE i < $USERS),
     j(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM j WHERE k < 29)
SELECT u.i, p.w, substr(p.w, 1, 3), $(now_ms) FROM u, j JOIN pool p ON p.k = (u.i * 37 + j.k * 101) % 3000;
SQL
	KW_ROWS=$(sqlite3 "$KWD/dongmul.db" "SELECT count(*) FROM keyword")
	# the seed's regions (25 districts, 400 users each): the matcher's probes
	# are the same, only the poster's neighbours are alerted
	cp "$KWD/dongmul.db" "$WORK/kw-spread.db"
	sqlite3 "$KWD/dongmul.db" "UPDATE user SET address = (SELECT address FROM user WHERE userId = 1)" || die "keyword region"
	# a 2×2 PNG
	python3 -c 'import zlib, struct, sys
def c(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + c(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
	+ c(b"IDAT", zlib.compress(b"\0" + b"\x80" * 6 + b"\0" + b"\x40" * 6)) + c(b"IEND", b""))' >"$WORK/kw.png"
	KW_POSTS=200
	[ "$QUICK" = 1 ] && KW_POSTS=40
	KW_DEADLINE=$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%SZ)
	# kwrun NAME: KW_POSTS posts; their times (ms), sorted, in $WORK/kw-NAME.txt
	kwrun() {
		start_dm "$KWD" --access-log=0 --pbkdf2-iterations 1000 --quota-posts 1000000 --quota-upload-mb 1000000
		tok=$(login u1@bench.test)
		i=0
		: >"$WORK/kw-$1.raw"
		while [ $i -lt "$KW_POSTS" ]; do
			curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "authorization: $tok" \
				-F "file=@$WORK/kw.png;type=image/png" -F "title=어린이 자전거와 캠핑의자 $i" -F "category=기타 중고물품" \
				-F "wantItem=노트북이나 아이패드" -F "deadLine=$KW_DEADLINE" \
				-F "comment=아이가 커서 더 이상 타지 않는 자전거입니다. 헬멧과 킥보드도 함께 드려요. 캠핑 갈 때 쓰던 의자는 두 번 썼어요. 상태 좋습니다. 역삼역 근처에서 직거래해요." \
				"$URL/mainPage/write" >>"$WORK/kw-$1.raw"
			i=$((i + 1))
		done
		stop_dm
		awk '$1 != 201 { bad++ } END { exit bad > 0 }' "$WORK/kw-$1.raw" ||
			die "keyword posts: $(sort "$WORK/kw-$1.raw" | cut -d' ' -f1 | uniq -c | head -3)"
		awk '{ printf "%.3f\n", $2 * 1000 }' "$WORK/kw-$1.raw" | sort -n >"$WORK/kw-$1.txt"
	}
	pct() { awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; printf "%.1f", v[i] }' "$1"; }
	cp "$KWD/dongmul.db" "$WORK/kw-full.db"
	sqlite3 "$KWD/dongmul.db" "DELETE FROM keyword" || die "keyword clear"
	kwrun none1
	N0=$(sqlite3 "$KWD/dongmul.db" "SELECT count(*) FROM notification WHERE type = 'keyword'")
	[ "$N0" = 0 ] || die "keyword alerts without keywords: $N0"
	rm -f "$KWD/dongmul.db-wal" "$KWD/dongmul.db-shm"
	cp "$WORK/kw-full.db" "$KWD/dongmul.db"
	kwrun kw
	KW_ALERTS=$(sqlite3 "$KWD/dongmul.db" "SELECT count(*) FROM notification WHERE type = 'keyword'")
	KW_ALERTS_N=$(sqlite3 "$KWD/dongmul.db" "SELECT sum(cnt) FROM notification WHERE type = 'keyword'")
	rm -f "$KWD/dongmul.db-wal" "$KWD/dongmul.db-shm"
	cp "$WORK/kw-spread.db" "$KWD/dongmul.db"
	kwrun spread
	KWS_ALERTS_N=$(sqlite3 "$KWD/dongmul.db" "SELECT sum(cnt) FROM notification WHERE type = 'keyword'")
	sqlite3 "$KWD/dongmul.db" "DELETE FROM keyword" || die "keyword clear"
	kwrun none2
	cat "$WORK/kw-none1.txt" "$WORK/kw-none2.txt" | sort -n >"$WORK/kw-none.txt"
	KW_P50=$(pct "$WORK/kw-kw.txt" 50)
	KW_P99=$(pct "$WORK/kw-kw.txt" 99)
	KW0_P50=$(pct "$WORK/kw-none.txt" 50)
	KW0_P99=$(pct "$WORK/kw-none.txt" 99)
	KW0A_P99=$(pct "$WORK/kw-none1.txt" 99)
	KW0B_P99=$(pct "$WORK/kw-none2.txt" 99)
	KW_PER=$(awk -v a="$KW_ALERTS_N" -v n="$KW_POSTS" 'BEGIN { printf "%.0f", a / n }')
	KWS_PER=$(awk -v a="$KWS_ALERTS_N" -v n="$KW_POSTS" 'BEGIN { printf "%.0f", a / n }')
	KWS_P50=$(pct "$WORK/kw-spread.txt" 50)
	KWS_P99=$(pct "$WORK/kw-spread.txt" 99)
	KW_D50=$(awk -v a="$KW_P50" -v b="$KW0_P50" 'BEGIN { printf "%.1f", a - b }')
	KWS_D50=$(awk -v a="$KWS_P50" -v b="$KW0_P50" 'BEGIN { printf "%.1f", a - b }')
	KWS_DIFF=$(awk -v a="$KWS_P99" -v b="$KW0_P99" 'BEGIN { printf "%.1f", a - b }')
	KW_DIFF=$(awk -v a="$KW_P99" -v b="$KW0_P99" 'BEGIN { printf "%.1f", a - b }')
	rm -rf "$KWD" "$WORK/kw-full.db" "$WORK/kw-spread.db"
	say "  keywords: post p50 / p99 with $KW_ROWS keywords: all in one region $KW_P50 / $KW_P99 ms ($KW_PER alerts per post), in the seed's 25 regions $KWS_P50 / $KWS_P99 ms ($KWS_PER alerts per post); none stored $KW0_P50 / $KW0_P99 ms (p99 before / after: $KW0A_P99 / $KW0B_P99 ms)"
	say "  keywords: p50 / p99 over none: one region +$KW_D50 / +$KW_DIFF ms, 25 regions +$KWS_D50 / +$KWS_DIFF ms"
fi

# ------------------------------------------------------------ 2, 3, 4. chat
if want chat; then
say "chat: logging in $((RECEIVERS + 1)) users"
# BENCH_CHAT_THREADS: --threads for the chat part (default 1200: a binary
# whose WebSockets hold a worker each needs that many; "default" leaves the
# flag out)
CHAT_THREADS=${BENCH_CHAT_THREADS:-1200}
CHAT_ARGS="--access-log=0 --pbkdf2-iterations 1000 --rate-login 100000 --rate-window 60 --quota-messages 1000000"
[ "$CHAT_THREADS" = default ] || CHAT_ARGS="$CHAT_ARGS --threads $CHAT_THREADS"
# shellcheck disable=SC2086
start_dm "$DATA" $CHAT_ARGS
sleep 0.5
CHAT_IDLE_KB=$(rss_kb "$DM_PID")
run "$TOOLS/chatbench" login --port "$PORT" --first 2 --count $((RECEIVERS + 1)) --password "$PASSWORD" \
	--out "$WORK/tokens.raw" >"$WORK/login.txt" || die "login: $(cat "$WORK/login.txt")"
sort -n "$WORK/tokens.raw" >"$WORK/tokens"
# the rooms: open items (their owners are seeded users; they stay offline)
FAN_ROOM=$(sqlite3 "$DATA/dongmul.db" "SELECT icrId FROM itemChatRoom c JOIN saleItem s USING (itemId) WHERE s.status = 'SI01' ORDER BY icrId LIMIT 1 OFFSET 1000")
TP_ROOMS=$(sqlite3 "$DATA/dongmul.db" "SELECT group_concat(icrId) FROM (SELECT icrId FROM itemChatRoom c JOIN saleItem s USING (itemId) WHERE s.status = 'SI01' ORDER BY icrId LIMIT $ROOMS OFFSET 2000)")

say "fan-out: $((RECEIVERS + 1)) users join room $FAN_ROOM (one at a time)"
run "$TOOLS/chatbench" join --port "$PORT" --tokens "$WORK/tokens" --from 0 --count $((RECEIVERS + 1)) \
	--rooms "$FAN_ROOM" --per $((RECEIVERS + 1)) --conc 1 >"$WORK/join1.txt" || die "join: $(cat "$WORK/join1.txt")"
say "fan-out: $RECEIVERS receivers, $FANOUT_MSGS messages"
run "$TOOLS/chatbench" fanout --port "$PORT" --tokens "$WORK/tokens" --room "$FAN_ROOM" --receivers $RECEIVERS \
	--messages $FANOUT_MSGS --pid "$DM_PID" >"$WORK/fanout.txt" || die "fan-out: $(cat "$WORK/fanout.txt")"
FO_P50=$(awk -v v="$(kv fanout_p50_us "$WORK/fanout.txt")" 'BEGIN { printf "%.2f", v / 1000 }')
FO_P99=$(awk -v v="$(kv fanout_p99_us "$WORK/fanout.txt")" 'BEGIN { printf "%.2f", v / 1000 }')
FO_N=$(kv fanout_messages "$WORK/fanout.txt")
RSS_CLIENTS=$(kv rss_clients_kb "$WORK/fanout.txt")
RSS_PEAK=$(kv rss_peak_kb "$WORK/fanout.txt")
FO_LOST=$(kv fanout_lost_clients "$WORK/fanout.txt")

say "throughput: $ROOMS rooms x $PER members join"
run "$TOOLS/chatbench" join --port "$PORT" --tokens "$WORK/tokens" --from 0 --count $((ROOMS * PER)) \
	--rooms "$TP_ROOMS" --per $PER --conc 16 >"$WORK/join2.txt" || die "join: $(cat "$WORK/join2.txt")"
msgs() { sqlite3 "$DATA/dongmul.db" "SELECT count(*) FROM itemChatRoomUserMsg WHERE msgType = 'TXT01'"; }
ROWS0=$(msgs)
say "throughput: ${TP_S} s, window 8"
run "$TOOLS/chatbench" tp --port "$PORT" --tokens "$WORK/tokens" --rooms "$TP_ROOMS" --per $PER --window 8 \
	--duration "$TP_S" --pid "$DM_PID" >"$WORK/tp.txt" || die "throughput: $(cat "$WORK/tp.txt")"
ROWS1=$(msgs)
TP_RATE=$(kv tp_msgs_per_s "$WORK/tp.txt")
TP_ACKED=$(kv tp_acked "$WORK/tp.txt")
TP_FAILED=$(kv tp_failed "$WORK/tp.txt")
TP_DELIV=$(kv tp_delivered "$WORK/tp.txt")
TP_EXPECT=$(kv tp_expected "$WORK/tp.txt")
TP_ROWS=$((ROWS1 - ROWS0))
TP_CLOSED=$(kv tp_closed_by_server "$WORK/tp.txt")

say "durability: the same load, kill -9 after 3 s"
run "$TOOLS/chatbench" tp --port "$PORT" --tokens "$WORK/tokens" --rooms "$TP_ROOMS" --per $PER --window 8 \
	--duration 60 --kill "$DM_PID" --kill-after 3 --ids "$WORK/ids" >"$WORK/dur.txt" ||
	die "durability run: $(cat "$WORK/dur.txt")"
wait "$DM_PID" 2>/dev/null || true
DM_PID=""
DUR_IDS=$(kv dur_ids "$WORK/dur.txt")
# shellcheck disable=SC2086
start_dm "$DATA" $CHAT_ARGS
{
	echo "CREATE TEMP TABLE got(id INTEGER PRIMARY KEY);"
	echo "BEGIN;"
	sed 's/.*/INSERT OR IGNORE INTO got VALUES (&);/' "$WORK/ids"
	echo "COMMIT;"
	echo "SELECT count(*) FROM got WHERE id NOT IN (SELECT icruMsgId FROM itemChatRoomUserMsg);"
} | sqlite3 "$DATA/dongmul.db" >"$WORK/lost.txt"
LOST=$(tail -1 "$WORK/lost.txt")
stop_dm
say "  fan-out p50/p99 $FO_P50/$FO_P99 ms ($FO_N timed, $FO_LOST dropped); RSS with clients $RSS_CLIENTS kB (peak $RSS_PEAK)"
say "  throughput $TP_RATE msg/s ($TP_ACKED acked, $TP_ROWS rows, delivered $TP_DELIV of $TP_EXPECT); lost $LOST of $DUR_IDS"
fi

# ------------------------------------------------------------------ 7. ACME
# pebble (Let's Encrypt's test CA, Debian's package) on loopback, without
# its random validation sleeps; its HTTPS on a throwaway CA that dongmul
# trusts through --ca-bundle; it validates HTTP-01 on dongmul's port.
ACME_RUNS=5
[ "$QUICK" = 1 ] && ACME_RUNS=3
if want acme; then
say "ACME: $ACME_RUNS starts, each until a certificate from pebble is served"
PB=$WORK/pebble
mkdir -p "$PB"
HPORT=$(free_port)
SPORT=$(free_port)
PBPORT=$(free_port)
PBMGMT=$(free_port)
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
# shellcheck disable=SC2086
(cd "$PB" && openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null &&
	openssl req $ec -keyout srv.key -out srv.csr -subj /CN=localhost 2>/dev/null &&
	printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
	openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf \
		-out srv.crt 2>/dev/null) || die "pebble certificates"
printf '{"pebble": {"listenAddress": "127.0.0.1:%s", "managementListenAddress": "127.0.0.1:%s",
 "certificate": "%s/srv.crt", "privateKey": "%s/srv.key", "httpPort": %s, "tlsPort": %s,
 "ocspResponderURL": "", "externalAccountBindingRequired": false}}\n' \
	"$PBPORT" "$PBMGMT" "$PB" "$PB" "$HPORT" "$SPORT" >"$PB/pebble.json"
PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 pebble -config "$PB/pebble.json" >"$PB/pebble.log" 2>&1 &
PB_PID=$!
i=0
until curl -fs --cacert "$PB/ca.crt" -o /dev/null "https://localhost:$PBPORT/dir"; do
	kill -0 "$PB_PID" 2>/dev/null || { PB_PID=""; die "pebble did not start: $(tail -3 "$PB/pebble.log")"; }
	i=$((i + 1))
	[ $i -lt 400 ] || die "pebble did not answer in 20 s"
	sleep 0.05
done
curl -fs --cacert "$PB/ca.crt" -o "$PB/root.pem" "https://localhost:$PBMGMT/roots/0" || die "pebble root"
run python3 bench/acmetime.py "$ACME_RUNS" "$SPORT" "$PB/root.pem" "$BIN" serve --http "127.0.0.1:$HPORT" \
	--https "127.0.0.1:$SPORT" --acme-domain localhost --acme-directory "https://localhost:$PBPORT/dir" \
	--ca-bundle "$PB/ca.crt" --access-log=0 >"$WORK/acme.txt" || die "acmetime"
kill "$PB_PID"
wait "$PB_PID" 2>/dev/null || true
PB_PID=""
ACME_S=$(tail -1 "$WORK/acme.txt" | awk '{ printf "%.2f", $1 / 1000 }')
ACME_SPREAD=$(tail -1 "$WORK/acme.txt" | awk '{ printf "%.2f–%.2f", $2 / 1000, $3 / 1000 }')
say "  certificate served $ACME_S s after start (range $ACME_SPREAD s)"
fi

# ------------------------------------------------------- 10. connections
# wait_file FILE SECONDS: until FILE exists (a load generator is ready)
wait_file() {
	i=0
	until [ -e "$1" ]; do
		i=$((i + 1))
		[ $i -lt $(($2 * 10)) ] || die "no $1 after $2 s"
		sleep 0.1
	done
}
if want conn; then
say "connections: $CONN_N authenticated WebSocket clients, default connection flags"
# only what logging in 10,000 users quickly needs; --threads and every sio
# flag stay at their defaults
start_dm "$DATA" --access-log=0 --pbkdf2-iterations 1000 --rate-login 100000 --rate-window 60
run "$TOOLS/chatbench" login --port "$PORT" --first 1 --count "$CONN_N" --password "$PASSWORD" \
	--out "$WORK/ctokens.raw" >"$WORK/clogin.txt" || die "login: $(cat "$WORK/clogin.txt")"
sort -n "$WORK/ctokens.raw" >"$WORK/ctokens"
stop_dm
start_dm "$DATA" --access-log=0
sleep 0.5
C_RSS0=$(rss_kb "$DM_PID")
# the same binary and flags with nothing else open: what the sockets cost
wrkrun conn-bare "$URL/healthz"
C_BARE=$W_RPS C_BARE_P99=$W_P99
C_TH0=$(awk '/^Threads:/ { print $2 }' "/proc/$DM_PID/status")
# 16 source addresses (127.0.0.1-16): sessions and connections are capped
# per address (--sio-max-per-ip, --max-conns-per-ip)
"$TOOLS/chatbench" hold --port "$PORT" --tokens "$WORK/ctokens" --count "$CONN_N" --sources 16 --pid "$DM_PID" \
	--ready "$WORK/hold.ready" --hold 600 >"$WORK/hold.txt" 2>"$WORK/hold.err" &
HOLD_PID=$!
BG="$BG $HOLD_PID"
wait_file "$WORK/hold.ready" 600
C_OK=$(kv hold_connected "$WORK/hold.txt")
C_RSS=$(kv hold_rss_kb "$WORK/hold.txt")
C_TH=$(kv hold_threads "$WORK/hold.txt")
C_MS=$(kv hold_connect_ms "$WORK/hold.txt")
C_PER=$(awk -v a="$C_RSS" -v b="$C_RSS0" -v n="$C_OK" 'BEGIN { if (n > 0) printf "%.1f", (a - b) / n; else print "-" }')
say "  $C_OK of $CONN_N connected in $C_MS ms: RSS $C_RSS kB ($C_RSS0 kB before: $C_PER kB per client), threads $C_TH ($C_TH0 before)"
"$TOOLS/chatbench" idle --port "$PORT" --count "$CONN_IDLE" --sources 16 --ready "$WORK/idle.ready" --hold 600 \
	>"$WORK/idle.txt" 2>&1 &
IDLE_PID=$!
BG="$BG $IDLE_PID"
wait_file "$WORK/idle.ready" 60
C_IDLE=$(kv idle_opened "$WORK/idle.txt")
NG=$WORK/nginx-conn
mkdir -p "$NG/www" "$NG/tmp"
curl -fs -o "$NG/www/healthz.json" "$URL/healthz" || die "healthz with $C_OK clients"
NGUSER=""
[ "$(id -u)" = 0 ] && NGUSER="user root;"
cat >"$NG/nginx.conf" <<EOF
$NGUSER
worker_processes $(nproc);
daemon off;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $NG/tmp/body;
	proxy_temp_path $NG/tmp/proxy;
	fastcgi_temp_path $NG/tmp/fastcgi;
	uwsgi_temp_path $NG/tmp/uwsgi;
	scgi_temp_path $NG/tmp/scgi;
	keepalive_requests 1000000;
	default_type application/json;
	server {
		listen 127.0.0.1:$NPORT;
		location = /healthz { alias $NG/www/healthz.json; }
	}
}
EOF
"$NGINX" -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" &
NGX_PID=$!
i=0
until curl -fs -o /dev/null "http://127.0.0.1:$NPORT/healthz"; do
	i=$((i + 1))
	[ $i -lt 500 ] || { cat "$NG/error.log" >&2; die "nginx did not start"; }
	sleep 0.01
done
wrkrun conn-nginx1 "http://127.0.0.1:$NPORT/healthz"
c_n1=$W_RPS
wrkrun conn-dongmul "$URL/healthz"
C_RPS=$W_RPS C_P50=$W_P50 C_P99=$W_P99 C_ERR=$W_ERR
wrkrun conn-nginx2 "http://127.0.0.1:$NPORT/healthz"
C_NGX=$(awk -v a="$c_n1" -v b="$W_RPS" 'BEGIN { printf "%.0f", (a + b) / 2 }')
C_NOISE=$(awk -v a="$c_n1" -v b="$W_RPS" 'BEGIN { d = a - b; if (d < 0) d = -d; printf "%.0f", 100 * d / ((a + b) / 2) }')
C_RATIO=$(awk -v a="$C_RPS" -v b="$C_NGX" 'BEGIN { printf "%.1f", 100 * a / b }')
C_STILL=$(awk '/^Threads:/ { print $2 }' "/proc/$DM_PID/status")
kill -QUIT "$NGX_PID" 2>/dev/null || true
wait "$NGX_PID" 2>/dev/null || true
NGX_PID=""
kill "$HOLD_PID" "$IDLE_PID" 2>/dev/null || true
wait "$HOLD_PID" 2>/dev/null || true
wait "$IDLE_PID" 2>/dev/null || true
BG=""
stop_dm
say "  /healthz with $C_OK sockets + $C_IDLE idle TCP: dongmul $C_RPS req/s (p99 $C_P99 ms), nginx $c_n1 / $W_RPS: $C_RATIO%; with nothing open $C_BARE req/s (p99 $C_BARE_P99 ms)"
fi

# ------------------------------------------------------------ 12. Web Push
PUSH_N=2000
[ "$QUICK" = 1 ] && PUSH_N=300
if want push; then
say "Web Push: $PUSH_N pushes to a local push service, and as many plain HTTPS POSTs (bench/pushbench.js)"
run node bench/pushbench.js "$BIN" "$WORK/push" "$PUSH_N" >"$WORK/push.txt" || die "pushbench"
PUSH_RATE=$(kv PUSH_RATE "$WORK/push.txt")
PUSH_BASE1=$(kv PUSH_BASE1 "$WORK/push.txt")
PUSH_BASE2=$(kv PUSH_BASE2 "$WORK/push.txt")
PUSH_RATIO=$(kv PUSH_RATIO "$WORK/push.txt")
PUSH_LEFT=$(kv PUSH_LEFT "$WORK/push.txt")
PUSH_BODY=$(kv PUSH_BODY "$WORK/push.txt")
say "  $PUSH_RATE pushes/s delivered ($PUSH_LEFT left in the outbox); plain HTTPS POSTs $PUSH_BASE1 / $PUSH_BASE2 per s: $PUSH_RATIO%"
fi

# ---------------------------------------------------------------- 6. growth
if [ "$GROWTH" = 1 ]; then
	for n in $GROWTH_SIZES; do
		if [ "$n" = "$ITEMS" ]; then d=$DATA; else d=$WORK/data-$n; seed "$n" "$d"; fi
		start_dm "$d" --access-log=0 --pbkdf2-iterations 1000
		tok=$(login u1@bench.test)
		a=$("$TOOLS/hget" 127.0.0.1 "$PORT" /mainPage/noLogin 300) || die "hget"
		r=$("$TOOLS/hget" 127.0.0.1 "$PORT" /mainPage 300 "authorization: $tok") || die "hget"
		# the same first page, rendered for each request: a cursor past every
		# deadline, different each time (%x), so the reply cache cannot answer
		au=$("$TOOLS/hget" 127.0.0.1 "$PORT" "/mainPage/noLogin?cursor=fffffffffff_%x" 300) || die "hget"
		ru=$("$TOOLS/hget" 127.0.0.1 "$PORT" "/mainPage?cursor=fffffffffff_%x" 300 "authorization: $tok") || die "hget"
		stop_dm
		if [ "$n" = "$BK_ITEMS" ] && want backup; then BK_DATA=$d; elif [ "$d" != "$DATA" ]; then rm -rf "$d"; fi
		eval "G_${n}_ANON=$(echo "$a" | awk '{ printf "%.2f", $1 / 1000 }')"
		eval "G_${n}_REGION=$(echo "$r" | awk '{ printf "%.2f", $1 / 1000 }')"
		eval "G_${n}_ANONU=$(echo "$au" | awk '{ printf "%.2f", $1 / 1000 }')"
		eval "G_${n}_REGIONU=$(echo "$ru" | awk '{ printf "%.2f", $1 / 1000 }')"
		say "  $n items: feed p50 cached / rendered: anonymous $(eval echo "\$G_${n}_ANON") / $(eval echo "\$G_${n}_ANONU") ms, region $(eval echo "\$G_${n}_REGION") / $(eval echo "\$G_${n}_REGIONU") ms"
	done
fi
# ---------------------------------------------------------------- 9. backup
if want backup; then
	d=$BK_DATA
	[ -n "$d" ] || { d=$WORK/data-backup; seed "$BK_ITEMS" "$d"; }
	# photos: 20 files (random bytes under their sha256 names), each item
	# uses one of them, so the backup copies real files without 1M of them
	mkdir -p "$d/images"
	vals=""
	for k in $(seq 1 20); do
		head -c 30000 /dev/urandom >"$WORK/photo"
		h=$(sha256sum "$WORK/photo" | cut -c1-64)
		mv "$WORK/photo" "$d/images/$h.jpg"
		vals="$vals${vals:+,}($k,'$h.jpg')"
	done
	sqlite3 "$d/dongmul.db" "CREATE TEMP TABLE p(k INTEGER PRIMARY KEY, n TEXT); INSERT INTO p VALUES $vals;
		UPDATE saleItem SET image = (SELECT n FROM p WHERE k = 1 + itemId % 20);" || die "photos"
	BK_DB_MB=$(du -m "$d/dongmul.db" | cut -f1)
	BK_N=$(sqlite3 "$d/dongmul.db" "SELECT count(*) FROM saleItem")
	start_dm "$d" --access-log=0 --pbkdf2-iterations 1000 --rate-login 100000 --rate-window 60
	run "$TOOLS/chatbench" login --port "$PORT" --first 2 --count 2 --password "$PASSWORD" \
		--out "$WORK/bk-tokens.raw" >"$WORK/bk-login.txt" || die "login: $(cat "$WORK/bk-login.txt")"
	sort -n "$WORK/bk-tokens.raw" >"$WORK/bk-tokens"
	BK_ROOM=$(sqlite3 "$d/dongmul.db" "SELECT icrId FROM itemChatRoom c JOIN saleItem s USING (itemId) WHERE s.status = 'SI01' ORDER BY icrId LIMIT 1 OFFSET 3000")
	run "$TOOLS/chatbench" join --port "$PORT" --tokens "$WORK/bk-tokens" --from 0 --count 2 --rooms "$BK_ROOM" \
		--per 2 >"$WORK/bk-join.txt" || die "join: $(cat "$WORK/bk-join.txt")"
	# one sender, one listener; a message every 5 ms after the last ack
	ackrun() { # OUT ARGS...
		out=$1
		shift
		run "$TOOLS/chatbench" fanout --port "$PORT" --tokens "$WORK/bk-tokens" --room "$BK_ROOM" --receivers 1 \
			--ack 1 --gap-ms 5 --messages 1000000 "$@" >"$out" || die "send/ack: $(cat "$out")"
	}
	say "backup: chat send → ack without a backup, ${BK_BASE_S} s ($BK_N items, $BK_DB_MB MB database)"
	ackrun "$WORK/bk-base.txt" --max-seconds "$BK_BASE_S"
	say "backup: the same while \`dongmul backup\` runs"
	t0=$(date +%s)
	"$BIN" backup "$WORK/bk" --data "$d" >"$WORK/bk.out" 2>&1 &
	BK_PID=$!
	ackrun "$WORK/bk-during.txt" --until-file "$WORK/bk/MANIFEST.json" --max-seconds 900
	rc=0
	wait "$BK_PID" || rc=$?
	BK_PID=""
	BK_S=$(($(date +%s) - t0))
	[ $rc = 0 ] || die "dongmul backup: $(cat "$WORK/bk.out")"
	stop_dm
	us_ms() { awk -v v="$(kv "$1" "$2")" 'BEGIN { printf "%.2f", v / 1000 }'; }
	BK0_P50=$(us_ms fanout_p50_us "$WORK/bk-base.txt")
	BK0_P99=$(us_ms fanout_p99_us "$WORK/bk-base.txt")
	BK0_N=$(kv fanout_messages "$WORK/bk-base.txt")
	BK0_MAX=$(us_ms fanout_max_us "$WORK/bk-base.txt")
	BK1_P50=$(us_ms fanout_p50_us "$WORK/bk-during.txt")
	BK1_P99=$(us_ms fanout_p99_us "$WORK/bk-during.txt")
	BK1_MAX=$(us_ms fanout_max_us "$WORK/bk-during.txt")
	BK1_N=$(kv fanout_messages "$WORK/bk-during.txt")
	rm -rf "$WORK/bk" "$d"
	say "  send → ack p50/p99: without $BK0_P50/$BK0_P99 ms (max $BK0_MAX, $BK0_N), during the backup $BK1_P50/$BK1_P99 ms (max $BK1_MAX, $BK1_N); backup $BK_S s"
fi
# the Raspberry Pi binaries (make cross), beside this one
PI_A64=$B/static-aarch64/dongmul
PI_A32=$B/static-armv7/dongmul
PI_A64_SIZE=$(stat -c %s "$PI_A64" 2>/dev/null || echo 0)
PI_A32_SIZE=$(stat -c %s "$PI_A32" 2>/dev/null || echo 0)
say "binaries: $(stat -c %s "$BIN") (x86-64), $PI_A64_SIZE (aarch64), $PI_A32_SIZE (armv7) bytes"

LOAD1=$(loadavg)
if [ -n "$ONLY" ]; then
	say "BENCH_ONLY=$ONLY: no table; load before / after: $LOAD0 / $LOAD1"
	exit 0
fi

# ------------------------------------------------------------------- table
yes_no() { if "$@"; then echo yes; else echo "**no**"; fi; }
row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; }
# shellcheck disable=SC2154 # rps, ngx, ... are set by the eval
http_rows() { # KEY LABEL
	eval "rps=\$H_$1_RPS ngx=\$H_$1_NGX p50=\$H_$1_P50 p99=\$H_$1_P99 err=\$H_$1_ERR noise=\$H_$1_NOISE ngxp99=\$H_$1_NGXP99"
	ratio=$(awk -v a="$rps" -v b="$ngx" 'BEGIN { printf "%.1f", 100 * a / b }')
	e=""
	[ "$err" = 0 ] || e=" ($err errors)"
	row "1 $2 req/s, dongmul / nginx" "$(fmt "$rps") / $(fmt "$ngx") = **$ratio%**$e (nginx runs ±$noise%)" "≥ 50%" "$(yes_no ge "$ratio" 50)"
	row "1 $2 latency p50 / p99" "$p50 / **$p99 ms** (nginx p99 $ngxp99 ms)" "p99 ≤ 10 ms" "$(yes_no le "$p99" 10)"
}
MB() { awk -v v="$1" 'BEGIN { printf "%.2f", v / 1048576 }'; }
KBMB() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }'; }
{
	row "measure" "result" "target" "met"
	echo "|---|---|---|---|"
	http_rows feed "GET /mainPage/noLogin (50 items)"
	http_rows detail "GET /postDetail/:itemId"
	http_rows region "GET /mainPage (token, region)"
	eval "rps=\$H_healthz_RPS ngx=\$H_healthz_NGX p99=\$H_healthz_P99"
	row "1 (context, no target) GET /healthz req/s, dongmul / nginx: the HTTP layer + one trivial query" "$(fmt "$rps") / $(fmt "$ngx") = $(awk -v a="$rps" -v b="$ngx" 'BEGIN { printf "%.1f", 100 * a / b }')%, p99 $p99 ms" "–" "–"
	row "2 fan-out to $RECEIVERS WebSocket clients, send → last receiver, p50 / p99 ($FO_N of $FANOUT_MSGS messages timed)" "$FO_P50 / **$FO_P99 ms**$([ "$FO_LOST" = 0 ] || echo " ($FO_LOST clients disconnected by the server)")" "p99 ≤ 25 ms" "$(yes_no le "$FO_P99" 25)"
	row "3 chat: $ROOMS rooms × $PER, 8 in flight, ${TP_S} s: messages committed/s" "**$(fmt "$TP_RATE")** ($TP_ACKED acked, $TP_ROWS rows, $TP_FAILED refused)" "≥ 20,000" "$(yes_no ge "$TP_RATE" 20000)"
	row "3 delivered = committed × members" "$TP_DELIV of $TP_EXPECT$([ "$TP_CLOSED" = 0 ] || echo " ($TP_CLOSED clients disconnected by the server)")" "equal" "$(yes_no [ "$TP_DELIV" = "$TP_EXPECT" ])"
	row "4 kill -9 under load 3, restart: received messages missing from the database" "**$LOST** lost of $DUR_IDS received" "0" "$(yes_no [ "$LOST" = 0 ])"
	row "5 static binary (stripped: $STRIPPED)" "**$(MB "$BIN_SIZE") MB** ($BIN_SIZE bytes)" "≤ 2.5 MB" "$(yes_no le "$BIN_SIZE" 2621440)"
	pi_ok() { [ "$PI_A64_SIZE" -gt 0 ] && [ "$PI_A32_SIZE" -gt 0 ] && le "$PI_A64_SIZE" 2621440 && le "$PI_A32_SIZE" 2621440; }
	row "5 Raspberry Pi static binaries, stripped: aarch64 / armv7 (make cross)" "**$(MB "$PI_A64_SIZE") / $(MB "$PI_A32_SIZE") MB** ($PI_A64_SIZE / $PI_A32_SIZE bytes; x86-64 $(MB "$BIN_SIZE") MB)" "≤ 2.5 MB each" "$(yes_no pi_ok)"
	row "5 idle RSS (64 threads, after a few requests)" "**$(KBMB "$IDLE_KB") MB** ($IDLE_KB kB)" "≤ 6 MB" "$(yes_no le "$IDLE_KB" 6144)"
	row "5 RSS with $((RECEIVERS + 1)) WebSocket clients in the room (--threads 1200)" "**$(KBMB "$RSS_CLIENTS") MB** (peak $(KBMB "$RSS_PEAK") MB; $(KBMB "$CHAT_IDLE_KB") MB idle with 1,200 threads)" "≤ 64 MB" "$(yes_no le "$RSS_CLIENTS" 65536)"
	row "10 $CONN_N authenticated EIO4 WebSocket clients, default flags: RSS in all / per client" "**$(KBMB "$C_RSS") MB** / **$C_PER kB** ($C_OK connected; $(KBMB "$C_RSS0") MB before)" "≤ 160 MB, ≤ 16 kB" "$(yes_no le "$C_RSS" 163840)"
	row "10 threads with $CONN_N clients" "**$C_TH** ($C_TH0 before, $C_STILL under wrk)" "≤ 32" "$(yes_no le "$C_TH" 32)"
	row "10 GET /healthz req/s with $C_OK sockets + $C_IDLE idle TCP open, dongmul / nginx" "$(fmt "$C_RPS") / $(fmt "$C_NGX") = **$C_RATIO%**$([ "$C_ERR" = 0 ] || echo " ($C_ERR errors)") (nginx runs ±$C_NOISE%), p99 **$C_P99 ms**; with nothing open $(fmt "$C_BARE") req/s, p99 $C_BARE_P99 ms" "≥ 50%, p99 ≤ 10 ms" "$(yes_no ge "$C_RATIO" 50)"
	row "5 exec → first 200 from /healthz, median of $STARTS (C timer, bench/starttime.c)" "**$START_MS ms** (range $START_SPREAD)" "≤ 50 ms" "$(yes_no le "$START_MS" 50)"
	row "7 start → a certificate from pebble served (HTTP-01, fresh data dir, pebble without its random validation sleeps), median of $ACME_RUNS (bench/acmetime.py)" "**$ACME_S s** (range $ACME_SPREAD s; start → first /healthz alone: $START_MS ms)" "≤ 10 s" "$(yes_no le "$ACME_S" 10)"
	row "8 web app, first load of / transferred (gzip, headers included, photos excluded): the app's $WEB_FILES files + the first data (bench/webload.sh)" "**$(KBMB "$WEB_FIRST") KB** = app $(KBMB "$WEB_APP") KB ($(awk -v a="$WEB_APP" -v b="$WEB_PLAIN" 'BEGIN { printf "%.0f", 100 * a / b }')% of its $(KBMB "$WEB_PLAIN") KB uncompressed) + data $(KBMB "$WEB_DATA") KB" "≤ 100 KB" "$(yes_no le "$WEB_FIRST" 102400)"
	row "8 web app, returning visit: index.html revalidated (304) + the same data" "**$(KBMB "$WEB_RETURN") KB** ($(awk -v a="$WEB_RETURN" -v b="$WEB_FIRST" 'BEGIN { printf "%.0f", 100 * a / b }')% of the first load)" "only index.html and data" "$(yes_no le "$((WEB_RETURN - WEB_DATA))" 2048)"
	row "11 keyword alerts: POST /mainPage/write → reply (the alerts commit with the post), p50 / p99 of $KW_POSTS posts; $KW_ROWS keywords of $USERS users in the seed's 25 regions ($KWS_PER alerts per post) vs none stored (runs before and after)" "$KWS_P50 / **$KWS_P99 ms** vs $KW0_P50 / $KW0_P99 ms (p99 $KW0A_P99 / $KW0B_P99): **+$KWS_D50 / +$KWS_DIFF ms**" "p99 ≤ +5 ms" "$(yes_no le "$KWS_DIFF" 5)"
	row "11 (worst case, no target) the same with all $USERS users in the poster's region ($KW_PER alerts per post)" "$KW_P50 / $KW_P99 ms: +$KW_D50 / +$KW_DIFF ms" "–" "–"
	row "12 Web Push: $PUSH_N notifications from the outbox delivered to a local push service (RFC 8291 encryption with a fresh ECDH key, VAPID, a new TLS connection each, one at a time), per second (bench/pushbench.js)" "**$(fmt "$PUSH_RATE")/s** = $PUSH_RATIO% of plain HTTPS POSTs of the same $PUSH_BODY bytes (node, new connection each: $PUSH_BASE1 before / $PUSH_BASE2 after); $PUSH_LEFT left in the outbox" "–" "–"
	if [ "$GROWTH" = 1 ]; then
		lo=$(echo "$GROWTH_SIZES" | awk '{ print $1 }')
		hi=$(echo "$GROWTH_SIZES" | awk '{ print $NF }')
		for f in ANONU REGIONU ANON REGION; do
			line=""
			for n in $GROWTH_SIZES; do line="$line$(awk -v n="$n" 'BEGIN { if (n >= 1000000) printf "%gM", n / 1000000; else printf "%gk", n / 1000 }') $(eval echo "\$G_${n}_$f") ms, "; done
			a=$(eval echo "\$G_${lo}_$f")
			z=$(eval echo "\$G_${hi}_$f")
			case $f in
			ANONU) label="anonymous feed, first page rendered per request (cache bypassed)" ;;
			REGIONU) label="region feed (token), first page rendered per request (cache bypassed)" ;;
			ANON) label="(context) anonymous feed from the reply cache" ;;
			REGION) label="(context) region feed (token) from the reply cache" ;;
			esac
			case $f in
			*U) row "6 $label p50, 300 sequential requests" "${line%, }" "largest ≤ 2× smallest" "$(yes_no le "$z" "$(awk -v a="$a" 'BEGIN { print 2 * a }')")" ;;
			*) row "6 $label p50, 300 sequential requests" "${line%, }" "–" "–" ;;
			esac
		done
	fi
	if want backup; then
		row "9 chat send → ack p50 / p99 during \`dongmul backup\` of $BK_N items ($BK_DB_MB MB database; backup took $BK_S s)" "$BK1_P50 / **$BK1_P99 ms** (max $BK1_MAX, $BK1_N messages); without a backup, same run: $BK0_P50 / $BK0_P99 ms (max $BK0_MAX, $BK0_N)" "p99 ≤ 25 ms" "$(yes_no le "$BK1_P99" 25)"
	fi
} >"$WORK/table.md"

MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
REV=$(git describe --always --dirty 2>/dev/null || echo unknown)
ELAPSED=$(($(date +%s) - T_START))
{
	echo "# dongmul benchmarks — latest run"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), dongmul $REV, $(nproc) cores ($MODEL), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM."
	echo "Load average before / after: $LOAD0 / $LOAD1 (the machine is shared: figures move between runs;"
	echo "the ±% after nginx is the difference between the nginx runs before and after dongmul's)."
	echo "Run time: ${ELAPSED} s. Reproduce: \`make bench\` (this run: \`make B=$B bench\`). Methods and profiles: bench/README.md."
	[ "$QUICK" = 1 ] && echo "**BENCH_QUICK=1: shortened runs, not the real figures.**"
	echo
	cat "$WORK/table.md"
	echo
	echo "How: the load generators run on the same 2 cores as the server (wrk with 2 threads; bench/chatbench.c,"
	echo "one epoll thread). nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') serves the bytes dongmul answered, as static"
	echo "files, $(nproc) workers, keep-alive. Data: $USERS users, $ITEMS items (half open), every item with its room,"
	echo "every 20th room with 5 members and 10 messages. Fan-out: $((RECEIVERS + 1)) users joined through joinRoom one by one,"
	echo "then connect and joinRoom again; one message at a time, timed from the sendMsg write until the"
	echo "last receiver read its getMsg. Chat throughput: committed = sendMsg acks in the window (also counted as rows)."
} >"$WORK/RESULTS.md"
[ "$QUICK" = 1 ] || cp "$WORK/RESULTS.md" bench/RESULTS.md
echo
cat "$WORK/RESULTS.md"
say "done in ${ELAPSED} s"
