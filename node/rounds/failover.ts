// Deadlines and failover (PROTOCOL.md §8): failover is moving to the next attempt, whose aggregator
// is the next in the rotation. Never past a final attempt, never after this node revealed.
import type { AttemptData } from './attempt-book.ts';
import type { RoundContext } from './context.ts';
import { consents, finalAttempt } from './participant.ts';

/** When the aggregator of d may sign U3 without every cryptogram: the collection deadline. */
export function collectDeadline(ctx: RoundContext, d: AttemptData): number {
  const t = ctx.manifest.timeouts;
  return Math.max(d.u2?.at ?? ctx.clock.now(), ctx.state.roundStartedAt + t.trainingMs) + t.collectMs;
}

/** The deadline of the step this node waits for in attempt a (status page), or null. */
export function stepDeadline(ctx: RoundContext, d: AttemptData | undefined): number {
  const t = ctx.manifest.timeouts;
  if (!d?.u1) return ctx.state.attemptStartedAt + t.keysMs + t.aggregateMs;
  if (!d.u2) return d.u1.at + t.keysMs + t.aggregateMs;
  if (!d.u3) return collectDeadline(ctx, d) + t.aggregateMs;
  return d.u3.at + t.aggregateMs;
}

/** Why this node should leave the attempt it works in now, or null. */
export function failoverReason(ctx: RoundContext, now: number): string | null {
  if (ctx.state.revealed || finalAttempt(ctx)) return null;
  const a = ctx.state.attempt;
  const agg = ctx.aggregatorOf(a);
  if (agg !== ctx.self && ctx.liveness.knownDead(agg, now)) return `aggregator ${ctx.names([agg])} is not live`;
  const d = ctx.book.peek(a);
  if (now <= stepDeadline(ctx, d)) return null;
  if (!d?.u1) return 'no U1 list in time';
  if (!d.u2) return 'no U2 list in time';
  if (!d.u3) return 'no U3 list in time';
  return consents(d) < ctx.threshold ? 'too few consents in time' : null;
}

/** Moves this node to attempt `a` (> its current one); false when no attempt is left. */
export async function moveTo(ctx: RoundContext, a: number, why: string): Promise<boolean> {
  const s = ctx.state;
  if (a <= s.attempt) return false;
  if (a >= ctx.manifest.maxAttempts) {
    if (ctx.events.firstTime('attempts-exhausted')) ctx.record('attempt-stalled', `round ${s.round} cannot go on: attempt ${s.attempt} failed (${why}) and no attempt is left (maxAttempts ${ctx.manifest.maxAttempts}); the round waits until the other members complete it`);
    return false;
  }
  s.attempt = a;
  s.attemptStartedAt = s.lastProgressAt = ctx.clock.now();
  ctx.log.warn({ round: s.round, attempt: a, aggregator: ctx.names([ctx.aggregatorOf(a)]), why }, 'next attempt');
  await ctx.persist();
  return true;
}
