// Pairwise masks: seed_ij = HKDF-SHA256(X25519(sk_i, pk_j), salt, info), mask = AES-256-CTR stream.
import { createCipheriv, hkdfSync } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { compareIds, concat, u32be, u64be, utf8 } from './bytes.ts';
import { fail } from './errors.ts';
import { sharedSecret } from './keys.ts';

export function consortiumSalt(consortium: string): Uint8Array {
  return sha256(concat(utf8('flnode/v1/consortium/'), utf8(consortium)));
}

export function maskInfo(round: number, attempt: number, idA: string, idB: string): Uint8Array {
  const [low, high] = compareIds(idA, idB) < 0 ? [idA, idB] : [idB, idA];
  return concat(utf8('flnode/v1/mask'), u64be(round), u32be(attempt), utf8(low), new Uint8Array([0]), utf8(high));
}

export function maskSeed(p: {
  consortium: string;
  round: number;
  attempt: number;
  selfId: string;
  selfSecret: Uint8Array;
  peerId: string;
  peerPublic: Uint8Array;
}): Uint8Array {
  if (p.selfId === p.peerId) fail('BAD_PARAMS', 'a member has no mask with itself');
  const shared = sharedSecret(p.selfSecret, p.peerPublic);
  return hkdfSha256(shared, consortiumSalt(p.consortium), maskInfo(p.round, p.attempt, p.selfId, p.peerId), 32);
}

/**
 * HKDF-SHA256 (RFC 5869) on node:crypto (3x faster than noble); noble where node:crypto has a limit
 * (info above 1024 bytes, output above 255·32 bytes).
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length = 32): Uint8Array {
  if (info.length > 1024 || length > 255 * 32 || length < 1) return hkdf(sha256, ikm, salt, info, length);
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}

const ZERO_IV = Buffer.alloc(16);
const BLOCK_BYTES = 1 << 20;

/**
 * target[k] += sign · mask[k] (mod 2^32), mask = AES-256-CTR(key, counter block 0^128) read as
 * little-endian u32 words; the keystream is produced in 1 MiB blocks, so memory stays at the target
 * plus one block. The one keystream kernel of the protocol: every mask goes through it.
 */
export function addKeystream(target: Uint32Array, key: Uint8Array, sign: 1 | -1): void {
  if (key.length !== 32) fail('BAD_PARAMS', 'mask key must be 32 bytes');
  const zero = Buffer.alloc(Math.min(BLOCK_BYTES, target.length * 4));
  const cipher = createCipheriv('aes-256-ctr', key, ZERO_IV);
  for (let start = 0; start < target.length; start += zero.length >>> 2) {
    const words = Math.min(zero.length >>> 2, target.length - start);
    let ks = cipher.update(words * 4 === zero.length ? zero : zero.subarray(0, words * 4));
    if (ks.byteOffset % 4 !== 0) ks = Buffer.from(ks); // a pooled, unaligned buffer: copy once
    const mask = new Uint32Array(ks.buffer, ks.byteOffset, words); // little-endian hosts only (cryptogram.ts checks)
    if (sign === 1) for (let i = 0; i < words; i++) target[start + i] = (target[start + i]! + mask[i]!) >>> 0;
    else for (let i = 0; i < words; i++) target[start + i] = (target[start + i]! - mask[i]!) >>> 0;
  }
}

/** The keystream bytes of AES-256-CTR(key = seed, counter block = 0^128). */
export function keystream(seed: Uint8Array, bytes: number): Buffer {
  if (seed.length !== 32) fail('BAD_PARAMS', 'mask seed must be 32 bytes');
  const cipher = createCipheriv('aes-256-ctr', seed, ZERO_IV);
  return cipher.update(Buffer.alloc(bytes));
}

/** The mask as little-endian uint32 words. */
export function maskWords(seed: Uint8Array, words: number): Uint32Array {
  const ks = keystream(seed, words * 4);
  return readWordsLE(ks);
}

/** Little-endian u32 words of a byte buffer (copying; works on big-endian hosts too). */
export function readWordsLE(b: Uint8Array): Uint32Array {
  const n = b.length >>> 2;
  const out = new Uint32Array(n);
  const dv = new DataView(b.buffer, b.byteOffset, n * 4);
  for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true);
  return out;
}

export function writeWordsLE(w: Uint32Array): Uint8Array {
  const out = new Uint8Array(w.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < w.length; i++) dv.setUint32(i * 4, w[i]!, true);
  return out;
}
