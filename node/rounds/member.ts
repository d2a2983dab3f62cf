// What every member does with the round's messages (PROTOCOL.md §7–§9): keep key announcements,
// dealings, consents and reveals (equivocation excluded), open its shares and complain about bad
// ones, judge complaints, reassemble cryptograms, and judge the aggregator's lists (accept, or
// refuse and move to the next attempt). What this node then sends is participant.ts; unmasking
// and commit are unmask.ts. Every accepted message is persisted (replayed after a restart).
import { compareIds, equalBytes, toHex } from '../../protocol/index.ts';
import { judgeComplaint, KindV2, listHash, openShares, shareKey, type EnvelopeV2 } from '../../protocol/v2/index.ts';
import { sameMessage, type AttemptData, type Equivocation, type Signed } from './attempt-book.ts';
import type { RoundContext } from './context.ts';
import { judgeU1, judgeU2, judgeU3 } from './lists.ts';

type Of<K extends KindV2> = EnvelopeV2 & { kind: K };

export interface MemberActions {
  /** Refuse attempt a's aggregator and move to the next attempt. */
  refuse(a: number, why: string): Promise<void>;
  /** Handle a deferred envelope again. */
  rehandle(bytes: Uint8Array): Promise<void>;
}

export class MemberRole {
  /** True while envelopes persisted before a restart are handled again (nothing is re-persisted,
   * and lists are not judged again: they were accepted, and the exclusions learnt since would
   * make this node refuse a list it already dealt, masked or consented for). */
  replaying = false;

  constructor(
    private readonly ctx: RoundContext,
    private readonly act: MemberActions,
  ) {}

  private async save(env: EnvelopeV2, bytes: Uint8Array): Promise<void> {
    if (!this.replaying) await this.ctx.store.saveEnvelope(env.round, env.attempt, env.kind, env.sender, bytes);
  }

  private defer(d: AttemptData, env: EnvelopeV2, bytes: Uint8Array): void {
    const key = `${env.sender}/${env.kind}${env.kind === KindV2.Complaint ? `/${env.body.dealer}` : ''}`;
    const held = d.deferred.get(key) ?? [];
    if (held.length < 2 && !held.some((b) => sameMessage(b, bytes))) d.deferred.set(key, [...held, bytes]);
  }

  private async flush(d: AttemptData): Promise<void> {
    const again = [...d.deferred.values()].flat();
    d.deferred = new Map();
    for (const b of again) await this.act.rehandle(b);
  }

  /** Two different signed messages of one kind from one member for one attempt: excluded for the round, evidence re-published once. */
  async equivocated(e: Equivocation, a: number): Promise<void> {
    const { ctx } = this;
    // Two cryptograms: neither is ever used (members could sum different ones). Other kinds: what
    // is held stays usable (a final attempt that lists the member still completes; its reveals
    // are checked against the commitments anyway), and its lists are refused from now on.
    if (e.kind === KindV2.CryptogramChunk && !ctx.state.badCryptograms.includes(`${a}/${e.sender}`)) {
      ctx.book.of(a).forgetCryptogram(e.sender);
      ctx.state.badCryptograms.push(`${a}/${e.sender}`);
      await ctx.store.dropReceived(ctx.state.round, a, e.sender); // a restart must not bring a copy back
      await ctx.persist();
    }
    if (ctx.excluded(e.sender)) return;
    ctx.state.excluded.push(e.sender);
    ctx.record('equivocation', `${ctx.names([e.sender])} signed two different ${KindV2[e.kind]} messages for round ${ctx.state.round} attempt ${a}: excluded for the rest of the round`);
    await ctx.persist();
    // every honest member must see both to exclude it alike
    if (!this.replaying && e.first && e.second) for (const b of [e.first, e.second]) await ctx.outbox.publish(b);
    if (e.sender === ctx.aggregatorOf(a) && (e.kind === KindV2.U1List || e.kind === KindV2.U2List || e.kind === KindV2.U3List)) await this.act.refuse(a, 'it signed two different lists');
  }

