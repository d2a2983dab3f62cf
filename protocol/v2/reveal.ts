// The unmasking phase: what a holder reveals for a U3, and the verified reconstruction of each
// secret from revealed shares (PROTOCOL.md §9).
import { compareIds, equalBytes } from '../bytes.ts';
import { fail } from '../errors.ts';
import { verifyMaskSecret, verifySelfSeed, type AttemptRef } from './secrets.ts';
import { reconstructVerified, type Share } from './shamir.ts';
import { shareCommitment, type ShareKind } from './shares.ts';

/** One share a holder publishes: the share of `owner`'s secret of `kind`. */
export interface RevealedShare {
  owner: string;
  kind: ShareKind;
  share: Uint8Array;
}

/**
 * What a holder reveals for U3: its share of b_j for every j ∈ U3 and of s_sk_j for every
 * j ∈ U2 \ U3 — never both kinds for one j, nothing for members of U1 \ U2.
 */
export function revealFor(u2: readonly string[], u3: readonly string[], held: ReadonlyMap<string, { s: Uint8Array; b: Uint8Array }>): RevealedShare[] {
  const in2 = new Set(u2);
  const in3 = new Set(u3);
  for (const id of in3) if (!in2.has(id)) fail('BAD_PARAMS', `${id} is in U3 but not in U2`);
  const out: RevealedShare[] = [];
  for (const owner of [...in2].sort(compareIds)) {
    const h = held.get(owner);
    if (!h) continue; // a dealer whose share this holder never got (or could not open)
    out.push(in3.has(owner) ? { owner, kind: 'b', share: h.b } : { owner, kind: 's', share: h.s });
  }
  return out;
}

/** Checks a reveal: no owner twice, the kind each owner gets for this U3, owners in U2 only. */
export function checkReveal(u2: readonly string[], u3: readonly string[], shares: readonly RevealedShare[]): void {
  const in2 = new Set(u2);
  const in3 = new Set(u3);
  const seen = new Set<string>();
  for (const r of shares) {
    if (seen.has(r.owner)) fail('MALFORMED', `two shares of ${r.owner} in one reveal`);
    seen.add(r.owner);
    if (!in2.has(r.owner)) fail('MALFORMED', `share of ${r.owner}, not a member of U2`);
    if (r.kind !== (in3.has(r.owner) ? 'b' : 's')) fail('MALFORMED', `${r.kind}-share of ${r.owner} revealed for a U3 that needs the other kind`);
  }
}

/** A share revealed by `holder` (at x) for one owner and kind, with the owner's commitment to it. */
export interface HeldShare {
  holder: string;
  x: number;
  share: Uint8Array;
  /**
   * The commitment the owner's dealing carried for this holder and kind. The owner's own share has
   * none (it is never sent): it is used as revealed, guarded only by the secret's verification.
   */
  commitment?: Uint8Array;
}

function usable(ref: AttemptRef, owner: string, kind: ShareKind, shares: readonly HeldShare[]): Share[] {
  return shares
    .filter((s) => s.holder === owner || (s.commitment !== undefined && equalBytes(shareCommitment(ref, owner, s.holder, kind, s.share), s.commitment)))
    .map((s) => ({ x: s.x, share: s.share }));
}

/** b_owner from ≥ t revealed shares that match their commitments, verified by the self-commit. */
export function recoverSelfSeed(ref: AttemptRef, owner: string, selfCommitment: Uint8Array, shares: readonly HeldShare[], threshold: number): Uint8Array {
  return reconstructVerified(usable(ref, owner, 'b', shares), threshold, (b) => verifySelfSeed(b, selfCommitment)).secret;
}

/** s_sk_owner from ≥ t revealed shares that match their commitments, verified by X25519(s_sk, 9) = s_pk. */
export function recoverMaskSecret(ref: AttemptRef, owner: string, sPublic: Uint8Array, shares: readonly HeldShare[], threshold: number): Uint8Array {
  return reconstructVerified(usable(ref, owner, 's', shares), threshold, (s) => verifyMaskSecret(s, sPublic)).secret;
}

/** A member's signed consent to one U3 list, named by the list's hash. */
export interface Consent {
  from: string;
  listHash: Uint8Array;
}

/**
 * Consents that count for the U3 list `listHash`: distinct members of U3 (the aggregator's only
 * if it is in U3) consenting to that same list. A member reveals only once this reaches t.
 */
export function consentCount(u3: readonly string[], listHash: Uint8Array, consents: readonly Consent[]): number {
  const in3 = new Set(u3);
  const counted = new Set<string>();
  for (const c of consents) if (in3.has(c.from) && equalBytes(c.listHash, listHash)) counted.add(c.from);
  return counted.size;
}
