// Protocol v2 as pure functions: Shamir over GF(2^8), share encryption and complaints, masks,
// encoding, and the attacks the construction must defeat (each written as the attack).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { compareIds, fromHex, quantize, roundHalfEven, x25519PublicKey } from '../../protocol/index.ts';
import {
  buildCryptogramV2,
  checkReveal,
  checkSamples,
  checkX25519Public,
  collusionBound,
  computeShares,
  consentCount,
  dealShares,
  decodeAggregateOverU3,
  decodeAggregateV2,
  defaultThreshold,
  exactScale,
  gfInv,
  gfMul,
  generateRoundSecrets,
  interpolateAtZero,
  judgeComplaint,
  openShares,
  pairMaskSeed,
  quantizeV2,
  randomCoefficients,
  reconstructVerified,
  recoverMaskSecret,
  recoverSelfSeed,
  revealFor,
  scaleFits,
  selfCommit,
  selfMaskKey,
  shareCommitment,
  shareKey,
  shareSecret,
  shareXs,
  unmaskAggregate,
  validateThreshold,
  verifySelfSeed,
  type AttemptV2,
  type HeldShare,
  type RoundSecrets,
} from '../../protocol/v2/index.ts';
import { addKeystream } from '../../protocol/masks.ts';
import { errorCode } from '../helpers/protocol-error-code.ts';

const code = errorCode;
const rnd = (n: number) => new Uint8Array(randomBytes(n));
const ref = { consortium: 'k-v2', round: 9, attempt: 2 };

/** A simulated attempt: every member's secrets, dealt shares, update and cryptogram. */
function simulate(ids: string[], threshold: number, clip = 0.5, d = 300) {
  const xs = shareXs(ids);
  const secrets = new Map<string, RoundSecrets>(ids.map((id) => [id, generateRoundSecrets()]));
  const samples = new Map(ids.map((id, i) => [id, 100 + 37 * i]));
  const updates = new Map(ids.map((id, i) => [id, Float32Array.from({ length: d }, (_, k) => Math.fround(Math.sin(k * 0.37 + i) * 0.2))]));
  const att: AttemptV2 = { ...ref, clip, threshold, u2: ids.map((id) => ({ id, sPublic: secrets.get(id)!.sPublic, samples: samples.get(id)! })) };
  // held.get(holder).get(owner) = holder's shares of owner's secrets
  const held = new Map(ids.map((id) => [id, new Map<string, { s: Uint8Array; b: Uint8Array }>()]));
  for (const owner of ids) {
    const sh = computeShares(secrets.get(owner)!, { s: randomCoefficients(threshold), b: randomCoefficients(threshold) }, xs, ids);
    for (const [holder, v] of sh) held.get(holder)!.set(owner, v);
  }
  const crypt = (u2ids: string[], id: string) =>
    buildCryptogramV2({ ...att, u2: att.u2.filter((m) => u2ids.includes(m.id)) }, { id, ...secrets.get(id)! }, updates.get(id)!);
  const cryptograms = new Map(ids.map((id) => [id, crypt(ids, id)]));
  return { ids, xs, secrets, samples, updates, att, held, cryptograms, crypt };
}
type Sim = ReturnType<typeof simulate>;

/** Shares of `owner` (kind) revealed by `holders`, with the commitments the dealing carried. */
function revealed(sim: Sim, owner: string, kind: 's' | 'b', holders: string[]): HeldShare[] {
  return holders.map((holder) => {
    const share = sim.held.get(holder)!.get(owner)![kind];
    return { holder, x: sim.xs.get(holder)!, share, commitment: shareCommitment(ref, owner, holder, kind, share) };
  });
}

/** Strips every mask of `id` that the given secrets allow: self mask (b) and pairwise masks (s_sk). */
function strip(sim: Sim, id: string, c: Uint32Array, u2ids: string[], b: Uint8Array | null, sSecret: Uint8Array): Uint32Array {
  const out = c.slice();
  if (b) addKeystream(out, selfMaskKey(ref, id, b), -1);
  for (const j of u2ids) {
    if (j === id) continue;
    addKeystream(out, pairMaskSeed(ref, id, sSecret, j, sim.secrets.get(j)!.sPublic), compareIds(id, j) < 0 ? -1 : 1);
  }
  return out;
}

