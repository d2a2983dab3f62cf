import assert from 'node:assert/strict';
import { calibratedScores, matchedSample, sampleLosses, yeomScores } from '../../bench/attacks/membership.ts';
import { membershipRoc } from '../../bench/attacks/stats.ts';
import { seededRandom } from '../../node/training/partition.ts';

describe('attacks: membership inference core', () => {
  it('the loss threshold separates a synthetic separable case: AUC 1, TPR at 1 % FPR 1', () => {
    const rnd = seededRandom(5);
    // members: the model is confident and right (p near the label); non-members: unsure
    const labels = Array.from({ length: 400 }, (_, i) => i % 2);
    const probs = labels.map((y, i) => (i < 200 ? (y ? 0.95 : 0.05) + (rnd() - 0.5) * 0.04 : 0.5 + (rnd() - 0.5) * 0.3));
    const isMember = labels.map((_, i) => i < 200);
    const r = membershipRoc(yeomScores(sampleLosses(probs, labels)), isMember, 0.01);
    assert.equal(r.auc, 1);
    assert.equal(r.tprAtFpr, 1);
  });

  it('gives AUC near 0.5 and a small TPR at 1 % FPR when members and non-members look alike', () => {
    const rnd = seededRandom(6);
    const scores = Array.from({ length: 2000 }, () => rnd());
    const isMember = scores.map((_, i) => i % 2 === 0);
    const r = membershipRoc(scores, isMember, 0.01);
    assert.ok(Math.abs(r.auc - 0.5) < 0.05, `AUC ${r.auc}`);
    assert.ok(r.tprAtFpr < 0.05, `TPR ${r.tprAtFpr}`);
  });

  it('the calibrated score is the loss drop against a reference model', () => {
    assert.deepEqual(calibratedScores([0.1, 0.5], [0.4, 0.5]), [0.30000000000000004, 0]);
  });

  it('matched samples have the same label mix on both sides', () => {
    const rnd = seededRandom(9);
    const members = Array.from({ length: 300 }, (_, i) => (i < 250 ? 1 : 0));
    const non = Array.from({ length: 200 }, (_, i) => (i < 80 ? 1 : 0));
    const { members: m, nonMembers: n } = matchedSample(members, non, 1000, rnd);
    const pos = (idx: number[], l: number[]) => idx.filter((i) => l[i] === 1).length;
    assert.equal(pos(m, members), 80);
    assert.equal(pos(n, non), 80);
    assert.equal(m.length - pos(m, members), 50);
    assert.equal(n.length - pos(n, non), 50);
    assert.equal(new Set(m).size, m.length);
  });
});
