// Node state on disk (level): JSON records and binary blobs under string keys, atomic batches
// (the KeyValueStore the round logic persists through).
import { Level } from 'level';
import type { BatchOp, KeyValueStore } from '../runtime/kv-store.ts';

export type { BatchOp } from '../runtime/kv-store.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Store implements KeyValueStore {
  private readonly db: Level<string, Uint8Array>;
  constructor(readonly path: string) {
    this.db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
  }
  async open(): Promise<void> {
    try {
      await this.db.open();
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      throw new Error(`cannot open the node database at ${this.path}: ${cause} (is another flnode using this directory?)`);
    }
  }
  close(): Promise<void> {
    return this.db.close();
  }
  async get<T>(key: string): Promise<T | undefined> {
    const v = await this.db.get(key);
    return v === undefined ? undefined : (JSON.parse(dec.decode(v)) as T);
  }
  async getBytes(key: string): Promise<Uint8Array | undefined> {
    return (await this.db.get(key)) ?? undefined;
  }
  async batch(ops: BatchOp[]): Promise<void> {
    await this.db.batch(
      ops.map((op) =>
        op.type === 'del' ? { type: 'del' as const, key: op.key } : { type: 'put' as const, key: op.key, value: op.type === 'putBytes' ? op.value : enc.encode(JSON.stringify(op.value)) },
      ),
    );
  }
  put(key: string, value: unknown): Promise<void> {
    return this.batch([{ type: 'put', key, value }]);
  }
  putBytes(key: string, value: Uint8Array): Promise<void> {
    return this.batch([{ type: 'putBytes', key, value }]);
  }
  async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const k of this.db.keys({ gte: prefix, lt: prefix + '\xff' })) out.push(k);
    return out;
  }
  async delPrefix(prefix: string): Promise<void> {
    const ks = await this.keys(prefix);
    if (ks.length) await this.batch(ks.map((key) => ({ type: 'del' as const, key })));
  }
}

export const f32bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
export const bytesF32 = (b: Uint8Array): Float32Array => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
export const u32bytes = (a: Uint32Array): Uint8Array => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
export const bytesU32 = (b: Uint8Array): Uint32Array => new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