describe('protocol v2: GF(2^8) and Shamir', () => {
  it('multiplies in the AES field (FIPS-197 example 0x57·0x83 = 0xc1) and inverts every non-zero element', () => {
    assert.equal(gfMul(0x57, 0x83), 0xc1);
    assert.equal(gfMul(0x57, 0x13), 0xfe);
    for (let a = 1; a < 256; a++) assert.equal(gfMul(a, gfInv(a)), 1, `inverse of ${a}`);
  });

  it('any t of n shares give the secret back; t − 1 shares are consistent with every secret byte', () => {
    const secret = rnd(32);
    const coef = randomCoefficients(4);
    const xs = [1, 2, 3, 4, 5, 6, 7];
    const shares = shareSecret(secret, coef, xs).map((share, i) => ({ x: xs[i]!, share }));
    for (const pick of [[0, 1, 2, 3], [3, 4, 5, 6], [0, 2, 4, 6], [1, 3, 5, 6]]) {
      assert.deepEqual(interpolateAtZero(pick.map((i) => shares[i]!)), secret);
    }
    // With 3 shares, for any candidate secret there is a degree-3 polynomial through them: the
    // 3 shares plus (0, candidate) interpolate to it, so they say nothing about the secret.
    const three = shares.slice(0, 3);
    for (const candidate of [new Uint8Array(32), new Uint8Array(32).fill(0xff), rnd(32)]) {
      const through = { x: 9, share: lagrangeAt(9, [...three, { x: 0, share: candidate }]) };
      assert.deepEqual(interpolateAtZero([...three, through]), candidate);
    }
  });

  it('with more than t shares a bad one is found by the fixed subset order; every order of input gives the same secret', () => {
    const s = generateRoundSecrets();
    const xs = [1, 2, 3, 4, 5];
    const shares = shareSecret(s.sSecret, randomCoefficients(3), xs).map((share, i) => ({ x: xs[i]!, share }));
    shares[1] = { x: 2, share: rnd(32) }; // a bad share at x = 2
    const verify = (k: Uint8Array) => Buffer.from(x25519PublicKey(k)).equals(Buffer.from(s.sPublic));
    const r = reconstructVerified(shares, 3, verify);
    assert.deepEqual(r.secret, s.sSecret);
    assert.deepEqual(r.used, [1, 3, 4], 'the first subset in lexicographic order that avoids x = 2');
    assert.equal(r.tried, 4, '{1,2,3} {1,2,4} {1,2,5} fail, {1,3,4} verifies');
    assert.deepEqual(reconstructVerified([...shares].reverse(), 3, verify), r);
  });

  it('a reconstructed secret that fails verification is rejected, never returned', () => {
    const s = generateRoundSecrets();
    const commit = selfCommit(s.selfSeed);
    const shares = shareSecret(s.selfSeed, randomCoefficients(3), [1, 2, 3]).map((share, i) => ({ x: i + 1, share }));
    shares[2]!.share[0]! ^= 1;
    assert.equal(code(() => reconstructVerified(shares, 3, (b) => verifySelfSeed(b, commit))), 'UNRECOVERABLE');
    assert.equal(code(() => reconstructVerified(shares.slice(0, 2), 3, () => true)), 'UNRECOVERABLE');
  });
});

/** Lagrange evaluation at x (test helper, through interpolateAtZero by shifting points). */
function lagrangeAt(x: number, points: { x: number; share: Uint8Array }[]): Uint8Array {
  // P(x) = Σ y_j Π (x − x_m)/(x_j − x_m); in GF(2^8) subtraction is XOR.
  const out = new Uint8Array(32);
  points.forEach((pj, j) => {
    let l = 1;
    points.forEach((pm, m) => {
      if (m !== j) l = gfMul(l, gfMul(x ^ pm.x, gfInv(pj.x ^ pm.x)));
    });
    for (let k = 0; k < 32; k++) out[k]! ^= gfMul(l, pj.share[k]!);
  });
  return out;
}

