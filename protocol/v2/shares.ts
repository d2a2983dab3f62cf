// Dealing t-of-n shares of s_sk and b to the members of U1: encryption i → j, commitments,
// opening, and complaints (PROTOCOL.md §5).
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { compareIds, concat, equalBytes, utf8 } from '../bytes.ts';
import { fail } from '../errors.ts';
import { sharedSecret } from '../keys.ts';
import { hkdfSha256 } from '../masks.ts';
import { consortiumSaltV2, idPair, roundAttemptBytes, type AttemptRef, type RoundSecrets } from './secrets.ts';
import { SECRET_BYTES, shareSecret } from './shamir.ts';

export type ShareKind = 's' | 'b';
export const SHARE_PLAINTEXT_BYTES = 2 * SECRET_BYTES;
export const SHARE_CIPHERTEXT_BYTES = SHARE_PLAINTEXT_BYTES + 16;
const ZERO_NONCE = Buffer.alloc(12);

/** One recipient's entry of a dealing: the encrypted pair of shares and their commitments. */
export interface DealtShare {
  to: string;
  ciphertext: Uint8Array;
  sCommit: Uint8Array;
  bCommit: Uint8Array;
}

export interface OpenedShares {
  s: Uint8Array;
  b: Uint8Array;
}

/**
 * key_{i→j} = HKDF-SHA256(X25519(c_sk, c_pk_peer), salt, utf8("flnode/v2/share") || u64be(r) ||
 * u32be(a) || utf8(from) || 0x00 || utf8(to), 32). The dealer passes its own c_sk and the
 * recipient's c_pk; the recipient passes its own c_sk and the dealer's c_pk.
 */
export function shareKey(ref: AttemptRef, from: string, to: string, ownCSecret: Uint8Array, peerCPublic: Uint8Array): Uint8Array {
  if (from === to) fail('BAD_PARAMS', 'a member keeps its own share unencrypted');
  const info = concat(utf8('flnode/v2/share'), roundAttemptBytes(ref), idPair(from, to));
  return hkdfSha256(sharedSecret(ownCSecret, peerCPublic), consortiumSaltV2(ref.consortium), info, 32);
}

/** AES-256-GCM, 12 zero nonce bytes, no AAD: s-share || b-share (64 bytes) || tag (16 bytes). */
export function encryptShares(key: Uint8Array, sShare: Uint8Array, bShare: Uint8Array): Uint8Array {
  if (key.length !== 32) fail('BAD_PARAMS', 'share key must be 32 bytes');
  if (sShare.length !== SECRET_BYTES || bShare.length !== SECRET_BYTES) fail('BAD_PARAMS', 'a share is 32 bytes');
  const c = createCipheriv('aes-256-gcm', key, ZERO_NONCE);
  const body = Buffer.concat([c.update(sShare), c.update(bShare), c.final()]);
  return new Uint8Array(Buffer.concat([body, c.getAuthTag()]));
}

/** Decrypts a share ciphertext; BAD_SHARE when it is not 80 bytes or its tag does not verify. */
export function decryptShares(key: Uint8Array, ciphertext: Uint8Array): OpenedShares {
  if (key.length !== 32) fail('BAD_PARAMS', 'share key must be 32 bytes');
  if (ciphertext.length !== SHARE_CIPHERTEXT_BYTES) fail('BAD_SHARE', `share ciphertext must be ${SHARE_CIPHERTEXT_BYTES} bytes`);
  let plain: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', key, ZERO_NONCE);
    d.setAuthTag(ciphertext.subarray(SHARE_PLAINTEXT_BYTES));
    plain = Buffer.concat([d.update(ciphertext.subarray(0, SHARE_PLAINTEXT_BYTES)), d.final()]);
  } catch {
    return fail('BAD_SHARE', 'share ciphertext does not decrypt');
  }
  return { s: new Uint8Array(plain.subarray(0, SECRET_BYTES)), b: new Uint8Array(plain.subarray(SECRET_BYTES)) };
}

/** SHA-256(utf8("flnode/v2/share-commit") || u64be(r) || u32be(a) || utf8(from) || 0x00 || utf8(to) || kind || share); kind is the byte 's' or 'b'. */
export function shareCommitment(ref: AttemptRef, from: string, to: string, kind: ShareKind, share: Uint8Array): Uint8Array {
  if (share.length !== SECRET_BYTES) fail('BAD_PARAMS', 'a share is 32 bytes');
  return sha256(concat(utf8('flnode/v2/share-commit'), roundAttemptBytes(ref), idPair(from, to), utf8(kind), share));
}

