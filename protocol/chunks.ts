// Splitting a cryptogram into ≤ 1 MiB chunks and reassembling them with bounds checks.
import { equalBytes, toHex } from './bytes.ts';
import { cryptogramHash } from './cryptogram.ts';
import { fail } from './errors.ts';
import { readWordsLE, writeWordsLE } from './masks.ts';
import { MAX_CHUNK_BYTES, MAX_CHUNKS, type CryptogramChunkBody } from './wire.ts';

export function chunkCryptogram(c: Uint32Array, attemptHash: Uint8Array, maxBytes = MAX_CHUNK_BYTES): CryptogramChunkBody[] {
  if (attemptHash.length !== 32) fail('BAD_PARAMS', 'attempt hash must be 32 bytes');
  if (maxBytes < 4 || maxBytes > MAX_CHUNK_BYTES || maxBytes % 4 !== 0) fail('BAD_PARAMS', 'chunk size must be a multiple of 4 ≤ 1 MiB');
  if (c.length === 0) fail('BAD_PARAMS', 'empty cryptogram');
  const bytes = writeWordsLE(c);
  const count = Math.ceil(bytes.length / maxBytes);
  if (count > MAX_CHUNKS) fail('OVERSIZED', `cryptogram needs more than ${MAX_CHUNKS} chunks`);
  const hash = cryptogramHash(c);
  const chunks: CryptogramChunkBody[] = [];
  for (let i = 0; i < count; i++) {
    chunks.push({ cryptogramHash: hash, attemptHash, totalWords: c.length, index: i, count, payload: bytes.slice(i * maxBytes, (i + 1) * maxBytes) });
  }
  return chunks;
}

/** Reassembles one cryptogram. Rejects chunks inconsistent with the first one it saw. */
export class CryptogramAssembler {
  private readonly parts: (Uint8Array | undefined)[];
  private received = 0;
  private bytes = 0;
  readonly hash: Uint8Array;
  readonly attemptHash: Uint8Array;
  readonly totalWords: number;
  readonly count: number;

  constructor(first: CryptogramChunkBody, readonly expectedWords?: number) {
    if (expectedWords !== undefined && first.totalWords !== expectedWords) {
      fail('MALFORMED', `cryptogram of ${first.totalWords} words, expected ${expectedWords}`);
    }
    this.hash = first.cryptogramHash;
    this.attemptHash = first.attemptHash;
    this.totalWords = first.totalWords;
    this.count = first.count;
    const expectedChunks = Math.ceil((first.totalWords * 4) / MAX_CHUNK_BYTES);
    if (first.count < expectedChunks) fail('MALFORMED', 'too few chunks for the total size');
    this.parts = new Array(first.count);
  }

  get progress(): { received: number; count: number } {
    return { received: this.received, count: this.count };
  }

  /** Adds a chunk; returns the cryptogram once complete and its hash matches, else null. */
  add(chunk: CryptogramChunkBody): Uint32Array | null {
    if (!equalBytes(chunk.cryptogramHash, this.hash)) fail('MALFORMED', 'chunk of another cryptogram');
    if (!equalBytes(chunk.attemptHash, this.attemptHash)) fail('MALFORMED', 'chunk names another attempt start');
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
    if (!equalBytes(cryptogramHash(c), this.hash)) fail('MALFORMED', `reassembled cryptogram does not hash to ${toHex(this.hash).slice(0, 16)}…`);
    return c;
  }
}