describe('protocol v2: share encryption, commitments, complaints', () => {
  const ids = ['m1', 'm2', 'm3', 'm4'];
  const xs = shareXs(ids);
  const sec = new Map(ids.map((id) => [id, generateRoundSecrets()]));
  const cPublicOf = (id: string) => sec.get(id)!.cPublic;
  const shares = computeShares(sec.get('m1')!, { s: randomCoefficients(3), b: randomCoefficients(3) }, xs, ids);
  const dealing = dealShares(ref, { id: 'm1', cSecret: sec.get('m1')!.cSecret }, shares, cPublicOf);

  it('deals 80-byte ciphertexts to every other member, which open to the committed shares', () => {
    assert.deepEqual(dealing.map((e) => e.to), ['m2', 'm3', 'm4']);
    for (const e of dealing) {
      assert.equal(e.ciphertext.length, 80);
      const opened = openShares(ref, { id: e.to, cSecret: sec.get(e.to)!.cSecret }, { id: 'm1', cPublic: cPublicOf('m1') }, e);
      assert.deepEqual(opened, shares.get(e.to));
    }
  });

  it('a share bound to another recipient, attempt or tampered byte does not open', () => {
    const e = dealing[0]!;
    const wrongRecipient = { ...e, to: 'm3' };
    assert.equal(code(() => openShares(ref, { id: 'm3', cSecret: sec.get('m3')!.cSecret }, { id: 'm1', cPublic: cPublicOf('m1') }, wrongRecipient)), 'BAD_SHARE');
    assert.equal(code(() => openShares({ ...ref, attempt: 3 }, { id: 'm2', cSecret: sec.get('m2')!.cSecret }, { id: 'm1', cPublic: cPublicOf('m1') }, e)), 'BAD_SHARE');
    const flipped = { ...e, ciphertext: e.ciphertext.slice() };
    flipped.ciphertext[5]! ^= 1;
    assert.equal(code(() => openShares(ref, { id: 'm2', cSecret: sec.get('m2')!.cSecret }, { id: 'm1', cPublic: cPublicOf('m1') }, flipped)), 'BAD_SHARE');
  });

  it('complaints: a share missing its commitment is proven, a garbage key is unproven, a false complaint is refused', () => {
    const key = (to: string) => shareKey(ref, 'm1', to, sec.get(to)!.cSecret, cPublicOf('m1'));
    // a dealer that commits to one share and encrypts another
    const bad = { ...dealing[1]!, sCommit: shareCommitment(ref, 'm1', 'm3', 's', rnd(32)) };
    assert.equal(judgeComplaint(ref, 'm1', bad, key('m3')), 'proven');
    assert.equal(judgeComplaint(ref, 'm1', dealing[1]!, rnd(32)), 'unproven');
    assert.equal(code(() => judgeComplaint(ref, 'm1', dealing[1]!, key('m3'))), 'BAD_COMPLAINT');
    // the pair key opens only its own direction: key(m1→m3) is not key(m3→m1)
    assert.notDeepEqual(shareKey(ref, 'm3', 'm1', sec.get('m3')!.cSecret, cPublicOf('m1')), key('m3'));
  });

  it('refuses low-order public keys (BAD_KEY) everywhere a key enters', () => {
    const lowOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ].map(fromHex);
    const me = generateRoundSecrets();
    for (const pk of lowOrder) {
      assert.equal(code(() => checkX25519Public(pk)), 'BAD_KEY');
      assert.equal(code(() => pairMaskSeed(ref, 'a', me.sSecret, 'b', pk)), 'BAD_KEY');
      assert.equal(code(() => shareKey(ref, 'a', 'b', me.cSecret, pk)), 'BAD_KEY');
    }
    checkX25519Public(me.sPublic);
    assert.equal(code(() => checkX25519Public(me.sPublic.subarray(0, 31))), 'BAD_KEY');
  });
});

