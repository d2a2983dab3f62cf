// Attempts of one round (PROTOCOL.md §4): the keys announced per attempt, judging an AttemptStart
// (follow, refuse, split or ignore), what a cryptogram is masked for, and the aggregator's
// re-mask and stall decisions. Pure decisions over a read-only view; the engine applies them.
import { attemptStartHash, equalBytes, fromHex, type AttemptParams, type AttemptStartBody } from '../../protocol/index.ts';
import type { RoundState } from './state.ts';

export interface KeyInfo {
  publicKey: Uint8Array;
  samples: number;
}

/** The X25519 keys and sample counts announced for each attempt of the round. */
export class KeyBook {
  private readonly byAttempt = new Map<number, Map<string, KeyInfo>>();

  of(attempt: number): Map<string, KeyInfo> {
    let m = this.byAttempt.get(attempt);
    if (!m) this.byAttempt.set(attempt, (m = new Map()));
    return m;
  }
  set(attempt: number, sender: string, key: KeyInfo): void {
    this.of(attempt).set(sender, key);
  }
  publicKey(attempt: number, sender: string): Uint8Array | undefined {
    return this.byAttempt.get(attempt)?.get(sender)?.publicKey;
  }
  /** True when every one of `ids` announced a key for `attempt`. */
  haveAll(attempt: number, ids: readonly string[]): boolean {
    const m = this.of(attempt);
    return ids.every((p) => m.has(p));
  }
}

/** What an attempt's cryptograms are bound to: its participants and the base model (PROTOCOL.md §5, attempt binding). */
export function attemptHashOf(participants: readonly string[], globalHash: string): Uint8Array {
  return attemptStartHash({ participants: [...participants], baseModelHash: fromHex(globalHash) });
}

/** The masking parameters of an attempt this node follows (every participant's key must be in). */
export function attemptParams(consortium: string, round: number, attempt: number, clip: number, participants: readonly string[], keys: Map<string, KeyInfo>): AttemptParams {
  return { consortium, round, attempt, clip, participants: participants.map((id) => ({ id, publicKey: keys.get(id)!.publicKey, samples: keys.get(id)!.samples })) };
}

export type StartDecision =
  | { kind: 'follow' }
  | { kind: 'refuse'; why: string }
  | { kind: 'split' } // another set for an attempt this node already follows
  | { kind: 'known' } // a compatible copy, or a start this node refused before
  | { kind: 'ignore'; why: string }; // not the sender's fault: this node missed attempt a-1

export interface StartView {
  readonly state: Readonly<RoundState>;
  readonly members: readonly string[];
  readonly minParticipants: number;
  readonly globalHash: string;
  /** True when this node holds `member`'s complete cryptogram for `attempt`. */
  holds(attempt: number, member: string): boolean;
  /** Member names for a message. */
  names(ids: readonly string[]): string;
}

/** Judges an AttemptStart for attempt `a` of the current round from `sender` (PROTOCOL.md §4 rules 1, 3, 4; §5 split attempts). */
export function judgeAttemptStart(a: number, sender: string, body: AttemptStartBody, v: StartView): StartDecision {
  const s = v.state;
  const { participants } = body;
  const accepted = s.attempts[a];
  if (accepted) {
    // First valid one wins. Another set for the same (r, a) means two aggregators opened it from
    // different views (a partition): the two sides' cryptograms are never mixed (attempt binding)
    // but the round may stall; the engine makes that visible.
    const same = equalBytes(attemptHashOf(accepted.participants, v.globalHash), attemptStartHash({ participants, baseModelHash: body.baseModelHash }));
    return same ? { kind: 'known' } : { kind: 'split' };
  }
  if (s.refused.includes(`${a}/${sender}`)) return { kind: 'known' };
  if (participants.some((p) => !v.members.includes(p))) return { kind: 'refuse', why: 'non-member participant' };
  if (participants.length < v.minParticipants) return { kind: 'refuse', why: `fewer than ${v.minParticipants} participants` };
  if (!equalBytes(body.baseModelHash, fromHex(v.globalHash))) return { kind: 'refuse', why: 'built on another global model' };
  if (a > 0) {
    const prev = s.attempts[a - 1];
    // not the aggregator's fault: this node missed attempt a-1 (paused, restarted); it takes the
    // round's model from its peers once they commit
    if (!prev) return { kind: 'ignore', why: `attempt start ignored: attempt ${a - 1} unknown here` };
    if (participants.some((p) => !prev.participants.includes(p))) return { kind: 'refuse', why: 'adds participants' };
    const leftOut = prev.participants.filter((p) => !participants.includes(p) && v.holds(a - 1, p));
    if (leftOut.length) return { kind: 'refuse', why: `leaves out ${v.names(leftOut)} whose complete cryptogram this node holds` };
  }
  return { kind: 'follow' };
}

/** The participants the aggregator of a timed-out attempt re-masks with, or null when no re-mask is allowed (§4 rules 2, 3). */
export function reMaskSet(a: number, survivors: string[], minParticipants: number, maxAttempts: number): string[] | null {
  return a + 1 < maxAttempts && survivors.length >= minParticipants ? survivors : null;
}

/** Why an attempt past its deadline cannot go on without the missing cryptograms, or null when a re-mask is possible. */
export function stallReason(a: number, have: number, minParticipants: number, maxAttempts: number): string | null {
  if (have < minParticipants) return `a re-mask needs at least ${minParticipants}`;
  if (a + 1 >= maxAttempts) return `no attempt left (maxAttempts ${maxAttempts})`;
  return null;
}