  async onKeys(env: Of<KindV2.KeyAnnouncement>, bytes: Uint8Array): Promise<void> {
    const d = this.ctx.book.of(env.attempt);
    const kept = this.ctx.book.keep(d.keys, env.kind, env.sender, { body: env.body, bytes, at: this.ctx.clock.now() });
    if (kept === 'new') await this.save(env, bytes);
    else if (kept !== 'same') await this.equivocated(kept, env.attempt);
  }

  async onU1(env: Of<KindV2.U1List>, bytes: Uint8Array): Promise<void> {
    const d = this.ctx.book.of(env.attempt);
    if (await this.acceptList(env, bytes, 'u1', (at) => judgeU1(this.ctx, d, env.body, at))) await this.flush(d);
  }

  /**
   * A list of the attempt's aggregator into `slot`: a second, different one is equivocation; an
   * attempt this node refused takes none; otherwise it is judged (own lists and lists replayed
   * after a restart were judged before) and kept, persisted. True when accepted.
   */
  private async acceptList(env: Of<KindV2.U1List | KindV2.U2List | KindV2.U3List>, bytes: Uint8Array, slot: 'u1' | 'u2' | 'u3', judge: (at: number) => string | null): Promise<boolean> {
    const { ctx } = this;
    const a = env.attempt;
    const d = ctx.book.of(a);
    const hash = listHash(ctx.ref(a), env);
    const item = { body: env.body, bytes, at: ctx.clock.now(), hash, hex: toHex(hash) };
    const held = d[slot];
    if (held) {
      if (held.hex !== item.hex) await this.equivocated({ sender: env.sender, kind: env.kind, first: held.bytes, second: bytes }, a);
      return false;
    }
    if (ctx.state.refused.includes(a)) return false;
    const why = env.sender === ctx.self || this.replaying ? null : judge(item.at);
    if (why) {
      await this.act.refuse(a, `${slot.toUpperCase()}: ${why}`);
      return false;
    }
    (d as Record<typeof slot, unknown>)[slot] = item;
    await this.save(env, bytes);
    ctx.state.lastProgressAt = item.at;
    return true;
  }

  async onDealing(env: Of<KindV2.ShareDealing>, bytes: Uint8Array): Promise<void> {
    const { ctx } = this;
    const a = env.attempt;
    const d = ctx.book.of(a);
    if (!d.u1) return this.defer(d, env, bytes);
    const ids = d.u1.body.members.map((m) => m.id);
    if (!ids.includes(env.sender)) return void ctx.log.info({ from: ctx.names([env.sender]), attempt: a }, 'dealing ignored: dealer not in U1');
    if (!equalBytes(env.body.u1Hash, d.u1.hash)) return void ctx.log.info({ from: ctx.names([env.sender]), attempt: a }, 'dealing ignored: names another U1');
    const want = ids.filter((id) => id !== env.sender).sort(compareIds);
    if (env.body.entries.length !== want.length || env.body.entries.some((e, i) => e.to !== want[i])) return void ctx.log.warn({ from: ctx.names([env.sender]), attempt: a }, 'dealing ignored: entries do not cover U1');
    const kept = ctx.book.keep(d.dealings, env.kind, env.sender, { body: env.body, bytes, at: ctx.clock.now() });
    if (kept === 'same') return;
    if (kept !== 'new') return this.equivocated(kept, a);
    d.lastInputAt = ctx.clock.now();
    await this.save(env, bytes);
    await this.openOwnEntry(d, env.sender);
    await this.flush(d);
  }

