// AUC and ACC exactly as MedMNIST's evaluator (medmnist/evaluator.py getAUC/getACC) defines them.
import type { Task } from './registry.ts';

/** ROC AUC by the Mann–Whitney statistic with mid-ranks for ties (= sklearn roc_auc_score). */
export function rocAuc(yTrue: ArrayLike<number>, score: ArrayLike<number>): number {
  const n = yTrue.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => score[a]! - score[b]!);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && score[idx[j + 1]!] === score[idx[i]!]) j++;
    const mid = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[idx[k]!] = mid;
    i = j + 1;
  }
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; i++) {
    if (yTrue[i]) {
      pos++;
      rankSum += ranks[i]!;
    }
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN; // undefined with one class only
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

function mean(values: number[]): number {
  const ok = values.filter((v) => !Number.isNaN(v));
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : NaN;
}

/**
 * yTrue: n × columns labels (binary/multi-class: one column; multi-label: L columns).
 * yScore: n × outputs model outputs (binary: 1 sigmoid; multi-label: L sigmoids; multi-class: L softmax).
 * Labels with only one class present are left out of the AUC mean (sklearn would raise).
 */
export function evaluateScores(task: Task, yTrue: ArrayLike<number>, yScore: ArrayLike<number>, outputs: number, threshold = 0.5): { auc: number; acc: number } {
  const n = task === 'multi-label' ? yTrue.length / outputs : yTrue.length;
  if (task === 'binary') {
    const s = Array.from({ length: n }, (_, i) => yScore[i * outputs + outputs - 1]!);
    let correct = 0;
    for (let i = 0; i < n; i++) if ((s[i]! > threshold ? 1 : 0) === yTrue[i]) correct++;
    return { auc: rocAuc(yTrue, s), acc: correct / n };
  }
  if (task === 'multi-label') {
    const aucs: number[] = [];
    let acc = 0;
    for (let k = 0; k < outputs; k++) {
      const t = Array.from({ length: n }, (_, i) => yTrue[i * outputs + k]!);
      const s = Array.from({ length: n }, (_, i) => yScore[i * outputs + k]!);
      aucs.push(rocAuc(t, s));
      let c = 0;
      for (let i = 0; i < n; i++) if ((s[i]! > threshold ? 1 : 0) === t[i]) c++;
      acc += c / n;
    }
    return { auc: mean(aucs), acc: acc / outputs };
  }
  const aucs: number[] = [];
  for (let k = 0; k < outputs; k++) {
    aucs.push(rocAuc(Array.from({ length: n }, (_, i) => (yTrue[i] === k ? 1 : 0)), Array.from({ length: n }, (_, i) => yScore[i * outputs + k]!)));
  }
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < outputs; k++) if (yScore[i * outputs + k]! > yScore[i * outputs + best]!) best = k;
    if (best === yTrue[i]) correct++;
  }
  return { auc: mean(aucs), acc: correct / n };
}

/**
 * The score threshold that maximizes Youden's J = sensitivity + specificity − 1 on (yTrue, score).
 * J does not depend on the class balance, so a threshold chosen on a validation split with the
 * training split's prevalence carries over to a test split with another one. Returns the midpoint
 * between the two scores around the best cut (0.5 when one class is missing).
 */
export function youdenThreshold(yTrue: ArrayLike<number>, score: ArrayLike<number>): number {
  const n = yTrue.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => score[b]! - score[a]!);
  let pos = 0;
  for (let i = 0; i < n; i++) if (yTrue[i]) pos++;
  const neg = n - pos;
  if (pos === 0 || neg === 0) return 0.5;
  // walk the cut down from the highest score: predicting positive for idx[0..i]
  let tp = 0;
  let fp = 0;
  let bestJ = -Infinity;
  let best = 0.5;
  for (let i = 0; i < n; i++) {
    if (yTrue[idx[i]!]) tp++;
    else fp++;
    if (i + 1 < n && score[idx[i + 1]!] === score[idx[i]!]) continue; // ties move together
    const j = tp / pos - fp / neg;
    if (j > bestJ) {
      bestJ = j;
      best = i + 1 < n ? (score[idx[i]!]! + score[idx[i + 1]!]!) / 2 : score[idx[i]!]! - 1e-6;
    }
  }
  return best;
}
