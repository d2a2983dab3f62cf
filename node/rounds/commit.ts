// What a commit records: the new model's evaluation (test split, and this site's validation share
// for model selection) and the round summary kept after erasure.
import type { RoundSummary, Trainer } from '../types.ts';
import type { RoundContext } from './context.ts';
import { addPhaseTime } from './state.ts';

export interface Evaluation {
  auc: number;
  acc: number;
  loss: number;
  valAuc: number;
}

/** Test metrics and validation AUC of `weights` (waits for local training: the trainer is shared). */
export async function evaluateModel(ctx: RoundContext, trainer: Trainer, weights: Float32Array): Promise<Evaluation> {
  await ctx.contribution.idle();
  trainer.setWeights(weights);
  const test = await trainer.evaluate('test');
  const val = await trainer.evaluate('val');
  return { ...test, valAuc: val.auc };
}

/** The summary of round r completed here from attempt a's aggregate (U3 `u3`, masked over `u2`). */
export function unmaskedSummary(ctx: RoundContext, a: number, u3: string[], u2: string[], hash: string, ev: Evaluation): RoundSummary {
  const s = ctx.state;
  const r = s.round;
  addPhaseTime(s, ctx.clock.now());
  const uploaded = ctx.contribution.uploadedRound === r && u3.includes(ctx.self);
  return { round: r, attempt: a, participants: u3, masked: u2, aggregator: ctx.aggregatorOf(a), phaseSeconds: s.phaseSeconds, bytesIn: s.bytesIn, bytesOut: s.bytesOut, modelHash: hash, testAuc: ev.auc, testAcc: ev.acc, testLoss: ev.loss, valAuc: ev.valAuc, completedAt: ctx.clock.now(), ...(uploaded ? { uploaded: true } : {}) };
}

/** The summary of version v fetched from `from` (attempt −1, no participants known here). */
export function syncedSummary(ctx: RoundContext, v: number, from: string, hash: string, ev: Evaluation): RoundSummary {
  const s = ctx.state;
  return { round: v, attempt: -1, participants: [], aggregator: from, phaseSeconds: {}, bytesIn: s.bytesIn, bytesOut: s.bytesOut, modelHash: hash, testAuc: ev.auc, testAcc: ev.acc, testLoss: ev.loss, valAuc: ev.valAuc, completedAt: ctx.clock.now() };
}
