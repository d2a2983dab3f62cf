// Smoke test of the comparison benchmark: every mode on a tiny generated federation, the JSON
// schema of issue 7 plus d and unmask_s, the protocol v2 cryptogram aggregate against float FedAvg
// and against the v2 library's own masking and unmasking, synthetic sizes, and a 14-label file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCryptogramV2, compareIds, exactScale, generateRoundSecrets, quantizeV2, unmaskAggregate, type AttemptV2 } from '../../protocol/index.ts';
import { cryptogramMode, maskOnePass, unmaskOnePass } from '../../bench/compare/cryptogram.ts';
import { clipAndNoise, gaussianSigma } from '../../bench/compare/dp.ts';
import { maxDeviation } from '../../bench/compare/harness.ts';
import { pack, packingLayout, paillierMode, unpack } from '../../bench/compare/paillier.ts';
import { plainMode } from '../../bench/compare/plain.ts';
import { MODE_NAMES, runCompare, type CompareOutput } from '../../bench/compare/run.ts';
import { renderSizesChart, sizesMarkdown } from '../../bench/compare/sizes.ts';
import { smpcMode } from '../../bench/compare/smpc.ts';
import type { SiteUpdate } from '../../bench/compare/types.ts';
import { seededRandom } from '../../node/training/index.ts';
import { makeMedMnistNpz } from '../helpers/medmnist-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'flnode-compare-'));

function updates(d: number, seed: number): SiteUpdate[] {
  const rnd = seededRandom(seed);
  return [300, 200, 101].map((samples, k) => ({ id: `site-${k}`, samples, delta: Float32Array.from({ length: d }, () => (rnd() - 0.5) * 0.2) }));
}

/** n/(2S) for 3 sites and C = 1 with v2's exact scale (every mode that quantizes encodes like v2). */
const step = 3 / (2 * exactScale(3, 1));

describe('bench:compare modes', () => {
  it('cryptogram (v2) and smpc decode to float FedAvg within the quantization bound n/(2S), plain within float32 rounding', async () => {
    const ups = updates(5000, 3);
    const bound = step + 1e-7 * 0.1; // + float32 rounding of |values| ≤ 0.1
    for (const mode of [cryptogramMode(), smpcMode()]) {
      const out = await mode.aggregate(ups, 1);
      const err = maxDeviation(out.aggregate, ups);
      assert.ok(err <= bound, `${mode.name}: ${err} > ${bound}`);
      assert.ok(err > 0, `${mode.name}: quantization should leave a trace`);
    }
    const plain = await plainMode().aggregate(ups, 1);
    assert.ok(maxDeviation(plain.aggregate, ups) <= 1e-7 * 0.1 * 3);
  });

  it('smpc and paillier encode and decode like v2: their aggregates equal the cryptogram mode\'s bit for bit', async () => {
    const ups = updates(700, 11);
    const want = (await cryptogramMode().aggregate(ups, 1)).aggregate;
    const paillier = await paillierMode({ bits: 512 });
    for (const mode of [smpcMode(), paillier, await paillierMode({ keys: paillier.keys, maxPlaintexts: 3 })]) {
      const got = (await mode.aggregate(ups, 1)).aggregate;
      assert.deepEqual(got, want, `${mode.name}${'maxPlaintexts' in mode && mode.maxPlaintexts ? ' (extrapolated)' : ''}`);
    }
  });

  it('the one-pass masking and unmasking give the v2 library\'s cryptograms and aggregate word for word', () => {
    const ups = updates(3000, 9);
    const att: AttemptV2 = { consortium: 'K', round: 4, attempt: 0, clip: 1, threshold: 3, u2: [] };
    const secrets = new Map(ups.map((u) => [u.id, generateRoundSecrets()]));
    att.u2 = ups.map((u) => ({ id: u.id, sPublic: secrets.get(u.id)!.sPublic, samples: u.samples }));
    const ours = ups.map((u) => maskOnePass(att, { id: u.id, ...secrets.get(u.id)! }, u.delta));
    const lib = ups.map((u) => buildCryptogramV2(att, { id: u.id, ...secrets.get(u.id)! }, u.delta));
    assert.deepEqual(ours, lib);
    assert.notDeepEqual(ours[0], quantizeV2(att, ups[0]!.id, ups[0]!.delta), 'masked');
    const sum = new Uint32Array(3000);
    for (const c of ours) c.forEach((w, k) => (sum[k] = (sum[k]! + w) >>> 0));
    const seeds = new Map(ups.map((u) => [u.id, secrets.get(u.id)!.selfSeed]));
    const ids = ups.map((u) => u.id).sort(compareIds);
    const expected = unmaskAggregate(att, ids, new Map(ups.map((u, k) => [u.id, ours[k]!])), seeds, new Map());
    assert.deepEqual(unmaskOnePass(att, sum, seeds), expected);
    const q = new Uint32Array(3000);
    for (const u of ups) quantizeV2(att, u.id, u.delta).forEach((w, k) => (q[k] = (q[k]! + w) >>> 0));
    assert.deepEqual(expected, q, 'all masks cancel');
  });

  it('cryptogram bytes per site count the v2 messages and are fewer than smpc for n = 3', async () => {
    const ups = updates(4096, 5);
    const c = await cryptogramMode().aggregate(ups, 2);
    const s = await smpcMode().aggregate(ups, 2);
    // the cryptogram itself plus key announcement, dealing (2 × 80-byte ciphertexts + commitments), U1/U2/U3 shared out, consent, reveal: all signed
    assert.ok(c.bytesPerSite >= 4 * 4096 + 2 * 80 + 3 * 64 && c.bytesPerSite < 4 * 4096 + 4096, `cryptogram bytes ${c.bytesPerSite}`);
    assert.ok(c.times.unmask > 0 && c.times.protect > 0, 'v2 phases timed');
    assert.equal(c.times.aggregate, 0, 'v2: the aggregator only relays; members sum inside unmaskAggregate');
    assert.ok(s.bytesPerSite >= 3 * 4 * 4096, `smpc bytes ${s.bytesPerSite}`);
  });

  it('paillier packing round-trips signed sums of 3 sites without carries between slots', () => {
    const layout = packingLayout(3, 2048);
    assert.ok(layout.slots * layout.slotBits <= 2047);
    const bound = Math.floor((2 ** 31 - 1) / 3);
    const vals = [Int32Array.from([bound, -bound, 7, 0]), Int32Array.from([bound, -bound, -9, 1]), Int32Array.from([bound, -bound, 1, -1])];
    const sum = vals.map((v) => pack(new Uint32Array(v.buffer), 0, layout)).reduce((a, b) => a + b);
    assert.deepEqual(unpack(sum, 4, 3, layout), [3 * bound, -3 * bound, -1, 0]);
  });

  it('dp: σ is the classic Gaussian-mechanism calibration and the update is clipped to C', () => {
    assert.ok(Math.abs(gaussianSigma(1, 1e-5, 1) - Math.sqrt(2 * Math.log(125000))) < 1e-12);
    assert.ok(Math.abs(gaussianSigma(8, 1e-5, 2) - (2 * Math.sqrt(2 * Math.log(125000))) / 8) < 1e-12);
    const u = Float32Array.from({ length: 1000 }, (_, i) => (i % 2 ? 1 : -1));
    const clipped = clipAndNoise(u, 1, 0, 1); // σ = 0: clipping only
    assert.ok(Math.abs(Math.hypot(...clipped) - 1) < 1e-5);
    const noisy = clipAndNoise(new Float32Array(20000), 1, 0.5, 2);
    const sd = Math.sqrt(noisy.reduce((s, v) => s + v * v, 0) / noisy.length);
    assert.ok(Math.abs(sd - 0.5) < 0.02, `noise sd ${sd}`);
  });
});

