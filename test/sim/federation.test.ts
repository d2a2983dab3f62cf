// Simulated federations without faults: the engines finish the plan on one model, every committed
// model is the FedAvg of its participants' updates, and the 5-node, 10-round run is fast.
import assert from 'node:assert/strict';
import { KindV2 } from '../../protocol/v2/index.ts';
import { SimWorld } from '../helpers/sim-world.ts';
import { siteTarget } from '../helpers/sim-trainer.ts';

describe('sim: federation', () => {
  it('5 nodes, 10 rounds: one model, every round the FedAvg of all five updates, the model moves towards the sites\' mean', async () => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const w = await SimWorld.create({ seed: 1, nodes: 5, rounds: 10, parameters: 100 });
    await w.start();
    await w.run(120_000, () => w.converged() || w.checker.violations.length > 0);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    console.log(`      sim: 5 nodes, 10 rounds: ${w.elapsed().toFixed(1)} s virtual, ${w.sched.events} events, ${ms.toFixed(0)} ms wall, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms cpu`);
    assert.deepEqual(w.checker.violations, []);
    assert.deepEqual(w.checker.errors, []);
    assert.ok(w.converged(), w.describe());
    assert.equal(w.checker.fedAvgChecked, 10, 'every round checked against FedAvg');
    for (const n of w.nodes) {
      assert.equal(n.engine.summaries.length, 10);
      for (const s of n.engine.summaries) assert.equal(s.participants.length, 5, `round ${s.round} had ${s.participants.length} participants`);
    }
    // FedAvg with weights 50..150 samples pulls towards the weighted mean of the site targets
    const targets = w.nodes.map((n) => siteTarget(100, n.index));
    const total = w.nodes.reduce((s, n) => s + n.samples, 0);
    const dist = (x: Float32Array) => x.reduce((s, v, k) => s + (v - w.nodes.reduce((m, n, i) => m + (n.samples / total) * targets[i]![k]!, 0)) ** 2, 0);
    assert.ok(dist(w.checker.committed.get(10)!.weights) < 0.2 * dist(w.checker.committed.get(0)!.weights));
  });

  it('a slow site past the collection deadline is left out of U3 and unmasked as a dropout: same attempt, its update not in the sum', async () => {
    const w = await SimWorld.create({ seed: 2, nodes: 5, rounds: 2, trainDelayMs: { 3: 8000 } });
    await w.start();
    await w.run(120_000, () => w.converged() || w.checker.violations.length > 0);
    assert.deepEqual(w.checker.violations, []);
    assert.deepEqual(w.checker.errors, []);
    assert.ok(w.converged(), w.describe());
    const s1 = w.nodes[0]!.engine.summaries.find((s) => s.round === 1)!;
    assert.equal(s1.attempt, 0, 'a dropout is unmasked, not re-masked');
    assert.deepEqual(w.names(s1.participants).sort(), ['site-0', 'site-1', 'site-2', 'site-4']);
    assert.deepEqual(w.names(s1.masked!).sort(), ['site-0', 'site-1', 'site-2', 'site-3', 'site-4']);
    assert.equal(w.checker.fedAvgChecked, 2);
  });

  it('bytes in (status page, round summaries) count every round message a node handled once, in the round it belongs to: also those it kept for the next round before its commit', async () => {
    const w = await SimWorld.create({ seed: 3, nodes: 3, rounds: 2 });
    const x = w.nodes[2]!;
    // x gets no reveal (and no model from a peer) until the others have committed round 1 and sent
    // round 2's key announcements, which x keeps until its own commit
    let hold = true;
    w.net.filter = (bytes, _from, to) => !(hold && to === x.id && (bytes[1] === KindV2.Reveal || bytes[1] === KindV2.ModelResponse));
    await w.start();
    const ahead = () => w.envelopes().filter((e) => e.env.round === 2 && e.env.kind === KindV2.KeyAnnouncement && e.env.sender !== x.id).length >= 2;
    await w.run(30_000, ahead);
    assert.ok(ahead() && x.engine.global.version === 0, w.describe());
    hold = false;
    await w.run(60_000, () => w.converged());
    assert.ok(w.converged(), w.describe());
    for (const n of w.nodes) {
      const perRound = [...n.engine.summaries.map((s) => s.bytesIn), n.engine.round.bytesIn];
      assert.equal(perRound.reduce((a, b) => a + b, 0), w.net.handledBytes.get(n.id), `${n.name}: bytesIn per round ${JSON.stringify(perRound)}`);
    }
  });
});
