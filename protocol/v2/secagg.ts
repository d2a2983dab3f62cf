// Protocol v2 cryptograms: self mask plus pairwise masks over U2, and unmasking over U3 with the
// secrets reconstructed from threshold shares (PROTOCOL.md §6, §9).
import { sha256 } from '@noble/hashes/sha2.js';
import { compareIds, concat, utf8 } from '../bytes.ts';
import { quantize } from '../encoding.ts';
import { fail } from '../errors.ts';
import { sharedSecret, sharedSecrets } from '../keys.ts';
import { hkdfSha256, quantizeAndMask, sumAndMask, sumAndMaskDecoded, writeWordsLE } from '../masks.ts';
import { checkDecodeParams, decodeAggregateV2, exactScale, fedAvgWeightsV2 } from './encoding.ts';
import { consortiumSaltV2, idPair, roundAttemptBytes, type AttemptRef } from './secrets.ts';
import { checkMemberId } from './threshold.ts';

/** What a member of U2 announced (and the aggregator's U1 list repeats). */
export interface AnnouncedMember {
  id: string;
  sPublic: Uint8Array;
  samples: number;
}

export interface AttemptV2 extends AttemptRef {
  clip: number;
  /** t: U2 and U3 must each hold at least t members. */
  threshold: number;
  /** U2: the members whose shares reached everyone; its keys alone enter masks. */
  u2: readonly AnnouncedMember[];
}

/** U2 sorted by id bytes; duplicates and bad ids refused. */
export function sortedU2(att: AttemptV2): AnnouncedMember[] {
  const sorted = [...att.u2].sort((a, b) => compareIds(a.id, b.id));
  for (let i = 0; i < sorted.length; i++) {
    checkMemberId(sorted[i]!.id);
    if (i > 0 && sorted[i - 1]!.id === sorted[i]!.id) fail('BAD_PARAMS', `duplicate member ${sorted[i]!.id} in U2`);
  }
  return sorted;
}

/** seed_ij = HKDF-SHA256(X25519(s_sk_i, s_pk_j), salt, utf8("flnode/v2/mask") || u64be(r) || u32be(a) || idLow || 0x00 || idHigh, 32). */
export function pairMaskSeed(ref: AttemptRef, selfId: string, sSecret: Uint8Array, peerId: string, peerSPublic: Uint8Array): Uint8Array {
  if (selfId === peerId) fail('BAD_PARAMS', 'a member has no mask with itself');
  return pairSeedFromShared(ref, selfId, peerId, sharedSecret(sSecret, peerSPublic));
}

/** pairMaskSeed of `selfId` with each peer: s_sk imported once for all X25519s. */
function pairMaskSeeds(ref: AttemptRef, selfId: string, sSecret: Uint8Array, peers: readonly AnnouncedMember[]): Uint8Array[] {
  for (const peer of peers) if (peer.id === selfId) fail('BAD_PARAMS', 'a member has no mask with itself');
  const shared = sharedSecrets(sSecret, peers.map((p) => p.sPublic));
  return peers.map((peer, k) => pairSeedFromShared(ref, selfId, peer.id, shared[k]!));
}

function pairSeedFromShared(ref: AttemptRef, selfId: string, peerId: string, shared: Uint8Array): Uint8Array {
  const [low, high] = compareIds(selfId, peerId) < 0 ? [selfId, peerId] : [peerId, selfId];
  const info = concat(utf8('flnode/v2/mask'), roundAttemptBytes(ref), idPair(low, high));
  return hkdfSha256(shared, consortiumSaltV2(ref.consortium), info, 32);
}

/** The self mask's AES key: HKDF-SHA256(b_i, salt, utf8("flnode/v2/self") || u64be(r) || u32be(a) || utf8(id_i), 32). */
export function selfMaskKey(ref: AttemptRef, id: string, selfSeed: Uint8Array): Uint8Array {
  if (selfSeed.length !== 32) fail('BAD_PARAMS', 'self-mask seed must be 32 bytes');
  checkMemberId(id);
  return hkdfSha256(selfSeed, consortiumSaltV2(ref.consortium), concat(utf8('flnode/v2/self'), roundAttemptBytes(ref), utf8(id)), 32);
}