  /** Opens this node's entry of `dealer`'s dealing; on failure, complains with the pair key. */
  private async openOwnEntry(d: AttemptData, dealer: string): Promise<void> {
    const { ctx } = this;
    const a = d.attempt;
    const entry = d.dealings.get(dealer)!.body.entries.find((e) => e.to === ctx.self);
    const mine = entry && (await ctx.contribution.storedSecrets(ctx.state.round, a));
    if (!entry || !mine || d.held.has(dealer)) return;
    const cPublic = d.u1!.body.members.find((m) => m.id === dealer)!.cPublic;
    try {
      d.held.set(dealer, openShares(ctx.ref(a), { id: ctx.self, cSecret: mine.cSecret }, { id: dealer, cPublic }, entry));
    } catch (err) {
      if (d.complained.has(dealer) || this.replaying) return;
      d.complained.add(dealer);
      ctx.record('bad-dealing', `${ctx.names([dealer])}'s shares for this node (round ${ctx.state.round} attempt ${a}) are bad (${(err as Error).message}); complaint sent`);
      const pairKey = shareKey(ctx.ref(a), dealer, ctx.self, mine.cSecret, cPublic);
      const body = { ...ctx.binding(), u1Hash: d.u1!.hash, dealer, pairKey };
      const b = ctx.sign({ kind: KindV2.Complaint, body }, a);
      await ctx.store.saveEnvelope(ctx.state.round, a, KindV2.Complaint, `${ctx.self}-${dealer}`, b);
      d.complaints.set(`${ctx.self}/${dealer}`, { body, bytes: b, at: ctx.clock.now() });
      await ctx.publish(b, a, `complaint/${dealer}`);
      await this.onComplaintFrom(d, ctx.self, dealer, pairKey, null);
    }
  }

  async onComplaint(env: Of<KindV2.Complaint>, bytes: Uint8Array): Promise<void> {
    const { ctx } = this;
    const d = ctx.book.of(env.attempt);
    const dealer = env.body.dealer;
    if (!d.u1 || !d.dealings.has(dealer)) return this.defer(d, env, bytes);
    if (!equalBytes(env.body.u1Hash, d.u1.hash)) return;
    // one complaint per (complainer, dealer, attempt): a re-send is ignored, a different one is
    // equivocation (each would cost a judgement and delay U2)
    const kept = ctx.book.keep(d.complaints, env.kind, `${env.sender}/${dealer}`, { body: env.body, bytes, at: ctx.clock.now() });
    if (kept === 'same') return;
    if (kept !== 'new') return this.equivocated({ ...kept, sender: env.sender }, env.attempt);
    await this.save({ ...env, sender: `${env.sender}-${dealer}` } as EnvelopeV2, bytes);
    await this.onComplaintFrom(d, env.sender, dealer, env.body.pairKey, env.sender === ctx.self ? null : bytes);
  }

  /**
   * Judges a complaint from the dealer's signed dealing alone. Proven: the dealer is left out of U2
   * and excluded for the rest of the round, like an equivocator (PROTOCOL.md §5), and the dealing
   * and complaint (`bytes`; null for this node's own, which it sends anyway) are re-published once
   * as evidence, so that every honest member excludes it alike.
   */
  private async onComplaintFrom(d: AttemptData, from: string, dealer: string, pairKey: Uint8Array, bytes: Uint8Array | null): Promise<void> {
    const { ctx } = this;
    const entry = d.dealings.get(dealer)?.body.entries.find((e) => e.to === from);
    if (!entry || d.badDealers.has(dealer)) return;
    let verdict: string;
    try {
      verdict = judgeComplaint(ctx.ref(d.attempt), dealer, entry, pairKey);
    } catch (err) {
      return void ctx.log.warn({ from: ctx.names([from]), dealer: ctx.names([dealer]), reason: (err as Error).message }, 'complaint refuted');
    }
    d.lastInputAt = ctx.clock.now();
    if (verdict !== 'proven') return void ctx.log.info({ from: ctx.names([from]), dealer: ctx.names([dealer]) }, 'complaint not proven (the key does not open the share)');
    d.badDealers.add(dealer);
    ctx.record('bad-dealing', `${ctx.names([dealer])} dealt a share to ${ctx.names([from])} that misses its commitment (round ${ctx.state.round} attempt ${d.attempt}): left out of U2 and excluded for the rest of the round`);
    if (ctx.excluded(dealer)) return;
    ctx.state.excluded.push(dealer);
    await ctx.persist();
    // (an excluded aggregator is failed over from, unless its attempt is final: failover.ts)
    if (!this.replaying && bytes) for (const b of [d.dealings.get(dealer)!.bytes, bytes]) await ctx.outbox.publish(b);
  }

