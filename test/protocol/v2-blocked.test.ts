// The blocked one-pass cryptogram path of protocol v2 (quantize, keystreams and sums in the
// WebAssembly SIMD kernel, block by block) against the straightforward definition: quantize every
// word, one whole-length AES-256-CTR keystream per mask, sums word by word in JavaScript.
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { BLOCK_BYTES, decodeBlocks, simdAvailable } from '../../protocol/add-kernel.ts';
import { compareIds } from '../../protocol/bytes.ts';
import { quantize, roundHalfEven } from '../../protocol/encoding.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { addKeystreams, quantizeAndMask, sumAndMask, sumAndMaskDecoded } from '../../protocol/masks.ts';
import {
  buildCryptogramV2,
  decodeAggregateOverU3,
  exactScale,
  generateRoundSecrets,
  pairMaskSeed,
  selfMaskKey,
  unmaskAggregate,
  unmaskAndDecodeOverU3,
  type AttemptV2,
  type RoundSecrets,
} from '../../protocol/v2/index.ts';

const W = BLOCK_BYTES / 4;
/** 1 word, around 16-byte and 64-byte steps, around one block, more than two blocks, and random sizes. */
const SIZES = [1, 2, 3, 4, 5, 15, 16, 17, 63, 65, W - 1, W, W + 1, 2 * W + 5, 3 * W, 3 * W + 13, ...Array.from({ length: 4 }, () => 1 + Math.floor(Math.random() * 4 * W))];
const rnd = (n: number) => new Uint8Array(randomBytes(n));

/** The whole mask as little-endian words: AES-256-CTR(key, counter block 0^128) over 4·d zero bytes. */
function maskOf(key: Uint8Array, d: number): Uint32Array {
  const ks = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(4 * d));
  return Uint32Array.from({ length: d }, (_, k) => ks.readUInt32LE(4 * k));
}

/** q = roundHalfEven(clamp(w·u, −C, C)·S) mod 2^32 word by word, as PROTOCOL-v2.md states it. */
function quantizeByDefinition(u: Float32Array, w: number, clip: number, scale: number): Uint32Array {
  return Uint32Array.from(u, (x) => roundHalfEven(Math.min(clip, Math.max(-clip, w * x)) * scale) >>> 0);
}

function addInto(target: Uint32Array, v: Uint32Array, sign: 1 | -1): void {
  for (let k = 0; k < target.length; k++) target[k] = (target[k]! + sign * v[k]!) >>> 0;
}

/** Updates with ties after scaling, values beyond the clip, zeros of both signs and tiny values. */
function updateOf(d: number, seed: number): Float32Array {
  return Float32Array.from({ length: d }, (_, k) => {
    const m = (k + seed) % 6;
    return m === 0 ? (Math.random() - 0.5) * 0.4
      : m === 1 ? (Math.random() < 0.5 ? -1 : 1) * (1 + Math.random()) // clipped
        : m === 2 ? (Math.round((Math.random() - 0.5) * 1e4) + 0.5) * 2 ** -30 // ties at S = 2^29 and w = 1
          : m === 3 ? (k % 2 ? -0 : 0)
            : m === 4 ? (Math.random() - 0.5) * 1e-9
              : Math.sin(k) * 0.05;
  });
}

function attempt(n: number): { att: AttemptV2; ids: string[]; secrets: Map<string, RoundSecrets> } {
  const ids = Array.from({ length: n }, (_, i) => `m${(i * 7) % n}-${'xyz'[i % 3]}`);
  const secrets = new Map(ids.map((id) => [id, generateRoundSecrets()]));
  const att: AttemptV2 = { consortium: 'blocked', round: 3, attempt: 1, clip: 0.25, threshold: Math.ceil(n / 2) + 1, u2: ids.map((id, i) => ({ id, sPublic: secrets.get(id)!.sPublic, samples: 50 + 13 * i })) };
  return { att, ids, secrets };
}

function weightOf(att: AttemptV2, id: string): number {
  const total = att.u2.reduce((s, m) => s + m.samples, 0);
  return att.u2.find((m) => m.id === id)!.samples / total;
}

