// Fixed-point encoding of a weighted, clipped update into Z_2^32 (the scale and weights of
// protocol v2 are in v2/encoding.ts).
import { fail } from './errors.ts';

/** Round half to even (banker's rounding), on float64. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; fix exact ties to the even neighbour.
  if (Math.abs(x - Math.trunc(x)) === 0.5) return 2 * Math.round(x / 2);
  return r;
}

/** q = roundHalfEven(clamp(w·u, −C, C)·S) mod 2^32, in float64 (float32 values widened first). */
export function quantize(update: Float32Array, weight: number, clip: number, scale: number): Uint32Array {
  if (!(weight >= 0 && weight <= 1)) fail('BAD_PARAMS', `weight must be in [0, 1], got ${weight}`);
  const out = new Uint32Array(update.length);
  for (let i = 0; i < update.length; i++) {
    const u = update[i]!;
    if (u - u !== 0) fail('BAD_PARAMS', `update[${i}] is not finite`); // NaN for ±Infinity and NaN
    // roundHalfEven(clamp(w·u)·S), inlined: Math.round and the tie test took 14 ns a word, this 3.
    // floor(x + 1/2) is Math.round, exact for |x| ≤ 2^31 but for x = 1/2 − 2^−54, where r − x
    // below also reads 1/2; r − x is exact otherwise (|r − x| ≤ 1/2), so r − x = 1/2 is a tie
    // (or that x) and an odd r steps down to the even neighbour.
    const x = Math.max(-clip, Math.min(clip, weight * u)) * scale;
    let r = Math.floor(x + 0.5);
    if (r - x === 0.5 && (r & 1) !== 0) r -= 1;
    out[i] = r >>> 0;
  }
  return out;
}

/** Each word read as int32, divided by S. */
export function dequantize(sum: Uint32Array, scale: number): Float32Array {
  const out = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = (sum[i]! | 0) / scale;
  return out;
}
