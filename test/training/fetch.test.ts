import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchDataset, FetchError } from '../../node/training/fetch.ts';
import { makeMedMnistNpz } from '../helpers/medmnist-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'flnode-fetch-'));
const src = join(dir, 'source.npz');
makeMedMnistNpz(src, { dataset: 'chestmnist', sizes: { train: 300, val: 50, test: 50 } });
const body = readFileSync(src);
const md5 = createHash('md5').update(body).digest('hex');

let server: Server;
let base = '';
const seen: string[] = [];
let dropAfter: number | null = null;

before(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers.range ?? 'full');
    const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    const from = m ? Number(m[1]) : 0;
    const slice = body.subarray(from);
    res.writeHead(m ? 206 : 200, { 'content-length': slice.length });
    if (dropAfter !== null) {
      res.write(slice.subarray(0, dropAfter));
      dropAfter = null;
      setTimeout(() => res.destroy(), 20);
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}/chestmnist.npz`;
});
after(() => server.close());

describe('training: dataset download', () => {
  it('downloads, reports progress and checks the MD5', async () => {
    const out = join(dir, 'a');
    const progress: number[] = [];
    const p = await fetchDataset({ name: 'chestmnist', outDir: out, url: base, md5, onProgress: (g) => progress.push(g) });
    assert.deepEqual(readFileSync(p), body);
    assert.equal(progress.at(-1), body.length);
    assert.ok(!existsSync(`${p}.part`));
  });

  it('refuses an MD5 mismatch and leaves no file that looks complete', async () => {
    const out = join(dir, 'b');
    await assert.rejects(fetchDataset({ name: 'chestmnist', outDir: out, url: base, md5: '0'.repeat(32) }), (e: unknown) => e instanceof FetchError && /MD5/.test(e.message));
    assert.ok(!existsSync(join(out, 'chestmnist.npz')));
    assert.ok(!existsSync(join(out, 'chestmnist.npz.part')));
  });

  it('keeps a partial download as .part after a dropped connection and resumes it with a Range request', async () => {
    const out = join(dir, 'c');
    dropAfter = 100_000;
    await assert.rejects(fetchDataset({ name: 'chestmnist', outDir: out, url: base, md5 }));
    assert.ok(!existsSync(join(out, 'chestmnist.npz')), 'no final file after a failure');
    const partial = statSync(join(out, 'chestmnist.npz.part')).size;
    assert.ok(partial > 0 && partial < body.length);
    seen.length = 0;
    const p = await fetchDataset({ name: 'chestmnist', outDir: out, url: base, md5 });
    assert.deepEqual(seen, [`bytes=${partial}-`]);
    assert.deepEqual(readFileSync(p), body);
  });

  it('the CLI fails cleanly where the network is unreachable and says how to pass a local file', async () => {
    const child = spawn(process.execPath, ['bin/flnode.mjs', 'data', 'fetch', 'chestmnist', '--out', join(dir, 'd')], { env: { ...process.env, NODE_ENV: 'test', FLNODE_TEST_DATASET_URL: 'http://127.0.0.1:1/x.npz' } });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number>((r) => child.on('exit', (c) => r(c ?? -1)));
    assert.equal(code, 1);
    assert.match(err, /flnode: cannot download chestmnist .*--data PATH/);
    assert.ok(!/\n\s+at /.test(err), 'no stack trace');
  });

  it('the CLI downloads through the test override', async () => {
    const out = join(dir, 'e');
    const child = spawn(process.execPath, ['bin/flnode.mjs', 'data', 'fetch', 'chestmnist', '--out', out], { env: { ...process.env, NODE_ENV: 'test', FLNODE_TEST_DATASET_URL: base, FLNODE_TEST_DATASET_MD5: md5 } });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    assert.equal(await new Promise<number>((r) => child.on('exit', (c) => r(c ?? -1))), 0);
    assert.equal(stdout.trim(), join(out, 'chestmnist.npz'));
    writeFileSync(join(dir, 'ok'), '');
  });
});