describe('protocol v2: manifest rules', () => {
  it('refuses t < ceil(N/2)+1, t < 3, t > N, N < 3 and N > 255; defaults to max(3, floor(2N/3)+1)', () => {
    assert.equal(code(() => validateThreshold(5, 3)), 'BAD_THRESHOLD');
    assert.equal(code(() => validateThreshold(7, 4)), 'BAD_THRESHOLD');
    assert.equal(code(() => validateThreshold(4, 2)), 'BAD_THRESHOLD');
    assert.equal(code(() => validateThreshold(3, 4)), 'BAD_THRESHOLD');
    assert.equal(code(() => validateThreshold(2, 2)), 'BAD_THRESHOLD');
    assert.equal(code(() => validateThreshold(256, 200)), 'BAD_THRESHOLD');
    for (const [n, t] of [[3, 3], [5, 4], [7, 5], [4, 3], [255, 129]] as const) validateThreshold(n, t);
    assert.deepEqual([3, 4, 5, 6, 7, 10, 255].map(defaultThreshold), [3, 3, 4, 5, 5, 7, 171]);
    for (let n = 3; n <= 255; n++) validateThreshold(n, defaultThreshold(n));
  });

  it('the collusion bound min(2t − N − 1, t − 2): 3 of 3 → 1, 4 of 5 → 2, 5 of 7 → 2', () => {
    assert.deepEqual([collusionBound(3, 3), collusionBound(5, 4), collusionBound(7, 5), collusionBound(5, 5)], [1, 2, 2, 3]);
  });

  it('weight inflation: a sample count above the certified maxSamples is refused', () => {
    checkSamples(1000, 1000);
    assert.equal(code(() => checkSamples(1001, 1000)), 'OVER_MAX_SAMPLES');
    assert.equal(code(() => checkSamples(0xffffffff, 5000)), 'OVER_MAX_SAMPLES');
    assert.equal(code(() => checkSamples(0, 5000)), 'BAD_PARAMS');
  });

  it('ids with a 0x00 byte and duplicate ids are refused; x is the 1-based UTF-8 byte position', () => {
    assert.equal(code(() => shareXs(['a', 'b\u0000c', 'd'])), 'BAD_PARAMS');
    assert.equal(code(() => shareXs(['a', 'a', 'b'])), 'BAD_PARAMS');
    assert.deepEqual([...shareXs(['é', 'Z', 'a'])], [['Z', 1], ['a', 2], ['é', 3]]);
  });
});

/** The scale protocol v1 used, 2^floor(log2((2^31 − 1)/(n·C))): no room for rounding, float log2. */
const floorLogScale = (n: number, clip: number) => 2 ** Math.floor(Math.log2((2 ** 31 - 1) / (n * clip)));

