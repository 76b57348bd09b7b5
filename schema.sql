-- dongmul schema. Embedded into the binary and applied at start (db.c).
-- The seed's table names are kept (user, saleItem, itemChatRoom,
-- itemChatRoomUser, itemChatRoomUserMsg, kickUser, code, emailAuth) so its
-- ERD still reads; additions are named in the same style.
--
-- Conventions: every time is INTEGER milliseconds since the epoch, UTC
-- (columns *Dt, deadLine, *Until); the configured offset is applied when
-- formatting (SQL function dm_time(ms)). Yes/no columns are 'Y'/'N' as in
-- the seed. Ids are INTEGER keys; the API sends them as strings. Every id
-- that reaches a client or names a Socket.IO room is AUTOINCREMENT: never
-- reused after a delete (a reused item id once carried a deleted room's
-- sockets into the next room, and matched the next item to records keyed
-- by the old one).
--
-- Versioned with PRAGMA user_version (the last line). db.c applies this
-- file to an empty database, and migrates an older one (db.c: migrate).

CREATE TABLE code (
  codeId    TEXT PRIMARY KEY,
  codeName  TEXT NOT NULL,
  codeDesc  TEXT NOT NULL
) WITHOUT ROWID;

INSERT INTO code VALUES
  ('SI01', 'auction',   'open for offers until deadLine'),
  ('SI02', 'success',   'the owner chose a partner; trade in progress'),
  ('SI03', 'fail',      'deadline passed with no partner'),
  ('SI04', 'done',      'trade completed'),
  ('SI05', 'cancelled', 'an agreed trade was broken off'),
  ('TXT01', 'chat',     'a chat message'),
  ('TXT02', 'in',       'joined the room'),
  ('TXT03', 'out',      'kicked from the room'),
  ('TXT04', 'leave',    'left the room'),
  ('TXT05', 'system',   'trade events shown in the room');

-- ---------------------------------------------------------------- accounts
CREATE TABLE user (
  userId            INTEGER PRIMARY KEY AUTOINCREMENT,
  email             TEXT NOT NULL COLLATE NOCASE UNIQUE,
  nickname          TEXT NOT NULL,
  password          TEXT,                 -- PHC string; NULL for social-only accounts
  provider          TEXT NOT NULL DEFAULT 'local' CHECK (provider IN ('local','kakao','google')),
  providerSub       TEXT,                 -- the provider's subject id
  address           TEXT,                 -- normalized region "서울 강남구"; NULL until set
  mannerTemp        REAL NOT NULL DEFAULT 36.5,
  suspendedUntil    INTEGER,              -- ms; NULL or past = not suspended
  suspendReason     TEXT,
  tokenGen          INTEGER NOT NULL DEFAULT 0,  -- bumped by revoke-all; tokens carry it as "gen"
  emailNotify       TEXT NOT NULL DEFAULT '[]',  -- JSON array of notification types mailed
  pushNotify        TEXT NOT NULL DEFAULT '["chat","join","chosen","kicked","deadline","trade_done","trade_cancelled","review","suspended"]',  -- JSON array of types sent by Web Push
  createdDt         INTEGER NOT NULL,
  adminYn           TEXT NOT NULL DEFAULT 'N'    -- the operator role (dongmul user admin)
);
CREATE UNIQUE INDEX user_provider ON user(provider, providerSub) WHERE providerSub IS NOT NULL;

