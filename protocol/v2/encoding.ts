// Fixed-point encoding of protocol v2: exact scale, FedAvg weights over U2, decoding over U3.
import { decodeBlocks } from '../add-kernel.ts';
import { fail } from '../errors.ts';

const INT31 = 2 ** 31 - 1;

/** C = mantissa · 2^exponent exactly (C a positive finite float64). */
function splitFloat(c: number): { mantissa: bigint; exponent: number } {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, c);
  const bits = dv.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  return biased === 0 ? { mantissa: frac, exponent: -1074 } : { mantissa: frac | (1n << 52n), exponent: biased - 1075 };
}

/** Exactly: n·C·2^e ≤ 2^31 − 1 − n. */
export function scaleFits(participants: number, clip: number, e: number): boolean {
  const { mantissa, exponent } = splitFloat(clip);
  const lhs = BigInt(participants) * mantissa;
  const rhs = BigInt(INT31 - participants);
  const shift = exponent + e;
  return shift >= 0 ? lhs << BigInt(shift) <= rhs : lhs <= rhs << BigInt(-shift);
}

/**
 * S = the largest power of two 2^e with n·C·2^e ≤ 2^31 − 1 − n, decided by that inequality in
 * exact integer arithmetic; Math.log2 only gives the starting guess (it can be one off near powers
 * of two). The − n leaves room for the rounding of n terms of magnitude ≤ C·S.
 */
export function exactScale(participants: number, clip: number): number {
  if (!Number.isInteger(participants) || participants < 1 || participants > 255) fail('BAD_PARAMS', 'participants must be 1..255');
  if (!(clip > 0) || !Number.isFinite(clip)) fail('BAD_PARAMS', 'clip must be a positive finite number');
  const guess = Math.floor(Math.log2((INT31 - participants) / (participants * clip)));
  let e = Number.isFinite(guess) ? Math.max(-1100, Math.min(1100, guess)) : 1100;
  while (!scaleFits(participants, clip, e)) e--;
  while (scaleFits(participants, clip, e + 1)) e++;
  if (e < -1074 || e > 1023) fail('BAD_PARAMS', `scale 2^${e} is not a finite float64`);
  return 2 ** e;
}

/** N2 = Σ n_j and w_i = n_i / N2 over U2 (float64; Σ of ≤ 255 u32 values is exact). */
export function fedAvgWeightsV2(samples: readonly number[]): { total: number; weights: number[] } {
  if (samples.length === 0) fail('BAD_PARAMS', 'no participants');
  let total = 0;
  for (const s of samples) {
    if (!Number.isInteger(s) || s < 1 || s > 0xffffffff) fail('BAD_PARAMS', `sample count must be a u32 ≥ 1, got ${s}`);
    total += s;
  }
  return { total, weights: samples.map((s) => s / total) };
}

/** float32(((int32(A) / S) · N2) / N3), evaluated left to right in float64: the FedAvg delta over U3. */
export function decodeAggregateV2(aggregate: Uint32Array, scale: number, n2: number, n3: number): Float32Array {
  checkDecodeParams({ scale, n2, n3 });
  return decodeBlocks(aggregate, scale, n2, n3);
}

export function checkDecodeParams(p: { scale: number; n2: number; n3: number }): void {
  if (!(p.scale > 0) || !(p.n2 >= 1) || !(p.n3 >= 1) || p.n3 > p.n2) fail('BAD_PARAMS', 'decode needs S > 0 and 1 ≤ N3 ≤ N2');
}
