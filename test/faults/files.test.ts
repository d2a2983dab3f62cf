// Corrupt manifest and .npz files given to the CLI: a clean one-line `flnode: ...` error on stderr,
// a non-zero exit, no stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { initIdentity, loadOrCreateAdminKey } from '../../node/identity.ts';
import { createManifest, signManifest } from '../../node/manifest.ts';
import { signingPublicKey } from '../../protocol/index.ts';
import { tally } from './summary.ts';

const root = process.cwd();

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(root, 'bin', 'flnode.mjs'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLNODE_LOG_LEVEL: 'silent' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function assertCleanError(what: string, r: { code: number | null; stderr: string }): void {
  tally.cases++;
  const lines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{') && !/^npm warn/i.test(l));
  assert.notEqual(r.code, 0, `${what}: exit code 0`);
  assert.equal(r.code === null, false, `${what}: killed by a signal`);
  assert.equal(lines.length, 1, `${what}: expected one error line, got:\n${r.stderr.slice(0, 1500)}`);
  assert.match(lines[0]!, /^flnode: \S/, `${what}: ${lines[0]}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: stack trace`);
  tally.rejected++;
}

describe('faults: corrupt manifest and npz files give one clean error line', function () {
  this.timeout(180_000);
  let dir: string;
  let good: string;
  const manifests: [string, string | Uint8Array][] = [];
  const npzs: [string, Uint8Array][] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flnode-files-'));
    const site = await initIdentity(join(dir, 'site'));
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    let m = createManifest({ consortium: 'files', adminPublicKey: signingPublicKey(admin) });
    const [b, c] = await Promise.all(['b', 'c'].map((n) => initIdentity(join(dir, n))));
    m = signManifest({ ...m, members: [site, b!, c!].map((x, i) => ({ name: 'abc'[i]!, peerId: x.peerId, maxSamples: 1000 })) }, admin);
    good = JSON.stringify(m, null, 2);
    const { maxSamples: _cap, ...uncapped } = m.members[1]!;
    const tampered = { ...m, plan: { ...m.plan, rounds: m.plan.rounds + 1 } };
    manifests.push(
      ['empty', ''],
      ['truncated JSON', good.slice(0, good.length / 2)],
      ['binary garbage', new Uint8Array(512).map((_, i) => (i * 37) & 0xff)],
      ['JSON array', '[1,2,3]'],
      ['tampered after signing', JSON.stringify(tampered)],
      ['signature removed', JSON.stringify({ ...m, signature: undefined })],
      ['bad member peer id', JSON.stringify({ ...m, members: [{ name: 'a', peerId: 'not-a-peer-id', maxSamples: 1000 }] })],
      ['member without maxSamples', JSON.stringify({ ...m, members: [m.members[0], uncapped, m.members[2]] })],
      ['signed with a threshold above N', JSON.stringify(signManifest({ ...m, threshold: 4 }, admin))],
      ['signed with two members', JSON.stringify(signManifest({ ...m, members: m.members.slice(0, 2) }, admin))],
      ['unknown field', JSON.stringify({ ...m, extra: 1 })],
      ['huge rounds', JSON.stringify({ ...m, plan: { ...m.plan, rounds: 1e12 } })],
    );
    const data = readFileSync(join(root, 'data', 'pneumoniamnist.npz'));
    npzs.push(
      ['empty npz', new Uint8Array(0)],
      ['truncated npz', data.subarray(0, 100_000)],
      ['garbage npz', new Uint8Array(4096).map((_, i) => (i * 91) & 0xff)],
      ['zip without the arrays', zipSync({ 'hello.npy': new Uint8Array([1, 2, 3]) })],
      ['bad npy header', zipSync({ 'train_images.npy': new TextEncoder().encode('\x93NUMPY\x01\x00{garbage'), 'train_labels.npy': new Uint8Array(10) })],
    );
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('consortium verify and start refuse corrupt manifests', async () => {
    const runs: Promise<void>[] = [];
    for (const [what, text] of manifests) {
      const path = join(dir, `m-${what.replace(/\W+/g, '-')}.json`);
      writeFileSync(path, text);
      runs.push(cli(['consortium', 'verify', '--manifest', path]).then((r) => assertCleanError(`verify: ${what}`, r)));
      if (['truncated JSON', 'tampered after signing', 'signed with two members'].includes(what)) runs.push(cli(['start', '--dir', join(dir, 'site'), '--manifest', path, '--data', join(root, 'data', 'pneumoniamnist.npz'), '--listen', '/ip4/127.0.0.1/tcp/0']).then((r) => assertCleanError(`start: ${what}`, r)));
    }
    runs.push(cli(['consortium', 'verify', '--manifest', join(dir, 'missing.json')]).then((r) => assertCleanError('verify: missing file', r)));
    // control: the good manifest verifies
    const path = join(dir, 'm-good.json');
    writeFileSync(path, good);
    runs.push(cli(['consortium', 'verify', '--manifest', path]).then((r) => assert.equal(r.code, 0, r.stderr)));
    await Promise.all(runs);
  });

  it('train refuses corrupt .npz files', async () => {
    await Promise.all(npzs.map(async ([what, bytes]) => {
      const path = join(dir, `${what.replace(/\W+/g, '-')}.npz`);
      writeFileSync(path, bytes);
      assertCleanError(`train: ${what}`, await cli(['train', '--data', path, '--epochs', '1', '--max-train-samples', '64']));
    }));
  });
});
