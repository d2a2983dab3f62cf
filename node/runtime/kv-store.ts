// The key-value store interface the round logic persists through: JSON records and binary blobs
// under string keys, applied in atomic batches. `node/storage/store.ts` implements it on level;
// MemoryStore below is the in-process implementation used by the deterministic simulation and by
// engine-level tests (it survives a simulated crash because the simulation keeps the object).

export type BatchOp = { type: 'put'; key: string; value: unknown } | { type: 'putBytes'; key: string; value: Uint8Array } | { type: 'del'; key: string };

export interface KeyValueStore {
  get<T>(key: string): Promise<T | undefined>;
  getBytes(key: string): Promise<Uint8Array | undefined>;
  /** Applies all operations atomically, in order. */
  batch(ops: BatchOp[]): Promise<void>;
  put(key: string, value: unknown): Promise<void>;
  putBytes(key: string, value: Uint8Array): Promise<void>;
  /** Keys starting with `prefix`, in ascending (UTF-16 code unit) order. */
  keys(prefix: string): Promise<string[]>;
  delPrefix(prefix: string): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Values are stored as bytes (JSON-encoded records), exactly as level stores them, so a test that
 * scans a MemoryStore sees what a disk scan would. */
export class MemoryStore implements KeyValueStore {
  readonly data = new Map<string, Uint8Array>();

  async get<T>(key: string): Promise<T | undefined> {
    const v = this.data.get(key);
    return v === undefined ? undefined : (JSON.parse(dec.decode(v)) as T);
  }
  async getBytes(key: string): Promise<Uint8Array | undefined> {
    const v = this.data.get(key);
    return v === undefined ? undefined : v.slice();
  }
  async batch(ops: BatchOp[]): Promise<void> {
    for (const op of ops) {
      if (op.type === 'del') this.data.delete(op.key);
      else this.data.set(op.key, op.type === 'putBytes' ? op.value.slice() : enc.encode(JSON.stringify(op.value)));
    }
  }
  put(key: string, value: unknown): Promise<void> {
    return this.batch([{ type: 'put', key, value }]);
  }
  putBytes(key: string, value: Uint8Array): Promise<void> {
    return this.batch([{ type: 'putBytes', key, value }]);
  }
  async keys(prefix: string): Promise<string[]> {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  async delPrefix(prefix: string): Promise<void> {
    for (const k of await this.keys(prefix)) this.data.delete(k);
  }
}
