// Weight inflation (PROTOCOL.md §5, KeyAnnouncement): the FedAvg weight is the sample count a member
// announces. A member announcing 2^32 − 1 would get weight ≈ 1 and round every honest update to
// zero; a count above the member's `maxSamples` (certified by the admin's manifest signature) is
// refused in admission by every honest node, so the inflating member's update gets no weight.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { compareIds } from '../../protocol/index.ts';
import { KindV2 } from '../../protocol/v2/index.ts';
import type { SiteIdentity } from '../../node/identity.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import { RoundEngine } from '../../node/rounds/engine.ts';
import { MemoryStore } from '../../node/runtime/kv-store.ts';
import { startTestbed } from '../../node/testbed/testbed.ts';
import { loadMedMnist } from '../../node/training/dataset.ts';
import { fakeTrainer, ManualClock, StubNetwork } from '../helpers/engine-fakes.ts';
import { simIdentity, SimWorld } from '../helpers/sim-world.ts';
import { Peers, signedManifest } from '../helpers/v2-peers.ts';

const pick = (b: { cPublic: Uint8Array; sPublic: Uint8Array; samples: number; selfCommit: Uint8Array }) => ({ cPublic: b.cPublic, sPublic: b.sPublic, samples: b.samples, selfCommit: b.selfCommit });

const U32_MAX = 0xffffffff;

