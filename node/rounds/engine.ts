// The round engine (rules: node/rounds/README.md, PROTOCOL.md §7–§9): the dispatcher. Messages are
// validated synchronously in the network's topic validator (admission.ts); accepted ones are
// handled one at a time (a promise queue), as is the periodic tick that drives deadlines. Each
// message kind goes to one handler, each tick to one step per role:
//   member.ts       keys, lists, dealings, complaints, chunks, consents, reveals (every member)
//   participant.ts  what this node sends: keys, dealing, cryptogram, consent, its one reveal
//   aggregator.ts   signing U1, U2, U3 (the attempt's aggregator)
//   failover.ts     deadlines: moving to the next attempt
//   unmask.ts       the final attempt's aggregate, computed by every member
//   model-sync.ts   catching up with the peers' model
// The state they share is context.ts; persistence is round-store.ts; sending is outbox.ts.
import { fromHex, modelHash, toHex } from '../../protocol/index.ts';
import { KindV2, MAX_MODEL_ENVELOPE_BYTES_V2, voidRecordOf, type EnvelopeV2, type VoidRecordV2 } from '../../protocol/v2/index.ts';
import type { SiteIdentity } from '../identity.ts';
import type { Logger } from '../log.ts';
import { maxSamplesOf, type Manifest } from '../manifest.ts';
import { SystemClock, type Clock } from '../runtime/clock.ts';
import { noHooks, type EngineHooks } from '../runtime/hooks.ts';
import type { KeyValueStore } from '../runtime/kv-store.ts';
import type { Network, RoundSummary, Trainer, Verdict } from '../types.ts';
import { GossipGate } from './admission.ts';
import { AggregatorRole } from './aggregator.ts';
import { RoundContext } from './context.ts';
import type { NodeEvent } from './events.ts';
import { abandonedUpTo, failoverReason, moveTo, noteRevealStall, refuse, stepDeadline } from './failover.ts';
import type { PeerHeartbeat } from './liveness.ts';
import { MemberRole } from './member.ts';
import { NextRoundBuffer } from './next-round.ts';
import type { SyncIO } from './model-sync.ts';
import { announceKeys, consent, deal, finalAttempt, publishCryptogram, reveal } from './participant.ts';
import { resendRound, sendHeartbeat } from './periodic.ts';
import { restoreRound } from './restore.ts';
import { StepQueue } from './steps.ts';
import { evaluateModel, syncedSummary, unmaskedSummary } from './commit.ts';
import { RoundStore } from './round-store.ts';
import { freshState, type GlobalModel, type RoundState } from './state.ts';
import { tryUnmask } from './unmask.ts';
import { applyVoid, submitVoid, type VoidIO } from './void.ts';

export type { GlobalModel, RoundState } from './state.ts';
export { modelKey } from './round-store.ts';

export interface EngineOptions {
  manifest: Manifest;
  identity: SiteIdentity;
  network: Network;
  trainer: Trainer;
  /** Where the round persists (level in production, MemoryStore in the simulation). */
  store: KeyValueStore;
  log: Logger;
  onChange?: () => void;
  /** Time and timers (default: the system clock). */
  clock?: Clock;
  /** Fault injection (default: none). */
  hooks?: EngineHooks;
}

type Of<K extends KindV2> = EnvelopeV2 & { kind: K };


export class RoundEngine {
  readonly members: string[];
  summaries: RoundSummary[] = [];
  private readonly opts: EngineOptions;
  private readonly ctx: RoundContext;
  private readonly gate: GossipGate;
  private readonly member: MemberRole;
  private readonly role: AggregatorRole;
  private readonly nextRound = new NextRoundBuffer();
  private readonly steps: StepQueue;
  private readonly voidIO: VoidIO = { evaluate: (w) => evaluateModel(this.ctx, this.opts.trainer, w), finishRound: (r, w, hash, s) => this.finishRound(r, w, hash, s) };

