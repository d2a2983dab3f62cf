// A site paused (SIGSTOP, a suspended VM) past its deadline wakes up with a stale view: the others
// may have moved on to the next attempt, whose aggregator is the next in the rotation, without it.
// Engine-level check (real level Store, stub network, fake trainer, four members so that three can
// go on without it: t = 3) that it signs no list from that view, follows the attempt the others
// opened, and still signs its U1 itself once it has heard the network again and nobody moved on.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { compareIds, toHex } from '../../protocol/index.ts';
import { KindV2, type MessageV2 } from '../../protocol/v2/index.ts';
import { initIdentity, loadOrCreateAdminKey, type SiteIdentity } from '../../node/identity.ts';
import type { Manifest } from '../../node/manifest.ts';
import { RoundEngine } from '../../node/rounds/engine.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import { Store } from '../../node/storage/store.ts';
import { fakeTrainer, StubNetwork } from '../helpers/engine-fakes.ts';
import { Peers, signedManifest } from '../helpers/v2-peers.ts';
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
  let peers: Peers;
  let ids: SiteIdentity[];
  let admin: Uint8Array;
  let agg: SiteIdentity; // aggregator of round 1 attempt 0
  let next: SiteIdentity; // of attempt 1
  let rest: SiteIdentity[];
  const open: { engine: RoundEngine; store: Store }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flnode-pause-'));
    ids = await Promise.all(['w', 'x', 'y', 'z'].map((n) => initIdentity(join(dir, n))));
    admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    // keysMs, trainingMs, collectMs long: only "every key is in" makes a U1 list, nothing times out
    const timeouts = { heartbeatMs: 50, livenessMs: LIVENESS_MS, keysMs: 600_000, trainingMs: 600_000, collectMs: 600_000, aggregateMs: 600_000 };
    manifest = signedManifest(admin, ids, { consortium: 'pause-consortium', plan: { rounds: 3 }, timeouts });
    peers = new Peers(manifest, ids);
    const order = aggregatorOrder(ids.map((s) => s.peerId), 1).map((p) => ids.find((s) => s.peerId === p)!);
    [agg, next] = order as [SiteIdentity, SiteIdentity];
    rest = order.slice(2);
  });

  afterEach(async () => {
    for (const { engine, store } of open.splice(0)) {
      engine.stop();
      await store.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The round-1 aggregator's engine, started with its timers, its own keys announced. */
  async function aggregator(name: string, m: Manifest = manifest) {
    const store = new Store(join(dir, name));
    await store.open();
    const net = new StubNetwork(agg.peerId);
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const engine = new RoundEngine({ manifest: m, identity: agg, network: net, trainer: fakeTrainer(256), store, log });
    await engine.start();
    open.push({ engine, store });
    await sleep(500); // first ticks: own keys announced, (instant) training done
    const p = m === manifest ? peers : new Peers(m, ids);
    const base = engine.global.hash;
    const env = (from: SiteIdentity, message: MessageV2, attempt = 0) => {
      const bytes = p.seal(from, 1, attempt, message);
      return engine.handle(p.decode(bytes), bytes);
    };
    const heartbeat = (from: SiteIdentity) => env(from, { kind: KindV2.Heartbeat, body: { sentAt: Date.now(), modelVersion: 0, modelHash: p.binding(base).baseModelHash, phase: 'keys' } });
    const key = (from: SiteIdentity, attempt = 0) => env(from, { kind: KindV2.KeyAnnouncement, body: p.keyBody(base) }, attempt);
    const everyone = async () => {
      for (const s of [next, ...rest]) await heartbeat(s);
    };
    /** Distinct U1 lists this node signed (re-sends are the same bytes). */
    const ownLists = () => new Set(net.published.filter((b) => b[1] === KindV2.U1List).map((b) => toHex(b))).size;
    /** A U1 list of `from` for `attempt` over `members` (fresh keys). */
    const u1 = (from: SiteIdentity, attempt: number, members: SiteIdentity[]) =>
      env(from, { kind: KindV2.U1List, body: { ...p.binding(base), members: members.map((s) => ({ id: s.peerId, ...p.keyBody(base) })).sort((x, y) => compareIds(x.id, y.id)).map(({ id, cPublic, sPublic, samples, selfCommit }) => ({ id, cPublic, sPublic, samples, selfCommit })) } }, attempt);
    return { engine, env, heartbeat, everyone, key, ownLists, u1, lines };
  }

  it('without a pause, the aggregator signs U1 as soon as every key is in (control)', async () => {
    const a = await aggregator('control');
    await a.everyone();
    await a.key(next);
    await a.key(rest[0]!);
    assert.equal(a.ownLists(), 0);
    await a.key(rest[1]!);
    assert.equal(a.ownLists(), 1, 'every key in: the aggregator signs U1');
    assert.deepEqual(a.engine.participants(), ids.map((s) => s.peerId).sort(compareIds));
  });

  it('after a pause longer than the liveness window it signs nothing, then follows the attempt the others moved to; a second, different list there is recorded once', async () => {
    const a = await aggregator('paused');
    await a.everyone();
    await a.key(next);
    await a.key(rest[0]!);
    freeze(PAUSE_MS); // SIGSTOP ... SIGCONT
    tally.faultsInjected++;
    await a.key(rest[1]!); // the last key, taken in right after waking (it was in the socket buffer)
    assert.equal(a.ownLists(), 0, 'a paused aggregator signed a list from its stale view');
    assert.ok(a.engine.events.some((e) => e.kind === 'paused'), 'the pause is recorded');
    // the others had given up on it and moved to attempt 1, whose aggregator signs U1 without it
    await a.u1(next, 1, [next, ...rest]);
    assert.equal(a.engine.round.attempt, 1, 'it follows the attempt the others opened');
    assert.deepEqual(a.engine.participants(), [next, ...rest].map((s) => s.peerId).sort(compareIds));
    for (let i = 0; i < 10; i++) {
      await a.everyone();
      await sleep(LIVENESS_MS / 4);
    }
    assert.equal(a.ownLists(), 0, 'it signed a U1 for attempt 0 beside the attempt it follows');
    // a list for attempt 1 from anyone but its aggregator is dropped (not judged, not followed)
    const events = a.engine.events.length;
    await a.u1(rest[0]!, 1, ids);
    assert.equal(a.engine.events.length, events);
    assert.deepEqual(a.engine.round.refused, []);
    // a second, different U1 from attempt 1's aggregator (a partition's other side) is not followed:
    // equivocation, recorded once, not per copy; the aggregator is refused and this node moves on once
    for (let i = 0; i < 3; i++) await a.u1(next, 1, ids);
    assert.equal(a.engine.events.filter((e) => e.kind === 'equivocation').length, 1, 'the second list is recorded once, not per copy');
    assert.deepEqual(a.engine.round.excluded, [next.peerId]);
    assert.deepEqual(a.engine.round.refused, [1]);
    assert.equal(a.engine.round.attempt, 2, 'three copies moved it more than one attempt');
  });

  it('after a pause it waits while it hears nobody; with nobody else moving on, it signs U1 itself once it has heard the others', async () => {
    const a = await aggregator('resumes');
    await a.everyone();
    await a.key(next);
    await a.key(rest[0]!);
    freeze(PAUSE_MS);
    tally.faultsInjected++;
    await a.key(rest[1]!);
    // hearing nobody, it keeps waiting (alone it could not complete a round anyway)
    await sleep(2.5 * LIVENESS_MS);
    assert.equal(a.ownLists(), 0, 'it signed a list without having heard anyone since the pause');
    const heardAt = Date.now();
    while (!a.ownLists() && Date.now() - heardAt < 20 * LIVENESS_MS) {
      await a.everyone();
      await sleep(LIVENESS_MS / 8);
    }
    assert.equal(a.ownLists(), 1, 'it never signed its U1 after the pause');
    assert.equal(a.engine.round.attempt, 0);
    assert.ok(a.lines.some((l) => l.includes('view of the network refreshed after a pause')));
  });

  it('a round that runs out of attempts is reported once as stalled, not on every tick', async () => {
    const short = signedManifest(admin, ids, { consortium: 'pause-consortium', plan: { rounds: 3 }, maxAttempts: 3, timeouts: { ...manifest.timeouts, keysMs: 300, aggregateMs: 300 } });
    const a = await aggregator('stalled', short);
    await a.everyone();
    for (const s of [next, ...rest]) await a.key(s); // every key in: it signs U1 and deals; nobody else deals
    assert.equal(a.ownLists(), 1);
    // the others follow it into each later attempt (announce their keys there) but their
    // aggregators never sign: a member fails over for a missing U1 only once t members are in
    const announced = new Set<number>([0]);
    for (let i = 0; i < 40; i++) {
      await a.everyone();
      const at = a.engine.round.attempt;
      if (!announced.has(at)) {
        announced.add(at);
        for (const s of [next, ...rest]) await a.key(s, at);
      }
      await sleep(100);
    }
    assert.equal(a.engine.round.attempt, 2, `attempt ${a.engine.round.attempt}: the deadlines did not pass`);
    const stalls = a.engine.events.filter((e) => e.kind === 'attempt-stalled');
    assert.equal(stalls.length, 1, 'the stall is reported once, not on every tick');
    assert.match(stalls[0]!.detail, /attempt 2 failed \(no U1 list in time\) and no attempt is left \(maxAttempts 3\)/);
  });
});
