// Admission of a decoded, signature-checked envelope against the round this node is in: the
// rules the pure decoder cannot apply (PROTOCOL.md §5, "The node then applies state rules").
// Each function returns the reason to drop the envelope, or null to admit it.
import { decodeEnvelope, equalBytes, MAX_ENVELOPE_BYTES, MessageKind, ProtocolError, type Envelope } from '../../protocol/index.ts';
import { checkSamples } from '../../protocol/v2/threshold.ts';
import { publicKeyFromPeerId } from '../identity.ts';
import type { Logger } from '../log.ts';
import type { Verdict } from '../types.ts';
import { candidateIndex } from './rotation.ts';
import type { RoundState } from './state.ts';
import { VerifiedEnvelopes } from './verified-envelopes.ts';

/** How far a heartbeat's signed `sentAt` may be from this node's clock (PROTOCOL.md §5, Heartbeat). */
export const HEARTBEAT_CLOCK_SLACK_MS = 300_000;
/** A heartbeat may name a round up to this far ahead of the current one. */
const ROUND_RANGE = 100_000;

/** What admission reads about this node (a read-only view). */
export interface AdmissionView {
  readonly self: string;
  readonly members: readonly string[];
  readonly state: Readonly<RoundState>;
  readonly maxAttempts: number;
  readonly modelWords: number;
  now(): number;
  /** The key `sender` announced for `attempt` of the current round, if any. */
  keyOf(attempt: number, sender: string): Uint8Array | undefined;
  /** The most samples the manifest certifies for `sender` (undefined: the manifest sets no bound). */
  maxSamplesOf(sender: string): number | undefined;
}

/**
 * The state rules, in order. `candidateSlack` is how many failovers beyond this node's own an
 * AttemptStart or AggregateRecord sender may be (1 by default; see `startSlack`).
 */
export function admit(env: Envelope, v: AdmissionView, candidateSlack = 1): string | null {
  if (env.sender === v.self) return 'own message echoed';
  if (env.kind === MessageKind.Heartbeat) return admitHeartbeat(env, v);
  // PROTOCOL.md §5: model sync travels on direct streams (Network.request), never on gossip
  if (env.kind === MessageKind.ModelRequest || env.kind === MessageKind.ModelResponse) return 'model sync travels on direct streams only';
  return admitRoundMessage(env, v) ?? admitRole(env, v, candidateSlack);
}

/** A heartbeat is admitted from any round (it carries the sender's view); its signed clock must be near ours. */
export function admitHeartbeat(env: Envelope & { kind: MessageKind.Heartbeat }, v: AdmissionView): string | null {
  if (Math.abs(v.now() - env.body.sentAt) > HEARTBEAT_CLOCK_SLACK_MS) return 'heartbeat more than 5 minutes off this clock (replayed?)';
  if (env.round > v.state.round + ROUND_RANGE) return 'round out of range';
  return null;
}

/** Round and attempt of a round message: the current round (or the next, buffered), the current attempt (§4 rule 7 for records). */
export function admitRoundMessage(env: Envelope, v: AdmissionView): string | null {
  const s = v.state;
  const r = s.round;
  if (env.round < r) return `stale round ${env.round} (current ${r})`;
  if (env.round > r + 1) return `future round ${env.round} (current ${r})`;
  // A record for an earlier attempt of this round is still checked: an aggregator that was paused
  // may finish attempt a-1 after the others moved on, and its verifiable result ends the round.
  if (env.round === r && env.attempt < s.attempt && !(env.kind === MessageKind.AggregateRecord && s.attempts[env.attempt])) return `stale attempt ${env.attempt} (current ${s.attempt})`;
  if (env.attempt >= v.maxAttempts) return `attempt ${env.attempt} beyond maxAttempts`;
  return null;
}

/** Who may send what in the current round: aggregator candidates, one key per attempt, chunks of the model's size. */
export function admitRole(env: Envelope, v: AdmissionView, candidateSlack: number): string | null {
  const s = v.state;
  if (env.kind === MessageKind.KeyAnnouncement) {
    const over = samplesOverMax(env.body.samples, v.maxSamplesOf(env.sender));
    if (over) return over;
  }
  if (env.round === s.round + 1) return null; // buffered until this node reaches that round
  if (env.kind === MessageKind.AttemptStart || env.kind === MessageKind.AggregateRecord) {
    const k = candidateIndex(v.members, s.round, env.sender, s.failover + candidateSlack);
    if (k === null) return `${env.sender.slice(-8)} is not an aggregator candidate of round ${s.round}`;
    if (env.kind === MessageKind.AttemptStart && env.body.aggregator !== env.sender) return 'attempt start names another aggregator';
  }
  if (env.kind === MessageKind.KeyAnnouncement) {
    const prev = v.keyOf(env.attempt, env.sender);
    if (prev && !equalBytes(prev, env.body.publicKey)) return 'a second, different key for the same attempt';
  }
  if (env.kind === MessageKind.CryptogramChunk && env.body.totalWords !== v.modelWords) return `cryptogram of ${env.body.totalWords} words, model has ${v.modelWords}`;
  return null;
}

