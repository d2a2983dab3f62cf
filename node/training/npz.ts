// Reading NumPy .npz files: a zip (stored or deflated entries, via fflate) of .npy arrays.
import { unzipSync } from 'fflate';

export interface NpyArray {
  dtype: string;
  shape: number[];
  data: Uint8Array | Int32Array | Float32Array | Float64Array | BigInt64Array;
}

export class NpzError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NpzError';
  }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function parseNpy(bytes: Uint8Array, name: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new NpzError(`${name} is not a .npy array`);
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw new NpzError(`${name}: truncated header`);
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new NpzError(`${name}: unreadable header`);
  if (fortran === 'True') throw new NpzError(`${name}: Fortran-ordered arrays are not supported`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((n) => !Number.isInteger(n) || n < 0)) throw new NpzError(`${name}: bad shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = bytes.subarray(start + headerLen);
  const sizes: Record<string, number> = { '|u1': 1, '<u1': 1, '|b1': 1, '<i4': 4, '<f4': 4, '<f8': 8, '<i8': 8 };
  const size = sizes[descr];
  if (!size) throw new NpzError(`${name}: unsupported dtype ${descr}`);
  if (body.length < count * size) throw new NpzError(`${name}: truncated data (${body.length} of ${count * size} bytes)`);
  const raw = body.slice(0, count * size);
  let data: NpyArray['data'];
  switch (descr) {
    case '<i4': data = new Int32Array(raw.buffer); break;
    case '<f4': data = new Float32Array(raw.buffer); break;
    case '<f8': data = new Float64Array(raw.buffer); break;
    case '<i8': data = new BigInt64Array(raw.buffer); break;
    default: data = raw;
  }
  return { dtype: descr, shape, data };
}

export function readNpz(bytes: Uint8Array, name: string): Record<string, NpyArray> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (err) {
    throw new NpzError(`${name} is not a readable .npz (zip) file: ${(err as Error).message}`);
  }
  const out: Record<string, NpyArray> = {};
  for (const [entry, data] of Object.entries(entries)) {
    const key = entry.replace(/\.npy$/, '');
    out[key] = parseNpy(data, `${name}:${entry}`);
  }
  return out;
}

/** Writes arrays as an .npz (used by tests and tools to create MedMNIST-layout files). */
export function npyBytes(arr: { dtype: '|u1' | '<f4'; shape: number[]; data: Uint8Array | Float32Array }): Uint8Array {
  let header = `{'descr': '${arr.dtype}', 'fortran_order': False, 'shape': (${arr.shape.join(', ')}${arr.shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(10 + h.length + arr.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, h.length, true);
  out.set(h, 10);
  out.set(new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength), 10 + h.length);
  return out;
}
