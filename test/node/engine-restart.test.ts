// What a restarted engine must find in its store (virtual time, in-memory store kept across the
// restart as a crash keeps the disk): the other members' keys of the round (without them a
// restarted aggregator holding every cryptogram cannot decode the sum), and its own AttemptStart,
// persisted before it was published and sent again after the restart (not opened anew beside it).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { decodeEnvelope, encodeEnvelope, fromHex, generateEphemeralKeyPair, MessageKind, signingPublicKey, type Envelope, type Message } from '../../protocol/index.ts';
import { initIdentity, loadOrCreateAdminKey, type SiteIdentity } from '../../node/identity.ts';
import { createManifest, signManifest, type Manifest } from '../../node/manifest.ts';
import { RoundEngine } from '../../node/rounds/engine.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import type { EngineHooks } from '../../node/runtime/hooks.ts';
import { MemoryStore } from '../../node/runtime/kv-store.ts';
import { fakeTrainer, ManualClock, StubNetwork } from '../helpers/engine-fakes.ts';

class Crash extends Error {}

describe('node: an engine restarted mid-round (store kept)', function () {
  let dir: string;
  let ids: SiteIdentity[];
  let manifest: Manifest;
  let agg: SiteIdentity; // candidate 0 of round 1
  let others: SiteIdentity[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flnode-restart-'));
    ids = await Promise.all(['a', 'b', 'c'].map((n) => initIdentity(join(dir, n))));
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    const timeouts = { heartbeatMs: 500, livenessMs: 2000, keysMs: 600_000, trainingMs: 600_000, collectMs: 600_000, aggregateMs: 600_000 };
    manifest = createManifest({ consortium: 'restart', adminPublicKey: signingPublicKey(admin), plan: { rounds: 3 }, timeouts, minParticipants: 2 });
    manifest = signManifest({ ...manifest, members: ids.map((s, i) => ({ name: `site-${i}`, peerId: s.peerId })) }, admin);
    const order = aggregatorOrder(ids.map((s) => s.peerId), 1);
    agg = ids.find((s) => s.peerId === order[0])!;
    others = ids.filter((s) => s !== agg);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const decode = (b: Uint8Array): Envelope => decodeEnvelope(b, { consortium: manifest.consortium, publicKeyOf: (s) => ids.find((i) => i.peerId === s)?.signingPublic });
  const env = (from: SiteIdentity, message: Message): Envelope => decode(encodeEnvelope({ consortium: manifest.consortium, round: 1, attempt: 0, sender: from.peerId }, message, from.signingSecret));
  const key = (from: SiteIdentity, publicKey = generateEphemeralKeyPair().publicKey): Envelope => env(from, { kind: MessageKind.KeyAnnouncement, body: { publicKey, samples: 100 } });

  async function engine(identity: SiteIdentity, store: MemoryStore, hooks?: EngineHooks) {
    const clock = new ManualClock();
    const net = new StubNetwork(identity.peerId);
    const e = new RoundEngine({ manifest, identity, network: net, trainer: fakeTrainer(64), store, log: pino({ level: 'silent' }), clock, hooks });
    await e.start();
    return { e, clock, net };
  }

  it("keeps the other members' keys of the round: a second, different key from one of them is still refused", async () => {
    const store = new MemoryStore();
    const first = await engine(others[0]!, store);
    await first.e.handle(key(agg));
    first.e.stop(); // crash: the store is kept
    const second = await engine(others[0]!, store);
    assert.equal(second.e.stateCheck(key(agg)), 'a second, different key for the same attempt', 'the key announced before the restart was forgotten');
    second.e.stop();
  });

  it('persists its own AttemptStart before publishing it, and sends that start again after a crash in between', async () => {
    const store = new MemoryStore();
    let armed = true;
    const hooks: EngineHooks = { trainDelayMs: 0, aggregatorFault: null, reached: (_r, point) => {
      if (armed && point === 'masking') throw new Crash(`crash at ${point}`); // the process dies here
    } };
    const first = await engine(agg, store, hooks);
    await first.clock.advance(300); // its own key and (instant) training
    await first.e.handle(key(others[0]!));
    await first.e.handle(key(others[1]!)).catch((err) => assert.ok(err instanceof Crash, String(err))); // every key in: it opens attempt 0 and crashes
    const sentBefore = first.net.published.filter((b) => b[1] === MessageKind.AttemptStart).length;
    first.e.stop();
    armed = false;
    const second = await engine(agg, store, hooks);
    const opened = second.e.round.attempts[0];
    assert.ok(opened, 'the start it opened was not persisted before the crash');
    assert.equal(opened.aggregator, agg.peerId);
    await second.clock.advance(1500);
    const starts = second.net.published.filter((b) => b[1] === MessageKind.AttemptStart).map((b) => decode(b) as Envelope & { kind: MessageKind.AttemptStart });
    assert.ok(starts.length >= 1, `the persisted start was not sent after the restart (${sentBefore} sent before the crash)`);
    for (const s of starts) assert.deepEqual([...s.body.participants].sort(), [...opened.participants].sort(), 'a start with another set was opened after the restart');
    assert.deepEqual(fromHex(second.e.global.hash), starts[0]!.body.baseModelHash);
    second.e.stop();
  });
});
