// The attacked federation: 3 sites of PneumoniaMNIST split by Dirichlet(α) over labels (the split
// createTrainer makes), FedAvg rounds with flnode's trainer, and for each round both what an
// aggregator sees without protection (each site's float update) and in flnode (each site's
// protocol v2 cryptogram, built by the protocol library, and the unmasked, decoded aggregate).
import { attemptScaleV2, buildCryptogramV2, decodeAggregateOverU3, defaultThreshold, dequantize, generateRoundSecrets, unmaskAggregate, weightOverU2, type AttemptV2 } from '../../protocol/index.ts';
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
  /** The unmasked, decoded sum of the cryptograms: the sample-weighted FedAvg delta (clipped). */
  aggregate: Float32Array;
  /** The attempt (U2 = every site, site k is `site-k`); every site stays in U3. */
  attempt: AttemptV2;
}

const siteId = (k: number) => `site-${k}`;

/**
 * What flnode puts on the wire for these updates: one protocol v2 cryptogram per site (self mask
 * plus pairwise masks over U2), and the aggregate as members unmask it once every site is in U3.
 */
export function protect(updates: readonly Float32Array[], samples: readonly number[], clip: number, round: number): Protected {
  const secrets = updates.map(() => generateRoundSecrets());
  const ids = updates.map((_, k) => siteId(k));
  const attempt: AttemptV2 = {
    consortium: 'attacks-bench',
    round,
    attempt: 0,
    clip,
    threshold: defaultThreshold(updates.length),
    u2: ids.map((id, k) => ({ id, sPublic: secrets[k]!.sPublic, samples: samples[k]! })),
  };
  const cryptograms = updates.map((u, k) => buildCryptogramV2(attempt, { id: ids[k]!, ...secrets[k]! }, u));
  const unmasked = unmaskAggregate(attempt, ids, new Map(ids.map((id, k) => [id, cryptograms[k]!])), new Map(ids.map((id, k) => [id, secrets[k]!.selfSeed])), new Map());
  return { cryptograms, aggregate: decodeAggregateOverU3(attempt, ids, unmasked), attempt };
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
  const w = weightOverU2(p.attempt, siteId(site));
  const d = dequantize(c, attemptScaleV2(p.attempt));
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
