import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signingPublicKey } from '../../protocol/index.ts';
import { initIdentity, loadApiToken, loadIdentity, loadOrCreateAdminKey, publicKeyFromPeerId } from '../../node/identity.ts';
import { createManifest, loadManifest, parseManifest, signManifest, thresholdSummary } from '../../node/manifest.ts';
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
    const c = await initIdentity(join(dir, 'c'));
    let m = createManifest({ consortium: 'k', adminPublicKey: signingPublicKey(admin) });
    m = { ...m, members: [a, b, c].map((x, i) => ({ name: 'abc'[i]!, peerId: x.peerId, maxSamples: 100 })) };
    const path = join(dir, 'm.json');
    writeFileSync(path, JSON.stringify(signManifest(m, admin)));
    assert.equal((await loadManifest(path)).members.length, 3);
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
    const peer3 = cli('init', '--dir', join(dir, 's3')).stdout.trim();
    const m = join(dir, 'm.json');
    const key = join(dir, 'admin.key');
    assert.equal(cli('consortium', 'create', '--id', 'k', '--out', m, '--admin-key', key, '--rounds', '2').status, 0);
    // every member's sample cap is certified: without --max-samples the command refuses (a member without one could claim any FedAvg weight)
    const uncapped = cli('consortium', 'add-member', '--manifest', m, '--name', 'a', '--peer-id', peer);
    assert.equal(uncapped.status, 1);
    assert.match(uncapped.stderr, /--max-samples/);
    assert.equal(cli('consortium', 'add-member', '--manifest', m, '--name', 'a', '--peer-id', peer, '--max-samples', '1600').status, 0);
    assert.equal(cli('consortium', 'add-member', '--manifest', m, '--name', 'b', '--peer-id', peer2, '--max-samples', '1600').status, 0);
    // two members cannot make a private aggregate: signing refuses, naming the rule
    const two = cli('consortium', 'sign', '--manifest', m, '--admin-key', key);
    assert.equal(two.status, 1);
    assert.match(two.stderr, /flnode: .*3 to 255 members/);
    assert.equal(cli('consortium', 'add-member', '--manifest', m, '--name', 'c', '--peer-id', peer3, '--max-samples', '1600').status, 0);
    assert.equal(cli('consortium', 'sign', '--manifest', m, '--admin-key', key).status, 0);
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.match(cli('consortium', 'verify', '--manifest', m).stdout, /valid, consortium k, 3 members/);
    writeFileSync(m, readFileSync(m, 'utf8').replace('"rounds": 2', '"rounds": 3'));
    const r = cli('consortium', 'verify', '--manifest', m);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('flnode:')).length, 1);
    const bad = cli('consortium', 'add-member', '--manifest', m, '--name', 'c', '--peer-id', 'xyz', '--max-samples', '10');
    assert.match(bad.stderr, /flnode: xyz is not an Ed25519 libp2p peer id/);
  });

  it('threshold: explicit t is checked against N at signing and loading; the default is max(3, floor(2N/3)+1)', async () => {
    const dir = tmp();
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    const ids = await Promise.all([0, 1, 2, 3, 4].map((i) => initIdentity(join(dir, `s${i}`))));
    const members = ids.map((id, i) => ({ name: `s${i}`, peerId: id.peerId, maxSamples: 1000 + i }));
    const base = { ...createManifest({ consortium: 'k', adminPublicKey: signingPublicKey(admin) }), members };
    assert.deepEqual(thresholdSummary(base), { members: 5, threshold: 4, bound: 2 });
    assert.deepEqual(thresholdSummary({ ...base, members: members.slice(0, 3) }), { members: 3, threshold: 3, bound: 1 });
    const path = join(dir, 'm.json');
    // t = 3 of 5 is below ceil(N/2)+1 = 4: an aggregator splitting U3 could unmask an update
    writeFileSync(path, JSON.stringify(signManifest({ ...base, threshold: 3 }, admin)));
    await assert.rejects(loadManifest(path), (e: unknown) => e instanceof UserError && /threshold 3 of 5 is below ceil\(N\/2\)\+1 = 4/.test(e.message));
    writeFileSync(path, JSON.stringify(signManifest({ ...base, threshold: 6 }, admin)));
    await assert.rejects(loadManifest(path), /exceeds the 5 members/);
    writeFileSync(path, JSON.stringify(signManifest({ ...base, threshold: 5 }, admin)));
    assert.equal((await loadManifest(path)).threshold, 5);
    assert.throws(() => parseManifest(JSON.stringify({ ...base, threshold: 2 }), 'm'), /threshold/);
  });

  it('maxSamples is covered by the admin signature, and a member id with a 0x00 byte is refused', async () => {
    const dir = tmp();
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    const ids = await Promise.all([0, 1, 2].map((i) => initIdentity(join(dir, `s${i}`))));
    const m = { ...createManifest({ consortium: 'k', adminPublicKey: signingPublicKey(admin) }), members: ids.map((id, i) => ({ name: `s${i}`, peerId: id.peerId, maxSamples: 500 })) };
    const path = join(dir, 'm.json');
    const signed = signManifest(m, admin);
    writeFileSync(path, JSON.stringify(signed));
    assert.equal((await loadManifest(path)).members[0]!.maxSamples, 500);
    const inflated = { ...signed, members: signed.members.map((x, i) => (i === 0 ? { ...x, maxSamples: 0xffffffff } : x)) };
    writeFileSync(path, JSON.stringify(inflated));
    await assert.rejects(loadManifest(path), /signature does not verify/);
    const zero = { ...m, members: [...m.members, { name: 'z', peerId: `${ids[0]!.peerId}\u0000` }] };
    assert.throws(() => parseManifest(JSON.stringify(zero), 'm'), /must not contain a 0x00 byte/);
  });

  it('the CLI sets and prints the threshold and the collusion bound (3 of 3 → 1, 4 of 5 → 2) and refuses t below ceil(N/2)+1', async () => {
    const dir = tmp();
    const ids = await Promise.all([0, 1, 2, 3, 4].map((i) => initIdentity(join(dir, `s${i}`))));
    const m = join(dir, 'm.json');
    const key = join(dir, 'admin.key');
    assert.equal(cli('consortium', 'create', '--id', 'k', '--out', m, '--admin-key', key).status, 0);
    for (const [i, id] of ids.slice(0, 3).entries()) assert.equal(cli('consortium', 'add-member', '--manifest', m, '--name', `s${i}`, '--peer-id', id.peerId, '--max-samples', '2000').status, 0);
    assert.match(cli('consortium', 'threshold', '--manifest', m).stdout, /threshold 3 of 3 members \(default\); collusion bound min\(2t−N−1, t−2\) = 1/);
    for (const [i, id] of ids.slice(3).entries()) assert.equal(cli('consortium', 'add-member', '--manifest', m, '--name', `s${i + 3}`, '--peer-id', id.peerId, '--max-samples', '2000').status, 0);
    const low = cli('consortium', 'threshold', '--manifest', m, '--set', '3');
    assert.equal(low.status, 1);
    assert.match(low.stderr, /flnode: threshold: threshold 3 of 5 is below ceil\(N\/2\)\+1 = 4/);
    assert.match(cli('consortium', 'threshold', '--manifest', m, '--set', '4').stdout, /threshold 4 of 5 members; collusion bound min\(2t−N−1, t−2\) = 2/);
    assert.equal(cli('consortium', 'sign', '--manifest', m, '--admin-key', key).status, 0);
    const v = cli('consortium', 'verify', '--manifest', m);
    assert.match(v.stdout, /valid, consortium k, 5 members/);
    assert.match(v.stdout, /threshold 4 of 5 members; collusion bound min\(2t−N−1, t−2\) = 2/);
    const saved = JSON.parse(readFileSync(m, 'utf8'));
    assert.equal(saved.threshold, 4);
    assert.equal(saved.members[0].maxSamples, 2000);
  });
  it('refuses a manifest with t below ceil(N/2)+1 for every N tried, and one whose member has no maxSamples', async () => {
    const dir = tmp();
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    const ids = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((i) => initIdentity(join(dir, `s${i}`))));
    const members = ids.map((id, i) => ({ name: `s${i}`, peerId: id.peerId, maxSamples: 100 }));
    const path = join(dir, 'm.json');
    for (const [n, low] of [[4, 2], [5, 3], [6, 3], [7, 4]] as const) {
      const base = { ...createManifest({ consortium: 'k', adminPublicKey: signingPublicKey(admin) }), members: members.slice(0, n) };
      const min = Math.ceil(n / 2) + 1;
      // t = 2 never passes the schema (t ≥ 3); above that, the member count decides
      if (low < 3) assert.throws(() => parseManifest(JSON.stringify({ ...base, threshold: low }), 'm'), /threshold/);
      else {
        writeFileSync(path, JSON.stringify(signManifest({ ...base, threshold: low }, admin)));
        await assert.rejects(loadManifest(path), (e: unknown) => e instanceof UserError && new RegExp(`threshold ${low} of ${n} is below ceil\\(N/2\\)\\+1 = ${min}`).test(e.message), `t = ${low} of ${n}`);
      }
      writeFileSync(path, JSON.stringify(signManifest({ ...base, threshold: min }, admin)));
      assert.equal((await loadManifest(path)).threshold, min, `t = ceil(N/2)+1 = ${min} of ${n} is allowed (control)`);
    }
    const base = { ...createManifest({ consortium: 'k', adminPublicKey: signingPublicKey(admin) }), members: members.slice(0, 3) };
    const { maxSamples: _dropped, ...uncapped } = members[1]!;
    const text = JSON.stringify({ ...base, members: [members[0], uncapped, members[2]] });
    assert.throws(() => parseManifest(text, 'm'), (e: unknown) => e instanceof UserError && /members\.1\.maxSamples/.test(e.message));
    writeFileSync(path, text);
    await assert.rejects(loadManifest(path), /members\.1\.maxSamples/);
  });

  it('the CLI prints the collusion bound min(2t−N−1, t−2) for 5 of 7 → 2', async () => {
    const dir = tmp();
    const ids = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((i) => initIdentity(join(dir, `s${i}`))));
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    const m = join(dir, 'm.json');
    const manifest = { ...createManifest({ consortium: 'k', adminPublicKey: signingPublicKey(admin) }), members: ids.map((id, i) => ({ name: `s${i}`, peerId: id.peerId, maxSamples: 100 })) };
    writeFileSync(m, JSON.stringify(manifest));
    assert.match(cli('consortium', 'threshold', '--manifest', m).stdout, /threshold 5 of 7 members \(default\); collusion bound min\(2t−N−1, t−2\) = 2/);
    assert.match(cli('consortium', 'threshold', '--manifest', m, '--set', '6').stdout, /threshold 6 of 7 members; collusion bound min\(2t−N−1, t−2\) = 4/);
    assert.match(cli('consortium', 'threshold', '--manifest', m, '--set', '5').stdout, /threshold 5 of 7 members; collusion bound min\(2t−N−1, t−2\) = 2/);
    const low = cli('consortium', 'threshold', '--manifest', m, '--set', '4');
    assert.equal(low.status, 1);
    assert.match(low.stderr, /threshold 4 of 7 is below ceil\(N\/2\)\+1 = 5/);
  });
});
