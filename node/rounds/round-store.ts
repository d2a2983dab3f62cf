// Everything the round logic persists, under which key (node/rounds/README.md §11). Writes that
// must survive a crash together are one batch. The store itself is injected (level in production).
import type { KeyValueStore } from '../runtime/kv-store.ts';
import { bytesF32, bytesU32, f32bytes, u32bytes } from '../storage/store.ts';
import type { RoundSummary } from '../types.ts';
import type { GlobalModel, RoundState } from './state.ts';

export const modelKey = (v: number): string => `model/${String(v).padStart(8, '0')}`;
const summaryKey = (r: number): string => `summary/${String(r).padStart(8, '0')}`;

/** This node's ephemeral X25519 key for (r, a) and the sample count it announced with it. */
export interface StoredKey {
  secret: string;
  public: string;
  samples: number;
}

export class RoundStore {
  constructor(private readonly kv: KeyValueStore) {}

  // ---- the global model and round history
  async loadGlobal(): Promise<{ global: GlobalModel; weights: Float32Array } | null> {
    const global = await this.kv.get<GlobalModel>('global');
    if (!global) return null;
    return { global, weights: bytesF32((await this.kv.getBytes(modelKey(global.version)))!) };
  }
  async model(version: number): Promise<Float32Array | undefined> {
    const b = await this.kv.getBytes(modelKey(version));
    return b ? bytesF32(b) : undefined;
  }
  async summaries(): Promise<RoundSummary[]> {
    const out: RoundSummary[] = [];
    for (const k of await this.kv.keys('summary/')) out.push((await this.kv.get<RoundSummary>(k))!);
    return out;
  }
  /** Model version `global.version`, the global pointer and (if any) the round's summary, atomically; then the round's received cryptograms go. */
  async commitModel(global: GlobalModel, weights: Float32Array, summary: RoundSummary | null): Promise<void> {
    await this.kv.batch([
      { type: 'putBytes', key: modelKey(global.version), value: f32bytes(weights) },
      { type: 'put', key: 'global', value: global },
      ...(summary ? [{ type: 'put' as const, key: summaryKey(global.version), value: summary }] : []),
    ]);
    await this.kv.delPrefix(`recv/${global.version}/`);
    await this.kv.delPrefix(`peerkeys/${global.version}/`);
  }

  // ---- the round record
  loadState(): Promise<RoundState | undefined> {
    return this.kv.get<RoundState>('state');
  }
  saveState(s: RoundState): Promise<void> {
    return this.kv.put('state', s);
  }

  // ---- this node's contribution
  async update(r: number): Promise<{ delta: Float32Array; samples: number; uploaded: boolean } | null> {
    const u = await this.kv.getBytes(`update/${r}`);
    const meta = await this.kv.get<{ samples: number; uploaded?: boolean }>(`updatemeta/${r}`);
    return u && meta ? { delta: bytesF32(u), samples: meta.samples, uploaded: meta.uploaded === true } : null;
  }
  /** Round r's update; one made from uploaded weights consumes them in the same batch, so a crash
   * can neither lose the upload nor use it twice. */
  saveUpdate(r: number, delta: Float32Array, samples: number, uploaded = false): Promise<void> {
    return this.kv.batch([
      { type: 'putBytes', key: `update/${r}`, value: f32bytes(delta) },
      { type: 'put', key: `updatemeta/${r}`, value: uploaded ? { samples, uploaded } : { samples } },
      ...(uploaded ? [{ type: 'del' as const, key: 'external-weights' }] : []),
    ]);
  }
  async externalWeights(): Promise<Float32Array | null> {
    const b = await this.kv.getBytes('external-weights');
    return b ? bytesF32(b) : null;
  }
  saveExternalWeights(w: Float32Array): Promise<void> {
    return this.kv.putBytes('external-weights', f32bytes(w));
  }
  key(r: number, a: number): Promise<StoredKey | undefined> {
    return this.kv.get<StoredKey>(`keys/${r}/${a}`);
  }
  saveKey(r: number, a: number, key: StoredKey): Promise<void> {
    return this.kv.put(`keys/${r}/${a}`, key);
  }
  async ownCryptogram(r: number, a: number): Promise<Uint32Array | undefined> {
    const b = await this.kv.getBytes(`crypt/${r}/${a}`);
    return b ? bytesU32(b) : undefined;
  }
  saveOwnCryptogram(r: number, a: number, c: Uint32Array): Promise<void> {
    return this.kv.putBytes(`crypt/${r}/${a}`, u32bytes(c));
  }

  // ---- the other members' key announcements of round r (a restarted aggregator needs them to decode)
  async peerKeys(r: number): Promise<{ attempt: number; sender: string; publicKey: string; samples: number }[]> {
    const out = [];
    for (const k of await this.kv.keys(`peerkeys/${r}/`)) out.push((await this.kv.get<{ attempt: number; sender: string; publicKey: string; samples: number }>(k))!);
    return out;
  }
  savePeerKey(r: number, attempt: number, sender: string, publicKey: string, samples: number): Promise<void> {
    return this.kv.put(`peerkeys/${r}/${attempt}/${sender}`, { attempt, sender, publicKey, samples });
  }

  // ---- cryptograms received in round r, keyed `${attempt}/${sender}`
  async received(r: number): Promise<Map<string, Uint32Array>> {
    const out = new Map<string, Uint32Array>();
    for (const k of await this.kv.keys(`recv/${r}/`)) {
      const [, , a, sender] = k.split('/');
      out.set(`${a}/${sender}`, bytesU32((await this.kv.getBytes(k))!));
    }
    return out;
  }
  saveReceived(r: number, id: string, c: Uint32Array): Promise<void> {
    return this.kv.putBytes(`recv/${r}/${id}`, u32bytes(c));
  }
  dropReceived(r: number, id: string): Promise<void> {
    return this.kv.batch([{ type: 'del', key: `recv/${r}/${id}` }]);
  }
}
