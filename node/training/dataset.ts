// Loading and validating a MedMNIST 2D .npz: one clear error line naming the file and the problem.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { NpzError, readNpz, type NpyArray } from './npz.ts';
import { DATASETS, specForPath, type DatasetSpec, type Task } from './registry.ts';

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

export interface Split {
  /** n × 28 × 28 grayscale pixels, uint8. */
  images: Uint8Array;
  /** n × L labels (0/1 for binary and multi-label; class index in column 0 for multi-class). */
  labels: Uint8Array;
  n: number;
}

export interface MedMnistData {
  path: string;
  name: string;
  task: Task;
  labelNames: string[];
  /** Columns of the label arrays: 1 for binary and multi-class, L for multi-label. */
  labelColumns: number;
  /** Model outputs: 1 for binary, L otherwise. */
  outputs: number;
  train: Split;
  val: Split;
  test: Split;
}

function splitOf(arrays: Record<string, NpyArray>, split: 'train' | 'val' | 'test', spec: DatasetSpec, file: string): Split {
  const img = arrays[`${split}_images`];
  const lab = arrays[`${split}_labels`];
  if (!img || !lab) throw new DatasetError(`${file}: missing ${split}_images or ${split}_labels`);
  if (img.dtype !== '|u1') throw new DatasetError(`${file}: ${split}_images has dtype ${img.dtype}, expected uint8`);
  if (img.shape.length !== 3 || img.shape[1] !== 28 || img.shape[2] !== 28) {
    throw new DatasetError(`${file}: ${split}_images has shape (${img.shape.join(', ')}), expected (N, 28, 28)`);
  }
  const n = img.shape[0]!;
  const cols = spec.task === 'multi-label' ? spec.labels.length : 1;
  if (lab.shape.length !== 2 || lab.shape[0] !== n || lab.shape[1] !== cols) {
    throw new DatasetError(`${file}: ${split}_labels has shape (${lab.shape.join(', ')}), expected (${n}, ${cols}) for ${spec.name}`);
  }
  const labels = new Uint8Array(n * cols);
  const max = spec.task === 'multi-class' ? spec.labels.length - 1 : 1;
  for (let i = 0; i < labels.length; i++) {
    const v = Number(lab.data[i]);
    if (!Number.isInteger(v) || v < 0 || v > max) throw new DatasetError(`${file}: ${split}_labels holds ${v}, outside 0..${max}`);
    labels[i] = v;
  }
  if (n === 0) throw new DatasetError(`${file}: ${split} split is empty`);
  return { images: img.data as Uint8Array, labels, n };
}

/** Reads a MedMNIST .npz; the dataset (task, labels) comes from `name` or the file name. */
export async function loadMedMnist(path: string, name?: string): Promise<MedMnistData> {
  const file = basename(path);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DatasetError(`${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code})`}`);
  }
  const spec = name ? DATASETS[name] : specForPath(path);
  if (!spec) {
    throw new DatasetError(`${file}: unknown MedMNIST dataset; name the file <dataset>.npz (one of ${Object.keys(DATASETS).join(', ')}) or pass the dataset name`);
  }
  let arrays: Record<string, NpyArray>;
  try {
    arrays = readNpz(bytes, file);
  } catch (err) {
    if (err instanceof NpzError) throw new DatasetError(err.message);
    throw err;
  }
  const train = splitOf(arrays, 'train', spec, file);
  const val = splitOf(arrays, 'val', spec, file);
  const test = splitOf(arrays, 'test', spec, file);
  return {
    path,
    name: spec.name,
    task: spec.task,
    labelNames: spec.labels,
    labelColumns: spec.task === 'multi-label' ? spec.labels.length : 1,
    outputs: spec.task === 'binary' ? 1 : spec.labels.length,
    train,
    val,
    test,
  };
}
