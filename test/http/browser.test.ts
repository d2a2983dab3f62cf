// Issues 6 and 14: the status page of a real node during a real testbed run, in headless Chromium,
// used as an operator would: watch rounds advance, upload weights through the form (with a wrong
// token and a wrong-size file first), see the next round include them, download the model and
// check it in tfjs against the page's figure; then the CLI against the same running node.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestbed, type Testbed } from '../../node/testbed/testbed.ts';
import { initBackend } from '../../node/training/backend.ts';
import { loadMedMnist } from '../../node/training/dataset.ts';
import { rocAuc } from '../../node/training/metrics.ts';

const ROUNDS = 4;
const EVAL_SAMPLES = 200;
const SHOTS = 'test-output/screenshots';
const BANNER = /looks like you are running TensorFlow\.js|tfjs-node for more details/;

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

/** Clicks "Download model" and returns the file the browser saved, with its suggested name. */
async function download(page: Page, dir: string): Promise<{ name: string; path: string; files: Record<string, Uint8Array> }> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const path = join(dir, dl.suggestedFilename());
  await dl.saveAs(path);
  return { name: dl.suggestedFilename(), path, files: unzipSync(new Uint8Array(readFileSync(path))) };
}

const message = (page: Page) => page.textContent('#upload-msg').then((t) => t ?? '');
const waitMessage = (page: Page, kind: 'error' | 'done', text: string) =>
  page.waitForFunction(([k, t]) => {
    const box = document.getElementById('upload-msg')!;
    return box.classList.contains(k!) && (box.textContent ?? '').includes(t!);
  }, [kind, text], { timeout: 60_000 });

