// The block-wise add kernel (WebAssembly SIMD, JavaScript fallback) under every mask and under
// aggregation, and the fast quantize: each must give exactly what the plain definition gives.
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { addBlocks, BLOCK_BYTES, simdAvailable } from '../../protocol/add-kernel.ts';
import { quantize, roundHalfEven } from '../../protocol/encoding.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { addKeystream, addKeystreams, keystream, readWordsLE, sumAndMask, writeWordsLE } from '../../protocol/masks.ts';
import { cryptogramMasksV2, generateRoundSecrets, pairMaskSeed, selfMaskKey, type AttemptV2 } from '../../protocol/v2/index.ts';

const BLOCK_WORDS = BLOCK_BYTES / 4;
const LENGTHS = [0, 1, 3, 4, 5, 17, BLOCK_WORDS - 1, BLOCK_WORDS, BLOCK_WORDS + 1, 3 * BLOCK_WORDS + 7, 100_003];
const randomWords = (n: number) => new Uint32Array(randomBytes(4 * n).buffer.slice(0));

/** target + sign·mask by the definition: AES-256-CTR bytes read one little-endian word at a time. */
function reference(target: Uint32Array, key: Uint8Array, sign: 1 | -1): Uint32Array {
  const ks = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(target.length * 4));
  return target.map((t, i) => (t + sign * ks.readUInt32LE(4 * i)) >>> 0);
}

