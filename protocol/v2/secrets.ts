// Per-(round, attempt) secrets of protocol v2 and the checks on their public halves.
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, equalBytes, u32be, u64be, utf8 } from '../bytes.ts';
import { fail } from '../errors.ts';
import { generateEphemeralKeyPair, sharedSecret, x25519PublicKey } from '../keys.ts';
import { checkMemberId } from './threshold.ts';

/** (K, r, a): what every v2 derivation is bound to. */
export interface AttemptRef {
  consortium: string;
  round: number;
  attempt: number;
}

export interface RoundSecrets {
  /** Share-encryption pair (c_sk, c_pk). */
  cSecret: Uint8Array;
  cPublic: Uint8Array;
  /** Mask pair (s_sk, s_pk); s_sk is shared t-of-n as its 32 raw bytes. */
  sSecret: Uint8Array;
  sPublic: Uint8Array;
  /** Self-mask seed b_i, shared t-of-n. */
  selfSeed: Uint8Array;
}

/** salt = SHA-256(utf8("flnode/v2/consortium/") || utf8(K)). */
export function consortiumSaltV2(consortium: string): Uint8Array {
  return sha256(concat(utf8('flnode/v2/consortium/'), utf8(consortium)));
}

/** u64be(r) || u32be(a), checked. */
export function roundAttemptBytes(ref: AttemptRef): Uint8Array {
  if (!Number.isSafeInteger(ref.round) || ref.round < 0) fail('BAD_PARAMS', 'round must be a u64');
  if (!Number.isInteger(ref.attempt) || ref.attempt < 0 || ref.attempt > 0xffffffff) fail('BAD_PARAMS', 'attempt must be a u32');
  return concat(u64be(ref.round), u32be(ref.attempt));
}

/** utf8(idA) || 0x00 || utf8(idB), both ids checked (no 0x00 inside). */
export function idPair(idA: string, idB: string): Uint8Array {
  checkMemberId(idA);
  checkMemberId(idB);
  return concat(utf8(idA), Uint8Array.of(0), utf8(idB));
}

/** SHA-256(utf8("flnode/v2/self-commit") || b). */
export function selfCommit(selfSeed: Uint8Array): Uint8Array {
  if (selfSeed.length !== 32) fail('BAD_PARAMS', 'self-mask seed must be 32 bytes');
  return sha256(concat(utf8('flnode/v2/self-commit'), selfSeed));
}

/** Fresh secrets from the CSPRNG: one set per (r, a), persisted before anything derived is sent. */
export function generateRoundSecrets(): RoundSecrets {
  const c = generateEphemeralKeyPair();
  const s = generateEphemeralKeyPair();
  return { cSecret: c.secretKey, cPublic: c.publicKey, sSecret: s.secretKey, sPublic: s.publicKey, selfSeed: new Uint8Array(randomBytes(32)) };
}

// Any scalar works: X25519 clamps it to a multiple of 8, which sends every point of order 1, 2,
// 4 or 8 (on the curve or its twist) to zero, and only those.
const PROBE_SCALAR = new Uint8Array(32).fill(0x5a);

/** BAD_KEY unless `publicKey` is 32 bytes whose X25519 output with any key is not all zero. */
export function checkX25519Public(publicKey: Uint8Array, what = 'public key'): void {
  if (publicKey.length !== 32) fail('BAD_KEY', `${what} must be 32 bytes`);
  try {
    sharedSecret(PROBE_SCALAR, publicKey);
  } catch {
    fail('BAD_KEY', `${what} is a low-order X25519 point`);
  }
}

/** A reconstructed s_sk is accepted only if X25519(s_sk, 9) = s_pk. */
export function verifyMaskSecret(sSecret: Uint8Array, sPublic: Uint8Array): boolean {
  return sSecret.length === 32 && equalBytes(x25519PublicKey(sSecret), sPublic);
}

/** A reconstructed b is accepted only if it matches the announced self-commit. */
export function verifySelfSeed(selfSeed: Uint8Array, commit: Uint8Array): boolean {
  return selfSeed.length === 32 && equalBytes(selfCommit(selfSeed), commit);
}