  constructor(opts: EngineOptions) {
    this.opts = opts;
    const clock = opts.clock ?? new SystemClock();
    const syncIO: SyncIO = {
      sign: (message) => ctx.outbox.sign(message, ctx.state.round, ctx.state.attempt),
      request: (peer, bytes, o) => opts.network.request(peer, bytes, o),
      decode: (bytes, maxBytes) => this.gate.decodeDirect(bytes, maxBytes),
      enqueue: (step) => this.steps.enqueue(step),
      adopt: (v, weights, hash, from) => this.adopt(v, weights, hash, from),
    };
    const ctx = new RoundContext({ ...opts, store: new RoundStore(opts.store), clock, hooks: opts.hooks ?? noHooks, onChange: () => opts.onChange?.(), syncIO });
    this.ctx = ctx;
    this.steps = new StepQueue(clock, ctx.log);
    this.members = [...ctx.members];
    const view = () => ({
      self: ctx.self, members: ctx.members, state: ctx.state, maxAttempts: ctx.manifest.maxAttempts, modelWords: ctx.weights.length, manifestHash: ctx.manifestHash, adminPublicKey: fromHex(ctx.manifest.adminPublicKey),
      baseModelHash: fromHex(ctx.global.hash), now: () => clock.now(), maxSamplesOf: (s: string) => maxSamplesOf(ctx.manifest, s) ?? 0,
    });
    this.gate = new GossipGate(opts.manifest.consortium, ctx.members, view, opts.log);
    this.member = new MemberRole(ctx, { refuse: (a, why) => refuse(ctx, a, why), rehandle: (b) => this.rehandle(b) });
    this.role = new AggregatorRole(ctx, { accept: (env, bytes) => this.accept(env, bytes) });
  }

  // ---------------------------------------------------------------- read-only view

  get self(): string {
    return this.ctx.self;
  }
  get global(): GlobalModel {
    return this.ctx.global;
  }
  get round(): RoundState {
    return this.ctx.state;
  }
  get completed(): boolean {
    return this.ctx.completed;
  }
  get events(): NodeEvent[] {
    return this.ctx.events.list;
  }
  /** The aggregator of the attempt this node works in. */
  get aggregator(): string {
    return this.ctx.aggregator;
  }
  currentWeights(): Float32Array {
    return this.ctx.weights;
  }
  heartbeatOf(peer: string): PeerHeartbeat | undefined {
    return this.ctx.liveness.heartbeatOf(peer);
  }
  chunkProgress(peer: string): { received: number; total: number | null } {
    return this.ctx.book.peek(this.ctx.state.attempt)?.progress(peer, this.ctx.weights.length) ?? { received: 0, total: null };
  }
  /** The members of the current attempt's U2 (or U1, or none yet): the status page's participants. */
  participants(): string[] {
    const d = this.ctx.book.peek(this.ctx.state.attempt);
    return d?.u2?.body.members ?? d?.u1?.body.members.map((m) => m.id) ?? [];
  }
  /** The current step's deadline (epoch ms). */
  deadline(): number | null {
    return stepDeadline(this.ctx, this.ctx.book.peek(this.ctx.state.attempt));
  }
  /** The stored weights of committed model version v (every version is kept). */
  modelWeights(v: number): Promise<Float32Array | undefined> {
    return this.ctx.store.model(v);
  }
  /** Uploaded weights become this site's contribution to the next round that trains; returns that round. */
  async submitWeights(flat: Float32Array): Promise<number> {
    const { ctx } = this;
    if (flat.length !== ctx.weights.length) throw new Error(`expected ${ctx.weights.length} weights, got ${flat.length}`);
    await ctx.contribution.submit(flat);
    return ctx.contribution.started ? ctx.state.round + 1 : ctx.state.round; // training under way took no upload
  }
  /** The admin's void record, handed in by the operator: applied and gossiped (returns the round), or refused (VoidRefused; void.ts). */
  submitVoid(record: VoidRecordV2): Promise<number> {
    return new Promise((resolve, reject) => (this.steps.stopped ? reject(new Error('the node is stopping')) : this.steps.enqueue(() => submitVoid(this.ctx, record, this.voidIO).then(resolve, reject))));
  }

