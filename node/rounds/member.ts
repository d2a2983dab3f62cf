// What every member does with the round's messages (node/rounds/README.md rules 4-7): collect
// cryptogram chunks, follow or refuse an AttemptStart, check an AggregateRecord. The decisions
// come from collector.ts, attempts.ts and records.ts; this applies them.
import { toHex, type Envelope, type MessageKind } from '../../protocol/index.ts';
import { judgeAttemptStart } from './attempts.ts';
import { participantQuorum } from '../manifest.ts';
import type { RoundContext } from './context.ts';
import { announceKey } from './participant.ts';
import { judgeRecord, recordTag } from './records.ts';
import { candidateIndex } from './rotation.ts';

type Of<K extends MessageKind> = Envelope & { kind: K };

export interface MemberActions {
  /** Commit the model a checked record made. */
  commit(next: Float32Array, hash: string, a: number, aggregator: string, participants: string[]): Promise<void>;
}

export class MemberRole {
  /** A record that could not be checked yet (cryptograms or keys missing), checked again by the tick. */
  private pendingRecord: Of<MessageKind.AggregateRecord> | null = null;

  constructor(
    private readonly ctx: RoundContext,
    private readonly act: MemberActions,
  ) {}

  newRound(): void {
    this.pendingRecord = null;
  }

  /** One chunk: stored when it completes a cryptogram; equivocation dropped and recorded. */
  async onChunk(env: Of<MessageKind.CryptogramChunk>): Promise<void> {
    const { ctx } = this;
    const { attempt: a, sender } = env;
    const r = ctx.state.round;
    const out = ctx.collector.addChunk(a, sender, env.body, ctx.state.attempts[a] ? ctx.attemptHash(a) : null);
    switch (out.kind) {
      case 'foreign':
        if (ctx.events.firstTime(`foreign/${a}/${sender}`)) ctx.log.info({ from: sender, round: r, attempt: a }, 'cryptogram masked for another attempt start ignored');
        return;
      case 'equivocation':
        // Two different cryptograms from one member for one (round, attempt): both dropped, recorded.
        await ctx.store.dropReceived(r, `${a}/${sender}`);
        ctx.record('equivocation', `${ctx.names([sender])} published two different cryptograms for round ${r} attempt ${a}; both dropped`);
        return ctx.persist();
      case 'complete':
        await ctx.store.saveReceived(r, `${a}/${sender}`, out.cryptogram);
        ctx.state.lastProgressAt = ctx.clock.now();
        return ctx.changed();
      case 'bad':
        return void ctx.log.warn({ from: sender, reason: out.reason }, 'chunk rejected');
    }
  }

  /** An AttemptStart: followed (first valid one wins), refused (failover), or recorded as a split. */
  async onAttemptStart(env: Of<MessageKind.AttemptStart>): Promise<void> {
    const { ctx } = this;
    const a = env.attempt;
    const { participants } = env.body;
    const d = judgeAttemptStart(a, env.sender, env.body, {
      state: ctx.state, members: ctx.members, minParticipants: participantQuorum(ctx.manifest), globalHash: ctx.global.hash,
      holds: (at, p) => ctx.collector.has(at, p), names: (ids) => ctx.names(ids),
    });
    switch (d.kind) {
      case 'known':
        return;
      case 'ignore':
        return void ctx.log.info({ from: env.sender, round: ctx.state.round, attempt: a }, d.why);
      case 'split': {
        // PROTOCOL.md §5, split attempts: made visible once per sender
        if (!ctx.events.firstTime(`split/${a}/${env.sender}`)) return;
        const accepted = ctx.state.attempts[a]!;
        return ctx.record('split-attempt', `${ctx.names([env.sender])} opened attempt ${a} of round ${ctx.state.round} with ${ctx.names(participants)}; this node follows ${ctx.names([accepted.aggregator])}'s with ${ctx.names(accepted.participants)}`);
      }
      case 'refuse':
        ctx.record('refused-attempt', `refusing attempt ${a} of round ${ctx.state.round} from ${ctx.names([env.sender])}: ${d.why}`);
        if (!ctx.state.refused.includes(`${a}/${env.sender}`)) ctx.state.refused.push(`${a}/${env.sender}`);
        return ctx.failover(`aggregator ${ctx.names([env.sender])} misbehaved`);
    }
    const s = ctx.state;
    s.attempts[a] = { aggregator: env.sender, participants, openedAt: ctx.clock.now() };
    s.failover = Math.max(s.failover, candidateIndex(ctx.members, s.round, env.sender, s.failover + ctx.members.length)!);
    if (a > s.attempt) {
      s.attempt = a;
      ctx.contribution.newAttempt();
      ctx.log.info({ round: s.round, attempt: a, participants: participants.length, reason: env.body.reason }, 're-mask: new attempt');
      if (participants.includes(ctx.self)) await announceKey(ctx, a);
    }
    s.lastProgressAt = ctx.clock.now();
    await ctx.persist(); // before the phase change (a crash point): the attempt followed survives a crash
    ctx.setPhase(participants.includes(ctx.self) ? 'masking' : 'collecting');
  }

  /** An AggregateRecord: committed when it checks, rejected (once; failover) when not, kept when it cannot be checked yet. */
  async onAggregateRecord(env: Of<MessageKind.AggregateRecord>): Promise<void> {
    const { ctx } = this;
    const a = env.attempt;
    const d = judgeRecord(a, env.sender, env.body, {
      state: ctx.state, globalHash: ctx.global.hash, weights: ctx.weights, aggregator: ctx.aggregator,
      cryptogram: (at, p) => ctx.collector.get(at, p), params: (at) => ctx.params(at), names: (ids) => ctx.names(ids),
    });
    switch (d.kind) {
      case 'judged-before':
        return;
      case 'not-aggregator':
        return void ctx.log.info({ from: env.sender, round: ctx.state.round, attempt: a }, 'aggregate record ignored: not from the aggregator of the attempt');
      case 'unseen-attempt':
      case 'wait':
        ctx.sync.pendingRecordHash = toHex(env.body.newModelHash);
        if (d.kind === 'wait') this.pendingRecord = env;
        return;
      case 'reject':
        ctx.record('rejected-aggregate', `aggregate record for round ${ctx.state.round} attempt ${a} from ${ctx.names([env.sender])} rejected: ${d.why}`);
        ctx.state.refused.push(recordTag(a, env.sender));
        // a bad record for an earlier attempt (late, or replayed) says nothing about this attempt's aggregator
        return a < ctx.state.attempt ? undefined : ctx.failover('aggregator published a wrong record');
      case 'accept':
        return this.act.commit(d.next, d.hash, a, env.sender, ctx.state.attempts[a]!.participants);
    }
  }

  /** Once every cryptogram of attempt a is in, the record kept for it is checked again. Returns true when the round committed. */
  async recheckRecord(a: number, missing: readonly string[]): Promise<boolean> {
    const rec = this.pendingRecord;
    if (missing.length || rec?.attempt !== a) return false;
    this.pendingRecord = null;
    const r = this.ctx.state.round;
    await this.onAggregateRecord(rec);
    return this.ctx.state.round !== r;
  }
}
