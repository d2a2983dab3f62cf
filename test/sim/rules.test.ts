// Round rules that used to be reachable only by live multi-process fault tests, here in the
// deterministic simulation: aggregator failover, the pause rule, split attempts, refused records
// from a faulty aggregator, and a restart at every crash point. After every event the checker
// asserts agreement and FedAvg; each test then asserts the rule's visible outcome.
import assert from 'node:assert/strict';
import type { AggregatorFault } from '../../node/runtime/hooks.ts';
import { CRASH_POINTS } from '../helpers/sim-faults.ts';
import { SimWorld, type SimNode, type SimOptions } from '../helpers/sim-world.ts';

/** Runs until every honest node finished (or `limitMs` of virtual time), then asserts the
 * invariants held and they finished on one model. */
async function finish(w: SimWorld, limitMs = 120_000): Promise<void> {
  await w.run(limitMs, () => w.converged() || w.checker.violations.length > 0);
  assert.deepEqual(w.checker.violations, [], `seed ${w.opts.seed}`);
  assert.deepEqual(w.checker.errors, [], `seed ${w.opts.seed}`);
  assert.ok(w.converged(), `not finished: ${w.describe()}`);
}

const eventsOf = (n: SimNode, kind: string) => n.engine.events.filter((e) => e.kind === kind);
const summary = (n: SimNode, round: number) => n.engine.summaries.find((s) => s.round === round)!;

describe('sim: aggregator failover', () => {
  it('control: with no fault, candidate 0 aggregates round 1 in attempt 0', async () => {
    const w = await SimWorld.create({ seed: 11, nodes: 4, rounds: 2, minParticipants: 3 });
    await w.start();
    await finish(w);
    assert.equal(summary(w.nodes[0]!, 1).aggregator, w.order(1)[0]!.id);
    assert.equal(w.decided(w.order(1)[0]!).filter((d) => d.round === 1 && d.kind === 'start').length, 1);
  });

  it('a crashed aggregator (down before the round starts) is skipped; the round completes without it', async () => {
    const w = await SimWorld.create({ seed: 11, nodes: 4, rounds: 2, minParticipants: 3 });
    const [agg, next] = w.order(1);
    await w.start();
    await w.run(1); // before anyone announced a key
    w.crash(agg!);
    await w.run(30_000, () => w.nodes.filter((n) => n !== agg).every((n) => n.engine?.global?.version >= 1));
    for (const n of w.nodes.filter((x) => x !== agg)) {
      const s = summary(n, 1);
      assert.ok(s, `${n.name} did not finish round 1 without the crashed aggregator: ${w.describe()}`);
      assert.notEqual(s.aggregator, agg!.id);
      assert.equal(s.aggregator, next!.id, 'the next candidate aggregated');
      assert.ok(!s.participants.includes(agg!.id));
    }
    w.restart(agg!);
    await finish(w); // it catches up by model sync and takes part in round 2
    assert.equal(summary(agg!, 1).attempt, -1, 'round 1 reached by model sync');
    assert.ok(summary(agg!, 2).participants.includes(agg!.id));
  });

  it('an aggregator that crashes with every cryptogram in hand (before its record) is failed over; the next candidate publishes the record for the same attempt', async () => {
    const w = await SimWorld.create({ seed: 12, nodes: 4, rounds: 1, minParticipants: 3 });
    const [agg, next] = w.order(1);
    agg!.crashAt.add('1:aggregating');
    agg!.restartAfterMs = null; // stays down
    await w.start();
    await w.run(60_000, () => w.honest.filter((n) => n !== agg).every((n) => n.engine?.completed));
    assert.equal(agg!.crashes, 1);
    for (const n of w.nodes.filter((x) => x !== agg)) {
      const s = summary(n, 1);
      assert.ok(s, w.describe());
      assert.equal(s.aggregator, next!.id);
      assert.equal(s.attempt, 0, 'no re-mask needed: every cryptogram, the crashed aggregator\'s included, was out');
      assert.equal(s.participants.length, 4);
    }
    assert.deepEqual(w.checker.violations, []);
    assert.equal(w.checker.fedAvgChecked, 1);
  });

  it('a silent aggregator (alive, but nothing it sends arrives) is failed over by deadline', async () => {
    const w = await SimWorld.create({ seed: 13, nodes: 4, rounds: 2, minParticipants: 3 });
    const [agg] = w.order(1);
    await w.start();
    // it hears everyone, nobody hears it
    for (const n of w.nodes) if (n !== agg) w.net.cutOneWay(agg!.id, n.id);
    await w.run(40_000, () => w.nodes.filter((n) => n !== agg).every((n) => n.engine?.global?.version >= 1));
    for (const n of w.nodes.filter((x) => x !== agg)) assert.notEqual(summary(n, 1)?.aggregator ?? agg!.id, agg!.id, w.describe());
    w.net.heal();
    await finish(w);
  });
});