  // ---------------------------------------------------------------- start, stop, the queue

  async start(): Promise<void> {
    const { ctx } = this;
    const { trainer, network } = this.opts;
    const loaded = await ctx.store.loadGlobal();
    let { global, weights } = loaded ?? { global: null, weights: null };
    if (!global || !weights) {
      // Version 0: every site builds it from the manifest's model seed, so all hashes agree.
      weights = trainer.getWeights();
      global = { version: 0, hash: toHex(modelHash(weights)) };
      await ctx.store.commitModel(global, weights, null);
    }
    this.summaries = await ctx.store.summaries();
    await ctx.contribution.load();
    const saved = await ctx.store.loadState();
    const resumed = !!saved && saved.round === global.version + 1;
    ctx.init(global, weights, resumed ? saved : freshState(global.version + 1, ctx.clock.now(), ctx.manifest.plan.rounds), resumed);
    if (resumed) await this.restoreRound();
    network.setValidator((b, from) => this.validate(b, from));
    network.onRequest(async (b, from) => ctx.sync.serve(ctx, b, from));
    network.onMessage((b) => {
      // Heartbeats are applied at once, not queued behind slow steps (training, evaluation):
      // liveness must reflect the network, not this node's own backlog.
      if (b[1] !== KindV2.Heartbeat) return this.steps.enqueue(() => this.onEnvelope(b));
      try {
        const env = this.gate.decode(b);
        if (env.kind === KindV2.Heartbeat && !this.gate.check(env)) this.onHeartbeat(env);
      } catch {
        /* rejected by the validator already */
      }
    });
    const hb = ctx.manifest.timeouts.heartbeatMs;
    this.steps.every(250, () => this.notePause());
    this.steps.every(200, () => this.steps.enqueue(() => this.tick()));
    this.steps.every(hb, () => void this.heartbeat());
    this.steps.every(Math.max(1000, 3 * hb), () => this.steps.enqueue(() => this.resendAll()));
    await ctx.persist();
  }

  stop(): void {
    this.steps.stop();
  }


  /** Resuming a round from disk (restore.ts). */
  private async restoreRound(): Promise<void> {
    this.member.replaying = true;
    try {
      await restoreRound(this.ctx, (b) => this.gate.decodeDirect(b, MAX_MODEL_ENVELOPE_BYTES_V2), (env, b) => this.accept(env, b));
    } finally {
      this.member.replaying = false;
    }
  }

  // ---------------------------------------------------------------- validation (synchronous)

  /** The gossip topic validator's verdict (admission.ts). */
  validate(bytes: Uint8Array, from: string): Verdict {
    return this.gate.validate(bytes, from);
  }

  /** Rules the pure decoder cannot apply: rounds, attempts, bindings, list signers (admission.ts). Returns a reason, or null. */
  stateCheck(env: EnvelopeV2): string | null {
    return this.gate.check(env);
  }

  // ---------------------------------------------------------------- handling: one switch on the kind

  private async onEnvelope(bytes: Uint8Array): Promise<void> {
    let env: EnvelopeV2;
    try {
      env = this.gate.decode(bytes);
    } catch {
      return;
    }
    if (env.round !== this.ctx.state.round + 1) this.ctx.state.bytesIn += bytes.length; // a next-round message counts when drained
    await this.handle(env, bytes);
  }

  async handle(env: EnvelopeV2, bytes: Uint8Array): Promise<void> {
    const { ctx } = this;
    const why = this.stateCheck(env);
    if (why) {
      // the state may have moved since validation
      if (env.kind !== KindV2.Heartbeat) ctx.log.info({ from: env.sender, kind: KindV2[env.kind], reason: why }, 'message ignored');
      return;
    }
    if (env.kind !== KindV2.Heartbeat && env.round === ctx.state.round + 1) return this.nextRound.keep(bytes);
    if (env.kind === KindV2.Heartbeat) return this.onHeartbeat(env);
    await this.accept(env, bytes);
    await this.tick();
  }

