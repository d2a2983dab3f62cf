// Mask keystreams: mask = AES-256-CTR(key, counter block 0^128) as little-endian u32 words, added
// to vectors block by block; HKDF-SHA256 for the key derivations (v2/secagg.ts derives the keys).
import { createCipheriv, hkdfSync } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { addBlocks, BLOCK_BYTES, quantizeAddBlocks, quantizeInKernel, simdAvailable, sumAddBlocks, sumAddDecodeBlocks } from './add-kernel.ts';
import { quantize } from './encoding.ts';
import { fail } from './errors.ts';

/**
 * HKDF-SHA256 (RFC 5869) on node:crypto (3x faster than noble); noble where node:crypto has a limit
 * (info above 1024 bytes, output above 255·32 bytes).
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length = 32): Uint8Array {
  if (info.length > 1024 || length > 255 * 32 || length < 1) return hkdf(sha256, ikm, salt, info, length);
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}

const ZERO_IV = Buffer.alloc(16);
// Cipher input for one block: AES-CTR of zeros is the keystream. Read-only, shared by every call.
const ZERO_BLOCK = Buffer.alloc(BLOCK_BYTES);

/**
 * target[k] += sign · mask[k] (mod 2^32), mask = AES-256-CTR(key, counter block 0^128) read as
 * little-endian u32 words. The one keystream kernel of the protocol: every mask goes through it
 * (or through addKeystreams, which adds several in one pass).
 */
export function addKeystream(target: Uint32Array, key: Uint8Array, sign: 1 | -1): void {
  addKeystreams(target, [key], [sign]);
}

/**
 * target[k] += Σ_j signs[j] · mask_j[k] (mod 2^32): addKeystream for several keys at once, in one
 * pass over the target (each 64 KiB block of it is loaded once and all keystreams are added to it
 * while it sits in cache). Memory: the target plus one block per key in flight.
 */
export function addKeystreams(target: Uint32Array, keys: readonly Uint8Array[], signs: readonly (1 | -1)[]): void {
  const next = keystreamBlocks(keys, signs);
  addBlocks(target, keys.length, next, signs);
}

/** One AES-256-CTR cipher per key (counter block 0^128), read block after block. */
function keystreamBlocks(keys: readonly Uint8Array[], signs: readonly (1 | -1)[]): (j: number, start: number, bytes: number) => Uint8Array {
  if (keys.length !== signs.length) fail('BAD_PARAMS', 'one sign per mask key');
  for (const key of keys) if (key.length !== 32) fail('BAD_PARAMS', 'mask key must be 32 bytes');
  for (const sign of signs) if (sign !== 1 && sign !== -1) fail('BAD_PARAMS', 'mask sign must be 1 or -1');
  const ciphers = keys.map((key) => createCipheriv('aes-256-ctr', key, ZERO_IV));
  return (j, _start, bytes) => ciphers[j]!.update(bytes === BLOCK_BYTES ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, bytes));
}

/**
 * quantize(update, weight, clip, scale) + Σ_j signs[j] · mask_j (mod 2^32): the masked, quantized
 * update in one pass over blocks of the vector (quantize, all keystreams and the adds in the
 * WebAssembly SIMD kernel while the block sits in cache; memory: the result plus two blocks and one
 * keystream block per key in flight). Same words as quantize followed by addKeystreams; that is
 * also the path where the kernel cannot run (no WebAssembly SIMD, or C·S ≥ 2^31).
 */
export function quantizeAndMask(
  update: Float32Array,
  weight: number,
  clip: number,
  scale: number,
  keys: readonly Uint8Array[],
  signs: readonly (1 | -1)[],
  useKernel = simdAvailable,
): Uint32Array {
  if (!(weight >= 0 && weight <= 1)) fail('BAD_PARAMS', `weight must be in [0, 1], got ${weight}`);
  const next = keystreamBlocks(keys, signs);
  if (!useKernel || !quantizeInKernel(clip, scale)) {
    const q = quantize(update, weight, clip, scale);
    addBlocks(q, keys.length, next, signs, useKernel);
    return q;
  }
  return quantizeAddBlocks(update, { weight, clip, scale }, keys.length, next, signs, (k) => fail('BAD_PARAMS', `update[${k}] is not finite`));
}

/**
 * Σ_i terms_i + Σ_j signs[j] · mask_j (mod 2^32) in one pass over blocks: summing cryptograms and
 * removing masks without a pass per cryptogram or per mask.
 */
export function sumAndMask(terms: readonly Uint32Array[], keys: readonly Uint8Array[], signs: readonly (1 | -1)[], useKernel = simdAvailable): Uint32Array {
  return sumAddBlocks(terms, keys.length, keystreamBlocks(keys, signs), signs, useKernel);
}

/**
 * decode(sumAndMask(terms, keys, signs)) with decode(a) = float32(((int32(a)/S)·N2)/N3), in the
 * same one pass over blocks: the aggregate's words are never materialized.
 */
export function sumAndMaskDecoded(terms: readonly Uint32Array[], keys: readonly Uint8Array[], signs: readonly (1 | -1)[], decode: { scale: number; n2: number; n3: number }, useKernel = simdAvailable): Float32Array {
  return sumAddDecodeBlocks(terms, keys.length, keystreamBlocks(keys, signs), signs, decode, useKernel);
}

/** The keystream bytes of AES-256-CTR(key = seed, counter block = 0^128). */
export function keystream(seed: Uint8Array, bytes: number): Buffer {
  if (seed.length !== 32) fail('BAD_PARAMS', 'mask seed must be 32 bytes');
  const cipher = createCipheriv('aes-256-ctr', seed, ZERO_IV);
  return cipher.update(Buffer.alloc(bytes));
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Little-endian u32 words of a byte buffer (copying; works on big-endian hosts too). */
export function readWordsLE(b: Uint8Array): Uint32Array {
  const n = b.length >>> 2;
  if (LITTLE_ENDIAN) return new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + n * 4));
  const out = new Uint32Array(n);
  const dv = new DataView(b.buffer, b.byteOffset, n * 4);
  for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true);
  return out;
}

/** The words' little-endian bytes (copying). */
export function writeWordsLE(w: Uint32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength));
  const out = new Uint8Array(w.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < w.length; i++) dv.setUint32(i * 4, w[i]!, true);
  return out;
}