/** Plain shares of one dealer's s_sk and b for every member of U1 (the dealer's own included). */
export function computeShares(
  secrets: Pick<RoundSecrets, 'sSecret' | 'selfSeed'>,
  coefficients: { s: readonly Uint8Array[]; b: readonly Uint8Array[] },
  xs: ReadonlyMap<string, number>,
  u1: readonly string[],
): Map<string, OpenedShares> {
  if (coefficients.s.length !== coefficients.b.length) fail('BAD_PARAMS', 'one coefficient list per secret, of equal length');
  const ids = [...u1].sort(compareIds);
  const xOf = ids.map((id) => xs.get(id) ?? fail('BAD_PARAMS', `${id} has no x (not a manifest member)`));
  const s = shareSecret(secrets.sSecret, coefficients.s, xOf);
  const b = shareSecret(secrets.selfSeed, coefficients.b, xOf);
  return new Map(ids.map((id, i) => [id, { s: s[i]!, b: b[i]! }]));
}

/** The dealing of `dealer`: for every other member of U1 (id order) its ciphertext and commitments. */
export function dealShares(
  ref: AttemptRef,
  dealer: { id: string; cSecret: Uint8Array },
  shares: ReadonlyMap<string, OpenedShares>,
  cPublicOf: (id: string) => Uint8Array,
): DealtShare[] {
  const out: DealtShare[] = [];
  for (const to of [...shares.keys()].sort(compareIds)) {
    if (to === dealer.id) continue;
    const { s, b } = shares.get(to)!;
    out.push({
      to,
      ciphertext: encryptShares(shareKey(ref, dealer.id, to, dealer.cSecret, cPublicOf(to)), s, b),
      sCommit: shareCommitment(ref, dealer.id, to, 's', s),
      bCommit: shareCommitment(ref, dealer.id, to, 'b', b),
    });
  }
  return out;
}

/** A recipient opens its entry; BAD_SHARE if it does not decrypt or either share misses its commitment. */
export function openShares(ref: AttemptRef, recipient: { id: string; cSecret: Uint8Array }, dealer: { id: string; cPublic: Uint8Array }, entry: DealtShare): OpenedShares {
  if (entry.to !== recipient.id) fail('BAD_PARAMS', 'entry is for another recipient');
  return openWithKey(ref, dealer.id, entry, shareKey(ref, dealer.id, recipient.id, recipient.cSecret, dealer.cPublic));
}

function openWithKey(ref: AttemptRef, dealerId: string, entry: DealtShare, key: Uint8Array): OpenedShares {
  const opened = decryptShares(key, entry.ciphertext);
  if (!equalBytes(shareCommitment(ref, dealerId, entry.to, 's', opened.s), entry.sCommit)) fail('BAD_SHARE', 'share of s_sk does not match its commitment');
  if (!equalBytes(shareCommitment(ref, dealerId, entry.to, 'b', opened.b), entry.bCommit)) fail('BAD_SHARE', 'share of b does not match its commitment');
  return opened;
}

/** A revealed share is used only if it matches the dealer's commitment for that holder and kind. */
export function checkRevealedShare(ref: AttemptRef, dealerId: string, holderId: string, kind: ShareKind, share: Uint8Array, commitment: Uint8Array): void {
  if (!equalBytes(shareCommitment(ref, dealerId, holderId, kind, share), commitment)) fail('BAD_SHARE', `revealed ${kind}-share of ${dealerId} by ${holderId} misses its commitment`);
}

/**
 * Verdict on a complaint by `entry.to` against `dealerId`, carrying the pair key key_{dealer→to}:
 * - 'proven': the key opens the ciphertext and a share misses its commitment (the dealer is left out of U2);
 * - 'unproven': the ciphertext does not open under the key. Without a proof that the key is the
 *   true X25519 pair key nobody else can tell a bad dealer from a lying complainer, so the dealer
 *   stays; the complainer holds no share of it (PROTOCOL.md §5);
 * - throws BAD_COMPLAINT when the key opens the ciphertext and both shares match: a false complaint.
 */
export function judgeComplaint(ref: AttemptRef, dealerId: string, entry: DealtShare, pairKey: Uint8Array): 'proven' | 'unproven' {
  if (pairKey.length !== 32) fail('BAD_COMPLAINT', 'pair key must be 32 bytes');
  let opened: OpenedShares;
  try {
    opened = decryptShares(pairKey, entry.ciphertext);
  } catch {
    return 'unproven';
  }
  const sOk = equalBytes(shareCommitment(ref, dealerId, entry.to, 's', opened.s), entry.sCommit);
  const bOk = equalBytes(shareCommitment(ref, dealerId, entry.to, 'b', opened.b), entry.bCommit);
  if (sOk && bOk) fail('BAD_COMPLAINT', `${entry.to}'s shares from ${dealerId} open and match their commitments`);
  return 'proven';
}