  /** A deferred envelope (it needed a list or dealing that has arrived since). */
  private async rehandle(bytes: Uint8Array): Promise<void> {
    let env: EnvelopeV2;
    try {
      env = this.gate.decodeDirect(bytes, MAX_MODEL_ENVELOPE_BYTES_V2);
    } catch {
      return; // checked when it first arrived
    }
    // admitted again (unless replayed from disk): its sender may have been excluded while it waited
    const why = env.round !== this.ctx.state.round ? 'another round' : this.member.replaying ? null : this.stateCheck(env);
    if (why) return void this.ctx.log.info({ from: env.sender, kind: KindV2[env.kind], reason: why }, 'deferred message ignored');
    await this.accept(env, bytes);
  }

  /** An admitted round message of the current round (or one reloaded from disk). */
  private async accept(env: EnvelopeV2, bytes: Uint8Array): Promise<void> {
    const m = this.member;
    switch (env.kind) {
      case KindV2.KeyAnnouncement:
        return m.onKeys(env, bytes);
      case KindV2.U1List:
        await m.onU1(env, bytes);
        return this.followLater(env.attempt);
      case KindV2.ShareDealing:
        return m.onDealing(env, bytes);
      case KindV2.Complaint:
        return m.onComplaint(env, bytes);
      case KindV2.U2List:
        return m.onU2(env, bytes);
      case KindV2.CryptogramChunk:
        return m.onChunk(env as Of<KindV2.CryptogramChunk>);
      case KindV2.U3List:
        return m.onU3(env, bytes);
      case KindV2.Consent:
        return m.onConsent(env, bytes);
      case KindV2.Reveal:
        return m.onReveal(env, bytes);
      case KindV2.VoidRound:
        return applyVoid(this.ctx, voidRecordOf(env), this.voidIO);
      default:
        return; // heartbeats above; model sync on direct streams only
    }
  }

  private onHeartbeat(env: Of<KindV2.Heartbeat>): void {
    if (!this.ctx.liveness.noteHeartbeat(env.sender, env.round, env.attempt, env.body, this.ctx.clock.now())) this.ctx.log.debug({ from: env.sender, sentAt: env.body.sentAt }, 'heartbeat dropped: not newer than the last one (replayed?)');
  }

  /** A U1 list accepted for a later attempt than this node's: the others moved on, so does this node. */
  private async followLater(a: number): Promise<void> {
    const { ctx } = this;
    if (a <= ctx.state.attempt || !ctx.book.peek(a)?.u1 || ctx.state.revealed || finalAttempt(ctx) || this.member.replaying) return;
    await moveTo(ctx, a, `the aggregator of attempt ${a} signed its U1 list`);
  }

  // ---------------------------------------------------------------- the tick: one step per role

