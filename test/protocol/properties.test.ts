import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  buildCryptogram,
  decodeAggregate,
  fedAvgWeights,
  generateEphemeralKeyPair,
  quantizationScale,
  sharedSecret,
  sumCryptograms,
  ProtocolError,
  type AttemptParams,
} from '../../protocol/index.ts';

describe('protocol: properties', () => {
  it('for n in 2..20, Σ cryptograms decodes to the clipped weighted sum within n/(2S); without any one it is useless', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 20 }),
        fc.integer({ min: 1, max: 64 }),
        fc.double({ min: 0.01, max: 4, noNaN: true }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (n, d, clip, seed) => {
          let s = seed;
          const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
          const members = Array.from({ length: n }, (_, i) => ({
            id: `m${i}`,
            keys: generateEphemeralKeyPair(),
            samples: 1 + Math.floor(rnd() * 5000),
            update: Float32Array.from({ length: d }, () => (rnd() - 0.5) * 4 * clip * n),
          }));
          const params: AttemptParams = { consortium: 'p', round: seed, attempt: 0, clip, participants: members.map((m) => ({ id: m.id, publicKey: m.keys.publicKey, samples: m.samples })) };
          const cs = members.map((m) => buildCryptogram(params, { id: m.id, secretKey: m.keys.secretKey }, m.update));
          const decoded = decodeAggregate(sumCryptograms(cs), params);
          const w = fedAvgWeights(members.map((m) => m.samples));
          const S = quantizationScale(n, clip);
          for (let k = 0; k < d; k++) {
            let exact = 0;
            members.forEach((m, j) => (exact += Math.min(clip, Math.max(-clip, w[j]! * m.update[k]!))));
            // float32 output adds its own rounding on top of the n/(2S) quantization bound
            assert.ok(Math.abs(decoded[k]! - exact) <= n / (2 * S) + Math.abs(exact) * 2 ** -23 + 1e-12);
          }
          const drop = seed % n;
          const partial = decodeAggregate(sumCryptograms(cs.filter((_, i) => i !== drop)), params);
          const implausible = partial.filter((v) => Math.abs(v) > clip).length;
          // leftover masks make ~3/4 of coordinates exceed the clip; a real partial sum never does
          assert.ok(d < 8 || implausible >= d / 4, `dropping one left ${implausible}/${d} implausible coordinates`);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a cryptogram of an all-zero update passes a chi-square uniformity test on its bytes', () => {
    const n = 3;
    const members = Array.from({ length: n }, (_, i) => ({ id: `z${i}`, keys: generateEphemeralKeyPair() }));
    const params: AttemptParams = { consortium: 'chi', round: 1, attempt: 0, clip: 1, participants: members.map((m) => ({ id: m.id, publicKey: m.keys.publicKey, samples: 10 })) };
    const c = buildCryptogram(params, { id: 'z1', secretKey: members[1]!.keys.secretKey }, new Float32Array(65536));
    const bytes = new Uint8Array(c.buffer);
    const counts = new Array(256).fill(0);
    for (const b of bytes) counts[b]++;
    const expected = bytes.length / 256;
    const chi2 = counts.reduce((s, o) => s + (o - expected) ** 2 / expected, 0);
    // 255 degrees of freedom: the 0.999 quantile is ≈ 330.5
    assert.ok(chi2 < 330.5, `chi-square ${chi2.toFixed(1)} rejects uniformity`);
  });

  it('refuses every RFC 7748 low-order public key with a typed error', () => {
    const lowOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ];
    const { secretKey } = generateEphemeralKeyPair();
    for (const hex of lowOrder) {
      assert.throws(() => sharedSecret(secretKey, Uint8Array.from(Buffer.from(hex, 'hex'))), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_KEY', hex);
    }
    assert.throws(() => sharedSecret(secretKey, new Uint8Array(31)), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_KEY');
  });
});
