// The round in progress as every role module (member, participant, aggregator, failover,
// model-sync) sees it: the committed model, the round record and its per-round scratch, the
// modules that own the rest, and the few actions all roles use. The engine owns one and
// dispatches messages and ticks to the roles; nothing here decides a protocol rule.
import type { AttemptParams, Message } from '../../protocol/index.ts';
import type { SiteIdentity } from '../identity.ts';
import type { Logger } from '../log.ts';
import { memberName, type Manifest } from '../manifest.ts';
import type { Clock } from '../runtime/clock.ts';
import type { EngineHooks } from '../runtime/hooks.ts';
import type { Network, RoundPhase, Trainer } from '../types.ts';
import { attemptHashOf, attemptParams, KeyBook } from './attempts.ts';
import { Collector } from './collector.ts';
import { Contribution } from './contribution.ts';
import { EventLog, type EventKind } from './events.ts';
import { Liveness } from './liveness.ts';
import { ModelSync, type SyncIO } from './model-sync.ts';
import { Outbox } from './outbox.ts';
import type { RoundStore } from './round-store.ts';
import { aggregatorOrder } from './rotation.ts';
import { changePhase, freshState, type GlobalModel, type RoundState } from './state.ts';

export interface ContextOptions {
  manifest: Manifest;
  identity: SiteIdentity;
  network: Network;
  trainer: Trainer;
  store: RoundStore;
  log: Logger;
  clock: Clock;
  hooks: EngineHooks;
  onChange: () => void;
  /** The engine's side of model sync (signing, direct streams, the queue). */
  syncIO: SyncIO;
}

export class RoundContext {
  readonly self: string;
  readonly members: readonly string[];
  readonly manifest: Manifest;
  readonly log: Logger;
  readonly clock: Clock;
  readonly hooks: EngineHooks;
  readonly trainer: Trainer;
  readonly store: RoundStore;
  readonly outbox: Outbox;
  readonly events: EventLog;
  readonly contribution: Contribution;
  /** The committed global model and its weights (replaced at commit). */
  global!: GlobalModel;
  weights!: Float32Array;
  /** The round record (replaced when a round commits: read it again after an await). */
  state!: RoundState;
  liveness!: Liveness;
  sync!: ModelSync;
  // the per-round scratch (beginRound)
  keys = new KeyBook();
  collector!: Collector;
  readonly changed: () => void;
  private readonly syncIO: SyncIO;

  constructor(o: ContextOptions) {
    this.syncIO = o.syncIO;
    this.self = o.identity.peerId;
    this.members = o.manifest.members.map((m) => m.peerId);
    this.manifest = o.manifest;
    this.log = o.log;
    this.clock = o.clock;
    this.hooks = o.hooks;
    this.trainer = o.trainer;
    this.store = o.store;
    this.changed = o.onChange;
    this.outbox = new Outbox(o.network, o.manifest.consortium, this.self, o.identity.signingSecret, (n) => void (this.state.bytesOut += n));
    this.events = new EventLog(o.log, () => this.clock.now(), o.onChange);
    this.contribution = new Contribution(o.store, o.trainer, o.clock, o.hooks, o.log);
  }

  /** Loaded or created at start: the model, the round record, and liveness from now on. */
  init(global: GlobalModel, weights: Float32Array, state: RoundState, resumed: boolean): void {
    this.global = global;
    this.weights = weights;
    this.state = state;
    this.liveness = new Liveness(this.self, this.members, this.manifest.timeouts.livenessMs, this.clock.now(), resumed);
    this.sync = new ModelSync(this.liveness, this.syncIO);
    this.beginRound();
  }

  /** Model version `global.version` committed: round version + 1 begins. */
  advance(global: GlobalModel, weights: Float32Array): void {
    this.global = global;
    this.weights = weights;
    this.state = freshState(global.version + 1, this.clock.now(), this.manifest.plan.rounds);
    this.beginRound();
  }

  /** Empties the per-round scratch (the one place for everything a new round resets). */
  private beginRound(): void {
    this.keys = new KeyBook();
    this.collector = new Collector(this.weights.length, this.state.equivocators);
    this.events.newRound();
    this.contribution.newRound();
    this.outbox.newRound();
    this.sync.newRound();
  }

  get completed(): boolean {
    return this.global.version >= this.manifest.plan.rounds;
  }
  /** The aggregator candidate at the current failover index. */
  get aggregator(): string {
    return aggregatorOrder(this.members, this.state.round)[this.state.failover % this.members.length]!;
  }
  /** Member names (or ids) for a message. */
  names(ids: readonly string[]): string {
    return ids.map((p) => memberName(this.manifest, p) ?? p).join(', ');
  }

  async persist(): Promise<void> {
    await this.store.saveState(this.state);
    this.changed();
  }

  setPhase(phase: RoundPhase): void {
    if (!changePhase(this.state, phase, this.clock.now())) return;
    this.log.info({ round: this.state.round, attempt: this.state.attempt, phase }, 'phase');
    this.hooks.reached(this.state.round, phase);
  }

  record(kind: EventKind, detail: string): void {
    this.events.record(kind, detail);
  }

  /** Signs and gossips for (round, attempt), by default the current ones; with a tag, re-sent until the round commits. */
  send(message: Message, attempt = this.state.attempt, round = this.state.round, resendTag?: string): Promise<Uint8Array> {
    return this.outbox.send(message, round, attempt, resendTag);
  }

  /** What this node's cryptograms for an attempt it follows are bound to: its participants and the base model. */
  attemptHash(a: number): Uint8Array {
    return attemptHashOf(this.state.attempts[a]!.participants, this.global.hash);
  }

  /** The attempt's masking parameters, or null while a participant's key is missing. */
  params(a: number): AttemptParams | null {
    const info = this.state.attempts[a]!;
    if (!this.keys.haveAll(a, info.participants)) return null;
    return attemptParams(this.manifest.consortium, this.state.round, a, this.manifest.plan.clip, info.participants, this.keys.of(a));
  }

  /** The next aggregator candidate (README rule 2). */
  async failover(why: string): Promise<void> {
    this.state.failover++;
    this.state.lastProgressAt = this.clock.now();
    this.log.warn({ round: this.state.round, failover: this.state.failover, next: memberName(this.manifest, this.aggregator), why }, 'aggregator failover');
    await this.persist();
  }
}
