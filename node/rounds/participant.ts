// The participant's steps (node/rounds/README.md rules 3, 4): announce this node's key for an
// attempt, and once its update and every participant's key are in, mask, persist and publish its
// cryptogram in chunks that name the AttemptStart it was masked for.
import { chunkCryptogram, MessageKind, toHex } from '../../protocol/index.ts';
import type { RoundContext } from './context.ts';

/** Announces this node's key for attempt a (persisted first; the same key after a restart). */
export async function announceKey(ctx: RoundContext, a: number): Promise<void> {
  const r = ctx.state.round;
  const key = await ctx.contribution.key(r, a);
  ctx.keys.set(a, ctx.self, key);
  await ctx.send({ kind: MessageKind.KeyAnnouncement, body: key }, a, r, `${r}/${a}/key`);
}

/** The participant's tick: publishes its cryptogram for attempt a once it can. */
export async function tickParticipant(ctx: RoundContext, a: number): Promise<void> {
  const { participants } = ctx.state.attempts[a]!;
  if (!participants.includes(ctx.self) || !ctx.contribution.update || ctx.collector.has(a, ctx.self)) return;
  if (ctx.keys.haveAll(a, participants)) await buildAndPublish(ctx, a);
}

/** Masks (or reloads) this node's cryptogram for attempt a, persists it, then publishes it. */
async function buildAndPublish(ctx: RoundContext, a: number): Promise<void> {
  const r = ctx.state.round;
  const built = await ctx.contribution.cryptogram(r, a, ctx.params(a)!, ctx.self);
  if (!built) return;
  if (built.fresh) ctx.hooks.reached(r, 'cryptogram-persisted');
  ctx.collector.put(a, ctx.self, built.c);
  await publishCryptogram(ctx, a, built.c);
  ctx.hooks.reached(r, 'cryptogram-published');
  if (ctx.hooks.aggregatorFault === 'equivocate') {
    const other = built.c.slice();
    other[0] = (other[0]! + 1) >>> 0;
    await publishCryptogram(ctx, a, other);
  }
  ctx.state.lastProgressAt = ctx.clock.now();
  await ctx.persist();
}

/** Publishes cryptogram c for attempt a in ≤ 1 MiB chunks, each re-sent until the round commits. */
export async function publishCryptogram(ctx: RoundContext, a: number, c: Uint32Array): Promise<void> {
  const r = ctx.state.round;
  for (const chunk of chunkCryptogram(c, ctx.attemptHash(a))) {
    await ctx.send({ kind: MessageKind.CryptogramChunk, body: chunk }, a, r, `${r}/${a}/chunk/${toHex(chunk.cryptogramHash).slice(0, 8)}/${chunk.index}`);
  }
}
