// Issue 5 integration: real `flnode start` processes on loopback, real PneumoniaMNIST partitions.
// After the run every site's level DB is opened and each committed round is re-derived from the
// participants' own stored updates: (1) bit-exactly through the cryptogram encoding, (2) against
// plain float64 FedAvg within the quantization bound n/(2S) (plus float32 storage rounding).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fedAvgWeights, quantizationScale, quantize } from '../../protocol/index.ts';
import { bytesF32, f32bytes, Store } from '../../node/storage/store.ts';
import { startTestbed, type Testbed, type TestbedNode } from '../../node/testbed/testbed.ts';
import type { RoundSummary } from '../../node/types.ts';

const timeouts = { heartbeatMs: 300, livenessMs: 4000, keysMs: 6000, trainingMs: 12000, collectMs: 4000, aggregateMs: 5000 };
const base = { nodes: 3, data: 'data/pneumoniamnist.npz', maxTrainSamples: 300, maxEvalSamples: 200, timeouts };

interface Site {
  models: Map<number, Float32Array>;
  updates: Map<number, { delta: Float32Array; samples: number }>;
  summaries: Map<number, RoundSummary>;
  global: { version: number; hash: string } | undefined;
}

async function readSite(dir: string): Promise<Site> {
  const store = new Store(join(dir, 'db'));
  await store.open();
  try {
    const site: Site = { models: new Map(), updates: new Map(), summaries: new Map(), global: await store.get('global') };
    for (const k of await store.keys('model/')) site.models.set(Number(k.slice('model/'.length)), bytesF32((await store.getBytes(k))!));
    for (const k of await store.keys('update/')) {
      const r = Number(k.slice('update/'.length));
      const meta = await store.get<{ samples: number }>(`updatemeta/${r}`);
      assert.ok(meta, `${dir}: update/${r} without updatemeta/${r}`);
      site.updates.set(r, { delta: bytesF32((await store.getBytes(k))!), samples: meta.samples });
    }
    for (const k of await store.keys('summary/')) {
      const s = (await store.get<RoundSummary>(k))!;
      assert.equal(k, `summary/${String(s.round).padStart(8, '0')}`);
      site.summaries.set(s.round, s);
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

/** Checks round r at every site against FedAvg of the participants' stored updates; returns the max deviation. */
function checkRound(tb: Testbed, sites: Site[], r: number): { participants: number; attempt: number; maxErr: number; bound: number } {
  const idx = new Map(tb.nodes.map((n, i) => [n.peerId, i]));
  // attempt −1 marks a version fetched from a peer (catch-up): no participants recorded there
  const summaries = sites.map((s) => s.summaries.get(r)).filter((s): s is RoundSummary => !!s && s.attempt >= 0);
  assert.ok(summaries.length >= 2, `round ${r}: only ${summaries.length} sites committed it by aggregation`);
  const summary = summaries[0]!;
  for (const s of summaries) {
    assert.deepEqual([...s.participants].sort(), [...summary.participants].sort(), `round ${r}: sites disagree on the participants`);
    assert.equal(s.attempt, summary.attempt, `round ${r}: sites disagree on the attempt`);
    assert.equal(s.modelHash, summary.modelHash, `round ${r}: sites disagree on the model hash`);
  }
  const parts = summary.participants.map((p) => {
    assert.ok(idx.has(p), `round ${r}: participant ${p} is not a member`);
    const u = sites[idx.get(p)!]!.updates.get(r);
    assert.ok(u, `round ${r}: participant ${tb.nodes[idx.get(p)!]!.name} has no stored update`);
    return u;
  });
  const before = sites[0]!.models.get(r - 1)!;
  const after = sites[0]!.models.get(r)!;
  assert.ok(before && after, `round ${r}: model versions ${r - 1} and ${r} stored`);
  for (const [i, s] of sites.entries()) {
    assert.ok(s.models.get(r), `${tb.nodes[i]!.name} lacks model version ${r}`);
    assert.equal(sha256hex(f32bytes(s.models.get(r)!)), summary.modelHash, `${tb.nodes[i]!.name}: model/${r} does not hash to the round's model hash`);
  }
  const clip = tb.manifest.plan.clip;
  const S = quantizationScale(parts.length, clip);
  const w = fedAvgWeights(parts.map((p) => p.samples));
  // (1) bit-exact: Σ q_i read as int32, / S, to float32, added to the previous model in float32
  const q = parts.map((p, j) => quantize(p.delta, w[j]!, clip, S));
  let mismatches = 0;
  for (let i = 0; i < after.length; i++) {
    let sum = 0;
    for (const qi of q) sum = (sum + qi[i]!) >>> 0;
    const expected = Math.fround(before[i]! + Math.fround((sum | 0) / S));
    if (!Object.is(expected, after[i]!)) mismatches++;
  }
  assert.equal(mismatches, 0, `round ${r}: ${mismatches}/${after.length} coordinates differ from the re-encoded sum of the stored updates`);
  // (2) against plain FedAvg of the same updates (clip applies to the weighted value, as in quantize)
  const bound = parts.length / (2 * S);
  let maxErr = 0;
  for (let i = 0; i < after.length; i++) {
    let fedavg = 0;
    for (const [j, p] of parts.entries()) fedavg += Math.min(clip, Math.max(-clip, w[j]! * p.delta[i]!));
    // float32 rounding of the decoded delta and of the stored model sit on top of n/(2S)
    const slack = (Math.abs(after[i]!) + Math.abs(fedavg)) * 2 ** -23;
    maxErr = Math.max(maxErr, Math.abs(after[i]! - before[i]! - fedavg) - slack);
  }
  assert.ok(maxErr <= bound, `round ${r}: max deviation from FedAvg ${maxErr} > n/(2S) = ${bound}`);
  return { participants: parts.length, attempt: summary.attempt, maxErr, bound };
}

async function converge(tb: Testbed, which: TestbedNode[] = tb.nodes): Promise<string[]> {
  // a node may briefly hold another model version/hash; give it time to heal, then assert
  await tb.waitFor(() => new Set(which.map((n) => n.status()?.model.hash)).size === 1, 30_000, which).catch(() => undefined);
  return which.map((n) => n.status()?.model.hash ?? 'no status');
}

describe('daemon: three-site federation (issue 5)', function () {
  this.timeout(240_000);
  let tb: Testbed | null = null;
  afterEach(async function () {
    if (tb && this.currentTest?.state === 'failed') console.error(`  testbed dir kept for inspection: ${tb.dir}`);
    await tb?.stop();
    tb = null;
  });

  it('2 rounds: one model hash everywhere; each round equals the participants\' FedAvg within n/(2S)', async () => {
    const t0 = Date.now();
    tb = await startTestbed({ ...base, rounds: 2 });
    tb.start();
    await tb.waitFor((_n, s) => !!s?.completed, 180_000);
    const hashes = await converge(tb);
    await tb.stop();
    assert.equal(new Set(hashes).size, 1, `model hashes differ: ${hashes.join(', ')}`);
    for (const n of tb.nodes) assert.equal(n.status()!.model.version, 2, `${n.name} ends at version 2`);
    const sites = await Promise.all(tb.nodes.map((n) => readSite(n.dir)));
    for (const [i, s] of sites.entries()) assert.deepEqual(s.global, { version: 2, hash: hashes[0] }, `${tb.nodes[i]!.name}: persisted global`);
    // every site starts from the same version 0
    for (const s of sites) assert.ok(sameWeights(s.models.get(0), sites[0]!.models.get(0)), 'every site built the same version 0');
    for (const r of [1, 2]) {
      const res = checkRound(tb, sites, r);
      // round 1 may start before the slowest process is up (keysMs), so it can have 2 participants
      if (r === 1) assert.ok(res.participants >= 2, `round 1: ${res.participants} participants`);
      else assert.equal(res.participants, 3, `round ${r}: all three sites took part`);
      assert.ok(res.maxErr >= -1e-9, 'deviation computed');
      console.log(`      round ${r}: attempt ${res.attempt}, ${res.participants} participants, max |Δ − FedAvg| ${res.maxErr.toExponential(2)} ≤ ${res.bound.toExponential(2)}`);
    }
    console.log(`      wall ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  it('a site SIGKILLed mid-round: the others re-mask without it; it restarts and catches up', async () => {
    const t0 = Date.now();
    // site 2 trains slowly (NODE_ENV=test hook) so it is killed before its round-2 cryptogram exists
    tb = await startTestbed({ ...base, rounds: 3, env: (i): Record<string, string> => (i === 2 ? { NODE_ENV: 'test', FLNODE_TEST_TRAIN_DELAY_MS: '4000' } : {}) });
    tb.start();
    const victim = tb.nodes[2]!;
    const others = tb.nodes.filter((n) => n !== victim);
    await tb.waitForVersion(1, 150_000);
    // kill once the survivors are masking/collecting round 2 while the victim, a listed participant, still trains
    await tb.waitFor(() => {
      const v = victim.status();
      const listed = others.some((n) => n.status()?.round.round === 2 && n.status()!.round.participants.some((p) => p.id === victim.peerId));
      const survivorsBusy = others.some((n) => n.status()?.round.round === 2 && ['masking', 'collecting'].includes(n.status()!.round.phase));
      return listed && survivorsBusy && v?.round.round === 2 && v.round.phase === 'training';
    }, 60_000, [victim]);
    const killedAt = victim.status()!.round;
    victim.kill('SIGKILL');
    await tb.waitForVersion(2, 120_000, others);
    const r2 = others.map((n) => n.status()!.rounds.find((x) => x.round === 2)!);
    const killedWhile = (Date.now() - t0) / 1000;
    victim.restart();
    await tb.waitFor((_n, s) => !!s?.completed, 180_000);
    const hashes = await converge(tb);
    await tb.stop();
    for (const s of r2) {
      assert.ok(!s.participants.includes(victim.peerId), 'round 2 committed without the killed site');
      assert.equal(s.participants.length, 2, 'round 2 had the two survivors');
      assert.ok(s.attempt >= 1, `round 2 re-masked (attempt ${s.attempt})`);
    }
    assert.equal(new Set(hashes).size, 1, `model hashes differ after catch-up: ${hashes.join(', ')}`);
    for (const n of tb.nodes) assert.equal(n.status()!.model.version, 3, `${n.name} ends at version 3`);
    const sites = await Promise.all(tb.nodes.map((n) => readSite(n.dir)));
    // the restarted site holds every version, identical to the survivors' (fetched and verified by hash)
    for (const r of [1, 2, 3]) assert.ok(sameWeights(sites[2]!.models.get(r), sites[0]!.models.get(r)), `victim's model/${r} equals the survivors'`);
    const res2 = checkRound(tb, sites, 2);
    assert.equal(res2.participants, 2);
    const res3 = checkRound(tb, sites, 3);
    // known issue (reported to the lead): a restarted site one version behind that is the next
    // round's rotation candidate can open and commit that round alone, then heal by majority
    const forks = tb.nodes.flatMap((n) => (n.status()!.events ?? []).filter((e) => e.kind === 'fork-healed' || e.kind === 'rejected-aggregate').map((e) => `${n.name} ${e.kind}: ${e.detail}`));
    if (forks.length) console.log(`      fork events: ${forks.join(' | ')}`);
    assert.ok(res3.participants >= 2);
    console.log(`      killed in ${JSON.stringify({ round: killedAt.round, phase: killedAt.phase })} at ${killedWhile.toFixed(1)} s; round 2: attempt ${res2.attempt}, 2 participants, max err ${res2.maxErr.toExponential(2)}; round 3: ${res3.participants} participants; wall ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
});
