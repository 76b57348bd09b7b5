#!/bin/sh
# bench/seed.sh DB USERS ITEMS PHC NOW_MS
#
# Bulk-loads a benchmark data set into an existing dongmul database (made by
# starting dongmul once on an empty data dir; dongmul must not be running).
# Users 2..USERS (user 1 was signed up through the API) all get the PHC
# password hash PHC (computed once by a real sign-up), emails u<id>@bench.test
# and one of 25 Seoul districts as region. ITEMS items, half open (SI01 with a
# deadline in the next 30 days), half closed (SI03 expired / SI04 done, past
# deadlines); every item has its chat room with the owner in it; every 20th
# item's room also has 4 more members and 10 messages of history.
# Everything is generated inside SQLite (recursive CTEs): no SQL text files.
set -eu
db=$1 nu=$2 ni=$3 phc=$4 now=$5
sqlite3 "$db" <<SQL
PRAGMA foreign_keys=OFF;
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
 '자전거','아이폰','노트북','유모차','캠핑의자','전기포트','책상','화분','레고','운동화',
 '모니터','키보드','청소기','에어프라이어','텐트','기타','카메라','소설책','수족관','커피머신'));
CREATE TEMP TABLE cat(k INTEGER PRIMARY KEY, c TEXT);
INSERT INTO cat(k, c) SELECT key, value FROM json_each(json_array(
 '디지털/가전','가구/인테리어','유아동/유아도서','식품','스포츠/레저','여성잡화','여성의류',
 '남성패션/잡화','게임/취미','뷰티/미용','반려동물용품','도서/티켓/음반','생활용품','식물','기타 중고물품'));

INSERT INTO user(userId, email, nickname, password, address, mannerTemp, createdDt)
WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < $nu)
SELECT i, 'u' || i || '@bench.test', '이웃' || i, '$phc',
       (SELECT name FROM district WHERE k = i % 25), 30.0 + (i % 140) / 10.0, $now - 86400000 * 60
FROM n;

INSERT INTO saleItem(itemId, userId, image, title, category, wantItem, comment, address, deadLine,
                     status, statusDt, createdDt)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ni)
SELECT i, o, printf('%064x.jpg', i),
       (SELECT w FROM word WHERE k = i % 20) || ' 교환해요 #' || i,
       (SELECT c FROM cat WHERE k = i % 15),
       (SELECT w FROM word WHERE k = (i * 7) % 20) || ' 원해요',
       '상태 좋은 ' || (SELECT w FROM word WHERE k = i % 20) || ' 입니다. 직거래만 가능하고 동네에서 만나요. 연락 주세요! #' || i,
       (SELECT address FROM user WHERE userId = o),
       dl, CASE WHEN i % 2 = 0 THEN 'SI01' WHEN i % 4 = 1 THEN 'SI03' ELSE 'SI04' END,
       dl, dl - 86400000 * 3
FROM (SELECT i, 2 + (i * 7919) % ($nu - 1) AS o,
             CASE WHEN i % 2 = 0 THEN $now + 3600000 + (i * 104729) % (29 * 86400000)
                  ELSE $now - 3600000 - (i * 104729) % (60 * 86400000) END AS dl
      FROM n);

INSERT INTO itemChatRoom(icrId, itemId, createdDt) SELECT itemId, itemId, createdDt FROM saleItem;
INSERT INTO itemChatRoomUser(icrId, userId, chooseYn, joinedMsgId, createdDt)
  SELECT itemId, userId, 'Y', 0, createdDt FROM saleItem;

-- history: every 20th room gets 4 more members and 10 messages
CREATE TEMP TABLE hist AS
  SELECT s.itemId AS r, s.userId AS o, s.createdDt AS t, m.value AS k,
         2 + (s.userId - 2 + m.value * 37) % ($nu - 1) AS u
  FROM saleItem s, json_each('[1,2,3,4]') m WHERE s.itemId % 20 = 0;
INSERT OR IGNORE INTO itemChatRoomUser(icrId, userId, chooseYn, joinedMsgId, createdDt)
  SELECT r, u, 'N', 0, t + k * 60000 FROM hist;
INSERT INTO itemChatRoomUserMsg(icrId, userId, msgType, chatMsg, createdDt)
  SELECT r, u, 'TXT02', '이웃' || u || '님이 입장하셨습니다.', t + k * 60000 FROM hist ORDER BY r, k;
INSERT INTO itemChatRoomUserMsg(icrId, userId, msgType, chatMsg, createdDt)
  SELECT h.r, CASE WHEN j.key % 2 = 0 THEN h.o ELSE h.u END, 'TXT01',
         '안녕하세요, 아직 교환 가능한가요? (' || j.key || ')', h.t + 600000 + j.key * 1000
  FROM hist h, json_each('[0,1,2,3,4,5]') j WHERE h.k = 1 ORDER BY h.r, j.key;
-- the history is old news: counted for notifications (and read), as on a
-- server that has been running; otherwise the first start would take it for
-- a crash backlog and build 25,000 notification rows while being measured
UPDATE itemChatRoom SET notifiedMsgId = (SELECT max(icruMsgId) FROM itemChatRoomUserMsg m
  WHERE m.icrId = itemChatRoom.icrId) WHERE icrId % 20 = 0;
COMMIT;
SQL