describe('protocol: mask add kernel and quantize', () => {
  it('runs the WebAssembly SIMD kernel on this Node', () => assert.equal(simdAvailable, true));

  it('addKeystream adds or subtracts the AES-256-CTR words, across block boundaries', () => {
    for (const n of LENGTHS) {
      for (const sign of [1, -1] as const) {
        const key = new Uint8Array(randomBytes(32));
        const t = randomWords(n);
        const want = reference(t, key, sign);
        addKeystream(t, key, sign);
        assert.deepEqual(t, want, `d = ${n}, sign ${sign}`);
      }
    }
  });

  it('addKeystreams equals one addKeystream per key, and the SIMD and JavaScript paths agree', () => {
    for (const n of LENGTHS) {
      const k = 1 + (n % 5);
      const keys = Array.from({ length: k }, () => new Uint8Array(randomBytes(32)));
      const signs = keys.map((_, j) => (j % 3 === 1 ? -1 : 1) as 1 | -1);
      const start = randomWords(n);
      const one = start.slice();
      keys.forEach((key, j) => addKeystream(one, key, signs[j]!));
      const fused = start.slice();
      addKeystreams(fused, keys, signs);
      assert.deepEqual(fused, one, `d = ${n}, ${k} keys`);
      for (const useSimd of [true, false]) {
        const t = start.slice();
        const streams = keys.map((key) => keystream(key, 4 * n));
        addBlocks(t, k, (j, s, len) => streams[j]!.subarray(s, s + len), signs, useSimd);
        assert.deepEqual(t, one, `d = ${n}, simd ${useSimd}`);
      }
    }
  });

  it('a member’s mask keys are its self-mask key (+1) then pairMaskSeed per U2 peer in id order (+ above, − below); no mask with itself', () => {
    const ids = ['b', 'A', 'zz', 'é', 'm'];
    const secrets = new Map(ids.map((id) => [id, generateRoundSecrets()]));
    const att: AttemptV2 = { consortium: 'c', round: 7, attempt: 2, clip: 1, threshold: 3, u2: ids.map((id) => ({ id, sPublic: secrets.get(id)!.sPublic, samples: 10 })) };
    const self = { id: 'm', ...secrets.get('m')! };
    const { keys, signs } = cryptogramMasksV2(att, self);
    const peers = ['A', 'b', 'zz', 'é']; // UTF-8 byte order
    assert.deepEqual(keys, [selfMaskKey(att, 'm', self.selfSeed), ...peers.map((p) => pairMaskSeed(att, 'm', self.sSecret, p, secrets.get(p)!.sPublic))]);
    assert.deepEqual(signs, [1, -1, -1, 1, 1]);
    // the pair seed is symmetric: both ends derive the same key
    assert.deepEqual(pairMaskSeed(att, 'A', secrets.get('A')!.sSecret, 'm', self.sPublic), keys[1]);
    assert.throws(() => pairMaskSeed(att, 'm', self.sSecret, 'm', self.sPublic), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_PARAMS');
  });

  it('refuses mask keys of the wrong size, a sign per key missing, and a wrong sign', () => {
    const bad = (f: () => void) => assert.throws(f, (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_PARAMS');
    bad(() => addKeystream(new Uint32Array(4), new Uint8Array(31), 1));
    bad(() => addKeystreams(new Uint32Array(4), [new Uint8Array(32)], []));
    bad(() => addKeystreams(new Uint32Array(4), [new Uint8Array(32)], [2 as 1]));
  });

  it('sumAndMask without keys equals the word-wise sum mod 2^32, on both paths and for views at any word offset', () => {
    for (const n of LENGTHS) {
      const k = 1 + (n % 4) * 3;
      const backing = randomWords(k * n + 3);
      const cs = Array.from({ length: k }, (_, j) => backing.subarray(1 + j * n, 1 + (j + 1) * n)); // offsets 4 mod 16
      const want = new Uint32Array(n);
      for (const c of cs) for (let i = 0; i < n; i++) want[i] = (want[i]! + c[i]!) >>> 0;
      for (const useKernel of [true, false]) assert.deepEqual(sumAndMask(cs, [], [], useKernel), want, `d = ${n}, ${k} cryptograms, kernel ${useKernel}`);
    }
    assert.throws(() => sumAndMask([new Uint32Array(3), new Uint32Array(4)], [], []));
  });

  it('quantize equals roundHalfEven(clamp(w·u, −C, C)·S) mod 2^32 on ties, near-ties and clip edges', () => {
    const values: number[] = [0, -0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1e-45, -1e-45, 3.4e38, -3.4e38];
    for (let i = 0; i < 20_000; i++) {
      const k = i % 5;
      values.push(
        k === 0 ? (Math.random() - 0.5) * 8
          : k === 1 ? (Math.round((Math.random() - 0.5) * 4000) + 0.5) / 1024 // ties after scaling
            : k === 2 ? (Math.random() - 0.5) * 1e-6
              : k === 3 ? Math.fround(((i % 9) - 4) * 2 ** -21 + 2 ** -24)
                : (Math.random() < 0.5 ? -1 : 1) * (1 + (i % 3) * 2 ** -23), // at and around the clip
      );
    }
    const update = Float32Array.from(values);
    const cases: [number, number, number][] = [
      [1, 1, 2 ** 20], [0.5, 1, 2 ** 10], [1, 0.001, 2 ** 30], [0.3, 2, 2 ** 3], [1, 1, 2 ** 9], [1, 1, 1],
      [0.49999999999999994, 1, 1], [1 / 3, 1, 2 ** 29], [1, 1 + 2 ** -20, 2 ** 30], [0, 1, 2 ** 20],
    ];
    for (const [w, clip, scale] of cases) {
      const got = quantize(update, w, clip, scale);
      for (let i = 0; i < update.length; i++) {
        const v = Math.min(clip, Math.max(-clip, w * update[i]!));
        assert.equal(got[i], roundHalfEven(v * scale) >>> 0, `u = ${update[i]}, w = ${w}, C = ${clip}, S = ${scale}`);
      }
    }
    for (const bad of [NaN, Infinity, -Infinity]) {
      assert.throws(() => quantize(Float32Array.of(0, bad), 1, 1, 2), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_PARAMS');
    }
  });

  it('readWordsLE and writeWordsLE are little-endian copies, from views at any offset', () => {
    const bytes = new Uint8Array(randomBytes(4 * 1001 + 3));
    const view = bytes.subarray(3); // not word-aligned
    const words = readWordsLE(view);
    assert.equal(words.length, 1001);
    for (let i = 0; i < words.length; i++) assert.equal(words[i], Buffer.from(view).readUInt32LE(4 * i));
    const back = writeWordsLE(words.subarray(1));
    assert.deepEqual(back, view.subarray(4, 4 * 1001));
    back[0]! ^= 1;
    assert.equal(view[4], back[0]! ^ 1, 'writeWordsLE copies');
  });
});
