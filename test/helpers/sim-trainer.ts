// A tiny deterministic Trainer for the simulation: a Float32Array model that every site builds
// from the same seed (so version 0 agrees), and a local "training" step that moves the weights part
// of the way towards a site-specific target, plus noise drawn from the seed the engine passes.
// Training takes virtual time on the site's clock (a crashed site never finishes). Every update
// handed to the engine is written to a ledger, keyed by site and base model hash, so the checker
// can recompute the FedAvg a committed model should be.
import { createHash } from 'node:crypto';
import type { Clock } from '../../node/runtime/clock.ts';
import type { LocalTrainResult, Trainer } from '../../node/types.ts';
import { Rng } from './sim-rng.ts';

export const modelHash = (w: Float32Array): string => createHash('sha256').update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).digest('hex');

/** The weights every site starts from. */
export function initialWeights(parameters: number, modelSeed: number): Float32Array {
  const r = new Rng(modelSeed);
  return new Float32Array(parameters).map(() => r.next() - 0.5);
}

/** The point site `index` pulls the model towards. */
export function siteTarget(parameters: number, index: number): Float32Array {
  return new Float32Array(parameters).map((_, k) => 0.5 * Math.sin(0.37 * k + 1.3 * index));
}

export interface LedgerEntry {
  delta: Float32Array;
  samples: number;
  /** The engine's training seed (it depends on the round). */
  seed?: number;
}

/** Updates the sites produced, by `${site}/${baseHash}`: the latest one. Two rounds train on one
 * base model only after a void (the voided round's model is its base): a new seed replaces the entry. */
export class UpdateLedger {
  private readonly entries = new Map<string, LedgerEntry>();
  record(site: string, baseHash: string, entry: LedgerEntry): void {
    const key = `${site}/${baseHash}`;
    const prev = this.entries.get(key);
    if (prev && prev.seed === entry.seed && (prev.samples !== entry.samples || modelHash(prev.delta) !== modelHash(entry.delta))) {
      throw new Error(`sim trainer is not deterministic: two different updates of ${site} on ${baseHash.slice(0, 8)}`);
    }
    this.entries.set(key, entry);
  }
  get size(): number {
    return this.entries.size;
  }
  get(site: string, baseHash: string): LedgerEntry | undefined {
    return this.entries.get(`${site}/${baseHash}`);
  }
}

export interface SimTrainerOptions {
  site: string;
  index: number;
  parameters: number;
  samples: number;
  modelSeed: number;
  clock: Clock;
  /** Virtual training time is drawn from [min, max] ms by the engine's training seed. */
  trainMs: readonly [number, number];
  ledger: UpdateLedger;
}

export function simTrainer(o: SimTrainerOptions): Trainer {
  let w = initialWeights(o.parameters, o.modelSeed);
  const target = siteTarget(o.parameters, o.index);
  return {
    dataset: 'sim',
    task: 'binary',
    backend: 'none',
    parameterCount: o.parameters,
    trainSamples: o.samples,
    getWeights: () => w.slice(),
    setWeights: (x) => void (w = x.slice()),
    async trainLocal({ seed, keep }): Promise<LocalTrainResult> {
      const base = w.slice();
      const r = new Rng(seed);
      const ms = r.int(o.trainMs[0], o.trainMs[1]);
      await new Promise<void>((resolve) => o.clock.setTimeout(resolve, ms));
      const delta = new Float32Array(o.parameters);
      for (let k = 0; k < delta.length; k++) delta[k] = 0.3 * (target[k]! - base[k]!) + 0.02 * (r.next() - 0.5);
      o.ledger.record(o.site, modelHash(base), { delta, samples: o.samples, seed });
      if (keep) w = base.map((x, k) => x + delta[k]!);
      return { delta, samples: o.samples, seconds: ms / 1000, loss: meanSquare(base, target) };
    },
    evaluate: async () => {
      const loss = meanSquare(w, target);
      return { auc: 1 / (1 + loss), acc: 1 / (1 + loss), loss };
    },
    exportModel: async () => ({ modelJson: '{}', weights: new Uint8Array(w.buffer.slice(0)) }),
    dispose: () => undefined,
  };
}

function meanSquare(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += (a[k]! - b[k]!) ** 2;
  return s / a.length;
}
