// The persisted record of the round in progress (one per node, rewritten on every change) and the
// only functions that create it or change its phase.
import type { RoundPhase } from '../types.ts';

export interface AttemptInfo {
  aggregator: string;
  participants: string[];
  openedAt: number;
}

export interface RoundState {
  round: number;
  attempt: number;
  failover: number;
  phase: RoundPhase;
  roundStartedAt: number;
  phaseStartedAt: number;
  phaseSeconds: Partial<Record<RoundPhase, number>>;
  attempts: Record<number, AttemptInfo>;
  /** `${attempt}/${aggregator}` of attempt starts and `record/${attempt}/${aggregator}` of aggregate records this node refused. */
  refused: string[];
  /** `${attempt}/${member}` of members that published two different cryptograms for one attempt. */
  equivocators: string[];
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
  return { round, attempt: 0, failover: 0, phase, roundStartedAt: now, phaseStartedAt: now, phaseSeconds: {}, attempts: {}, refused: [], equivocators: [], bytesIn: 0, bytesOut: 0, lastProgressAt: now };
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