-- sign-up and password-reset codes (the seed's emailAuth), stored hashed
CREATE TABLE emailAuth (
  emailAuthId    INTEGER PRIMARY KEY,
  email          TEXT NOT NULL COLLATE NOCASE,
  purpose        TEXT NOT NULL CHECK (purpose IN ('signup','reset')),
  codeHash       TEXT NOT NULL,           -- hex HMAC-SHA256 of the code
  tries          INTEGER NOT NULL DEFAULT 0,
  expiresDt      INTEGER NOT NULL,
  verifiedUntil  INTEGER,                 -- set when checked: verified until then
  usedYn         TEXT NOT NULL DEFAULT 'N',
  createdDt      INTEGER NOT NULL
);
CREATE INDEX emailAuth_email ON emailAuth(email, purpose, createdDt);

CREATE TABLE refreshToken (
  refreshTokenId INTEGER PRIMARY KEY,
  userId         INTEGER NOT NULL REFERENCES user(userId) ON DELETE CASCADE,
  familyId       TEXT NOT NULL,           -- all rotations of one login
  tokenHash      TEXT NOT NULL UNIQUE,    -- hex SHA-256 of the opaque token
  usedYn         TEXT NOT NULL DEFAULT 'N',   -- rotated already
  revokedYn      TEXT NOT NULL DEFAULT 'N',
  expiresDt      INTEGER NOT NULL,
  createdDt      INTEGER NOT NULL
);
CREATE INDEX refreshToken_user ON refreshToken(userId);
CREATE INDEX refreshToken_family ON refreshToken(familyId);

-- access tokens revoked before their expiry (logout)
CREATE TABLE revokedToken (
  jti        TEXT PRIMARY KEY,
  expiresDt  INTEGER NOT NULL
) WITHOUT ROWID;

-- OpenID Connect: pending authorization requests and one-time login codes
CREATE TABLE oidcState (
  state      TEXT PRIMARY KEY,
  provider   TEXT NOT NULL,
  nonce      TEXT NOT NULL,
  verifier   TEXT NOT NULL,
  expiresDt  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE oidcNonce (                 -- nonces already consumed (replay)
  nonce      TEXT PRIMARY KEY,
  expiresDt  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE socialLogin (
  codeHash   TEXT PRIMARY KEY,
  userId     INTEGER NOT NULL REFERENCES user(userId) ON DELETE CASCADE,
  expiresDt  INTEGER NOT NULL
) WITHOUT ROWID;

-- mail waiting for delivery; the pool retries with backoff
CREATE TABLE outbox (
  outboxId   INTEGER PRIMARY KEY,
  toAddr     TEXT NOT NULL,
  subject    TEXT NOT NULL,
  textBody   TEXT NOT NULL,
  htmlBody   TEXT NOT NULL,
  tries      INTEGER NOT NULL DEFAULT 0,
  nextTryDt  INTEGER NOT NULL,
  sentDt     INTEGER,
  lastError  TEXT,
  createdDt  INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox(nextTryDt) WHERE sentDt IS NULL;

-- ------------------------------------------------------------------- items
CREATE TABLE saleItem (
  itemId        INTEGER PRIMARY KEY AUTOINCREMENT,
  userId        INTEGER NOT NULL REFERENCES user(userId),
  image         TEXT NOT NULL,            -- "<sha256>.<ext>" under DATA/images
  imageBytes    INTEGER NOT NULL DEFAULT 0,  -- its size, counted in the owner's storage quota
  title         TEXT NOT NULL,
  category      TEXT NOT NULL,
  wantItem      TEXT NOT NULL,
  comment       TEXT NOT NULL,
  address       TEXT,                     -- the owner's region when posted
  deadLine      INTEGER NOT NULL,
  status        TEXT NOT NULL DEFAULT 'SI01' REFERENCES code(codeId),
  buyerUserId   INTEGER REFERENCES user(userId),   -- the chosen partner
  remindedYn    TEXT NOT NULL DEFAULT 'N',  -- hour-before-deadline reminder sent
  statusDt      INTEGER,                  -- when status last changed
  cancelReason  TEXT,
  cancelledBy   INTEGER,
  createdDt     INTEGER NOT NULL,
  thumb         TEXT,                     -- "<sha256>.<ext>" under DATA/images; NULL: the photo serves
  freeYn        TEXT NOT NULL DEFAULT 'N' CHECK (freeYn IN ('Y','N'))  -- 나눔: given for free, wantItem may be ''
);
-- anonymous feed: open items, newest deadline first, keyset paging
CREATE INDEX saleItem_feed ON saleItem(status, deadLine DESC, itemId DESC);
-- region feed
CREATE INDEX saleItem_region ON saleItem(address, status, deadLine DESC, itemId DESC);
-- my page
CREATE INDEX saleItem_owner ON saleItem(userId, createdDt DESC);
CREATE INDEX saleItem_buyer ON saleItem(buyerUserId, createdDt DESC) WHERE buyerUserId IS NOT NULL;
CREATE INDEX saleItem_image ON saleItem(image);
CREATE INDEX saleItem_thumb ON saleItem(thumb) WHERE thumb IS NOT NULL;
-- 나눔 received lately (the owner's member list)
CREATE INDEX saleItem_free_buyer ON saleItem(buyerUserId, statusDt) WHERE freeYn = 'Y' AND buyerUserId IS NOT NULL;

-- every photo of an item in order (pos 0 is the cover, mirrored in
-- saleItem.image/thumb; saleItem.imageBytes is the sum of bytes here).
-- An item with no rows here (posted by an older build) has one photo:
-- saleItem's.
CREATE TABLE itemImage (
  itemImageId  INTEGER PRIMARY KEY AUTOINCREMENT,
  itemId       INTEGER NOT NULL REFERENCES saleItem(itemId) ON DELETE CASCADE,
  pos          INTEGER NOT NULL,
  image        TEXT NOT NULL,           -- "<sha256>.<ext>" under DATA/images
  thumb        TEXT,
  bytes        INTEGER NOT NULL DEFAULT 0,  -- photo + thumbnail
  UNIQUE (itemId, pos)
);
CREATE INDEX itemImage_image ON itemImage(image);
CREATE INDEX itemImage_thumb ON itemImage(thumb) WHERE thumb IS NOT NULL;

-- full-text search over title, wantItem, comment (trigram: Korean substrings)
CREATE VIRTUAL TABLE saleItemFts USING fts5(
  title, wantItem, comment, content='saleItem', content_rowid='itemId', tokenize='trigram'
);
CREATE TRIGGER saleItem_fts_ins AFTER INSERT ON saleItem BEGIN
  INSERT INTO saleItemFts(rowid, title, wantItem, comment) VALUES (new.itemId, new.title, new.wantItem, new.comment);
END;
CREATE TRIGGER saleItem_fts_del AFTER DELETE ON saleItem BEGIN
  INSERT INTO saleItemFts(saleItemFts, rowid, title, wantItem, comment) VALUES ('delete', old.itemId, old.title, old.wantItem, old.comment);
END;
CREATE TRIGGER saleItem_fts_upd AFTER UPDATE OF title, wantItem, comment ON saleItem BEGIN
  INSERT INTO saleItemFts(saleItemFts, rowid, title, wantItem, comment) VALUES ('delete', old.itemId, old.title, old.wantItem, old.comment);
  INSERT INTO saleItemFts(rowid, title, wantItem, comment) VALUES (new.itemId, new.title, new.wantItem, new.comment);
END;

-- -------------------------------------------------------------------- chat
CREATE TABLE itemChatRoom (
  icrId      INTEGER PRIMARY KEY AUTOINCREMENT,
  itemId     INTEGER NOT NULL UNIQUE REFERENCES saleItem(itemId) ON DELETE CASCADE,
  createdDt  INTEGER NOT NULL,
  notifiedMsgId INTEGER NOT NULL DEFAULT 0   -- notify: chat notifications stored up to this message
);

CREATE TABLE itemChatRoomUser (
  icruId       INTEGER PRIMARY KEY AUTOINCREMENT,
  icrId        INTEGER NOT NULL REFERENCES itemChatRoom(icrId) ON DELETE CASCADE,
  userId       INTEGER NOT NULL REFERENCES user(userId),
  chooseYn     TEXT NOT NULL DEFAULT 'N',   -- 'Y' for the owner and the chosen partner
  joinedMsgId  INTEGER NOT NULL DEFAULT 0,  -- history shown from messages after this id
  createdDt    INTEGER NOT NULL,
  UNIQUE (icrId, userId)
);
CREATE INDEX itemChatRoomUser_user ON itemChatRoomUser(userId);

CREATE TABLE itemChatRoomUserMsg (
  icruMsgId  INTEGER PRIMARY KEY AUTOINCREMENT, -- commit order within the database
  icrId      INTEGER NOT NULL REFERENCES itemChatRoom(icrId) ON DELETE CASCADE,
  userId     INTEGER NOT NULL REFERENCES user(userId),
  msgType    TEXT NOT NULL REFERENCES code(codeId),
  chatMsg    TEXT NOT NULL,
  createdDt  INTEGER NOT NULL
);
CREATE INDEX itemChatRoomUserMsg_room ON itemChatRoomUserMsg(icrId, icruMsgId);

-- a kick is a permanent ban from that item
CREATE TABLE kickUser (
  kickUserId  INTEGER PRIMARY KEY,
  icrId       INTEGER NOT NULL REFERENCES itemChatRoom(icrId) ON DELETE CASCADE,
  userId      INTEGER NOT NULL REFERENCES user(userId),
  createdDt   INTEGER NOT NULL,
  UNIQUE (icrId, userId)
);
CREATE INDEX kickUser_user ON kickUser(userId);

-- a user's blocks: private to the blocker (userId); the blocked user is
-- never told. Hides each side's posts from the other, keeps the blocked
-- user out of the blocker's rooms and their messages from the blocker.
CREATE TABLE userBlock (
  userId         INTEGER NOT NULL REFERENCES user(userId) ON DELETE CASCADE,
  blockedUserId  INTEGER NOT NULL REFERENCES user(userId) ON DELETE CASCADE,
  createdDt      INTEGER NOT NULL,
  PRIMARY KEY (userId, blockedUserId),
  CHECK (userId <> blockedUserId)
) WITHOUT ROWID;
CREATE INDEX userBlock_blocked ON userBlock(blockedUserId, userId);

-- ------------------------------------------------------------------ trust
CREATE TABLE review (
  reviewId    INTEGER PRIMARY KEY AUTOINCREMENT,
  itemId      INTEGER NOT NULL,             -- kept when the item is deleted
  reviewerId  INTEGER NOT NULL REFERENCES user(userId),
  revieweeId  INTEGER NOT NULL REFERENCES user(userId),
  score       TEXT NOT NULL CHECK (score IN ('good','bad')),
  tags        TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
  comment     TEXT,
  createdDt   INTEGER NOT NULL,
  UNIQUE (itemId, reviewerId)
);
CREATE INDEX review_reviewee ON review(revieweeId, createdDt);

CREATE TABLE report (
  reportId    INTEGER PRIMARY KEY AUTOINCREMENT,
  reporterId  INTEGER NOT NULL REFERENCES user(userId),
  reportedId  INTEGER NOT NULL REFERENCES user(userId),
  itemId      INTEGER,
  reason      TEXT NOT NULL CHECK (reason IN ('noshow','breach','abuse','fraud','other')),
  detail      TEXT,
  upheldYn    TEXT NOT NULL DEFAULT 'Y',   -- Y counts; N dismissed by the operator; U stored, never counted (trust.c)
  createdDt   INTEGER NOT NULL,
  handledDt   INTEGER,                  -- when the operator acted on it; NULL: in the queue
  icruMsgId   INTEGER,                  -- a reported chat message (kept if the message goes)
  CHECK (reporterId <> reportedId)
);
CREATE INDEX report_reported ON report(reportedId, createdDt);
CREATE INDEX report_open ON report(reportedId) WHERE handledDt IS NULL;
-- one report per reporter and message
CREATE UNIQUE INDEX report_msg ON report(reporterId, icruMsgId) WHERE icruMsgId IS NOT NULL;

-- what operators did (suspend, unsuspend, dismiss), with their reasons
CREATE TABLE operatorLog (
  operatorLogId  INTEGER PRIMARY KEY,
  operatorId     INTEGER NOT NULL REFERENCES user(userId),
  userId         INTEGER NOT NULL REFERENCES user(userId) ON DELETE CASCADE,
  action         TEXT NOT NULL CHECK (action IN ('suspend','unsuspend','dismiss')),
  reason         TEXT NOT NULL,
  createdDt      INTEGER NOT NULL
);
CREATE INDEX operatorLog_user ON operatorLog(userId, createdDt);

-- ------------------------------------------------------- keyword alerts
-- a user's keywords (keyword.c): word is trimmed, ASCII lower-cased; head
-- is its first min(3, length) characters, the probe key of the matcher
CREATE TABLE keyword (
  userId     INTEGER NOT NULL REFERENCES user(userId) ON DELETE CASCADE,
  word       TEXT NOT NULL,
  head       TEXT NOT NULL,
  createdDt  INTEGER NOT NULL,
  PRIMARY KEY (userId, word)
) WITHOUT ROWID;
CREATE INDEX keyword_head ON keyword(head);

-- ----------------------------------------------------- 거래약속 (appt.c)
-- proposals of a time and place for a trade's hand-over; at most one per
-- item is 'proposed' or 'accepted' (a new proposal supersedes it)
CREATE TABLE appointment (
  apptId      INTEGER PRIMARY KEY AUTOINCREMENT,
  itemId      INTEGER NOT NULL REFERENCES saleItem(itemId) ON DELETE CASCADE,
  proposerId  INTEGER NOT NULL REFERENCES user(userId),
  apptDt      INTEGER NOT NULL,             -- the agreed/proposed time, ms
  place       TEXT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed','accepted','superseded')),
  remind60Dt  INTEGER,                      -- when the hour-before reminder was stored (NULL: not yet)
  remind10Dt  INTEGER,                      -- when the ten-minutes-before reminder was stored
  createdDt   INTEGER NOT NULL,
  acceptedDt  INTEGER
);
CREATE UNIQUE INDEX appointment_live ON appointment(itemId) WHERE status IN ('proposed','accepted');
CREATE INDEX appointment_due ON appointment(apptDt) WHERE status = 'accepted' AND remind10Dt IS NULL;

-- ----------------------------------------------------------- notifications
CREATE TABLE notification (
  notificationId  INTEGER PRIMARY KEY AUTOINCREMENT,
  userId          INTEGER NOT NULL REFERENCES user(userId) ON DELETE CASCADE,
  type            TEXT NOT NULL,
  payload         TEXT NOT NULL DEFAULT '{}',   -- JSON object
  coalesceKey     TEXT,                         -- chat: 'room:<icrId>' — one unread per key
  cnt             INTEGER NOT NULL DEFAULT 1,
  readYn          TEXT NOT NULL DEFAULT 'N',
  createdDt       INTEGER NOT NULL,
  updatedDt       INTEGER NOT NULL
);
CREATE INDEX notification_user ON notification(userId, readYn, updatedDt DESC);
CREATE UNIQUE INDEX notification_coalesce ON notification(userId, coalesceKey)
  WHERE coalesceKey IS NOT NULL AND readYn = 'N';

-- Web Push subscriptions (push.c): a browser's push service endpoint and
-- the keys its messages are encrypted for (base64url)
CREATE TABLE pushSubscription (
  pushSubId  INTEGER PRIMARY KEY AUTOINCREMENT,
  userId     INTEGER NOT NULL REFERENCES user(userId) ON DELETE CASCADE,
  endpoint   TEXT NOT NULL UNIQUE,
  p256dh     TEXT NOT NULL,
  auth       TEXT NOT NULL,
  createdDt  INTEGER NOT NULL
);
CREATE INDEX pushSubscription_user ON pushSubscription(userId);
-- revoking every login (logout ?all=1, a password change) also ends the
-- account's push subscriptions: a browser once signed in gets no more
CREATE TRIGGER user_tokengen_push AFTER UPDATE OF tokenGen ON user
WHEN NEW.tokenGen <> OLD.tokenGen BEGIN
  DELETE FROM pushSubscription WHERE userId = NEW.userId;
END;

-- pushes waiting for delivery (payload: the JSON shown); a delivered one is
-- deleted, a failed one retried with backoff
CREATE TABLE pushOutbox (
  pushOutboxId  INTEGER PRIMARY KEY,
  pushSubId     INTEGER NOT NULL REFERENCES pushSubscription(pushSubId) ON DELETE CASCADE,
  payload       TEXT NOT NULL,
  urgency       TEXT NOT NULL DEFAULT 'normal',
  tries         INTEGER NOT NULL DEFAULT 0,
  nextTryDt     INTEGER NOT NULL,
  lastError     TEXT,
  createdDt     INTEGER NOT NULL
);
CREATE INDEX pushOutbox_due ON pushOutbox(nextTryDt);
CREATE INDEX pushOutbox_sub ON pushOutbox(pushSubId);

PRAGMA user_version = 2;