/**
 * Weight inflation (PROTOCOL.md §5, KeyAnnouncement): the FedAvg weight is the announced sample
 * count, so a count above the member's certified `maxSamples` is refused (2^32 − 1 would give its
 * update weight ≈ 1 and round every honest update to 0). Checked for next-round keys too.
 */
export function samplesOverMax(samples: number, maxSamples: number | undefined): string | null {
  if (maxSamples === undefined) return null;
  try {
    checkSamples(samples, maxSamples);
    return null;
  } catch (err) {
    if (err instanceof ProtocolError) return err.message;
    throw err;
  }
}

/**
 * The candidate slack for handling `env`. The first AttemptStart of a round is taken from any
 * candidate, not only up to f + 1: members skip candidates they believe dead from their own
 * liveness view, and a member that refused a farther candidate's start would open its own attempt
 * beside it (a split attempt that stalls the round; seen after a restart in the SIGSTOP fault
 * test). A start for an attempt this node already follows is only compared (split detection),
 * never followed, so it too is taken from any candidate.
 */
export function startSlack(env: Envelope, s: Readonly<RoundState>, members: number): number {
  if (env.kind !== MessageKind.AttemptStart || env.round !== s.round) return 1;
  const firstStart = env.attempt === 0 && !s.attempts[0];
  const knownStart = !!s.attempts[env.attempt];
  return firstStart || knownStart ? members : 1;
}

/**
 * The gossip verdict for an envelope admission refused. An honest member one round behind still
 * re-sends its last round's messages, an aggregator its AttemptStart included: drop those without
 * penalising the sender (a rejection lowers its gossip score, and an aggregator stuck re-sending
 * was graylisted by everyone, heard nothing, and never caught up); anything older or otherwise
 * wrong is rejected.
 */
export function refusalVerdict(env: Envelope, currentRound: number): Verdict {
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

  /** Decode and verify a gossiped envelope (≤ MAX_ENVELOPE_BYTES); throws what the decoder throws. */
  decode(bytes: Uint8Array): Envelope {
    return this.verified.decode(bytes, (b) => decodeEnvelope(b, { consortium: this.consortium, publicKeyOf: this.publicKeyOf, maxBytes: MAX_ENVELOPE_BYTES }));
  }

  /** Decode and verify an envelope that came on a direct stream (up to `maxBytes`); not cached. */
  decodeDirect(bytes: Uint8Array, maxBytes: number): Envelope {
    return decodeEnvelope(bytes, { consortium: this.consortium, publicKeyOf: this.publicKeyOf, maxBytes });
  }

  /** Members whose key announcement of a round claimed more samples than certified: `${round}/${sender}`. */
  private readonly inflated = new Set<string>();

  /**
   * The state rules (admit) against the round now. A member caught inflating its sample count is
   * remembered for the round, and an AttemptStart naming it as a participant is refused too (the
   * inflating member as aggregator would otherwise open an attempt no honest node can mask for).
   */
  check(env: Envelope, candidateSlack = 1): string | null {
    const v = this.view();
    if (env.kind === MessageKind.AttemptStart) {
      const bad = env.body.participants.filter((p) => this.inflated.has(`${env.round}/${p}`));
      if (bad.length) return `names ${bad.map((p) => p.slice(-8)).join(', ')}, whose key announcement claimed more samples than the manifest certifies`;
    }
    const reason = admit(env, v, candidateSlack);
    // refused for its sample count (so for this round or the next: admission checks the round first)
    if (reason && env.kind === MessageKind.KeyAnnouncement && reason === samplesOverMax(env.body.samples, v.maxSamplesOf(env.sender))) {
      for (const k of this.inflated) if (Number(k.split('/')[0]) < v.state.round) this.inflated.delete(k);
      this.inflated.add(`${env.round}/${env.sender}`);
    }
    return reason;
  }

  /** The topic validator's verdict, with the reason logged for anything not accepted. */
  validate(bytes: Uint8Array, from: string): Verdict {
    let env: Envelope;
    try {
      env = this.decode(bytes);
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.code : 'MALFORMED';
      this.log.warn({ from, reason, detail: (err as Error).message.slice(0, 200) }, 'message rejected');
      return 'reject';
    }
    const reason = this.check(env, this.members.length);
    if (!reason) return 'accept';
    const verdict = refusalVerdict(env, this.view().state.round);
    this.log.warn({ from: env.sender, kind: MessageKind[env.kind], round: env.round, attempt: env.attempt, reason }, verdict === 'ignore' ? 'message ignored (previous round)' : 'message rejected');
    return verdict;
  }
}
