// The four attacks run against the federation (bench/attacks/main.ts drives them). Each phase
// returns plain rows (seed, round, site, figures) that report.ts summarizes.
import * as tf from '@tensorflow/tfjs';
import type { MedMnistData, Split } from '../../node/training/dataset.ts';
import { rocAuc } from '../../node/training/metrics.ts';
import { seededRandom } from '../../node/training/partition.ts';
import type { TrainingPlan } from '../../node/training/trainer.ts';
import { splitWeights, weightGradient } from './functional.ts';
import { addInto, cryptogramAsUpdate, positiveFraction, protect, runFederation, subset, trainerFor, type RoundRecord } from './federation.ts';
import { inferSingleLabel, invertGradient } from './inversion.ts';
import { estimateFraction, fitShadowRegressor, meanProbability, mixIndices, type ShadowPoint } from './label.ts';
import { calibratedScores, matchedSample, sampleLosses, yeomScores } from './membership.ts';
import { backdoorSplit, boosted, signFlip, stampPatch } from './poisoning.ts';
import { membershipRoc, psnr, ssim } from './stats.ts';

export interface Ctx {
  data: MedMnistData;
  backend: string;
  sites: Split[];
  plan: TrainingPlan;
  say: (s: string) => void;
}

export type View = 'plain' | 'cryptogram' | 'aggregate';

/** Scores a flat weight vector on a split with a scratch trainer (weights are the only state). */
export class Scorer {
  private readonly t;
  constructor(ctx: Ctx) {
    this.t = trainerFor(ctx.backend, ctx.data, ctx.data.val, ctx.plan, 0);
  }
  async probs(weights: Float32Array, split: Split): Promise<Float32Array> {
    this.t.setWeights(weights);
    return this.t.predictScores(split);
  }
  dispose(): void {
    this.t.dispose();
  }
}

export interface LabelRow { seed: number; round: number; site: number; truth: number; plain: number; cryptogram: number; aggregate: number; pooled: number }
export interface MemberRow { seed: number; round: number; site: number; view: View; attack: 'yeom' | 'calibrated'; auc: number; tpr1: number; members: number; epochs: number }

