// Uploaded weights as a round's contribution survive a crash: the update made from them and the
// consumption of the upload are one batch, and a restarted node still knows the round used them.
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Contribution } from '../../node/rounds/contribution.ts';
import { RoundStore } from '../../node/rounds/round-store.ts';
import { SystemClock } from '../../node/runtime/clock.ts';
import { noHooks } from '../../node/runtime/hooks.ts';
import { MemoryStore } from '../../node/runtime/kv-store.ts';
import { fakeTrainer } from '../helpers/engine-fakes.ts';

const log = pino({ level: 'silent' });

async function trained(c: Contribution, r: number, weights: Float32Array): Promise<void> {
  await new Promise<void>((done) => c.startTraining(r, weights, 1, () => r, done));
}

describe('rounds: a contribution from uploaded weights', () => {
  it('is stored with its round, consumes the upload in the same batch, and is known again after a restart', async () => {
    const kv = new MemoryStore();
    const trainer = fakeTrainer(8);
    const global = trainer.getWeights();
    const c = new Contribution(new RoundStore(kv), trainer, new SystemClock(), noHooks, log);
    const uploaded = global.map((w, i) => w + (i + 1) / 16);
    await c.submit(uploaded);
    assert.ok(kv.data.has('external-weights'));
    await trained(c, 3, global);
    assert.equal(c.uploadedRound, 3);
    assert.ok(!kv.data.has('external-weights'), 'the upload was consumed');
    assert.deepEqual([...c.update!.delta], [...uploaded].map((w, i) => Math.fround(w - global[i]!)));

    // a crash after the round's update was stored: a new incarnation over the same store
    const again = new Contribution(new RoundStore(kv), trainer, new SystemClock(), noHooks, log);
    await again.load();
    await again.restore(3);
    assert.equal(again.uploadedRound, 3, 'the restarted node still marks the round as uploaded');
    assert.deepEqual([...again.update!.delta], [...c.update!.delta]);
    // and it does not use the upload a second time in the next round
    again.newRound();
    await trained(again, 4, global);
    assert.equal(again.uploadedRound, 3);
    assert.ok([...again.update!.delta].every((x) => x === 0), 'round 4 trained locally (the fake trainer returns a zero delta)');
  });
});
