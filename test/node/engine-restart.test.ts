// What a restarted engine must find in its store (virtual time, in-memory store kept across the
// restart as a crash keeps the disk): the other members' key announcements of the round (a second,
// different announcement from one of them after the restart is still equivocation), and, as the
// attempt's aggregator, its own signed U1 list, persisted before it was published and sent again
// byte for byte after the restart (never a second, different list beside it).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { toHex } from '../../protocol/index.ts';
import { KindV2, type EnvelopeV2 } from '../../protocol/v2/index.ts';
import { initIdentity, loadOrCreateAdminKey, type SiteIdentity } from '../../node/identity.ts';
import type { Manifest } from '../../node/manifest.ts';
import { RoundEngine } from '../../node/rounds/engine.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import type { EngineHooks } from '../../node/runtime/hooks.ts';
import { MemoryStore } from '../../node/runtime/kv-store.ts';
import { fakeTrainer, ManualClock, StubNetwork } from '../helpers/engine-fakes.ts';
import { Peers, signedManifest } from '../helpers/v2-peers.ts';

class Crash extends Error {}

describe('node: an engine restarted mid-round (store kept)', function () {
  let dir: string;
  let ids: SiteIdentity[];
  let manifest: Manifest;
  let peers: Peers;
  let agg: SiteIdentity; // aggregator of round 1, attempt 0
  let others: SiteIdentity[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flnode-restart-'));
    ids = await Promise.all(['a', 'b', 'c'].map((n) => initIdentity(join(dir, n))));
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    const timeouts = { heartbeatMs: 500, livenessMs: 2000, keysMs: 600_000, trainingMs: 600_000, collectMs: 600_000, aggregateMs: 600_000 };
    manifest = signedManifest(admin, ids, { consortium: 'restart', plan: { rounds: 3 }, timeouts });
    peers = new Peers(manifest, ids);
    const order = aggregatorOrder(ids.map((s) => s.peerId), 1);
    agg = ids.find((s) => s.peerId === order[0])!;
    others = ids.filter((s) => s !== agg);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function engine(identity: SiteIdentity, store: MemoryStore, hooks?: EngineHooks) {
    const clock = new ManualClock();
    const net = new StubNetwork(identity.peerId);
    const e = new RoundEngine({ manifest, identity, network: net, trainer: fakeTrainer(64), store, log: pino({ level: 'silent' }), clock, hooks });
    await e.start();
    const deliver = (bytes: Uint8Array) => e.handle(peers.decode(bytes), bytes);
    return { e, clock, net, deliver };
  }

  it("keeps the other members' key announcements of the round: a second, different one from one of them is still equivocation", async () => {
    const store = new MemoryStore();
    const first = await engine(others[0]!, store);
    const base = first.e.global.hash;
    await first.deliver(peers.keys(agg, 1, 0, base).bytes);
    first.e.stop(); // crash: the store is kept
    const second = await engine(others[0]!, store);
    assert.deepEqual(second.e.round.excluded, []);
    await second.deliver(peers.keys(agg, 1, 0, base).bytes); // other keys for the same (r, a)
    assert.deepEqual(second.e.round.excluded, [agg.peerId], 'the key announced before the restart was forgotten: a second key was taken');
    assert.ok(second.e.events.some((x) => x.kind === 'equivocation'));
    second.e.stop();
    // control: without the first announcement, the same second one is simply taken
    const fresh = await engine(others[0]!, new MemoryStore());
    await fresh.deliver(peers.keys(agg, 1, 0, base).bytes);
    assert.deepEqual(fresh.e.round.excluded, []);
    fresh.e.stop();
  });

  it('persists its own U1 list before publishing it, and sends the same list again after a crash in between', async () => {
    const store = new MemoryStore();
    let armed = true;
    const hooks: EngineHooks = { trainDelayMs: 0, aggregatorFault: null, reached: (_r, point) => {
      if (armed && point === 'list-persisted') throw new Crash(`crash at ${point}`); // the process dies here
    } };
    const first = await engine(agg, store, hooks);
    const base = first.e.global.hash;
    await first.clock.advance(300); // its own keys and (instant) training
    await first.deliver(peers.keys(others[0]!, 1, 0, base).bytes);
    await first.deliver(peers.keys(others[1]!, 1, 0, base).bytes).catch((err) => assert.ok(err instanceof Crash, String(err))); // every key in: it signs U1 and crashes
    const lists = (net: StubNetwork) => net.published.filter((b) => b[1] === KindV2.U1List);
    assert.equal(lists(first.net).length, 0, 'the list was published before it was persisted');
    first.e.stop();
    armed = false;
    const second = await engine(agg, store, hooks);
    await second.clock.advance(1500);
    const sent = lists(second.net);
    assert.ok(sent.length >= 1, 'the persisted list was not sent after the restart');
    assert.equal(new Set(sent.map((b) => toHex(b))).size, 1, 'a second, different U1 list was signed after the restart');
    const u1 = peers.decode(sent[0]!) as EnvelopeV2 & { kind: KindV2.U1List };
    assert.deepEqual(u1.body.members.map((m) => m.id).sort(), ids.map((s) => s.peerId).sort());
    assert.equal(toHex(u1.body.baseModelHash), second.e.global.hash);
    second.e.stop();
  });
});
