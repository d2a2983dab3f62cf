import assert from 'node:assert/strict';
import { evaluateScores, rocAuc, youdenThreshold } from '../../node/training/metrics.ts';

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
  it("Youden's J threshold: maximizes sensitivity + specificity, independent of the class balance", () => {
    // negatives 0.1 0.2 0.6, positives 0.3 0.7 0.8 0.9: the cut between 0.6 and 0.7 gives
    // sens 3/4, spec 1 → J 0.75; the cut between 0.2 and 0.3 gives sens 1, spec 2/3 → J 0.667
    const y = [0, 0, 1, 0, 1, 1, 1];
    const s = [0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.9];
    assert.ok(Math.abs(youdenThreshold(y, s) - 0.65) < 1e-12);
    // replicating every positive 5 times changes the prevalence, not the chosen threshold
    const y5 = [...y, ...[1, 1, 1, 1].flatMap((v) => [v, v, v, v])];
    const s5 = [...s, ...[0.3, 0.7, 0.8, 0.9].flatMap((v) => [v, v, v, v])];
    assert.equal(youdenThreshold(y5, s5), youdenThreshold(y, s));
    // the threshold separates perfectly when the scores do; ACC at it is then 1
    const t = youdenThreshold([0, 0, 1, 1], [0.01, 0.02, 0.03, 0.04]);
    assert.equal(evaluateScores('binary', [0, 0, 1, 1], [0.01, 0.02, 0.03, 0.04], 1, t).acc, 1);
    assert.equal(youdenThreshold([1, 1], [0.2, 0.3]), 0.5);
  });
});
