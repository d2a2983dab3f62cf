// Everything the round logic persists, under which key (node/rounds/README.md). Everything of round
// r that is secret or private (secrets, shares, dealings, the plaintext update, cryptograms, every
// received round message) lives under `round/<r>/` and is deleted when the round commits
// (erasure, PROTOCOL.md); the model and the round summary stay. The store itself is injected.
import type { KeyValueStore } from '../runtime/kv-store.ts';
import { bytesF32, bytesU32, f32bytes, u32bytes } from '../storage/store.ts';
import type { RoundSummary } from '../types.ts';
import type { GlobalModel, RoundState } from './state.ts';

export const modelKey = (v: number): string => `model/${String(v).padStart(8, '0')}`;
const summaryKey = (r: number): string => `summary/${String(r).padStart(8, '0')}`;
/** The prefix of everything round r keeps until it commits. */
export const roundPrefix = (r: number): string => `round/${String(r).padStart(8, '0')}/`;
const attemptKey = (a: number): string => String(a).padStart(4, '0');

/** This node's secrets for (r, a), hex, and the sample count it announced with them. */
export interface StoredSecrets {
  cSecret: string;
  cPublic: string;
  sSecret: string;
  sPublic: string;
  selfSeed: string;
  samples: number;
}

/** This node's dealing for (r, a): its own shares (kept) and the signed envelope it sends. */
export interface StoredDealing {
  ownS: string;
  ownB: string;
  envelope: string;
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
  /**
   * Model version `global.version`, the global pointer, the round's summary (if any) and the
   * erasure of everything of that round and earlier ones, in one atomic batch.
   */
  async commitModel(global: GlobalModel, weights: Float32Array, summary: RoundSummary | null): Promise<void> {
    await this.kv.batch([
      { type: 'putBytes', key: modelKey(global.version), value: f32bytes(weights) },
      { type: 'put', key: 'global', value: global },
      ...(summary ? [{ type: 'put' as const, key: summaryKey(global.version), value: summary }] : []),
      ...(await this.roundKeysUpTo(global.version)).map((key) => ({ type: 'del' as const, key })),
    ]);
  }
  private async roundKeysUpTo(version: number): Promise<string[]> {
    return (await this.kv.keys('round/')).filter((k) => Number(k.split('/')[1]) <= version);
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
    const u = await this.kv.getBytes(`${roundPrefix(r)}update`);
    const meta = await this.kv.get<{ samples: number; uploaded?: boolean }>(`${roundPrefix(r)}updatemeta`);
    return u && meta ? { delta: bytesF32(u), samples: meta.samples, uploaded: meta.uploaded === true } : null;
  }
  /** Round r's update; one made from uploaded weights consumes them in the same batch, so a crash
   * can neither lose the upload nor use it twice. */
  saveUpdate(r: number, delta: Float32Array, samples: number, uploaded = false): Promise<void> {
    return this.kv.batch([
      { type: 'putBytes', key: `${roundPrefix(r)}update`, value: f32bytes(delta) },
      { type: 'put', key: `${roundPrefix(r)}updatemeta`, value: uploaded ? { samples, uploaded } : { samples } },
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
  secrets(r: number, a: number): Promise<StoredSecrets | undefined> {
    return this.kv.get<StoredSecrets>(`${roundPrefix(r)}secrets/${attemptKey(a)}`);
  }
  saveSecrets(r: number, a: number, s: StoredSecrets): Promise<void> {
    return this.kv.put(`${roundPrefix(r)}secrets/${attemptKey(a)}`, s);
  }
  dealing(r: number, a: number): Promise<StoredDealing | undefined> {
    return this.kv.get<StoredDealing>(`${roundPrefix(r)}dealing/${attemptKey(a)}`);
  }
  saveDealing(r: number, a: number, d: StoredDealing): Promise<void> {
    return this.kv.put(`${roundPrefix(r)}dealing/${attemptKey(a)}`, d);
  }
  async ownCryptogram(r: number, a: number): Promise<Uint32Array | undefined> {
    const b = await this.kv.getBytes(`${roundPrefix(r)}crypt/${attemptKey(a)}`);
    return b ? bytesU32(b) : undefined;
  }
  saveOwnCryptogram(r: number, a: number, c: Uint32Array): Promise<void> {
    return this.kv.putBytes(`${roundPrefix(r)}crypt/${attemptKey(a)}`, u32bytes(c));
  }

  // ---- round messages accepted here (own ones included), replayed after a restart
  async envelopes(r: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (const k of await this.kv.keys(`${roundPrefix(r)}env/`)) out.push((await this.kv.getBytes(k))!);
    return out;
  }
  /** `tag` orders the replay: attempt, then kind (lists before what depends on them). */
  saveEnvelope(r: number, a: number, kind: number, sender: string, bytes: Uint8Array): Promise<void> {
    return this.kv.putBytes(`${roundPrefix(r)}env/${attemptKey(a)}/${String(kind).padStart(2, '0')}/${sender}`, bytes);
  }

  // ---- complete cryptograms received in round r (bound to the U2 this node accepted)
  async received(r: number): Promise<{ attempt: number; sender: string; c: Uint32Array }[]> {
    const out = [];
    for (const k of await this.kv.keys(`${roundPrefix(r)}recv/`)) {
      const [, , , a, sender] = k.split('/');
      out.push({ attempt: Number(a), sender: sender!, c: bytesU32((await this.kv.getBytes(k))!) });
    }
    return out;
  }
  saveReceived(r: number, a: number, sender: string, c: Uint32Array): Promise<void> {
    return this.kv.putBytes(`${roundPrefix(r)}recv/${attemptKey(a)}/${sender}`, u32bytes(c));
  }
  dropReceived(r: number, a: number, sender: string): Promise<void> {
    return this.kv.batch([{ type: 'del', key: `${roundPrefix(r)}recv/${attemptKey(a)}/${sender}` }]);
  }
}
