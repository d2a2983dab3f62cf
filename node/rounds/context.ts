// The round in progress as every role module (member, aggregator, failover, unmask, model-sync)
// sees it: the committed model, the round record and its per-round scratch, the modules that own
// the rest, and the few actions all roles use. The engine owns one and dispatches messages and
// ticks to the roles; nothing here decides a protocol rule.
import { fromHex } from '../../protocol/index.ts';
import { decodeEnvelopeV2, MAX_MODEL_ENVELOPE_BYTES_V2, shareXs, type AttemptRef, type Binding, type EnvelopeV2, type MessageV2 } from '../../protocol/v2/index.ts';
import type { SiteIdentity } from '../identity.ts';
import type { Logger } from '../log.ts';
import { manifestHash, memberName, thresholdOf, type Manifest } from '../manifest.ts';
import type { Clock } from '../runtime/clock.ts';
import type { EngineHooks } from '../runtime/hooks.ts';
import type { Network, RoundPhase, Trainer } from '../types.ts';
import { AttemptBook } from './attempt-book.ts';
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
  /** t: every list, and the consents that make an attempt final, need at least t members. */
  readonly threshold: number;
  /** Each member's Shamir x (1-based position by id bytes). */
  readonly xs: ReadonlyMap<string, number>;
  readonly manifestHash: Uint8Array;
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
  /** The per-round scratch (beginRound). */
  book = new AttemptBook();
  readonly changed: () => void;
  private readonly syncIO: SyncIO;
  private readonly signingPublic: Uint8Array;

  constructor(o: ContextOptions) {
    this.syncIO = o.syncIO;
    this.signingPublic = o.identity.signingPublic;
    this.self = o.identity.peerId;
    this.members = o.manifest.members.map((m) => m.peerId);
    this.manifest = o.manifest;
    this.threshold = thresholdOf(o.manifest);
    this.xs = shareXs(this.members);
    this.manifestHash = manifestHash(o.manifest);
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
    this.book = new AttemptBook();
    this.events.newRound();
    this.contribution.newRound();
    this.outbox.newRound();
  }

  get completed(): boolean {
    return this.global.version >= this.manifest.plan.rounds;
  }
  /** The aggregator of attempt a of the current round: rotation order index a mod N. */
  aggregatorOf(a: number): string {
    return aggregatorOrder(this.members, this.state.round)[a % this.members.length]!;
  }
  /** The aggregator of the attempt this node works in. */
  get aggregator(): string {
    return this.aggregatorOf(this.state.attempt);
  }
  /** (K, r, a) of attempt a of the current round. */
  ref(a: number): AttemptRef {
    return { consortium: this.manifest.consortium, round: this.state.round, attempt: a };
  }
  /** What every round message is bound to: this manifest and the round's base model. */
  binding(): Binding {
    return { manifestHash: this.manifestHash, baseModelHash: fromHex(this.global.hash) };
  }
  /** Member names (or ids) for a message. */
  names(ids: readonly string[]): string {
    return ids.map((p) => memberName(this.manifest, p) ?? p.slice(-8)).join(', ');
  }
  excluded(member: string): boolean {
    return this.state.excluded.includes(member);
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

  /** Signs a message for attempt a of the current round (not sent). */
  sign(message: MessageV2, a: number): Uint8Array {
    return this.outbox.sign(message, this.state.round, a);
  }

  /** Decodes an envelope this node signed (persisted before a restart). */
  decodeOwn(bytes: Uint8Array): EnvelopeV2 {
    return decodeEnvelopeV2(bytes, { consortium: this.manifest.consortium, publicKeyOf: (s) => (s === this.self ? this.signingPublic : undefined), maxBytes: MAX_MODEL_ENVELOPE_BYTES_V2 });
  }

  /** Gossips signed bytes of attempt a, re-sent until the round commits (`always`: whatever attempt this node is in). */
  publish(bytes: Uint8Array, a: number, name: string, always = false): Promise<void> {
    return this.outbox.publish(bytes, { name: `${this.state.round}/${a}/${name}`, round: this.state.round, attempt: a, always });
  }
}
