// Regions: POST /myPage/address normalizes every province's long and short
// official forms to "<short province> <city/district>" and refuses what it
// does not know (API.md "Regions"); the anonymous feed's ?address= uses
// the same normalizer.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { start } = require('./lib/dongmul');

let srv, U;

test.before(async () => {
  srv = await start();
  U = await srv.user();
});

test.after(async () => {
  const e = await srv.stop();
  assert.equal(e.code, 0, `exit ${JSON.stringify(e)}\n${srv.log().slice(-3000)}`);
});

async function setAddress(a) {
  return srv.req('POST', '/myPage/address', { token: U.token, body: { new_address: a } });
}

async function expectRegion(input, region) {
  const r = await setAddress(input);
  assert.equal(r.status, 200, `${input}: ${r.body}`);
  assert.deepEqual(r.json, { msg: 'success', address: region }, input);
}

// [short form, long forms..., a city/district of it, another one]
const PROVINCES = [
  ['서울', ['서울특별시'], '강남구', '종로구'],
  ['부산', ['부산광역시'], '해운대구', '기장군'],
  ['대구', ['대구광역시'], '수성구', '달성군'],
  ['인천', ['인천광역시'], '연수구', '강화군'],
  ['광주', ['광주광역시'], '광산구', '북구'],
  ['대전', ['대전광역시'], '유성구', '대덕구'],
  ['울산', ['울산광역시'], '울주군', '남구'],
  ['경기', ['경기도'], '성남시', '가평군'],
  ['강원', ['강원특별자치도', '강원도'], '춘천시', '양양군'],
  ['충북', ['충청북도'], '청주시', '단양군'],
  ['충남', ['충청남도'], '천안시', '태안군'],
  ['전북', ['전북특별자치도', '전라북도'], '전주시', '부안군'],
  ['전남', ['전라남도'], '목포시', '신안군'],
  ['경북', ['경상북도'], '포항시', '울릉군'],
  ['경남', ['경상남도'], '창원시', '합천군'],
  ['제주', ['제주특별자치도'], '제주시', '서귀포시'],
];

test('every province: long and short official forms -> "<short> <district>", the rest dropped', async () => {
  for (const [short, longs, d1, d2] of PROVINCES) {
    for (const form of [short, ...longs]) {
      await expectRegion(`${form} ${d1}`, `${short} ${d1}`);
      await expectRegion(`${form} ${d2} 어느동 12-3`, `${short} ${d2}`);
    }
  }
  // 16 here + 세종 below = all 17
  assert.equal(PROVINCES.length, 16);
});

test('the example of API.md and city districts (구 of a 시) drop to the city', async () => {
  await expectRegion('서울특별시 강남구 역삼동 123', '서울 강남구');
  await expectRegion('경기도 수원시 영통구 매탄동', '경기 수원시');
  await expectRegion('충청북도 청주시 흥덕구 복대동', '충북 청주시');
  await expectRegion('경상남도 창원시 성산구 중앙동', '경남 창원시');
  await expectRegion('전북특별자치도 전주시 완산구 효자동', '전북 전주시');
  await expectRegion('  부산   중구\t중앙동  ', '부산 중구');
});

test('세종 has no districts: every 세종 address is "세종 세종시"', async () => {
  for (const a of ['세종특별자치시', '세종', '세종특별자치시 한누리대로 2130', '세종 세종시', '세종특별자치시 세종시 조치원읍', '세종 어진동']) {
    await expectRegion(a, '세종 세종시');
  }
});

test('the same district name in two provinces stays apart (중구, 강서구, 고성군, 광주시 vs 광주)', async () => {
  await expectRegion('서울 중구', '서울 중구');
  await expectRegion('대전광역시 중구', '대전 중구');
  await expectRegion('부산 강서구', '부산 강서구');
  await expectRegion('서울 강서구', '서울 강서구');
  await expectRegion('강원도 고성군', '강원 고성군');
  await expectRegion('경상남도 고성군', '경남 고성군');
  await expectRegion('경기도 광주시', '경기 광주시');
  await expectRegion('광주광역시 동구', '광주 동구');
});

test('changed boundaries: 군위군 is in 대구 since 2023; 인천\'s 2026 districts and its former ones', async () => {
  await expectRegion('대구광역시 군위군 군위읍', '대구 군위군');
  await expectRegion('경상북도 군위군', '대구 군위군');
  for (const d of ['제물포구', '영종구', '검단구', '서구', '미추홀구', '중구', '동구']) await expectRegion(`인천 ${d}`, `인천 ${d}`);
});

test('unknown input is a 400 INVALID_ADDRESS, not a guess, and changes nothing', async () => {
  await expectRegion('서울 마포구', '서울 마포구');
  const bad = [
    '', ' ', '서울', '서울특별시', '서울시 강남구', '서울특별시 해운대구', '부산 강남구', '강남구 역삼동',
    'Seoul Gangnam-gu', '경기 분당구', '경기도 성남', '서울 강남', '제주도 제주시', '서울특별시강남구',
    '강원특별자치시 춘천시', '충청도 청주시', '서울 강남구구', '경북 대구', '전북 광주시',
  ];
  for (const a of bad) {
    const r = await setAddress(a);
    assert.equal(r.status, 400, `${JSON.stringify(a)}: ${r.body}`);
    assert.equal(r.json.code, 'INVALID_ADDRESS', a);
  }
  const me = await srv.req('POST', '/account/reset', { token: U.token });
  assert.equal(me.json.address, '서울 마포구');
});

test('the anonymous feed\'s ?address= is normalized the same way', async () => {
  for (const q of ['서울특별시 마포구 서교동', '서울 마포구']) {
    const r = await srv.req('GET', `/mainPage/noLogin?address=${encodeURIComponent(q)}`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.data, []);
  }
  const r = await srv.req('GET', `/mainPage/noLogin?address=${encodeURIComponent('서울특별시')}`);
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'INVALID_ADDRESS');
});