describe('http: the status page in Chromium during a testbed run', function () {
  this.timeout(480_000); // the CI budget per test: 8 min (the whole file took 75-80 s on an idle machine)
  let tb: Testbed | null = null;
  let browser: Browser | null = null;
  let page: Page;
  let work = '';
  let cardHash = '';
  let ran = false; // the run of the first test completed: the others inspect its end state
  let publishedRound = 0; // the round the card and GET /api/model describe (best validation AUC)
  after(async () => {
    await browser?.close();
    await tb?.stop();
  });

  it('shows round and test AUC, and they advance without reloading', async () => {
    const base = await freeBase(3);
    tb = await startTestbed({
      nodes: 3, rounds: ROUNDS, data: 'data/pneumoniamnist.npz', httpBasePort: base, maxTrainSamples: 300, maxEvalSamples: EVAL_SAMPLES,
      timeouts: { heartbeatMs: 300, livenessMs: 3000, keysMs: 6000, trainingMs: 12000, collectMs: 4000, aggregateMs: 5000 },
    });
    // Only this site's node at first: no round can complete without the others, so the upload below
    // is made before round 1 can finish and the round it is planned for is one the plan still has.
    tb.nodes[0]!.restart();
    work = mkdtempSync(join(tmpdir(), 'flnode-browser-'));
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
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
    mkdirSync(SHOTS, { recursive: true });
    await page.waitForFunction(() => document.getElementById('hdr')?.textContent?.includes('hospital-a'), null, { timeout: 60_000 });
    const firstRound = await page.textContent('#round');
    await page.screenshot({ path: `${SHOTS}/status-early.png`, fullPage: true });

    // ---- upload: the operator downloads the current model and offers it back as this site's weights
    await page.waitForSelector('#download:not([aria-disabled])', { timeout: 60_000 });
    const initial = await download(page, work);
    assert.match(initial.name, /^flnode-model-r0-[0-9a-f]{12}\.zip$/, 'the initial model');
    const short = join(work, 'short.f32');
    writeFileSync(short, initial.files['weights.bin']!.subarray(4)); // one float32 short
    const token = readFileSync(join(tb.nodes[0]!.dir, 'api-token'), 'utf8').trim();

    // a wrong token, submitted from the keyboard (Enter in the token field)
    await page.setInputFiles('#file', initial.path);
    await page.fill('#token', 'cd'.repeat(32));
    await page.press('#token', 'Enter');
    await waitMessage(page, 'error', 'Token refused.');
    assert.match(await message(page), /api-token file/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('flnode.apiToken')), null, 'a refused token is not kept');

    // a wrong-size .f32 file, dropped on the box
    await page.fill('#token', token);
    const bytes = [...readFileSync(short)];
    const dt = await page.evaluateHandle((b) => {
      const d = new DataTransfer();
      d.items.add(new File([new Uint8Array(b)], 'short.f32', { type: 'application/octet-stream' }));
      return d;
    }, bytes);
    await page.dispatchEvent('#drop', 'dragover', { dataTransfer: dt });
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
    await page.waitForFunction(() => document.getElementById('file-help')?.textContent?.includes('short.f32'));
    await page.click('#upload');
    await waitMessage(page, 'error', 'Wrong size.');
    const params = initial.files['weights.bin']!.length / 4;
    assert.match(await message(page), new RegExp(`expected ${params} float32 values .*exactly ${params * 4} bytes`));
    assert.equal(await page.evaluate(() => (document.getElementById('file') as HTMLInputElement).files?.[0]?.name), 'short.f32', 'the picker names the dropped file');
    await page.locator('#upload-form').screenshot({ path: `${SHOTS}/upload-error.png` });
    await page.screenshot({ path: `${SHOTS}/upload-error-page.png`, fullPage: true });

    // the model zip, through the file picker: accepted, with progress, token kept for this tab only
    await page.setInputFiles('#file', initial.path);
    await page.click('#upload');
    await waitMessage(page, 'done', 'Accepted');
    const accepted = await message(page);
    const planned = Number(/Round (\d+) will include them/.exec(accepted)?.[1]);
    assert.ok(planned === 1 || planned === 2, `the upload is planned for round ${planned}, the node being alone in round 1: ${accepted}`);
    assert.equal(await page.evaluate(() => (document.getElementById('progress') as HTMLProgressElement).value), 100);
    assert.match((await page.textContent('#progress-text')) ?? '', /^100% of \d+ KiB sent$/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('flnode.apiToken')), token);
    assert.equal(await page.evaluate(() => document.cookie), '', 'no cookie');
    assert.ok(!page.url().includes(token) && !page.url().includes('?'), `the token is not in the URL: ${page.url()}`);

    // the other sites join; the round the page announced includes it, and the round table says so
    tb.nodes[1]!.restart();
    tb.nodes[2]!.restart();
    await page.waitForFunction((r) => document.getElementById('upload-msg')?.textContent?.startsWith(`Round ${r} included your uploaded weights.`), planned, { timeout: 240_000 });
    const marked = await page.$$eval('#rounds tr', (trs) => trs.filter((tr) => tr.textContent?.includes('uploaded weights')).map((tr) => tr.querySelector('td')?.textContent));
    assert.deepEqual(marked, [String(planned)], 'exactly the announced round is marked');

    // all rounds done, without reloading
    await page.waitForFunction((n) => document.getElementById('phase')?.textContent === 'done' && document.querySelectorAll('#rounds tr').length === n, ROUNDS, { timeout: 300_000 });
    // the card shows the published round: the best validation AUC of this site, which need not be the last
    const api = tb.nodes[0]!.httpUrl!.replace(/\/$/, '');
    const published = (await (await fetch(`${api}/api/status`)).json()).model.published as number;
    assert.ok(published >= 1 && published <= ROUNDS, `published round ${published}`);
    publishedRound = published;
    const apiRounds = (await (await fetch(`${api}/api/rounds`)).json()) as { round: number; valAuc: number; published: boolean }[];
    const best = Math.max(...apiRounds.map((r) => r.valAuc));
    assert.equal(apiRounds.find((r) => r.round === published)!.valAuc, best, 'the published round has the best validation AUC');
    assert.deepEqual(apiRounds.filter((r) => r.published).map((r) => r.round), [published]);
    await page.waitForFunction(([p, n]) => document.getElementById('card-round')?.textContent?.startsWith(`${p} of ${n}`), [published, ROUNDS], { timeout: 30_000 });
    assert.equal(await page.$$eval('#rounds tr', (trs) => trs.filter((tr) => tr.textContent?.includes('published')).map((tr) => tr.querySelector('td')?.textContent)).then((x) => x.join()), String(published), 'the round table marks the published round');
    const lastRound = await page.textContent('#round');
    const rows = await page.$$eval('#rounds tr', (trs) => trs.map((tr) => tr.textContent));
    await page.screenshot({ path: `${SHOTS}/status-done.png`, fullPage: true });
    await page.locator('section[aria-labelledby="model-h"]').screenshot({ path: `${SHOTS}/model-card.png` });
    assert.notEqual(firstRound, lastRound, 'the round display advanced');
    assert.equal(rows.length, ROUNDS, 'the rounds table grew');
    assert.match((await page.textContent('#auc')) ?? '', /^0\.\d{4}$/);
    assert.equal(await page.textContent('#peers tr:nth-child(1) td:nth-child(3)'), 'live');
    // the events panel lists the node's events, or says there is nothing to report
    const events = await page.$$eval('#events tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    const recorded = (tb.nodes[0]!.status()!.events ?? []).length;
    assert.ok(events.length >= 1, 'the events panel is empty');
    if (events[0] === 'nothing to report') assert.equal(recorded, 0, `the page says nothing to report, the node recorded ${recorded} events`);
    else assert.equal(events.length, Math.min(recorded, 20), `events panel: ${JSON.stringify(events)} (node recorded ${recorded})`);
    const canvas = await page.$('#chart');
    assert.ok(canvas && (await canvas.boundingBox())!.height > 100, 'the chart is drawn');
    ran = true;
  });

  it('the model card describes the downloaded model, whose test AUC in tfjs equals the page figure', async () => {
    assert.ok(ran, 'the testbed run of the first test did not complete');
    const card = {
      round: (await page.textContent('#card-round')) ?? '',
      params: (await page.textContent('#card-params')) ?? '',
      data: (await page.textContent('#card-data')) ?? '',
      test: (await page.textContent('#card-test')) ?? '',
      hash: (await page.textContent('#card-hash')) ?? '',
      howto: (await page.textContent('#howto')) ?? '',
    };
    cardHash = card.hash;
    assert.match(card.data, /^pneumoniamnist, binary$/);
    assert.match(card.hash, /^[0-9a-f]{64}$/);
    const figure = new RegExp(`^(0\\.\\d{4}) \\(round ${publishedRound},`).exec(card.test)?.[1];
    assert.ok(figure, `test AUC on the card: ${card.test}`);
    assert.equal(card.howto.split('\n').length, 3);
    assert.match(card.howto, /tf\.loadLayersModel/);
    // the figure is the node's own record of that round
    assert.equal(tb!.nodes[0]!.status()!.rounds.find((r) => r.round === publishedRound)!.testAuc!.toFixed(4), figure);

    const got = await download(page, work);
    assert.equal(got.name, `flnode-model-r${publishedRound}-${card.hash.slice(0, 12)}.zip`);
    const weights = got.files['weights.bin']!;
    assert.equal(createHash('sha256').update(weights).digest('hex'), card.hash, 'the weights are the model the card names');
    assert.equal(card.params, `${(weights.length / 4).toLocaleString('en-US')} float32 values (${Math.round(weights.length / 1024)} KiB)`);

    // run the card's three lines as printed, on the node's test images (its evaluation set)
    const dir = join(work, 'unzipped');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.json'), got.files['model.json']!);
    writeFileSync(join(dir, 'weights.bin'), weights);
    const data = await loadMedMnist('data/pneumoniamnist.npz');
    const testImages = data.test.images.subarray(0, EVAL_SAMPLES * 784);
    const labels = data.test.labels.subarray(0, EVAL_SAMPLES);
    await initBackend();
    const fs = { readFileSync: (p: string, enc?: BufferEncoding) => readFileSync(join(dir, p), enc) };
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...a: string[]) => (...v: unknown[]) => Promise<unknown>;
    const run = new AsyncFunction('tf', 'fs', 'testImages', `${card.howto}\nreturn scores;`);
    const scores = (await run(tf, fs, testImages)) as Float32Array;
    assert.equal(scores.length, EVAL_SAMPLES);
    assert.equal(rocAuc(labels, scores).toFixed(4), figure, 'the downloaded model scores the page figure');
  });

  it('is accessible: labelled controls, keyboard reachable, no serious or critical axe-core violation', async () => {
    assert.ok(ran, 'the testbed run of the first test did not complete');
    const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const bad = axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`), []);
    for (const id of ['token', 'file']) assert.ok(await page.$(`label[for="${id}"]`), `#${id} has a label`);
    await page.focus('body');
    const reached = new Set<string>();
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate(() => document.activeElement?.id ?? ''));
    }
    for (const id of ['download', 'howto', 'token', 'forget', 'file', 'upload']) assert.ok(reached.has(id), `#${id} is reachable with Tab (reached: ${[...reached].join(', ')})`);
  });

  it('the CLI exports the running node\'s model and uploads like the form, with no tfjs banner', async () => {
    assert.ok(ran, 'the testbed run of the first test did not complete');
    const site = tb!.nodes[0]!.dir;
    const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/flnode.mjs', 'model', ...args], { encoding: 'utf8', timeout: 120_000 });
    const out = join(work, 'export');
    const exp = cli('export', '--dir', site, '--out', out);
    assert.equal(exp.status, 0, exp.stderr);
    assert.doesNotMatch(exp.stdout + exp.stderr, BANNER);
    assert.equal(readFileSync(join(out, 'model-hash.txt'), 'utf8').split('\n')[0], cardHash, 'exported while running: the model on the card');
    const wrong = cli('import', '--dir', site, '--file', join(work, 'short.f32'));
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /^flnode: .*short\.f32 refused \(WRONG_SIZE\): .*Upload weights of this same model/);
    const ok = cli('import', '--dir', site, '--file', join(out, 'weights.bin'));
    assert.equal(ok.status, 0, ok.stderr);
    const params = readFileSync(join(out, 'weights.bin')).length / 4;
    assert.match(ok.stdout, new RegExp(`accepted, ${params} parameters; no further round is planned \\(${ROUNDS} of ${ROUNDS}\\): the node keeps them for round ${ROUNDS + 1}`));
    const nobody = cli('export', '--dir', site, '--out', out, '--url', 'http://127.0.0.1:9/');
    assert.equal(nobody.status, 1);
    assert.match(nobody.stderr, /^flnode: no flnode answers at http:\/\/127\.0\.0\.1:9\//);
    assert.doesNotMatch(wrong.stdout + wrong.stderr + ok.stdout + ok.stderr, BANNER);
  });
});
