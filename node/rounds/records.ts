// The aggregate check (PROTOCOL.md §5 "Aggregate check", §4 rules 6 and 7): what a member decides
// about an AggregateRecord from what it received. Pure: the engine commits, rejects or waits.
import { applyAggregate, cryptogramHash, decodeAggregate, equalBytes, fromHex, modelHash, sumCryptograms, toHex, type AggregateRecordBody, type AttemptParams } from '../../protocol/index.ts';
import type { RoundState } from './state.ts';

export type RecordDecision =
  | { kind: 'judged-before' } // this node rejected a record of this sender for this attempt already
  | { kind: 'not-aggregator' } // not from the aggregator of the attempt this node follows: ignored
  | { kind: 'unseen-attempt' } // this node never saw the attempt opened: it takes the model by sync
  | { kind: 'wait' } // cryptograms or keys missing here: checked again when they arrive
  | { kind: 'reject'; why: string }
  | { kind: 'accept'; next: Float32Array; hash: string };

export interface RecordView {
  readonly state: Readonly<RoundState>;
  readonly globalHash: string;
  readonly weights: Float32Array;
  /** The aggregator candidate at this node's current failover index. */
  readonly aggregator: string;
  cryptogram(attempt: number, member: string): Uint32Array | undefined;
  /** The attempt's masking parameters, or null while a participant's key is missing. */
  params(attempt: number): AttemptParams | null;
  names(ids: readonly string[]): string;
}

/** The tag under which a judged record is remembered (a re-sent copy is never judged twice). */
export const recordTag = (attempt: number, sender: string): string => `record/${attempt}/${sender}`;

/**
 * Only the aggregator of (r, a) this node expects may end the attempt (PROTOCOL.md §5, aggregate
 * check): the member that opened it, or, for the current attempt, the candidate this node failed
 * over to (it completes the round after a wrong or missing record). Another member's record, right
 * or wrong, is ignored without a failover: judged, a bogus one would have every member fail over
 * an honest aggregator.
 */
export function expectedAggregator(attempt: number, sender: string, v: RecordView): boolean {
  return sender === v.state.attempts[attempt]?.aggregator || (attempt === v.state.attempt && sender === v.aggregator);
}

export function judgeRecord(attempt: number, sender: string, body: AggregateRecordBody, v: RecordView): RecordDecision {
  const s = v.state;
  // A rejected record is judged once: its aggregator re-sends it every few seconds, and each copy
  // used to cost one more failover, cycling the candidates around the ring (back to the faulty
  // one) faster than the honest one could finish (a fault test took 121 s instead of 24).
  if (s.refused.includes(recordTag(attempt, sender))) return { kind: 'judged-before' };
  const info = s.attempts[attempt];
  // This node missed the attempt's start: it cannot check the sum, so it takes the model from
  // peers once they commit (model sync verifies the hash against this signed record).
  if (!info) return { kind: 'unseen-attempt' };
  if (!expectedAggregator(attempt, sender, v)) return { kind: 'not-aggregator' };
  const equivocator = body.participants.find((p) => s.equivocators.includes(`${attempt}/${p}`));
  if (equivocator) return { kind: 'reject', why: `it includes ${v.names([equivocator])}, who published two different cryptograms` };
  if (body.participants.length !== info.participants.length || body.participants.some((p) => !info.participants.includes(p))) return { kind: 'reject', why: 'participant set differs from the attempt' };
  if (!equalBytes(body.baseModelHash, fromHex(v.globalHash))) return { kind: 'reject', why: 'wrong base model' };
  const cs: Uint32Array[] = [];
  for (let i = 0; i < body.participants.length; i++) {
    const c = v.cryptogram(attempt, body.participants[i]!);
    if (!c) return { kind: 'wait' };
    if (!equalBytes(cryptogramHash(c), body.cryptogramHashes[i]!)) return { kind: 'reject', why: `hash of ${v.names([body.participants[i]!])}'s cryptogram differs` };
    cs.push(c);
  }
  // without every participant's key this node cannot decode; it waits, or takes the model by sync
  const params = v.params(attempt);
  if (!params) return { kind: 'wait' };
  const sum = sumCryptograms(cs);
  if (!equalBytes(cryptogramHash(sum), body.sumHash)) return { kind: 'reject', why: 'sum hash differs' };
  const next = applyAggregate(v.weights, decodeAggregate(sum, params));
  const hash = toHex(modelHash(next));
  if (hash !== toHex(body.newModelHash)) return { kind: 'reject', why: 'new model hash differs' };
  return { kind: 'accept', next, hash };
}

/** The aggregator's own record for an attempt whose cryptograms are all in: the body and the model it commits. */
export function buildRecord(cs: Uint32Array[], participants: string[], params: AttemptParams, weights: Float32Array, globalHash: string): { body: AggregateRecordBody; next: Float32Array; hash: string } {
  const sum = sumCryptograms(cs);
  const next = applyAggregate(weights, decodeAggregate(sum, params));
  const newModelHash = modelHash(next);
  return { body: { participants, cryptogramHashes: cs.map((c) => cryptogramHash(c)), sumHash: cryptogramHash(sum), baseModelHash: fromHex(globalHash), newModelHash }, next, hash: toHex(newModelHash) };
}