describe('protocol v2: encoding at the rounding edge', () => {
  it('n = 2, C = (2^31−1)/2^21: v1 decodes +2048 as −2048, the exact scale decodes +2048', () => {
    const clip = (2 ** 31 - 1) / 2 ** 21;
    const big = Float32Array.of(1e9);
    const v1s = floorLogScale(2, clip);
    const v1 = (quantize(big, 0.5, clip, v1s)[0]! + quantize(big, 0.5, clip, v1s)[0]!) >>> 0;
    assert.equal((v1 | 0) / v1s, -2048, 'the v1 scale wraps');
    const s = exactScale(2, clip);
    assert.equal(s, 2 ** 19);
    const q = (quantize(big, 0.5, clip, s)[0]! + quantize(big, 0.5, clip, s)[0]!) >>> 0;
    assert.equal(decodeAggregateV2(Uint32Array.of(q), s, 2, 2)[0], 2048);
  });

  it('exactScale refuses bad inputs with typed errors, also at the ends of the float64 range', () => {
    assert.equal(code(() => exactScale(3, 0)), 'BAD_PARAMS');
    assert.equal(code(() => exactScale(3, Number.NaN)), 'BAD_PARAMS');
    assert.equal(code(() => exactScale(0, 1)), 'BAD_PARAMS');
    assert.equal(code(() => exactScale(3, Number.MIN_VALUE)), 'BAD_PARAMS', 'S would not be a finite float64');
    assert.equal(exactScale(3, 1e6), 2 ** 9);
  });

  it('for 3..255 members and clips at every power-of-two edge, n terms of ±roundHalfEven(C·S) never wrap int32 (the v1 scale does)', () => {
    let v1Wraps = 0;
    for (let n = 3; n <= 255; n += 7) {
      for (let e = -20; e <= 20; e++) {
        for (const [edge, nudge] of [2 ** 31 - 1 - n, 2 ** 31 - 1].flatMap((limit) => [-2, -1, 0, 1, 2].map((k) => [limit / (n * 2 ** e), k] as const))) {
          const clip = edge + nudge * edge * 2 ** -52;
          const s = exactScale(n, clip);
          // |v·S| ≤ C·S and rounding is monotone: no term exceeds roundHalfEven(C·S)
          assert.ok(n * roundHalfEven(clip * s) <= 2 ** 31 - 1, `n=${n} C=${clip}`);
          assert.ok(!scaleFits(n, clip, Math.log2(s) + 1), 'S is the largest power of two that fits');
          const s1 = floorLogScale(n, clip);
          if (n * roundHalfEven(clip * s1) > 2 ** 31 - 1) v1Wraps++;
        }
      }
    }
    assert.ok(v1Wraps > 0, 'the sweep reaches edges where the v1 scale overflows');
  });
});

