import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signingPublicKey } from '../../protocol/index.ts';
import { initIdentity, loadApiToken, loadIdentity, loadOrCreateAdminKey, publicKeyFromPeerId } from '../../node/identity.ts';
import { createManifest, loadManifest, signManifest } from '../../node/manifest.ts';
import { UserError } from '../../node/errors.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'flnode-id-'));
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/flnode.mjs', ...args], { encoding: 'utf8' });

describe('node: identity and manifest', () => {
  it('writes key files 0600, reloads the same peer id, embeds the signing key in the peer id', async () => {
    const dir = join(tmp(), 'site');
    const id = await initIdentity(dir);
    for (const f of ['identity.key', 'api-token']) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    const again = await loadIdentity(dir);
    assert.equal(again.peerId, id.peerId);
    assert.deepEqual(publicKeyFromPeerId(id.peerId), signingPublicKey(id.signingSecret));
    assert.match(await loadApiToken(dir), /^[0-9a-f]{64}$/);
    await assert.rejects(initIdentity(dir), UserError, 'never overwrites an identity');
  });

  it('refuses a key file readable by others, naming the fix', async () => {
    const dir = join(tmp(), 'site');
    await initIdentity(dir);
    chmodSync(join(dir, 'identity.key'), 0o644);
    await assert.rejects(loadIdentity(dir), (e: unknown) => e instanceof UserError && /chmod 600/.test(e.message));
  });

  it('accepts a signed manifest and refuses a tampered, unsigned or malformed one', async () => {
    const dir = tmp();
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    const a = await initIdentity(join(dir, 'a'));
    const b = await initIdentity(join(dir, 'b'));
    let m = createManifest({ consortium: 'k', adminPublicKey: signingPublicKey(admin) });
    m = { ...m, members: [{ name: 'a', peerId: a.peerId }, { name: 'b', peerId: b.peerId }] };
    const path = join(dir, 'm.json');
    writeFileSync(path, JSON.stringify(signManifest(m, admin)));
    assert.equal((await loadManifest(path)).members.length, 2);
    const tampered = JSON.parse(readFileSync(path, 'utf8'));
    tampered.plan.rounds = 99;
    writeFileSync(path, JSON.stringify(tampered));
    await assert.rejects(loadManifest(path), /signature does not verify/);
    writeFileSync(path, JSON.stringify(m));
    await assert.rejects(loadManifest(path), /not signed/);
    writeFileSync(path, '{"version": 1, "consortium": ');
    await assert.rejects(loadManifest(path), /not valid JSON/);
    writeFileSync(path, JSON.stringify({ ...m, members: [{ name: 'x', peerId: 'not-a-peer-id' }] }));
    await assert.rejects(loadManifest(path), /members\.0\.peerId: not an Ed25519 libp2p peer id/);
  });

  it('the CLI builds, signs and verifies a manifest end to end, and reports tampering in one line', () => {
    const dir = tmp();
    const peer = cli('init', '--dir', join(dir, 's1')).stdout.trim();
    const peer2 = cli('init', '--dir', join(dir, 's2')).stdout.trim();
    const m = join(dir, 'm.json');
    const key = join(dir, 'admin.key');
    assert.equal(cli('consortium', 'create', '--id', 'k', '--out', m, '--admin-key', key, '--rounds', '2').status, 0);
    assert.equal(cli('consortium', 'add-member', '--manifest', m, '--name', 'a', '--peer-id', peer).status, 0);
    assert.equal(cli('consortium', 'add-member', '--manifest', m, '--name', 'b', '--peer-id', peer2).status, 0);
    assert.equal(cli('consortium', 'sign', '--manifest', m, '--admin-key', key).status, 0);
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.match(cli('consortium', 'verify', '--manifest', m).stdout, /valid, consortium k, 2 members/);
    writeFileSync(m, readFileSync(m, 'utf8').replace('"rounds": 2', '"rounds": 3'));
    const r = cli('consortium', 'verify', '--manifest', m);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('flnode:')).length, 1);
    const bad = cli('consortium', 'add-member', '--manifest', m, '--name', 'c', '--peer-id', 'xyz');
    assert.match(bad.stderr, /flnode: xyz is not an Ed25519 libp2p peer id/);
  });
});
