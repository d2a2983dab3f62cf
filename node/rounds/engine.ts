// The round engine (rules: node/rounds/README.md, PROTOCOL.md §4): the dispatcher. Messages are
// validated synchronously in the network's topic validator (admission.ts); accepted ones are
// handled one at a time (a promise queue), as is the periodic tick that drives deadlines. Each
// message kind goes to one handler, each tick to one step per phase and role:
//   member.ts       chunks, AttemptStarts, AggregateRecords (what every member does)
//   participant.ts  key announcement and cryptogram (a participant of the attempt)
//   aggregator.ts   opening attempts, the record, re-masks (the attempt's aggregator)
//   failover.ts     deadlines, dead candidates, stalls (everyone)
//   model-sync.ts   catching up with the peers' model
// The state they share is context.ts; decisions live in admission, attempts, collector, records,
// liveness and model-sync; persistence in round-store; sending in outbox.
import { createHash } from 'node:crypto';
import { fromHex, MessageKind, modelHash, toHex, type Envelope } from '../../protocol/index.ts';
import type { SiteIdentity } from '../identity.ts';
import type { Logger } from '../log.ts';
import { maxSamplesOf, type Manifest } from '../manifest.ts';
import { SystemClock, type Clock, type TimerHandle } from '../runtime/clock.ts';
import { noHooks, type EngineHooks } from '../runtime/hooks.ts';
import type { KeyValueStore } from '../runtime/kv-store.ts';
import type { Network, RoundSummary, Trainer, Verdict } from '../types.ts';
import { GossipGate, startSlack } from './admission.ts';
import { AggregatorRole } from './aggregator.ts';
import { RoundContext } from './context.ts';
import type { NodeEvent } from './events.ts';
import { checkAttemptDeadline, checkStartDeadline, collectDeadline, skipDeadCandidates } from './failover.ts';
import type { PeerHeartbeat } from './liveness.ts';
import { MemberRole } from './member.ts';
import type { SyncIO } from './model-sync.ts';
import { announceKey, publishCryptogram, tickParticipant } from './participant.ts';
import { RoundStore } from './round-store.ts';
import { addPhaseTime, freshState, type GlobalModel, type RoundState } from './state.ts';

export type { AttemptInfo, GlobalModel, RoundState } from './state.ts';
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

/** SHA-256 in hex (of a model's float32 bytes: its hash; see protocol/aggregate.ts modelHash). */
export const sha256hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

type Of<K extends MessageKind> = Envelope & { kind: K };

/** Next-round messages buffered until this node reaches that round. */
const MAX_PENDING = 512;

export class RoundEngine {
  readonly members: string[];
  summaries: RoundSummary[] = [];
  stopped = false;
  private readonly opts: EngineOptions;
  private readonly ctx: RoundContext;
  private readonly gate: GossipGate;
  private readonly member: MemberRole;
  private readonly role: AggregatorRole;
  private pending: Envelope[] = [];
  private queue: Promise<void> = Promise.resolve();
  private timers: TimerHandle[] = [];

