// Attack (found in review): one member heartbeats model version 1 with the hash of weights it made
// up and answers the victim's ModelRequest with them. Protocol v2 has no aggregate record a catch-up
// could lean on: every member computes the aggregate itself from the revealed shares, and a fetched
// model is adopted only when a member other than the one serving it vouches for its (version, hash)
// in a heartbeat (node/rounds/model-sync.ts). A lone member's forged model is never adopted; the
// control shows the same answer is adopted once a second member vouches for it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { modelBytes, modelHash, toHex } from '../../protocol/index.ts';
import { KindV2 } from '../../protocol/v2/index.ts';
import { initIdentity, loadOrCreateAdminKey, type SiteIdentity } from '../../node/identity.ts';
import { RoundEngine } from '../../node/rounds/engine.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import { MemoryStore } from '../../node/runtime/kv-store.ts';
import { fakeTrainer, ManualClock, StubNetwork } from '../helpers/engine-fakes.ts';
import { Peers, signedManifest } from '../helpers/v2-peers.ts';

describe('rounds: a model vouched for only by the member who serves it is never adopted', function () {
  let dir: string;
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function attack(secondVoucher: boolean) {
    dir ??= mkdtempSync(join(tmpdir(), 'flnode-review-'));
    const ids: SiteIdentity[] = await Promise.all(['a', 'b', 'c'].map((n) => initIdentity(join(dir, `${n}-${secondVoucher}`))));
    const admin = await loadOrCreateAdminKey(join(dir, `admin-${secondVoucher}.key`));
    const timeouts = { heartbeatMs: 200, livenessMs: 2000, keysMs: 600_000, trainingMs: 600_000, collectMs: 600_000, aggregateMs: 600_000 };
    const manifest = signedManifest(admin, ids, { consortium: 'rv', plan: { rounds: 3 }, timeouts });
    const peers = new Peers(manifest, ids);
    const order = aggregatorOrder(ids.map((i) => i.peerId), 1);
    const attacker = ids.find((i) => i.peerId === order[0])!; // the round's first aggregator
    const [self, honest] = ids.filter((i) => i !== attacker) as [SiteIdentity, SiteIdentity];
    const v0 = fakeTrainer(256).getWeights();
    const forged = v0.map(() => 42);
    const H = toHex(modelHash(forged));
    const asked: string[] = [];
    const net = new (class extends StubNetwork {
      override async request(peer: string): Promise<Uint8Array | null> {
        asked.push(peer);
        return peers.seal(attacker, 1, 0, { kind: KindV2.ModelResponse, body: { version: 1, modelHash: modelHash(forged), weights: modelBytes(forged) } });
      }
    })(self.peerId);
    const clock = new ManualClock();
    const engine = new RoundEngine({ manifest, identity: self, network: net, trainer: fakeTrainer(256), store: new MemoryStore(), log: pino({ level: 'silent' }), clock });
    await engine.start();
    const deliver = (b: Uint8Array) => engine.handle(peers.decode(b), b);
    await deliver(peers.heartbeat(attacker, 2, clock.now(), 1, H, 'keys'));
    await deliver(secondVoucher ? peers.heartbeat(honest, 2, clock.now(), 1, H, 'keys') : peers.heartbeat(honest, 1, clock.now(), 0, toHex(modelHash(v0))));
    // the attacker keeps heartbeating its version, and the honest member stays live
    for (let i = 0; i < 20; i++) {
      await clock.advance(200);
      await deliver(peers.heartbeat(attacker, 2, clock.now(), 1, H, 'keys'));
      await deliver(secondVoucher ? peers.heartbeat(honest, 2, clock.now(), 1, H, 'keys') : peers.heartbeat(honest, 1, clock.now(), 0, toHex(modelHash(v0))));
    }
    engine.stop();
    return { engine, asked, attacker, H };
  }

  it('a member that heartbeats a made-up model version and serves its weights alone does not make a node adopt them', async () => {
    const { engine, asked, attacker } = await attack(false);
    assert.ok(asked.length >= 1 && asked.every((p) => p === attacker.peerId), `the node never asked the attacker (asked ${asked.length})`);
    assert.equal(engine.global.version, 0, "forged model adopted on the attacker's word alone");
  });

  it('control: the same answer is adopted once a second member vouches for its version and hash', async () => {
    const { engine, asked, H } = await attack(true);
    assert.ok(asked.length >= 1);
    assert.equal(engine.global.version, 1);
    assert.equal(engine.global.hash, H);
  });
});
