// The timed sends: this node's heartbeat, and re-sending its round messages (gossip gives no
// delivery guarantee) until the round commits, then its last round's to members still in it.
import { fromHex } from '../../protocol/index.ts';
import { KindV2 } from '../../protocol/v2/index.ts';
import type { RoundContext } from './context.ts';

/** A signed heartbeat: model version and hash, phase, this node's clock. */
export async function sendHeartbeat(ctx: RoundContext): Promise<void> {
  const s = ctx.state;
  const now = ctx.clock.now();
  ctx.liveness.noteOwn({ at: now, sentAt: now, version: ctx.global.version, hash: ctx.global.hash, round: s.round, attempt: s.attempt, phase: s.phase });
  try {
    await ctx.outbox.publish(ctx.sign({ kind: KindV2.Heartbeat, body: { sentAt: now, modelVersion: ctx.global.version, modelHash: fromHex(ctx.global.hash), phase: s.phase } }, s.attempt));
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'heartbeat failed');
  }
}

/** Re-sends the round's messages (and the last round's, while a live member is still in it). */
export async function resendRound(ctx: RoundContext): Promise<void> {
  const now = ctx.clock.now();
  if (ctx.liveness.anyBehind(ctx.global.version, now)) await ctx.outbox.resendPrevious();
  if (ctx.completed || ctx.sync.behind(ctx.global, now)) return; // this round is over elsewhere
  // an earlier attempt whose U3 lists this node may still become final: its cryptogram is still needed
  const inU3 = new Set(ctx.book.all().filter((d) => d.u3?.body.members.includes(ctx.self)).map((d) => d.attempt));
  await ctx.outbox.resendCurrent(ctx.state.round, ctx.state.attempt, inU3);
}
