// A site paused (SIGSTOP, a suspended VM) past its deadline wakes up with a stale view: the
// others may have skipped it as aggregator and opened the round's attempt without it. Engine-level
// check (real level Store, stub network, fake trainer) that it opens no attempt of its own from
// that view, follows the start the others opened, and still opens one itself once it has heard
// the network again and nobody else did.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { decodeEnvelope, encodeEnvelope, fromHex, generateEphemeralKeyPair, MessageKind, signingPublicKey, type Message } from '../../protocol/index.ts';
import { initIdentity, loadOrCreateAdminKey, type SiteIdentity } from '../../node/identity.ts';
import { createManifest, signManifest, type Manifest } from '../../node/manifest.ts';
import { RoundEngine } from '../../node/rounds/engine.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import { Store } from '../../node/storage/store.ts';
import { fakeTrainer, StubNetwork } from '../helpers/engine-fakes.ts';
import { tally } from './summary.ts';

const LIVENESS_MS = 1000;
/** Longer than the liveness window and than the 2 s a node needs to call a gap a pause. */
const PAUSE_MS = 2500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Keep the event loop from running, as SIGSTOP does to the whole process. */
function freeze(ms: number): void {
  const end = Date.now() + ms;
  let spins = 0;
  while (Date.now() < end) spins++;
  assert.ok(spins > 0);
}

