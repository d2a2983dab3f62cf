// Admission of a decoded, signature-checked envelope against the round this node is in: the
// rules the pure decoder cannot apply (PROTOCOL.md §10, "State checks ... follow in the node").
// Each function returns the reason to drop the envelope, or null to admit it.
import { equalBytes, ProtocolError } from '../../protocol/index.ts';
import { checkAnnouncedKeys, decodeEnvelopeV2, KindV2, MAX_ENVELOPE_BYTES_V2, verifyVoidRecord, voidRecordOf, type EnvelopeV2 } from '../../protocol/v2/index.ts';
import { publicKeyFromPeerId } from '../identity.ts';
import type { Logger } from '../log.ts';
import type { Verdict } from '../types.ts';
import { aggregatorOrder } from './rotation.ts';
import type { RoundState } from './state.ts';
import { VerifiedEnvelopes } from './verified-envelopes.ts';

/** How far a heartbeat's signed `sentAt` may be from this node's clock (PROTOCOL.md, Heartbeat). */
export const HEARTBEAT_CLOCK_SLACK_MS = 300_000;
/** A heartbeat may name a round up to this far ahead of the current one. */
const ROUND_RANGE = 100_000;

const LISTS = new Set([KindV2.U1List, KindV2.U2List, KindV2.U3List]);

/** What admission reads about this node (a read-only view). */
export interface AdmissionView {
  readonly self: string;
  readonly members: readonly string[];
  readonly state: Readonly<RoundState>;
  readonly maxAttempts: number;
  readonly modelWords: number;
  readonly manifestHash: Uint8Array;
  /** The manifest's admin key: the only signer of a void record. */
  readonly adminPublicKey: Uint8Array;
  /** The hash of the committed model the current round builds on. */
  readonly baseModelHash: Uint8Array;
  now(): number;
  /** The most samples the manifest certifies for `sender`. */
  maxSamplesOf(sender: string): number;
}

/** The state rules, in order. */
export function admit(env: EnvelopeV2, v: AdmissionView): string | null {
  if (env.sender === v.self) return 'own message echoed';
  if (env.kind === KindV2.Heartbeat) return admitHeartbeat(env, v);
  // model sync travels on direct streams (Network.request), never on gossip
  if (env.kind === KindV2.ModelRequest || env.kind === KindV2.ModelResponse) return 'model sync travels on direct streams only';
  return admitRoundMessage(env, v) ?? admitBody(env, v);
}

/** A heartbeat is admitted from any round (it carries the sender's view); its signed clock must be near ours. */
export function admitHeartbeat(env: EnvelopeV2 & { kind: KindV2.Heartbeat }, v: AdmissionView): string | null {
  if (Math.abs(v.now() - env.body.sentAt) > HEARTBEAT_CLOCK_SLACK_MS) return 'heartbeat more than 5 minutes off this clock (replayed?)';
  if (env.round > v.state.round + ROUND_RANGE) return 'round out of range';
  return null;
}

/** The current round (or the next, buffered), an attempt within maxAttempts, a sender not excluded. */
export function admitRoundMessage(env: EnvelopeV2, v: AdmissionView): string | null {
  const r = v.state.round;
  if (env.round < r) return `stale round ${env.round} (current ${r})`;
  if (env.round > r + 1) return `future round ${env.round} (current ${r})`;
  if (env.attempt >= v.maxAttempts) return `attempt ${env.attempt} beyond maxAttempts`;
  // An excluded member's consents, reveals (checked against the dealers' commitments) and
  // cryptograms (used only if it published one) may still decide or complete a final attempt that
  // lists it: every member must count them alike. A void record is the admin's (its sender only
  // relays it).
  const stillCounted = env.kind === KindV2.Consent || env.kind === KindV2.Reveal || env.kind === KindV2.CryptogramChunk || env.kind === KindV2.VoidRound;
  if (env.round === r && v.state.excluded.includes(env.sender) && !stillCounted) return 'sender excluded for this round (equivocation or a proven bad dealing)';
  return null;
}

