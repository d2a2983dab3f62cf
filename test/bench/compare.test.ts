// Smoke test of the comparison benchmark: every mode on a tiny generated federation, the JSON
// schema of issue 7, the cryptogram aggregate against float FedAvg, and a 14-label data file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attemptScale, quantizationScale } from '../../protocol/index.ts';
import { cryptogramMode } from '../../bench/compare/cryptogram.ts';
import { clipAndNoise, gaussianSigma } from '../../bench/compare/dp.ts';
import { maxDeviation } from '../../bench/compare/harness.ts';
import { pack, packingLayout, unpack } from '../../bench/compare/paillier.ts';
import { plainMode } from '../../bench/compare/plain.ts';
import { MODE_NAMES, runCompare, type CompareOutput } from '../../bench/compare/run.ts';
import { smpcMode } from '../../bench/compare/smpc.ts';
import type { SiteUpdate } from '../../bench/compare/types.ts';
import { seededRandom } from '../../node/training/index.ts';
import { makeMedMnistNpz } from '../helpers/medmnist-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'flnode-compare-'));

function updates(d: number, seed: number): SiteUpdate[] {
  const rnd = seededRandom(seed);
  return [300, 200, 101].map((samples, k) => ({ id: `site-${k}`, samples, delta: Float32Array.from({ length: d }, () => (rnd() - 0.5) * 0.2) }));
}

describe('bench:compare modes', () => {
  it('cryptogram and smpc decode to float FedAvg within the quantization bound n/(2S), plain within float32 rounding', async () => {
    const ups = updates(5000, 3);
    const bound = 3 / (2 * quantizationScale(3, 1)) + 1e-7 * 0.1; // + float32 rounding of |values| ≤ 0.1
    for (const mode of [cryptogramMode(), smpcMode()]) {
      const out = await mode.aggregate(ups, 1);
      const err = maxDeviation(out.aggregate, ups);
      assert.ok(err <= bound, `${mode.name}: ${err} > ${bound}`);
      assert.ok(err > 0, `${mode.name}: quantization should leave a trace`);
    }
    const plain = await plainMode().aggregate(ups, 1);
    assert.ok(maxDeviation(plain.aggregate, ups) <= 1e-7 * 0.1 * 3);
  });

  it('cryptogram bytes per site are fewer than smpc for n = 3, and both count what is sent', async () => {
    const ups = updates(4096, 5);
    const c = await cryptogramMode().aggregate(ups, 2);
    const s = await smpcMode().aggregate(ups, 2);
    assert.ok(c.bytesPerSite >= 4 * 4096 && c.bytesPerSite < 4 * 4096 + 1024, `cryptogram bytes ${c.bytesPerSite}`);
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
    assert.deepEqual(Object.keys(json), ['machine', 'rounds', 'modes']);
    assert.equal(typeof json.machine, 'string');
    assert.equal(json.rounds, 2);
    const modes = json.modes as Record<string, unknown>[];
    assert.deepEqual(modes.map((m) => m.mode), [...MODE_NAMES]);
    for (const m of modes) {
      assert.deepEqual(Object.keys(m), ['mode', 'test_auc', 'test_acc', 'train_s', 'protect_s', 'communicate_s', 'aggregate_s', 'unprotect_s', 'bytes_per_site', 'extrapolated']);
      for (const k of ['test_auc', 'test_acc', 'train_s', 'protect_s', 'communicate_s', 'aggregate_s', 'unprotect_s', 'bytes_per_site'] as const) {
        assert.ok(typeof m[k] === 'number' && Number.isFinite(m[k]) && m[k] >= 0, `${String(m.mode)}.${k} = ${String(m[k])}`);
      }
      assert.ok((m.test_auc as number) <= 1 && (m.test_acc as number) <= 1);
      assert.equal(m.extrapolated, m.mode === 'ckks' || m.mode === 'paillier', `${String(m.mode)} extrapolated flag`);
    }
  });

  it('cryptogram, smpc and paillier decode within the quantization bound of float FedAvg every round', () => {
    const bound = 3 / (2 * attemptScale({ consortium: 'x', round: 1, attempt: 0, clip: 1, participants: [1, 2, 3].map((i) => ({ id: `s${i}`, publicKey: new Uint8Array(32), samples: 1 })) }));
    for (const name of ['cryptogram', 'smpc', 'paillier']) {
      const m = run.results.modes.find((r) => r.mode === name)!;
      assert.ok(m.max_abs_error <= bound + 1e-8, `${name}: ${m.max_abs_error}`);
    }
    const ckks = run.results.modes.find((r) => r.mode === 'ckks')!;
    assert.ok(ckks.max_abs_error < 1e-5, `ckks: ${ckks.max_abs_error}`);
    const dp = run.results.modes.find((r) => r.mode === 'dp-eps1')!;
    assert.ok(dp.max_abs_error > 0.1, 'dp noise is visible in the aggregate');
  });

  it('renders the report with ratios and targets, and an SVG chart', () => {
    const md = run.markdown('chart.svg');
    for (const s of ['## Ratios to plain', '## Targets (measured)', 'No network latency', 'ChestMNIST', '| cryptogram |', '| paillier |']) assert.ok(md.includes(s), `report lacks ${s}`);
    assert.match(run.svg, /^<svg[\s\S]*<\/svg>\s*$/);
    assert.ok(run.svg.includes('protect + aggregate'));
  });

  it('runs on a generated 14-label ChestMNIST-layout file (bigger last layer, multi-label AUC)', async () => {
    const chest = join(dir, 'chestmnist.npz');
    makeMedMnistNpz(chest, { dataset: 'chestmnist', sizes: { train: 60, val: 10, test: 40 }, seed: 6 });
    const out = await runCompare({ dataPath: chest, rounds: 1, sites: 3, epochs: 1, seed: 1, modes: ['plain', 'cryptogram'], maxTrainSamples: 12, heBudgetS: 3600, dpClip: 1, batchSize: 6 });
    const [plain, crypto] = out.results.modes;
    assert.equal(plain!.bytes_per_site, 4 * (run.results.modes[0]!.bytes_per_site / 4 + 13 * 33));
    assert.ok(crypto!.max_abs_error <= 3 / (2 * quantizationScale(3, 1)) + 1e-8);
    assert.ok(out.markdown('c.svg').includes('chestmnist'));
  });

  it('the CLI rejects an unknown mode with one line and exit code 1', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/compare.ts', '--modes', 'plain,rot13', '--out', dir], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), 'bench:compare: unknown mode "rot13" (known: plain, cryptogram, ckks, paillier, smpc, dp-eps1, dp-eps8, dp-eps1+cryptogram, dp-eps8+cryptogram)');
  });
});