describe('sim: the pause rule', () => {
  /** Pauses round 1's aggregator as soon as it runs, for `pauseMs`. */
  async function pausedAggregator(pauseMs: number | null) {
    const w = await SimWorld.create({ seed: 21, nodes: 4, rounds: 2, minParticipants: 3 });
    const [agg, next] = w.order(1);
    await w.start();
    await w.run(2_000, () => !!agg!.engine?.global);
    if (pauseMs !== null) w.pause(agg!, pauseMs);
    await finish(w);
    return { w, agg: agg!, next: next! };
  }

  it('control: unpaused, the aggregator opens attempt 0 of round 1 itself', async () => {
    const { w, agg } = await pausedAggregator(null);
    assert.equal(w.decided(agg).filter((d) => d.kind === 'start' && d.round === 1).length, 1);
  });

  it('an aggregator frozen past the liveness window opens no attempt of its own on waking; it follows the one the others opened without it', async () => {
    const { w, agg, next } = await pausedAggregator(5_000);
    assert.equal(eventsOf(agg, 'paused').length, 1, 'the pause was noticed');
    assert.deepEqual(w.decided(agg).filter((d) => d.kind === 'start' && d.round === 1), [], 'it opened an attempt from its stale view');
    for (const n of w.nodes) {
      assert.deepEqual(eventsOf(n, 'split-attempt'), [], `${n.name} saw a split attempt`);
      assert.equal(summary(n, 1).aggregator, next.id);
    }
    assert.ok(!summary(agg, 1).participants.includes(agg.id), 'round 1 went on without the frozen site');
  });

  it('a pause shorter than the liveness window changes nothing', async () => {
    const { w, agg } = await pausedAggregator(600);
    assert.equal(eventsOf(agg, 'paused').length, 0);
    assert.equal(summary(w.nodes[0]!, 1).aggregator, agg.id);
  });
});

describe('sim: split attempts', () => {
  it('two sides that each elect an aggregator open attempt 0 with different sets: the bridge node records the split, only one set commits, the other side catches up', async () => {
    const w = await SimWorld.create({ seed: 31, nodes: 5, rounds: 2, minParticipants: 3 });
    const o = w.order(1);
    // side X = o0, o2, bridge; side Y = o1, o3, bridge: X never hears o1/o3, Y never hears o0/o2
    const bridge = o[4]!;
    const X = [o[0]!, o[2]!];
    const Y = [o[1]!, o[3]!];
    for (const a of X) for (const b of Y) w.net.cut(a.id, b.id);
    await w.start();
    await w.run(30_000, () => X.every((n) => n.engine?.global?.version >= 1) || Y.every((n) => n.engine?.global?.version >= 1));
    const starts = w.nodes.flatMap((n) => w.decided(n).filter((d) => d.kind === 'start' && d.round === 1 && d.attempt === 0));
    assert.equal(new Set(starts.map((d) => [...d.participants].sort().join())).size, 2, 'both sides opened attempt 0');
    assert.equal(eventsOf(bridge, 'split-attempt').length, 1, 'the bridge records the split once');
    w.net.heal();
    await finish(w);
    const committed = summary(o[0]!, 1);
    assert.ok(committed.participants.includes(bridge.id), 'the set the bridge followed is the one that committed');
    assert.ok(X.every((n) => committed.participants.includes(n.id)) !== Y.every((n) => committed.participants.includes(n.id)), 'exactly one side\'s set');
  });
});