export function attemptScaleV2(att: AttemptV2): number {
  return exactScale(att.u2.length, att.clip);
}

/** FedAvg weight w_i = n_i / N2 of `id` over U2. */
export function weightOverU2(att: AttemptV2, id: string): number {
  const u2 = sortedU2(att);
  const { weights } = fedAvgWeightsV2(u2.map((m) => m.samples));
  const i = u2.findIndex((m) => m.id === id);
  if (i < 0) fail('BAD_PARAMS', `${id} is not in U2`);
  return weights[i]!;
}

/** q_i = roundHalfEven(clamp(w_i·u_i, −C, C)·S) mod 2^32 with the v2 weight and scale. */
export function quantizeV2(att: AttemptV2, id: string, update: Float32Array): Uint32Array {
  return quantize(update, weightOverU2(att, id), att.clip, attemptScaleV2(att));
}

/** c_i = q_i + self_i + Σ_{j∈U2, id_i<id_j} mask_ij − Σ_{j∈U2, id_j<id_i} mask_ij (mod 2^32). */
export function buildCryptogramV2(att: AttemptV2, self: { id: string; sSecret: Uint8Array; selfSeed: Uint8Array }, update: Float32Array): Uint32Array {
  const { keys, signs, weight } = cryptogramMasksV2(att, self);
  return quantizeAndMask(update, weight, att.clip, attemptScaleV2(att), keys, signs);
}

/**
 * The AES keys and signs of member `self`'s masks (self mask +1 first, then U2's pairwise masks in
 * id order) and its FedAvg weight: what buildCryptogramV2 adds in its one pass over the update.
 */
export function cryptogramMasksV2(att: AttemptV2, self: { id: string; sSecret: Uint8Array; selfSeed: Uint8Array }): { keys: Uint8Array[]; signs: (1 | -1)[]; weight: number } {
  const u2 = sortedU2(att);
  if (u2.length < Math.max(3, att.threshold)) fail('BAD_THRESHOLD', `U2 holds ${u2.length} members, fewer than t = ${att.threshold}`);
  if (!u2.some((m) => m.id === self.id)) fail('BAD_PARAMS', `${self.id} is not in U2`);
  const peers = u2.filter((m) => m.id !== self.id);
  const keys = [selfMaskKey(att, self.id, self.selfSeed), ...pairMaskSeeds(att, self.id, self.sSecret, peers)];
  const signs: (1 | -1)[] = [1, ...peers.map((peer) => (compareIds(self.id, peer.id) < 0 ? 1 : -1) as 1 | -1)];
  return { keys, signs, weight: weightOverU2(att, self.id) };
}

/**
 * A = Σ_{i∈U3} c_i − Σ_{i∈U3} self_i − Σ_{i∈U3} Σ_{j∈U2\U3} sgn(i,j)·mask_ij (mod 2^32), from the
 * cryptograms of U3, the verified b_i of U3 and the verified s_sk_j of U2 \ U3: one pass over
 * blocks of the vector that sums the cryptograms and removes every mask.
 */
export function unmaskAggregate(
  att: AttemptV2,
  u3: readonly string[],
  cryptograms: ReadonlyMap<string, Uint32Array>,
  selfSeeds: ReadonlyMap<string, Uint8Array>,
  droppedSecrets: ReadonlyMap<string, Uint8Array>,
): Uint32Array {
  const { terms, keys, signs } = unmaskInputs(att, u3, cryptograms, selfSeeds, droppedSecrets);
  return sumAndMask(terms, keys, signs);
}

/**
 * decodeAggregateOverU3(att, u3, unmaskAggregate(att, u3, …)) in unmaskAggregate's one pass: each
 * block is summed, unmasked and decoded while it sits in cache (bit-identical to the two calls).
 */
