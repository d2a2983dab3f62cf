// Membership inference on a rebuilt local model (global + the site's update):
// - loss threshold (Yeom et al. 2018, "Privacy risk in machine learning: analyzing the connection
//   to overfitting", CSF): score = −loss(x) under the local model;
// - difficulty-calibrated loss (Watson et al. 2022, "On the importance of difficulty calibration
//   in membership inference attacks", ICLR): score = loss under the round's global model − loss
//   under the local model, i.e. how much the site's own round of training lowered x's loss.
// Members are a site's training images, non-members test images drawn with the same label mix.

/** Binary cross-entropy of each sample (probabilities clipped to [1e-7, 1 − 1e-7] as in Keras). */
export function sampleLosses(probs: ArrayLike<number>, labels: ArrayLike<number>): Float64Array {
  const out = new Float64Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - 1e-7, Math.max(1e-7, probs[i]!));
    out[i] = labels[i] ? -Math.log(p) : -Math.log(1 - p);
  }
  return out;
}

export const yeomScores = (localLoss: ArrayLike<number>): number[] => Array.from(localLoss, (l) => -l);

export const calibratedScores = (localLoss: ArrayLike<number>, referenceLoss: ArrayLike<number>): number[] =>
  Array.from(localLoss, (l, i) => referenceLoss[i]! - l);

/**
 * Members and non-members with the same label mix: for each class, min(members of the class,
 * non-members of the class, cap) of each, drawn without replacement.
 */
export function matchedSample(
  memberLabels: ArrayLike<number>,
  nonMemberLabels: ArrayLike<number>,
  capPerClass: number,
  rnd: () => number,
): { members: number[]; nonMembers: number[] } {
  const byClass = (labels: ArrayLike<number>, c: number) => {
    const idx: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === c) idx.push(i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    return idx;
  };
  const members: number[] = [];
  const nonMembers: number[] = [];
  for (const c of [0, 1]) {
    const m = byClass(memberLabels, c);
    const n = byClass(nonMemberLabels, c);
    const k = Math.min(m.length, n.length, capPerClass);
    members.push(...m.slice(0, k));
    nonMembers.push(...n.slice(0, k));
  }
  return { members, nonMembers };
}
