// The aggregator's steps (node/rounds/README.md rules 3, 5, 6): open attempt 0 once the keys are
// in, publish the aggregate record once every cryptogram is in, or re-mask with the survivors at
// the collection deadline. Commit and following its own AttemptStart are the engine's.
import { fromHex, MessageKind, type AttemptStartBody } from '../../protocol/index.ts';
import { reMaskSet } from './attempts.ts';
import { participantQuorum } from '../manifest.ts';
import type { RoundContext } from './context.ts';
import { collectDeadline } from './failover.ts';
import { buildRecord } from './records.ts';

/** How long the aggregator waits after the last cryptogram arrives before publishing the record. */
export const RECORD_SETTLE_MS = 1000;

export interface AggregatorActions {
  /** Follow this node's own AttemptStart as every member does. */
  follow(a: number, body: AttemptStartBody): Promise<void>;
  /** Commit the model this node's record made. */
  commit(next: Float32Array, hash: string, a: number, participants: string[]): Promise<void>;
  /** Remember the record envelope that made model `version` (re-sent to members behind). */
  keepRecord(version: number, bytes: Uint8Array): void;
}

export class AggregatorRole {
  /** `start/…` and `record/…` tags already published (one per round, attempt and failover index). */
  private readonly published = new Set<string>();

  constructor(
    private readonly ctx: RoundContext,
    private readonly act: AggregatorActions,
  ) {}

  /** A new round: nothing of it is published yet. */
  newRound(): void {
    this.published.clear();
  }

  /** Before any attempt: open attempt 0 with every member's key, or after `keysMs` with at least `minParticipants`. */
  async openFirst(now: number): Promise<void> {
    const { ctx } = this;
    const keys = ctx.keys.of(0);
    const haveAll = ctx.members.every((m) => keys.has(m));
    if ((haveAll || now - ctx.state.roundStartedAt > ctx.manifest.timeouts.keysMs) && keys.size >= participantQuorum(ctx.manifest)) await this.openAttempt(0, [...keys.keys()], 'round start');
  }

  /** During attempt a: the record once all cryptograms are in and settled, or a re-mask past the collection deadline. */
  async tick(a: number, missing: string[], now: number): Promise<void> {
    const { ctx } = this;
    const info = ctx.state.attempts[a]!;
    if (missing.length === 0) {
      // Let the last cryptogram settle for a moment: a member that published two different
      // cryptograms is then caught here (both dropped, re-mask) rather than by the verifiers.
      if (now - ctx.state.lastProgressAt < RECORD_SETTLE_MS) return;
      const s = ctx.state;
      await this.publishRecord(a, info.participants);
      s.lastProgressAt = now;
      return;
    }
    if (now <= collectDeadline(ctx, a)) return;
    // Survivors: participants whose complete cryptogram is here, and live ones whose heartbeat says
    // they hold their update but are still masking (a key of a member that died never reached
    // them). The latter published no attempt-a cryptogram, so the re-mask exposes nothing; left
    // out, they would stall the round below the quorum.
    const masking = (p: string) => {
      const hb = ctx.liveness.heartbeatOf(p);
      return !!hb && hb.round === ctx.state.round && hb.attempt === a && hb.phase === 'masking' && ctx.liveness.live(p, now);
    };
    let survivors = info.participants.filter((p) => ctx.collector.has(a, p) || (p !== ctx.self && masking(p)));
    if (ctx.hooks.aggregatorFault === 'false-dropout') survivors = survivors.slice(1);
    const set = reMaskSet(a, survivors, participantQuorum(ctx.manifest), ctx.manifest.maxAttempts);
    if (set) await this.openAttempt(a + 1, set, `missing cryptograms from ${ctx.names(missing)}`);
  }

  /** Re-sends this node's own start for the current attempt (after a restart). */
  async resendStart(): Promise<void> {
    const { ctx } = this;
    const { round: r, attempt: a } = ctx.state;
    const own = ctx.state.attempts[a];
    if (own?.aggregator !== ctx.self) return;
    const body = { aggregator: ctx.self, participants: own.participants, baseModelHash: fromHex(ctx.global.hash), reason: 'sent again after a restart' };
    await ctx.send({ kind: MessageKind.AttemptStart, body }, a, r, `${r}/${a}/start`);
  }

  /** Follows, then sends an AttemptStart for attempt a (once per failover index). */
  async openAttempt(a: number, participants: string[], reason: string): Promise<void> {
    const { ctx } = this;
    const r = ctx.state.round;
    const tag = `start/${r}/${a}/${ctx.state.failover}`;
    if (this.published.has(tag)) return;
    this.published.add(tag);
    if (ctx.state.attempts[a] && a === ctx.state.attempt) return;
    ctx.log.info({ round: r, attempt: a, participants: participants.length, reason }, 'opening attempt as aggregator');
    const body = { aggregator: ctx.self, participants, baseModelHash: fromHex(ctx.global.hash), reason };
    // followed (and so persisted) before it is published: restarted after a crash in between,
    // this node knows its own start and re-sends it instead of opening another one beside it
    await this.act.follow(a, body);
    await ctx.send({ kind: MessageKind.AttemptStart, body }, a, r, `${r}/${a}/start`);
  }

  /** Sums the attempt's cryptograms, publishes the AggregateRecord (once per failover index) and commits. */
  async publishRecord(a: number, participants: string[]): Promise<void> {
    const { ctx } = this;
    const r = ctx.state.round;
    const tag = `record/${r}/${a}/${ctx.state.failover}`;
    if (this.published.has(tag)) return;
    // every participant's key is needed to decode (after a restart they come back from the store
    // or from re-sent announcements): until then, try again at a later tick
    const params = ctx.params(a);
    if (!params) return;
    this.published.add(tag);
    ctx.setPhase('aggregating');
    const cs = participants.map((p) => ctx.collector.get(a, p)!);
    const rec = buildRecord(cs, participants, params, ctx.weights, ctx.global.hash);
    if (ctx.hooks.aggregatorFault === 'bad-aggregate') rec.body.newModelHash = new Uint8Array(32).fill(7);
    const bytes = await ctx.send({ kind: MessageKind.AggregateRecord, body: rec.body }, a, r, `${r}/${a}/record`);
    ctx.hooks.reached(r, 'record-sent');
    if (ctx.hooks.aggregatorFault === 'bad-aggregate') return;
    await this.act.commit(rec.next, rec.hash, a, participants);
    this.act.keepRecord(ctx.global.version, bytes);
  }
}
