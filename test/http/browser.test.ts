// Issue 6: the status page of a real node during a real testbed run, in headless Chromium.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { startTestbed, type Testbed } from '../../node/testbed/testbed.ts';

async function freeBase(n: number): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ok = await Promise.all(Array.from({ length: n }, (_, i) => new Promise<boolean>((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(base + i, '127.0.0.1', () => s.close(() => res(true)));
    })));
    if (ok.every(Boolean)) return base;
  }
  throw new Error('no free port range');
}

describe('http: the status page in Chromium during a testbed run', function () {
  this.timeout(150_000); // the CI budget for this test: 2.5 min (measured 20–55 s)
  let tb: Testbed | null = null;
  let browser: Browser | null = null;
  after(async () => {
    await browser?.close();
    await tb?.stop();
  });

  it('shows round and test AUC, and they advance without reloading', async () => {
    const base = await freeBase(3);
    tb = await startTestbed({
      nodes: 3, rounds: 3, data: 'data/pneumoniamnist.npz', httpBasePort: base, maxTrainSamples: 300, maxEvalSamples: 200,
      timeouts: { heartbeatMs: 300, livenessMs: 3000, keysMs: 6000, trainingMs: 12000, collectMs: 4000, aggregateMs: 5000 },
    });
    tb.start();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const url = tb.nodes[0]!.httpUrl!;
    for (let i = 0; ; i++) {
      try {
        await page.goto(url, { timeout: 5000 });
        break;
      } catch (err) {
        if (i > 60) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    mkdirSync('test-output/screenshots', { recursive: true });
    await page.waitForFunction(() => document.getElementById('hdr')?.textContent?.includes('hospital-a'), null, { timeout: 30_000 });
    const firstRound = await page.textContent('#round');
    await page.screenshot({ path: 'test-output/screenshots/status-early.png', fullPage: true });
    // the AUC of a completed round appears, then a later round, all without reloading
    await page.waitForFunction(() => /^0\.\d{4}$/.test(document.getElementById('auc')?.textContent ?? ''), null, { timeout: 120_000 });
    const auc1 = await page.textContent('#auc');
    await page.waitForFunction(() => document.querySelectorAll('#rounds tr').length >= 2 && /^0\.\d{4}$/.test(document.getElementById('auc')?.textContent ?? ''), null, { timeout: 120_000 });
    await page.waitForFunction(() => document.querySelector('#rounds tr td')?.textContent === '3' || document.getElementById('phase')?.textContent === 'done', null, { timeout: 120_000 });
    await new Promise((r) => setTimeout(r, 1500));
    const lastRound = await page.textContent('#round');
    const rows = await page.$$eval('#rounds tr', (trs) => trs.map((tr) => tr.textContent));
    await page.screenshot({ path: 'test-output/screenshots/status-done.png', fullPage: true });
    assert.notEqual(firstRound, lastRound, 'the round display advanced');
    assert.ok(rows.length >= 2, 'the rounds table grew');
    assert.match(auc1 ?? '', /^0\.\d{4}$/);
    assert.equal(await page.textContent('#peers tr:nth-child(1) td:nth-child(3)'), 'live');
    // the events panel lists the node's events, or says there is nothing to report
    const events = await page.$$eval('#events tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    const recorded = (tb.nodes[0]!.status()!.events ?? []).length;
    assert.ok(events.length >= 1, 'the events panel is empty');
    if (events[0] === 'nothing to report') assert.equal(recorded, 0, `the page says nothing to report, the node recorded ${recorded} events`);
    else assert.equal(events.length, Math.min(recorded, 20), `events panel: ${JSON.stringify(events)} (node recorded ${recorded})`);
    const canvas = await page.$('#chart');
    assert.ok(canvas && (await canvas.boundingBox())!.height > 100, 'the chart is drawn');
  });
});
