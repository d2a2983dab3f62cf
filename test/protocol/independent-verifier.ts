// A second, independent implementation of protocol v2 (PROTOCOL.md), written from the spec with
// node:crypto only (X25519, HKDF, AES-256-GCM/CTR, SHA-256), BigInt arithmetic and its own GF(2^8)
// multiplication (shift-and-add, no tables). It imports nothing from protocol/ and is run against
// every test vector.
import { createCipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from 'node:crypto';

const b64u = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');
const M32 = 2n ** 32n;

function x25519(secretHex: string, publicHex: string): Buffer {
  const pub = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64u(publicHex) }, format: 'jwk' });
  const priv = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64u(secretHex), x: b64u(publicHex) }, format: 'jwk' });
  return diffieHellman({ privateKey: priv, publicKey: pub });
}

function publicOf(secretHex: string): string {
  const priv = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64u(secretHex), x: b64u('00'.repeat(32)) }, format: 'jwk' });
  return Buffer.from(createPublicKey(priv).export({ format: 'jwk' }).x as string, 'base64url').toString('hex');
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function halfEven(x: number): bigint {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return BigInt(f) + 1n;
  if (diff < 0.5) return BigInt(f);
  return BigInt(f) % 2n === 0n ? BigInt(f) : BigInt(f) + 1n;
}

export interface VectorV2 {
  version: number;
  consortium: string;
  round: number;
  attempt: number;
  threshold: number;
  clip: number;
  scale: number;
  members: { id: string; x: number; c_secret: string; c_public: string; s_secret: string; s_public: string; self_seed: string; samples: number; update: number[] }[];
  u2: string[];
  u3: string[];
  shamir: { owner: string; secret: 's' | 'b'; coefficients: string[]; shares: Record<string, string> }[];
  share_ciphertexts: { from: string; to: string; key: string; ciphertext: string }[];
  pairs: { a: string; b: string; shared_secret: string; seed: string; mask_prefix: number[] }[];
  self_masks: Record<string, { seed: string; mask_prefix: number[] }>;
  cryptograms: Record<string, number[]>;
  aggregate: number[];
  decoded: number[];
}

function gf2Mul(a: number, b: number): number {
  let p = 0;
  for (let i = 0; i < 8; i++) {
    if (b & 1) p ^= a;
    const hi = a & 0x80;
    a = (a << 1) & 0xff;
    if (hi) a ^= 0x1b;
    b >>= 1;
  }
  return p;
}

function gf2Inv(a: number): number {
  // a^254 = a^-1
  let r = 1;
  for (let i = 0; i < 254; i++) r = gf2Mul(r, a);
  return r;
}

function lagrangeAtZero(points: { x: number; y: Buffer }[]): Buffer {
  const out = Buffer.alloc(32);
  for (const [j, pj] of points.entries()) {
    let num = 1;
    let den = 1;
    for (const [m, pm] of points.entries()) {
      if (m === j) continue;
      num = gf2Mul(num, pm.x);
      den = gf2Mul(den, pm.x ^ pj.x);
    }
    const l = gf2Mul(num, gf2Inv(den));
    for (let k = 0; k < 32; k++) out[k]! ^= gf2Mul(l, pj.y[k]!);
  }
  return out;
}

const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const u64 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
const text = (s: string) => Buffer.from(s, 'utf8');
const hexb = (h: string) => Buffer.from(h, 'hex');

/** Largest 2^e with n·C·2^e ≤ 2^31 − 1 − n, by exact rational comparison (C as a BigInt fraction). */
function exactScaleV2(n: number, clip: number): number {
  // clip = num / 2^shift exactly
  let shift = 0;
  let m = clip;
  while (!Number.isInteger(m)) {
    m *= 2;
    shift++;
  }
  const num = BigInt(m);
  const limit = BigInt(2 ** 31 - 1 - n);
  const fits = (e: number) => (e >= 0 ? BigInt(n) * num * 2n ** BigInt(e) <= limit * 2n ** BigInt(shift) : BigInt(n) * num <= limit * 2n ** BigInt(shift - e));
  let e = 1100;
  while (!fits(e)) e--;
  return 2 ** e;
}

