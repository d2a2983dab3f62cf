// Aggregator rotation: for round r, the members sorted by id (UTF-8 bytes) rotated left by r mod N.
// Candidate k of the round is order[k mod N]; k starts at 0 and grows by one on each failover
// (the candidate missed its deadline, is not live, or published something honest members refused).
import { compareIds } from '../../protocol/index.ts';

export function aggregatorOrder(memberIds: readonly string[], round: number): string[] {
  const sorted = [...memberIds].sort(compareIds);
  const n = sorted.length;
  const shift = round % n;
  return [...sorted.slice(shift), ...sorted.slice(0, shift)];
}

export function candidate(memberIds: readonly string[], round: number, failover: number): string {
  const order = aggregatorOrder(memberIds, round);
  return order[failover % order.length]!;
}

/** The failover indices (≤ limit) at which `peer` is the candidate of the round. */
export function candidateIndex(memberIds: readonly string[], round: number, peer: string, limit: number): number | null {
  const order = aggregatorOrder(memberIds, round);
  for (let k = 0; k <= limit; k++) if (order[k % order.length] === peer) return k;
  return null;
}
