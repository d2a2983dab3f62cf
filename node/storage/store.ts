// Node state on disk (level): JSON records and binary blobs under string keys, atomic batches
// (the KeyValueStore the round logic persists through).
//
// Erasure on disk (PROTOCOL.md §8): a LevelDB delete only writes a tombstone, and the old bytes
// stay in the log and table files until a compaction that may never reach them. So every value
// under `round/<r>/` (secrets, shares, dealings, the plaintext update, cryptograms) is stored
// encrypted (AES-256-GCM) under a key of its own round, kept in a separate 0600 file; when the last
// value of round r is deleted (at commit), that file is unlinked and what LevelDB still holds of
// the round is ciphertext without a key.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import type { BatchOp, KeyValueStore } from '../runtime/kv-store.ts';

export type { BatchOp } from '../runtime/kv-store.ts';

/** Keys under this prefix are round data, erased at commit (node/rounds/round-store.ts). */
const ERASED_PREFIX = 'round/';
const roundOf = (key: string): string | null => (key.startsWith(ERASED_PREFIX) ? key.split('/')[1]! : null);
const enc = new TextEncoder();
const dec = new TextDecoder();

export class Store implements KeyValueStore {
  private readonly db: Level<string, Uint8Array>;
  private readonly keyDir: string;
  private readonly roundKeys = new Map<string, Buffer>();
  constructor(readonly path: string) {
    this.db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
    this.keyDir = `${path}.round-keys`;
  }

  /** Round r's value key: read from its file, or made (0600) when `create`. */
  private roundKey(round: string, create: boolean): Buffer | null {
    const cached = this.roundKeys.get(round);
    if (cached) return cached;
    const file = join(this.keyDir, `${round}.key`);
    let key: Buffer | null = null;
    try {
      key = readFileSync(file);
    } catch {
      if (!create) return null;
      mkdirSync(this.keyDir, { recursive: true, mode: 0o700 });
      key = randomBytes(32);
      writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
    }
    this.roundKeys.set(round, key);
    return key;
  }
  private seal(dbKey: string, value: Uint8Array): Uint8Array {
    const round = roundOf(dbKey);
    if (round === null) return value;
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.roundKey(round, true)!, nonce);
    c.setAAD(Buffer.from(dbKey));
    return Buffer.concat([nonce, c.update(value), c.final(), c.getAuthTag()]);
  }
  private open_(dbKey: string, stored: Uint8Array | undefined): Uint8Array | undefined {
    const round = stored === undefined ? null : roundOf(dbKey);
    if (round === null) return stored;
    const key = this.roundKey(round, false);
    if (!key) return undefined; // the round's key is gone: its data are erased
    const b = Buffer.from(stored!);
    const d = createDecipheriv('aes-256-gcm', key, b.subarray(0, 12));
    d.setAAD(Buffer.from(dbKey));
    d.setAuthTag(b.subarray(b.length - 16));
    return Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]);
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
    const v = this.open_(key, (await this.db.get(key)) ?? undefined);
    return v === undefined ? undefined : (JSON.parse(dec.decode(v)) as T);
  }
  async getBytes(key: string): Promise<Uint8Array | undefined> {
    return this.open_(key, (await this.db.get(key)) ?? undefined);
  }
  async batch(ops: BatchOp[]): Promise<void> {
    await this.db.batch(
      ops.map((op) =>
        op.type === 'del' ? { type: 'del' as const, key: op.key } : { type: 'put' as const, key: op.key, value: this.seal(op.key, op.type === 'putBytes' ? op.value : enc.encode(JSON.stringify(op.value))) },
      ),
    );
    // a round with no value left: its key goes (what LevelDB's files still hold of it is ciphertext)
    for (const round of new Set(ops.filter((op) => op.type === 'del').map((op) => roundOf(op.key)))) {
      if (round === null || (await this.keys(`${ERASED_PREFIX}${round}/`)).length) continue;
      this.roundKeys.delete(round);
      try {
        unlinkSync(join(this.keyDir, `${round}.key`));
      } catch {
        /* never created */
      }
    }
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
