// Catching up (node/rounds/README.md rule 9): when to ask for a newer or the majority's model and
// whom, whether to answer a request, and whether a fetched model may be adopted. Requests and
// answers travel on direct streams (Network.request; PROTOCOL.md §5: ModelResponse ≤ 64 MiB), never
// on gossip, so a model of any allowed size syncs.
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, modelBytes, toHex } from '../../protocol/index.ts';
import { KindV2 as MessageKind, MAX_ENVELOPE_BYTES_V2 as MAX_ENVELOPE_BYTES, MAX_MODEL_ENVELOPE_BYTES_V2 as MAX_MODEL_ENVELOPE_BYTES, type EnvelopeV2 as Envelope, type MessageV2 as Message } from '../../protocol/v2/index.ts';
import type { Clock } from '../runtime/clock.ts';
import type { Logger } from '../log.ts';
import type { EventKind } from './events.ts';
import type { Liveness } from './liveness.ts';
import type { GlobalModel } from './state.ts';

/** At most one request (and one answer per requester) this often. */
const REQUEST_EVERY_MS = 2000;
/** How long a commit may be in flight before a member behind by one version asks. */
const BEHIND_GRACE_MS = 1500;
/** A whole model answer must arrive within this long. */
const FETCH_TIMEOUT_MS = 60_000;
/** Model versions a request may name beyond the requester's current round. */
const VERSION_RANGE = 100_000;

export type ResponseDecision = { kind: 'ignore' } | { kind: 'bad'; why: string } | { kind: 'adopt'; fork: boolean; weights: Float32Array };

/** What model sync uses of the round context (context.ts implements it). */
export interface SyncHost {
  readonly self: string;
  readonly global: GlobalModel;
  readonly weights: Float32Array;
  readonly state: { readonly round: number; readonly lastProgressAt: number };
  readonly clock: Clock;
  readonly log: Logger;
  record(kind: EventKind, detail: string): void;
  names(ids: readonly string[]): string;
}

/** The engine's side of a fetch: signing, the direct stream, verification and the handling queue. */
export interface SyncIO {
  sign(message: Message): Uint8Array;
  request(peer: string, request: Uint8Array, opts: { maxResponseBytes: number; timeoutMs: number }): Promise<Uint8Array | null>;
  /** Decodes and verifies a direct envelope (signature, member, consortium) of at most `maxBytes`; throws otherwise. */
  decode(bytes: Uint8Array, maxBytes: number): Envelope;
  /** Runs `step` in the engine's queue. */
  enqueue(step: () => Promise<void>): void;
  /** Commits a fetched and verified model as version `version`. */
  adopt(version: number, weights: Float32Array, hash: string, from: string): Promise<void>;
}

export class ModelSync {
  private lastRequest = 0;
  private readonly lastResponse = new Map<string, number>();
  private fetching = false;
  private turn = 0;
  private behindSince: number | null = null;

  constructor(
    private readonly liveness: Liveness,
    private readonly io: SyncIO,
  ) {}

  /**
   * Behind for sure: more than half of the
   * other live members (at least two) report a newer model.
   */
  behindConfirmed(global: GlobalModel, now: number): boolean {
    return this.liveness.majorityAhead(global.version, now);
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
    const stuck = best > global.version + 1 || now - this.behindSince > BEHIND_GRACE_MS;
    if (!stuck || now - this.lastRequest < REQUEST_EVERY_MS) return null;
    this.lastRequest = now;
    return best;
  }

  /** Answer `from`'s request for `version`? Only the current global model, never v0, once per interval per requester. */
  shouldAnswer(version: number, from: string, global: GlobalModel, now: number): boolean {
    if (version !== global.version || version === 0) return false;
    if (now - (this.lastResponse.get(from) ?? 0) < REQUEST_EVERY_MS) return false;
    if (this.lastResponse.size > 1024) this.lastResponse.clear();
    this.lastResponse.set(from, now);
    return true;
  }