/** Attacks 1 and 2 on every site and round of one seed's federation. */
export async function inferenceAttacks(ctx: Ctx, o: { seed: number; rounds: number; clip: number; shadows: number[] }): Promise<{ label: LabelRow[]; member: MemberRow[]; aggregateError: number }> {
  const scorer = new Scorer(ctx);
  const label: LabelRow[] = [];
  const member: MemberRow[] = [];
  let aggregateError = 0;
  // the attacker's own images: half of the val split to train shadow updates, half to probe
  const half = Math.floor(ctx.data.val.n / 2);
  const pool = subset(ctx.data.val, Array.from({ length: half }, (_, i) => i));
  const probe = subset(ctx.data.val, Array.from({ length: ctx.data.val.n - half }, (_, i) => half + i));
  const truths = ctx.sites.map(positiveFraction);
  const total = ctx.sites.reduce((a, s) => a + s.n, 0);
  const pooled = ctx.sites.reduce((a, s, k) => a + s.n * truths[k]!, 0) / total;
  const rnd = seededRandom(o.seed * 7919 + 1);
  await runFederation({
    ...ctx,
    seed: o.seed,
    rounds: o.rounds,
    clip: o.clip,
    mode: 'cryptogram',
    onRound: async (r: RoundRecord, next: Float32Array) => {
      aggregateError = Math.max(aggregateError, r.aggregateError);
      const feature = async (w: Float32Array) => meanProbability(await scorer.probs(w, probe));
      const aggFeature = await feature(next);
      // shadow curves are shared by sites with the same announced sample count
      const curves = new Map<number, ShadowPoint[]>();
      for (let k = 0; k < ctx.sites.length; k++) {
        // attack 1: shadow updates at known fractions with the site's announced sample count
        const n = r.samples[k]!;
        if (o.shadows.length && !curves.has(n)) {
          const points: ShadowPoint[] = [];
          for (const p of o.shadows) {
            const shadow = subset(pool, mixIndices(pool.labels, n, p, rnd));
            const t = trainerFor(ctx.backend, ctx.data, shadow, ctx.plan, o.seed);
            t.setWeights(r.global);
            const { delta } = await t.trainLocal({ seed: o.seed * 31 + r.round * 7 + k });
            t.dispose();
            points.push({ feature: await feature(addInto(r.global, delta)), fraction: p });
          }
          curves.set(n, points);
        }
        const cryptoUpdate = cryptogramAsUpdate(r.protected.cryptograms[k]!, r.protected, k);
        if (o.shadows.length) {
          const reg = fitShadowRegressor(curves.get(n)!);
          label.push({
            seed: o.seed,
            round: r.round,
            site: k,
            truth: truths[k]!,
            plain: estimateFraction(reg, await feature(addInto(r.global, r.updates[k]!))),
            cryptogram: estimateFraction(reg, await feature(addInto(r.global, cryptoUpdate))),
            aggregate: estimateFraction(reg, aggFeature),
            pooled,
          });
          ctx.say(`  seed ${o.seed} round ${r.round + 1} site ${k}: fraction ${truths[k]!.toFixed(3)}, plain estimate ${label.at(-1)!.plain.toFixed(3)}, from aggregate ${label.at(-1)!.aggregate.toFixed(3)}`);
        }
        // attack 2: membership of the site's training images against label-matched test images
        const { members, nonMembers } = matchedSample(ctx.sites[k]!.labels, ctx.data.test.labels, 150, rnd);
        const a = subset(ctx.sites[k]!, members);
        const b = subset(ctx.data.test, nonMembers);
        const both: Split = { images: new Uint8Array(a.images.length + b.images.length), labels: new Uint8Array(a.n + b.n), n: a.n + b.n };
        both.images.set(a.images);
        both.images.set(b.images, a.images.length);
        both.labels.set(a.labels);
        both.labels.set(b.labels, a.n);
        const isMember = Array.from({ length: both.n }, (_, i) => i < a.n);
        const refLoss = sampleLosses(await scorer.probs(r.global, both), both.labels);
        const views: [View, Float32Array][] = [
          ['plain', addInto(r.global, r.updates[k]!)],
          ['cryptogram', addInto(r.global, cryptoUpdate)],
          ['aggregate', next],
        ];
        for (const [view, w] of views) {
          const loss = sampleLosses(await scorer.probs(w, both), both.labels);
          for (const [attack, scores] of [['yeom', yeomScores(loss)], ['calibrated', calibratedScores(loss, refLoss)]] as const) {
            const safe = scores.map((s) => (Number.isFinite(s) ? s : 0));
            const { auc, tprAtFpr } = membershipRoc(safe, isMember, 0.01);
            member.push({ seed: o.seed, round: r.round, site: k, view, attack, auc, tpr1: tprAtFpr, members: a.n, epochs: ctx.plan.epochs });
          }
        }
        if (!o.shadows.length) {
          const p = member.filter((x) => x.seed === o.seed && x.round === r.round && x.site === k && x.view === 'plain');
          ctx.say(`  seed ${o.seed} round ${r.round + 1} site ${k}: membership AUC on the plain update ${p.map((x) => `${x.attack} ${x.auc.toFixed(3)}`).join(', ')}`);
        }
      }
    },
  });
  scorer.dispose();
  return { label, member, aggregateError };
}

export interface InversionRow { seed: number; batch: number; site: number; view: View; ssim: number; psnr: number; distance: number; labelInferred?: boolean }
export interface InversionImages { batch: number; truth: Float32Array; plain: Float32Array; cryptogram: Float32Array; aggregate: Float32Array | null }

/** For each true image, the reconstruction with the highest SSIM (and its PSNR); also the order. */
function bestMatches(truth: Float32Array, rec: Float32Array): { ssim: number[]; psnr: number[]; order: number[] } {
  const nt = truth.length / 784;
  const nr = rec.length / 784;
  const out = { ssim: [] as number[], psnr: [] as number[], order: [] as number[] };
  for (let i = 0; i < nt; i++) {
    const t = truth.subarray(i * 784, i * 784 + 784);
    let best = -Infinity;
    let bj = 0;
    for (let j = 0; j < nr; j++) {
      const s = ssim(t, rec.subarray(j * 784, j * 784 + 784), 28, 28);
      if (s > best) [best, bj] = [s, j];
    }
    out.ssim.push(best);
    out.psnr.push(psnr(t, rec.subarray(bj * 784, bj * 784 + 784)));
    out.order.push(bj);
  }
  return out;
}