describe('node: weight inflation is refused (maxSamples)', function () {
  this.timeout(120_000);

  it("a KeyAnnouncement above the sender's certified maxSamples is rejected by the validator with a log line (this round and the next); at the bound it is accepted; a U1 list carrying such an entry is refused", async () => {
    const ids = await Promise.all([1, 2, 3].map((i) => simIdentity(new Uint8Array(32).fill(i), `s${i}`)));
    const admin = new Uint8Array(32).fill(9);
    const manifest = signedManifest(admin, ids, { consortium: 'inflation', plan: { rounds: 3 }, maxSamples: 100 });
    const peers = new Peers(manifest, ids);
    // the aggregator of round 1 attempt 0 signs the U1 list; this node is another member, and so is the inflating one
    const agg = ids.find((i) => i.peerId === aggregatorOrder(ids.map((x) => x.peerId), 1)[0])!;
    const [self, capped] = ids.filter((i) => i !== agg) as [SiteIdentity, SiteIdentity];
    const node = async () => {
      const lines: string[] = [];
      const engine = new RoundEngine({ manifest, identity: self, network: new StubNetwork(self.peerId), trainer: fakeTrainer(64), store: new MemoryStore(), log: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }), clock: new ManualClock() });
      await engine.start();
      engine.stop();
      return { engine, lines };
    };
    const { engine, lines } = await node();
    const base = engine.global.hash;
    const r = engine.round.round;
    assert.equal(engine.validate(peers.keys(capped, r, 0, base, U32_MAX).bytes, capped.peerId), 'reject');
    assert.equal(engine.validate(peers.keys(capped, r, 0, base, 101).bytes, capped.peerId), 'reject');
    const refusals = lines.filter((l) => l.includes('OVER_MAX_SAMPLES') && l.includes(capped.peerId));
    assert.equal(refusals.length, 2, lines.join('\n'));
    assert.match(refusals[0]!, /4294967295 samples, the manifest certifies at most 100/);
    // a next-round announcement (buffered, not yet judged by round) is refused all the same
    assert.equal(engine.validate(peers.keys(capped, r + 1, 0, base, U32_MAX).bytes, capped.peerId), 'reject');
    assert.equal(engine.validate(peers.keys(capped, r, 0, base, 100).bytes, capped.peerId), 'accept');

    // U1 lists from the attempt's aggregator: one entry claims more than its member's maxSamples
    const u1 = (cappedSamples: number) => {
      const members = ids.map((i) => ({ id: i.peerId, ...pick(peers.keyBody(base, i === capped ? cappedSamples : 100)) })).sort((x, y) => compareIds(x.id, y.id));
      return peers.seal(agg, r, 0, { kind: KindV2.U1List, body: { ...peers.binding(base), members } });
    };
    const inflated = u1(U32_MAX);
    assert.equal(engine.validate(inflated, agg.peerId), 'accept', 'well-formed and signed by the aggregator: judged when handled');
    await engine.handle(peers.decode(inflated), inflated);
    assert.deepEqual(engine.round.refused, [0], 'the list naming an inflated count was taken');
    const refused = engine.events.filter((e) => e.kind === 'refused-list');
    assert.equal(refused.length, 1);
    assert.match(refused[0]!.detail, /OVER_MAX_SAMPLES|certifies at most 100/);
    // control: the same list with the count at the bound is taken
    const ok = await node();
    const fine = u1(100);
    await ok.engine.handle(peers.decode(fine), fine);
    assert.deepEqual(ok.engine.round.refused, []);
    assert.ok(!ok.engine.events.some((e) => e.kind === 'refused-list'));
    assert.deepEqual(ok.engine.participants().sort(), ids.map((i) => i.peerId).sort(), 'the control list is the attempt\'s U1');
  });

  it(`a member announcing ${U32_MAX} samples is refused by every honest node: no round includes it, and every committed model is the FedAvg of the honest updates alone`, async () => {
    const attacker = 3;
    const run = async (inflate: boolean) => {
      // the attacker's certified cap is its default sample count (50 + 25·3); inflating, it announces 2^32 − 1
      const w = await SimWorld.create({ seed: 16, nodes: 4, rounds: 3, maxSamples: { [attacker]: 125 }, ...(inflate ? { samples: { [attacker]: U32_MAX } } : {}) });
      const honest = w.nodes.filter((n) => n.index !== attacker);
      const done = () => honest.every((n) => n.engine?.completed);
      await w.start();
      await w.run(300_000, () => done() || w.checker.violations.length > 0);
      return { w, honest, done: done() };
    };
    const { w, honest, done } = await run(true);
    const bad = w.nodes[attacker]!;
    assert.deepEqual(w.checker.violations, []);
    assert.deepEqual(w.checker.errors, []);
    assert.ok(done, w.describe());
    for (const n of honest) {
      assert.equal(n.engine.summaries.length, 3);
      for (const s of n.engine.summaries) assert.ok(!s.participants.includes(bad.id), `${n.name}: round ${s.round} included the inflating member (${w.names(s.participants).join(', ')})`);
      assert.ok(n.endpoint.peerScore(bad.id) < 0, `${n.name} rejected the inflating member's messages`);
    }
    assert.equal(new Set(honest.map((n) => n.engine.global.hash)).size, 1);
    assert.ok(w.checker.fedAvgChecked >= 3, `every committed round checked against the FedAvg of its participants (${w.checker.fedAvgChecked})`);
    // control: the same federation with the member announcing its certified count takes it in and rejects nothing of it
    const control = await run(false);
    assert.ok(control.done, control.w.describe());
    const member = control.w.nodes[attacker]!;
    assert.ok(control.honest.every((n) => n.engine.summaries.some((s) => s.participants.includes(member.id))), 'with its certified count the member takes part');
    assert.ok(control.honest.every((n) => n.endpoint.peerScore(member.id) === 0));
  });

  it('the testbed certifies each site\'s training-partition size as its maxSamples (capped by --max-train-samples)', async () => {
    const data = 'data/pneumoniamnist.npz';
    const train = (await loadMedMnist(data)).train.n;
    const full = await startTestbed({ nodes: 3, rounds: 1, data });
    const sizes = full.manifest.members.map((m) => m.maxSamples!);
    assert.equal(sizes.reduce((a, b) => a + b, 0), train, `the three iid partitions cover the ${train} training images: ${sizes}`);
    assert.ok(sizes.every((n) => Math.abs(n - train / 3) < 1), `${sizes}`);
    const capped = await startTestbed({ nodes: 3, rounds: 1, data, maxTrainSamples: 300 });
    assert.deepEqual(capped.manifest.members.map((m) => m.maxSamples), [300, 300, 300]);
    for (const tb of [full, capped]) rmSync(tb.dir, { recursive: true, force: true });
  });
});