describe('sim: refused aggregate records and attempts (a faulty aggregator)', () => {
  async function faulty(fault: AggregatorFault, extra: Partial<SimOptions> = {}) {
    const nodes = extra.nodes ?? 4;
    const probe = await SimWorld.create({ seed: 41, nodes, rounds: 2 });
    const agg = probe.order(1)[0]!.index;
    const w = await SimWorld.create({ seed: 41, nodes, rounds: 2, minParticipants: 3, faulty: { [agg]: fault }, ...extra });
    await w.start();
    await finish(w);
    return { w, bad: w.nodes[agg]!, next: w.order(1)[1]! };
  }

  it('bad-aggregate: every honest node rejects the record (wrong new model hash) and fails over; the next candidate\'s record commits', async () => {
    const { w, bad, next } = await faulty('bad-aggregate');
    for (const n of w.honest) {
      const rej = eventsOf(n, 'rejected-aggregate');
      assert.equal(rej.length, 1, `${n.name}: ${rej.length} rejections`);
      assert.match(rej[0]!.detail, /new model hash differs/);
      assert.equal(summary(n, 1).aggregator, next.id);
    }
    assert.ok(w.decided(bad).some((d) => d.kind === 'record' && d.round === 1), 'the faulty record was published');
  });

  it('equivocate: two different cryptograms from one member are both dropped; the round completes without it', async () => {
    const { w, bad } = await faulty('equivocate');
    for (const n of w.honest) {
      assert.ok(eventsOf(n, 'equivocation').length >= 1, `${n.name} did not record the equivocation`);
      assert.ok(!summary(n, 1).participants.includes(bad.id), 'the equivocator\'s cryptogram is in the sum');
    }
  });

  it('false-dropout: an attempt that leaves out a member whose cryptogram the others hold is refused, and the aggregator failed over', async () => {
    // a slow site makes the attempt miss its deadline, so the faulty aggregator opens a re-mask
    // (5 nodes: 4 survivors, one falsely dropped, still ≥ minParticipants 3)
    const probe = await SimWorld.create({ seed: 41, nodes: 5, rounds: 2 });
    const slow = probe.order(1)[3]!.index;
    const { w, bad } = await faulty('false-dropout', { nodes: 5, trainDelayMs: { [slow]: 7000 } });
    const refusals = w.honest.flatMap((n) => eventsOf(n, 'refused-attempt'));
    assert.ok(refusals.length >= 1, 'nobody refused the false dropout');
    assert.ok(refusals.every((e) => /leaves out/.test(e.detail)), refusals.map((e) => e.detail).join('\n'));
    for (const n of w.honest) assert.notEqual(summary(n, 1).aggregator, bad.id);
  });
});

describe('sim: restart mid-phase at every crash point', () => {
  for (const role of ['aggregator', 'participant'] as const) {
    for (const point of CRASH_POINTS) {
      it(`${role} killed at round 2 "${point}", restarted 1 s later: all finish on one model`, async () => {
        // fast training: a node has its update before the attempt opens, so it passes 'keys'
        const w = await SimWorld.create({ seed: 51, nodes: 4, rounds: 3, minParticipants: 3, trainMs: [1, 5] });
        const victim = role === 'aggregator' ? w.order(2)[0]! : w.order(2)[2]!;
        victim.crashAt.add(`2:${point}`);
        victim.restartAfterMs = 1000;
        await w.start();
        await finish(w);
        // a participant never publishes a record; every other point is reached by both roles
        assert.equal(victim.crashes, role === 'participant' && point === 'record-sent' ? 0 : 1, `crash points reached: ${victim.reachedPoints.filter((p) => p.startsWith('2:')).join(' ')}`);
      });
    }
  }
});

describe('sim: a participant that never got a dead member\'s key', () => {
  it('is kept in the re-mask (its heartbeat says it holds its update and is masking), so the round completes without the dead member', async () => {
    const w = await SimWorld.create({ seed: 31, nodes: 3, rounds: 1, minParticipants: 2 });
    const [agg, a, b] = w.order(1);
    const victim = a!;
    const starved = b!;
    w.net.cutOneWay(victim.id, starved.id); // nothing of the victim's, its key included, reaches `starved`
    victim.crashAt.add('1:masking'); // dies once it follows attempt 0, before it builds a cryptogram
    victim.restartAfterMs = null; // and stays down
    await w.start();
    await w.run(120_000, () => [agg!, starved].every((n) => n.engine?.completed) || w.checker.violations.length > 0);
    assert.deepEqual(w.checker.violations, []);
    assert.equal(victim.crashes, 1);
    for (const n of [agg!, starved]) {
      const s = summary(n, 1);
      assert.ok(s, `${n.name} did not finish round 1 (before: the re-mask kept only participants with a complete cryptogram, and stalled below the quorum): ${w.describe()}`);
      assert.ok(s.attempt >= 1, 'round 1 was re-masked');
      assert.deepEqual(w.names(s.participants).sort(), w.names([agg!.id, starved.id]).sort());
    }
  });
});
