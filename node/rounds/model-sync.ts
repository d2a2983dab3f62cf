// Catching up (node/rounds/README.md rule 9): when to ask for a newer or the majority's model,
// whether to answer a request, and whether a fetched model may be adopted. Decisions only.
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, MessageKind, modelBytes, toHex, type Envelope, type Message } from '../../protocol/index.ts';
import type { Clock } from '../runtime/clock.ts';
import type { EventKind } from './events.ts';
import type { Liveness } from './liveness.ts';
import type { GlobalModel } from './state.ts';

/** At most one request (and one answer per version) this often. */
const REQUEST_EVERY_MS = 2000;
/** How long a commit may be in flight before a member behind by one version asks. */
const BEHIND_GRACE_MS = 1500;

export type ResponseDecision = { kind: 'ignore' } | { kind: 'bad'; why: string } | { kind: 'adopt'; fork: boolean; weights: Float32Array };

/** What model sync uses of the round context (context.ts implements it). */
export interface SyncHost {
  readonly global: GlobalModel;
  readonly weights: Float32Array;
  readonly state: { readonly lastProgressAt: number };
  readonly clock: Clock;
  send(message: Message): Promise<unknown>;
  record(kind: EventKind, detail: string): void;
  names(ids: readonly string[]): string;
}

export class ModelSync {
  /** newModelHash of a signed AggregateRecord this node saw but could not check (missed start, missing cryptograms or keys). */
  pendingRecordHash: string | null = null;
  private lastRequest = 0;
  private readonly lastResponse = new Map<number, number>();
  private behindSince: number | null = null;

  constructor(private readonly liveness: Liveness) {}

  /** A new round: the record seen for the last one is settled. */
  newRound(): void {
    this.pendingRecordHash = null;
  }

  /**
   * Behind for sure: this node saw a signed record it could not apply, or more than half of the
   * other live members (at least two) report a newer model.
   */
  behindConfirmed(global: GlobalModel, now: number): boolean {
    return this.pendingRecordHash !== null || this.liveness.majorityAhead(global.version, now);
  }

  /** Behind a live member, and confirmed: this round is over elsewhere (nothing of it is re-sent). */
  behind(global: GlobalModel, now: number): boolean {
    return this.behindSince !== null && this.behindConfirmed(global, now);
  }

  /** Behind for a moment, and confirmed: never open or commit this round here (that would fork the model). */
  roundOverElsewhere(global: GlobalModel, now: number): boolean {
    return this.behindSince !== null && now - this.behindSince > BEHIND_GRACE_MS && this.behindConfirmed(global, now);
  }

  /** The model version to ask the peers for now, or null. */
  versionToRequest(global: GlobalModel, lastProgressAt: number, now: number): number | null {
    if (this.liveness.outvoted(global.version, global.hash, now) && now - this.lastRequest > REQUEST_EVERY_MS && now - lastProgressAt > REQUEST_EVERY_MS) {
      this.lastRequest = now;
      return global.version;
    }
    const best = this.liveness.newestVersion(global.version, now);
    if (best <= global.version) {
      this.behindSince = null;
      return null;
    }
    this.behindSince ??= now;
    // Behind: a live member already holds a newer model. Give an in-flight commit a moment, then ask.
    const stuck = best > global.version + 1 || this.pendingRecordHash !== null || now - this.behindSince > BEHIND_GRACE_MS;
    if (!stuck || now - this.lastRequest < REQUEST_EVERY_MS) return null;
    this.lastRequest = now;
    return best;
  }

  /** Answer a request for `version` (only the current global model, never v0, once per interval)? */
  shouldAnswer(version: number, global: GlobalModel, now: number): boolean {
    if (version !== global.version || version === 0) return false;
    if (now - (this.lastResponse.get(version) ?? 0) < REQUEST_EVERY_MS) return false;
    this.lastResponse.set(version, now);
    return true;
  }

  /**
   * A fetched model. Taken only when newer than this node's (or the majority's for its own version),
   * matching its hash and size, and vouched for by another member too: a signed aggregate record
   * this node saw, or a heartbeat of a member other than the sender claiming (version, hash).
   */
  judgeResponse(sender: string, version: number, hash: string, bytes: Uint8Array, global: GlobalModel, modelWords: number, now: number): ResponseDecision {
    if (version < global.version || (version === global.version && (hash === global.hash || !this.liveness.outvoted(global.version, global.hash, now)))) return { kind: 'ignore' };
    if (toHex(sha256(bytes)) !== hash) return { kind: 'bad', why: 'does not match its hash' };
    if (bytes.length !== modelWords * 4) return { kind: 'bad', why: 'model of the wrong size' };
    if (this.pendingRecordHash !== hash && this.liveness.vouchers(version, hash, sender).length === 0) return { kind: 'ignore' };
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const weights = new Float32Array(modelWords);
    for (let i = 0; i < modelWords; i++) weights[i] = dv.getFloat32(4 * i, true);
    return { kind: 'adopt', fork: version === global.version, weights };
  }

  /** The tick's step: asks the peers for a newer (or the majority's) model when due. */
  async request(ctx: SyncHost): Promise<void> {
    const v = this.versionToRequest(ctx.global, ctx.state.lastProgressAt, ctx.clock.now());
    if (v !== null) await ctx.send({ kind: MessageKind.ModelRequest, body: { version: v } });
  }

  /** A ModelRequest: answered with the current global model. */
  async answer(ctx: SyncHost, env: Envelope & { kind: MessageKind.ModelRequest }): Promise<void> {
    const v = env.body.version;
    if (!this.shouldAnswer(v, ctx.global, ctx.clock.now())) return;
    await ctx.send({ kind: MessageKind.ModelResponse, body: { version: v, modelHash: fromHex(ctx.global.hash), weights: modelBytes(ctx.weights) } });
  }

  /** A ModelResponse: adopted (`adopt`) when judgeResponse allows it; a bad one is recorded. */
  async onResponse(ctx: SyncHost, env: Envelope & { kind: MessageKind.ModelResponse }, adopt: (version: number, weights: Float32Array, hash: string, from: string) => Promise<void>): Promise<void> {
    const v = env.body.version;
    const hash = toHex(env.body.modelHash);
    const d = this.judgeResponse(env.sender, v, hash, env.body.weights, ctx.global, ctx.weights.length, ctx.clock.now());
    if (d.kind === 'ignore') return;
    if (d.kind === 'bad') return ctx.record('bad-model', `model from ${ctx.names([env.sender])} ${d.why}`);
    if (d.fork) ctx.record('fork-healed', `this node's model v${v} differs from the one most live members hold; adopting theirs`);
    await adopt(v, d.weights, hash, env.sender);
  }
}
