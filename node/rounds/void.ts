// The admin's void record (PROTOCOL.md §8.10): the one way a stalled round ends without an
// aggregate. A valid record for this node's round and base model makes it commit version r = the
// base model unchanged (summary `voided: true`), erase round r, record `round-voided`, stop
// re-sending its own messages of round r (nobody may complete the round after its void) and gossip
// the record in its own envelope, re-sent while a member is still in round r. Admission of a
// gossiped record (the admin signature) is admission.ts's; the engine only dispatches here.
import { equalBytes, fromHex, ProtocolError, toHex } from '../../protocol/index.ts';
import { verifyVoidRecord, voidRoundMessage, type VoidRecordV2 } from '../../protocol/v2/index.ts';
import type { EvalResult, RoundSummary } from '../types.ts';
import type { RoundContext } from './context.ts';
import { addPhaseTime } from './state.ts';

/** What applying a void needs from the engine: evaluating the model and committing it. */
export interface VoidIO {
  evaluate(weights: Float32Array): Promise<EvalResult & { valAuc: number }>;
  finishRound(r: number, weights: Float32Array, hash: string, summary: RoundSummary): Promise<void>;
}

export type VoidRefusalCode = 'WRONG_CONSORTIUM' | 'NO_ROUND' | 'WRONG_ROUND' | 'WRONG_MANIFEST' | 'WRONG_BASE' | 'BAD_SIGNATURE';

/** A void record this node will not apply, and why (the operator sees the message). */
export class VoidRefused extends Error {
  constructor(
    readonly code: VoidRefusalCode,
    message: string,
  ) {
    super(message);
    this.name = 'VoidRefused';
  }
}

/** Why record v does not void this node's current round, or null when it does. */
export function voidRefusal(ctx: RoundContext, v: VoidRecordV2): VoidRefused | null {
  const r = ctx.state.round;
  if (v.consortium !== ctx.manifest.consortium) return new VoidRefused('WRONG_CONSORTIUM', `the record is for consortium "${v.consortium.slice(0, 64)}", this node is in "${ctx.manifest.consortium}"`);
  if (ctx.completed) return new VoidRefused('NO_ROUND', `this node finished the plan's ${ctx.manifest.plan.rounds} rounds: no round to void`);
  if (v.round !== r) return new VoidRefused('WRONG_ROUND', `the record voids round ${v.round}, this node is in round ${r}${v.round < r ? ' (that round is committed here)' : ''}`);
  if (!equalBytes(v.manifestHash, ctx.manifestHash)) return new VoidRefused('WRONG_MANIFEST', `the record is bound to manifest ${toHex(v.manifestHash).slice(0, 16)}…, this node runs ${toHex(ctx.manifestHash).slice(0, 16)}…`);
  if (!equalBytes(v.baseModelHash, fromHex(ctx.global.hash))) return new VoidRefused('WRONG_BASE', `the record names base model ${toHex(v.baseModelHash)}, round ${r} here builds on ${ctx.global.hash} (model version ${ctx.global.version})`);
  try {
    verifyVoidRecord(v, fromHex(ctx.manifest.adminPublicKey));
  } catch (err) {
    if (err instanceof ProtocolError) return new VoidRefused('BAD_SIGNATURE', "the record's signature is not the manifest admin key's");
    throw err;
  }
  return null;
}

/** Record v, handed in by the operator: applied (returns the voided round) or refused with VoidRefused. */
export async function submitVoid(ctx: RoundContext, v: VoidRecordV2, io: VoidIO): Promise<number> {
  const refused = voidRefusal(ctx, v);
  if (refused) throw refused;
  const r = ctx.state.round;
  await applyVoid(ctx, v, io);
  return r;
}

/** Round r is void (record v already checked): model version r = version r − 1's weights. */
export async function applyVoid(ctx: RoundContext, v: VoidRecordV2, io: VoidIO): Promise<void> {
  const s = ctx.state;
  const r = s.round;
  const a = s.attempt;
  const stalled = s.revealed ? `; this node had revealed for attempt ${s.revealed.attempt}` : '';
  ctx.record('round-voided', `round ${r} voided by the admin ("${v.reason}"): model version ${r} is version ${r - 1}'s weights unchanged (${ctx.global.hash.slice(0, 16)}…), round ${r} is erased here${stalled}`);
  // After the void nobody may complete round r: this node's reveals, consents and chunks of it stop
  // here; only the record is re-sent to members still in round r.
  ctx.outbox.forgetRound();
  await ctx.publish(ctx.sign(voidRoundMessage(v), a), a, 'void', true);
  const weights = ctx.weights;
  const ev = await io.evaluate(weights);
  addPhaseTime(s, ctx.clock.now());
  const hash = ctx.global.hash;
  const summary: RoundSummary = {
    round: r, attempt: -1, participants: [], aggregator: '', phaseSeconds: s.phaseSeconds, bytesIn: s.bytesIn, bytesOut: s.bytesOut, modelHash: hash,
    testAuc: ev.auc, testAcc: ev.acc, testLoss: ev.loss, valAuc: ev.valAuc, completedAt: ctx.clock.now(), voided: true, voidReason: v.reason,
  };
  await io.finishRound(r, weights, hash, summary);
  ctx.log.warn({ round: r, modelHash: hash.slice(0, 16), reason: v.reason }, 'round voided by the admin');
}
