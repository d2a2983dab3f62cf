// Key material: ephemeral X25519 pairs for one (round, attempt), Ed25519 identity signatures.
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { fail } from './errors.ts';

export function generateEphemeralKeyPair(): { secretKey: Uint8Array; publicKey: Uint8Array } {
  const secretKey = x25519.utils.randomSecretKey();
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== 32) fail('BAD_KEY', 'X25519 secret key must be 32 bytes');
  return x25519.getPublicKey(secretKey);
}

/**
 * RFC 7748 X25519. Rejects malformed keys and low-order public keys (an all-zero shared secret),
 * so a malicious member cannot force a known mask.
 */
export function sharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (secretKey.length !== 32) fail('BAD_KEY', 'X25519 secret key must be 32 bytes');
  if (publicKey.length !== 32) fail('BAD_KEY', 'X25519 public key must be 32 bytes');
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(secretKey, publicKey);
  } catch (err) {
    return fail('BAD_KEY', `X25519 rejected the public key (${(err as Error).message})`);
  }
  if (shared.every((b) => b === 0)) fail('BAD_KEY', 'low-order X25519 public key');
  return shared;
}

export function signingPublicKey(secret32: Uint8Array): Uint8Array {
  if (secret32.length !== 32) fail('BAD_KEY', 'Ed25519 secret key must be 32 bytes');
  return ed25519.getPublicKey(secret32);
}

export function sign(message: Uint8Array, secret32: Uint8Array): Uint8Array {
  if (secret32.length !== 32) fail('BAD_KEY', 'Ed25519 secret key must be 32 bytes');
  return ed25519.sign(message, secret32);
}

export function verifySignature(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): void {
  let ok = false;
  try {
    ok = signature.length === 64 && publicKey.length === 32 && ed25519.verify(signature, message, publicKey);
  } catch {
    ok = false;
  }
  if (!ok) fail('BAD_SIGNATURE', 'Ed25519 signature does not verify');
}
