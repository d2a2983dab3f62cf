// Regenerates every protocol/vectors/*.json from fixed inputs (`npm run vectors`). The test suite
// regenerates each file and fails on any difference, and checks it with an independent verifier.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  applyAggregate,
  buildCryptogramV2,
  compareIds,
  computeShares,
  decodeAggregateOverU3,
  encryptShares,
  exactScale,
  keystream,
  modelHash,
  pairMaskSeed,
  recoverMaskSecret,
  recoverSelfSeed,
  selfCommit,
  selfMaskKey,
  shareCommitment,
  shareKey,
  sharedSecret,
  shareXs,
  toHex,
  unmaskAggregate,
  validateThreshold,
  x25519PublicKey,
  type AttemptV2,
  type HeldShare,
} from '../protocol/index.ts';

/** Deterministic bytes: SHA-256 counter stream over a label. */
export function detBytes(label: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0, ctr = 0; i < n; ctr++) {
    const block = sha256(new TextEncoder().encode(`${label}#${ctr}`));
    out.set(block.subarray(0, Math.min(32, n - i)), i);
    i += 32;
  }
  return out;
}

export function detUpdate(label: string, d: number, amplitude: number): number[] {
  const b = detBytes(label, d * 4);
  const dv = new DataView(b.buffer);
  // Uniform in [-amplitude, amplitude), rounded to float32 so the JSON holds exact float32 values.
  return Array.from({ length: d }, (_, i) => Math.fround(((dv.getUint32(i * 4) / 2 ** 32) * 2 - 1) * amplitude));
}

export const VECTOR_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'protocol', 'vectors');

export interface V2VectorInput {
  name: string;
  consortium: string;
  round: number;
  attempt: number;
  threshold: number;
  clip: number;
  members: { id: string; samples: number }[];
  /** U2 and U3 (ids); U1 is every member. */
  u2: string[];
  u3: string[];
  d: number;
  amplitude: number;
  seedTag: string;
}

const prefix8 = (key: Uint8Array) => {
  const ks = keystream(key, 32);
  return Array.from({ length: 8 }, (_, k) => ks.readUInt32LE(k * 4));
};

export function buildVectorV2(input: V2VectorInput): unknown {
  const { consortium, round, attempt, threshold, clip } = input;
  const ref = { consortium, round, attempt };
  const tag = `${input.seedTag}/${round}/${attempt}`;
  const sorted = [...input.members].sort((a, b) => compareIds(a.id, b.id));
  validateThreshold(sorted.length, threshold);
  const xs = shareXs(sorted.map((m) => m.id));
  const members = sorted.map((m) => {
    const cSecret = detBytes(`${tag}/c/${m.id}`, 32);
    const sSecret = detBytes(`${tag}/s/${m.id}`, 32);
    const selfSeed = detBytes(`${tag}/b/${m.id}`, 32);
    return { ...m, x: xs.get(m.id)!, cSecret, cPublic: x25519PublicKey(cSecret), sSecret, sPublic: x25519PublicKey(sSecret), selfSeed, update: detUpdate(`${input.seedTag}/${round}/update/${m.id}`, input.d, input.amplitude) };
  });
  const byId = new Map(members.map((m) => [m.id, m]));
  const u2 = [...input.u2].sort(compareIds).map((id) => byId.get(id)!);
  const u3 = [...input.u3].sort(compareIds);
  const u1ids = members.map((m) => m.id);
  const att: AttemptV2 = { ...ref, clip, threshold, u2: u2.map((m) => ({ id: m.id, sPublic: m.sPublic, samples: m.samples })) };

  const shamir = [];
  const shares = new Map<string, ReturnType<typeof computeShares>>();
  for (const m of u2) {
    const coef = (kind: string) => Array.from({ length: threshold - 1 }, (_, e) => detBytes(`${tag}/coef/${kind}/${m.id}/${e + 1}`, 32));
    const coefficients = { s: coef('s'), b: coef('b') };
    const dealt = computeShares(m, coefficients, xs, u1ids);
    shares.set(m.id, dealt);
    for (const kind of ['s', 'b'] as const) {
      shamir.push({ owner: m.id, secret: kind, coefficients: coefficients[kind].map(toHex), shares: Object.fromEntries(u1ids.map((id) => [id, toHex(dealt.get(id)![kind])])) });
    }
  }
  const shareCiphertexts = [];
  for (const from of u2) {
    for (const to of members) {
      if (to.id === from.id) continue;
      const key = shareKey(ref, from.id, to.id, from.cSecret, to.cPublic);
      const sh = shares.get(from.id)!.get(to.id)!;
      shareCiphertexts.push({ from: from.id, to: to.id, key: toHex(key), ciphertext: toHex(encryptShares(key, sh.s, sh.b)) });
    }
  }
  const pairs = [];
  for (let i = 0; i < u2.length; i++) {
    for (let j = i + 1; j < u2.length; j++) {
      const a = u2[i]!;
      const b = u2[j]!;
      const seed = pairMaskSeed(ref, a.id, a.sSecret, b.id, b.sPublic);
      pairs.push({ a: a.id, b: b.id, shared_secret: toHex(sharedSecret(a.sSecret, b.sPublic)), seed: toHex(seed), mask_prefix: prefix8(seed) });
    }
  }
  const selfMasks = Object.fromEntries(u2.map((m) => {
    const key = selfMaskKey(ref, m.id, m.selfSeed);
    return [m.id, { seed: toHex(key), mask_prefix: prefix8(key) }];
  }));
  const cryptograms = new Map(u2.map((m) => [m.id, buildCryptogramV2(att, m, Float32Array.from(m.update))]));

  // Unmask as a member would: every member of U3 reveals, secrets come back from the shares.
  const revealed = (owner: string, kind: 's' | 'b'): HeldShare[] =>
    u3.map((holder) => {
      const share = shares.get(owner)!.get(holder)![kind];
      return { holder, x: xs.get(holder)!, share, commitment: shareCommitment(ref, owner, holder, kind, share) };
    });
  const selfSeeds = new Map(u3.map((id) => [id, recoverSelfSeed(ref, id, selfCommit(byId.get(id)!.selfSeed), revealed(id, 'b'), threshold)]));
  const dropped = new Map(u2.filter((m) => !u3.includes(m.id)).map((m) => [m.id, recoverMaskSecret(ref, m.id, m.sPublic, revealed(m.id, 's'), threshold)]));
  const aggregate = unmaskAggregate(att, u3, cryptograms, selfSeeds, dropped);

  return {
    version: 2,
    consortium,
    round,
    attempt,
    threshold,
    clip,
    scale: exactScale(u2.length, clip),
    members: members.map((m) => ({
      id: m.id,
      x: m.x,
      c_secret: toHex(m.cSecret),
      c_public: toHex(m.cPublic),
      s_secret: toHex(m.sSecret),
      s_public: toHex(m.sPublic),
      self_seed: toHex(m.selfSeed),
      samples: m.samples,
      update: m.update,
    })),
    u2: u2.map((m) => m.id),
    u3,
    shamir,
    share_ciphertexts: shareCiphertexts,
    pairs,
    self_masks: selfMasks,
    cryptograms: Object.fromEntries([...cryptograms].map(([id, c]) => [id, Array.from(c)])),
    aggregate: Array.from(aggregate),
    decoded: Array.from(decodeAggregateOverU3(att, u3, aggregate)),
  };
}