  async tick(): Promise<void> {
    if (this.steps.stopped) return;
    const { ctx } = this;
    this.notePause();
    ctx.sync.request(ctx);
    if (ctx.completed) return ctx.setPhase('done');
    // Live members already completed this round: never commit it here from a stale view; the
    // model comes by sync instead.
    if (ctx.sync.roundOverElsewhere(ctx.global, ctx.clock.now())) return;
    const now = ctx.clock.now();
    const a = ctx.state.attempt;
    this.startTraining();
    await announceKeys(ctx, a);
    const d = ctx.book.of(a);
    await deal(ctx, d);
    await publishCryptogram(ctx, d);
    await consent(ctx, d);
    const r = ctx.state.round;
    for (const x of ctx.book.all()) {
      const done = tryUnmask(ctx, x);
      if (done) return this.commit(done.next, done.hash, x.attempt, done.u3, done.u2);
    }
    ctx.setPhase(!d.u1 ? 'keys' : !d.u2 ? 'dealing' : !d.u3 ? (d.u2.body.members.includes(ctx.self) && !ctx.contribution.update ? 'training' : 'collecting') : 'unmasking');
    // Back from a pause: take messages in, decide nothing.
    const settling = ctx.liveness.settling(now, (waitedMs) => ctx.log.info({ round: r, attempt: a, waitedMs }, 'view of the network refreshed after a pause'));
    if (settling) return;
    // (never before: a member back from a crash or pause may be about to hear a void record)
    await reveal(ctx);
    if (ctx.state.round !== r) return;
    await this.role.tick(a, now);
    const why = failoverReason(ctx, now);
    // more than N − t members already work in a later attempt: this one cannot reach t, join them
    const later = why || ctx.state.revealed || finalAttempt(ctx) ? null : abandonedUpTo(ctx);
    const to = why ? a + 1 : later;
    if (to !== null && (await moveTo(ctx, to, why ?? `more than N − t members announced keys for attempt ${to}`))) await announceKeys(ctx, to);
    noteRevealStall(ctx, now);
  }

  private notePause(): void {
    const gap = this.ctx.liveness.notePause(this.ctx.clock.now());
    if (gap !== null) this.ctx.record('paused', `this node did not run for ${(gap / 1000).toFixed(1)} s; no aggregator decision until it has heard the other members again`);
  }

  private startTraining(): void {
    const { ctx } = this;
    const r = ctx.state.round;
    const seed = (ctx.manifest.model.seed * 7919 + r * 104729 + ctx.members.indexOf(ctx.self) * 13) >>> 0;
    ctx.contribution.startTraining(r, ctx.weights, seed, () => ctx.state.round, () => this.steps.enqueue(() => this.tick()));
  }

  // ---------------------------------------------------------------- timers: heartbeat and re-sending

  private async heartbeat(): Promise<void> {
    if (!this.steps.stopped) await sendHeartbeat(this.ctx);
  }

  private async resendAll(): Promise<void> {
    if (!this.steps.stopped) await resendRound(this.ctx);
  }

  // ---------------------------------------------------------------- commit

  /** The unmasked aggregate of attempt a: evaluate it, then commit it as model version r. */
  private async commit(next: Float32Array, hash: string, a: number, u3: string[], u2: string[]): Promise<void> {
    const { ctx } = this;
    const r = ctx.state.round;
    ctx.setPhase('verifying');
    const ev = await evaluateModel(ctx, this.opts.trainer, next);
    await this.finishRound(r, next, hash, unmaskedSummary(ctx, a, u3, u2, hash, ev));
    ctx.log.info({ round: r, attempt: a, participants: u3.length, modelHash: hash.slice(0, 16), testAuc: +ev.auc.toFixed(4), dataset: this.opts.trainer.dataset }, 'round complete');
  }

  /** A model fetched from a peer and verified (model-sync.ts): committed as version v, attempt −1. */
  private async adopt(v: number, weights: Float32Array, hash: string, from: string): Promise<void> {
    const { ctx } = this;
    const ev = await evaluateModel(ctx, this.opts.trainer, weights);
    ctx.log.info({ version: v, hash: hash.slice(0, 16), from: ctx.names([from]) }, 'caught up: global model fetched from a peer and verified');
    await this.finishRound(v, weights, hash, syncedSummary(ctx, v, from, hash, ev));
  }

  /** Model version r is committed (and round r erased): round r + 1 starts, with what was buffered for it. */
  private async finishRound(r: number, next: Float32Array, hash: string, summary: RoundSummary): Promise<void> {
    const { ctx } = this;
    const global = { version: r, hash };
    await ctx.store.commitModel(global, next, summary);
    this.summaries = [...this.summaries.filter((x) => x.round !== r), summary];
    ctx.advance(global, next);
    await ctx.persist();
    for (const bytes of this.nextRound.drain()) await this.onEnvelope(bytes);
  }
}
