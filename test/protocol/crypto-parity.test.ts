// X25519 and HKDF run on node:crypto (OpenSSL); they must be exactly the X25519 and HKDF of the
// reference implementation (noble), byte for byte, for any input a peer can send.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { generateEphemeralKeyPair, sharedSecret, sharedSecrets, x25519PublicKey } from '../../protocol/keys.ts';
import { hkdfSha256 } from '../../protocol/masks.ts';
import { ProtocolError } from '../../protocol/errors.ts';

const rnd = (n: number) => new Uint8Array(randomBytes(n));
const P = 2n ** 255n - 19n;
function leBytes(x: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, x >>= 8n) out[i] = Number(x & 0xffn);
  return out;
}
/** noble's verdict: its shared secret, or null where it refuses the key. */
function nobleShared(secret: Uint8Array, pub: Uint8Array): Uint8Array | null {
  try {
    return x25519.getSharedSecret(secret, pub);
  } catch {
    return null;
  }
}
function oursShared(secret: Uint8Array, pub: Uint8Array): Uint8Array | null {
  try {
    return sharedSecret(secret, pub);
  } catch (e) {
    assert.ok(e instanceof ProtocolError && e.code === 'BAD_KEY', String(e));
    return null;
  }
}

describe('protocol: X25519 and HKDF (node:crypto) against the noble reference', () => {
  it('derives the public key of 500 random secrets like noble, and fresh pairs are consistent', () => {
    for (let i = 0; i < 500; i++) {
      const secret = rnd(32);
      assert.deepEqual(x25519PublicKey(secret), x25519.getPublicKey(secret), `public key ${i}`);
    }
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const kp = generateEphemeralKeyPair();
      assert.equal(kp.secretKey.length, 32);
      assert.deepEqual(kp.publicKey, x25519.getPublicKey(kp.secretKey));
      seen.add(Buffer.from(kp.secretKey).toString('hex'));
    }
    assert.equal(seen.size, 50, 'ephemeral secrets repeat');
  });

  it('computes the shared secret of 500 random key pairs like noble, both directions', () => {
    for (let i = 0; i < 500; i++) {
      const a = rnd(32);
      const b = rnd(32);
      const ab = sharedSecret(a, x25519.getPublicKey(b));
      assert.deepEqual(ab, x25519.getSharedSecret(a, x25519.getPublicKey(b)), `pair ${i}`);
      assert.deepEqual(ab, sharedSecret(b, x25519PublicKey(a)));
    }
  });

  it('sharedSecrets (one secret, many public keys) equals noble per key, and refuses a set holding a low-order key', () => {
    const secret = rnd(32);
    const pubs = Array.from({ length: 40 }, () => x25519.getPublicKey(rnd(32)));
    assert.deepEqual(sharedSecrets(secret, pubs), pubs.map((pub) => x25519.getSharedSecret(secret, pub)));
    assert.deepEqual(sharedSecrets(secret, []), []);
    assert.throws(() => sharedSecrets(secret, [...pubs, leBytes(1n)]), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_KEY');
    assert.throws(() => sharedSecrets(secret, [pubs[0]!, new Uint8Array(33)]), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_KEY');
  });

  it('treats arbitrary 32-byte public keys like noble: top bit set, non-canonical u ≥ p, random bytes', () => {
    const pubs: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) pubs.push(rnd(32)); // about half with bit 255 set
    for (let k = 0n; k < 40n; k++) pubs.push(leBytes(P + k), leBytes(P + k + 2n ** 255n));
    pubs.push(leBytes(2n ** 255n - 1n), leBytes(2n ** 256n - 1n), leBytes(9n), leBytes(9n + 2n ** 255n));
    let refused = 0;
    for (const pub of pubs) {
      const secret = rnd(32);
      const ours = oursShared(secret, pub);
      const ref = nobleShared(secret, pub);
      assert.deepEqual(ours, ref, Buffer.from(pub).toString('hex'));
      if (ours === null) refused++;
    }
    // p, p+1 and p ± their top-bit twins are the low-order points 0 and 1 mod p: refused by both
    assert.ok(refused >= 4, `only ${refused} refused`);
  });

  it('refuses every low-order point, whatever the secret, with BAD_KEY (noble refuses them too)', () => {
    const lowOrder = [0n, 1n, P - 1n, P, P + 1n,
      0x00b8495f16056286fdb1329ceb8d09da6ac49ff1fae35616aeb8413b7c7aebe0n,
      0x57119fd0dd4e22d8868e1c58c45c44045bef839c55b1d0b1248c50a3bc959c5fn];
    for (const u of lowOrder) {
      for (const pub of [leBytes(u), leBytes(u + 2n ** 255n)]) {
        for (let i = 0; i < 5; i++) {
          const secret = rnd(32);
          assert.equal(nobleShared(secret, pub), null);
          assert.throws(() => sharedSecret(secret, pub), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_KEY', u.toString(16));
        }
      }
    }
    assert.throws(() => sharedSecret(rnd(31), x25519.getPublicKey(rnd(32))), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_KEY');
    assert.throws(() => x25519PublicKey(rnd(33)), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_KEY');
  });

  it('HKDF-SHA256 equals noble for random ikm, salt, info and lengths, across the node:crypto limits', () => {
    const cases: [number, number, number, number][] = [
      [32, 32, 0, 32], [32, 0, 40, 32], [0, 0, 0, 32], [32, 32, 1024, 32], [32, 32, 1025, 32],
      [32, 32, 3000, 64], [16, 7, 9, 255 * 32], [32, 32, 50, 255 * 32 - 1], [32, 32, 10, 1],
    ];
    for (let i = 0; i < 400; i++) cases.push([i % 97, (i * 7) % 70, (i * 13) % 1100, 1 + ((i * 31) % 300)]);
    for (const [ikmLen, saltLen, infoLen, length] of cases) {
      const [ikm, salt, info] = [rnd(ikmLen), rnd(saltLen), rnd(infoLen)];
      const ours = hkdfSha256(ikm, salt, info, length);
      assert.ok(ours instanceof Uint8Array && ours.length === length);
      assert.deepEqual(ours, hkdf(sha256, ikm, salt, info, length), `ikm ${ikmLen} salt ${saltLen} info ${infoLen} L ${length}`);
    }
    assert.throws(() => hkdfSha256(rnd(32), rnd(32), rnd(8), 255 * 32 + 1));
  });
});