  async onU2(env: Of<KindV2.U2List>, bytes: Uint8Array): Promise<void> {
    const { ctx } = this;
    const d = ctx.book.of(env.attempt);
    if (!d.u1) return this.defer(d, env, bytes);
    if (!(await this.acceptList(env, bytes, 'u2', (at) => judgeU2(ctx, d, env.body, at)))) return;
    // cryptograms that arrived before U2 and are masked over it: persisted now
    for (const [sender, c] of d.cryptograms) if (c.u2Hash === d.u2!.hex && !this.replaying) await ctx.store.saveReceived(ctx.state.round, env.attempt, sender, c.c);
    await this.flush(d);
  }

  async onChunk(env: Of<KindV2.CryptogramChunk>): Promise<void> {
    const { ctx } = this;
    const a = env.attempt;
    const d = ctx.book.of(a);
    const out = d.addChunk(env.sender, env.body, ctx.weights.length, ctx.clock.now());
    switch (out.kind) {
      case 'equivocation':
        // (no envelope pair to re-publish: every member receives both cryptograms' chunks anyway)
        return this.equivocated({ sender: env.sender, kind: env.kind }, a);
      case 'bad':
        return void ctx.log.warn({ from: ctx.names([env.sender]), reason: out.reason }, 'chunk rejected');
      case 'complete':
        if (d.u2 && out.cryptogram.u2Hash === d.u2.hex) await ctx.store.saveReceived(ctx.state.round, a, env.sender, out.cryptogram.c);
        ctx.state.lastProgressAt = ctx.clock.now();
        ctx.changed();
    }
  }

  async onU3(env: Of<KindV2.U3List>, bytes: Uint8Array): Promise<void> {
    const d = this.ctx.book.of(env.attempt);
    if (!d.u2) return this.defer(d, env, bytes);
    if (await this.acceptList(env, bytes, 'u3', (at) => judgeU3(this.ctx, d, env.body, at))) await this.flush(d);
  }

  async onConsent(env: Of<KindV2.Consent>, bytes: Uint8Array): Promise<void> {
    const d = this.ctx.book.of(env.attempt);
    const kept = this.ctx.book.keep(d.consents, env.kind, env.sender, { body: env.body, bytes, at: this.ctx.clock.now() });
    if (kept === 'new') await this.save(env, bytes);
    else if (kept !== 'same') await this.equivocated(kept, env.attempt);
  }

  async onReveal(env: Of<KindV2.Reveal>, bytes: Uint8Array): Promise<void> {
    const { ctx } = this;
    const a = env.attempt;
    const other = ctx.book.revealedBy.get(env.sender);
    if (other !== undefined && other !== a) {
      const first = ctx.book.of(other).reveals.get(env.sender)!.bytes;
      return this.equivocated({ sender: env.sender, kind: env.kind, first, second: bytes }, a);
    }
    const d = ctx.book.of(a);
    const kept = ctx.book.keep(d.reveals, env.kind, env.sender, { body: env.body, bytes, at: ctx.clock.now() } as Signed<typeof env.body>);
    if (kept === 'same') return;
    if (kept !== 'new') return this.equivocated(kept, a);
    ctx.book.revealedBy.set(env.sender, a);
    await this.save(env, bytes);
    ctx.state.lastProgressAt = ctx.clock.now();
    if (env.sender === ctx.self && !ctx.state.revealed) {
      // this node's own reveal, replayed after a crash between saving it and persisting the decision
      ctx.state.revealed = { attempt: a, u3Hash: toHex(env.body.u3Hash) };
      await ctx.persist();
    }
  }
}
