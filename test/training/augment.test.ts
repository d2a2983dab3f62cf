import assert from 'node:assert/strict';
import { augmentBatch, type AugmentOptions } from '../../node/training/augment.ts';
import { partitionClasses, partitionIndices, partitionLike, seededRandom } from '../../node/training/partition.ts';

const none: AugmentOptions = { shiftPx: 0, rotateDeg: 0, zoom: [1, 1], brightness: 0, contrast: 0 };

/** A 28x28 image with one bright pixel at (r, c) on a dark background. */
function dot(r: number, c: number): Float32Array {
  const x = new Float32Array(784);
  x[r * 28 + c] = 1;
  return x;
}
const argmax = (x: Float32Array) => x.reduce((b, v, i) => (v > x[b]! ? i : b), 0);

describe('training: chest-radiograph augmentation', () => {
  it('is the identity with all ranges zero, and deterministic for a seed', () => {
    const img = Float32Array.from({ length: 784 * 2 }, (_, i) => (i % 97) / 97);
    const a = img.slice();
    augmentBatch(a, 2, seededRandom(1), none);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - img[i]!) < 1e-6);
    const b = img.slice();
    const c = img.slice();
    augmentBatch(b, 2, seededRandom(9));
    augmentBatch(c, 2, seededRandom(9));
    assert.deepEqual(b, c);
    assert.notDeepEqual(b, img);
    assert.ok(b.every((v) => v >= 0 && v <= 1));
  });

  it('shifts by at most shiftPx and never mirrors left-right', () => {
    const o: AugmentOptions = { ...none, shiftPx: 3 };
    const rnd = seededRandom(4);
    for (let k = 0; k < 50; k++) {
      const x = dot(10, 6); // left half of the film
      augmentBatch(x, 1, rnd, o);
      const p = argmax(x);
      const [r, c] = [Math.floor(p / 28), p % 28];
      assert.ok(Math.abs(r - 10) <= 3 && Math.abs(c - 6) <= 3, `moved to ${r},${c}`);
    }
    // with the default ranges (rotation ±10°, zoom 0.9–1.1, shift ±3) a left-side feature stays left
    const rd = seededRandom(5);
    for (let k = 0; k < 50; k++) {
      const x = dot(14, 5);
      augmentBatch(x, 1, rd);
      assert.ok(argmax(x) % 28 < 14);
    }
  });
});

describe('training: per-site validation split', () => {
  it('splits validation in each site’s training label mix, disjoint and complete', () => {
    const rnd = seededRandom(3);
    const classes = Array.from({ length: 3000 }, () => (rnd() < 0.74 ? 1 : 0));
    const valClasses = Array.from({ length: 600 }, () => (rnd() < 0.74 ? 1 : 0));
    const parts = partitionIndices(classes, { sites: 3, scheme: { kind: 'dirichlet', alpha: 0.5 }, seed: 7 });
    const val = partitionLike(classes, parts, valClasses, 8);
    assert.deepEqual(val, partitionLike(classes, parts, valClasses, 8));
    assert.deepEqual(val.flat().sort((a, b) => a - b), valClasses.map((_, i) => i));
    const pos = (idx: number[], cl: number[]) => idx.filter((i) => cl[i] === 1).length / idx.length;
    for (let s = 0; s < 3; s++) assert.ok(Math.abs(pos(val[s]!, valClasses) - pos(parts[s]!, classes)) < 0.1, `site ${s}`);
    assert.deepEqual(partitionClasses(Uint8Array.from([1, 0]), 1, false), [1, 0]);
  });
});
