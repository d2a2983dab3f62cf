// A member's liveness is judged by the signed `sentAt` of its heartbeats, and a heartbeat not newer
// than the last one seen from that member is dropped: an outsider (or any member) that recorded a
// signed heartbeat cannot make a dead node look live, or roll back its reported model, by
// replaying it in a fresh gossip wrapper. Engine-level, on virtual time (no timing luck).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { initIdentity, loadOrCreateAdminKey, type SiteIdentity } from '../../node/identity.ts';
import type { Manifest } from '../../node/manifest.ts';
import { RoundEngine } from '../../node/rounds/engine.ts';
import { MemoryStore } from '../../node/runtime/kv-store.ts';
import { fakeTrainer, ManualClock, StubNetwork } from '../helpers/engine-fakes.ts';
import { Peers, signedManifest } from '../helpers/v2-peers.ts';

const LIVENESS_MS = 2000;

describe('node: liveness from signed heartbeats', function () {
  let dir: string;
  let ids: SiteIdentity[];
  let manifest: Manifest;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flnode-liveness-'));
    ids = await Promise.all(['a', 'b', 'c'].map((n) => initIdentity(join(dir, n))));
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    const timeouts = { heartbeatMs: 500, livenessMs: LIVENESS_MS, keysMs: 600_000, trainingMs: 600_000, collectMs: 600_000, aggregateMs: 600_000 };
    manifest = signedManifest(admin, ids, { consortium: 'liveness', plan: { rounds: 3 }, timeouts });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function node() {
    const clock = new ManualClock();
    const engine = new RoundEngine({ manifest, identity: ids[0]!, network: new StubNetwork(ids[0]!.peerId), trainer: fakeTrainer(64), store: new MemoryStore(), log: pino({ level: 'silent' }), clock });
    await engine.start();
    const peers = new Peers(manifest, ids);
    const heartbeat = (from: SiteIdentity, sentAt: number, modelVersion = 0) => peers.heartbeat(from, 1, sentAt, modelVersion, engine.global.hash);
    const deliver = (bytes: Uint8Array) => engine.handle(peers.decode(bytes), bytes);
    const live = (peer: SiteIdentity) => {
      const hb = engine.heartbeatOf(peer.peerId);
      return !!hb && clock.now() - hb.at < LIVENESS_MS; // as the status page judges it
    };
    return { engine, clock, heartbeat, deliver, live };
  }

  it('a heartbeat replayed after its sender died does not make it look live', async () => {
    const n = await node();
    const b = ids[1]!;
    const recorded = n.heartbeat(b, n.clock.now());
    await n.deliver(recorded);
    assert.ok(n.live(b), 'a fresh heartbeat makes the member live (control)');
    await n.clock.advance(3 * LIVENESS_MS); // b dies: nothing more from it
    assert.ok(!n.live(b));
    await n.deliver(recorded); // the same signed bytes, re-wrapped by gossip with a new nonce
    assert.ok(!n.live(b), 'a replayed heartbeat made a dead member look live');
    // one that this node never saw, recorded earlier and replayed now, counts from when it was signed
    const unseen = n.heartbeat(ids[2]!, n.clock.now() - 2 * LIVENESS_MS);
    await n.deliver(unseen);
    assert.ok(!n.live(ids[2]!), 'an old heartbeat seen for the first time made its sender look live');
    n.engine.stop();
  });

  it('a heartbeat not newer than the last one from its sender is dropped (no rollback of the reported model)', async () => {
    const n = await node();
    const b = ids[1]!;
    const old = n.heartbeat(b, n.clock.now(), 0);
    await n.clock.advance(100);
    await n.deliver(n.heartbeat(b, n.clock.now(), 1));
    assert.equal(n.engine.heartbeatOf(b.peerId)?.version, 1);
    await n.deliver(old);
    assert.equal(n.engine.heartbeatOf(b.peerId)?.version, 1, 'an older heartbeat replayed after a newer one was applied');
    n.engine.stop();
  });

  it('a heartbeat dated in the future counts from when it arrived, not from its date', async () => {
    const n = await node();
    const b = ids[1]!;
    await n.deliver(n.heartbeat(b, n.clock.now() + 60_000));
    await n.clock.advance(LIVENESS_MS + 1);
    assert.ok(!n.live(b), 'a future-dated heartbeat kept its sender live past the liveness window');
    n.engine.stop();
  });
});
