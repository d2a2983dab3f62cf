// Writes MedMNIST-layout .npz files for tests: ChestMNIST's 14-label multi-label layout, binary
// and multi-class ones. Images carry a label-dependent pattern so a model can learn something.
import { writeFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { npyBytes } from '../../node/training/npz.ts';
import { seededRandom } from '../../node/training/partition.ts';

export interface FixtureOptions {
  /** 'chestmnist' (14 labels, multi-label), 'pneumoniamnist' (binary), 'organamnist' (11 classes). */
  dataset: 'chestmnist' | 'pneumoniamnist' | 'organamnist';
  sizes?: { train: number; val: number; test: number };
  seed?: number;
  /** zip entries stored (level 0) or deflated */
  deflate?: boolean;
  /** mutate the arrays before writing (for malformed-file tests) */
  tamper?: (arrays: Record<string, { dtype: '|u1' | '<f4'; shape: number[]; data: Uint8Array | Float32Array }>) => void;
}

export function makeMedMnistNpz(path: string, opts: FixtureOptions): void {
  const rnd = seededRandom(opts.seed ?? 1);
  const sizes = opts.sizes ?? { train: 120, val: 40, test: 40 };
  const cols = opts.dataset === 'chestmnist' ? 14 : 1;
  const arrays: Record<string, { dtype: '|u1' | '<f4'; shape: number[]; data: Uint8Array | Float32Array }> = {};
  for (const split of ['train', 'val', 'test'] as const) {
    const n = sizes[split];
    const images = new Uint8Array(n * 784);
    const labels = new Uint8Array(n * cols);
    for (let i = 0; i < n; i++) {
      let bright = 0;
      if (opts.dataset === 'chestmnist') {
        for (let k = 0; k < 14; k++) labels[i * 14 + k] = rnd() < 0.15 ? 1 : 0;
        bright = labels[i * 14]! * 120 + labels[i * 14 + 1]! * 60;
      } else if (opts.dataset === 'pneumoniamnist') {
        labels[i] = rnd() < 0.6 ? 1 : 0;
        bright = labels[i]! * 120;
      } else {
        labels[i] = Math.floor(rnd() * 11);
        bright = labels[i]! * 20;
      }
      for (let p = 0; p < 784; p++) images[i * 784 + p] = Math.min(255, Math.floor(rnd() * 80 + (p % 28 < 14 ? bright : 0)));
    }
    arrays[`${split}_images`] = { dtype: '|u1', shape: [n, 28, 28], data: images };
    arrays[`${split}_labels`] = { dtype: '|u1', shape: [n, cols], data: labels };
  }
  opts.tamper?.(arrays);
  const files: Record<string, [Uint8Array, { level: 0 | 6 }]> = {};
  for (const [k, v] of Object.entries(arrays)) files[`${k}.npy`] = [npyBytes(v), { level: opts.deflate ? 6 : 0 }];
  writeFileSync(path, zipSync(files));
}
