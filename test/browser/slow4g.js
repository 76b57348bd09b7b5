// The web app's first-visit figures under Chromium's "Slow 4G" network
// profile (DevTools' preset: 562.5 ms latency, 1.6 Mbit/s down × 0.9,
// 750 kbit/s up × 0.9, set over CDP). Not a test (it times things): a
// measurement for `make bench` or by hand:
//
//   DONGMUL_BIN=build/dev/dongmul node test/browser/slow4g.js [RUNS]
//
// Starts the real binary, posts 50 items whose photos and thumbnails are
// drawn and resized by Chromium itself (as the app does), then loads / in
// a fresh signed-out phone-sized tab RUNS times (default 5) and prints one
// JSON line per run and the median: when the first feed photo was painted
// (Element Timing on the first card), and the bytes transferred with and
// without images.
'use strict';
const path = require('node:path');
const { chromium } = require('playwright-core');
const { start } = require('../lib/dongmul');

const SLOW_4G = { offline: false, latency: 562.5, downloadThroughput: (1.6e6 / 8) * 0.9, uploadThroughput: (750e3 / 8) * 0.9 };

async function main() {
  const runs = Number(process.argv[2] || 5);
  const srv = await start({ bin: process.env.DONGMUL_BIN && path.resolve(process.env.DONGMUL_BIN) });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'] });
  try {
    const u = await srv.user({ address: '서울 강남구' });
    const seed = await (await browser.newContext()).newPage();
    await seed.goto(`${srv.url}/login`);
    await seed.evaluate(async (tok) => {
      async function pic(side, q, hue) {
        const c = new OffscreenCanvas(side, Math.round(side * 0.75));
        const g = c.getContext('2d');
        const grd = g.createLinearGradient(0, 0, c.width, c.height);
        grd.addColorStop(0, `hsl(${hue},70%,80%)`);
        grd.addColorStop(1, `hsl(${hue + 40},60%,50%)`);
        g.fillStyle = grd;
        g.fillRect(0, 0, c.width, c.height);
        for (let i = 0; i < 400; i++) {
          g.fillStyle = `hsla(${(hue + i * 7) % 360},60%,50%,.3)`;
          g.fillRect(((i * 97) % 100) / 100 * c.width, ((i * 61) % 100) / 100 * c.height, side / 20, side / 20);
        }
        return c.convertToBlob({ type: 'image/jpeg', quality: q });
      }
      for (let i = 0; i < 50; i++) {
        const fd = new FormData();
        fd.append('file', await pic(1600, 0.85, i * 7), 'p.jpg');
        fd.append('thumb', await pic(320, 0.72, i * 7), 't.jpg');
        fd.append('title', `물건 ${i}`);
        fd.append('category', '생활용품');
        fd.append('wantItem', '책');
        fd.append('comment', '상태 좋아요');
        fd.append('deadLine', new Date(Date.now() + 2 * 86400e3 + i * 60e3).toISOString());
        const r = await fetch('/mainPage/write', { method: 'POST', headers: { authorization: tok }, body: fd });
        if (r.status !== 201) throw new Error(await r.text());
      }
    }, u.token);
    const results = [];
    for (let n = 0; n < runs; n++) {
      const ctx = await browser.newContext({ viewport: { width: 360, height: 740 } });
      const page = await ctx.newPage();
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', SLOW_4G);
      const types = new Map();
      let bytes = 0;
      let imageBytes = 0;
      cdp.on('Network.responseReceived', (e) => types.set(e.requestId, e.type));
      cdp.on('Network.loadingFinished', (e) => {
        bytes += e.encodedDataLength;
        if (types.get(e.requestId) === 'Image') imageBytes += e.encodedDataLength;
      });
      await page.goto(`${srv.url}/`);
      const paint = await page.evaluate(() => new Promise((resolve) => {
        new PerformanceObserver((l) => {
          for (const e of l.getEntries()) if (e.identifier === 'first-photo') resolve(e.renderTime || e.loadTime);
        }).observe({ type: 'element', buffered: true });
      }));
      await page.waitForLoadState('networkidle');
      const r = { firstPhotoPaintMs: Math.round(paint), bytes, imageBytes, nonImageBytes: bytes - imageBytes };
      console.log(JSON.stringify(r));
      results.push(r);
      await ctx.close();
    }
    const med = (k) => results.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
    console.log(JSON.stringify({ median: { firstPhotoPaintMs: med('firstPhotoPaintMs'), nonImageBytes: med('nonImageBytes'), bytes: med('bytes') } }));
  } finally {
    await browser.close();
    await srv.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
