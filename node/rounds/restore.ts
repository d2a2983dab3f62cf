// Resuming a round from disk (PROTOCOL.md §8, restart): the update, and every round message
// accepted before the crash (own ones included) handled again; cryptograms reloaded. This node's
// own messages are then re-sent exactly as persisted: never new secrets, dealings, cryptograms,
// consents or reveals.
import { KindV2, type EnvelopeV2 } from '../../protocol/v2/index.ts';
import type { RoundContext } from './context.ts';
import { sendChunks, useOwnDealing } from './participant.ts';

export async function restoreRound(ctx: RoundContext, decode: (bytes: Uint8Array) => EnvelopeV2, accept: (env: EnvelopeV2, bytes: Uint8Array) => Promise<void>): Promise<void> {
  const { round: r, attempt: a, phase } = ctx.state;
  await ctx.contribution.restore(r);
  for (const bytes of await ctx.store.envelopes(r)) {
    try {
      await accept(decode(bytes), bytes);
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message }, 'stored round message not reloaded');
    }
  }
  for (const bad of ctx.state.badCryptograms ?? []) {
    const [a, sender] = bad.split('/');
    ctx.book.of(Number(a)).forgetCryptogram(sender!);
  }
  for (const x of await ctx.store.received(r)) {
    const d = ctx.book.of(x.attempt);
    if (d.u2 && !d.badCryptograms.has(x.sender)) d.putCryptogram(x.sender, x.c, d.u2.hex, ctx.clock.now());
  }
  for (const d of ctx.book.all()) {
    const dealt = await ctx.store.dealing(r, d.attempt); // this node's own shares of its secrets
    if (dealt) await useOwnDealing(ctx, d, dealt);
    const mine = d.u2 && (await ctx.store.ownCryptogram(r, d.attempt));
    if (mine) {
      d.putCryptogram(ctx.self, mine, d.u2!.hex, ctx.clock.now());
      await sendChunks(ctx, d.attempt, mine, d.u2!.hash, 'chunk');
    }
    const own = (name: string, b: Uint8Array | undefined, always = false) => b && ctx.publish(b, d.attempt, name, always);
    await own('keys', d.keys.get(ctx.self)?.bytes);
    await own('consent', d.consents.get(ctx.self)?.bytes, true);
    await own('reveal', d.reveals.get(ctx.self)?.bytes, true);
    for (const [key, c] of d.complaints) {
      const [from, dealer] = key.split('/');
      if (from !== ctx.self) continue;
      d.complained.add(dealer!); // reveal() waits for no share it already found bad
      await own(`complaint/${dealer}`, c.bytes);
    }
    if (ctx.aggregatorOf(d.attempt) === ctx.self) for (const l of [d.u1, d.u2, d.u3]) await own(`list/${l ? KindV2[l.bytes[1]!] : ''}`, l?.bytes, true);
  }
  ctx.log.info({ round: r, attempt: a, phase }, 'resuming round from disk');
}