describe('bench:compare smoke run', function () {
  this.timeout(90_000);
  let run: CompareOutput;

  before(async () => {
    const data = join(dir, 'pneumoniamnist.npz');
    makeMedMnistNpz(data, { dataset: 'pneumoniamnist', sizes: { train: 96, val: 16, test: 48 }, seed: 4 });
    run = await runCompare({ dataPath: data, rounds: 2, sites: 3, epochs: 1, seed: 1, modes: [...MODE_NAMES], maxTrainSamples: 24, heBudgetS: 3600, paillierPlaintexts: 2, ckksSlices: 2, dpClip: 1, batchSize: 8 });
  });

  it('writes the JSON exactly as issue 7 specifies, for every mode', () => {
    const json = JSON.parse(run.json) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ['machine', 'rounds', 'd', 'modes']);
    assert.equal(json.d, run.info.parameters);
    assert.equal(typeof json.machine, 'string');
    assert.equal(json.rounds, 2);
    const modes = json.modes as Record<string, unknown>[];
    assert.deepEqual(modes.map((m) => m.mode), [...MODE_NAMES]);
    for (const m of modes) {
      assert.deepEqual(Object.keys(m), ['mode', 'test_auc', 'test_acc', 'train_s', 'protect_s', 'communicate_s', 'aggregate_s', 'unmask_s', 'unprotect_s', 'bytes_per_site', 'extrapolated']);
      for (const k of ['test_auc', 'test_acc', 'train_s', 'protect_s', 'communicate_s', 'aggregate_s', 'unmask_s', 'unprotect_s', 'bytes_per_site'] as const) {
        assert.ok(typeof m[k] === 'number' && Number.isFinite(m[k]) && m[k] >= 0, `${String(m.mode)}.${k} = ${String(m[k])}`);
      }
      assert.ok((m.test_auc as number) <= 1 && (m.test_acc as number) <= 1);
      assert.equal(m.extrapolated, m.mode === 'ckks' || m.mode === 'paillier', `${String(m.mode)} extrapolated flag`);
      assert.equal((m.unmask_s as number) > 0, String(m.mode).endsWith('cryptogram'), `${String(m.mode)} unmask_s`);
    }
  });

  it('the v2 cryptogram trains the same model as plain FedAvg: AUC within 0.001 every round', () => {
    const plain = run.results.modes.find((r) => r.mode === 'plain')!;
    const crypto = run.results.modes.find((r) => r.mode === 'cryptogram')!;
    crypto.auc_per_round.forEach((a, i) => assert.ok(Math.abs(a - plain.auc_per_round[i]!) <= 0.001, `round ${i + 1}: ${a} vs ${plain.auc_per_round[i]}`));
  });

  it('cryptogram, smpc and paillier decode within the quantization bound of float FedAvg every round', () => {
    for (const name of ['cryptogram', 'smpc', 'paillier']) {
      const m = run.results.modes.find((r) => r.mode === name)!;
      assert.ok(m.max_abs_error <= step + 1e-8, `${name}: ${m.max_abs_error}`);
    }
    const ckks = run.results.modes.find((r) => r.mode === 'ckks')!;
    assert.ok(ckks.max_abs_error < 1e-5, `ckks: ${ckks.max_abs_error}`);
    const dp = run.results.modes.find((r) => r.mode === 'dp-eps1')!;
    assert.ok(dp.max_abs_error > 0.1, 'dp noise is visible in the aggregate');
  });

  it('renders the report with ratios and targets, and an SVG chart', () => {
    const md = run.markdown('chart.svg');
    for (const s of ['## Ratios to plain', '## Targets (measured)', '## What each mode protects', 'any site can decrypt any other', 'No network latency', 'ChestMNIST', '| cryptogram |', '| paillier |']) assert.ok(md.includes(s), `report lacks ${s}`);
    assert.match(run.svg, /^<svg[\s\S]*<\/svg>\s*$/);
    assert.ok(run.svg.includes('protect + aggregate + unmask'));
  });

  it('synthetic sizes: costs without AUC (null in the JSON), aggregates still exact, and the report over d', async () => {
    const small = await runCompare({ dataPath: '', rounds: 1, sites: 3, epochs: 1, seed: 2, modes: ['plain', 'cryptogram', 'paillier'], heBudgetS: 3600, paillierPlaintexts: 1, dpClip: 1, params: 3000 });
    const big = await runCompare({ dataPath: '', rounds: 1, sites: 3, epochs: 1, seed: 2, modes: ['plain', 'cryptogram', 'paillier'], heBudgetS: 3600, paillierPlaintexts: 1, dpClip: 1, params: 40000 });
    for (const out of [small, big]) {
      const json = JSON.parse(out.json) as { d: number; modes: { test_auc: unknown; bytes_per_site: number }[] };
      assert.equal(json.d, out.results.d);
      assert.ok(json.modes.every((m) => m.test_auc === null));
      const c = out.results.modes.find((m) => m.mode === 'cryptogram')!;
      assert.ok(c.max_abs_error <= step + 1e-9 && c.max_abs_error > 0);
      assert.equal(out.results.modes.find((m) => m.mode === 'paillier')!.notes[0], `extrapolated from 1 of ${Math.ceil(out.results.d / 63)} plaintexts per site (times and bytes scaled ×${Math.ceil(out.results.d / 63).toFixed(1)})`);
    }
    assert.equal(big.results.modes[0]!.bytes_per_site, 4 * 40000);
    const runs = [small, big, run].map((o) => ({ results: o.results, synthetic: o.info.synthetic, dataset: o.info.dataset, command: 'c', load: 'l', file: 'f' }));
    const md = sizesMarkdown(runs, { commit: 'abc', chartFile: 's.svg', machine: 'm' });
    for (const s of ['synthetic updates: costs only', `CNN, ${run.info.dataset}`, 'extrapolated from 1 of', 'ratio stated (goal is for d ≥ 1e6)', '≤ 2 % of round time']) assert.ok(md.includes(s), `sizes report lacks ${s}`);
    assert.match(await renderSizesChart(runs), /^<svg[\s\S]*<\/svg>\s*$/);
  });

  it('runs on a generated 14-label ChestMNIST-layout file (bigger last layer, multi-label AUC)', async () => {
    const chest = join(dir, 'chestmnist.npz');
    makeMedMnistNpz(chest, { dataset: 'chestmnist', sizes: { train: 60, val: 10, test: 40 }, seed: 6 });
    const out = await runCompare({ dataPath: chest, rounds: 1, sites: 3, epochs: 1, seed: 1, modes: ['plain', 'cryptogram'], maxTrainSamples: 12, heBudgetS: 3600, dpClip: 1, batchSize: 6 });
    const [plain, crypto] = out.results.modes;
    assert.equal(plain!.bytes_per_site, 4 * (run.results.modes[0]!.bytes_per_site / 4 + 13 * 33));
    assert.ok(crypto!.max_abs_error <= step + 1e-8);
    assert.ok(out.markdown('c.svg').includes('chestmnist'));
  });

  it('the CLI rejects an unknown mode with one line and exit code 1', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/compare.ts', '--modes', 'plain,rot13', '--out', dir], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), 'bench:compare: unknown mode "rot13" (known: plain, cryptogram, ckks, paillier, smpc, dp-eps1, dp-eps8, dp-eps1+cryptogram, dp-eps8+cryptogram)');
  });
});
