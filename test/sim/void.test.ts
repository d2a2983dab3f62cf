// The admin's void record (PROTOCOL.md §8.10) in the deterministic simulation: a round whose final
// attempt can never complete waits until the admin voids it; then every live member commits the
// base model unchanged as version r (summary voided) and the next round completes normally. A void
// with a bad signature, or for another round or base model, changes nothing.
import assert from 'node:assert/strict';
import { fromHex, toHex } from '../../protocol/index.ts';
import { KindV2, signVoidRecord, voidRoundMessage, type VoidRecordV2 } from '../../protocol/v2/index.ts';
import { manifestHash } from '../../node/manifest.ts';
import { VoidRefused } from '../../node/rounds/void.ts';
import { SimWorld, type SimNode } from '../helpers/sim-world.ts';

const eventsOf = (n: SimNode, kind: string) => n.engine.events.filter((e) => e.kind === kind);

/** The engine's refusal code for a void record handed in by the operator, or 'applied'. */
async function submitted(n: SimNode, v: VoidRecordV2): Promise<string> {
  try {
    await n.engine.submitVoid(v);
    return 'applied';
  } catch (err) {
    assert.ok(err instanceof VoidRefused, `untyped refusal: ${String(err)}`);
    return err.code;
  }
}

describe('sim v2: the admin void record ends a round whose final attempt cannot complete', function () {
  this.timeout(120_000);

  it('6 members, t = 4: one member\'s cryptogram reached only the aggregator, both die for good after U3; the 4 others consent and reveal (> N − t) and wait; a bad void changes nothing; the admin\'s void makes all 4 commit version 1 = version 0 (voided), and round 2 completes', async () => {
    const w = await SimWorld.create({ seed: 161, nodes: 6, threshold: 4, rounds: 2, trainMs: [1, 5] });
    const [agg, x, ...live] = w.order(1) as [SimNode, SimNode, ...SimNode[]];
    assert.equal(live.length, 4);
    await w.start();
    // x's cryptogram (and everything x sends after it) reaches the aggregator only
    await w.run(20_000, () => x.reachedPoints.includes('1:cryptogram-persisted'));
    assert.ok(x.reachedPoints.includes('1:cryptogram-persisted'), w.describe());
    for (const n of live) w.net.cutOneWay(x.id, n.id);
    // the aggregator signs U3 (with x in it) and dies, as does x: nobody else holds x's cryptogram
    await w.run(20_000, () => w.decided(agg).some((d) => d.kind === KindV2.U3List && d.round === 1));
    const u3 = w.decided(agg).find((d) => d.kind === KindV2.U3List && d.round === 1);
    assert.ok(u3?.members.includes(x.id), `U3 of round 1 lists x: ${w.describe()}`);
    w.crash(agg);
    w.crash(x);
    await w.run(30_000);
    assert.deepEqual(w.checker.violations, []);
    assert.deepEqual(w.checker.errors, []);
    const v0 = live[0]!.engine.global.hash;
    for (const n of live) {
      assert.equal(n.engine.global.version, 0, `${n.name} committed round 1 without x's cryptogram`);
      assert.equal(n.engine.round.revealed?.attempt, 0, `${n.name} revealed for the final attempt`);
      assert.match(eventsOf(n, 'attempt-stalled')[0]?.detail ?? '', /round 1 waits for attempt 0/, `${n.name} did not say why it waits`);
    }

    // refused: another key, another round, another base model, another consortium, whether handed in
    // by the operator or gossiped by a member; nothing changes
    const fields = { consortium: w.manifest.consortium, round: 1, manifestHash: manifestHash(w.manifest), baseModelHash: fromHex(v0), reason: 'site x and the round-1 aggregator are gone for good; x\'s cryptogram is lost' };
    const memberSigned = signVoidRecord(fields, live[1]!.identity.signingSecret);
    assert.equal(await submitted(live[0]!, memberSigned), 'BAD_SIGNATURE');
    assert.equal(await submitted(live[0]!, signVoidRecord({ ...fields, round: 2 }, w.adminSecret)), 'WRONG_ROUND');
    assert.equal(await submitted(live[0]!, signVoidRecord({ ...fields, baseModelHash: new Uint8Array(32).fill(7) }, w.adminSecret)), 'WRONG_BASE');
    assert.equal(await submitted(live[0]!, signVoidRecord({ ...fields, consortium: 'another' }, w.adminSecret)), 'WRONG_CONSORTIUM');
    const good = signVoidRecord(fields, w.adminSecret);
    const tampered = { ...good, reason: good.reason + ' (edited)' };
    assert.equal(await submitted(live[0]!, tampered), 'BAD_SIGNATURE', 'a reason edited after signing');
    const relay = live[3]!;
    for (const bad of [memberSigned, tampered, signVoidRecord({ ...fields, baseModelHash: new Uint8Array(32).fill(7) }, w.adminSecret)]) {
      const bytes = w.forge(relay, 1, 0, voidRoundMessage(bad));
      for (const n of live.slice(0, 3)) assert.equal(n.engine.validate(bytes, relay.id), 'reject');
      w.inject(bytes, relay, live);
    }
    await w.run(5_000);
    for (const n of live) {
      assert.equal(n.engine.global.version, 0, `${n.name} applied a bad void`);
      assert.equal(n.engine.round.round, 1);
      assert.deepEqual(eventsOf(n, 'round-voided'), []);
    }

    // the admin's void, handed to one member, reaches the others by gossip
    assert.equal(await submitted(live[0]!, good), 'applied');
    await w.run(20_000, () => live.every((n) => n.engine.global.version >= 1));
    const weights0 = await live[0]!.engine.modelWeights(0);
    for (const n of live) {
      assert.equal(n.engine.global.version, 1, `${n.name} did not apply the void: ${w.describe()}`);
      assert.equal(n.engine.global.hash, v0, 'version 1 is version 0 unchanged');
      assert.deepEqual(await n.engine.modelWeights(1), weights0);
      const s = n.engine.summaries.find((x) => x.round === 1)!;
      assert.equal(s.voided, true);
      assert.equal(s.voidReason, fields.reason);
      assert.deepEqual([s.attempt, s.participants], [-1, []], 'no aggregate');
      assert.match(eventsOf(n, 'round-voided')[0]?.detail ?? '', /round 1 voided by the admin/);
      assert.deepEqual(await n.store.keys('round/00000001/'), [], `${n.name} kept round 1's data after the void`);
    }
    // every live member spread the record in its own envelope
    const spreaders = new Set(w.envelopes().filter((e) => e.env.kind === KindV2.VoidRound && e.env.round === 1).map((e) => e.env.sender));
    assert.deepEqual([...spreaders].sort(), live.map((n) => n.id).sort());
    // a second copy of the void (now a past round) changes nothing
    assert.equal(await submitted(live[1]!, good), 'WRONG_ROUND');

    // round 2 completes over the four live members, on version 1 (= version 0's weights)
    await w.run(60_000, () => live.every((n) => n.engine.global.version >= 2) || w.checker.violations.length > 0);
    assert.deepEqual(w.checker.violations, []);
    assert.deepEqual(w.checker.errors, []);
    const hashes = new Set(live.map((n) => n.engine.global.hash));
    assert.equal(hashes.size, 1, 'one model');
    for (const n of live) {
      assert.equal(n.engine.global.version, 2, `${n.name}: ${w.describe()}`);
      const s = n.engine.summaries.find((x) => x.round === 2)!;
      assert.ok(s.attempt >= 0 && !s.voided, 'round 2 is aggregated');
      assert.deepEqual(w.names(s.participants).sort(), w.names(live.map((m) => m.id)).sort());
      assert.notEqual(toHex(fromHex(n.engine.global.hash)), v0, 'round 2 changed the model');
    }
    assert.ok(w.checker.fedAvgChecked >= 1, 'the checker verified round 2 as the FedAvg over version 1');
  });
});