  /**
   * A fetched model. Taken only when newer than this node's (or the majority's for its own version),
   * matching its hash and size, and vouched for by another member too: a heartbeat of a member
   * other than the sender claiming (version, hash).
   */
  judgeResponse(sender: string, version: number, hash: string, bytes: Uint8Array, global: GlobalModel, modelWords: number, now: number): ResponseDecision {
    if (version < global.version || (version === global.version && (hash === global.hash || !this.liveness.outvoted(global.version, global.hash, now)))) return { kind: 'ignore' };
    if (toHex(sha256(bytes)) !== hash) return { kind: 'bad', why: 'does not match its hash' };
    if (bytes.length !== modelWords * 4) return { kind: 'bad', why: 'model of the wrong size' };
    if (this.liveness.vouchers(version, hash, sender).length === 0) return { kind: 'ignore' };
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const weights = new Float32Array(modelWords);
    for (let i = 0; i < modelWords; i++) weights[i] = dv.getFloat32(4 * i, true);
    return { kind: 'adopt', fork: version === global.version, weights };
  }

  /** The tick's step: when due, asks one live member holding the wanted version (in turn), in the background. */
  request(host: SyncHost): void {
    if (this.fetching) return;
    const now = host.clock.now();
    const v = this.versionToRequest(host.global, host.state.lastProgressAt, now);
    if (v === null) return;
    const peers = this.liveness.holders(v, v === host.global.version ? host.global.hash : null, now);
    if (!peers.length) return;
    const peer = peers[this.turn++ % peers.length]!;
    this.fetching = true;
    const req = this.io.sign({ kind: MessageKind.ModelRequest, body: { version: v } });
    void this.io
      .request(peer, req, { maxResponseBytes: MAX_MODEL_ENVELOPE_BYTES, timeoutMs: FETCH_TIMEOUT_MS })
      .then((answer) => answer && this.io.enqueue(() => this.onAnswer(host, answer, peer)))
      .catch((err) => host.log.warn({ peer: host.names([peer]), version: v, err: (err as Error).message }, 'model request failed'))
      .finally(() => (this.fetching = false));
  }

  /** A direct ModelRequest from `from`: the current global model, signed, or null. */
  serve(host: SyncHost, bytes: Uint8Array, from: string): Uint8Array | null {
    let env: Envelope;
    try {
      env = this.io.decode(bytes, MAX_ENVELOPE_BYTES);
    } catch (err) {
      host.log.warn({ from, err: (err as Error).message }, 'model request rejected');
      return null;
    }
    if (env.kind !== MessageKind.ModelRequest || env.sender !== from || env.sender === host.self || env.round > host.state.round + VERSION_RANGE) return null;
    if (!this.shouldAnswer(env.body.version, from, host.global, host.clock.now())) return null;
    return this.io.sign({ kind: MessageKind.ModelResponse, body: { version: host.global.version, modelHash: fromHex(host.global.hash), weights: modelBytes(host.weights) } });
  }

  /** The answer of `peer`: adopted when judgeResponse allows it; a bad one is recorded. */
  private async onAnswer(host: SyncHost, bytes: Uint8Array, peer: string): Promise<void> {
    let env: Envelope;
    try {
      env = this.io.decode(bytes, MAX_MODEL_ENVELOPE_BYTES);
    } catch (err) {
      return host.record('bad-model', `model answer from ${host.names([peer])} rejected: ${(err as Error).message}`);
    }
    if (env.kind !== MessageKind.ModelResponse || env.sender !== peer) return host.record('bad-model', `answer from ${host.names([peer])} is not its model response`);
    const v = env.body.version;
    const hash = toHex(env.body.modelHash);
    const d = this.judgeResponse(env.sender, v, hash, env.body.weights, host.global, host.weights.length, host.clock.now());
    if (d.kind === 'ignore') return;
    if (d.kind === 'bad') return host.record('bad-model', `model from ${host.names([env.sender])} ${d.why}`);
    if (d.fork) host.record('fork-healed', `this node's model v${v} differs from the one most live members hold; adopting theirs`);
    await this.io.adopt(v, d.weights, hash, env.sender);
  }
}
