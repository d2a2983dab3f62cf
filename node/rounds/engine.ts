// The round state machine (rules: node/rounds/README.md, PROTOCOL.md §4). One instance per node.
// Messages are validated synchronously in the network's topic validator; accepted ones are handled
// one at a time (a promise queue), as is the periodic tick that drives deadlines.
import { createHash } from 'node:crypto';
import {
  buildCryptogram,
  chunkCryptogram,
  CryptogramAssembler,
  cryptogramHash,
  decodeAggregate,
  decodeEnvelope,
  encodeEnvelope,
  equalBytes,
  fromHex,
  generateEphemeralKeyPair,
  MAX_ENVELOPE_BYTES,
  MessageKind,
  ProtocolError,
  sumCryptograms,
  toHex,
  attemptStartHash,
  type AttemptParams,
  type Envelope,
  type Message,
} from '../../protocol/index.ts';
import type { SiteIdentity } from '../identity.ts';
import type { Logger } from '../log.ts';
import { memberName, type Manifest } from '../manifest.ts';
import { bytesF32, bytesU32, f32bytes, u32bytes, type Store } from '../storage/store.ts';
import type { Network, RoundPhase, RoundSummary, Trainer, Verdict } from '../types.ts';
import { publicKeyFromPeerId } from '../identity.ts';
import { aggregatorOrder, candidateIndex } from './rotation.ts';
import { VerifiedEnvelopes } from './verified-envelopes.ts';

export interface AttemptInfo {
  aggregator: string;
  participants: string[];
  openedAt: number;
}

/** The persisted record of the round in progress (one per node, rewritten on every change). */
export interface RoundState {
  round: number;
  attempt: number;
  failover: number;
  phase: RoundPhase;
  roundStartedAt: number;
  phaseStartedAt: number;
  phaseSeconds: Partial<Record<RoundPhase, number>>;
  attempts: Record<number, AttemptInfo>;
  /** `${attempt}/${aggregator}` of attempt starts and `record/${attempt}/${aggregator}` of aggregate records this node refused. */
  refused: string[];
  equivocators: string[];
  bytesIn: number;
  bytesOut: number;
  lastProgressAt: number;
}

export interface GlobalModel {
  version: number;
  hash: string;
}

export interface EngineOptions {
  manifest: Manifest;
  identity: SiteIdentity;
  network: Network;
  trainer: Trainer;
  store: Store;
  log: Logger;
  onChange?: () => void;
  /** Test hook: misbehave as aggregator (fault suite only). */
  fault?: 'equivocate' | 'bad-aggregate' | 'false-dropout' | null;
}

interface KeyInfo {
  publicKey: Uint8Array;
  samples: number;
}

export const sha256hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const MAX_PENDING = 512;
/** How long the aggregator waits after the last cryptogram arrives before publishing the record. */
const RECORD_SETTLE_MS = 1000;

export class RoundEngine {
  readonly members: string[];
  private state!: RoundState;
  global!: GlobalModel;
  private weights!: Float32Array;
  private readonly keys = new Map<number, Map<string, KeyInfo>>();
  private readonly assemblers = new Map<string, CryptogramAssembler>();
  private readonly received = new Map<string, Uint32Array>();
  private readonly recvHash = new Map<string, string>();
  /** Tags of things logged or recorded once per round (see firstTime). */
  private readonly noted = new Set<string>();
  private readonly heartbeats = new Map<string, { at: number; version: number; hash: string; round: number; attempt: number; phase: string }>();
  private readonly claims = new Map<string, Set<string>>(); // `${version}/${hash}` → senders
  private pending: Envelope[] = [];
  private own: { secret: Uint8Array; public: Uint8Array } | null = null;
  private ownPublished = new Set<number>();
  private update: { delta: Float32Array; samples: number } | null = null;
  private training: Promise<void> | null = null;
  private queue: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private lastModelRequest = 0;
  private lastModelResponse = new Map<number, number>();
  private externalWeights: Float32Array | null = null;
  summaries: RoundSummary[] = [];
  events: { at: number; kind: string; detail: string }[] = [];
  stopped = false;
  private readonly opts: EngineOptions;

  constructor(opts: EngineOptions) {
    this.opts = opts;
    this.members = opts.manifest.members.map((m) => m.peerId);
  }

  private get log(): Logger {
    return this.opts.log;
  }
  private get t(): Manifest['timeouts'] {
    return this.opts.manifest.timeouts;
  }
  get self(): string {
    return this.opts.identity.peerId;
  }
  get round(): RoundState {
    return this.state;
  }
  get completed(): boolean {
    return this.global.version >= this.opts.manifest.plan.rounds;
  }
  currentWeights(): Float32Array {
    return this.weights;
  }

  // ---------------------------------------------------------------- start-up and persistence

  async start(): Promise<void> {
    const { store, trainer } = this.opts;
    const g = await store.get<GlobalModel>('global');
    if (g) {
      this.global = g;
      this.weights = bytesF32((await store.getBytes(modelKey(g.version)))!);
    } else {
      // Version 0: every site builds it from the manifest's model seed, so all hashes agree.
      this.weights = trainer.getWeights();
      this.global = { version: 0, hash: sha256hex(f32bytes(this.weights)) };
      await store.batch([
        { type: 'putBytes', key: modelKey(0), value: f32bytes(this.weights) },
        { type: 'put', key: 'global', value: this.global },
      ]);
    }
    this.summaries = [];
    for (const k of await store.keys('summary/')) this.summaries.push((await store.get<RoundSummary>(k))!);
    const ext = await store.getBytes('external-weights');
    if (ext) this.externalWeights = bytesF32(ext);
    const saved = await store.get<RoundState>('state');
    if (saved && saved.round === this.global.version + 1) {
      this.state = saved;
      await this.restoreRound();
      this.log.info({ round: saved.round, attempt: saved.attempt, phase: saved.phase }, 'resuming round from disk');
    } else {
      this.state = this.freshState(this.global.version + 1);
    }
    this.opts.network.setValidator((b, from) => this.validate(b, from));
    this.opts.network.onMessage((b) => {
      // Heartbeats are applied at once, not queued behind slow steps (training, evaluation):
      // liveness must reflect the network, not this node's own backlog.
      if (b[1] === MessageKind.Heartbeat) {
        try {
          const env = this.decodeGossip(b);
          if (env.kind === MessageKind.Heartbeat && !this.stateCheck(env)) this.onHeartbeat(env);
        } catch {
          /* rejected by the validator already */
        }
        return;
      }
      this.enqueue(() => this.onEnvelope(b));
    });
    if (saved && saved.round === this.global.version + 1) this.resumedAt = Date.now(); // restarted mid-round: same stale view as a pause
    this.lastAliveAt = this.wokeAt = Date.now();
    this.timers.push(setInterval(() => this.notePause(), 250));
    this.timers.push(setInterval(() => this.enqueue(() => this.tick()), 200));
    this.timers.push(setInterval(() => void this.heartbeat(), this.t.heartbeatMs));
    this.timers.push(setInterval(() => this.enqueue(() => this.resendAll()), Math.max(1000, 3 * this.t.heartbeatMs)));
    await this.persist();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
  }

