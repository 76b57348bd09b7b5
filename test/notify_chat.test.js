// Chat notifications (API.md "Notifications": a new message in a room I'm
// in, coalesced per room): the unread count of each member is the number
// of messages others wrote after the member joined, the payload is the
// latest of them; nothing for the author; kicked and departed members get
// nothing more; reading starts a new count; the counts survive a restart
// and a kill -9 right after the messages were acknowledged.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('./lib/dongmul');
const { postItem, connect, emit } = require('./lib/market');

const ADDR = '부산광역시 해운대구 우동';

// u's chat notification for room icrId (the unread one if any, else the
// newest), or undefined.
async function chatNote(srv, u, icrId) {
  const r = await srv.req('GET', '/notifications?limit=100', { token: u.token });
  assert.equal(r.status, 200, r.body);
  const all = r.json.data.filter((n) => n.type === 'chat' && n.payload.icrId === icrId);
  return all.find((n) => !n.read) || all[0];
}

async function expectCounts(srv, icrId, want, what) {
  for (const [u, cnt, last] of want) {
    const n = await chatNote(srv, u, icrId);
    if (cnt === 0) {
      assert.equal(n, undefined, `${what}: no chat notification for ${u.nickname}`);
      continue;
    }
    assert.ok(n, `${what}: a chat notification for ${u.nickname}`);
    assert.equal(n.cnt, cnt, `${what}: count of ${u.nickname}`);
    assert.equal(n.payload.lastMsg, last, `${what}: latest message for ${u.nickname}`);
  }
}

const send = async (s, icrId, chatMsg) => assert.equal((await emit(s, 'sendMsg', { icrId, chatMsg })).msg, 'success');

test('chat notifications', async (t) => {
  let srv = await start({ args: ['--rate-login', '100000'] });
  t.after(async () => {
    const e = await srv.stop();
    assert.equal(e.code, 0, `server exit ${JSON.stringify(e)}`);
  });
  const owner = await srv.user({ address: ADDR });
  const a = await srv.user({ address: ADDR });
  const b = await srv.user({ address: ADDR });
  const c = await srv.user({ address: ADDR });
  const it = await postItem(srv, owner);
  assert.equal(it.status, 201, it.body);
  const { icrId, itemId } = it.json;

  await t.test('per member: others\' messages after joining, the latest as payload, none for the author', async () => {
    const os = await connect(srv, owner);
    const as = await connect(srv, a);
    const bs = await connect(srv, b);
    try {
      for (const s of [as, bs]) assert.equal((await emit(s, 'joinRoom', { icrId })).msg, 'success');
      await send(os, icrId, 'o1');
      await send(os, icrId, 'o2');
      await send(as, icrId, 'a1');
      await expectCounts(srv, icrId, [[owner, 1, 'a1'], [a, 2, 'o2'], [b, 3, 'a1'], [c, 0]], 'three messages');
      // c joins: only what comes after counts for c
      const cs = await connect(srv, c);
      try {
        assert.equal((await emit(cs, 'joinRoom', { icrId })).msg, 'success');
        await send(os, icrId, 'o3');
        await send(bs, icrId, 'b1');
      } finally {
        cs.close();
      }
      await expectCounts(srv, icrId, [[owner, 2, 'b1'], [a, 4, 'b1'], [b, 4, 'o3'], [c, 2, 'b1']], 'after c joined');
    } finally {
      for (const s of [os, as, bs]) s.close();
    }
  });

  await t.test('a join between messages that are stored together', async () => {
    // no read in between: the messages before and after the join are
    // counted in the same pass, still only those after the join for c
    const it2 = await postItem(srv, owner);
    const r2 = it2.json.icrId;
    const os = await connect(srv, owner);
    const as = await connect(srv, a);
    const cs = await connect(srv, c);
    try {
      assert.equal((await emit(as, 'joinRoom', { icrId: r2 })).msg, 'success');
      await send(os, r2, 'x1');
      await send(as, r2, 'x2');
      assert.equal((await emit(cs, 'joinRoom', { icrId: r2 })).msg, 'success');
      await send(os, r2, 'x3');
    } finally {
      for (const s of [os, as, cs]) s.close();
    }
    await expectCounts(srv, r2, [[owner, 1, 'x2'], [a, 2, 'x3'], [c, 1, 'x3']], 'one pass');
  });

  await t.test('kicked and departed members get nothing more; reading starts a new count', async () => {
    const os = await connect(srv, owner);
    const as = await connect(srv, a);
    try {
      assert.equal((await emit(os, 'kickUser', { icrId, itemId, userId: b.userId })).msg, 'success');
      assert.equal((await emit(as, 'leaveRoom', { icrId })).msg, 'success');
      await send(os, icrId, 'o4');
      // a kicked member cannot add to anyone's count
      const bs = await connect(srv, b);
      try {
        assert.equal((await emit(bs, 'sendMsg', { icrId, chatMsg: 'b2' })).code, 'KICKED');
      } finally {
        bs.close();
      }
      await expectCounts(srv, icrId, [[a, 4, 'b1'], [b, 4, 'o3'], [c, 3, 'o4'], [owner, 2, 'b1']], 'after kick and leave');

      const before = await chatNote(srv, c, icrId);
      let r = await srv.req('POST', '/notifications/read', { token: c.token, body: { all: true } });
      assert.equal(r.status, 200);
      assert.equal(r.json.unreadCount, 0);
      await send(os, icrId, 'o5');
      const after = await chatNote(srv, c, icrId);
      assert.equal(after.cnt, 1, 'a new count');
      assert.equal(after.read, false);
      assert.notEqual(after.id, before.id, 'a new notification');
      assert.equal(after.payload.lastMsg, 'o5');
      r = await srv.req('GET', '/notifications?unread=1', { token: c.token });
      assert.equal(r.json.unreadCount, 1);
    } finally {
      os.close();
      as.close();
    }
  });

  await t.test('counts survive a restart and a kill -9 right after the acks', async () => {
    const restart = async () => { srv = await start({ data: srv.data, args: ['--rate-login', '100000'] }); };
    let os = await connect(srv, owner);
    await send(os, icrId, 'o6');
    await send(os, icrId, 'o7');
    os.close();
    const e = await srv.stop();
    assert.equal(e.code, 0);
    await restart();
    await expectCounts(srv, icrId, [[c, 3, 'o7'], [a, 4, 'b1']], 'after a restart');

    os = await connect(srv, owner);
    for (let i = 0; i < 5; i++) await send(os, icrId, `k${i}`);
    os.close();
    await srv.kill();
    await restart();
    await expectCounts(srv, icrId, [[c, 8, 'k4'], [owner, 2, 'b1']], 'after kill -9');
    // and nothing is counted twice by later passes
    await new Promise((r) => setTimeout(r, 1500));
    await expectCounts(srv, icrId, [[c, 8, 'k4']], 'later');
  });
});
