// The persisted record of the round in progress (one per node, rewritten on every change) and the
// only functions that create it or change its phase.
import type { RoundPhase } from '../types.ts';

export interface RoundState {
  round: number;
  /** The attempt this node works in (its aggregator: rotation order index a mod N). */
  attempt: number;
  phase: RoundPhase;
  roundStartedAt: number;
  /** When this node entered the current attempt (its keys deadline counts from here). */
  attemptStartedAt: number;
  phaseStartedAt: number;
  phaseSeconds: Partial<Record<RoundPhase, number>>;
  /** Members that signed two different messages of one kind for one attempt of this round. */
  excluded: string[];
  /** `${attempt}/${member}` of members that published two different cryptograms: neither is ever used (kept across restarts). */
  badCryptograms: string[];
  /** `${attempt}` of attempts whose aggregator this node refused (it moved on once). */
  refused: number[];
  /** The consent this node sent per attempt: H(U3) in hex (at most one per (r, a)). */
  consented: Record<number, string>;
  /** The reveal decision (at most one per round, i.e. per base model), persisted before sending. */
  revealed: { attempt: number; u3Hash: string } | null;
  bytesIn: number;
  bytesOut: number;
  lastProgressAt: number;
}

/** The committed global model: version v = completed rounds, hash = SHA-256 of its float32 LE bytes. */
export interface GlobalModel {
  version: number;
  hash: string;
}

/** Round `round` just begun at `now`; `done` once past the plan's rounds. */
export function freshState(round: number, now: number, plannedRounds: number): RoundState {
  const phase: RoundPhase = round > plannedRounds ? 'done' : 'keys';
  return { round, attempt: 0, phase, roundStartedAt: now, attemptStartedAt: now, phaseStartedAt: now, phaseSeconds: {}, excluded: [], badCryptograms: [], refused: [], consented: {}, revealed: null, bytesIn: 0, bytesOut: 0, lastProgressAt: now };
}

/** Moves the round to `phase`, adding the time spent in the previous one; false if it is there already. */
export function changePhase(s: RoundState, phase: RoundPhase, now: number): boolean {
  if (s.phase === phase) return false;
  addPhaseTime(s, now);
  s.phase = phase;
  s.phaseStartedAt = now;
  return true;
}

/** Adds the time spent so far in the current phase to its total (and restarts its clock). */
export function addPhaseTime(s: RoundState, now: number): void {
  s.phaseSeconds[s.phase] = (s.phaseSeconds[s.phase] ?? 0) + (now - s.phaseStartedAt) / 1000;
  s.phaseStartedAt = now;
}
