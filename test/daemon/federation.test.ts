// Real `flnode start` processes on loopback, real PneumoniaMNIST partitions, protocol v2 (3 sites,
// t = 3). After the run every site's level DB is opened: each committed round is re-derived from
// the participants' local updates, recomputed here with the same trainer, partition and seed as the
// sites used (their own copies were erased at commit): (1) bit-exactly through the v2 encoding
// (weights over U2, S for |U2|, decoded over U3), (2) against plain float64 FedAvg within the
// quantization bound. The store holds nothing of a committed round (erasure).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fedAvgWeightsV2, exactScale, decodeAggregateV2 } from '../../protocol/v2/index.ts';
import { quantize } from '../../protocol/index.ts';
import { bytesF32, f32bytes, Store } from '../../node/storage/store.ts';
import { startTestbed, type Testbed, type TestbedNode } from '../../node/testbed/testbed.ts';
import { createTrainer, parseSplit } from '../../node/training/index.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import type { RoundSummary, Trainer } from '../../node/types.ts';

const timeouts = { heartbeatMs: 300, livenessMs: 4000, keysMs: 6000, trainingMs: 12000, collectMs: 4000, aggregateMs: 5000 };
const base = { nodes: 3, data: 'data/pneumoniamnist.npz', maxTrainSamples: 300, maxEvalSamples: 200, timeouts };

interface Site {
  models: Map<number, Float32Array>;
  summaries: Map<number, RoundSummary>;
  global: { version: number; hash: string } | undefined;
  /** Keys under round/ (a round's secrets, shares, update, cryptograms) that are left, by round. */
  roundKeys: Map<number, string[]>;
}

async function readSite(dir: string): Promise<Site> {
  const store = new Store(join(dir, 'db'));
  await store.open();
  try {
    const site: Site = { models: new Map(), summaries: new Map(), global: await store.get('global'), roundKeys: new Map() };
    for (const k of await store.keys('model/')) site.models.set(Number(k.slice('model/'.length)), bytesF32((await store.getBytes(k))!));
    for (const k of await store.keys('summary/')) {
      const s = (await store.get<RoundSummary>(k))!;
      assert.equal(k, `summary/${String(s.round).padStart(8, '0')}`);
      site.summaries.set(s.round, s);
    }
    for (const k of await store.keys('round/')) {
      const r = Number(k.split('/')[1]);
      site.roundKeys.set(r, [...(site.roundKeys.get(r) ?? []), k]);
    }
    return site;
  } finally {
    await store.close();
  }
}

