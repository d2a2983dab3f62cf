import assert from 'node:assert/strict';
import { publishedRound } from '../../node/rounds/publication.ts';
import type { RoundSummary } from '../../node/types.ts';

const summary = (round: number, valAuc: number | null | undefined, testAuc: number): RoundSummary => ({
  round, attempt: 0, participants: [], aggregator: 'a', phaseSeconds: {}, bytesIn: 0, bytesOut: 0, modelHash: `h${round}`,
  testAuc, testAcc: null, testLoss: null, ...(valAuc === undefined ? {} : { valAuc }), completedAt: round,
});

describe('published model: chosen on validation, never on test', () => {
  it('picks the round with the best validation AUC even when another round has a better test AUC', () => {
    assert.equal(publishedRound([summary(1, 0.90, 0.99), summary(2, 0.95, 0.80), summary(3, 0.93, 0.97)]), 2);
  });
  it('breaks ties to the earlier round and skips rounds without a finite validation AUC', () => {
    assert.equal(publishedRound([summary(1, 0.9, 0.5), summary(2, 0.95, 0.5), summary(3, 0.95, 0.9), summary(4, Number.NaN, 0.99), summary(5, null, 1)]), 2);
  });
  it('falls back to the latest round when no round recorded a validation AUC, and to none before any round', () => {
    assert.equal(publishedRound([summary(1, undefined, 0.9), summary(3, undefined, 0.7), summary(2, undefined, 0.8)]), 3);
    assert.equal(publishedRound([]), null);
  });
});
