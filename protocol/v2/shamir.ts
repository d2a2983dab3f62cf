// t-of-n Shamir sharing of 32-byte secrets over GF(2^8), byte by byte (PROTOCOL.md §4).
import { randomBytes } from 'node:crypto';
import { fail } from '../errors.ts';
import { gfDiv, gfMul } from './gf256.ts';

export const SECRET_BYTES = 32;
/** Most subsets a reconstruction tries before it gives up (UNRECOVERABLE): part of the spec. */
export const MAX_SUBSETS = 65536;

export interface Share {
  /** Holder's x: its 1-based position among the manifest's members in UTF-8 byte order. */
  x: number;
  share: Uint8Array;
}

function checkX(x: number): void {
  if (!Number.isInteger(x) || x < 1 || x > 255) fail('BAD_PARAMS', `share x must be 1..255, got ${x}`);
}

/** Uniform coefficients coef_1..coef_{t−1} (32 bytes each, zero bytes allowed) from the CSPRNG. */
export function randomCoefficients(threshold: number): Uint8Array[] {
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > 255) fail('BAD_THRESHOLD', `threshold ${threshold}`);
  return Array.from({ length: threshold - 1 }, () => new Uint8Array(randomBytes(SECRET_BYTES)));
}

/** P_k(x) = secret[k] ⊕ Σ_{e=1}^{t−1} coef_e[k]·x^e, evaluated at each x (Horner). */
export function shareSecret(secret: Uint8Array, coefficients: readonly Uint8Array[], xs: readonly number[]): Uint8Array[] {
  if (secret.length !== SECRET_BYTES) fail('BAD_PARAMS', 'a shared secret is 32 bytes');
  for (const c of coefficients) if (c.length !== SECRET_BYTES) fail('BAD_PARAMS', 'a coefficient is 32 bytes');
  if (new Set(xs).size !== xs.length) fail('BAD_PARAMS', 'duplicate share x');
  return xs.map((x) => {
    checkX(x);
    const out = new Uint8Array(SECRET_BYTES);
    for (let k = 0; k < SECRET_BYTES; k++) {
      let acc = 0;
      for (let e = coefficients.length - 1; e >= 0; e--) acc = gfMul(acc ^ coefficients[e]![k]!, x);
      out[k] = acc ^ secret[k]!;
    }
    return out;
  });
}

/** Lagrange interpolation at 0 from exactly the given shares (distinct x). */
export function interpolateAtZero(shares: readonly Share[]): Uint8Array {
  if (shares.length === 0) fail('BAD_PARAMS', 'no shares');
  const xs = shares.map((s) => s.x);
  if (new Set(xs).size !== xs.length) fail('BAD_SHARE', 'two shares with one x');
  const basis = xs.map((xj, j) => {
    checkX(xj);
    let l = 1;
    for (let m = 0; m < xs.length; m++) if (m !== j) l = gfMul(l, gfDiv(xs[m]!, xs[m]! ^ xj));
    return l;
  });
  const out = new Uint8Array(SECRET_BYTES);
  shares.forEach((s, j) => {
    if (s.share.length !== SECRET_BYTES) fail('BAD_SHARE', 'a share is 32 bytes');
    for (let k = 0; k < SECRET_BYTES; k++) out[k] ^= gfMul(basis[j]!, s.share[k]!);
  });
  return out;
}

/**
 * Reconstructs a secret from ≥ t shares and verifies it. Shares are sorted by x; t-subsets are
 * tried in lexicographic order of their positions in that list, and the first whose secret passes
 * `verify` wins, so every member holding the same shares gets the same secret. Throws
 * UNRECOVERABLE when fewer than t shares, no subset verifies, or MAX_SUBSETS were tried.
 */
export function reconstructVerified(shares: readonly Share[], threshold: number, verify: (secret: Uint8Array) => boolean): { secret: Uint8Array; used: number[]; tried: number } {
  const sorted = [...shares].sort((a, b) => a.x - b.x);
  for (let i = 1; i < sorted.length; i++) if (sorted[i - 1]!.x === sorted[i]!.x) fail('BAD_SHARE', `two shares with x = ${sorted[i]!.x}`);
  if (!Number.isInteger(threshold) || threshold < 1) fail('BAD_THRESHOLD', `threshold ${threshold}`);
  if (sorted.length < threshold) fail('UNRECOVERABLE', `${sorted.length} shares, ${threshold} needed`);
  const idx = Array.from({ length: threshold }, (_, i) => i);
  for (let tried = 1; tried <= MAX_SUBSETS; tried++) {
    const secret = interpolateAtZero(idx.map((i) => sorted[i]!));
    if (verify(secret)) return { secret, used: idx.map((i) => sorted[i]!.x), tried };
    // next combination in lexicographic order
    let p = threshold - 1;
    while (p >= 0 && idx[p] === sorted.length - threshold + p) p--;
    if (p < 0) return fail('UNRECOVERABLE', `no ${threshold}-subset of ${sorted.length} shares gives a verified secret`);
    idx[p]!++;
    for (let q = p + 1; q < threshold; q++) idx[q] = idx[q - 1]! + 1;
  }
  return fail('UNRECOVERABLE', `no verified secret within ${MAX_SUBSETS} subsets`);
}
