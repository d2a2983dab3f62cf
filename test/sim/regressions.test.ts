// Seeds of the sweep that found a bug in the round rules, each named for its cause. They assert the
// correct behaviour, so each fails until its cause is fixed in node/rounds/ (replay one with
// SIM_SEED=<seed> SIM_LOG=info npx mocha test/sim/sweep.test.ts).
import assert from 'node:assert/strict';
import { runSeed } from '../helpers/sim-faults.ts';
import { SimWorld } from '../helpers/sim-world.ts';

async function clean(seed: number, override?: NonNullable<Parameters<typeof runSeed>[1]>['override']): Promise<void> {
  const r = await runSeed(seed, { override });
  assert.deepEqual([...r.violations, ...r.errors], [], `seed ${seed}, plan: ${r.plan.join('; ')}`);
  assert.notEqual(r.finishedAt, null);
}

describe('sim: regressions (seeds that found bugs)', function () {
  this.timeout(120_000);

  it('seed 33: an aggregator restarted with every cryptogram but not the others\' keys publishes its record without a TypeError', async () => {
    // keys of other participants are kept only in memory; after a restart, publishRecord →
    // applyAggregate → attemptParams reads keys.get(id)!.publicKey of a key not re-sent yet, and
    // the record tag is already marked published, so this aggregator never publishes it
    await clean(33);
  });

  it('seed 58 (minParticipants 2 of 5): the two sides of a partition do not both commit round 1', async () => {
    // a 2|3 partition: each side elects an aggregator, both reach minParticipants = 2 and commit
    // different models for v1 (later "fork-healed"); a threshold ≤ N/2 has no quorum intersection
    await clean(58, { minParticipants: 2 });
  });

  it('seed 159: an aggregator killed between publishing its AttemptStart and persisting it does not split the attempt', async () => {
    // openAttempt publishes, then onAttemptStart persists; restarted in between, the aggregator
    // has no record of its start (its own echo is rejected) and opens attempt 0 again with another
    // set; half the members follow each start and the round stalls for good
    await clean(159);
  });

  it('directed (cause of seed 159): the aggregator killed right after its AttemptStart went out and restarted 1.5 s later opens no second, different attempt 0', async () => {
    const w = await SimWorld.create({ seed: 61, nodes: 4, rounds: 1, minParticipants: 3 });
    const agg = w.order(1)[0]!;
    agg.crashAt.add('1:masking'); // setPhase after publishing the start, before persisting it
    agg.restartAfterMs = 1500;
    await w.start();
    await w.run(60_000, () => w.converged());
    assert.equal(agg.crashes, 1);
    const sets = new Set(w.decided(agg).filter((d) => d.kind === 'start' && d.round === 1 && d.attempt === 0).map((d) => [...d.participants].sort().join()));
    assert.equal(sets.size, 1, `the aggregator opened attempt 0 with ${sets.size} different sets`);
    assert.deepEqual(w.nodes.flatMap((n) => n.engine.events.filter((e) => e.kind === 'split-attempt')), []);
    assert.ok(w.converged(), w.describe());
  });

  it('seed 434: one participant restarting late does not make two honest nodes commit different models for round 2', async () => {
    // the cause of the directed test below, found by the sweep with no network fault at the time:
    // the aggregator re-masks round 2 without late site-3; site-3 refuses ("leaves out site-3"),
    // fails over to itself, holds all four attempt-0 cryptograms and commits attempt 0 within 14 ms
    // of the others committing attempt 1
    await clean(434);
  });

  // Skipped until protocol v2 (issue 16): under v1's attempt rules a member that refused a re-mask
  // can still commit the abandoned attempt as its own failover candidate, and a re-mask can be
  // refused by the site it leaves out; preventing either needs agreement on one attempt per round
  // (v2: only (r, a)'s aggregator decides, t > N/2 consents over one U3, a final attempt is never
  // abandoned). These tests fail on the v1 engine and are the acceptance tests of that work.
  it.skip('seed 80: a paused participant that refuses the re-mask on waking does not commit the abandoned attempt 0 (fork of round 1)', async () => {
    // site-3 wakes from a 5.3 s pause after the others re-masked without it, refuses, fails over to
    // itself and commits attempt 0 (it holds all four cryptograms); the others commit attempt 1.
    // (Seen since records are judged only from the expected aggregator: before, the others
    // accepted site-3's record for attempt 0 and all converged on it.)
    await clean(80);
  });

  // Skipped until protocol v2 (issue 16): under v1's attempt rules a member that refused a re-mask
  // can still commit the abandoned attempt as its own failover candidate, and a re-mask can be
  // refused by the site it leaves out; preventing either needs agreement on one attempt per round
  // (v2: only (r, a)'s aggregator decides, t > N/2 consents over one U3, a final attempt is never
  // abandoned). These tests fail on the v1 engine and are the acceptance tests of that work.
  it.skip('seed 497: a node cut off after collecting every cryptogram does not commit the attempt alone while the other side re-masks', async () => {
    // N=3, min 2, partition {site-0} | {site-1, site-2}: site-0 holds all three attempt-0
    // cryptograms, fails over to itself and commits attempt 0 alone; the other side re-masks
    // (attempt 1, two participants) and commits another v3
    await clean(497);
  });

  // Skipped until protocol v2 (issue 16): under v1's attempt rules a member that refused a re-mask
  // can still commit the abandoned attempt as its own failover candidate, and a re-mask can be
  // refused by the site it leaves out; preventing either needs agreement on one attempt per round
  // (v2: only (r, a)'s aggregator decides, t > N/2 consents over one U3, a final attempt is never
  // abandoned). These tests fail on the v1 engine and are the acceptance tests of that work.
  it.skip('directed (seeds 434, and 46 with bugs 1-2 patched): a member that refused a re-mask does not commit the abandoned attempt alone (fork of one version)', async () => {
    // N=3, minParticipants 2. X persists its cryptogram and dies before publishing it; it comes
    // back just before the collection deadline, so the aggregator re-masks without it (attempt 1).
    // X holds its own attempt-0 cryptogram and refuses ("leaves out X"), then is cut off for a few
    // seconds: it fails over to itself, holds every attempt-0 cryptogram and key, and commits
    // attempt 0, while the others commit attempt 1. Both are majority sets: the quorum does not
    // help, since an abandoned attempt stays aggregatable by anyone holding its cryptograms.
    const w = await SimWorld.create({ seed: 71, nodes: 3, rounds: 1, minParticipants: 2, trainMs: [50, 100] });
    const [agg, , x] = w.order(1);
    x!.crashAt.add('1:cryptogram-persisted');
    x!.restartAfterMs = null;
    await w.start();
    await w.run(10_000, () => x!.crashes === 1);
    await w.run(10_000, () => !!agg!.engine.round.attempts[0]);
    w.sched.schedule(agg!.engine.round.attempts[0]!.openedAt + 4400 - w.sched.now, 'restart', () => w.restart(x!));
    await w.run(20_000, () => x!.engine?.events.some((e) => e.kind === 'refused-attempt'));
    assert.ok(x!.engine.events.some((e) => e.kind === 'refused-attempt'), `X did not refuse the re-mask: ${w.describe()}`);
    w.net.partition([[x!.id], w.nodes.filter((n) => n !== x).map((n) => n.id)]);
    await w.run(10_000);
    w.net.heal();
    await w.run(60_000, () => w.converged());
    assert.deepEqual(w.checker.violations, []);
    assert.ok(w.converged(), w.describe());
  });

  it('seed 170: a node isolated past the liveness window does not open its own attempt 0 when the partition heals', async () => {
    // isolated (not paused, not restarted), it does not settle: on hearing the others again it opens
    // attempt 0 as the aggregator it believes to be, beside the start they opened without it
    await clean(170);
  });

  it('seed 74: after a healed partition, a re-mask does not race the re-sent cryptograms into a permanent split', async () => {
    // the next candidate opens a+1 "missing X" right after the heal, before X's chunks are re-sent;
    // nodes holding X's cryptogram refuse it ("leaves out X") and their aggregator opens a+1 with
    // another set; both halves wait for each other forever
    await clean(74);
  });

  // Skipped until protocol v2 (issue 16): under v1's attempt rules a member that refused a re-mask
  // can still commit the abandoned attempt as its own failover candidate, and a re-mask can be
  // refused by the site it leaves out; preventing either needs agreement on one attempt per round
  // (v2: only (r, a)'s aggregator decides, t > N/2 consents over one U3, a final attempt is never
  // abandoned). These tests fail on the v1 engine and are the acceptance tests of that work.
  it.skip('seed 101: a re-mask leaving out a late participant does not stall the round when that participant refuses it', async () => {
    // the aggregator truly lacked X's cryptogram at the deadline (X was restarting); X holds its own
    // cryptogram and refuses ("leaves out X") and fails over; no later attempt reunites them
    await clean(101);
  });
});