  private freshState(round: number): RoundState {
    const now = Date.now();
    return { round, attempt: 0, failover: 0, phase: this.completedAt(round) ? 'done' : 'keys', roundStartedAt: now, phaseStartedAt: now, phaseSeconds: {}, attempts: {}, refused: [], equivocators: [], bytesIn: 0, bytesOut: 0, lastProgressAt: now };
  }

  private completedAt(round: number): boolean {
    return round > this.opts.manifest.plan.rounds;
  }

  private async restoreRound(): Promise<void> {
    const { store } = this.opts;
    const r = this.state.round;
    const u = await store.getBytes(`update/${r}`);
    const meta = await store.get<{ samples: number }>(`updatemeta/${r}`);
    if (u && meta) this.update = { delta: bytesF32(u), samples: meta.samples };
    for (const k of await store.keys(`recv/${r}/`)) {
      const [, , a, sender] = k.split('/');
      const c = bytesU32((await store.getBytes(k))!);
      this.received.set(`${a}/${sender}`, c);
      this.recvHash.set(`${a}/${sender}`, toHex(cryptogramHash(c)));
    }
    const key = await store.get<{ secret: string; public: string; samples: number }>(`keys/${r}/${this.state.attempt}`);
    if (key) this.own = { secret: fromHex(key.secret), public: fromHex(key.public) };
    const mine = await store.getBytes(`crypt/${r}/${this.state.attempt}`);
    if (mine) {
      // Republish exactly the bytes persisted before the crash: never a new cryptogram under these masks.
      this.received.set(`${this.state.attempt}/${this.self}`, bytesU32(mine));
      this.recvHash.set(`${this.state.attempt}/${this.self}`, toHex(cryptogramHash(bytesU32(mine))));
      const a = this.state.attempt;
      // (only if still in that round and attempt: republishing it into a later one would look
      // like a second, different cryptogram, i.e. equivocation)
      setTimeout(() => this.enqueue(() => (this.state.round === r && this.state.attempt === a ? this.publishCryptogram(a, bytesU32(mine)) : undefined)), 1500);
    }
    if (this.own && key) {
      const a = this.state.attempt;
      setTimeout(() => this.enqueue(() => (this.state.round === r && this.state.attempt === a ? this.announceKey(a) : undefined)), 1200);
    }
  }

  private persistTimer: NodeJS.Timeout | null = null;
  private async persist(): Promise<void> {
    await this.opts.store.put('state', this.state);
    this.opts.onChange?.();
  }

  private enqueue(fn: () => Promise<void> | void): void {
    if (this.stopped) return;
    this.queue = this.queue.then(fn).catch((err) => this.log.error({ err: (err as Error).stack ?? String(err) }, 'round step failed'));
  }

  private record(kind: string, detail: string): void {
    this.events.push({ at: Date.now(), kind, detail });
    if (this.events.length > 200) this.events.shift();
    this.log.warn({ event: kind }, detail);
    this.opts.onChange?.();
  }

  private setPhase(phase: RoundPhase): void {
    if (this.state.phase === phase) return;
    const now = Date.now();
    const prev = this.state.phase;
    this.state.phaseSeconds[prev] = (this.state.phaseSeconds[prev] ?? 0) + (now - this.state.phaseStartedAt) / 1000;
    this.state.phase = phase;
    this.state.phaseStartedAt = now;
    this.log.info({ round: this.state.round, attempt: this.state.attempt, phase }, 'phase');
    crashPoint(this.state.round, phase);
  }

  // ---------------------------------------------------------------- sending

  /** Envelopes of the current attempt re-sent every few seconds until the round commits. */
  private resend = new Map<string, Uint8Array>();

  private async send(message: Message, attempt = this.state.attempt, round = this.state.round, resendTag?: string): Promise<void> {
    const bytes = encodeEnvelope({ consortium: this.opts.manifest.consortium, round, attempt, sender: this.self }, message, this.opts.identity.signingSecret);
    this.state.bytesOut += bytes.length;
    if (resendTag) this.resend.set(resendTag, bytes);
    await this.opts.network.publish(bytes);
  }

  /** The last aggregate record this node published, re-sent while a live member is behind. */
  private lastRecord: { version: number; bytes: Uint8Array } | null = null;

