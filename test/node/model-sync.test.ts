// Model sync over the real libp2p stack: a member that is behind fetches the global model from a
// peer. PROTOCOL.md §5 sends ModelResponse on a direct stream of up to 64 MiB; gossip caps an
// envelope near 1 MiB, so a model above that could never sync over gossip. Three engines in one
// process on loopback TCP: two already hold model version 1 of a 6 MB model, the third is at 0.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { modelBytes, modelHash, toHex } from '../../protocol/index.ts';
import { KindV2, MAX_MODEL_ENVELOPE_BYTES_V2 } from '../../protocol/v2/index.ts';
import { initIdentity, loadOrCreateAdminKey, type SiteIdentity } from '../../node/identity.ts';
import { createLibp2pNetwork } from '../../node/p2p/libp2p-network.ts';
import { modelKey, RoundEngine } from '../../node/rounds/engine.ts';
import { MemoryStore } from '../../node/runtime/kv-store.ts';
import { f32bytes } from '../../node/storage/store.ts';
import type { Network } from '../../node/types.ts';
import { fakeTrainer, ManualClock, StubNetwork } from '../helpers/engine-fakes.ts';
import { Peers, signedManifest } from '../helpers/v2-peers.ts';

const PARAMS = 1_500_000; // 6 MB of float32 weights

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('node: model sync of a model above the gossip limit (libp2p direct stream)', function () {
  this.timeout(120_000);
  let dir: string;
  const running: { engine: RoundEngine; net: Network }[] = [];
  after(async () => {
    for (const { engine, net } of running) {
      engine.stop();
      await net.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it(`a member at version 0 fetches a ${(PARAMS * 4) / 1e6} MB version 1 from its peers and verifies it`, async () => {
    dir = mkdtempSync(join(tmpdir(), 'flnode-sync-'));
    const ids: SiteIdentity[] = await Promise.all(['behind', 'b', 'c'].map((n) => initIdentity(join(dir, n))));
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    const timeouts = { heartbeatMs: 200, livenessMs: 2000, keysMs: 600_000, trainingMs: 600_000, collectMs: 600_000, aggregateMs: 600_000 };
    const manifest = signedManifest(admin, ids, { consortium: 'sync-consortium', plan: { rounds: 1 }, timeouts });
    const v1 = fakeTrainer(PARAMS).getWeights().map((w, i) => w + ((i % 7) - 3) * 1e-3);
    const v1hash = toHex(modelHash(v1));
    const ports = await Promise.all(ids.map(() => freePort()));
    const addr = (i: number) => `/ip4/127.0.0.1/tcp/${ports[i]}/p2p/${ids[i]!.peerId}`;
    for (const [i, identity] of ids.entries()) {
      const store = new MemoryStore();
      if (i > 0) await store.batch([{ type: 'putBytes', key: modelKey(1), value: f32bytes(v1) }, { type: 'put', key: 'global', value: { version: 1, hash: v1hash } }]);
      const log = pino({ level: 'silent' });
      const net = await createLibp2pNetwork({ identity, consortium: manifest.consortium, listen: [`/ip4/127.0.0.1/tcp/${ports[i]}`], peers: ids.map((_, j) => j).filter((j) => j !== i).map(addr), members: ids.map((s) => s.peerId), log });
      const engine = new RoundEngine({ manifest, identity, network: net, trainer: fakeTrainer(PARAMS), store, log });
      await net.start();
      await engine.start();
      running.push({ engine, net });
    }
    const behind = running[0]!.engine;
    assert.equal(behind.global.version, 0);
    const t0 = Date.now();
    while (behind.global.version < 1 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 200));
    assert.equal(behind.global.version, 1, 'the member behind never got version 1');
    assert.equal(behind.global.hash, v1hash);
    assert.equal(toHex(modelHash(behind.currentWeights())), v1hash, 'the adopted weights hash to the version-1 hash');
    assert.equal(behind.summaries.at(-1)?.attempt, -1, 'recorded as fetched (attempt −1)');
    process.stdout.write(`      synced ${((PARAMS * 4) / 2 ** 20).toFixed(2)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  });
});

describe('node: model sync refuses what it cannot verify', function () {
  let dir: string;
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a peer answering with weights that do not hash to the version its members vouch for is recorded as bad-model, and nothing is adopted', async () => {
    dir = mkdtempSync(join(tmpdir(), 'flnode-sync-bad-'));
    const ids: SiteIdentity[] = await Promise.all(['behind', 'liar', 'c'].map((n) => initIdentity(join(dir, n))));
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    const timeouts = { heartbeatMs: 200, livenessMs: 2000, keysMs: 600_000, trainingMs: 600_000, collectMs: 600_000, aggregateMs: 600_000 };
    const manifest = signedManifest(admin, ids, { consortium: 'sync-bad', plan: { rounds: 1 }, timeouts });
    const peers = new Peers(manifest, ids);
    const [self, liar, c] = ids as [SiteIdentity, SiteIdentity, SiteIdentity];
    const v1 = fakeTrainer(256).getWeights().map((w) => w + 0.01);
    const v1hash = modelHash(v1);
    const forged = v1.map((w) => w + 1); // the liar's weights, sent under the vouched hash
    const asked: string[] = [];
    const net = new (class extends StubNetwork {
      override async request(peer: string, req: Uint8Array, o: { maxResponseBytes: number }): Promise<Uint8Array | null> {
        asked.push(peer);
        assert.equal(o.maxResponseBytes, MAX_MODEL_ENVELOPE_BYTES_V2);
        const from = ids.find((i) => i.peerId === peer)!;
        assert.equal(peers.decode(req).kind, KindV2.ModelRequest);
        return peers.seal(from, 1, 0, { kind: KindV2.ModelResponse, body: { version: 1, modelHash: v1hash, weights: modelBytes(forged) } });
      }
    })(self.peerId);
    const clock = new ManualClock();
    const engine = new RoundEngine({ manifest, identity: self, network: net, trainer: fakeTrainer(256), store: new MemoryStore(), log: pino({ level: 'silent' }), clock });
    await engine.start();
    // both other members report version 1 (so this node is behind, and the hash is vouched for)
    for (const from of [liar, c]) {
      const hb = peers.heartbeat(from, 2, clock.now(), 1, toHex(v1hash), 'done');
      await engine.handle(peers.decode(hb), hb);
    }
    await clock.advance(4000); // past the grace a member one version behind gives an in-flight commit
    assert.ok(asked.length >= 1, 'the member behind never asked for the model');
    assert.equal(engine.global.version, 0, 'a forged model was adopted');
    assert.ok(engine.events.some((e) => e.kind === 'bad-model' && e.detail.includes('does not match its hash')), 'the forged model is recorded');
    engine.stop();
  });
});
