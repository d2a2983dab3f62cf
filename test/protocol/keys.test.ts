// Ed25519 on node:crypto must be exactly the Ed25519 of the reference implementation (noble):
// same deterministic signatures, same verdicts, and no malleable second encoding.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sign, signingPublicKey, verifySignature } from '../../protocol/keys.ts';
import { ProtocolError } from '../../protocol/errors.ts';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function leToBig(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  return x;
}
function bigToLe(x: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++, x >>= 8n) out[i] = Number(x & 0xffn);
  return out;
}
const rejects = (sig: Uint8Array, msg: Uint8Array, pub: Uint8Array) =>
  assert.throws(() => verifySignature(sig, msg, pub), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_SIGNATURE');

describe('protocol: Ed25519 signatures (node:crypto) against the noble reference', () => {
  it('signs byte-for-byte like noble and verifies what noble signs, for 200 random keys and messages', () => {
    for (let i = 0; i < 200; i++) {
      const secret = new Uint8Array(randomBytes(32));
      const msg = new Uint8Array(randomBytes(i * 7));
      const pub = signingPublicKey(secret);
      assert.deepEqual(pub, ed25519.getPublicKey(secret));
      const sig = sign(msg, secret);
      assert.deepEqual(sig, ed25519.sign(msg, secret), `signature ${i} differs from noble's`);
      verifySignature(ed25519.sign(msg, secret), msg, pub);
      assert.equal(ed25519.verify(sig, msg, pub), true);
    }
  });

  it('rejects a flipped bit anywhere in signature, message or key, a wrong key, and malformed lengths', () => {
    const secret = new Uint8Array(randomBytes(32));
    const pub = signingPublicKey(secret);
    const msg = new Uint8Array(randomBytes(100));
    const sig = sign(msg, secret);
    for (let bit = 0; bit < 512; bit += 7) {
      const s2 = sig.slice();
      s2[bit >> 3]! ^= 1 << (bit & 7);
      rejects(s2, msg, pub);
    }
    for (let bit = 0; bit < 800; bit += 13) {
      const m2 = msg.slice();
      m2[bit >> 3]! ^= 1 << (bit & 7);
      rejects(sig, m2, pub);
    }
    rejects(sig, msg, signingPublicKey(new Uint8Array(randomBytes(32))));
    rejects(sig.subarray(0, 63), msg, pub);
    rejects(sig, msg, pub.subarray(0, 31));
    rejects(sig, msg, new Uint8Array(32)); // not a valid point encoding of this key
  });

  it('rejects the malleated signature (R, S + L): one message has one valid signature encoding', () => {
    const secret = new Uint8Array(randomBytes(32));
    const msg = new Uint8Array(randomBytes(40));
    const sig = sign(msg, secret);
    const s = leToBig(sig.subarray(32));
    assert.ok(s < L);
    const malleated = new Uint8Array(64);
    malleated.set(sig.subarray(0, 32));
    malleated.set(bigToLe(s + L, 32), 32);
    rejects(malleated, msg, signingPublicKey(secret));
  });
});
