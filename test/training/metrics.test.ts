import assert from 'node:assert/strict';
import { evaluateScores, rocAuc } from '../../node/training/metrics.ts';

describe('training: MedMNIST metrics', () => {
  it('ROC AUC of hand-checked cases, with ties counted as half', () => {
    assert.equal(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 0.75);
    assert.equal(rocAuc([0, 1], [0.5, 0.5]), 0.5);
    // positives {0.5, 0.9}, negatives {0.5, 0.1}: pairs (0.5>0.1)=1, (0.5=0.5)=0.5, (0.9>*)=2 → 3.5/4
    assert.equal(rocAuc([1, 0, 1, 0], [0.5, 0.5, 0.9, 0.1]), 0.875);
    assert.ok(Number.isNaN(rocAuc([1, 1], [0.2, 0.3])));
  });
  it('binary: AUC of the score and ACC at threshold 0.5 (strictly greater)', () => {
    const r = evaluateScores('binary', [0, 1, 1, 0], [0.2, 0.9, 0.5, 0.7], 1);
    assert.equal(r.acc, 0.5); // 0.5 is not > 0.5 → predicted 0 (wrong); 0.7 → 1 (wrong)
    assert.equal(r.auc, 0.75);
  });
  it('multi-label: mean per-label AUC and ACC over all labels', () => {
    // 3 samples × 2 labels
    const yTrue = [1, 0, 0, 1, 1, 1];
    const yScore = [0.9, 0.2, 0.1, 0.6, 0.6, 0.4];
    const r = evaluateScores('multi-label', yTrue, yScore, 2);
    // label 0: pos {0.9, 0.6}, neg {0.1} → 1; label 1: pos {0.6, 0.4}, neg {0.2} → 1
    assert.equal(r.auc, 1);
    // predictions: [1,0],[0,1],[1,0] vs [1,0],[0,1],[1,1] → 5/6
    assert.ok(Math.abs(r.acc - 5 / 6) < 1e-12);
  });
  it('multi-class: one-vs-rest AUC averaged and argmax ACC', () => {
    const yTrue = [0, 1, 2, 1];
    const yScore = [0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.2, 0.3, 0.5, 0.4, 0.5, 0.1];
    const r = evaluateScores('multi-class', yTrue, yScore, 3);
    assert.equal(r.acc, 1);
    assert.equal(r.auc, 1);
    const r2 = evaluateScores('multi-class', [0, 1], [0.4, 0.6, 0.6, 0.4], 2);
    assert.equal(r2.acc, 0);
    assert.equal(r2.auc, 0);
  });
});
