// Seeds of the sweep that found a bug in the round rules, each named for its cause, replayed on
// protocol v2 (replay one with SIM_SEED=<seed> SIM_LOG=info npx mocha test/sim/sweep.test.ts).
// The v1 fork and stall seeds (80, 497, 101 and the directed abandoned-attempt fork) were skipped
// until v2's attempt rules; they run as normal tests now.
import assert from 'node:assert/strict';
import { KindV2 } from '../../protocol/v2/index.ts';
import { runSeed } from '../helpers/sim-faults.ts';
import { SimWorld } from '../helpers/sim-world.ts';

async function clean(seed: number): Promise<void> {
  const r = await runSeed(seed, { override: { faulty: undefined } }); // the seeds of the v1 findings, without the malicious member the sweep now adds
  assert.deepEqual([...r.violations, ...r.errors], [], `seed ${seed}, plan: ${r.plan.join('; ')}`);
  assert.notEqual(r.finishedAt, null, `seed ${seed}, plan: ${r.plan.join('; ')}`);
}

/** Distinct lists of `kind` a node signed for (round, attempt). */
const lists = (w: SimWorld, n: SimWorld['nodes'][number], kind: KindV2, round: number, attempt: number) => new Set(w.decided(n).filter((d) => d.kind === kind && d.round === round && d.attempt === attempt).map((d) => d.hash));

describe('sim: regressions (seeds that found bugs), on protocol v2', function () {
  this.timeout(120_000);

  it('seed 33: an aggregator restarted mid-round finishes its attempt without a TypeError', async () => {
    // (v1: keys of other participants kept only in memory; after a restart the record was never published)
    await clean(33);
  });

  it('seed 58: the two sides of a partition do not both commit round 1', async () => {
    // (v1 with minParticipants 2 of 5: both sides committed different models for v1; v2's t > N/2
    // and one aggregator per (r, a) leave at most one side able to finish)
    await clean(58);
  });

  it('seed 159: an aggregator killed around signing its first list does not split the attempt', async () => {
    await clean(159);
  });

  it('directed (cause of seed 159): the aggregator killed right after persisting U1, restarted 1.5 s later, re-sends that U1 and signs no second one', async () => {
    const w = await SimWorld.create({ seed: 61, nodes: 4, rounds: 1 });
    const agg = w.order(1)[0]!;
    agg.crashAt.add('1:list-persisted'); // U1 persisted, not sent yet
    agg.restartAfterMs = 1500;
    await w.start();
    await w.run(60_000, () => w.converged());
    assert.equal(agg.crashes, 1);
    for (const kind of [KindV2.U1List, KindV2.U2List, KindV2.U3List]) assert.ok(lists(w, agg, kind, 1, 0).size <= 1, `the aggregator signed two different ${KindV2[kind]} lists`);
    assert.deepEqual(w.nodes.flatMap((n) => n.engine.events.filter((e) => e.kind === 'equivocation' || e.kind === 'refused-list')), []);
    assert.deepEqual(w.checker.violations, []);
    assert.ok(w.converged(), w.describe());
  });

  it('seed 434: one participant restarting late does not make two honest nodes commit different models for round 2', async () => {
    await clean(434);
  });

  it('seed 80: a paused participant that wakes after the others moved on does not commit another attempt (fork of round 1)', async () => {
    // (v1: it refused the re-mask on waking, failed over to itself and committed the abandoned attempt 0)
    await clean(80);
  });

  it('seed 497: a node cut off after collecting every cryptogram does not commit the attempt alone', async () => {
    // (v1, N = 3, min 2: site-0 committed attempt 0 alone while the other side re-masked; v2 needs
    // t = 3 consents and t shares per secret, so no side commits alone)
    await clean(497);
  });

  it('directed (v1 seeds 434 and 46): a member left out of U3 while it held its own cryptogram refuses U3, and no node commits anything but the final attempt', async () => {
    // v1: X persisted its cryptogram and died before publishing it; back just before the deadline it
    // refused the re-mask that left it out, was cut off, failed over to itself and committed the
    // abandoned attempt 0 alone. v2 (5 sites, t = 4): U3 leaves X out, the other four consent, the
    // attempt is final; X, restarted and unable to hear U3 for longer than the liveness window,
    // refuses it ("leaves out X") and moves on, but can commit only what t shares unmask.
    const w = await SimWorld.create({ seed: 71, nodes: 5, rounds: 1, trainMs: [50, 100] });
    const [agg, , x] = w.order(1);
    x!.crashAt.add('1:cryptogram-persisted');
    x!.restartAfterMs = null;
    await w.start();
    await w.run(20_000, () => x!.crashes === 1);
    await w.run(20_000, () => w.decided(agg!).some((d) => d.kind === KindV2.U3List && d.round === 1));
    for (const n of w.nodes) if (n !== x) w.net.cutOneWay(n.id, x!.id);
    w.restart(x!);
    await w.run(1_500);
    w.net.heal();
    await w.run(20_000, () => x!.engine.events.some((e) => e.kind === 'refused-list'));
    const refused = x!.engine.events.filter((e) => e.kind === 'refused-list');
    assert.equal(refused.length, 1, `X did not refuse the U3 that left it out: ${w.describe()}`);
    assert.match(refused[0]!.detail, /leaves out/);
    w.net.partition([[x!.id], w.nodes.filter((n) => n !== x).map((n) => n.id)]);
    await w.run(10_000);
    w.net.heal();
    await w.run(60_000, () => w.converged());
    assert.deepEqual(w.checker.violations, []);
    assert.deepEqual(w.checker.errors, []);
    assert.ok(w.converged(), w.describe());
    const s = w.nodes.filter((n) => n !== x).map((n) => n.engine.summaries.find((y) => y.round === 1)!);
    assert.ok(s.every((y) => y.attempt === 0 && !y.participants.includes(x!.id)), 'the others committed attempt 0 without X');
  });

  it('seed 170: a node isolated past the liveness window does not open its own attempt when the partition heals', async () => {
    await clean(170);
  });

  it('seed 74: after a healed partition, a failover does not race the re-sent cryptograms into a permanent split', async () => {
    await clean(74);
  });

  it('seed 101: a late participant left out of U3 does not stall the round when it refuses that list', async () => {
    // (v1: the re-mask leaving out X was refused by X, which failed over; no later attempt reunited them)
    await clean(101);
  });

  it('seed 200: with the equivocating member excluded (3 of 4 left, t = 3), the one honest member that failed over during a partition is followed', async () => {
    // (it moved to attempt 4, the two others stayed in 3: "more than N − t = 1 members ahead" never
    // held with the excluded member counted in N, and the round stalled)
    const r = await runSeed(200);
    assert.notEqual(r.malicious, null, 'the seed has its malicious member');
    assert.deepEqual([...r.violations, ...r.errors], [], `plan: ${r.plan.join('; ')}`);
    assert.notEqual(r.finishedAt, null, `plan: ${r.plan.join('; ')}`);
  });
});