const reorder = (rec: Float32Array, order: number[]) => {
  const out = new Float32Array(order.length * 784);
  order.forEach((j, i) => out.set(rec.subarray(j * 784, j * 784 + 784), i * 784));
  return out;
};

/**
 * Attack 3: each site takes one SGD step (lr 0.01) from the seed's initial model on `batch` of its
 * images; the aggregator inverts the attacked site's plain update, its cryptogram, and the aggregate.
 */
export async function inversionAttack(ctx: Ctx, o: { seed: number; batches: number[]; iterations: number; tv: number; clip: number; aggregateMaxBatch: number }): Promise<{ rows: InversionRow[]; images: InversionImages[] }> {
  const rows: InversionRow[] = [];
  const images: InversionImages[] = [];
  const site = o.seed % ctx.sites.length;
  const rnd = seededRandom(o.seed * 104729 + 3);
  for (const batch of o.batches) {
    const splits = ctx.sites.map((s) => subset(s, Array.from({ length: batch }, () => Math.floor(rnd() * s.n))));
    const plan: TrainingPlan = { epochs: 1, batchSize: batch, learningRate: 0.01, optimizer: 'sgd' };
    let init: Float32Array | null = null;
    let shapes: { name: string; shape: number[] }[] = [];
    const updates: Float32Array[] = [];
    for (const s of splits) {
      const t = trainerFor(ctx.backend, ctx.data, s, plan, o.seed);
      init ??= t.getWeights();
      shapes = t.weightShapes();
      t.setWeights(init);
      updates.push((await t.trainLocal({ seed: o.seed })).delta);
      t.dispose();
    }
    const prot = protect(updates, splits.map((s) => s.n), o.clip, 0);
    const w = splitWeights(init!, shapes);
    const truth = Float32Array.from(splits[site]!.images, (v) => v / 255);
    const labelsOf = (ls: number[]) => tf.tensor2d(ls, [ls.length, 1]);
    const biasIndex = init!.length - 1; // the output bias is the last weight
    const run = async (view: View, observed: Float32Array, n: number, labels: number[], labelInferred?: boolean) => {
      const y = labelsOf(labels);
      const t0 = performance.now();
      const { images: rec, distance } = await invertGradient(observed, { batch: n, shape: [28, 28, 1], labels: y, weightGradient: (x, yy) => weightGradient(w, x, yy), iterations: o.iterations, tv: o.tv, seed: o.seed * 17 + batch });
      y.dispose();
      const m = bestMatches(truth, rec);
      m.ssim.forEach((s, i) => rows.push({ seed: o.seed, batch, site, view, ssim: s, psnr: m.psnr[i]!, distance, ...(labelInferred === undefined ? {} : { labelInferred }) }));
      ctx.say(`  seed ${o.seed} batch ${batch} ${view}: SSIM ${(m.ssim.reduce((a, b) => a + b, 0) / m.ssim.length).toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      return reorder(rec, m.order);
    };
    const siteLabels = Array.from(splits[site]!.labels);
    // labels: a single image's label from the sign of the output-bias update (iDLG); larger
    // batches: the attacker is given the true labels (Geiping et al.'s setting)
    const cryptoUpdate = cryptogramAsUpdate(prot.cryptograms[site]!, prot, site);
    const plainLabels = batch === 1 ? [inferSingleLabel(updates[site]![biasIndex]!)] : siteLabels;
    const cryptoLabels = batch === 1 ? [inferSingleLabel(cryptoUpdate[biasIndex]!)] : siteLabels;
    const plain = await run('plain', updates[site]!, batch, plainLabels, batch === 1 ? plainLabels[0] === siteLabels[0] : undefined);
    const cryptogram = await run('cryptogram', cryptoUpdate, batch, cryptoLabels, batch === 1 ? cryptoLabels[0] === siteLabels[0] : undefined);
    // the aggregate of 3 sites fits 3·batch images: bounded to batch ≤ aggregateMaxBatch (compute)
    const aggregate = batch <= o.aggregateMaxBatch ? await run('aggregate', prot.aggregate, batch * splits.length, splits.flatMap((s) => Array.from(s.labels))) : new Float32Array(batch * 784);
    images.push({ batch, truth, plain, cryptogram, aggregate: batch <= o.aggregateMaxBatch ? aggregate : null });
    w.forEach((t) => t.dispose());
  }
  return { rows, images };
}

export interface PoisonRow { seed: number; mode: 'plain' | 'cryptogram'; attack: 'none' | 'sign-flip' | 'backdoor'; clip: number; round: number; auc: number; backdoor: number }

/**
 * Attack 4: after `warmup` honest rounds, site 0 turns malicious for `rounds` rounds. Per round:
 * global test AUC and the backdoor success rate (share of the pneumonia test images the global
 * model detects that it calls normal once patched).
 */
export async function poisoningAttack(ctx: Ctx, o: { seed: number; rounds: number; warmup: number; warmupSites: Split[]; clips: number[]; boost: number; backdoorBoost: number; backdoorEpochs: number; modes: ('plain' | 'cryptogram')[] }): Promise<{ rows: PoisonRow[]; warmAuc: number }> {
  const rows: PoisonRow[] = [];
  const scorer = new Scorer(ctx);
  const pneumonia = Array.from(ctx.data.test.labels).flatMap((l, i) => (l === 1 ? [i] : []));
  const patchedSrc = subset(ctx.data.test, pneumonia);
  const patched: Split = { ...patchedSrc, images: stampPatch(patchedSrc.images) };
  const total = ctx.sites.reduce((a, s) => a + s.n, 0);
  const w0 = ctx.sites[0]!.n / total;
  const poisoned = backdoorSplit(ctx.sites[0]!, ctx.sites[0]!.n);
  const configs: { attack: PoisonRow['attack']; clip: number }[] = o.clips.flatMap((clip) => [
    { attack: 'none' as const, clip },
    { attack: 'sign-flip' as const, clip },
    { attack: 'backdoor' as const, clip },
  ]);
  // honest warm-up on the warm-up sites (more images), so the attack starts from a useful model
  const start = await runFederation({ ...ctx, sites: o.warmupSites, seed: o.seed, rounds: o.warmup, clip: Math.max(...o.clips), mode: 'cryptogram' });
  const warm = { auc: aucOf(ctx.data.test.labels, await scorer.probs(start, ctx.data.test)) };
  ctx.say(`  seed ${o.seed}: test AUC after ${o.warmup} honest rounds ${warm.auc.toFixed(4)}`);
  for (const mode of o.modes) for (const cfg of configs) {
    const craft =
      cfg.attack === 'none'
        ? undefined
        : cfg.attack === 'sign-flip'
          ? (u: Float32Array) => signFlip(u, o.boost / w0)
          : async (_u: Float32Array, round: number, global: Float32Array) => {
              const t = trainerFor(ctx.backend, ctx.data, poisoned, { ...ctx.plan, epochs: o.backdoorEpochs }, o.seed);
              t.setWeights(global);
              const { delta } = await t.trainLocal({ seed: o.seed * 1000 + round * 10 });
              t.dispose();
              return boosted(delta, o.backdoorBoost / w0); // model replacement: undo the FedAvg weight, then boost
            };
    await runFederation({
      ...ctx,
      seed: o.seed,
      rounds: o.rounds,
      clip: cfg.clip,
      mode,
      initial: start,
      ...(craft ? { malicious: { site: 0, craft } } : {}),
      onRound: async (r, next) => {
        const { auc } = await scorer.probs(next, ctx.data.test).then((p) => ({ auc: aucOf(ctx.data.test.labels, p) }));
        // success: pneumonia images the model calls pneumonia clean but normal once patched
        const pc = await scorer.probs(next, patchedSrc);
        const pb = await scorer.probs(next, patched);
        let caught = 0;
        let flipped = 0;
        pc.forEach((p, i) => {
          if (!(p >= 0.5)) return;
          caught++;
          if (!(pb[i]! >= 0.5)) flipped++;
        });
        const bd = caught ? flipped / caught : NaN;
        rows.push({ seed: o.seed, mode, attack: cfg.attack, clip: cfg.clip, round: r.round, auc, backdoor: bd });
      },
    });
    const last = rows.at(-1)!;
    ctx.say(`  seed ${o.seed} ${mode} ${cfg.attack} C=${cfg.clip}: test AUC ${last.auc.toFixed(4)}, backdoor ${(100 * last.backdoor).toFixed(1)} %`);
  }
  scorer.dispose();
  return { rows, warmAuc: warm.auc };
}

const aucOf = (labels: ArrayLike<number>, p: ArrayLike<number>) => {
  const s = Array.from(p, (v) => (Number.isFinite(v) ? v : 0.5));
  return rocAuc(labels, s);
};
