// Small numeric helpers for the attack benchmark: mean ± sd, ROC figures, SSIM and PSNR.
import { rocAuc } from '../../node/training/metrics.ts';

export function mean(v: readonly number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

/** Sample standard deviation (n − 1); 0 for a single value. */
export function sd(v: readonly number[]): number {
  if (v.length < 2) return 0;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
}

export interface MeanSd {
  mean: number;
  sd: number;
  n: number;
}
export const meanSd = (v: readonly number[]): MeanSd => ({ mean: mean(v), sd: sd(v), n: v.length });

/**
 * Attack AUC and the true-positive rate at a false-positive rate ≤ `fpr` (members are positives;
 * a higher score means "member"). The TPR is read at the strictest threshold that keeps the FPR
 * at or under the target, counting ties as positives (no interpolation).
 */
export function membershipRoc(scores: readonly number[], isMember: readonly boolean[], fpr = 0.01): { auc: number; tprAtFpr: number } {
  const auc = rocAuc(isMember.map((m) => (m ? 1 : 0)), scores);
  const neg = scores.filter((_, i) => !isMember[i]).sort((a, b) => b - a);
  const pos = scores.filter((_, i) => isMember[i]);
  const allowed = Math.floor(fpr * neg.length); // negatives allowed above the threshold
  // threshold strictly above the (allowed+1)-th largest negative score
  const t = neg[allowed] ?? -Infinity;
  const tpr = pos.filter((s) => s > t).length / Math.max(1, pos.length);
  return { auc, tprAtFpr: tpr };
}

/** PSNR in dB of images in [0, 1]. */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let mse = 0;
  for (let i = 0; i < a.length; i++) mse += (a[i]! - b[i]!) ** 2;
  mse /= a.length;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}

/**
 * SSIM (Wang et al. 2004) of two h×w images in [0, 1], as scikit-image's structural_similarity
 * computes it by default: 7×7 uniform window, K1 = 0.01, K2 = 0.03, data range 1, sample
 * covariances (n − 1), mean over the windows that fit inside the image.
 */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, h: number, w: number, win = 7): number {
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;
  const np = win * win;
  const cov = np / (np - 1);
  let total = 0;
  let count = 0;
  for (let y = 0; y + win <= h; y++) {
    for (let x = 0; x + win <= w; x++) {
      let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
      for (let dy = 0; dy < win; dy++) {
        for (let dx = 0; dx < win; dx++) {
          const i = (y + dy) * w + x + dx;
          const va = a[i]!, vb = b[i]!;
          sa += va; sb += vb; saa += va * va; sbb += vb * vb; sab += va * vb;
        }
      }
      const ma = sa / np, mb = sb / np;
      const vaa = cov * (saa / np - ma * ma), vbb = cov * (sbb / np - mb * mb), vab = cov * (sab / np - ma * mb);
      total += ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma * ma + mb * mb + c1) * (vaa + vbb + c2));
      count++;
    }
  }
  return total / count;
}
