// Attack (found in review): one member signs an AggregateRecord for an attempt the victim never
// saw, heartbeats version 1 with the hash of weights it made up, and answers the victim's
// ModelRequest with them. The record's hash counts as a second voucher, so the victim adopts them.
// Skipped until protocol v2 (issue 16): requiring a voucher other than the record's signer makes
// v1 catch-up stall whenever only the aggregator holds the new model and the others cannot check
// its record (the simulation's seeds 68, 170 and 434 then never finish). Under v2 every member
// computes the aggregate itself from the revealed shares, so no catch-up depends on one member.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { decodeEnvelope, encodeEnvelope, MessageKind, modelBytes, modelHash, signingPublicKey } from '../../protocol/index.ts';
import { initIdentity, loadOrCreateAdminKey, type SiteIdentity } from '../../node/identity.ts';
import { createManifest, signManifest, type Manifest } from '../../node/manifest.ts';
import { RoundEngine } from '../../node/rounds/engine.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import { MemoryStore } from '../../node/runtime/kv-store.ts';
import { fakeTrainer, ManualClock, StubNetwork } from '../helpers/engine-fakes.ts';

describe('rounds: a model vouched for only by the member who serves it is never adopted', function () {
  it.skip('an aggregator candidate that sends a record for an unseen attempt, heartbeats its hash and serves the weights alone does not make a node adopt them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flnode-review-'));
    const ids: SiteIdentity[] = await Promise.all(['a', 'b', 'c'].map((n) => initIdentity(join(dir, n))));
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    const timeouts = { heartbeatMs: 200, livenessMs: 2000, keysMs: 600_000, trainingMs: 600_000, collectMs: 600_000, aggregateMs: 600_000 };
    let manifest: Manifest = createManifest({ consortium: 'rv', adminPublicKey: signingPublicKey(admin), plan: { rounds: 3 }, timeouts, minParticipants: 2 });
    manifest = signManifest({ ...manifest, members: ids.map((s, i) => ({ name: `site-${i}`, peerId: s.peerId })) }, admin);
    const order = aggregatorOrder(ids.map((i) => i.peerId), 1);
    const attacker = ids.find((i) => i.peerId === order[0])!;
    const rest = ids.filter((i) => i !== attacker);
    const self = rest[0]!; const honest = rest[1]!;
    const v0 = fakeTrainer(256).getWeights();
    const forged = v0.map(() => 42);
    const H = modelHash(forged);
    const dec = (b: Uint8Array) => decodeEnvelope(b, { consortium: manifest.consortium, publicKeyOf: (s) => ids.find((i) => i.peerId === s)?.signingPublic });
    const net = new (class extends StubNetwork {
      override async request(peer: string): Promise<Uint8Array | null> {
        assert.equal(peer, attacker.peerId);
        return encodeEnvelope({ consortium: manifest.consortium, round: 1, attempt: 0, sender: peer }, { kind: MessageKind.ModelResponse, body: { version: 1, modelHash: H, weights: modelBytes(forged) } }, attacker.signingSecret);
      }
    })(self.peerId);
    const clock = new ManualClock();
    const engine = new RoundEngine({ manifest, identity: self, network: net, trainer: fakeTrainer(256), store: new MemoryStore(), log: pino({ level: 'silent' }), clock });
    await engine.start();
    const hbOf = (from: SiteIdentity, version: number, hash: Uint8Array) => encodeEnvelope({ consortium: manifest.consortium, round: version + 1, attempt: 0, sender: from.peerId }, { kind: MessageKind.Heartbeat, body: { sentAt: clock.now(), modelVersion: version, modelHash: hash, phase: 'keys' } }, from.signingSecret);
    await engine.handle(dec(hbOf(honest, 0, modelHash(v0))));
    await engine.handle(dec(hbOf(attacker, 1, H)));
    const z = new Uint8Array(32);
    const rec = encodeEnvelope({ consortium: manifest.consortium, round: 1, attempt: 0, sender: attacker.peerId }, { kind: MessageKind.AggregateRecord, body: { participants: [attacker.peerId, honest.peerId], cryptogramHashes: [z, z], sumHash: z, baseModelHash: modelHash(v0), newModelHash: H } }, attacker.signingSecret);
    const env = dec(rec);
    assert.equal(engine.validate(rec, attacker.peerId), 'accept');
    await engine.handle(env);
    await clock.advance(4000);
    engine.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(engine.global.version, 0, 'forged model adopted on the attacker\'s word alone');
  });
});