const sha256hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Byte-equal weight vectors (assert.deepEqual's diff of two 55k-float arrays took over 12 GB when they differed). */
const sameWeights = (a: Float32Array | undefined, b: Float32Array | undefined): boolean =>
  !!a && !!b && a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Each site's trainer as `flnode start` builds it (same data file, partition, caps and plan). */
async function siteTrainers(tb: Testbed): Promise<Trainer[]> {
  const m = tb.manifest;
  return Promise.all(tb.nodes.map((_n, i) => createTrainer({
    dataPath: base.data, sites: tb.nodes.length, site: i, scheme: parseSplit('iid'), seed: m.model.seed, maxTrainSamples: base.maxTrainSamples, maxEvalSamples: base.maxEvalSamples,
    plan: { epochs: m.plan.localEpochs, batchSize: m.plan.batchSize, learningRate: m.plan.learningRate, optimizer: m.plan.optimizer },
  })));
}

/** Site i's local update of round r from model r − 1 (the engine's seed rule, node/rounds/engine.ts startTraining). */
async function localUpdate(tb: Testbed, trainer: Trainer, i: number, r: number, before: Float32Array): Promise<{ delta: Float32Array; samples: number }> {
  const seed = (tb.manifest.model.seed * 7919 + r * 104729 + i * 13) >>> 0;
  trainer.setWeights(before);
  const res = await trainer.trainLocal({ seed });
  return { delta: res.delta, samples: res.samples };
}

/** Checks round r at every site against FedAvg of the participants' recomputed updates; returns the max deviation. */
async function checkRound(tb: Testbed, sites: Site[], trainers: Trainer[], r: number): Promise<{ u3: number; u2: number; attempt: number; maxErr: number; bound: number }> {
  const idx = new Map(tb.nodes.map((n, i) => [n.peerId, i]));
  // attempt −1 marks a version fetched from a peer (catch-up): no participants recorded there
  const summaries = sites.map((s) => s.summaries.get(r)).filter((s): s is RoundSummary => !!s && s.attempt >= 0);
  assert.ok(summaries.length >= 2, `round ${r}: only ${summaries.length} sites committed it by unmasking`);
  const summary = summaries[0]!;
  for (const s of summaries) {
    assert.deepEqual([...s.participants].sort(), [...summary.participants].sort(), `round ${r}: sites disagree on U3`);
    assert.deepEqual([...s.masked!].sort(), [...summary.masked!].sort(), `round ${r}: sites disagree on U2`);
    assert.equal(s.attempt, summary.attempt, `round ${r}: sites disagree on the attempt`);
    assert.equal(s.modelHash, summary.modelHash, `round ${r}: sites disagree on the model hash`);
  }
  const before = sites[0]!.models.get(r - 1)!;
  const after = sites[0]!.models.get(r)!;
  assert.ok(before && after, `round ${r}: model versions ${r - 1} and ${r} stored`);
  for (const [i, s] of sites.entries()) {
    assert.ok(s.models.get(r), `${tb.nodes[i]!.name} lacks model version ${r}`);
    assert.equal(sha256hex(f32bytes(s.models.get(r)!)), summary.modelHash, `${tb.nodes[i]!.name}: model/${r} does not hash to the round's model hash`);
    assert.deepEqual(s.roundKeys.get(r) ?? [], [], `${tb.nodes[i]!.name}: round ${r} data left in the store after commit`);
  }
  const u2 = summary.masked!;
  const u3 = summary.participants;
  for (const p of u2) assert.ok(idx.has(p), `round ${r}: ${p} is not a member`);
  const updates = new Map<string, { delta: Float32Array; samples: number }>();
  for (const p of u2) updates.set(p, await localUpdate(tb, trainers[idx.get(p)!]!, idx.get(p)!, r, before));
  const clip = tb.manifest.plan.clip;
  const S = exactScale(u2.length, clip);
  const { total: n2, weights } = fedAvgWeightsV2(u2.map((p) => updates.get(p)!.samples));
  const w = new Map(u2.map((p, j) => [p, weights[j]!]));
  const n3 = u3.reduce((s, p) => s + updates.get(p)!.samples, 0);
  // (1) bit-exact: Σ_{U3} q_i (weights over U2) decoded over U3, added to the previous model in float32
  const sum = new Uint32Array(after.length);
  for (const p of u3) {
    const q = quantize(updates.get(p)!.delta, w.get(p)!, clip, S);
    for (let k = 0; k < sum.length; k++) sum[k] = (sum[k]! + q[k]!) >>> 0;
  }
  const decoded = decodeAggregateV2(sum, S, n2, n3);
  let mismatches = 0;
  for (let k = 0; k < after.length; k++) if (!Object.is(Math.fround(before[k]! + decoded[k]!), after[k]!)) mismatches++;
  assert.equal(mismatches, 0, `round ${r}: ${mismatches}/${after.length} coordinates differ from the re-encoded sum of the recomputed updates`);
  // (2) against plain FedAvg over U3 (weights n_i / N3; the clip applies to the U2-weighted value)
  const bound = ((u3.length / (2 * S)) * n2) / n3;
  let maxErr = 0;
  for (let k = 0; k < after.length; k++) {
    let fedavg = 0;
    for (const p of u3) fedavg += (Math.min(clip, Math.max(-clip, w.get(p)! * updates.get(p)!.delta[k]!)) * n2) / n3;
    const slack = (Math.abs(after[k]!) + Math.abs(fedavg)) * 2 ** -23;
    maxErr = Math.max(maxErr, Math.abs(after[k]! - before[k]! - fedavg) - slack);
  }
  assert.ok(maxErr <= bound, `round ${r}: max deviation from FedAvg ${maxErr} > bound ${bound}`);
  return { u3: u3.length, u2: u2.length, attempt: summary.attempt, maxErr, bound };
}

async function converge(tb: Testbed, which: TestbedNode[] = tb.nodes): Promise<string[]> {
  // a node may briefly hold another model version/hash; give it time to heal, then assert
  await tb.waitFor(() => new Set(which.map((n) => n.status()?.model.hash)).size === 1, 30_000, which).catch(() => undefined);
  return which.map((n) => n.status()?.model.hash ?? 'no status');
}

describe('daemon: three-site federation, protocol v2 (t = 3)', function () {
  this.timeout(300_000);
  let tb: Testbed | null = null;
  let trainers: Trainer[] = [];
  afterEach(async function () {
    if (tb && this.currentTest?.state === 'failed') console.error(`  testbed dir kept for inspection: ${tb.dir}`);
    await tb?.stop();
    tb = null;
    for (const t of trainers) t.dispose();
    trainers = [];
  });

  it('2 rounds: one model hash everywhere; each round is the FedAvg of all three updates (bit-exact through the v2 encoding); nothing of a round left after commit', async () => {
    const t0 = Date.now();
    tb = await startTestbed({ ...base, rounds: 2 });
    assert.equal(tb.manifest.threshold ?? 3, 3, 'default threshold of 3 members is 3');
    tb.start();
    await tb.waitFor((_n, s) => !!s?.completed, 180_000);
    const hashes = await converge(tb);
    await tb.stop();
    assert.equal(new Set(hashes).size, 1, `model hashes differ: ${hashes.join(', ')}`);
    for (const n of tb.nodes) assert.equal(n.status()!.model.version, 2, `${n.name} ends at version 2`);
    const sites = await Promise.all(tb.nodes.map((n) => readSite(n.dir)));
    for (const [i, s] of sites.entries()) assert.deepEqual(s.global, { version: 2, hash: hashes[0] }, `${tb.nodes[i]!.name}: persisted global`);
    for (const s of sites) assert.ok(sameWeights(s.models.get(0), sites[0]!.models.get(0)), 'every site built the same version 0');
    trainers = await siteTrainers(tb);
    for (const r of [1, 2]) {
      const res = await checkRound(tb, sites, trainers, r);
      // t = 3 of 3: a round is unmasked over all three or not at all
      assert.equal(res.u3, 3, `round ${r}: U3 holds all three sites`);
      assert.equal(res.u2, 3, `round ${r}: U2 holds all three sites`);
      console.log(`      round ${r}: attempt ${res.attempt}, U2 = U3 = 3, max |Δ − FedAvg| ${res.maxErr.toExponential(2)} ≤ ${res.bound.toExponential(2)}`);
    }
    console.log(`      wall ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  it('a site SIGKILLed in round 2 after its shares are made: the two others cannot complete (t = 3) and move on; restarted, round 2 completes with all three', async () => {
    const t0 = Date.now();
    let victimIndex = -1;
    let crashed = false; // the restarted victim runs without the hook (its next attempt deals afresh)
    // a participant of round 2 that is not the aggregator of attempts 0 or 1: it dies with its
    // dealing persisted but not sent (test hook), so U2 can never reach t = 3 without it
    tb = await startTestbed({ ...base, rounds: 3, timeouts: { ...timeouts, keysMs: 15000 }, env: (i): Record<string, string> => (i === victimIndex && !crashed ? { NODE_ENV: 'test', FLNODE_TEST_CRASH_AT: '2:dealing-persisted' } : {}) });
    const ids = tb.nodes.map((n) => n.peerId);
    const order = aggregatorOrder(ids, 2);
    victimIndex = ids.indexOf(order[2]!);
    const victim = tb.nodes[victimIndex]!;
    const others = tb.nodes.filter((n) => n !== victim);
    tb.start();
    await tb.waitFor(() => !victim.process, 150_000, [victim]);
    assert.match(readLog(victim), /test hook: SIGKILL at round 2 dealing-persisted/);
    // the survivors give up attempt 0 (its U2 cannot reach t) and still hold version 1
    await tb.waitFor((_n, s) => (s?.round.round === 2 && s.round.attempt >= 1) || (s?.model.version ?? 0) >= 2, 120_000, others);
    for (const n of others) {
      const s = n.status()!;
      assert.equal(s.model.version, 1, `${n.name} did not complete round 2 without the third site`);
      assert.ok(!s.rounds.some((x) => x.round === 2), `${n.name} has no round 2 summary`);
    }
    const gaveUp = (Date.now() - t0) / 1000;
    crashed = true;
    victim.restart();
    await tb.waitFor((_n, s) => !!s?.completed, 240_000);
    const hashes = await converge(tb);
    await tb.stop();
    assert.equal(new Set(hashes).size, 1, `model hashes differ: ${hashes.join(', ')}`);
    for (const n of tb.nodes) assert.equal(n.status()!.model.version, 3, `${n.name} ends at version 3`);
    const sites = await Promise.all(tb.nodes.map((n) => readSite(n.dir)));
    trainers = await siteTrainers(tb);
    // Known engine issue: the restarted site resumes attempt 0 while the survivors are in a later
    // one, then fails over in step with them one attempt behind; they meet only at the last attempt
    // (maxAttempts − 1), where the survivors wait. Round 2 completes, but in attempt 9 of 10.
    const res2 = await checkRound(tb, sites, trainers, 2);
    assert.equal(res2.u3, 3, 'round 2 was unmasked over all three sites');
    assert.ok(res2.attempt >= 1, `round 2 completed in a later attempt (${res2.attempt})`);
    const res3 = await checkRound(tb, sites, trainers, 3);
    assert.equal(res3.u3, 3);
    console.log(`      survivors left attempt 0 of round 2 at ${gaveUp.toFixed(1)} s; round 2: attempt ${res2.attempt}, U3 = 3, max err ${res2.maxErr.toExponential(2)}; wall ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
});

function readLog(n: TestbedNode): string {
  try {
    return readFileSync(join(n.dir, 'node.log'), 'utf8');
  } catch {
    return '';
  }
}