describe('protocol v2: double masking end to end and its attacks', () => {
  it('unmasking with U2 \\ U3 dropouts recovers exactly Σ_{U3} q_i, and decodes to the FedAvg over U3', () => {
    const sim = simulate(['s1', 's2', 's3', 's4', 's5'], 4);
    const u3 = ['s1', 's2', 's4', 's5'];
    const selfSeeds = new Map(u3.map((id) => [id, recoverSelfSeed(ref, id, selfCommit(sim.secrets.get(id)!.selfSeed), revealed(sim, id, 'b', u3), 4)]));
    const dropped = new Map([['s3', recoverMaskSecret(ref, 's3', sim.secrets.get('s3')!.sPublic, revealed(sim, 's3', 's', u3), 4)]]);
    const a = unmaskAggregate(sim.att, u3, sim.cryptograms, selfSeeds, dropped);
    const expect = new Uint32Array(a.length);
    for (const id of u3) quantizeV2(sim.att, id, sim.updates.get(id)!).forEach((q, k) => (expect[k] = (expect[k]! + q) >>> 0));
    assert.deepEqual(a, expect);
    const decoded = decodeAggregateOverU3(sim.att, u3, a);
    const n3 = u3.reduce((s, id) => s + sim.samples.get(id)!, 0);
    const n2 = n3 + sim.samples.get('s3')!;
    const tol = (u3.length / (2 * exactScale(5, 0.5))) * (n2 / n3) + 1e-7;
    for (let k = 0; k < a.length; k++) {
      const fedAvg = u3.reduce((s, id) => s + (sim.samples.get(id)! / n3) * sim.updates.get(id)![k]!, 0);
      assert.ok(Math.abs(decoded[k]! - fedAvg) <= tol, `coordinate ${k}: ${decoded[k]} vs ${fedAvg}`);
    }
    assert.equal(code(() => unmaskAggregate(sim.att, ['s1', 's2', 's4'], sim.cryptograms, selfSeeds, dropped)), 'BAD_THRESHOLD', 'no aggregate over fewer than t');
  });

  it('a late site (U2 \\ U3): everything the reveals allow leaves its cryptogram masked by its self mask', () => {
    const sim = simulate(['s1', 's2', 's3', 's4', 's5'], 4);
    const u2 = sim.ids;
    const u3 = ['s1', 's2', 's4', 's5'];
    // every member of U3 reveals what the rules give for this U3; the late site's cryptogram arrives too
    const reveals = u3.map((h) => ({ holder: h, shares: revealFor(u2, u3, sim.held.get(h)!) }));
    for (const r of reveals) {
      checkReveal(u2, u3, r.shares);
      assert.ok(!r.shares.some((s) => s.owner === 's3' && s.kind === 'b'), 'nobody reveals b of a member outside U3');
    }
    const bShares = reveals.flatMap((r) => r.shares.filter((s) => s.owner === 's3' && s.kind === 'b'));
    assert.equal(bShares.length, 0);
    const sLate = recoverMaskSecret(ref, 's3', sim.secrets.get('s3')!.sPublic, revealed(sim, 's3', 's', u3), 4);
    const stripped = strip(sim, 's3', sim.cryptograms.get('s3')!, u2, null, sLate);
    const q = quantizeV2(sim.att, 's3', sim.updates.get('s3')!);
    const equalWords = stripped.reduce((n, w, k) => n + (w === q[k] ? 1 : 0), 0);
    assert.ok(equalWords <= 2, `${equalWords} of ${q.length} words of the late update exposed`);
    // what remains is exactly q + self mask: the self mask alone hides it (checked with the real b)
    assert.deepEqual(strip(sim, 's3', sim.cryptograms.get('s3')!, u2, sim.secrets.get('s3')!.selfSeed, sLate), q);
    // and the b-shares of s3 (one per member) number fewer than t in the hands of any one party
    assert.equal(code(() => recoverSelfSeed(ref, 's3', selfCommit(sim.secrets.get('s3')!.selfSeed), revealed(sim, 's3', 'b', ['s3']), 4)), 'UNRECOVERABLE');
  });

  it('a reveal with both kinds for one owner, or the wrong kind for the U3, is refused', () => {
    const u2 = ['a', 'b', 'c', 'd'];
    const u3 = ['a', 'b', 'c'];
    const s = rnd(32);
    assert.equal(code(() => checkReveal(u2, u3, [{ owner: 'd', kind: 's', share: s }, { owner: 'd', kind: 'b', share: s }])), 'MALFORMED');
    assert.equal(code(() => checkReveal(u2, u3, [{ owner: 'a', kind: 's', share: s }])), 'MALFORMED');
    assert.equal(code(() => checkReveal(u2, u3, [{ owner: 'e', kind: 's', share: s }])), 'MALFORMED');
  });

  it('two cryptograms of one member for one (r, a) under different U2 cancel its self mask and expose its update', () => {
    const sim = simulate(['s1', 's2', 's3', 's4', 's5'], 4);
    // the member s1 (wrongly) builds a second cryptogram for U2' = U2 \ {s5} with the same secrets
    const c = sim.cryptograms.get('s1')!;
    const c2 = sim.crypt(['s1', 's2', 's3', 's4'], 's1');
    // in the attempt with U2, s5 dropped: its s_sk is reconstructed from the reveals of U3
    const u3 = ['s1', 's2', 's3', 's4'];
    const s5 = recoverMaskSecret(ref, 's5', sim.secrets.get('s5')!.sPublic, revealed(sim, 's5', 's', u3), 4);
    // c − c' = q − q' + mask(s1, s5): the self mask and the masks with s2..s4 cancel
    const diff = new Uint32Array(c.length);
    for (let k = 0; k < c.length; k++) diff[k] = (c[k]! - c2[k]!) >>> 0;
    addKeystream(diff, pairMaskSeed(ref, 's5', s5, 's1', sim.secrets.get('s1')!.sPublic), -1); // s1 < s5: +mask in c
    const att2 = { ...sim.att, u2: sim.att.u2.filter((m) => m.id !== 's5') };
    const w = sim.samples.get('s1')! / sim.att.u2.reduce((s, m) => s + m.samples, 0);
    const w2 = sim.samples.get('s1')! / att2.u2.reduce((s, m) => s + m.samples, 0);
    const factor = w * exactScale(5, 0.5) - w2 * exactScale(4, 0.5);
    const u = sim.updates.get('s1')!;
    let worst = 0;
    for (let k = 0; k < u.length; k++) worst = Math.max(worst, Math.abs((diff[k]! | 0) / factor - u[k]!));
    assert.ok(worst < 1e-6, `the update is recovered to ${worst}`);
  });

  it('an aggregator showing two U3 lists to two halves unmasks an update at t = floor(N/2)+1 but gets no reveal at t ≥ ceil(N/2)+1', () => {
    // N = 5: s5 is the aggregator; victim s1 is in U3a (b revealed) and not in U3b (s_sk revealed).
    const attack = (t: number) => {
      const sim = simulate(['s1', 's2', 's3', 's4', 's5'], t);
      const u3a = ['s1', 's2', 's5'];
      const u3b = ['s3', 's4', 's5'];
      const ha = Buffer.from('U3a');
      const hb = Buffer.from('U3b');
      const consents = [
        { from: 's1', listHash: ha }, { from: 's2', listHash: ha },
        { from: 's3', listHash: hb }, { from: 's4', listHash: hb },
        { from: 's5', listHash: ha }, { from: 's5', listHash: hb }, // the aggregator consents to both
      ];
      // every honest holder reveals only once its own U3 has t consents
      const holdersA = consentCount(u3a, ha, consents) >= t ? u3a : ['s5'];
      const holdersB = consentCount(u3b, hb, consents) >= t ? u3b : ['s5'];
      const b1 = recoverSelfSeed(ref, 's1', selfCommit(sim.secrets.get('s1')!.selfSeed), revealed(sim, 's1', 'b', holdersA), t);
      const s1 = recoverMaskSecret(ref, 's1', sim.secrets.get('s1')!.sPublic, revealed(sim, 's1', 's', holdersB), t);
      const q = strip(sim, 's1', sim.cryptograms.get('s1')!, sim.ids, b1, s1);
      return { q, expect: quantizeV2(sim.att, 's1', sim.updates.get('s1')!) };
    };
    const weak = attack(3);
    assert.deepEqual(weak.q, weak.expect, 'at t = 3 of 5 the victim’s quantized update is recovered exactly');
    assert.equal(code(() => attack(4)), 'UNRECOVERABLE', 'at t = 4 of 5 neither half reaches t consents: nothing is revealed');
    assert.equal(code(() => validateThreshold(5, 3)), 'BAD_THRESHOLD', 'and t = 3 of 5 is refused by the manifest');
  });
});

