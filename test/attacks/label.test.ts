import assert from 'node:assert/strict';
import { estimateFraction, fitShadowRegressor, meanProbability, mixIndices } from '../../bench/attacks/label.ts';
import { seededRandom } from '../../node/training/partition.ts';

// Synthetic updates: a logistic model with a bias and one feature weight trained by S steps of
// gradient descent on n images mixed at a pneumonia fraction p; the feature of an update is the
// mean probability of the updated model on a fixed probe set, as in the benchmark.
function trainUpdate(p: number, n: number, rnd: () => number): { db: number; dw: number } {
  const pool = Array.from({ length: 400 }, (_, i) => (i < 250 ? 1 : 0)); // labels of the attacker's pool
  const idx = mixIndices(pool, n, p, rnd);
  const xs = idx.map((i) => (pool[i] ? 0.6 : -0.6) + (rnd() - 0.5)); // a weakly informative feature
  let b = 0;
  let w = 0.1;
  for (let s = 0; s < 20; s++) {
    let gb = 0;
    let gw = 0;
    idx.forEach((i, k) => {
      const z = b + w * xs[k]!;
      const e = 1 / (1 + Math.exp(-z)) - pool[i]!;
      gb += e;
      gw += e * xs[k]!;
    });
    b -= (0.05 * gb) / n;
    w -= (0.05 * gw) / n;
  }
  return { db: b, dw: w - 0.1 };
}

const probe = Array.from({ length: 101 }, (_, i) => -1 + i / 50);
const probs = (b: number, w: number) => probe.map((x) => 1 / (1 + Math.exp(-(b + w * x))));

describe('attacks: label-fraction estimator', () => {
  it('recovers known fractions of synthetic updates within 0.05', () => {
    const rnd = seededRandom(11);
    const feature = (u: { db: number; dw: number }) => meanProbability(probs(u.db, 0.1 + u.dw));
    const shadow = [0.05, 0.275, 0.5, 0.725, 0.95].map((p) => ({ feature: feature(trainUpdate(p, 300, rnd)), fraction: p }));
    const reg = fitShadowRegressor(shadow);
    for (const p of [0.05, 0.3, 0.62, 0.95]) {
      const est = estimateFraction(reg, feature(trainUpdate(p, 300, rnd)));
      assert.ok(Math.abs(est - p) < 0.05, `fraction ${p}: estimate ${est}`);
    }
  });

  it('interpolates between shadow points, gives the shadow mean for a non-finite feature, never leaves [0, 1]', () => {
    const reg = fitShadowRegressor([{ feature: 1, fraction: 0.8 }, { feature: 0, fraction: 0.2 }, { feature: 0.5, fraction: 0.6 }]);
    assert.ok(Math.abs(estimateFraction(reg, NaN) - 1.6 / 3) < 1e-12);
    assert.ok(Math.abs(estimateFraction(reg, 0.25) - 0.4) < 1e-12);
    assert.ok(Math.abs(estimateFraction(reg, 0.75) - 0.7) < 1e-12);
    assert.equal(estimateFraction(reg, 10), 1);
    assert.equal(estimateFraction(reg, -10), 0);
  });

  it('mixIndices draws the requested fraction of positives', () => {
    const labels = Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? 1 : 0));
    const idx = mixIndices(labels, 1000, 0.7, seededRandom(3));
    assert.equal(idx.length, 1000);
    assert.equal(idx.filter((i) => labels[i] === 1).length, 700);
  });
});
