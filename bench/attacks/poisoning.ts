// Poisoning by one site, within flnode's clip C (the encoder clamps each coordinate of w·u to
// [−C, C]; the aggregator cannot look inside a cryptogram, so it cannot check more than that):
// (a) a sign-flipped, boosted update (Blanchard et al. 2017 "Machine learning with adversaries:
//     Byzantine tolerant gradient descent", NeurIPS; boosting as in Bhagoji et al. 2019, ICML);
// (b) a backdoor: a white pixel patch added to pneumonia images relabelled "normal", trained and
//     boosted (model replacement, Bagdasaryan et al. 2020, "How to backdoor federated learning",
//     AISTATS).
import { exactScale } from '../../protocol/index.ts';
import type { Split } from '../../node/training/dataset.ts';

/** −boost·u. */
export function signFlip(update: Float32Array, boost: number): Float32Array {
  return update.map((v) => -boost * v);
}

export function boosted(update: Float32Array, boost: number): Float32Array {
  return update.map((v) => boost * v);
}

/** A `size`×`size` white square at the image's bottom-right corner (1 px margin) in each 28×28 image. */
export function stampPatch(images: Uint8Array, size = 3): Uint8Array {
  const out = Uint8Array.from(images);
  const n = images.length / 784;
  for (let k = 0; k < n; k++) {
    for (let y = 28 - 1 - size; y < 28 - 1; y++) for (let x = 28 - 1 - size; x < 28 - 1; x++) out[k * 784 + y * 28 + x] = 255;
  }
  return out;
}

/** The site's split plus a patched, "normal"-labelled copy of each of its first `count` pneumonia images. */
export function backdoorSplit(train: Split, count: number): Split {
  const src: number[] = [];
  for (let i = 0; i < train.n && src.length < count; i++) if (train.labels[i] === 1) src.push(i);
  const extra = new Uint8Array(src.length * 784);
  src.forEach((s, i) => extra.set(train.images.subarray(s * 784, s * 784 + 784), i * 784));
  const patched = stampPatch(extra);
  const images = new Uint8Array((train.n + src.length) * 784);
  images.set(train.images);
  images.set(patched, train.n * 784);
  const labels = new Uint8Array(train.n + src.length);
  labels.set(train.labels);
  return { images, labels, n: train.n + src.length };
}

/**
 * The largest per-coordinate contribution a site can make to the decoded aggregate:
 * C through the honest encoder; a site that writes its words itself is bounded only by the int32
 * range of the decoded sum, INT31/S, less the (n − 1)·C the honest sites may add (else it wraps).
 */
export function contributionBounds(participants: number, clip: number): { encoder: number; bypass: number } {
  const s = exactScale(participants, clip);
  return { encoder: clip, bypass: Math.max(clip, (2 ** 31 - 1) / s - (participants - 1) * clip) };
}
