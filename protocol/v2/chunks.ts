// Cryptogram chunks of protocol v2: the v1 chunking (≤ 1 MiB pieces, hash-checked reassembly)
// with H(U2) where v1 carried its attempt hash, plus the round binding.
import { chunkCryptogram, CryptogramAssembler } from '../chunks.ts';
import type { Binding, CryptogramChunkV2 } from './wire.ts';

export function chunkCryptogramV2(c: Uint32Array, binding: Binding, u2Hash: Uint8Array, maxBytes?: number): CryptogramChunkV2[] {
  return chunkCryptogram(c, u2Hash, maxBytes).map(({ attemptHash, ...rest }) => ({ ...binding, u2Hash: attemptHash, ...rest }));
}

/** Reassembles one v2 cryptogram: chunks must agree on H(U2), hash, totals; the result must hash right. */
export class CryptogramAssemblerV2 {
  private readonly inner: CryptogramAssembler;
  constructor(first: CryptogramChunkV2, expectedWords?: number) {
    this.inner = new CryptogramAssembler({ ...first, attemptHash: first.u2Hash }, expectedWords);
  }
  get progress(): { received: number; count: number } {
    return this.inner.progress;
  }
  add(chunk: CryptogramChunkV2): Uint32Array | null {
    return this.inner.add({ ...chunk, attemptHash: chunk.u2Hash });
  }
}
