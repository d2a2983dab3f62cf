// Manifest rules of protocol v2: the threshold t, the collusion bound, maxSamples, member ids and x.
import { compareIds, utf8 } from '../bytes.ts';
import { fail } from '../errors.ts';

export const MAX_MEMBERS_V2 = 255;
export const MAX_ID_BYTES_V2 = 128;

/** t ≥ ceil(N/2) + 1, so that 2t − N ≥ 2. */
export function minimumThreshold(members: number): number {
  return Math.ceil(members / 2) + 1;
}

/** max(3, floor(2N/3) + 1), never above N. */
export function defaultThreshold(members: number): number {
  checkMemberCount(members);
  return Math.min(members, Math.max(3, Math.floor((2 * members) / 3) + 1));
}

function checkMemberCount(members: number): void {
  if (!Number.isInteger(members) || members < 3 || members > MAX_MEMBERS_V2) {
    fail('BAD_THRESHOLD', `a consortium needs 3 to ${MAX_MEMBERS_V2} members (a two-site aggregate cannot be private), got ${members}`);
  }
}

/** 3 ≤ t ≤ N ≤ 255 and t ≥ ceil(N/2) + 1; throws BAD_THRESHOLD naming the violated rule. */
export function validateThreshold(members: number, threshold: number): void {
  checkMemberCount(members);
  if (!Number.isInteger(threshold) || threshold < 3) fail('BAD_THRESHOLD', `threshold must be an integer ≥ 3, got ${threshold}`);
  if (threshold > members) fail('BAD_THRESHOLD', `threshold ${threshold} exceeds the ${members} members`);
  const min = minimumThreshold(members);
  if (threshold < min) {
    fail('BAD_THRESHOLD', `threshold ${threshold} of ${members} is below ceil(N/2)+1 = ${min}: an aggregator showing two U3 lists to two halves could unmask one update`);
  }
}

/**
 * Colluding members (aggregator included) that learn no single honest update:
 * min(2t − N − 1, t − 2). 3 of 3 → 1, 4 of 5 → 2, 5 of 7 → 2.
 */
export function collusionBound(members: number, threshold: number): number {
  validateThreshold(members, threshold);
  return Math.min(2 * threshold - members - 1, threshold - 2);
}

/** A member id: 1..128 UTF-8 bytes, no 0x00 byte (0x00 separates ids in HKDF infos and hashes). */
export function checkMemberId(id: string): void {
  const b = utf8(id);
  if (b.length === 0 || b.length > MAX_ID_BYTES_V2) fail('BAD_PARAMS', `member id must be 1..${MAX_ID_BYTES_V2} UTF-8 bytes`);
  if (b.includes(0)) fail('BAD_PARAMS', 'member id contains a 0x00 byte');
}

/** n_i ≤ the member's certified maxSamples (weight inflation), n_i ≥ 1. */
export function checkSamples(samples: number, maxSamples: number): void {
  if (!Number.isInteger(samples) || samples < 1 || samples > 0xffffffff) fail('BAD_PARAMS', `sample count must be a u32 ≥ 1, got ${samples}`);
  if (samples > maxSamples) fail('OVER_MAX_SAMPLES', `announced ${samples} samples, the manifest certifies at most ${maxSamples}`);
}

/** x_j: each member's 1-based position among the manifest's members in UTF-8 byte order. */
export function shareXs(memberIds: readonly string[]): Map<string, number> {
  if (memberIds.length > MAX_MEMBERS_V2) fail('BAD_PARAMS', `more than ${MAX_MEMBERS_V2} members`);
  const sorted = [...memberIds].sort(compareIds);
  const xs = new Map<string, number>();
  sorted.forEach((id, i) => {
    checkMemberId(id);
    if (xs.has(id)) fail('BAD_PARAMS', `duplicate member ${id}`);
    xs.set(id, i + 1);
  });
  return xs;
}
