// Cryptogram chunks of protocol v2 (PROTOCOL.md §11): a cryptogram split into ≤ 1 MiB pieces, each
// bound to the round and to H(U2), reassembled with bounds checks and a hash check.
import { equalBytes, toHex } from '../bytes.ts';
import { fail } from '../errors.ts';
import { readWordsLE, writeWordsLE } from '../masks.ts';
import { cryptogramHashV2 } from './secagg.ts';
import { MAX_CHUNK_BYTES_V2, MAX_CHUNKS_V2, type Binding, type CryptogramChunkV2 } from './wire.ts';

export function chunkCryptogramV2(c: Uint32Array, binding: Binding, u2Hash: Uint8Array, maxBytes = MAX_CHUNK_BYTES_V2): CryptogramChunkV2[] {
  if (u2Hash.length !== 32) fail('BAD_PARAMS', 'U2 hash must be 32 bytes');
  if (maxBytes < 4 || maxBytes > MAX_CHUNK_BYTES_V2 || maxBytes % 4 !== 0) fail('BAD_PARAMS', 'chunk size must be a multiple of 4 ≤ 1 MiB');
  if (c.length === 0) fail('BAD_PARAMS', 'empty cryptogram');
  const bytes = writeWordsLE(c);
  const count = Math.ceil(bytes.length / maxBytes);
  if (count > MAX_CHUNKS_V2) fail('OVERSIZED', `cryptogram needs more than ${MAX_CHUNKS_V2} chunks`);
  const cryptogramHash = cryptogramHashV2(c);
  const chunks: CryptogramChunkV2[] = [];
  for (let i = 0; i < count; i++) {
    chunks.push({ ...binding, u2Hash, cryptogramHash, totalWords: c.length, index: i, count, payload: bytes.slice(i * maxBytes, (i + 1) * maxBytes) });
  }
  return chunks;
}

/** Reassembles one cryptogram: chunks must agree with the first one seen on H(U2), hash and totals; the result must hash right. */
export class CryptogramAssemblerV2 {
  private readonly parts: (Uint8Array | undefined)[];
  private received = 0;
  private bytes = 0;
  readonly hash: Uint8Array;
  readonly u2Hash: Uint8Array;
  readonly totalWords: number;
  readonly count: number;

  constructor(first: CryptogramChunkV2, readonly expectedWords?: number) {
    if (expectedWords !== undefined && first.totalWords !== expectedWords) {
      fail('MALFORMED', `cryptogram of ${first.totalWords} words, expected ${expectedWords}`);
    }
    this.hash = first.cryptogramHash;
    this.u2Hash = first.u2Hash;
    this.totalWords = first.totalWords;
    this.count = first.count;
    const expectedChunks = Math.ceil((first.totalWords * 4) / MAX_CHUNK_BYTES_V2);
    if (first.count < expectedChunks) fail('MALFORMED', 'too few chunks for the total size');
    this.parts = new Array(first.count);
  }

  get progress(): { received: number; count: number } {
    return { received: this.received, count: this.count };
  }

  /** Adds a chunk; returns the cryptogram once complete and its hash matches, else null. */
  add(chunk: CryptogramChunkV2): Uint32Array | null {
    if (!equalBytes(chunk.cryptogramHash, this.hash)) fail('MALFORMED', 'chunk of another cryptogram');
    if (!equalBytes(chunk.u2Hash, this.u2Hash)) fail('MALFORMED', 'chunk names another U2 list');
    if (chunk.totalWords !== this.totalWords || chunk.count !== this.count) fail('MALFORMED', 'chunk totals differ from earlier chunks');
    const existing = this.parts[chunk.index];
    if (existing) {
      if (!equalBytes(existing, chunk.payload)) fail('MALFORMED', `chunk ${chunk.index} repeated with different bytes`);
      return null; // harmless duplicate
    }
    if (this.bytes + chunk.payload.length > this.totalWords * 4) fail('OVERSIZED', 'chunks exceed the announced size');
    this.parts[chunk.index] = chunk.payload;
    this.received++;
    this.bytes += chunk.payload.length;
    if (this.received < this.count) return null;
    if (this.bytes !== this.totalWords * 4) fail('MALFORMED', 'chunks do not add up to the announced size');
    const all = new Uint8Array(this.bytes);
    let o = 0;
    for (const p of this.parts) {
      all.set(p!, o);
      o += p!.length;
    }
    const c = readWordsLE(all);
    if (!equalBytes(cryptogramHashV2(c), this.hash)) fail('MALFORMED', `reassembled cryptogram does not hash to ${toHex(this.hash).slice(0, 16)}…`);
    return c;
  }
}