describe('protocol v2: which revealed shares count', () => {
  it('a share that misses its commitment is dropped before reconstruction; the owner’s own share needs none', () => {
    const ids = ['h1', 'h2', 'h3', 'h4'];
    const xs = shareXs(ids);
    const s = generateRoundSecrets();
    const shares = computeShares(s, { s: randomCoefficients(3), b: randomCoefficients(3) }, xs, ids);
    const commit = selfCommit(s.selfSeed);
    const reveal = (holder: string, share = shares.get(holder)!.b): HeldShare => ({ holder, x: xs.get(holder)!, share, commitment: holder === 'h1' ? undefined : shareCommitment(ref, 'h1', holder, 'b', shares.get(holder)!.b) });
    // the owner h1 plus two honest holders: enough
    assert.deepEqual(recoverSelfSeed(ref, 'h1', commit, [reveal('h1'), reveal('h2'), reveal('h3')], 3), s.selfSeed);
    // h3 reveals a share other than the committed one: dropped, leaving too few
    const forged = new Uint8Array(32).fill(9);
    assert.equal(code(() => recoverSelfSeed(ref, 'h1', commit, [reveal('h1'), reveal('h2'), reveal('h3', forged)], 3)), 'UNRECOVERABLE');
    // with a fourth honest share the forged one is simply not used
    assert.deepEqual(recoverSelfSeed(ref, 'h1', commit, [reveal('h1'), reveal('h2'), reveal('h3', forged), reveal('h4')], 3), s.selfSeed);
    // a share without a commitment from anyone but the owner is not used
    assert.equal(code(() => recoverSelfSeed(ref, 'h1', commit, [reveal('h1'), reveal('h2'), { ...reveal('h3'), commitment: undefined }], 3)), 'UNRECOVERABLE');
  });
});
