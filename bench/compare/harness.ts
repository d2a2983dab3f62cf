// The federation every mode runs: the same sites (partitions), initial model, seeds, rounds and
// local epochs; only the protection of the updates differs.
import { seededRandom } from '../../node/training/index.ts';
import type { Trainer } from '../../node/types.ts';
import { since, zeroTimes, type PhaseTimes, type ProtectionMode, type SiteUpdate } from './types.ts';

export interface ModeResult {
  mode: string;
  description: string;
  test_auc: number;
  test_acc: number;
  /** Per-round means (seconds per round). */
  train_s: number;
  protect_s: number;
  communicate_s: number;
  aggregate_s: number;
  unmask_s: number;
  unprotect_s: number;
  bytes_per_site: number;
  extrapolated: boolean;
  auc_per_round: number[];
  notes: string[];
  /** max |decoded − float FedAvg| over coordinates and rounds, for the same updates. */
  max_abs_error: number;
}

export interface FederationOptions {
  sites: readonly Trainer[];
  rounds: number;
  seed: number;
  /** Initial global weights (the same for every mode). */
  initial: Float32Array;
  progress?: (msg: string) => void;
}

export async function runFederation(mode: ProtectionMode, opts: FederationOptions): Promise<ModeResult> {
  const say = opts.progress ?? (() => {});
  const global = Float32Array.from(opts.initial);
  const tally = new RoundTally();
  let train = 0;
  const aucs: number[] = [];
  let last = { auc: 0, acc: 0 };
  for (let r = 1; r <= opts.rounds; r++) {
    const updates: SiteUpdate[] = [];
    for (const [k, site] of opts.sites.entries()) {
      site.setWeights(global);
      const res = await site.trainLocal({ seed: opts.seed * 1000 + r * 10 + k });
      train += res.seconds / opts.sites.length; // sites train in parallel: the mean is the round's share
      updates.push({ id: `site-${k}`, delta: res.delta, samples: res.samples });
    }
    const { out, wall } = await tally.aggregate(mode, updates, r);
    for (let i = 0; i < global.length; i++) global[i] += out.aggregate[i]!;
    opts.sites[0]!.setWeights(global);
    last = await opts.sites[0]!.evaluate('test');
    aucs.push(last.auc);
    say(`${mode.name} round ${r}/${opts.rounds}: test AUC ${last.auc.toFixed(4)} ACC ${last.acc.toFixed(4)}; protect+aggregate+unmask ${costOf(out.times).toFixed(3)} s, in-process wall ${wall.toFixed(2)} s${out.extrapolated ? ' (extrapolated)' : ''}`);
  }
  const R = opts.rounds;
  return {
    mode: mode.name,
    description: mode.describe(),
    test_auc: last.auc,
    test_acc: last.acc,
    train_s: train / R,
    auc_per_round: aucs,
    ...tally.means(R),
  };
}

/** What the comparison ranks modes by: update → plaintext aggregate, without training or transport. */
export function costOf(t: Pick<PhaseTimes, 'protect' | 'aggregate' | 'unmask' | 'unprotect'>): number {
  return t.protect + t.aggregate + t.unmask + t.unprotect;
}

export interface SyntheticOptions {
  /** Parameters per update. */
  d: number;
  sites: number;
  rounds: number;
  seed: number;
  progress?: (msg: string) => void;
}

/** The CNN's per-site train sample counts on PneumoniaMNIST (3 IID sites): the FedAvg weights of synthetic rounds. */
const SYNTHETIC_SAMPLES = [1570, 1569, 1569];

/**
 * Costs only, at a model size without a trainer: each round every site's update is seeded uniform
 * noise in ±0.01 (what masking, encryption and sharing cost does not depend on the values). No
 * model, no AUC (NaN: null in the JSON), train_s 0; the aggregate is still checked against FedAvg.
 */
export async function runSyntheticFederation(mode: ProtectionMode, opts: SyntheticOptions): Promise<ModeResult> {
  const say = opts.progress ?? (() => {});
  const tally = new RoundTally();
  for (let r = 1; r <= opts.rounds; r++) {
    const updates: SiteUpdate[] = [];
    for (let k = 0; k < opts.sites; k++) {
      const rnd = seededRandom(opts.seed * 1000 + r * 10 + k);
      const delta = new Float32Array(opts.d);
      for (let i = 0; i < delta.length; i++) delta[i] = (rnd() - 0.5) * 0.02;
      updates.push({ id: `site-${k}`, delta, samples: SYNTHETIC_SAMPLES[k % SYNTHETIC_SAMPLES.length]! });
    }
    const { out, wall } = await tally.aggregate(mode, updates, r);
    say(`${mode.name} round ${r}/${opts.rounds} (synthetic d = ${opts.d}): protect+aggregate+unmask ${costOf(out.times).toFixed(3)} s, in-process wall ${wall.toFixed(2)} s${out.extrapolated ? ' (extrapolated)' : ''}`);
  }
  const R = opts.rounds;
  return {
    mode: mode.name,
    description: mode.describe(),
    test_auc: NaN,
    test_acc: NaN,
    train_s: 0,
    auc_per_round: [],
    ...tally.means(R),
  };
}

/** max_i |a_i − Σ_k w_k·u_k,i| with the FedAvg float64 reference. */
export function maxDeviation(a: Float32Array, updates: readonly SiteUpdate[]): number {
  const total = updates.reduce((s, u) => s + u.samples, 0);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    let ref = 0;
    for (const u of updates) ref += (u.samples / total) * u.delta[i]!;
    m = Math.max(m, Math.abs(a[i]! - ref));
  }
  return m;
}

/** What every round of one mode adds up: phase times, bytes, extrapolation, notes and the worst deviation from FedAvg. */
class RoundTally {
  private readonly sum: PhaseTimes = zeroTimes();
  private bytes = 0;
  private extrapolated = false;
  private maxErr = 0;
  private readonly notes = new Set<string>();

  /** One round's aggregation through `mode`, checked against the FedAvg of `updates`. */
  async aggregate(mode: ProtectionMode, updates: SiteUpdate[], r: number): Promise<{ out: Awaited<ReturnType<ProtectionMode['aggregate']>>; wall: number }> {
    const t = performance.now();
    const out = await mode.aggregate(updates, r);
    const wall = since(t);
    this.maxErr = Math.max(this.maxErr, maxDeviation(out.aggregate, updates));
    for (const k of Object.keys(this.sum) as (keyof PhaseTimes)[]) this.sum[k] += out.times[k];
    this.bytes += out.bytesPerSite;
    this.extrapolated ||= out.extrapolated;
    if (out.note) this.notes.add(out.note);
    return { out, wall };
  }

  /** The per-round means over R rounds, in the result schema. */
  means(R: number) {
    const { sum } = this;
    return {
      protect_s: sum.protect / R,
      communicate_s: sum.communicate / R,
      aggregate_s: sum.aggregate / R,
      unmask_s: sum.unmask / R,
      unprotect_s: sum.unprotect / R,
      bytes_per_site: Math.round(this.bytes / R),
      extrapolated: this.extrapolated,
      notes: [...this.notes],
      max_abs_error: this.maxErr,
    };
  }
}