/** Binding, keys, who signs lists, chunk sizes. */
export function admitBody(env: EnvelopeV2, v: AdmissionView): string | null {
  if (env.kind === KindV2.Heartbeat || env.kind === KindV2.ModelRequest || env.kind === KindV2.ModelResponse) return null;
  if (!equalBytes(env.body.manifestHash, v.manifestHash)) return 'bound to another manifest';
  if (env.kind === KindV2.KeyAnnouncement) {
    try {
      checkAnnouncedKeys(env.body, v.maxSamplesOf(env.sender));
    } catch (err) {
      if (err instanceof ProtocolError) return err.message;
      throw err;
    }
  }
  if (LISTS.has(env.kind)) {
    const agg = aggregatorOrder(v.members, env.round)[env.attempt % v.members.length];
    if (env.sender !== agg) return `${env.sender.slice(-8)} is not the aggregator of round ${env.round} attempt ${env.attempt}`;
  }
  if (env.kind === KindV2.CryptogramChunk && env.body.totalWords !== v.modelWords) return `cryptogram of ${env.body.totalWords} words, model has ${v.modelWords}`;
  if (env.kind === KindV2.VoidRound) {
    const why = admitVoid(env, v);
    if (why) return why;
  }
  if (env.round === v.state.round + 1) return null; // buffered until this node reaches that round (its base model is not known yet)
  if (!equalBytes(env.body.baseModelHash, v.baseModelHash)) return 'built on another global model';
  return null;
}

/** A void record (PROTOCOL.md §8.10) counts only with the manifest admin's signature over its K, r and binding. */
export function admitVoid(env: EnvelopeV2 & { kind: KindV2.VoidRound }, v: Pick<AdmissionView, 'adminPublicKey'>): string | null {
  try {
    verifyVoidRecord(voidRecordOf(env), v.adminPublicKey);
    return null;
  } catch (err) {
    if (err instanceof ProtocolError) return 'void record not signed by the manifest\'s admin key';
    throw err;
  }
}

/**
 * The gossip verdict for an envelope admission refused. An honest member one round behind still
 * re-sends its last round's messages: drop those without penalising the sender (a rejection lowers
 * its gossip score); anything older or otherwise wrong is rejected.
 */
export function refusalVerdict(env: EnvelopeV2, currentRound: number): Verdict {
  return env.round === currentRound - 1 ? 'ignore' : 'reject';
}

/**
 * The gossip intake: decodes and verifies an envelope once per distinct byte string (the topic
 * validator and the handler both see it), then admits it against the round.
 */
export class GossipGate {
  private readonly verified = new VerifiedEnvelopes();

  constructor(
    private readonly consortium: string,
    private readonly members: readonly string[],
    private readonly view: () => AdmissionView,
    private readonly log: Logger,
  ) {}

  private publicKeyOf = (sender: string): Uint8Array | undefined => (this.members.includes(sender) ? publicKeyFromPeerId(sender) : undefined);

  /** Decode and verify a gossiped envelope (≤ MAX_ENVELOPE_BYTES_V2); throws what the decoder throws. */
  decode(bytes: Uint8Array): EnvelopeV2 {
    return this.verified.decode(bytes, (b) => decodeEnvelopeV2(b, { consortium: this.consortium, publicKeyOf: this.publicKeyOf, maxBytes: MAX_ENVELOPE_BYTES_V2 }));
  }

  /** Decode and verify an envelope that came on a direct stream (up to `maxBytes`); not cached. */
  decodeDirect(bytes: Uint8Array, maxBytes: number): EnvelopeV2 {
    return decodeEnvelopeV2(bytes, { consortium: this.consortium, publicKeyOf: this.publicKeyOf, maxBytes });
  }

  /** The state rules (admit) against the round now. */
  check(env: EnvelopeV2): string | null {
    return admit(env, this.view());
  }

  /** The topic validator's verdict, with the reason logged for anything not accepted. */
  validate(bytes: Uint8Array, from: string): Verdict {
    let env: EnvelopeV2;
    try {
      env = this.decode(bytes);
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.code : 'MALFORMED';
      this.log.warn({ from, reason, detail: (err as Error).message.slice(0, 200) }, 'message rejected');
      return 'reject';
    }
    const reason = this.check(env);
    if (!reason) return 'accept';
    const v = this.view();
    // evidence of an equivocation is re-published by honest members: ignored, not penalised
    const excluded = v.state.excluded.includes(env.sender);
    const verdict = excluded ? 'ignore' : refusalVerdict(env, v.state.round);
    this.log.warn({ from: env.sender, kind: KindV2[env.kind], round: env.round, attempt: env.attempt, reason }, verdict === 'reject' ? 'message rejected' : excluded ? 'message ignored (sender excluded)' : 'message ignored (previous round)');
    return verdict;
  }
}
