// Deadlines and failover (node/rounds/README.md rule 2, 6): skip candidates known dead, fail over
// an aggregator that misses its deadline, and report an attempt that cannot go on.
import { stallReason } from './attempts.ts';
import { participantQuorum } from '../manifest.ts';
import type { RoundContext } from './context.ts';

/** Attempt 0: `trainingMs + collectMs` after it opened; later attempts: `keysMs + collectMs`. */
export function collectDeadline(ctx: RoundContext, a: number): number {
  const t = ctx.manifest.timeouts;
  return ctx.state.attempts[a]!.openedAt + (a === 0 ? t.trainingMs : t.keysMs) + t.collectMs;
}

/** Skips aggregator candidates that are known dead (never this node). */
export function skipDeadCandidates(ctx: RoundContext, now: number): void {
  for (let guard = 0; ctx.aggregator !== ctx.self && ctx.liveness.knownDead(ctx.aggregator, now) && guard < ctx.members.length; guard++) {
    ctx.state.failover++;
    ctx.log.info({ round: ctx.state.round, next: ctx.names([ctx.aggregator]) }, 'aggregator candidate not live; next');
  }
}

/** No attempt opened `keysMs + aggregateMs` after the last progress: the next candidate. */
export async function checkStartDeadline(ctx: RoundContext, now: number): Promise<void> {
  const t = ctx.manifest.timeouts;
  if (now - ctx.state.lastProgressAt > t.keysMs + t.aggregateMs) await ctx.failover('no attempt opened in time');
}

/**
 * During attempt a: a stall is reported once; the aggregator is failed over when no record (all
 * cryptograms in) or no re-mask (some missing) came `aggregateMs` after it was due. Returns true
 * when this node just became the aggregator with every cryptogram in (it publishes the record).
 */
export async function checkAttemptDeadline(ctx: RoundContext, a: number, missing: string[], now: number): Promise<boolean> {
  const s = ctx.state;
  const info = s.attempts[a]!;
  const { aggregateMs } = ctx.manifest.timeouts;
  const deadline = collectDeadline(ctx, a);
  if (missing.length && now > deadline + aggregateMs) noteStall(ctx, a, info.participants, missing);
  const expected = missing.length === 0 ? Math.max(s.lastProgressAt, info.openedAt) + aggregateMs : deadline + aggregateMs;
  if (now <= expected || now - s.lastProgressAt <= aggregateMs) return false;
  await ctx.failover(missing.length === 0 ? 'no aggregate record in time' : 'no re-mask in time');
  return ctx.aggregator === ctx.self && missing.length === 0;
}

/**
 * Past the deadline, with too few cryptograms for a re-mask (or no attempt left), the round
 * cannot go on until a missing site publishes: say so once, in words an operator can act on,
 * instead of only a failover line every `aggregateMs`.
 */
function noteStall(ctx: RoundContext, a: number, participants: string[], missing: string[]): void {
  const have = participants.length - missing.length;
  const why = stallReason(a, have, participantQuorum(ctx.manifest), ctx.manifest.maxAttempts);
  if (!why || !ctx.events.firstTime(`stall/${a}`)) return;
  ctx.record('attempt-stalled', `round ${ctx.state.round} attempt ${a} is stalled: this node holds cryptograms from ${have} of ${participants.length} participants and ${why}; it goes on when ${ctx.names(missing)} publish${missing.length === 1 ? 'es' : ''} theirs (check that they are running and connected)`);
}