  private async resendAll(): Promise<void> {
    if (this.stopped) return;
    if (this.lastRecord && this.lastRecord.version === this.global.version) {
      const behind = this.members.some((m) => m !== this.self && this.live(m) && (this.heartbeats.get(m)?.version ?? 0) < this.global.version);
      if (behind) await this.opts.network.publish(this.lastRecord.bytes);
    }
    if (this.completed || (this.behindSince !== null && this.behindConfirmed())) return; // this round is over elsewhere
    for (const [tag, bytes] of this.resend) {
      if (!tag.startsWith(`${this.state.round}/${this.state.attempt}/`)) {
        this.resend.delete(tag);
        continue;
      }
      this.state.bytesOut += bytes.length;
      await this.opts.network.publish(bytes);
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    this.heartbeats.set(this.self, { at: Date.now(), version: this.global.version, hash: this.global.hash, round: this.state.round, attempt: this.state.attempt, phase: this.state.phase });
    try {
      await this.send({ kind: MessageKind.Heartbeat, body: { sentAt: Date.now(), modelVersion: this.global.version, modelHash: fromHex(this.global.hash), phase: this.state.phase } });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  private async announceKey(attempt: number): Promise<void> {
    const r = this.state.round;
    let key = await this.opts.store.get<{ secret: string; public: string; samples: number }>(`keys/${r}/${attempt}`);
    if (!key) {
      const kp = generateEphemeralKeyPair();
      key = { secret: toHex(kp.secretKey), public: toHex(kp.publicKey), samples: this.opts.trainer.trainSamples };
      await this.opts.store.put(`keys/${r}/${attempt}`, key); // persisted before it is announced
    }
    this.own = { secret: fromHex(key.secret), public: fromHex(key.public) };
    this.keysFor(attempt).set(this.self, { publicKey: this.own.public, samples: key.samples });
    await this.send({ kind: MessageKind.KeyAnnouncement, body: { publicKey: this.own.public, samples: key.samples } }, attempt, r, `${r}/${attempt}/key`);
  }

  private async publishCryptogram(attempt: number, c: Uint32Array): Promise<void> {
    const r = this.state.round;
    for (const chunk of chunkCryptogram(c, this.attemptHash(attempt))) await this.send({ kind: MessageKind.CryptogramChunk, body: chunk }, attempt, r, `${r}/${attempt}/chunk/${toHex(chunk.cryptogramHash).slice(0, 8)}/${chunk.index}`);
    this.ownPublished.add(attempt);
  }

  // ---------------------------------------------------------------- validation (synchronous)

  private publicKeyOf = (sender: string): Uint8Array | undefined => (this.members.includes(sender) ? publicKeyFromPeerId(sender) : undefined);
  private verified = new VerifiedEnvelopes();
  /** Decode and verify a gossiped envelope (≤ MAX_ENVELOPE_BYTES), once per distinct byte string. */
  private decodeGossip(bytes: Uint8Array): Envelope {
    return this.verified.decode(bytes, (b) => decodeEnvelope(b, { consortium: this.opts.manifest.consortium, publicKeyOf: this.publicKeyOf, maxBytes: MAX_ENVELOPE_BYTES }));
  }

  validate(bytes: Uint8Array, from: string): Verdict {
    let env: Envelope;
    try {
      env = this.decodeGossip(bytes);
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.code : 'MALFORMED';
      this.log.warn({ from, reason, detail: (err as Error).message.slice(0, 200) }, 'message rejected');
      return 'reject';
    }
    const reason = this.stateCheck(env, this.members.length);
    if (reason) {
      // An honest member one round behind still re-sends its last round's messages, an aggregator
      // its AttemptStart included: drop those without penalising the sender (a rejection lowers its
      // gossip score, and an aggregator stuck re-sending was graylisted by everyone, heard nothing,
      // and never caught up); anything older or otherwise wrong is rejected.
      const lagging = env.round === this.state.round - 1;
      this.log.warn({ from: env.sender, kind: MessageKind[env.kind], round: env.round, attempt: env.attempt, reason }, lagging ? 'message ignored (previous round)' : 'message rejected');
      return lagging ? 'ignore' : 'reject';
    }
    return 'accept';
  }

  /** Rules the pure decoder cannot apply: rounds, attempts, roles. Returns a reason, or null. */
  stateCheck(env: Envelope, candidateSlack = 1): string | null {
    if (env.sender === this.self) return 'own message echoed';
    const r = this.state.round;
    if (env.kind === MessageKind.Heartbeat && Math.abs(Date.now() - env.body.sentAt) > 300_000) return 'heartbeat more than 5 minutes off this clock (replayed?)';
    if (env.kind === MessageKind.Heartbeat || env.kind === MessageKind.ModelRequest || env.kind === MessageKind.ModelResponse) {
      if (env.round > r + 100000) return 'round out of range';
      return null;
    }
    if (env.round < r) return `stale round ${env.round} (current ${r})`;
    if (env.round > r + 1) return `future round ${env.round} (current ${r})`;
    // A record for an earlier attempt of this round is still checked: an aggregator that was paused
    // may finish attempt a-1 after the others moved on, and its verifiable result ends the round.
    if (env.round === r && env.attempt < this.state.attempt && !(env.kind === MessageKind.AggregateRecord && this.state.attempts[env.attempt])) return `stale attempt ${env.attempt} (current ${this.state.attempt})`;
    if (env.attempt >= this.opts.manifest.maxAttempts) return `attempt ${env.attempt} beyond maxAttempts`;
    if (env.round === r + 1) return null; // buffered until this node reaches that round
    if (env.kind === MessageKind.AttemptStart || env.kind === MessageKind.AggregateRecord) {
      const k = candidateIndex(this.members, r, env.sender, this.state.failover + candidateSlack);
      if (k === null) return `${env.sender.slice(-8)} is not an aggregator candidate of round ${r}`;
      if (env.kind === MessageKind.AttemptStart && env.body.aggregator !== env.sender) return 'attempt start names another aggregator';
    }
    if (env.kind === MessageKind.KeyAnnouncement) {
      const prev = this.keys.get(env.attempt)?.get(env.sender);
      if (prev && !equalBytes(prev.publicKey, env.body.publicKey)) return 'a second, different key for the same attempt';
    }
    if (env.kind === MessageKind.CryptogramChunk && env.body.totalWords !== this.weights.length) return `cryptogram of ${env.body.totalWords} words, model has ${this.weights.length}`;
    return null;
  }

  // ---------------------------------------------------------------- handling

  private async onEnvelope(bytes: Uint8Array): Promise<void> {
    let env: Envelope;
    try {
      env = this.decodeGossip(bytes);
    } catch {
      return;
    }
    this.state.bytesIn += bytes.length;
    await this.handle(env);
  }

  async handle(env: Envelope): Promise<void> {
    // The first AttemptStart of a round is taken from any candidate, not only up to f + 1: members
    // skip candidates they believe dead from their own liveness view, and a member that refused a
    // farther candidate's start would open its own attempt beside it (a split attempt that stalls
    // the round; seen after a restart in the SIGSTOP fault test).
    const firstStart = env.kind === MessageKind.AttemptStart && env.attempt === 0 && env.round === this.state.round && !this.state.attempts[0];
    // a start for an attempt this node already follows is only compared (split detection), never followed
    const knownStart = env.kind === MessageKind.AttemptStart && env.round === this.state.round && !!this.state.attempts[env.attempt];
    const why = this.stateCheck(env, firstStart || knownStart ? this.members.length : 1);
    if (why) {
      // the state may have moved since validation, or the sender is not (yet) a candidate here
      if (env.kind !== MessageKind.Heartbeat) this.log.info({ from: env.sender, kind: MessageKind[env.kind], reason: why }, 'message ignored');
      return;
    }
    if (env.kind === MessageKind.Heartbeat) return this.onHeartbeat(env);
    if (env.kind === MessageKind.ModelRequest) return this.onModelRequest(env);
    if (env.kind === MessageKind.ModelResponse) return this.onModelResponse(env);
    if (env.round === this.state.round + 1) {
      if (this.pending.length < MAX_PENDING) this.pending.push(env);
      return;
    }
    switch (env.kind) {
      case MessageKind.KeyAnnouncement:
        this.keysFor(env.attempt).set(env.sender, { publicKey: env.body.publicKey, samples: env.body.samples });
        break;
      case MessageKind.CryptogramChunk:
        await this.onChunk(env);
        break;
      case MessageKind.AttemptStart:
        await this.onAttemptStart(env);
        break;
      case MessageKind.AggregateRecord:
        await this.onAggregateRecord(env);
        break;
    }
    await this.tick();
  }

  private keysFor(attempt: number): Map<string, KeyInfo> {
    let m = this.keys.get(attempt);
    if (!m) this.keys.set(attempt, (m = new Map()));
    return m;
  }

  private onHeartbeat(env: Envelope & { kind: MessageKind.Heartbeat }): void {
    const hash = toHex(env.body.modelHash);
    this.heartbeats.set(env.sender, { at: Date.now(), version: env.body.modelVersion, hash, round: env.round, attempt: env.attempt, phase: env.body.phase });
    const claim = `${env.body.modelVersion}/${hash}`;
    if (!this.claims.has(claim) && this.claims.size > 1000) this.claims.clear();
    (this.claims.get(claim) ?? this.claims.set(claim, new Set()).get(claim)!).add(env.sender);
  }

  private async onChunk(env: Envelope & { kind: MessageKind.CryptogramChunk }): Promise<void> {
    const id = `${env.attempt}/${env.sender}`;
    if (this.state.equivocators.includes(id)) return;
    // A cryptogram is only usable in the attempt whose AttemptStart it was masked for: when two
    // aggregators opened the same (round, attempt) with different participant sets, a cryptogram
    // masked for the other set would not cancel in this sum and would decode to noise. Chunks that
    // arrive before this node accepted an AttemptStart are dropped; the sender re-sends them.
    if (!this.state.attempts[env.attempt]) return;
    if (!equalBytes(this.attemptHash(env.attempt), env.body.attemptHash)) {
      if (this.firstTime(`foreign/${id}`)) {
        this.log.info({ from: env.sender, round: this.state.round, attempt: env.attempt }, 'cryptogram masked for another attempt start ignored');
      }
      return;
    }
    const hash = toHex(env.body.cryptogramHash);
    const known = this.recvHash.get(id) ?? (this.assemblers.get(id) ? toHex(this.assemblers.get(id)!.hash) : undefined);
    if (known && known !== hash) {
      // Two different cryptograms from one member for one (round, attempt): drop both, record it.
      this.state.equivocators.push(id);
      this.received.delete(id);
      this.recvHash.delete(id);
      this.assemblers.delete(id);
      await this.opts.store.batch([{ type: 'del', key: `recv/${this.state.round}/${id}` }]);
      this.record('equivocation', `${memberName(this.opts.manifest, env.sender) ?? env.sender} published two different cryptograms for round ${this.state.round} attempt ${env.attempt}; both dropped`);
      await this.persist();
      return;
    }
    if (this.received.has(id)) return;
    let asm = this.assemblers.get(id);
    try {
      if (!asm) {
        asm = new CryptogramAssembler(env.body, this.weights.length);
        this.assemblers.set(id, asm);
      }
      const c = asm.add(env.body);
      if (c) {
        this.assemblers.delete(id);
        this.received.set(id, c);
        this.recvHash.set(id, hash);
        await this.opts.store.putBytes(`recv/${this.state.round}/${id}`, u32bytes(c));
        this.state.lastProgressAt = Date.now();
        this.opts.onChange?.();
      }
    } catch (err) {
      this.log.warn({ from: env.sender, reason: (err as Error).message }, 'chunk rejected');
    }
  }

  private async onAttemptStart(env: Envelope & { kind: MessageKind.AttemptStart }): Promise<void> {
    const a = env.attempt;
    const { participants } = env.body;
    const refuse = (why: string) => {
      this.record('refused-attempt', `refusing attempt ${a} of round ${this.state.round} from ${memberName(this.opts.manifest, env.sender)}: ${why}`);
      if (!this.state.refused.includes(`${a}/${env.sender}`)) this.state.refused.push(`${a}/${env.sender}`);
      return this.failover(`aggregator ${memberName(this.opts.manifest, env.sender)} misbehaved`);
    };
    const accepted = this.state.attempts[a];
    if (accepted) {
      // First valid one wins. Another set for the same (r, a) means two aggregators opened it from
      // different views (a partition): the two sides' cryptograms are never mixed (attempt binding)
      // but the round may stall; make that visible (PROTOCOL.md §5, split attempts).
      if (!equalBytes(this.attemptHash(a), attemptStartHash({ participants, baseModelHash: env.body.baseModelHash })) && this.firstTime(`split/${a}/${env.sender}`)) {
        this.record('split-attempt', `${memberName(this.opts.manifest, env.sender)} opened attempt ${a} of round ${this.state.round} with ${this.names(participants)}; this node follows ${memberName(this.opts.manifest, accepted.aggregator)}'s with ${this.names(accepted.participants)}`);
      }
      return;
    }
    if (this.state.refused.includes(`${a}/${env.sender}`)) return;
    if (participants.some((p) => !this.members.includes(p))) return refuse('non-member participant');
    if (participants.length < this.opts.manifest.minParticipants) return refuse(`fewer than ${this.opts.manifest.minParticipants} participants`);
    if (!equalBytes(env.body.baseModelHash, fromHex(this.global.hash))) return refuse('built on another global model');
    if (a > 0) {
      const prev = this.state.attempts[a - 1];
      if (!prev) {
        // not the aggregator's fault: this node missed attempt a-1 (paused, restarted); it takes the
        // round's model from its peers once they commit
        this.log.info({ from: env.sender, round: this.state.round, attempt: a }, `attempt start ignored: attempt ${a - 1} unknown here`);
        return;
      }
      if (participants.some((p) => !prev.participants.includes(p))) return refuse('adds participants');
      const leftOut = prev.participants.filter((p) => !participants.includes(p) && this.received.has(`${a - 1}/${p}`));
      if (leftOut.length) return refuse(`leaves out ${this.names(leftOut)} whose complete cryptogram this node holds`);
    }
    this.state.attempts[a] = { aggregator: env.sender, participants, openedAt: Date.now() };
    const k = candidateIndex(this.members, this.state.round, env.sender, this.state.failover + this.members.length)!;
    this.state.failover = Math.max(this.state.failover, k);
    if (a > this.state.attempt) {
      this.state.attempt = a;
      this.own = null;
      this.log.info({ round: this.state.round, attempt: a, participants: participants.length, reason: env.body.reason }, 're-mask: new attempt');
      if (participants.includes(this.self)) await this.announceKey(a);
    }
    this.state.lastProgressAt = Date.now();
    this.setPhase(participants.includes(this.self) ? 'masking' : 'collecting');
    await this.persist();
  }

  private async onAggregateRecord(env: Envelope & { kind: MessageKind.AggregateRecord }): Promise<void> {
    const a = env.attempt;
    const info = this.state.attempts[a];
    const body = env.body;
    // A rejected record is judged once: its aggregator re-sends it every few seconds, and each
    // copy used to cost one more failover, cycling the candidates around the ring (back to the
    // faulty one) faster than the honest one could finish (a fault test took 121 s instead of 24).
    const tag = `record/${a}/${env.sender}`;
    if (this.state.refused.includes(tag)) return;
    const reject = (why: string) => {
      this.record('rejected-aggregate', `aggregate record for round ${this.state.round} attempt ${a} from ${memberName(this.opts.manifest, env.sender)} rejected: ${why}`);
      this.state.refused.push(tag);
      // a bad record for an earlier attempt (late, or replayed) says nothing about this attempt's aggregator
      return a < this.state.attempt ? undefined : this.failover('aggregator published a wrong record');
    };
    if (!info) {
      // This node missed the attempt's start: it cannot check the sum, so it takes the model
      // from peers once they commit (model sync verifies the hash against this signed record).
      this.pendingRecordHash = toHex(body.newModelHash);
      return;
    }
    const equivocator = body.participants.find((p) => this.state.equivocators.includes(`${a}/${p}`));
    if (equivocator) return reject(`it includes ${memberName(this.opts.manifest, equivocator)}, who published two different cryptograms`);
    if (body.participants.length !== info.participants.length || body.participants.some((p) => !info.participants.includes(p))) return reject('participant set differs from the attempt');
    if (!equalBytes(body.baseModelHash, fromHex(this.global.hash))) return reject('wrong base model');
    const cs: Uint32Array[] = [];
    for (let i = 0; i < body.participants.length; i++) {
      const id = `${a}/${body.participants[i]}`;
      const c = this.received.get(id);
      if (!c) {
        this.pendingRecordHash = toHex(body.newModelHash);
        this.pendingRecord = env;
        return; // not all cryptograms here yet; the record is checked again at the next tick
      }
      if (!equalBytes(cryptogramHash(c), body.cryptogramHashes[i]!)) return reject(`hash of ${memberName(this.opts.manifest, body.participants[i]!)}'s cryptogram differs`);
      cs.push(c);
    }
    const keys = this.keysFor(a);
    if (!info.participants.every((p) => keys.has(p))) {
      // without every participant's key this node cannot decode; take the model by sync
      this.pendingRecordHash = toHex(body.newModelHash);
      this.pendingRecord = env;
      return;
    }
    const sum = sumCryptograms(cs);
    if (!equalBytes(cryptogramHash(sum), body.sumHash)) return reject('sum hash differs');
    const next = this.applyAggregate(sum, a);
    if (sha256hex(f32bytes(next)) !== toHex(body.newModelHash)) return reject('new model hash differs');
    await this.commit(next, a, env.sender, info.participants);
  }
  private pendingRecordHash: string | null = null;
  private pendingRecord: (Envelope & { kind: MessageKind.AggregateRecord }) | null = null;

  /** What this node's cryptograms for attempt a are bound to: its participants and the base model. */
  private attemptHash(a: number): Uint8Array {
    return attemptStartHash({ participants: this.state.attempts[a]!.participants, baseModelHash: fromHex(this.global.hash) });
  }

  private attemptParams(a: number): AttemptParams {
    const info = this.state.attempts[a]!;
    const keys = this.keysFor(a);
    return {
      consortium: this.opts.manifest.consortium,
      round: this.state.round,
      attempt: a,
      clip: this.opts.manifest.plan.clip,
      participants: info.participants.map((id) => ({ id, publicKey: keys.get(id)!.publicKey, samples: keys.get(id)!.samples })),
    };
  }

  private applyAggregate(sum: Uint32Array, a: number): Float32Array {
    const delta = decodeAggregate(sum, this.attemptParams(a));
    const next = new Float32Array(this.weights.length);
    for (let i = 0; i < next.length; i++) next[i] = this.weights[i]! + delta[i]!;
    return next;
  }

  private async commit(next: Float32Array, a: number, aggregator: string, participants: string[]): Promise<void> {
    const r = this.state.round;
    this.setPhase('verifying');
    if (this.training) await this.training.catch(() => undefined); // the trainer is shared
    const hash = sha256hex(f32bytes(next));
    this.opts.trainer.setWeights(next);
    const ev = await this.opts.trainer.evaluate('test');
    const val = await this.opts.trainer.evaluate('val');
    this.state.phaseSeconds.verifying = (this.state.phaseSeconds.verifying ?? 0) + (Date.now() - this.state.phaseStartedAt) / 1000;
    const summary: RoundSummary = {
      round: r,
      attempt: a,
      participants,
      aggregator,
      phaseSeconds: this.state.phaseSeconds,
      bytesIn: this.state.bytesIn,
      bytesOut: this.state.bytesOut,
      modelHash: hash,
      testAuc: ev.auc,
      testAcc: ev.acc,
      testLoss: ev.loss,
      valAuc: val.auc,
      completedAt: Date.now(),
    };
    await this.finishRound(r, next, hash, summary);
    this.log.info({ round: r, attempt: a, participants: participants.length, modelHash: hash.slice(0, 16), testAuc: +ev.auc.toFixed(4), dataset: this.opts.trainer.dataset }, 'round complete');
  }

  private async finishRound(r: number, next: Float32Array, hash: string, summary: RoundSummary | null): Promise<void> {
    const global = { version: r, hash };
    const ops: Parameters<Store['batch']>[0] = [
      { type: 'putBytes', key: modelKey(r), value: f32bytes(next) },
      { type: 'put', key: 'global', value: global },
    ];
    if (summary) ops.push({ type: 'put', key: `summary/${String(r).padStart(8, '0')}`, value: summary });
    await this.opts.store.batch(ops);
    this.global = global;
    this.weights = next;
    if (summary) this.summaries = [...this.summaries.filter((x) => x.round !== r), summary];
    await this.opts.store.delPrefix(`recv/${r}/`);
    this.keys.clear();
    this.assemblers.clear();
    this.received.clear();
    this.recvHash.clear();
    this.noted.clear();
    this.own = null;
    this.ownPublished.clear();
    this.resend.clear();
    this.update = null;
    this.training = null;
    this.pendingRecordHash = null;
    this.pendingRecord = null;
    this.state = this.freshState(r + 1);
    await this.persist();
    const pend = this.pending;
    this.pending = [];
    for (const env of pend) await this.handle(env);
  }

  // ---------------------------------------------------------------- model sync

  private async onModelRequest(env: Envelope & { kind: MessageKind.ModelRequest }): Promise<void> {
    const v = env.body.version;
    if (v !== this.global.version || v === 0) return;
    const last = this.lastModelResponse.get(v) ?? 0;
    if (Date.now() - last < 2000) return;
    this.lastModelResponse.set(v, Date.now());
    await this.send({ kind: MessageKind.ModelResponse, body: { version: v, modelHash: fromHex(this.global.hash), weights: f32bytes(this.weights) } });
  }

  private async onModelResponse(env: Envelope & { kind: MessageKind.ModelResponse }): Promise<void> {
    const v = env.body.version;
    const hash = toHex(env.body.modelHash);
    if (v < this.global.version || (v === this.global.version && (hash === this.global.hash || !this.outvoted()))) return;
    if (sha256hex(env.body.weights) !== hash) return this.record('bad-model', `model from ${memberName(this.opts.manifest, env.sender)} does not match its hash`);
    if (env.body.weights.length !== this.weights.length * 4) return this.record('bad-model', 'model of the wrong size');
    // Accept only a model vouched for by another member too: a signed aggregate record this
    // node saw, or a heartbeat of a member other than the sender claiming (version, hash).
    const vouchers = [...(this.claims.get(`${v}/${hash}`) ?? [])].filter((s) => s !== env.sender);
    if (this.pendingRecordHash !== hash && vouchers.length === 0) return;
    if (v === this.global.version) this.record('fork-healed', `this node's model v${v} differs from the one most live members hold; adopting theirs`);
    const next = bytesF32(env.body.weights);
    if (this.training) await this.training.catch(() => undefined); // the trainer is shared
    this.opts.trainer.setWeights(next);
    const ev = await this.opts.trainer.evaluate('test');
    const val = await this.opts.trainer.evaluate('val');
    this.log.info({ version: v, hash: hash.slice(0, 16), from: memberName(this.opts.manifest, env.sender) }, 'caught up: global model fetched from a peer and verified');
    await this.finishRound(v, next, hash, {
      round: v, attempt: -1, participants: [], aggregator: env.sender, phaseSeconds: {}, bytesIn: this.state.bytesIn, bytesOut: this.state.bytesOut, modelHash: hash, testAuc: ev.auc, testAcc: ev.acc, testLoss: ev.loss, valAuc: val.auc, completedAt: Date.now(),
    });
  }

  /** True when most other live members claim another model for this node's current version. */
  private outvoted(): boolean {
    const now = Date.now();
    const others = [...this.heartbeats].filter(([p, hb]) => p !== this.self && now - hb.at < this.t.livenessMs);
    const same = others.filter(([, hb]) => hb.version === this.global.version);
    const differ = same.filter(([, hb]) => hb.hash !== this.global.hash);
    return differ.length > 0 && differ.length > others.length / 2 && new Set(differ.map(([, hb]) => hb.hash)).size === 1;
  }

  /** The newest model version a live member reports in its heartbeat. */
  private newestPeerVersion(): number {
    const now = Date.now();
    let best = this.global.version;
    for (const [peer, hb] of this.heartbeats) if (peer !== this.self && now - hb.at < this.t.livenessMs && hb.version > best) best = hb.version;
    return best;
  }
  private behindSince: number | null = null;

  /**
   * Behind for sure: this node saw a signed record it could not apply, or more than half of the
   * other live members (at least two) report a newer model. One member's claim alone is not
   * enough: a faulty member must not be able to stall the honest ones.
   */
  private behindConfirmed(): boolean {
    if (this.pendingRecordHash !== null) return true;
    const now = Date.now();
    const others = [...this.heartbeats].filter(([p, hb]) => p !== this.self && now - hb.at < this.t.livenessMs);
    const ahead = others.filter(([, hb]) => hb.version > this.global.version).length;
    return ahead >= 2 && ahead > others.length / 2;
  }

  private async maybeRequestModel(): Promise<void> {
    const now = Date.now();
    if (this.outvoted() && now - this.lastModelRequest > 2000 && now - this.state.lastProgressAt > 2000) {
      this.lastModelRequest = now;
      await this.send({ kind: MessageKind.ModelRequest, body: { version: this.global.version } });
      return;
    }
    const best = this.newestPeerVersion();
    if (best <= this.global.version) {
      this.behindSince = null;
      return;
    }
    this.behindSince ??= now;
    // Behind: a live member already holds a newer model. Give an in-flight commit a moment, then ask.
    const stuck = best > this.global.version + 1 || this.pendingRecordHash !== null || now - this.behindSince > 1500;
    if (!stuck || now - this.lastModelRequest < 2000) return;
    this.lastModelRequest = now;
    await this.send({ kind: MessageKind.ModelRequest, body: { version: best } });
  }

  // ---------------------------------------------------------------- the tick: deadlines and progress

  private live(peer: string): boolean {
    if (peer === this.self) return true;
    const hb = this.heartbeats.get(peer);
    return !!hb && Date.now() - hb.at < this.t.livenessMs;
  }

  /**
   * Silent for twice the liveness window while other members are heard from, and this node has
   * been up long enough to know. Conservative on purpose: skipping a live aggregator makes two
   * aggregators, and their models must then be reconciled (fork healing).
   */
  private knownDead(peer: string): boolean {
    const now = Date.now();
    if (now - this.wokeAt < 2 * this.t.livenessMs) return false; // (wokeAt: start-up or the last pause)
    const hb = this.heartbeats.get(peer);
    if (hb && now - hb.at < 2 * this.t.livenessMs) return false;
    return this.members.some((m) => m !== this.self && m !== peer && this.live(m));
  }

  private get aggregator(): string {
    return aggregatorOrder(this.members, this.state.round)[this.state.failover % this.members.length]!;
  }

  private async failover(why: string): Promise<void> {
    this.state.failover++;
    this.state.lastProgressAt = Date.now();
    this.log.warn({ round: this.state.round, failover: this.state.failover, next: memberName(this.opts.manifest, this.aggregator), why }, 'aggregator failover');
    await this.persist();
  }

  // ---------------------------------------------------------------- pauses

  /** When the event loop last ran (watchdog and tick); a long gap means this process was paused. */
  private lastAliveAt = Date.now();
  /** Set when a pause or a mid-round restart is noticed; cleared once the network was heard again. */
  private resumedAt: number | null = null;
  /** When this node last woke from a pause or started: liveness judged from older heartbeats is stale. */
  private wokeAt = Date.now();

  /**
   * A process that was stopped (SIGSTOP, a suspended VM, a stalled event loop) for longer than the
   * liveness window wakes up with a stale view: heartbeats, deadlines and AttemptStarts the others
   * acted on are still in its socket buffers. Its first tick used to open its own attempt as the
   * aggregator it still believed to be, beside the one the others had opened (a split attempt that
   * stalled the SIGSTOP fault test).
   */
  private notePause(now = Date.now()): void {
    const gap = now - this.lastAliveAt;
    this.lastAliveAt = now;
    // (at least 2 s: the watchdog runs every 250 ms, and a busy but running loop is not a pause)
    if (gap > Math.max(this.t.livenessMs, 2000)) {
      this.resumedAt = now;
      this.wokeAt = now;
      this.record('paused', `this node did not run for ${(gap / 1000).toFixed(1)} s; no aggregator decision until it has heard the other members again`);
    }
  }

  /**
   * True while this node's view is stale after a pause or restart: it opens no attempt, skips no
   * candidate and fails over no aggregator until it has heard another member's heartbeat and the
   * liveness window has passed since it resumed (by then re-sent AttemptStarts have arrived too).
   * Hearing nobody, it waits: alone it could not complete a round anyway, and opening an attempt
   * from its old view is what splits one.
   */
  private settling(now: number): boolean {
    if (this.resumedAt === null) return false;
    const waited = now - this.resumedAt;
    const heard = [...this.heartbeats].some(([p, hb]) => p !== this.self && hb.at > this.resumedAt!);
    if (!heard || waited < this.t.livenessMs) return true;
    this.resumedAt = null;
    this.log.info({ round: this.state.round, attempt: this.state.attempt, waitedMs: waited }, 'view of the network refreshed after a pause');
    return false;
  }

  async tick(): Promise<void> {
    if (this.stopped) return;
    this.notePause();
    await this.maybeRequestModel();
    if (this.completed) {
      this.setPhase('done');
      return;
    }
    // Live members already completed this round: never open or commit it here (that would fork
    // the model); the model comes by sync instead.
    if (this.behindSince !== null && Date.now() - this.behindSince > 1500 && this.behindConfirmed()) return;
    const s = this.state;
    const a = s.attempt;
    const now = Date.now();
    const info = s.attempts[a];
    // Keys and training for attempt 0 start as soon as the round does.
    if (a === 0 && !this.own && !info) await this.announceKey(0);
    if (!this.update && !this.training) this.training = this.train();
    // Back from a pause: take messages in (the others' AttemptStart first of all), decide nothing.
    const settling = this.settling(now);
    // Skip candidates that are not live.
    let guard = 0;
    while (!settling && this.aggregator !== this.self && this.knownDead(this.aggregator) && guard++ < this.members.length) {
      s.failover++;
      this.log.info({ round: s.round, next: memberName(this.opts.manifest, this.aggregator) }, 'aggregator candidate not live; next');
    }
    const iAmAggregator = this.aggregator === this.self;

    if (!info) {
      this.setPhase(this.update ? 'keys' : 'training');
      if (settling) return;
      if (iAmAggregator && a === 0) {
        const keys = this.keysFor(0);
        // Wait for every member's key, or for the keys deadline with at least the minimum.
        const haveAll = this.members.every((m) => keys.has(m));
        if ((haveAll || now - s.roundStartedAt > this.t.keysMs) && keys.size >= this.opts.manifest.minParticipants) {
          await this.openAttempt(0, [...keys.keys()], 'round start');
        }
      }
      if (now - s.lastProgressAt > this.t.keysMs + this.t.aggregateMs) await this.failover('no attempt opened in time');
      return;
    }

    const mine = info.participants.includes(this.self);
    const keys = this.keysFor(a);
    if (mine && this.update && !this.received.has(`${a}/${this.self}`) && info.participants.every((p) => keys.has(p))) {
      await this.buildAndPublish(a);
    }
    const missing = info.participants.filter((p) => !this.received.has(`${a}/${p}`));
    if (missing.length === 0 && this.pendingRecord && this.pendingRecord.attempt === a) {
      const rec = this.pendingRecord;
      this.pendingRecord = null;
      await this.onAggregateRecord(rec);
      if (this.state.round !== s.round) return;
    }
    this.setPhase(missing.length ? (mine && !this.received.has(`${a}/${this.self}`) ? (this.update ? 'masking' : 'training') : 'collecting') : 'aggregating');
    const collectDeadline = info.openedAt + (a === 0 ? this.t.trainingMs : this.t.keysMs) + this.t.collectMs;
    if (settling) return;
    if (iAmAggregator) {
      if (missing.length === 0) {
        // Let the last cryptogram settle for a moment: a member that published two different
        // cryptograms is then caught here (both dropped, re-mask) rather than by the verifiers.
        if (now - s.lastProgressAt < RECORD_SETTLE_MS) return;
        await this.publishRecord(a, info.participants);
        s.lastProgressAt = now;
      } else if (now > collectDeadline) {
        let survivors = info.participants.filter((p) => this.received.has(`${a}/${p}`));
        if (this.opts.fault === 'false-dropout') survivors = survivors.slice(1);
        if (a + 1 < this.opts.manifest.maxAttempts && survivors.length >= this.opts.manifest.minParticipants) {
          await this.openAttempt(a + 1, survivors, `missing cryptograms from ${this.names(missing)}`);
        }
      }
    }
    if (missing.length && now > collectDeadline + this.t.aggregateMs) this.noteStall(a, info.participants, missing);
    // Failover when the aggregator does not finish in time.
    const expected = missing.length === 0 ? Math.max(s.lastProgressAt, info.openedAt) + this.t.aggregateMs : collectDeadline + this.t.aggregateMs;
    if (now > expected && now - s.lastProgressAt > this.t.aggregateMs) {
      await this.failover(missing.length === 0 ? 'no aggregate record in time' : 'no re-mask in time');
      if (this.aggregator === this.self && missing.length === 0) await this.publishRecord(a, info.participants);
    }
  }

  /**
   * Past the deadline, with too few cryptograms for a re-mask (or no attempts left), the round
   * cannot go on until a missing site publishes: say so once, in words an operator can act on,
   * instead of only a failover line every `aggregateMs`.
   */
  private noteStall(a: number, participants: string[], missing: string[]): void {
    const have = participants.length - missing.length;
    const { minParticipants, maxAttempts } = this.opts.manifest;
    const why = have < minParticipants ? `a re-mask needs at least ${minParticipants}` : a + 1 >= maxAttempts ? `no attempt left (maxAttempts ${maxAttempts})` : null;
    if (!why || !this.firstTime(`stall/${a}`)) return;
    this.record('attempt-stalled', `round ${this.state.round} attempt ${a} is stalled: this node holds cryptograms from ${have} of ${participants.length} participants and ${why}; it goes on when ${this.names(missing)} publish${missing.length === 1 ? 'es' : ''} theirs (check that they are running and connected)`);
  }

  /** True the first time a tag is seen in this round. */
  private firstTime(tag: string): boolean {
    if (this.noted.has(tag)) return false;
    this.noted.add(tag);
    return true;
  }

  /** Member names (or ids) for a message. */
  private names(ids: string[]): string {
    return ids.map((p) => memberName(this.opts.manifest, p) ?? p).join(', ');
  }

  private published = new Set<string>();
  private async openAttempt(a: number, participants: string[], reason: string): Promise<void> {
    const tag = `start/${this.state.round}/${a}/${this.state.failover}`;
    if (this.published.has(tag)) return;
    this.published.add(tag);
    if (this.state.attempts[a] && a === this.state.attempt) return;
    this.log.info({ round: this.state.round, attempt: a, participants: participants.length, reason }, 'opening attempt as aggregator');
    const body = { aggregator: this.self, participants, baseModelHash: fromHex(this.global.hash), reason };
    await this.send({ kind: MessageKind.AttemptStart, body }, a, this.state.round, `${this.state.round}/${a}/start`);
    await this.onAttemptStart({ version: 1, consortium: this.opts.manifest.consortium, round: this.state.round, attempt: a, sender: this.self, kind: MessageKind.AttemptStart, body });
  }

  private async publishRecord(a: number, participants: string[]): Promise<void> {
    const tag = `record/${this.state.round}/${a}/${this.state.failover}`;
    if (this.published.has(tag)) return;
    this.published.add(tag);
    this.setPhase('aggregating');
    const cs = participants.map((p) => this.received.get(`${a}/${p}`)!);
    const sum = sumCryptograms(cs);
    const next = this.applyAggregate(sum, a);
    let newHash = fromHex(sha256hex(f32bytes(next)));
    if (this.opts.fault === 'bad-aggregate') newHash = new Uint8Array(32).fill(7);
    const body = { participants, cryptogramHashes: cs.map((c) => cryptogramHash(c)), sumHash: cryptogramHash(sum), baseModelHash: fromHex(this.global.hash), newModelHash: newHash };
    await this.send({ kind: MessageKind.AggregateRecord, body }, a, this.state.round, `${this.state.round}/${a}/record`);
    crashPoint(this.state.round, 'record-sent');
    if (this.opts.fault === 'bad-aggregate') return;
    const recordBytes = this.resend.get(`${this.state.round}/${a}/record`)!;
    await this.commit(next, a, this.self, participants);
    this.lastRecord = { version: this.global.version, bytes: recordBytes };
  }

  private async train(): Promise<void> {
    const r = this.state.round;
    const { trainer, store } = this.opts;
    try {
      let delta: Float32Array;
      let samples = trainer.trainSamples;
      if (this.externalWeights) {
        delta = new Float32Array(this.weights.length);
        for (let i = 0; i < delta.length; i++) delta[i] = this.externalWeights[i]! - this.weights[i]!;
        this.externalWeights = null;
        await store.batch([{ type: 'del', key: 'external-weights' }]);
        this.log.info({ round: r }, 'using uploaded weights as this round\'s contribution');
      } else {
        const delay = process.env.NODE_ENV === 'test' ? Number(process.env.FLNODE_TEST_TRAIN_DELAY_MS ?? 0) : 0;
        if (delay > 0) await new Promise((res) => setTimeout(res, delay)); // test hook: a slow site
        trainer.setWeights(this.weights);
        const seed = (this.opts.manifest.model.seed * 7919 + r * 104729 + this.members.indexOf(this.self) * 13) >>> 0;
        const res = await trainer.trainLocal({ seed });
        delta = res.delta;
        samples = res.samples;
        this.log.info({ round: r, seconds: +res.seconds.toFixed(2), loss: +res.loss.toFixed(4), samples }, 'local training done');
      }
      if (this.state.round !== r) return;
      await store.batch([
        { type: 'putBytes', key: `update/${r}`, value: f32bytes(delta) },
        { type: 'put', key: `updatemeta/${r}`, value: { samples } },
      ]);
      this.update = { delta, samples };
      this.enqueue(() => this.tick());
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'local training failed');
      this.training = null;
    }
  }

  private async buildAndPublish(a: number): Promise<void> {
    if (!this.own || !this.update) return;
    const r = this.state.round;
    const existing = await this.opts.store.getBytes(`crypt/${r}/${a}`);
    let c: Uint32Array;
    if (existing) c = bytesU32(existing);
    else {
      c = buildCryptogram(this.attemptParams(a), { id: this.self, secretKey: this.own.secret }, this.update.delta);
      await this.opts.store.putBytes(`crypt/${r}/${a}`, u32bytes(c)); // persisted before publishing
      crashPoint(r, 'cryptogram-persisted');
    }
    this.received.set(`${a}/${this.self}`, c);
    this.recvHash.set(`${a}/${this.self}`, toHex(cryptogramHash(c)));
    await this.publishCryptogram(a, c);
    crashPoint(r, 'cryptogram-published');
    if (this.opts.fault === 'equivocate') {
      const other = c.slice();
      other[0] = (other[0]! + 1) >>> 0;
      await this.publishCryptogram(a, other);
    }
    this.state.lastProgressAt = Date.now();
    await this.persist();
  }

  // ---------------------------------------------------------------- views

  heartbeatOf(peer: string): { at: number; version: number } | undefined {
    return this.heartbeats.get(peer);
  }

  chunkProgress(peer: string): { received: number; total: number | null } {
    const id = `${this.state.attempt}/${peer}`;
    if (this.received.has(id)) {
      const n = Math.ceil((this.weights.length * 4) / (1 << 20));
      return { received: n, total: n };
    }
    const asm = this.assemblers.get(id);
    return asm ? { received: asm.progress.received, total: asm.progress.count } : { received: 0, total: null };
  }

  deadline(): number | null {
    const info = this.state.attempts[this.state.attempt];
    if (!info) return this.state.roundStartedAt + this.t.keysMs;
    return info.openedAt + (this.state.attempt === 0 ? this.t.trainingMs : this.t.keysMs) + this.t.collectMs;
  }

  async submitWeights(flat: Float32Array): Promise<number> {
    if (flat.length !== this.weights.length) throw new Error(`expected ${this.weights.length} weights, got ${flat.length}`);
    this.externalWeights = flat;
    await this.opts.store.putBytes('external-weights', f32bytes(flat));
    return this.update ? this.state.round + 1 : this.state.round;
  }

  async modelAt(version: number): Promise<Float32Array | undefined> {
    const b = await this.opts.store.getBytes(modelKey(version));
    return b ? bytesF32(b) : undefined;
  }
}

export const modelKey = (v: number): string => `model/${String(v).padStart(8, '0')}`;

/**
 * Fault-suite hook (NODE_ENV=test only): FLNODE_TEST_CRASH_AT="<round>:<point>[,...]" makes the
 * process SIGKILL itself on reaching that point (a phase name, `cryptogram-persisted`,
 * `cryptogram-published` or `record-sent`), so that a crash of each role in each phase is
 * reproducible rather than a matter of timing.
 */
function crashPoint(round: number, point: string): void {
  if (process.env.NODE_ENV !== 'test' || !(process.env.FLNODE_TEST_CRASH_AT ?? '').split(',').includes(`${round}:${point}`)) return;
  process.stderr.write(`test hook: SIGKILL at round ${round} ${point}\n`);
  process.kill(process.pid, 'SIGKILL');
}
