import assert from 'node:assert/strict';
import {
  buildCryptogram,
  decodeAggregate,
  fedAvgWeights,
  generateEphemeralKeyPair,
  maskSeed,
  ProtocolError,
  quantizationScale,
  quantize,
  roundHalfEven,
  sumCryptograms,
  type AttemptParams,
} from '../../protocol/index.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function setup(n: number, d: number, seed = 1) {
  const r = rng(seed);
  const members = Array.from({ length: n }, (_, i) => ({
    id: `site-${String.fromCharCode(97 + ((i * 7) % 26))}${i}`,
    keys: generateEphemeralKeyPair(),
    samples: 100 + Math.floor(r() * 900),
    update: Float32Array.from({ length: d }, () => (r() - 0.5) * 0.2),
  }));
  const params: AttemptParams = {
    consortium: 'test-consortium',
    round: 3,
    attempt: 0,
    clip: 1,
    participants: members.map((m) => ({ id: m.id, publicKey: m.keys.publicKey, samples: m.samples })),
  };
  return { members, params };
}

describe('protocol: cryptograms', () => {
  it('the sum of cryptograms decodes to the weighted FedAvg delta within n/(2S)', () => {
    for (const n of [2, 3, 5]) {
      const { members, params } = setup(n, 1000, n);
      const cs = members.map((m) => buildCryptogram(params, { id: m.id, secretKey: m.keys.secretKey }, m.update));
      const decoded = decodeAggregate(sumCryptograms(cs), params);
      const w = fedAvgWeights(members.map((m) => m.samples));
      const S = quantizationScale(n, 1);
      let maxErr = 0;
      for (let i = 0; i < 1000; i++) {
        let exact = 0;
        members.forEach((m, j) => (exact += w[j]! * m.update[i]!));
        maxErr = Math.max(maxErr, Math.abs(decoded[i]! - exact));
      }
      assert.ok(maxErr <= n / (2 * S) + 1e-7, `n=${n}: max error ${maxErr} > ${n / (2 * S)}`);
      assert.ok(maxErr > 0 || n === 0);
    }
  });

  it('a single cryptogram reveals nothing like the update (masked words look uniform)', () => {
    const { members, params } = setup(3, 4096);
    const m = members[0]!;
    const c = buildCryptogram(params, { id: m.id, secretKey: m.keys.secretKey }, m.update);
    const q = quantize(m.update, fedAvgWeights(members.map((x) => x.samples))[0]!, 1, quantizationScale(3, 1));
    let equal = 0;
    let high = 0;
    for (let i = 0; i < c.length; i++) {
      if (c[i] === q[i]) equal++;
      if (c[i]! >= 2 ** 31) high++;
    }
    assert.equal(equal, 0);
    assert.ok(Math.abs(high / c.length - 0.5) < 0.05, `high-bit fraction ${high / c.length}`);
  });

  it('a missing member leaves the masks uncancelled; a new attempt uses different masks', () => {
    const { members, params } = setup(3, 256);
    const cs = members.map((m) => buildCryptogram(params, { id: m.id, secretKey: m.keys.secretKey }, m.update));
    const partial = decodeAggregate(sumCryptograms(cs.slice(0, 2)), params);
    // The true weighted average here is within ±0.1; leftover masks decode to ~uniform in ±4.
    const implausible = partial.filter((v) => Math.abs(v) > 0.5).length / partial.length;
    assert.ok(implausible > 0.8, `only ${implausible} of coordinates look masked`);
    const a = members[0]!;
    const b = members[1]!;
    const s0 = maskSeed({ consortium: 'k', round: 1, attempt: 0, selfId: a.id, selfSecret: a.keys.secretKey, peerId: b.id, peerPublic: b.keys.publicKey });
    const s0b = maskSeed({ consortium: 'k', round: 1, attempt: 0, selfId: b.id, selfSecret: b.keys.secretKey, peerId: a.id, peerPublic: a.keys.publicKey });
    const s1 = maskSeed({ consortium: 'k', round: 1, attempt: 1, selfId: a.id, selfSecret: a.keys.secretKey, peerId: b.id, peerPublic: b.keys.publicKey });
    const sk = maskSeed({ consortium: 'k2', round: 1, attempt: 0, selfId: a.id, selfSecret: a.keys.secretKey, peerId: b.id, peerPublic: b.keys.publicKey });
    assert.deepEqual(s0, s0b, 'both ends derive the same seed');
    assert.notDeepEqual(s0, s1, 'attempt is bound into the seed');
    assert.notDeepEqual(s0, sk, 'consortium is bound into the seed');
  });

  it('values beyond the clip are clamped, not wrapped', () => {
    const S = quantizationScale(2, 1);
    const q = quantize(Float32Array.from([5, -5, 0.25]), 1, 1, S);
    assert.equal(q[0]! | 0, S);
    assert.equal(q[1]! | 0, -S);
    assert.equal(q[2]! | 0, S / 4);
  });

  it('rounds half to even', () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 2, -3]);
  });

  it('rejects low-order public keys, non-participants and bad parameters', () => {
    const { members, params } = setup(2, 8);
    const zero = new Uint8Array(32);
    const bad = { ...params, participants: [params.participants[0]!, { ...params.participants[1]!, publicKey: zero }] };
    assert.throws(() => buildCryptogram(bad, { id: members[0]!.id, secretKey: members[0]!.keys.secretKey }, members[0]!.update), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_KEY');
    assert.throws(() => buildCryptogram(params, { id: 'stranger', secretKey: members[0]!.keys.secretKey }, members[0]!.update), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_PARAMS');
    assert.throws(() => quantizationScale(0, 1), ProtocolError);
    assert.throws(() => quantize(Float32Array.from([NaN]), 1, 1, 2), ProtocolError);
  });
});