export function unmaskAndDecodeOverU3(
  att: AttemptV2,
  u3: readonly string[],
  cryptograms: ReadonlyMap<string, Uint32Array>,
  selfSeeds: ReadonlyMap<string, Uint8Array>,
  droppedSecrets: ReadonlyMap<string, Uint8Array>,
): Float32Array {
  const { terms, keys, signs } = unmaskInputs(att, u3, cryptograms, selfSeeds, droppedSecrets);
  return sumAndMaskDecoded(terms, keys, signs, decodeParamsOverU3(att, u3));
}

/** The checked cryptograms of U3 and the AES keys and signs of every mask unmasking removes. */
function unmaskInputs(
  att: AttemptV2,
  u3: readonly string[],
  cryptograms: ReadonlyMap<string, Uint32Array>,
  selfSeeds: ReadonlyMap<string, Uint8Array>,
  droppedSecrets: ReadonlyMap<string, Uint8Array>,
): { terms: Uint32Array[]; keys: Uint8Array[]; signs: (1 | -1)[] } {
  const u2 = sortedU2(att);
  const inU3 = new Set(u3);
  if (inU3.size !== u3.length) fail('BAD_PARAMS', 'duplicate member in U3');
  for (const id of inU3) if (!u2.some((m) => m.id === id)) fail('BAD_PARAMS', `${id} is in U3 but not in U2`);
  if (inU3.size < Math.max(3, att.threshold)) fail('BAD_THRESHOLD', `U3 holds ${inU3.size} members, fewer than t = ${att.threshold}`);
  const members3 = u2.filter((m) => inU3.has(m.id));
  const dropped = u2.filter((m) => !inU3.has(m.id));
  const d = cryptograms.get(members3[0]?.id ?? '')?.length ?? fail('BAD_PARAMS', 'no cryptogram of U3');
  const terms = members3.map((m) => {
    const c = cryptograms.get(m.id) ?? fail('BAD_PARAMS', `no cryptogram of ${m.id}`);
    if (c.length !== d) fail('BAD_PARAMS', `cryptogram of ${m.id} has ${c.length} words, expected ${d}`);
    return c;
  });
  const keys = members3.map((m) => selfMaskKey(att, m.id, selfSeeds.get(m.id) ?? fail('BAD_PARAMS', `no self-mask seed of ${m.id}`)));
  const signs: (1 | -1)[] = members3.map(() => -1);
  for (const j of dropped) {
    const sj = droppedSecrets.get(j.id) ?? fail('BAD_PARAMS', `no mask secret of dropped ${j.id}`);
    // mask_ij from j's side: X25519(s_sk_j, s_pk_i) = X25519(s_sk_i, s_pk_j)
    keys.push(...pairMaskSeeds(att, j.id, sj, members3));
    for (const i of members3) signs.push(compareIds(i.id, j.id) < 0 ? -1 : 1);
  }
  return { terms, keys, signs };
}

/** The decoded FedAvg delta over U3: float32(((int32(A)/S)·N2)/N3). */
export function decodeAggregateOverU3(att: AttemptV2, u3: readonly string[], aggregate: Uint32Array): Float32Array {
  const { scale, n2, n3 } = decodeParamsOverU3(att, u3);
  return decodeAggregateV2(aggregate, scale, n2, n3);
}

/** S, N2 = Σ samples over U2 and N3 = Σ samples over U3, checked. */
function decodeParamsOverU3(att: AttemptV2, u3: readonly string[]): { scale: number; n2: number; n3: number } {
  const u2 = sortedU2(att);
  const n2 = fedAvgWeightsV2(u2.map((m) => m.samples)).total;
  const set = new Set(u3);
  const n3 = u2.filter((m) => set.has(m.id)).reduce((s, m) => s + m.samples, 0);
  const params = { scale: attemptScaleV2(att), n2, n3 };
  checkDecodeParams(params);
  return params;
}

/** SHA-256 of the cryptogram's little-endian bytes. */
export function cryptogramHashV2(c: Uint32Array): Uint8Array {
  return sha256(writeWordsLE(c));
}