const ids5 = ['site-1', 'site-2', 'site-3', 'site-4', 'site-5'];
const idsClipped = ['hospital-a', 'Hospital-Z', 'klinik-ü', 'hôpital-c', 'site-🏥'];
/** C·S = 300000000.5 with S = 2^35: every clipped value is a rounding tie. */
export const CLIPPED_CLIP = 300000000.5 / 2 ** 35;
/** Math.log2 of (2^31 − 1 − 3)/(3·C) returns exactly 30 though the quotient is below 2^30: S = 2^29, not 2^30. */
export const SCALE_EDGE_CLIP = 0.6666666654249034;

export const V2_VECTOR_INPUTS: V2VectorInput[] = [
  { name: 'v2-three-members', consortium: 'vectors-v2-3', round: 7, attempt: 0, threshold: 3, clip: 0.5, members: [{ id: 'alpha', samples: 1570 }, { id: 'beta', samples: 1569 }, { id: 'gamma', samples: 1569 }], u2: ['alpha', 'beta', 'gamma'], u3: ['alpha', 'beta', 'gamma'], d: 64, amplitude: 0.25, seedTag: 'v2-3' },
  { name: 'v2-five-members-dropout', consortium: 'vectors-v2-5', round: 42, attempt: 1, threshold: 4, clip: 0.25, members: ids5.map((id, i) => ({ id, samples: 50 * (i + 1) })), u2: ids5, u3: ids5.filter((id) => id !== 'site-3'), d: 256, amplitude: 0.5, seedTag: 'v2-5d' },
  { name: 'v2-five-members-clipped', consortium: 'vectors-v2-5c', round: 43, attempt: 0, threshold: 4, clip: CLIPPED_CLIP, members: idsClipped.map((id, i) => ({ id, samples: 50 * (i + 1) })), u2: idsClipped, u3: idsClipped, d: 1024, amplitude: 0.2, seedTag: 'v2-5c' },
  { name: 'v2-scale-edge', consortium: 'vectors-v2-edge', round: 1, attempt: 0, threshold: 3, clip: SCALE_EDGE_CLIP, members: ['a', 'b', 'c'].map((id) => ({ id, samples: 100 })), u2: ['a', 'b', 'c'], u3: ['a', 'b', 'c'], d: 16, amplitude: 4, seedTag: 'v2-edge' },
];

export function vectorTextV2(input: V2VectorInput): string {
  return JSON.stringify(buildVectorV2(input), null, 1) + '\n';
}

/** PROTOCOL.md §6.1: the v2-three-members vector's decoded aggregate applied to a base model, with both model hashes. */
export function buildModelUpdateVector(): unknown {
  const { decoded } = buildVectorV2(V2_VECTOR_INPUTS[0]!) as { decoded: number[] };
  const base = Float32Array.from(detUpdate('model-update/base', decoded.length, 1));
  const model = applyAggregate(base, Float32Array.from(decoded));
  return { source: V2_VECTOR_INPUTS[0]!.name, base: Array.from(base), base_hash: toHex(modelHash(base)), decoded, model: Array.from(model), model_hash: toHex(modelHash(model)) };
}
export const MODEL_UPDATE_VECTOR = 'model-update.json';

/** Writes every vector file; returns their paths. */
export function writeAllVectors(): string[] {
  const paths: string[] = [];
  for (const input of V2_VECTOR_INPUTS) {
    const path = join(VECTOR_DIR, `${input.name}.json`);
    writeFileSync(path, vectorTextV2(input));
    paths.push(path);
  }
  const path = join(VECTOR_DIR, MODEL_UPDATE_VECTOR);
  writeFileSync(path, JSON.stringify(buildModelUpdateVector(), null, 1) + '\n');
  return [...paths, path];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const path of writeAllVectors()) console.log(`wrote ${path}`);
}