  constructor(opts: EngineOptions) {
    this.opts = opts;
    const clock = opts.clock ?? new SystemClock();
    const syncIO: SyncIO = {
      sign: (message) => ctx.outbox.sign(message, ctx.state.round, ctx.state.attempt),
      request: (peer, bytes, o) => opts.network.request(peer, bytes, o),
      decode: (bytes, maxBytes) => this.gate.decodeDirect(bytes, maxBytes),
      enqueue: (step) => this.enqueue(step),
      adopt: (v, weights, hash, from) => this.adopt(v, weights, hash, from),
    };
    const ctx = new RoundContext({ ...opts, store: new RoundStore(opts.store), clock, hooks: opts.hooks ?? noHooks, onChange: () => opts.onChange?.(), syncIO });
    this.ctx = ctx;
    this.members = [...ctx.members];
    const view = () => ({ self: ctx.self, members: ctx.members, state: ctx.state, maxAttempts: ctx.manifest.maxAttempts, modelWords: ctx.weights.length, now: () => clock.now(), keyOf: (a: number, s: string) => ctx.keys.publicKey(a, s), maxSamplesOf: (s: string) => maxSamplesOf(ctx.manifest, s) });
    this.gate = new GossipGate(opts.manifest.consortium, ctx.members, view, opts.log);
    this.member = new MemberRole(ctx, { commit: (next, hash, a, aggregator, participants) => this.commit(next, hash, a, aggregator, participants) });
    this.role = new AggregatorRole(ctx, {
      follow: (a, body) => this.member.onAttemptStart({ version: 1, consortium: ctx.manifest.consortium, round: ctx.state.round, attempt: a, sender: ctx.self, kind: MessageKind.AttemptStart, body }),
      commit: (next, hash, a, participants) => this.commit(next, hash, a, ctx.self, participants),
      keepRecord: (version, bytes) => ctx.outbox.keepRecord(version, bytes),
    });
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
  currentWeights(): Float32Array {
    return this.ctx.weights;
  }
  heartbeatOf(peer: string): PeerHeartbeat | undefined {
    return this.ctx.liveness.heartbeatOf(peer);
  }
  chunkProgress(peer: string): { received: number; total: number | null } {
    return this.ctx.collector.progress(this.ctx.state.attempt, peer);
  }
  /** The current phase's deadline (epoch ms). */
  deadline(): number | null {
    const s = this.ctx.state;
    return s.attempts[s.attempt] ? collectDeadline(this.ctx, s.attempt) : s.roundStartedAt + this.ctx.manifest.timeouts.keysMs;
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
      if (b[1] !== MessageKind.Heartbeat) return this.enqueue(() => this.onEnvelope(b));
      try {
        const env = this.gate.decode(b);
        if (env.kind === MessageKind.Heartbeat && !this.stateCheck(env)) this.onHeartbeat(env);
      } catch {
        /* rejected by the validator already */
      }
    });
    const hb = ctx.manifest.timeouts.heartbeatMs;
    this.every(250, () => this.notePause());
    this.every(200, () => this.enqueue(() => this.tick()));
    this.every(hb, () => void this.heartbeat());
    this.every(Math.max(1000, 3 * hb), () => this.enqueue(() => this.resendAll()));
    await ctx.persist();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) this.ctx.clock.clear(t);
    this.timers = [];
  }

  private every(ms: number, fn: () => void): void {
    this.timers.push(this.ctx.clock.setInterval(fn, ms));
  }
  /** Runs `fn` in the queue after `ms`, if the engine is still in (round r, attempt a) then. */
  private laterInAttempt(ms: number, r: number, a: number, fn: () => Promise<void>): void {
    this.timers.push(this.ctx.clock.setTimeout(() => this.enqueue(() => (this.ctx.state.round === r && this.ctx.state.attempt === a ? fn() : undefined)), ms));
  }

  private enqueue(fn: () => Promise<void> | void): void {
    if (this.stopped) return;
    this.queue = this.queue.then(fn).catch((err) => this.ctx.log.error({ err: (err as Error).stack ?? String(err) }, 'round step failed'));
  }

  /** Resuming a round from disk: stored update, key and cryptograms reloaded, the own cryptogram republished as is. */
  private async restoreRound(): Promise<void> {
    const { ctx } = this;
    const { round: r, attempt: a, phase } = ctx.state;
    await ctx.contribution.restore(r, a);
    ctx.collector.restore(await ctx.store.received(r));
    for (const k of await ctx.store.peerKeys(r)) ctx.keys.set(k.attempt, k.sender, { publicKey: fromHex(k.publicKey), samples: k.samples });
    this.laterInAttempt(1000, r, a, () => this.role.resendStart());
    const mine = await ctx.store.ownCryptogram(r, a);
    if (mine) {
      // Republish exactly the bytes persisted before the crash: never a new cryptogram under these
      // masks, and only in that round and attempt (in a later one it would look like a second,
      // different cryptogram, i.e. equivocation).
      ctx.collector.put(a, ctx.self, mine);
      this.laterInAttempt(1500, r, a, () => publishCryptogram(ctx, a, mine));
    }
    if (ctx.contribution.own) this.laterInAttempt(1200, r, a, () => announceKey(ctx, a));
    ctx.log.info({ round: r, attempt: a, phase }, 'resuming round from disk');
  }

  // ---------------------------------------------------------------- validation (synchronous)

  /** The gossip topic validator's verdict (admission.ts). */
  validate(bytes: Uint8Array, from: string): Verdict {
    return this.gate.validate(bytes, from);
  }

  /** Rules the pure decoder cannot apply: rounds, attempts, roles (admission.ts). Returns a reason, or null. */
  stateCheck(env: Envelope, candidateSlack = 1): string | null {
    return this.gate.check(env, candidateSlack);
  }

  // ---------------------------------------------------------------- handling: one switch on the kind

  private async onEnvelope(bytes: Uint8Array): Promise<void> {
    let env: Envelope;
    try {
      env = this.gate.decode(bytes);
    } catch {
      return;
    }
    this.ctx.state.bytesIn += bytes.length;
    await this.handle(env);
  }

  async handle(env: Envelope): Promise<void> {
    const { ctx } = this;
    const why = this.stateCheck(env, startSlack(env, ctx.state, ctx.members.length));
    if (why) {
      // the state may have moved since validation, or the sender is not (yet) a candidate here
      if (env.kind !== MessageKind.Heartbeat) ctx.log.info({ from: env.sender, kind: MessageKind[env.kind], reason: why }, 'message ignored');
      return;
    }
    if (env.kind !== MessageKind.Heartbeat && env.round === ctx.state.round + 1) {
      if (this.pending.length < MAX_PENDING) this.pending.push(env);
      return;
    }
    switch (env.kind) {
      case MessageKind.Heartbeat:
        return this.onHeartbeat(env);
      case MessageKind.ModelRequest:
      case MessageKind.ModelResponse:
        return; // direct streams only (model-sync.ts); admission refuses them on gossip
      case MessageKind.KeyAnnouncement:
        if (!ctx.keys.publicKey(env.attempt, env.sender)) await ctx.store.savePeerKey(ctx.state.round, env.attempt, env.sender, toHex(env.body.publicKey), env.body.samples);
        ctx.keys.set(env.attempt, env.sender, { publicKey: env.body.publicKey, samples: env.body.samples });
        break;
      case MessageKind.CryptogramChunk:
        await this.member.onChunk(env);
        break;
      case MessageKind.AttemptStart:
        await this.member.onAttemptStart(env);
        break;
      case MessageKind.AggregateRecord:
        await this.member.onAggregateRecord(env);
        break;
    }
    await this.tick();
  }

  private onHeartbeat(env: Of<MessageKind.Heartbeat>): void {
    if (!this.ctx.liveness.noteHeartbeat(env.sender, env.round, env.attempt, env.body, this.ctx.clock.now())) this.ctx.log.debug({ from: env.sender, sentAt: env.body.sentAt }, 'heartbeat dropped: not newer than the last one (replayed?)');
  }

  // ---------------------------------------------------------------- the tick: one step per phase and role

  async tick(): Promise<void> {
    if (this.stopped) return;
    const { ctx } = this;
    this.notePause();
    ctx.sync.request(ctx);
    if (ctx.completed) return ctx.setPhase('done');
    // Live members already completed this round: never open or commit it here (that would fork
    // the model); the model comes by sync instead.
    if (ctx.sync.roundOverElsewhere(ctx.global, ctx.clock.now())) return;
    const now = ctx.clock.now();
    const { attempt: a } = ctx.state;
    const info = ctx.state.attempts[a];
    // Keys and training for attempt 0 start as soon as the round does.
    if (a === 0 && !ctx.contribution.own && !info) await announceKey(ctx, 0);
    this.startTraining();
    // Back from a pause: take messages in (the others' AttemptStart first of all), decide nothing.
    const settling = ctx.liveness.settling(now, (waitedMs) => ctx.log.info({ round: ctx.state.round, attempt: a, waitedMs }, 'view of the network refreshed after a pause'));
    if (!settling) skipDeadCandidates(ctx, now);
    if (!info) {
      ctx.setPhase(ctx.contribution.update ? 'keys' : 'training');
      if (settling) return;
      if (ctx.aggregator === ctx.self && a === 0) await this.role.openFirst(now);
      return checkStartDeadline(ctx, now);
    }
    await tickParticipant(ctx, a);
    const missing = ctx.collector.missing(a, info.participants);
    if (await this.member.recheckRecord(a, missing)) return;
    const masking = info.participants.includes(ctx.self) && !ctx.collector.has(a, ctx.self);
    ctx.setPhase(missing.length ? (masking ? (ctx.contribution.update ? 'masking' : 'training') : 'collecting') : 'aggregating');
    if (settling) return;
    const r = ctx.state.round;
    if (ctx.aggregator === ctx.self) await this.role.tick(a, missing, now);
    if (ctx.state.round !== r) return; // committed
    if (await checkAttemptDeadline(ctx, a, missing, now)) await this.role.publishRecord(a, info.participants);
  }

  private notePause(): void {
    const gap = this.ctx.liveness.notePause(this.ctx.clock.now());
    if (gap !== null) this.ctx.record('paused', `this node did not run for ${(gap / 1000).toFixed(1)} s; no aggregator decision until it has heard the other members again`);
  }

  private startTraining(): void {
    const { ctx } = this;
    const r = ctx.state.round;
    const seed = (ctx.manifest.model.seed * 7919 + r * 104729 + ctx.members.indexOf(ctx.self) * 13) >>> 0;
    ctx.contribution.startTraining(r, ctx.weights, seed, () => ctx.state.round, () => this.enqueue(() => this.tick()));
  }

  // ---------------------------------------------------------------- timers: heartbeat and re-sending

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    const { ctx } = this;
    const s = ctx.state;
    const now = ctx.clock.now();
    ctx.liveness.noteOwn({ at: now, sentAt: now, version: ctx.global.version, hash: ctx.global.hash, round: s.round, attempt: s.attempt, phase: s.phase });
    try {
      await ctx.send({ kind: MessageKind.Heartbeat, body: { sentAt: now, modelVersion: ctx.global.version, modelHash: fromHex(ctx.global.hash), phase: s.phase } });
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  private async resendAll(): Promise<void> {
    if (this.stopped) return;
    const { ctx } = this;
    const now = ctx.clock.now();
    if (ctx.liveness.anyBehind(ctx.global.version, now)) await ctx.outbox.resendRecord(ctx.global.version);
    if (ctx.completed || ctx.sync.behind(ctx.global, now)) return; // this round is over elsewhere
    await ctx.outbox.resendCurrent(ctx.state.round, ctx.state.attempt);
  }

  // ---------------------------------------------------------------- commit

  /** A checked (or own) aggregate: evaluate it, then commit it as model version r. */
  private async commit(next: Float32Array, hash: string, a: number, aggregator: string, participants: string[]): Promise<void> {
    const { ctx } = this;
    const r = ctx.state.round;
    ctx.setPhase('verifying');
    const ev = await this.evaluate(next);
    const s = ctx.state;
    addPhaseTime(s, ctx.clock.now());
    await this.finishRound(r, next, hash, { round: r, attempt: a, participants, aggregator, phaseSeconds: s.phaseSeconds, bytesIn: s.bytesIn, bytesOut: s.bytesOut, modelHash: hash, testAuc: ev.auc, testAcc: ev.acc, testLoss: ev.loss, valAuc: ev.valAuc, completedAt: ctx.clock.now(), ...(ctx.contribution.uploadedRound === r && participants.includes(ctx.self) ? { uploaded: true } : {}) });
    ctx.log.info({ round: r, attempt: a, participants: participants.length, modelHash: hash.slice(0, 16), testAuc: +ev.auc.toFixed(4), dataset: this.opts.trainer.dataset }, 'round complete');
  }

  /** A model fetched from a peer and verified (model-sync.ts): committed as version v, attempt −1. */
  private async adopt(v: number, weights: Float32Array, hash: string, from: string): Promise<void> {
    const { ctx } = this;
    const ev = await this.evaluate(weights);
    ctx.log.info({ version: v, hash: hash.slice(0, 16), from: ctx.names([from]) }, 'caught up: global model fetched from a peer and verified');
    const s = ctx.state;
    await this.finishRound(v, weights, hash, { round: v, attempt: -1, participants: [], aggregator: from, phaseSeconds: {}, bytesIn: s.bytesIn, bytesOut: s.bytesOut, modelHash: hash, testAuc: ev.auc, testAcc: ev.acc, testLoss: ev.loss, valAuc: ev.valAuc, completedAt: ctx.clock.now() });
  }

  private async evaluate(weights: Float32Array) {
    await this.ctx.contribution.idle(); // the trainer is shared
    this.opts.trainer.setWeights(weights);
    const test = await this.opts.trainer.evaluate('test');
    const val = await this.opts.trainer.evaluate('val'); // this site's validation share: model selection
    return { ...test, valAuc: val.auc };
  }

  /** Model version r is committed: persist it, start round r + 1, replay what was buffered for it. */
  private async finishRound(r: number, next: Float32Array, hash: string, summary: RoundSummary): Promise<void> {
    const { ctx } = this;
    const global = { version: r, hash };
    await ctx.store.commitModel(global, next, summary);
    this.summaries = [...this.summaries.filter((x) => x.round !== r), summary];
    ctx.advance(global, next);
    this.member.newRound();
    this.role.newRound();
    await ctx.persist();
    const pend = this.pending;
    this.pending = [];
    for (const env of pend) await this.handle(env);
  }
}
