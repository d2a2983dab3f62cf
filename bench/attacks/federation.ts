// The attacked federation: 3 sites of PneumoniaMNIST split by Dirichlet(α) over labels (the split
// createTrainer makes), FedAvg rounds with flnode's trainer, and for each round both what an
// aggregator sees without protection (each site's float update) and in flnode (each site's
// cryptogram, built by the protocol library, and the decoded aggregate).
import { buildCryptogram, decodeAggregate, generateEphemeralKeyPair, sumCryptograms, type AttemptParams } from '../../protocol/index.ts';
import type { MedMnistData, Split } from '../../node/training/dataset.ts';
import { partitionClasses, partitionIndices } from '../../node/training/partition.ts';
import { TfjsTrainer, type TrainingPlan } from '../../node/training/trainer.ts';

/** createTrainer's partition seed: every site computes the same split. */
export const PARTITION_SEED = 20260101;

export function subset(split: Split, indices: readonly number[]): Split {
  const images = new Uint8Array(indices.length * 784);
  const labels = new Uint8Array(indices.length);
  indices.forEach((src, i) => {
    images.set(split.images.subarray(src * 784, src * 784 + 784), i * 784);
    labels[i] = split.labels[src]!;
  });
  return { images, labels, n: indices.length };
}

export const positiveFraction = (s: Split): number => s.labels.reduce((a, b) => a + b, 0) / s.n;

/** Each site's training split (Dirichlet α over labels), optionally capped to its first `cap` images. */
export function siteSplits(data: MedMnistData, sites: number, alpha: number, cap?: number): Split[] {
  const classes = partitionClasses(data.train.labels, data.labelColumns, false);
  return partitionIndices(classes, { sites, scheme: { kind: 'dirichlet', alpha }, seed: PARTITION_SEED }).map((idx) =>
    subset(data.train, cap === undefined ? idx : idx.slice(0, cap)),
  );
}

export function trainerFor(backend: string, data: MedMnistData, train: Split, plan: TrainingPlan, seed: number): TfjsTrainer {
  return new TfjsTrainer(backend, data, train, { val: data.val, test: data.test }, plan, seed);
}

export interface Protected {
  cryptograms: Uint32Array[];
  /** The decoded sum of the cryptograms: the sample-weighted FedAvg delta (clipped). */
  aggregate: Float32Array;
  params: AttemptParams;
}

/** What flnode puts on the wire for these updates: one cryptogram per site, and their decoded sum. */
export function protect(updates: readonly Float32Array[], samples: readonly number[], clip: number, round: number): Protected {
  const keys = updates.map(() => generateEphemeralKeyPair());
  const params: AttemptParams = {
    consortium: 'attacks-bench',
    round,
    attempt: 0,
    clip,
    participants: updates.map((_, i) => ({ id: `site-${i}`, publicKey: keys[i]!.publicKey, samples: samples[i]! })),
  };
  const cryptograms = updates.map((u, i) => buildCryptogram(params, { id: `site-${i}`, secretKey: keys[i]!.secretKey }, u));
  return { cryptograms, aggregate: decodeAggregate(sumCryptograms(cryptograms), params), params };
}

/** Plain FedAvg of the updates with the same per-coordinate clip of w·u that flnode's encoder applies. */
export function plainFedAvg(updates: readonly Float32Array[], samples: readonly number[], clip: number): Float32Array {
  const total = samples.reduce((a, b) => a + b, 0);
  const out = new Float32Array(updates[0]!.length);
  updates.forEach((u, k) => {
    const w = samples[k]! / total;
    for (let i = 0; i < out.length; i++) out[i] += Math.max(-clip, Math.min(clip, w * u[i]!));
  });
  return out;
}

/**
 * A cryptogram as the aggregator would read it alone: dequantized like an aggregate and divided
 * by the site's FedAvg weight, i.e. "the update it would be if the masks were absent".
 */
export function cryptogramAsUpdate(c: Uint32Array, p: Protected, site: number): Float32Array {
  const total = p.params.participants.reduce((a, q) => a + q.samples, 0);
  const w = p.params.participants[site]!.samples / total;
  const d = decodeAggregate(c, p.params);
  for (let i = 0; i < d.length; i++) d[i] = d[i]! / w;
  return d;
}

export function addInto(a: Float32Array, b: Float32Array, scale = 1): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + scale * b[i]!;
  return out;
}

export interface RoundRecord {
  round: number;
  /** Global weights at the start of the round. */
  global: Float32Array;
  /** Each site's local update (what a plain aggregator receives). */
  updates: Float32Array[];
  samples: number[];
  protected: Protected;
  /** max |decoded aggregate − plain clipped FedAvg| over coordinates. */
  aggregateError: number;
}

export interface FederationOptions {
  data: MedMnistData;
  backend: string;
  sites: Split[];
  plan: TrainingPlan;
  seed: number;
  rounds: number;
  clip: number;
  /** Replaces site `site`'s honest update by a crafted one (poisoning); null = honest. */
  malicious?: { site: number; craft: (honest: Float32Array, round: number, global: Float32Array) => Promise<Float32Array> | Float32Array };
  /** Use the cryptogram aggregate (flnode) or the plain clipped FedAvg to advance the model. */
  mode: 'cryptogram' | 'plain';
  /** Global weights to start from (default: the seed's initial model). */
  initial?: Float32Array;
  onRound?: (r: RoundRecord, next: Float32Array) => Promise<void> | void;
}

/** Runs FedAvg rounds; returns the final global weights. Site k's trainer uses seed·10 + k. */
export async function runFederation(o: FederationOptions): Promise<Float32Array> {
  const trainers = o.sites.map((s) => trainerFor(o.backend, o.data, s, o.plan, o.seed));
  let global = o.initial ?? trainers[0]!.getWeights(); // every site starts from the same global model
  try {
    for (let r = 0; r < o.rounds; r++) {
      const updates: Float32Array[] = [];
      for (let k = 0; k < trainers.length; k++) {
        trainers[k]!.setWeights(global);
        const { delta } = await trainers[k]!.trainLocal({ seed: o.seed * 1000 + r * 10 + k });
        updates.push(o.malicious?.site === k ? await o.malicious.craft(delta, r, global) : delta);
      }
      const samples = o.sites.map((s) => s.n);
      const prot = protect(updates, samples, o.clip, r);
      const plain = plainFedAvg(updates, samples, o.clip);
      let err = 0;
      for (let i = 0; i < plain.length; i++) err = Math.max(err, Math.abs(plain[i]! - prot.aggregate[i]!));
      const next = addInto(global, o.mode === 'cryptogram' ? prot.aggregate : plain);
      await o.onRound?.({ round: r, global, updates, samples, protected: prot, aggregateError: err }, next);
      global = next;
    }
  } finally {
    trainers.forEach((t) => t.dispose());
  }
  return global;
}
