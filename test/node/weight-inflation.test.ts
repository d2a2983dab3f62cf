// Weight inflation (PROTOCOL.md §5, KeyAnnouncement): the FedAvg weight is the sample count a member
// announces. A member announcing 2^32 − 1 would get weight ≈ 1 and round every honest update to
// zero; a count above the member's `maxSamples` (certified by the admin's manifest signature) is
// refused in admission by every honest node, so the inflating member's update gets no weight.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { encodeEnvelope, MessageKind, signingPublicKey } from '../../protocol/index.ts';
import { createManifest, signManifest } from '../../node/manifest.ts';
import { RoundEngine } from '../../node/rounds/engine.ts';
import { MemoryStore } from '../../node/runtime/kv-store.ts';
import { startTestbed } from '../../node/testbed/testbed.ts';
import { loadMedMnist } from '../../node/training/dataset.ts';
import { fakeTrainer, ManualClock, StubNetwork } from '../helpers/engine-fakes.ts';
import { simIdentity, SimWorld } from '../helpers/sim-world.ts';

const U32_MAX = 0xffffffff;

describe('node: weight inflation is refused (maxSamples)', function () {
  this.timeout(120_000);

  it('a KeyAnnouncement above the sender\'s certified maxSamples is rejected by the validator with a log line; at or below it, or without a bound, it is accepted', async () => {
    const ids = await Promise.all([1, 2, 3].map((i) => simIdentity(new Uint8Array(32).fill(i), `s${i}`)));
    const [self, capped, open] = ids as [typeof ids[0], typeof ids[0], typeof ids[0]];
    const admin = new Uint8Array(32).fill(9);
    const m = createManifest({ consortium: 'inflation', adminPublicKey: signingPublicKey(admin), plan: { rounds: 3 } });
    const manifest = signManifest({ ...m, members: [{ name: 'self', peerId: self.peerId, maxSamples: 100 }, { name: 'capped', peerId: capped.peerId, maxSamples: 100 }, { name: 'open', peerId: open.peerId }] }, admin);
    const lines: string[] = [];
    const clock = new ManualClock();
    const engine = new RoundEngine({ manifest, identity: self, network: new StubNetwork(self.peerId), trainer: fakeTrainer(64), store: new MemoryStore(), log: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }), clock });
    await engine.start();
    engine.stop();
    const key = (from: typeof self, samples: number, fill: number) => encodeEnvelope({ consortium: manifest.consortium, round: engine.round.round, attempt: 0, sender: from.peerId }, { kind: MessageKind.KeyAnnouncement, body: { publicKey: new Uint8Array(32).fill(fill), samples } }, from.signingSecret);
    assert.equal(engine.validate(key(capped, U32_MAX, 1), capped.peerId), 'reject');
    assert.equal(engine.validate(key(capped, 101, 2), capped.peerId), 'reject');
    const refusals = lines.filter((l) => l.includes('OVER_MAX_SAMPLES') && l.includes(capped.peerId));
    assert.equal(refusals.length, 2, lines.join('\n'));
    assert.match(refusals[0]!, /4294967295 samples, the manifest certifies at most 100/);
    // a next-round announcement (buffered, not yet judged by round) is refused all the same
    const ahead = encodeEnvelope({ consortium: manifest.consortium, round: engine.round.round + 1, attempt: 0, sender: capped.peerId }, { kind: MessageKind.KeyAnnouncement, body: { publicKey: new Uint8Array(32).fill(3), samples: U32_MAX } }, capped.signingSecret);
    assert.equal(engine.validate(ahead, capped.peerId), 'reject');
    assert.equal(engine.validate(key(capped, 100, 4), capped.peerId), 'accept');
    assert.equal(engine.validate(key(open, U32_MAX, 5), open.peerId), 'accept', 'a member without maxSamples is not bounded (the manifest sets none)');
    // this round, an AttemptStart naming the inflating member is refused too (it could not be masked for)
    const start = (participants: string[]) => encodeEnvelope({ consortium: manifest.consortium, round: engine.round.round, attempt: 0, sender: open.peerId }, { kind: MessageKind.AttemptStart, body: { aggregator: open.peerId, participants, baseModelHash: Buffer.from(engine.global.hash, 'hex'), reason: 'test' } }, open.signingSecret);
    assert.equal(engine.validate(start([self.peerId, capped.peerId, open.peerId]), open.peerId), 'reject');
    assert.ok(lines.some((l) => l.includes('claimed more samples than the manifest certifies')));
    assert.equal(engine.validate(start([self.peerId, open.peerId]), open.peerId), 'accept');
  });

  it(`a member announcing ${U32_MAX} samples is refused by every honest node: no round includes it, and every committed model is the FedAvg of the honest updates alone`, async () => {
    const attacker = 3;
    const run = async (inflate: boolean) => {
      const w = await SimWorld.create({ seed: 16, nodes: 4, rounds: 3, certifyMaxSamples: true, ...(inflate ? { samples: { [attacker]: U32_MAX } } : {}) });
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
