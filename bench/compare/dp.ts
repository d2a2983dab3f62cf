// dp: Gaussian mechanism on each site's L2-clipped update, then aggregated by an inner mode
// (plain, or cryptogram for "dp+cryptogram").
//
// Accounting: classic Gaussian mechanism (Dwork & Roth, Thm A.1), per site and per round:
// σ = C·sqrt(2·ln(1.25/δ))/ε with L2 sensitivity C (replace-one-site-update neighbourhood: the
// whole clipped update of a site). Valid for ε ≤ 1; at ε = 8 the same formula is used as the
// customary calibration, not a proof. No composition over rounds is claimed.
import { randomBytes } from 'node:crypto';
import { seededRandom } from '../../node/training/index.ts';
import { since, type ProtectionMode, type RoundOutput, type SiteUpdate } from './types.ts';

export function gaussianSigma(epsilon: number, delta: number, clipNorm: number): number {
  if (!(epsilon > 0) || !(delta > 0 && delta < 1) || !(clipNorm > 0)) throw new Error('dp needs ε > 0, 0 < δ < 1, C > 0');
  return (clipNorm * Math.sqrt(2 * Math.log(1.25 / delta))) / epsilon;
}

/** Scales `u` down to L2 norm ≤ C and adds N(0, σ²) per coordinate (Box–Muller, seeded). */
export function clipAndNoise(u: Float32Array, clipNorm: number, sigma: number, seed: number): Float32Array {
  let norm = 0;
  for (let i = 0; i < u.length; i++) norm += u[i]! * u[i]!;
  norm = Math.sqrt(norm);
  const f = norm > clipNorm ? clipNorm / norm : 1;
  const rnd = seededRandom(seed);
  const out = new Float32Array(u.length);
  for (let i = 0; i < u.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rnd()));
    const th = 2 * Math.PI * rnd();
    out[i] = u[i]! * f + sigma * r * Math.cos(th);
    if (i + 1 < u.length) out[i + 1] = u[i + 1]! * f + sigma * r * Math.sin(th);
  }
  return out;
}

export function dpMode(opts: { epsilon: number; delta?: number; clipNorm: number; inner: ProtectionMode; seed?: number }): ProtectionMode {
  const delta = opts.delta ?? 1e-5;
  const sigma = gaussianSigma(opts.epsilon, delta, opts.clipNorm);
  // Fresh noise each run unless a seed is given (tests); the benchmark seeds it for repeatability.
  const base = opts.seed ?? randomBytes(4).readUInt32LE(0);
  const suffix = opts.inner.name === 'plain' ? '' : `+${opts.inner.name}`;
  return {
    name: `dp-eps${opts.epsilon}${suffix}`,
    describe: () =>
      `Gaussian mechanism per site per round: L2 clip C = ${opts.clipNorm}, ε = ${opts.epsilon}, δ = ${delta}, ` +
      `σ = C·sqrt(2 ln(1.25/δ))/ε = ${sigma.toPrecision(4)} per coordinate; then ${opts.inner.name}. Per-round guarantee only.`,
    async aggregate(updates: readonly SiteUpdate[], round: number): Promise<RoundOutput> {
      const t = performance.now();
      const noisy = updates.map((u, k) => ({ ...u, delta: clipAndNoise(u.delta, opts.clipNorm, sigma, base + round * 1000 + k) }));
      const dpS = since(t) / updates.length;
      const out = await opts.inner.aggregate(noisy, round);
      return { ...out, times: { ...out.times, protect: out.times.protect + dpS } };
    },
    dispose: () => opts.inner.dispose?.(),
  };
}
