// The page in Chromium against a node view full of markup: every field is shown as text (nothing
// is injected), and the upload form sends the token only in the Authorization header of a
// same-origin request (not in the URL, not in a cookie, not in localStorage).
import assert from 'node:assert/strict';
import { zipSync } from 'fflate';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startHttpServer } from '../../node/http/server.ts';
import type { NodeStatus, NodeView, RoundSummary } from '../../node/types.ts';

const TOKEN = 'ab'.repeat(32);
const EVIL = '<img src=x onerror="window.__pwned=1">';
const SHAPES = [{ name: 'k', shape: [2, 3] }, { name: 'b', shape: [3] }];
const ID = '12D3KooWself';

const status: NodeStatus = {
  site: `site${EVIL}`, peerId: ID, consortium: `c${EVIL}`, manifestSignature: 'valid', listen: [`/ip4/${EVIL}`],
  peers: [{ id: ID, name: `a${EVIL}`, connected: true, live: true, lastSeen: Date.now() }, { id: `p${EVIL}`, name: `b${EVIL}`, connected: false, live: false, lastSeen: null }],
  round: { round: 2, attempt: 0, phase: 'collecting', aggregator: `p${EVIL}`, participants: [{ id: ID, name: `a${EVIL}`, chunksReceived: 1, chunksTotal: 2 }], deadline: Date.now() + 60_000 },
  model: { version: 1, hash: 'ef'.repeat(32), published: 1 }, roundsPlanned: 3,
  events: [{ at: Date.now(), kind: `kind${EVIL}`, detail: `detail${EVIL}` }],
};
const rounds: RoundSummary[] = [{
  round: 1, attempt: 0, participants: [ID, `p${EVIL}`], aggregator: `p${EVIL}`, phaseSeconds: { training: 1.5 }, bytesIn: 10, bytesOut: 20,
  modelHash: `${'ef'.repeat(30)}${EVIL}`, testAuc: 0.75, testAcc: 0.7, testLoss: 0.5, completedAt: Date.now(), uploaded: true,
}];
const submitted: Float32Array[] = [];
const view: NodeView = {
  status: () => status,
  rounds: () => rounds,
  modelInfo: () => ({ dataset: `data${EVIL}`, task: `task${EVIL}` }),
  currentModel: async () => ({ version: 1, round: 1, hash: 'ef'.repeat(32), modelJson: '{}', weights: new Uint8Array(36) }),
  weightShapes: () => SHAPES,
  submitWeights: async (flat) => {
    submitted.push(flat);
    return { round: 2 };
  },
  onChange: () => () => undefined,
};

describe('http: the page escapes every field and keeps the token out of URLs and cookies', function () {
  this.timeout(60_000);
  let browser: Browser;
  let page: Page;
  let close: () => Promise<void>;
  let url = '';
  const posts: { url: string; headers: Record<string, string> }[] = [];
  before(async () => {
    const s = await startHttpServer({ host: '127.0.0.1', port: 0, view, token: TOKEN });
    url = s.url;
    close = s.close;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
    page = await browser.newPage();
    page.on('request', (r) => {
      if (r.method() === 'POST') posts.push({ url: r.url(), headers: r.headers() });
    });
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('card-data')?.textContent?.startsWith('data<img') && document.querySelectorAll('#rounds tr').length === 1);
  });
  after(async () => {
    await browser?.close();
    await close?.();
  });

  it('shows markup from the node as text: no element is injected, no script runs', async () => {
    assert.equal(await page.$$eval('main img, header img', (els) => els.length), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    for (const sel of ['#hdr', '#identity', '#peers', '#events', '#rounds', '#card-data', '#aggregator']) {
      assert.match((await page.textContent(sel)) ?? '', /<img src=x onerror=/, `${sel} shows the markup as text`);
    }
    assert.match((await page.textContent('#rounds')) ?? '', /uploaded weights/, 'the uploaded round is marked');
  });

  it('an upload refusal naming a hostile tensor is shown as text; the token travels only in the Authorization header', async () => {
    const modelJson = JSON.stringify({ weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: `k${EVIL}`, shape: [3, 2], dtype: 'float32' }, { name: 'b', shape: [3], dtype: 'float32' }] }] });
    const zip = zipSync({ 'model.json': new TextEncoder().encode(modelJson), 'weights.bin': new Uint8Array(36) });
    await page.fill('#token', TOKEN);
    await page.setInputFiles('#file', { name: 'evil.zip', mimeType: 'application/zip', buffer: Buffer.from(zip) });
    await page.click('#upload');
    await page.waitForFunction(() => document.getElementById('upload-msg')?.classList.contains('error'));
    const msg = (await page.textContent('#upload-msg')) ?? '';
    assert.match(msg, /^Wrong shapes\. k<img src=x onerror="window.__pwned=1">: shape \[3,2\], expected \[2,3\]\. .*architecture/);
    assert.equal(await page.$$eval('#upload-msg *', (els) => els.filter((e) => e.tagName !== 'STRONG').length), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.equal(submitted.length, 0);

    assert.equal(posts.length, 1);
    assert.equal(posts[0]!.url, new URL('/api/weights', url).href, 'no token in the URL');
    assert.equal(posts[0]!.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(posts[0]!.headers['content-type'], 'application/zip');
    assert.equal(posts[0]!.headers.cookie, undefined);
    assert.deepEqual(await page.evaluate(() => [document.cookie, localStorage.length, sessionStorage.getItem('flnode.apiToken')]), ['', 0, TOKEN]);

    // the token survives a reload of the tab (session storage), and "Forget token" removes it
    await page.reload();
    await page.waitForFunction((t) => (document.getElementById('token') as HTMLInputElement).value === t, TOKEN);
    await page.click('#forget');
    assert.deepEqual(await page.evaluate(() => [(document.getElementById('token') as HTMLInputElement).value, sessionStorage.getItem('flnode.apiToken')]), ['', null]);
  });
});
