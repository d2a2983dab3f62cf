// Applying a decoded aggregate to the global model, and the model hash (PROTOCOL.md §6.1).
import { sha256 } from '@noble/hashes/sha2.js';
import { fail } from './errors.ts';

/** `global' = global + decoded`, coordinate by coordinate in float32 (each sum rounded to float32). */
export function applyAggregate(global: Float32Array, decoded: Float32Array): Float32Array {
  if (global.length !== decoded.length) fail('BAD_PARAMS', `aggregate of ${decoded.length} values for a model of ${global.length}`);
  const next = new Float32Array(global.length);
  for (let i = 0; i < next.length; i++) next[i] = global[i]! + decoded[i]!;
  return next;
}

/** The model's bytes: its float32 values, little-endian, in flat order (also how versions are stored). */
export function modelBytes(weights: Float32Array): Uint8Array {
  const out = new Uint8Array(weights.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < weights.length; i++) dv.setFloat32(i * 4, weights[i]!, true);
  return out;
}

/** The model hash (the binding's `baseModelHash`, Heartbeat and ModelResponse `modelHash`): SHA-256 of modelBytes. */
export function modelHash(weights: Float32Array): Uint8Array {
  return sha256(modelBytes(weights));
}
