// A second, independent implementation of the cryptogram construction (PROTOCOL.md §2), written
// from the spec with node:crypto only (X25519, HKDF, SHA-256, AES-256-CTR) and BigInt arithmetic.
// It shares no code with protocol/ and is run against every test vector.
import { createCipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from 'node:crypto';

interface Vector {
  consortium: string;
  round: number;
  attempt: number;
  clip: number;
  scale: number;
  members: { id: string; x25519_secret: string; x25519_public: string; weight: number; update: number[] }[];
  pairs: { a: string; b: string; shared_secret: string; seed: string; mask_prefix: number[] }[];
  cryptograms: Record<string, number[]>;
  aggregate: number[];
  decoded: number[];
}

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

function seedFor(v: Vector, lo: string, hi: string, shared: Buffer): Buffer {
  const salt = createHash('sha256').update('flnode/v1/consortium/' + v.consortium, 'utf8').digest();
  const r = Buffer.alloc(8);
  r.writeBigUInt64BE(BigInt(v.round));
  const a = Buffer.alloc(4);
  a.writeUInt32BE(v.attempt);
  const info = Buffer.concat([Buffer.from('flnode/v1/mask'), r, a, Buffer.from(lo, 'utf8'), Buffer.from([0]), Buffer.from(hi, 'utf8')]);
  return Buffer.from(hkdfSync('sha256', shared, salt, info, 32));
}

function maskWords(seed: Buffer, n: number): bigint[] {
  const ks = createCipheriv('aes-256-ctr', seed, Buffer.alloc(16)).update(Buffer.alloc(4 * n));
  return Array.from({ length: n }, (_, i) => BigInt(ks.readUInt32LE(4 * i)));
}

function halfEven(x: number): bigint {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return BigInt(f) + 1n;
  if (diff < 0.5) return BigInt(f);
  return BigInt(f) % 2n === 0n ? BigInt(f) : BigInt(f) + 1n;
}

/** Returns a list of discrepancies (empty when the vector is consistent with the spec). */
export function verifyVector(v: Vector): string[] {
  const problems: string[] = [];
  const n = v.members.length;
  const d = v.members[0]!.update.length;
  const expectScale = 2 ** Math.floor(Math.log2((2 ** 31 - 1) / (n * v.clip)));
  if (expectScale !== v.scale) problems.push(`scale ${v.scale} != ${expectScale}`);
  const ids = v.members.map((m) => m.id);
  const sortedIds = [...ids].sort(byteOrder);
  if (ids.join('\n') !== sortedIds.join('\n')) problems.push('members not in UTF-8 byte order');
  const wsum = v.members.reduce((s, m) => s + m.weight, 0);
  if (Math.abs(wsum - 1) > 1e-12) problems.push(`weights sum to ${wsum}`);
  const masks = new Map<string, bigint[]>();
  for (const m of v.members) if (publicOf(m.x25519_secret) !== m.x25519_public) problems.push(`public key of ${m.id}`);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const a = v.members[i]!;
      const b = v.members[j]!;
      const s1 = x25519(a.x25519_secret, b.x25519_public);
      const s2 = x25519(b.x25519_secret, a.x25519_public);
      if (!s1.equals(s2)) problems.push(`shared secret asymmetric for ${a.id},${b.id}`);
      const seed = seedFor(v, a.id, b.id, s1);
      const pair = v.pairs.find((p) => p.a === a.id && p.b === b.id);
      if (!pair) problems.push(`pair ${a.id},${b.id} missing`);
      else {
        if (pair.shared_secret !== s1.toString('hex')) problems.push(`shared secret ${a.id},${b.id}`);
        if (pair.seed !== seed.toString('hex')) problems.push(`seed ${a.id},${b.id}`);
        const prefix = maskWords(seed, 8).map(Number);
        if (prefix.join(',') !== pair.mask_prefix.join(',')) problems.push(`mask prefix ${a.id},${b.id}`);
      }
      masks.set(`${a.id}\n${b.id}`, maskWords(seed, d));
    }
  }
  const total = new Array<bigint>(d).fill(0n);
  for (const m of v.members) {
    const c = m.update.map((u) => {
      const x = Math.min(v.clip, Math.max(-v.clip, m.weight * Math.fround(u)));
      return ((halfEven(x * v.scale) % M32) + M32) % M32;
    });
    for (const o of v.members) {
      if (o.id === m.id) continue;
      const lowFirst = byteOrder(m.id, o.id) < 0;
      const mask = masks.get(lowFirst ? `${m.id}\n${o.id}` : `${o.id}\n${m.id}`)!;
      for (let k = 0; k < d; k++) c[k] = (((lowFirst ? c[k]! + mask[k]! : c[k]! - mask[k]!) % M32) + M32) % M32;
    }
    const got = v.cryptograms[m.id];
    if (!got || got.length !== d || got.some((w, k) => BigInt(w) !== c[k])) problems.push(`cryptogram of ${m.id}`);
    for (let k = 0; k < d; k++) total[k] = (total[k]! + c[k]!) % M32;
  }
  if (v.aggregate.some((w, k) => BigInt(w) !== total[k])) problems.push('aggregate');
  for (let k = 0; k < d; k++) {
    const t = total[k]!;
    const signed = Number(t >= 2n ** 31n ? t - M32 : t);
    if (Math.fround(signed / v.scale) !== v.decoded[k]) {
      problems.push(`decoded[${k}]`);
      break;
    }
  }
  return problems;
}

/** The model-update vector (PROTOCOL.md §3/§5): model = base + decoded in float32, hashes = SHA-256 of the float32 LE bytes. */
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
