// Label-distribution inference from a site's update with a shadow-update regressor (property
// inference as in Ateniese et al. 2015 and Melis et al. 2019, "Exploiting unintended feature
// leakage in collaborative learning", IEEE S&P): the attacker trains updates itself, from the same
// global model with the same plan and the site's announced sample count, on its own images mixed
// at known pneumonia fractions (shadow models: Shokri et al. 2017); the feature of an update is the
// rebuilt model's mean predicted probability on the attacker's probe images; the piecewise-linear
// curve through the shadow points maps the site's feature to its fraction.

export interface ShadowPoint {
  feature: number;
  fraction: number;
}

/** Mean predicted probability: the feature of a rebuilt model on the attacker's probe images. */
export function meanProbability(probs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < probs.length; i++) s += probs[i]!;
  return s / probs.length;
}

export interface ShadowCurve {
  /** Shadow points sorted by feature. */
  points: ShadowPoint[];
  mean: number;
}

/** The calibration curve through the shadow points (piecewise linear, sorted by feature). */
export function fitShadowRegressor(points: readonly ShadowPoint[]): ShadowCurve {
  if (points.length < 2) throw new Error('need at least 2 shadow points');
  const sorted = [...points].sort((a, b) => a.feature - b.feature);
  return { points: sorted, mean: points.reduce((a, p) => a + p.fraction, 0) / points.length };
}

/**
 * The fraction at `feature` on the curve: linear between the two bracketing shadow points,
 * extended along the end segments outside them, clamped to [0, 1]; a non-finite feature (a model
 * with non-finite outputs) gives the mean shadow fraction.
 */
export function estimateFraction(c: ShadowCurve, feature: number): number {
  if (!Number.isFinite(feature)) return c.mean;
  const p = c.points;
  let i = 0;
  while (i < p.length - 2 && feature > p[i + 1]!.feature) i++;
  const a = p[i]!;
  const b = p[i + 1]!;
  const v = b.feature === a.feature ? (a.fraction + b.fraction) / 2 : a.fraction + ((feature - a.feature) * (b.fraction - a.fraction)) / (b.feature - a.feature);
  return Math.min(1, Math.max(0, v));
}

/** Indices into a labelled pool (labels 0/1) giving `n` draws with replacement at fraction `p` of 1s. */
export function mixIndices(labels: ArrayLike<number>, n: number, p: number, rnd: () => number): number[] {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < labels.length; i++) (labels[i] ? pos : neg).push(i);
  const k = Math.round(n * p);
  const pick = (from: number[]) => from[Math.floor(rnd() * from.length)]!;
  const out = [...Array.from({ length: k }, () => pick(pos)), ...Array.from({ length: n - k }, () => pick(neg))];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