/** Returns the discrepancies between a v2 vector and the v2 spec (empty when consistent). */
export function verifyVectorV2(v: VectorV2): string[] {
  const problems: string[] = [];
  const N = v.members.length;
  const t = v.threshold;
  if (v.version !== 2) problems.push('version');
  if (!(t >= 3 && t <= N && N <= 255 && t >= Math.ceil(N / 2) + 1)) problems.push(`threshold ${t} of ${N}`);
  const ids = v.members.map((m) => m.id);
  if (ids.join('\n') !== [...ids].sort(byteOrder).join('\n')) problems.push('members not in UTF-8 byte order');
  v.members.forEach((m, i) => {
    if (m.x !== i + 1) problems.push(`x of ${m.id}`);
    if (Buffer.from(m.id, 'utf8').includes(0)) problems.push(`id ${m.id} has a 0x00 byte`);
    if (publicOf(m.c_secret) !== m.c_public) problems.push(`c_public of ${m.id}`);
    if (publicOf(m.s_secret) !== m.s_public) problems.push(`s_public of ${m.id}`);
  });
  const member = new Map(v.members.map((m) => [m.id, m]));
  const u2 = v.u2.map((id) => member.get(id)!);
  if (u2.some((m) => !m) || v.u3.some((id) => !v.u2.includes(id))) problems.push('U3 ⊆ U2 ⊆ U1 violated');
  if (v.u2.length < t || v.u3.length < t) problems.push('a set below the threshold');
  const d = v.members[0]!.update.length;
  const scale = exactScaleV2(u2.length, v.clip);
  if (scale !== v.scale) problems.push(`scale ${v.scale} != ${scale}`);
  const salt = sha(text('flnode/v2/consortium/'), text(v.consortium));
  const ra = Buffer.concat([u64(v.round), u32(v.attempt)]);

  // Shamir: shares from the coefficients; any t shares interpolate back to the secret.
  const shareOf = new Map<string, Buffer>(); // `${owner}\n${kind}\n${holder}`
  for (const m of u2) {
    for (const kind of ['s', 'b'] as const) {
      const e = v.shamir.find((x) => x.owner === m.id && x.secret === kind);
      if (!e) {
        problems.push(`shamir ${kind} of ${m.id} missing`);
        continue;
      }
      if (e.coefficients.length !== t - 1) problems.push(`shamir ${kind} of ${m.id}: ${e.coefficients.length} coefficients`);
      const secret = hexb(kind === 's' ? m.s_secret : m.self_seed);
      const coefs = e.coefficients.map(hexb);
      for (const h of v.members) {
        const y = Buffer.alloc(32);
        for (let k = 0; k < 32; k++) {
          let acc = secret[k]!;
          let xp = 1;
          for (const c of coefs) {
            xp = gf2Mul(xp, h.x);
            acc ^= gf2Mul(c[k]!, xp);
          }
          y[k] = acc;
        }
        if (e.shares[h.id] !== y.toString('hex')) problems.push(`share ${kind} of ${m.id} for ${h.id}`);
        shareOf.set(`${m.id}\n${kind}\n${h.id}`, y);
      }
      const lastT = v.members.slice(N - t).map((h) => ({ x: h.x, y: hexb(e.shares[h.id] ?? '') }));
      if (!lagrangeAtZero(lastT).equals(secret)) problems.push(`interpolation of ${kind} of ${m.id}`);
    }
  }

  // Share encryption: key, AES-256-GCM with a zero nonce, plaintext s-share || b-share.
  for (const from of u2) {
    for (const to of v.members) {
      if (to.id === from.id) continue;
      const e = v.share_ciphertexts.find((x) => x.from === from.id && x.to === to.id);
      if (!e) {
        problems.push(`share ciphertext ${from.id}→${to.id} missing`);
        continue;
      }
      const dh = x25519(from.c_secret, to.c_public);
      if (!dh.equals(x25519(to.c_secret, from.c_public))) problems.push(`c shared secret asymmetric ${from.id},${to.id}`);
      const key = Buffer.from(hkdfSync('sha256', dh, salt, Buffer.concat([text('flnode/v2/share'), ra, text(from.id), Buffer.from([0]), text(to.id)]), 32));
      if (e.key !== key.toString('hex')) problems.push(`share key ${from.id}→${to.id}`);
      const gcm = createCipheriv('aes-256-gcm', key, Buffer.alloc(12));
      const plain = Buffer.concat([shareOf.get(`${from.id}\ns\n${to.id}`) ?? Buffer.alloc(32), shareOf.get(`${from.id}\nb\n${to.id}`) ?? Buffer.alloc(32)]);
      const ct = Buffer.concat([gcm.update(plain), gcm.final(), gcm.getAuthTag()]);
      if (e.ciphertext !== ct.toString('hex')) problems.push(`share ciphertext ${from.id}→${to.id}`);
    }
  }
  if (v.share_ciphertexts.length !== u2.length * (N - 1)) problems.push('share_ciphertexts has extra entries');

  // Masks.
  const ctr = (key: Buffer, n: number) => {
    const ks = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(4 * n));
    return Array.from({ length: n }, (_, i) => BigInt(ks.readUInt32LE(4 * i)));
  };
  const pairSeed = (lo: string, hi: string, dh: Buffer) => Buffer.from(hkdfSync('sha256', dh, salt, Buffer.concat([text('flnode/v2/mask'), ra, text(lo), Buffer.from([0]), text(hi)]), 32));
  const selfKey = (id: string, b: Buffer) => Buffer.from(hkdfSync('sha256', b, salt, Buffer.concat([text('flnode/v2/self'), ra, text(id)]), 32));
  const pairMask = new Map<string, bigint[]>();
  for (let i = 0; i < u2.length; i++) {
    for (let j = i + 1; j < u2.length; j++) {
      const [a, b] = byteOrder(u2[i]!.id, u2[j]!.id) < 0 ? [u2[i]!, u2[j]!] : [u2[j]!, u2[i]!];
      const dh = x25519(a.s_secret, b.s_public);
      const seed = pairSeed(a.id, b.id, dh);
      const p = v.pairs.find((x) => x.a === a.id && x.b === b.id);
      if (!p) problems.push(`pair ${a.id},${b.id} missing`);
      else {
        if (p.shared_secret !== dh.toString('hex')) problems.push(`shared secret ${a.id},${b.id}`);
        if (p.seed !== seed.toString('hex')) problems.push(`seed ${a.id},${b.id}`);
        if (p.mask_prefix.join(',') !== ctr(seed, 8).join(',')) problems.push(`mask prefix ${a.id},${b.id}`);
      }
      pairMask.set(`${a.id}\n${b.id}`, ctr(seed, d));
    }
  }
  const selfMask = new Map<string, bigint[]>();
  for (const m of u2) {
    const key = selfKey(m.id, hexb(m.self_seed));
    const e = v.self_masks[m.id];
    if (!e || e.seed !== key.toString('hex') || e.mask_prefix.join(',') !== ctr(key, 8).join(',')) problems.push(`self mask of ${m.id}`);
    selfMask.set(m.id, ctr(key, d));
  }
  const maskBetween = (i: string, j: string) => (byteOrder(i, j) < 0 ? pairMask.get(`${i}\n${j}`)! : pairMask.get(`${j}\n${i}`)!);

  // Cryptograms over U2.
  const n2 = u2.reduce((s, m) => s + m.samples, 0);
  const q = new Map<string, bigint[]>();
  for (const m of u2) {
    const w = m.samples / n2;
    const qi = m.update.map((u) => {
      const x = Math.min(v.clip, Math.max(-v.clip, w * Math.fround(u)));
      return ((halfEven(x * scale) % M32) + M32) % M32;
    });
    q.set(m.id, qi);
    const c = qi.map((x, k) => (x + selfMask.get(m.id)![k]!) % M32);
    for (const o of u2) {
      if (o.id === m.id) continue;
      const mask = maskBetween(m.id, o.id);
      const plus = byteOrder(m.id, o.id) < 0;
      for (let k = 0; k < d; k++) c[k] = (((plus ? c[k]! + mask[k]! : c[k]! - mask[k]!) % M32) + M32) % M32;
    }
    const got = v.cryptograms[m.id];
    if (!got || got.length !== d || got.some((w2, k) => BigInt(w2) !== c[k])) problems.push(`cryptogram of ${m.id}`);
  }
  if (Object.keys(v.cryptograms).length !== u2.length) problems.push('cryptograms must cover exactly U2');

  // Unmasking over U3 with secrets interpolated from the shares of U3's members.
  const u3 = v.u3.map((id) => member.get(id)!);
  const fromU3Shares = (owner: string, kind: 's' | 'b') => lagrangeAtZero(u3.slice(0, t).map((h) => ({ x: h.x, y: shareOf.get(`${owner}\n${kind}\n${h.id}`) ?? Buffer.alloc(32) })));
  const A = new Array<bigint>(d).fill(0n);
  for (const m of u3) {
    const c = v.cryptograms[m.id] ?? [];
    const b = fromU3Shares(m.id, 'b');
    if (!b.equals(hexb(m.self_seed))) problems.push(`b of ${m.id} from U3's shares`);
    const sm = ctr(selfKey(m.id, b), d);
    for (let k = 0; k < d; k++) A[k] = (((A[k]! + BigInt(c[k] ?? 0) - sm[k]!) % M32) + M32) % M32;
  }
  for (const j of u2.filter((m) => !v.u3.includes(m.id))) {
    const sj = fromU3Shares(j.id, 's').toString('hex');
    if (publicOf(sj) !== j.s_public) problems.push(`s_secret of dropped ${j.id} from U3's shares`);
    for (const i of u3) {
      const [lo, hi] = byteOrder(i.id, j.id) < 0 ? [i.id, j.id] : [j.id, i.id];
      const mask = ctr(pairSeed(lo, hi, x25519(sj, i.s_public)), d);
      const sgn = byteOrder(i.id, j.id) < 0 ? 1n : -1n;
      for (let k = 0; k < d; k++) A[k] = (((A[k]! - sgn * mask[k]!) % M32) + M32) % M32;
    }
  }
  if (v.aggregate.length !== d || v.aggregate.some((w2, k) => BigInt(w2) !== A[k])) problems.push('aggregate');
  // The masks cancel: A = Σ_{U3} q_i exactly.
  for (let k = 0; k < d; k++) {
    const sq = u3.reduce((s, m) => (s + q.get(m.id)![k]!) % M32, 0n);
    if (sq !== A[k]) {
      problems.push(`aggregate[${k}] is not Σ q over U3`);
      break;
    }
  }
  const n3 = u3.reduce((s, m) => s + m.samples, 0);
  for (let k = 0; k < d; k++) {
    const signed = Number(A[k]! >= 2n ** 31n ? A[k]! - M32 : A[k]!);
    if (Math.fround(((signed / scale) * n2) / n3) !== v.decoded[k]) {
      problems.push(`decoded[${k}]`);
      break;
    }
  }
  return problems;
}

/** The model-update vector (PROTOCOL.md §6.1): model = base + decoded in float32, hashes = SHA-256 of the float32 LE bytes. */
export function verifyModelUpdateVector(v: { base: number[]; base_hash: string; decoded: number[]; model: number[]; model_hash: string }): string[] {
  const problems: string[] = [];
  const hash = (w: number[]) => {
    const b = Buffer.alloc(4 * w.length);
    w.forEach((x, i) => b.writeFloatLE(x, 4 * i));
    return createHash('sha256').update(b).digest('hex');
  };
  if (v.base.length !== v.decoded.length || v.model.length !== v.base.length) problems.push('lengths differ');
  if (hash(v.base) !== v.base_hash) problems.push('base hash');
  const i = v.base.findIndex((x, k) => Math.fround(x + v.decoded[k]!) !== v.model[k]);
  if (i >= 0) problems.push(`model[${i}]`);
  if (hash(v.model) !== v.model_hash) problems.push('model hash');
  return problems;
}
