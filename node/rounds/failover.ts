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

/**
 * The latest attempt a' > the current one such that more than N − t members announced keys for
 * attempts ≥ a': those members left every earlier attempt (a member announces keys only for the
 * attempt it works in), so none of them can reach t any more. N counts the members not excluded
 * for the round (no list may name the others), so with N − 1 members left and t = N − 1 a single
 * member ahead is enough. Null when there is none.
 */
export function abandonedUpTo(ctx: RoundContext): number | null {
  const a = ctx.state.attempt;
  const latest = new Map<string, number>();
  for (const d of ctx.book.all()) if (d.attempt > a) for (const m of d.keys.keys()) if (!ctx.excluded(m)) latest.set(m, Math.max(latest.get(m) ?? 0, d.attempt));
  const limit = ctx.members.filter((m) => !ctx.excluded(m)).length - ctx.threshold;
  for (const x of [...new Set(latest.values())].sort((p, q) => q - p)) if ([...latest.values()].filter((v) => v >= x).length > limit) return x;
  return null;
}

/** Why this node should leave the attempt it works in now, or null. */
export function failoverReason(ctx: RoundContext, now: number): string | null {
  if (ctx.state.revealed || finalAttempt(ctx)) return null;
  const a = ctx.state.attempt;
  const agg = ctx.aggregatorOf(a);
  if (agg !== ctx.self && ctx.liveness.knownDead(agg, now)) return `aggregator ${ctx.names([agg])} is not live`;
  if (ctx.excluded(agg)) return `aggregator ${ctx.names([agg])} is excluded for this round (equivocation or a proven bad dealing)`;
  const d = ctx.book.peek(a);
  if (now <= stepDeadline(ctx, d)) return null;
  // Fewer than t members announced keys here: the others still work in earlier attempts and will
  // join (their own deadlines); running ahead alone would only leave them behind again.
  if (!d?.u1) return [...(d?.keys.keys() ?? [])].filter((m) => !ctx.excluded(m)).length >= ctx.threshold ? 'no U1 list in time' : null;
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

/** Attempt a's aggregator broke a rule: refused (once), and this node moves to the next attempt. */
export async function refuse(ctx: RoundContext, a: number, why: string): Promise<void> {
  if (ctx.state.refused.includes(a)) return;
  ctx.state.refused.push(a);
  ctx.record('refused-list', `round ${ctx.state.round} attempt ${a}: list of ${ctx.names([ctx.aggregatorOf(a)])} refused (${why})`);
  await ctx.persist();
  if (a === ctx.state.attempt && !ctx.state.revealed && !finalAttempt(ctx)) await moveTo(ctx, a + 1, why);
}

/** Why this node waits, said once per round (PROTOCOL.md §8.10): too few keys, or a reveal made. */
export function noteRevealStall(ctx: RoundContext, now: number): void {
  const d = ctx.book.peek(ctx.state.attempt);
  if (!d?.u1 && now > stepDeadline(ctx, d)) {
    const keys = [...(d?.keys.keys() ?? [])].filter((m) => !ctx.excluded(m));
    if (keys.length < ctx.threshold && ctx.events.firstTime(`keys-wait/${ctx.state.attempt}`)) {
      ctx.record('attempt-stalled', `round ${ctx.state.round} attempt ${ctx.state.attempt} waits for keys: ${keys.length} of the t = ${ctx.threshold} members needed announced them (${ctx.names(keys)}); the others are in earlier attempts or not running (check that they are up and connected)`);
    }
  }
  const rv = ctx.state.revealed;
  const t = ctx.manifest.timeouts;
  if (!rv || now - ctx.state.lastProgressAt < t.collectMs + t.aggregateMs || !ctx.events.firstTime('reveal-stall')) return;
  ctx.record('attempt-stalled', `round ${ctx.state.round} waits for attempt ${rv.attempt}: this node revealed its shares for it, and it completes once t = ${ctx.threshold} members' shares and every cryptogram of its U3 are here. No later attempt can replace it (the shares already public plus another aggregate would expose updates); only an admin-signed void record ends the round (flnode consortium void-round, then flnode void at each site; PROTOCOL.md §8.10 says what to check first)`);
}