describe('protocol v2: blocked one-pass cryptograms equal the straightforward definition', () => {
  it('runs the WebAssembly kernel here (else these tests compare the fallback with itself)', () => assert.equal(simdAvailable, true));

  it('buildCryptogramV2 = quantize + self mask + signed pairwise masks, for every member and size', () => {
    for (const [t, d] of SIZES.entries()) {
      const { att, ids, secrets } = attempt(3 + (t % 3));
      const scale = exactScale(ids.length, att.clip);
      for (const id of ids) {
        const s = secrets.get(id)!;
        const u = updateOf(d, t);
        const want = quantizeByDefinition(u, weightOf(att, id), att.clip, scale);
        addInto(want, maskOf(selfMaskKey(att, id, s.selfSeed), d), 1);
        for (const peer of att.u2) {
          if (peer.id === id) continue;
          addInto(want, maskOf(pairMaskSeed(att, id, s.sSecret, peer.id, peer.sPublic), d), compareIds(id, peer.id) < 0 ? 1 : -1);
        }
        assert.deepEqual(buildCryptogramV2(att, { id, ...s }, u), want, `d = ${d}, n = ${ids.length}, member ${id}`);
      }
    }
  });

  it('unmaskAggregate = Σ c_i − Σ self_i ∓ the dropped members\' pair masks, and decodes like the formula', () => {
    for (const [t, d] of SIZES.entries()) {
      const { att, ids, secrets } = attempt(5);
      const cryptograms = new Map(ids.map((id, i) => [id, buildCryptogramV2(att, { id, ...secrets.get(id)! }, updateOf(d, t + i))]));
      const dropped = [ids[t % 5]!, ids[(t + 2) % 5]!]; // two of five dropped: U3 holds 3, so t = 3
      const att3 = { ...att, threshold: 3 };
      const u3 = ids.filter((id) => !dropped.includes(id));
      const selfSeeds = new Map(u3.map((id) => [id, secrets.get(id)!.selfSeed]));
      const droppedSecrets = new Map(dropped.map((id) => [id, secrets.get(id)!.sSecret]));
      const want = new Uint32Array(d);
      for (const i of u3) {
        addInto(want, cryptograms.get(i)!, 1);
        addInto(want, maskOf(selfMaskKey(att, i, secrets.get(i)!.selfSeed), d), -1);
        for (const j of dropped) {
          const seed = pairMaskSeed(att, i, secrets.get(i)!.sSecret, j, secrets.get(j)!.sPublic);
          addInto(want, maskOf(seed, d), compareIds(i, j) < 0 ? -1 : 1);
        }
      }
      const a = unmaskAggregate(att3, u3, cryptograms, selfSeeds, droppedSecrets);
      assert.deepEqual(a, want, `d = ${d}`);
      const scale = exactScale(5, att.clip);
      const n2 = att.u2.reduce((s, m) => s + m.samples, 0);
      const n3 = att.u2.filter((m) => u3.includes(m.id)).reduce((s, m) => s + m.samples, 0);
      const decoded = decodeAggregateOverU3(att3, u3, a);
      assert.deepEqual(decoded, Float32Array.from(a, (w) => (((w | 0) / scale) * n2) / n3), `decode, d = ${d}`);
      // the node's one pass: summed, unmasked and decoded per block, bit for bit the same floats
      assert.deepEqual(unmaskAndDecodeOverU3(att3, u3, cryptograms, selfSeeds, droppedSecrets), decoded, `one pass, d = ${d}`);
    }
  });

  it('sumAndMaskDecoded = decode(sumAndMask) in the kernel and without it, for exact and inexact scales', () => {
    for (const [t, d] of SIZES.entries()) {
      const terms = Array.from({ length: 1 + (t % 4) }, () => new Uint32Array(rnd(4 * d).buffer));
      const keys = Array.from({ length: t % 5 }, () => rnd(32));
      const signs = keys.map(() => (Math.random() < 0.5 ? 1 : -1) as 1 | -1);
      const sum = sumAndMask(terms, keys, signs);
      for (const [scale, n2, n3] of [[2 ** 29, 4711, 3000], [2 ** 3, 7, 7], [1e6, 10, 9], [2 ** -3, 5, 1]] as const) {
        const want = Float32Array.from(sum, (w) => (((w | 0) / scale) * n2) / n3);
        assert.deepEqual(sumAndMaskDecoded(terms, keys, signs, { scale, n2, n3 }), want, `d = ${d}, S = ${scale}`);
        assert.deepEqual(sumAndMaskDecoded(terms, keys, signs, { scale, n2, n3 }, false), want, `fallback, d = ${d}, S = ${scale}`);
      }
    }
  });

  it('quantizeAndMask in the kernel equals quantize + addKeystreams, for any signs, weights, clips and scales', () => {
    for (const [t, d] of SIZES.entries()) {
      const keys = Array.from({ length: t % 5 }, () => rnd(32)); // 0 to 4 masks
      const signs = keys.map(() => (Math.random() < 0.5 ? 1 : -1) as 1 | -1);
      const u = updateOf(d, t);
      for (const [w, clip, scale] of [[1, 1, 2 ** 29], [0.3, 0.25, 2 ** 31 / 0.25 - 2 ** 9], [1 / 3, 2, 2 ** 3], [0, 1, 2 ** 20], [0.7, 1e-3, 1e6]] as const) {
        const want = quantize(u, w, clip, scale);
        addKeystreams(want, keys, signs);
        assert.deepEqual(quantizeAndMask(u, w, clip, scale, keys, signs), want, `d = ${d}, w = ${w}, C = ${clip}, S = ${scale}`);
        assert.deepEqual(quantizeAndMask(u, w, clip, scale, keys, signs, false), want, `fallback, d = ${d}`);
      }
    }
  });

  it('C·S ≥ 2^31 (outside what v2\'s scale allows) still reduces mod 2^32 like quantize', () => {
    const u = Float32Array.from({ length: W + 3 }, (_, k) => (k % 2 ? 1 : -1) * (0.5 + (k % 7) / 10));
    for (const scale of [2 ** 31, 2 ** 33, 3e10]) {
      const key = rnd(32);
      const want = quantize(u, 1, 1, scale);
      addKeystreams(want, [key], [-1]);
      assert.deepEqual(quantizeAndMask(u, 1, 1, scale, [key], [-1]), want, `S = ${scale}`);
    }
  });

  it('a non-finite value anywhere, also in the third block or the last word, is refused with its index', () => {
    const d = 3 * W + 7;
    for (const k of [0, W - 1, W, 2 * W + 9, d - 1]) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const u = updateOf(d, 1);
        u[k] = bad;
        if (k + 5 < d) u[k + 5] = NaN; // a later one must not be the one reported
        assert.throws(() => quantizeAndMask(u, 0.5, 1, 2 ** 20, [rnd(32)], [1]), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_PARAMS' && e.message.includes(`update[${k}] is not finite`), `k = ${k}, ${bad}`);
      }
    }
  });

  it('sumAndMask equals the word-wise sum minus the masks; decodeBlocks equals the formula, also off powers of two', () => {
    for (const [t, d] of SIZES.entries()) {
      const terms = Array.from({ length: 1 + (t % 4) }, () => new Uint32Array(randomBytes(4 * d).buffer.slice(0)));
      const keys = Array.from({ length: t % 3 }, () => rnd(32));
      const signs = keys.map((_, j) => (j % 2 ? 1 : -1) as 1 | -1);
      const want = new Uint32Array(d);
      for (const c of terms) addInto(want, c, 1);
      keys.forEach((key, j) => addInto(want, maskOf(key, d), signs[j]!));
      assert.deepEqual(sumAndMask(terms, keys, signs), want, `d = ${d}`);
      assert.deepEqual(sumAndMask(terms, keys, signs, false), want, `fallback, d = ${d}`);
      want[0] = 0x80000000; // int32 min
      if (d > 1) want[1] = 0x7fffffff;
      for (const [scale, n2, n3] of [[2 ** 29, 1000, 700], [2 ** -3, 3, 3], [3, 10, 9], [2 ** 1023, 5, 1], [2 ** -1074, 7, 2]] as const) {
        const expect = Float32Array.from(want, (w) => (((w | 0) / scale) * n2) / n3);
        assert.deepEqual(decodeBlocks(want, scale, n2, n3), expect, `decode S = ${scale}, d = ${d}`);
        assert.deepEqual(decodeBlocks(want, scale, n2, n3, false), expect);
      }
    }
  });
});
