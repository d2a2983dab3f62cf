// Key material: ephemeral X25519 pairs for one (round, attempt), Ed25519 identity signatures.
// Ed25519 signing and verification run on node:crypto (OpenSSL): every gossiped envelope is
// verified, and noble's pure-JS verify was a third of all CPU time in a 10-node testbed (measured
// with --cpu-prof: 475 of 1302 CPU-seconds). noble stays for key derivation and as the reference
// the tests compare against (test/protocol/keys.test.ts). X25519 runs on node:crypto too: 0.06 ms
// per shared secret against 1.4 ms in noble, which made it the fixed cost of every cryptogram
// (test/protocol/crypto-parity.test.ts checks it byte for byte against noble).
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, sign as osslSign, verify as osslVerify, type KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fail } from './errors.ts';

// DER prefixes that wrap a raw 32-byte Ed25519 seed (PKCS#8) or public key (SPKI), RFC 8410.
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
// The same for X25519 (OID 1.3.101.110). The raw secret is stored unclamped; OpenSSL clamps on use.
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const privateKeys = new WeakMap<Uint8Array, KeyObject>();
const publicKeys = new Map<string, KeyObject>();

function privateKeyObject(secret32: Uint8Array): KeyObject {
  let k = privateKeys.get(secret32);
  if (!k) {
    k = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, secret32]), format: 'der', type: 'pkcs8' });
    privateKeys.set(secret32, k);
  }
  return k;
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const hex = Buffer.from(publicKey).toString('hex');
  let k = publicKeys.get(hex);
  if (!k) {
    k = createPublicKey({ key: Buffer.concat([ED25519_SPKI, publicKey]), format: 'der', type: 'spki' });
    if (publicKeys.size >= 4096) publicKeys.clear(); // members are few; bound the cache anyway
    publicKeys.set(hex, k);
  }
  return k;
}

function x25519PrivateKeyObject(secretKey: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secretKey]), format: 'der', type: 'pkcs8' });
}

export function generateEphemeralKeyPair(): { secretKey: Uint8Array; publicKey: Uint8Array } {
  const secretKey = new Uint8Array(randomBytes(32));
  return { secretKey, publicKey: x25519PublicKey(secretKey) };
}

export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== 32) fail('BAD_KEY', 'X25519 secret key must be 32 bytes');
  const spki = createPublicKey(x25519PrivateKeyObject(secretKey)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(X25519_SPKI.length));
}

/**
 * RFC 7748 X25519. Rejects malformed keys and low-order public keys (an all-zero shared secret),
 * so a malicious member cannot force a known mask.
 */
export function sharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return sharedSecrets(secretKey, [publicKey])[0]!;
}

/**
 * sharedSecret with one secret key and several public keys: the secret is imported once (importing
 * it costs as much as one X25519). BAD_KEY if any public key is refused.
 */
export function sharedSecrets(secretKey: Uint8Array, publicKeys: readonly Uint8Array[]): Uint8Array[] {
  if (secretKey.length !== 32) fail('BAD_KEY', 'X25519 secret key must be 32 bytes');
  for (const publicKey of publicKeys) if (publicKey.length !== 32) fail('BAD_KEY', 'X25519 public key must be 32 bytes');
  const privateKey = x25519PrivateKeyObject(secretKey);
  return publicKeys.map((publicKey) => {
    let shared: Uint8Array;
    try {
      const publicKeyObject = createPublicKey({ key: Buffer.concat([X25519_SPKI, publicKey]), format: 'der', type: 'spki' });
      // OpenSSL refuses an all-zero result itself (RFC 7748 §6.1); the check below stays regardless.
      shared = new Uint8Array(diffieHellman({ privateKey, publicKey: publicKeyObject }));
    } catch (err) {
      return fail('BAD_KEY', `X25519 rejected the public key (${(err as Error).message})`);
    }
    if (shared.every((b) => b === 0)) fail('BAD_KEY', 'low-order X25519 public key');
    return shared;
  });
}

export function signingPublicKey(secret32: Uint8Array): Uint8Array {
  if (secret32.length !== 32) fail('BAD_KEY', 'Ed25519 secret key must be 32 bytes');
  return ed25519.getPublicKey(secret32);
}

export function sign(message: Uint8Array, secret32: Uint8Array): Uint8Array {
  if (secret32.length !== 32) fail('BAD_KEY', 'Ed25519 secret key must be 32 bytes');
  return new Uint8Array(osslSign(null, message, privateKeyObject(secret32)));
}

export function verifySignature(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): void {
  let ok = false;
  try {
    // RFC 8032 verification (OpenSSL): S < L and canonical encodings, so a signature cannot be
    // re-encoded into a second valid one.
    ok = signature.length === 64 && publicKey.length === 32 && osslVerify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    ok = false;
  }
  if (!ok) fail('BAD_SIGNATURE', 'Ed25519 signature does not verify');
}
