// Cryptograms: c_i = q_i + Σ_{j: id_i<id_j} mask_ij − Σ_{j: id_j<id_i} mask_ij (mod 2^32).
import { sha256 } from '@noble/hashes/sha2.js';
import { compareIds } from './bytes.ts';
import { dequantize, fedAvgWeights, quantizationScale, quantize } from './encoding.ts';
import { fail } from './errors.ts';
import { addBlocks } from './add-kernel.ts';
import { addKeystreams, maskSeeds, writeWordsLE } from './masks.ts';

export interface Participant {
  id: string;
  /** Ephemeral X25519 public key for this (round, attempt). */
  publicKey: Uint8Array;
  /** Announced training sample count n_i. */
  samples: number;
}

export interface AttemptParams {
  consortium: string;
  round: number;
  attempt: number;
  clip: number;
  participants: readonly Participant[];
}

/** Participants sorted by the UTF-8 bytes of their ids; duplicates rejected. */
export function sortedParticipants(params: AttemptParams): Participant[] {
  const sorted = [...params.participants].sort((a, b) => compareIds(a.id, b.id));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i - 1]!.id === sorted[i]!.id) fail('BAD_PARAMS', `duplicate participant ${sorted[i]!.id}`);
  }
  return sorted;
}

export function attemptScale(params: AttemptParams): number {
  return quantizationScale(params.participants.length, params.clip);
}

/** The FedAvg weight w_i of `id` in this attempt. */
export function participantWeight(params: AttemptParams, id: string): number {
  const sorted = sortedParticipants(params);
  const weights = fedAvgWeights(sorted.map((p) => p.samples));
  const i = sorted.findIndex((p) => p.id === id);
  if (i < 0) fail('BAD_PARAMS', `${id} is not a participant of this attempt`);
  return weights[i]!;
}

export function buildCryptogram(
  params: AttemptParams,
  self: { id: string; secretKey: Uint8Array },
  update: Float32Array,
): Uint32Array {
  const weight = participantWeight(params, self.id);
  const q = quantize(update, weight, params.clip, attemptScale(params));
  return maskQuantized(params, self, q);
}


/**
 * Adds this member's pairwise masks to its quantized update, in place: + mask_ij for peers with a
 * higher id, − mask_ij for peers with a lower one, all pairs in one pass (addKeystreams), so
 * memory stays at the cryptogram itself plus one 64 KiB block per pair.
 */
export function maskQuantized(params: AttemptParams, self: { id: string; secretKey: Uint8Array }, q: Uint32Array): Uint32Array {
  const sorted = sortedParticipants(params);
  if (sorted.length < 2) fail('BAD_PARAMS', 'a cryptogram needs at least 2 participants');
  if (!sorted.some((p) => p.id === self.id)) fail('BAD_PARAMS', `${self.id} is not a participant of this attempt`);
  if (!Number.isSafeInteger(params.round) || params.round < 0) fail('BAD_PARAMS', 'round must be a u64');
  if (!Number.isInteger(params.attempt) || params.attempt < 0 || params.attempt > 0xffffffff) {
    fail('BAD_PARAMS', 'attempt must be a u32');
  }
  const peers = sorted.filter((p) => p.id !== self.id);
  const seeds = maskSeeds({
    consortium: params.consortium,
    round: params.round,
    attempt: params.attempt,
    selfId: self.id,
    selfSecret: self.secretKey,
    peers,
  });
  const signs = peers.map((peer) => (compareIds(self.id, peer.id) < 0 ? 1 : -1) as 1 | -1);
  addKeystreams(q, seeds, signs); // all pairs in one pass over q
  return q;
}

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error('flnode protocol: big-endian hosts are not supported');
}

export function sumCryptograms(cryptograms: readonly Uint32Array[]): Uint32Array {
  if (cryptograms.length === 0) fail('BAD_PARAMS', 'nothing to sum');
  const d = cryptograms[0]!.length;
  for (const c of cryptograms) if (c.length !== d) fail('BAD_PARAMS', `cryptogram length ${c.length} != ${d}`);
  const out = new Uint32Array(d);
  const bytes = cryptograms.map((c) => new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
  addBlocks(out, bytes.length, (j, start, n) => bytes[j]!.subarray(start, start + n), new Array<1>(bytes.length).fill(1));
  return out;
}

/** Σ c_i decoded: the weighted FedAvg delta (error ≤ n/(2S) per coordinate). */
export function decodeAggregate(sum: Uint32Array, params: AttemptParams): Float32Array {
  return dequantize(sum, attemptScale(params));
}

/** SHA-256 of the cryptogram's little-endian bytes. */
export function cryptogramHash(c: Uint32Array): Uint8Array {
  return sha256(writeWordsLE(c));
}