describe('faults: a site paused past its deadline (engine)', function () {
  this.timeout(60_000);
  let dir: string;
  let manifest: Manifest;
  let ids: SiteIdentity[];
  let admin: Uint8Array;
  let agg: SiteIdentity; // candidate 0 of round 1
  let next: SiteIdentity; // candidate 1
  let third: SiteIdentity;
  const open: { engine: RoundEngine; store: Store }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flnode-pause-'));
    ids = await Promise.all(['x', 'y', 'z'].map((n) => initIdentity(join(dir, n))));
    admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    // keysMs, trainingMs, collectMs long: only "every key is in" opens an attempt, nothing times out
    const timeouts = { heartbeatMs: 50, livenessMs: LIVENESS_MS, keysMs: 600_000, trainingMs: 600_000, collectMs: 600_000, aggregateMs: 600_000 };
    manifest = createManifest({ consortium: 'pause-consortium', adminPublicKey: signingPublicKey(admin), plan: { rounds: 3 }, timeouts, minParticipants: 2 });
    manifest = signManifest({ ...manifest, members: ids.map((s, i) => ({ name: `site-${i}`, peerId: s.peerId })) }, admin);
    const order = aggregatorOrder(ids.map((s) => s.peerId), 1);
    [agg, next, third] = order.map((p) => ids.find((s) => s.peerId === p)!);
  });

  afterEach(async () => {
    for (const { engine, store } of open.splice(0)) {
      engine.stop();
      await store.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The round-1 aggregator's engine, started with its timers, its own key announced. */
  async function aggregator(name: string, m: Manifest = manifest) {
    const store = new Store(join(dir, name));
    await store.open();
    const net = new StubNetwork(agg.peerId);
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const engine = new RoundEngine({ manifest: m, identity: agg, network: net, trainer: fakeTrainer(256), store, log });
    await engine.start();
    open.push({ engine, store });
    await sleep(500); // first ticks: own key announced, (instant) training done
    const env = (from: SiteIdentity, message: Message) =>
      engine.handle(decodeEnvelope(encodeEnvelope({ consortium: manifest.consortium, round: 1, attempt: 0, sender: from.peerId }, message, from.signingSecret), { consortium: manifest.consortium, publicKeyOf: (s) => ids.find((i) => i.peerId === s)?.signingPublic }));
    const heartbeat = (from: SiteIdentity) => env(from, { kind: MessageKind.Heartbeat, body: { sentAt: Date.now(), modelVersion: 0, modelHash: fromHex(engine.global.hash), phase: 'keys' } });
    const key = (from: SiteIdentity) => env(from, { kind: MessageKind.KeyAnnouncement, body: { publicKey: generateEphemeralKeyPair().publicKey, samples: 100 } });
    const ownStarts = () => net.published.filter((b) => b[1] === MessageKind.AttemptStart).length;
    return { engine, env, heartbeat, key, ownStarts, lines };
  }

  it('without a pause, the aggregator opens attempt 0 as soon as every key is in (control)', async () => {
    const a = await aggregator('control');
    await a.heartbeat(next);
    await a.heartbeat(third);
    await a.key(next);
    assert.equal(a.ownStarts(), 0);
    await a.key(third);
    assert.equal(a.ownStarts(), 1, 'every key in: the aggregator opens attempt 0');
    assert.equal(a.engine.round.attempts[0]?.aggregator, agg.peerId);
  });

  it('after a pause longer than the liveness window it opens nothing, then follows the start the others opened; a start with another set is recorded as a split', async () => {
    const a = await aggregator('paused');
    await a.heartbeat(next);
    await a.heartbeat(third);
    await a.key(next);
    freeze(PAUSE_MS); // SIGSTOP ... SIGCONT
    tally.faultsInjected++;
    await a.key(third); // the last key, taken in right after waking (it was in the socket buffer)
    assert.equal(a.ownStarts(), 0, 'a paused aggregator opened an attempt from its stale view');
    assert.ok(a.engine.events.some((e) => e.kind === 'paused'), 'the pause is recorded');
    // the others had skipped it as dead and opened attempt 0 without it
    await a.env(next, { kind: MessageKind.AttemptStart, body: { aggregator: next.peerId, participants: [next.peerId, third.peerId], baseModelHash: fromHex(a.engine.global.hash), reason: 'round start' } });
    assert.equal(a.engine.round.attempts[0]?.aggregator, next.peerId, 'it follows the start the others opened');
    for (let i = 0; i < 10; i++) {
      await a.heartbeat(next);
      await a.heartbeat(third);
      await sleep(LIVENESS_MS / 4);
    }
    assert.equal(a.ownStarts(), 0, 'it opened a second attempt 0 beside the one it follows');
    assert.equal(a.engine.round.phase, 'collecting', 'not a participant of that attempt: it collects and checks');
    // the same set from another aggregator, listed in another order, is compatible: no split
    await a.env(third, { kind: MessageKind.AttemptStart, body: { aggregator: third.peerId, participants: [third.peerId, next.peerId], baseModelHash: fromHex(a.engine.global.hash), reason: 'round start' } });
    assert.equal(a.engine.events.filter((e) => e.kind === 'split-attempt').length, 0, 'a compatible start was called a split');
    // a third start for the same attempt with yet another set (a partition's other side) is not
    // followed, and is recorded as a split for the operator
    for (let i = 0; i < 3; i++) await a.env(third, { kind: MessageKind.AttemptStart, body: { aggregator: third.peerId, participants: [agg.peerId, third.peerId], baseModelHash: fromHex(a.engine.global.hash), reason: `round start ${i}` } });
    assert.equal(a.engine.round.attempts[0]?.aggregator, next.peerId);
    assert.equal(a.engine.events.filter((e) => e.kind === 'split-attempt').length, 1, 'the split is recorded once, not per copy');
  });

  it('after a pause it waits while it hears nobody; with nobody else opening, it opens attempt 0 itself once it has heard the others', async () => {
    const a = await aggregator('resumes');
    await a.heartbeat(next);
    await a.heartbeat(third);
    await a.key(next);
    freeze(PAUSE_MS);
    tally.faultsInjected++;
    await a.key(third);
    // hearing nobody, it keeps waiting (alone it could not complete a round anyway)
    await sleep(2.5 * LIVENESS_MS);
    assert.equal(a.ownStarts(), 0, 'it opened an attempt without having heard anyone since the pause');
    const heardAt = Date.now();
    while (!a.ownStarts() && Date.now() - heardAt < 20 * LIVENESS_MS) {
      await a.heartbeat(next);
      await a.heartbeat(third);
      await sleep(LIVENESS_MS / 8);
    }
    assert.equal(a.ownStarts(), 1, 'it never opened the attempt after the pause');
    assert.ok(a.lines.some((l) => l.includes('view of the network refreshed after a pause')));
  });

  it('an attempt left with too few cryptograms for a re-mask is reported once as stalled, naming the missing sites', async () => {
    const short = signManifest({ ...manifest, timeouts: { ...manifest.timeouts, trainingMs: 300, collectMs: 300, aggregateMs: 300 } }, admin);
    const a = await aggregator('stalled', short);
    await a.heartbeat(next);
    await a.heartbeat(third);
    await a.key(next);
    await a.key(third); // every key in: it opens attempt 0 and publishes its own cryptogram; nobody else does
    assert.equal(a.ownStarts(), 1);
    for (let i = 0; i < 30; i++) {
      await a.heartbeat(next);
      await a.heartbeat(third);
      await sleep(100);
    }
    assert.ok(a.engine.round.failover >= 3, `failover ${a.engine.round.failover}: the deadlines did not pass`);
    assert.equal(a.engine.round.attempt, 0, 'one cryptogram of three: no re-mask is possible');
    const stalls = a.engine.events.filter((e) => e.kind === 'attempt-stalled');
    assert.equal(stalls.length, 1, 'the stall is reported once, not on every failover');
    assert.match(stalls[0]!.detail, /1 of 3 participants and a re-mask needs at least 2/);
    assert.match(stalls[0]!.detail, /site-\d, site-\d publish theirs/);
  });
});
