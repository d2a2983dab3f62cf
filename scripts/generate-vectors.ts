// Regenerates protocol/vectors/*.json from fixed inputs (`npm run vectors`). The test suite
// regenerates each file and fails on any difference, and checks it with an independent verifier.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  applyAggregate,
  compareIds,
  dequantize,
  fedAvgWeights,
  keystream,
  maskQuantized,
  maskSeed,
  modelHash,
  quantizationScale,
  quantize,
  sharedSecret,
  sumCryptograms,
  toHex,
  x25519PublicKey,
  type AttemptParams,
} from '../protocol/index.ts';

export interface VectorInput {
  name: string;
  consortium: string;
  round: number;
  attempt: number;
  clip: number;
  /** Members: id, sample count, and how their update is generated. */
  members: { id: string; samples: number }[];
  d: number;
  /** Multiplier of the deterministic pseudo-random update (values beyond the clip when large). */
  amplitude: number;
  /** Ids whose secrets/updates come from another vector (a later attempt after a dropout). */
  seedTag: string;
}

/** Deterministic bytes: SHA-256 counter stream over a label. */
function detBytes(label: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0, ctr = 0; i < n; ctr++) {
    const block = sha256(new TextEncoder().encode(`${label}#${ctr}`));
    out.set(block.subarray(0, Math.min(32, n - i)), i);
    i += 32;
  }
  return out;
}

function detUpdate(label: string, d: number, amplitude: number): number[] {
  const b = detBytes(label, d * 4);
  const dv = new DataView(b.buffer);
  // Uniform in [-amplitude, amplitude), rounded to float32 so the JSON holds exact float32 values.
  return Array.from({ length: d }, (_, i) => Math.fround(((dv.getUint32(i * 4) / 2 ** 32) * 2 - 1) * amplitude));
}

export function buildVector(input: VectorInput): unknown {
  const sorted = [...input.members].sort((a, b) => compareIds(a.id, b.id));
  const weights = fedAvgWeights(sorted.map((m) => m.samples));
  const scale = quantizationScale(sorted.length, input.clip);
  const members = sorted.map((m, i) => {
    const secret = detBytes(`${input.seedTag}/${input.round}/${input.attempt}/x25519/${m.id}`, 32);
    return {
      id: m.id,
      x25519_secret: toHex(secret),
      x25519_public: toHex(x25519PublicKey(secret)),
      weight: weights[i]!,
      update: detUpdate(`${input.seedTag}/${input.round}/update/${m.id}`, input.d, input.amplitude),
      secret,
    };
  });
  const params: AttemptParams = {
    consortium: input.consortium,
    round: input.round,
    attempt: input.attempt,
    clip: input.clip,
    participants: members.map((m, i) => ({ id: m.id, publicKey: x25519PublicKey(m.secret), samples: sorted[i]!.samples })),
  };
  const pairs = [];
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) {
      const a = members[i]!;
      const b = members[j]!;
      const seed = maskSeed({ consortium: input.consortium, round: input.round, attempt: input.attempt, selfId: a.id, selfSecret: a.secret, peerId: b.id, peerPublic: x25519PublicKey(b.secret) });
      const ks = keystream(seed, 32);
      const prefix = Array.from({ length: 8 }, (_, k) => ks.readUInt32LE(k * 4));
      pairs.push({ a: a.id, b: b.id, shared_secret: toHex(sharedSecret(a.secret, x25519PublicKey(b.secret))), seed: toHex(seed), mask_prefix: prefix });
    }
  }
  const cryptograms: Record<string, number[]> = {};
  const cs: Uint32Array[] = [];
  for (const m of members) {
    const q = quantize(Float32Array.from(m.update), m.weight, input.clip, scale);
    const c = maskQuantized(params, { id: m.id, secretKey: m.secret }, q);
    cs.push(c);
    cryptograms[m.id] = Array.from(c);
  }
  const aggregate = sumCryptograms(cs);
  return {
    consortium: input.consortium,
    round: input.round,
    attempt: input.attempt,
    clip: input.clip,
    scale,
    members: members.map(({ secret: _s, ...rest }) => rest),
    pairs,
    cryptograms,
    aggregate: Array.from(aggregate),
    decoded: Array.from(dequantize(aggregate, scale)),
  };
}

const ids5 = ['hospital-a', 'hospital-b', 'klinik-ü', 'hôpital-c', 'Hospital-Z'];
export const VECTOR_INPUTS: VectorInput[] = [
  { name: 'two-members', consortium: 'vectors-2', round: 1, attempt: 0, clip: 1, members: [{ id: 'site-b', samples: 300 }, { id: 'site-a', samples: 100 }], d: 16, amplitude: 0.5, seedTag: 'v2' },
  { name: 'three-members', consortium: 'vectors-3', round: 7, attempt: 0, clip: 0.5, members: [{ id: 'alpha', samples: 1570 }, { id: 'beta', samples: 1569 }, { id: 'gamma', samples: 1569 }], d: 64, amplitude: 0.25, seedTag: 'v3' },
  { name: 'five-members-clipped', consortium: 'vectors-5', round: 42, attempt: 0, clip: 0.01, members: ids5.map((id, i) => ({ id, samples: 50 * (i + 1) })), d: 1024, amplitude: 0.2, seedTag: 'v5' },
  { name: 'five-members-clipped-attempt-1', consortium: 'vectors-5', round: 42, attempt: 1, clip: 0.01, members: ids5.filter((id) => id !== 'klinik-ü').map((id) => ({ id, samples: 50 * (ids5.indexOf(id) + 1) })), d: 1024, amplitude: 0.2, seedTag: 'v5' },
];

/** PROTOCOL.md §3/§5: the three-members vector's decoded aggregate applied to a base model, with both model hashes. */
export function buildModelUpdateVector(): unknown {
  const { decoded } = buildVector(VECTOR_INPUTS[1]!) as { decoded: number[] };
  const base = Float32Array.from(detUpdate('model-update/base', decoded.length, 1));
  const model = applyAggregate(base, Float32Array.from(decoded));
  return { source: 'three-members', base: Array.from(base), base_hash: toHex(modelHash(base)), decoded, model: Array.from(model), model_hash: toHex(modelHash(model)) };
}
export const MODEL_UPDATE_VECTOR = 'model-update.json';

export const VECTOR_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'protocol', 'vectors');

export function vectorText(input: VectorInput): string {
  return JSON.stringify(buildVector(input), null, 1) + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const input of VECTOR_INPUTS) {
    const path = join(VECTOR_DIR, `${input.name}.json`);
    writeFileSync(path, vectorText(input));
    console.log(`wrote ${path}`);
  }
  writeFileSync(join(VECTOR_DIR, MODEL_UPDATE_VECTOR), JSON.stringify(buildModelUpdateVector(), null, 1) + '\n');
  console.log(`wrote ${join(VECTOR_DIR, MODEL_UPDATE_VECTOR)}`);
}
