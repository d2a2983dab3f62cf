// The aggregator's steps (PROTOCOL.md §7, §8): only the aggregator of (r, a) signs its lists, each
// persisted before it is sent and handled by this node as every member handles it.
//   U1 — every member's keys are in, or `keysMs` after it entered the attempt with ≥ t;
//   U2 — every U1 member's dealing is in and settled (SETTLE_MS without a new dealing or
//        complaint), or `keysMs` after U1 with ≥ t; proven-complaint dealers and equivocators out;
//   U3 — every U2 member's complete cryptogram is in and settled, or the collection deadline passed
//        with ≥ t.
import { compareIds } from '../../protocol/index.ts';
import { KindV2, type EnvelopeV2, type MessageV2 } from '../../protocol/v2/index.ts';
import type { AttemptData } from './attempt-book.ts';
import type { RoundContext } from './context.ts';
import { collectDeadline } from './failover.ts';

/**
 * How long the last dealing (or complaint, or cryptogram) settles before a list is signed: a
 * complaint is sent as soon as its recipient opens the dealing, so one network crossing is enough
 * (capped by the manifest's heartbeat interval, which bounds the timing of everything else).
 */
export const SETTLE_MS = 250;

export interface AggregatorActions {
  /** Handle this node's own list as every member does. */
  accept(env: EnvelopeV2, bytes: Uint8Array): Promise<void>;
}

export class AggregatorRole {
  constructor(
    private readonly ctx: RoundContext,
    private readonly act: AggregatorActions,
  ) {}

  /** The aggregator's step for attempt a at `now`. */
  async tick(a: number, now: number): Promise<void> {
    const { ctx } = this;
    if (ctx.aggregatorOf(a) !== ctx.self || ctx.excluded(ctx.self)) return;
    const d = ctx.book.of(a);
    const t = ctx.threshold;
    const { keysMs, heartbeatMs } = ctx.manifest.timeouts;
    const settle = Math.min(SETTLE_MS, heartbeatMs);
    const usable = (id: string) => !ctx.excluded(id);
    if (!d.u1) {
      const keys = [...d.keys.keys()].filter(usable).sort(compareIds);
      const everyone = ctx.members.filter(usable).every((m) => d.keys.has(m));
      if (keys.length >= t && (everyone || now - ctx.state.attemptStartedAt > keysMs)) {
        const members = keys.map((id) => ({ id, ...pick(d.keys.get(id)!.body) }));
        await this.sign(d, { kind: KindV2.U1List, body: { ...ctx.binding(), members } });
      }
      return;
    }
    if (!d.u2) {
      const u1 = d.u1.body.members.map((m) => m.id);
      const dealers = u1.filter((id) => d.dealings.has(id) && !d.badDealers.has(id) && usable(id));
      const all = u1.every((id) => d.dealings.has(id) || d.badDealers.has(id) || !usable(id));
      if (dealers.length >= t && ((all && now - d.lastInputAt >= settle) || now - d.u1.at > keysMs)) {
        await this.sign(d, { kind: KindV2.U2List, body: { ...ctx.binding(), u1Hash: d.u1.hash, members: dealers } });
      }
      return;
    }
    if (!d.u3) {
      const u2 = d.u2.body.members;
      const complete = (id: string) => d.cryptograms.get(id)?.u2Hash === d.u2!.hex && usable(id);
      let have = u2.filter(complete);
      const all = have.length === u2.filter(usable).length;
      if (have.length >= t && ((all && now - d.lastInputAt >= settle) || now > collectDeadline(ctx, d))) {
        if (ctx.hooks.aggregatorFault === 'false-dropout' && have.length > t) have = have.filter((id) => id !== ctx.self).slice(1).concat(have.includes(ctx.self) ? [ctx.self] : []).sort(compareIds);
        await this.sign(d, { kind: KindV2.U3List, body: { ...ctx.binding(), u2Hash: d.u2.hash, members: have } });
        if (ctx.hooks.aggregatorFault === 'split-u3' && have.length > t) {
          // a malicious aggregator: a second U3 over another set for the same attempt
          const other = have.filter((id) => id !== ctx.self).slice(1).concat(have.includes(ctx.self) ? [ctx.self] : []).sort(compareIds);
          const bytes = ctx.sign({ kind: KindV2.U3List, body: { ...ctx.binding(), u2Hash: d.u2.hash, members: other } }, a);
          await ctx.outbox.publish(bytes);
        }
      }
    }
  }

  /** Signs a list, persists it, handles it as a member, then publishes it (re-sent until commit). */
  private async sign(d: AttemptData, message: MessageV2 & { kind: KindV2.U1List | KindV2.U2List | KindV2.U3List }): Promise<void> {
    const { ctx } = this;
    const a = d.attempt;
    const r = ctx.state.round;
    const bytes = ctx.sign(message, a);
    await ctx.store.saveEnvelope(r, a, message.kind, ctx.self, bytes);
    ctx.hooks.reached(r, 'list-persisted');
    ctx.log.info({ round: r, attempt: a, list: KindV2[message.kind], members: message.body.members.length }, 'list signed as aggregator');
    await this.act.accept({ version: 2, consortium: ctx.manifest.consortium, round: r, attempt: a, sender: ctx.self, ...message } as EnvelopeV2, bytes);
    await ctx.publish(bytes, a, `list/${message.kind}`, true);
  }
}

function pick(b: { cPublic: Uint8Array; sPublic: Uint8Array; samples: number; selfCommit: Uint8Array }) {
  return { cPublic: b.cPublic, sPublic: b.sPublic, samples: b.samples, selfCommit: b.selfCommit };
}
