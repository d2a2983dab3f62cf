// npm run bench:attacks — an honest-but-curious aggregator attacks each site of a 3-site
// PneumoniaMNIST federation (Dirichlet α over labels), seeing plain FedAvg updates or flnode's
// cryptograms and aggregate; and one malicious site poisons the model within the clip C.
//   [--data data/pneumoniamnist.npz] [--seeds 3] [--rounds 3] [--shadows 0.1,0.5,0.9]
//   [--inv-batches 1,4,8] [--inv-iters 300] [--inv-tv 0.1] [--inv-agg-max 4] [--poison-cap 200] [--poison-warmup 6]
//   [--poison-rounds 2]
//   [--clips 0.001,0.01,0.1,1] [--sign-boost 100] [--backdoor-boost 1] [--backdoor-epochs 5] [--site-cap 500|all]
//   [--membership-epochs 5] [--only label,membership,inversion,poisoning] [--merge] [--out bench/results]
// --merge keeps the rows of the phases not run from the day's existing JSON (one phase per run).
import { execSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initBackend } from '../../node/training/backend.ts';
import { loadMedMnist } from '../../node/training/dataset.ts';
import { registerSecondOrderGradients } from '../../node/training/second-order-gradients.ts';
import { DEFAULT_PLAN } from '../../node/manifest.ts';
import { arg, flag, say } from '../args.ts';
import { positiveFraction, siteSplits, subset } from './federation.ts';
import { psnr, ssim } from './stats.ts';
import { inferenceAttacks, inversionAttack, poisoningAttack, type Ctx, type InversionImages, type InversionRow, type LabelRow, type MemberRow, type PoisonRow } from './phases.ts';
import { renderDamageChart, renderGrid, writeReport } from './report.ts';

const list = (s: string) => s.split(',').map(Number);
const dataPath = arg('--data', 'data/pneumoniamnist.npz');
const seeds = Array.from({ length: Number(arg('--seeds', '3')) }, (_, i) => i + 1);
const rounds = Number(arg('--rounds', '3'));
const shadows = list(arg('--shadows', '0.05,0.275,0.5,0.725,0.95'));
const batches = list(arg('--inv-batches', '1,4,8'));
const invIters = Number(arg('--inv-iters', '300'));
const invTv = Number(arg('--inv-tv', '0.1'));
const invAggMax = Number(arg('--inv-agg-max', '4'));
const poisonCap = Number(arg('--poison-cap', '200'));
const poisonRounds = Number(arg('--poison-rounds', '2'));
const poisonWarmup = Number(arg('--poison-warmup', '6'));
const clips = list(arg('--clips', '0.001,0.01,0.1,1'));
const only = arg('--only', 'label,membership,inversion,poisoning').split(',');
const membershipEpochs = Number(arg('--membership-epochs', '5'));
const out = arg('--out', 'bench/results');
const signBoost = Number(arg('--sign-boost', '100'));
const backdoorBoost = Number(arg('--backdoor-boost', '1'));
const backdoorEpochs = Number(arg('--backdoor-epochs', '5'));
const siteCap = arg('--site-cap', '500');
const alpha = 0.5;
const clip = DEFAULT_PLAN.clip;

const t0 = performance.now();
const backend = await initBackend('wasm');
registerSecondOrderGradients();
const data = await loadMedMnist(dataPath);
const plan = { epochs: DEFAULT_PLAN.localEpochs, batchSize: DEFAULT_PLAN.batchSize, learningRate: DEFAULT_PLAN.learningRate, optimizer: DEFAULT_PLAN.optimizer };
// inference attacks: each site keeps its first `siteCap` images (compute bound; 'all' = no cap)
const sites = siteSplits(data, 3, alpha, siteCap === 'all' ? undefined : Number(siteCap));
const ctx: Ctx = { data, backend, sites, plan, say };
say(`bench:attacks on ${data.name}: sites ${sites.map((s) => `${s.n} images (${(100 * positiveFraction(s)).toFixed(1)} % pneumonia)`).join(', ')}; backend ${backend}`);

let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim() + (execSync('git status --porcelain --untracked-files=no', { encoding: 'utf8' }).trim() ? '+dirty' : '');
} catch {
  /* not a git checkout */
}

const label: LabelRow[] = [];
const member: MemberRow[] = [];
const memberLong: MemberRow[] = [];
const inversion: InversionRow[] = [];
let grid: InversionImages[] = [];
const poison: PoisonRow[] = [];
let aggregateError = 0;
const warmAucs: number[] = [];
const seconds: Record<string, number> = {};
const phase = async (name: string, f: () => Promise<void>) => {
  if (!only.includes(name)) return;
  const t = performance.now();
  say(`${name}…`);
  await f();
  seconds[name] = Math.round((performance.now() - t) / 1000);
};

const date = new Date().toISOString().slice(0, 10);
const base = join(out, `attacks-${date}`);
await phase('label', async () => {
  for (const seed of seeds) {
    const r = await inferenceAttacks(ctx, { seed, rounds, clip, shadows });
    label.push(...r.label);
    member.push(...r.member);
    aggregateError = Math.max(aggregateError, r.aggregateError);
  }
});
// membership again with sites that train longer locally (more memorization), no label attack
await phase('membership', async () => {
  for (const seed of seeds) {
    const r = await inferenceAttacks({ ...ctx, plan: { ...plan, epochs: membershipEpochs } }, { seed, rounds, clip, shadows: [] });
    memberLong.push(...r.member);
  }
});
await phase('inversion', async () => {
  for (const seed of seeds) {
    const r = await inversionAttack(ctx, { seed, batches, iterations: invIters, tv: invTv, clip, aggregateMaxBatch: invAggMax });
    inversion.push(...r.rows);
    if (seed === seeds[0]) grid = r.images;
  }
});
await phase('poisoning', async () => {
  const capped = sites.map((s) => subset(s, Array.from({ length: Math.min(poisonCap, s.n) }, (_, i) => i)));
  for (const seed of seeds) {
    const r = await poisoningAttack({ ...ctx, sites: capped }, { seed, rounds: poisonRounds, warmup: poisonWarmup, warmupSites: sites, clips, boost: signBoost, backdoorBoost, backdoorEpochs, modes: ['plain', 'cryptogram'] });
    poison.push(...r.rows);
    warmAucs.push(r.warmAuc);
  }
});

// reference for inversion: the attacker's mean image (val split) scored against every test image,
// i.e. what a "reconstruction" scores that knows nothing of the image
const meanImage = new Float32Array(784);
for (let i = 0; i < data.val.n * 784; i++) meanImage[i % 784] += data.val.images[i]! / 255 / data.val.n;
const prior = { ssim: 0, psnr: 0 };
for (let k = 0; k < data.test.n; k++) {
  const t = Float32Array.from(data.test.images.subarray(k * 784, k * 784 + 784), (v) => v / 255);
  prior.ssim += ssim(meanImage, t, 28, 28) / data.test.n;
  prior.psnr += psnr(meanImage, t) / data.test.n;
}
const command = `npm run bench:attacks -- ${process.argv.slice(2).join(' ')}`.trim();
const commands: Record<string, string> = {};
for (const name of Object.keys(seconds)) commands[name] = `${command} (commit ${commit})`;
if (flag('--merge')) {
  try {
    const prev = JSON.parse(await readFile(`${base}.json`, 'utf8'));
    const keep = (name: string) => !(name in seconds) && prev.setup?.commands?.[name];
    if (keep('label')) {
      label.push(...prev.rows.label);
      member.push(...prev.rows.membership);
      aggregateError = prev.setup.aggregate_max_abs_error;
    }
    if (keep('membership')) memberLong.push(...(prev.rows.membership_long_training ?? []));
    if (keep('inversion')) inversion.push(...prev.rows.inversion); // its PNG stays as written
    if (keep('poisoning')) {
      poison.push(...prev.rows.poisoning);
      warmAucs.push(...(prev.setup.poisoning_test_auc_after_warmup ?? []));
    }
    for (const name of ['label', 'membership', 'inversion', 'poisoning']) {
      if (keep(name)) {
        commands[name] = prev.setup.commands[name];
        seconds[name] = prev.setup.seconds[name];
      }
    }
  } catch {
    say(`--merge: no earlier ${base}.json`);
  }
}
const setup = {
  dataset: data.name,
  data: dataPath,
  sites: sites.map((s) => ({ images: s.n, pneumonia_fraction: positiveFraction(s) })),
  alpha,
  seeds,
  rounds,
  plan,
  membership_local_epochs: membershipEpochs,
  clip,
  shadows,
  inversion: { batches, iterations: invIters, tv: invTv, learning_rate: 0.1, sgd_lr: 0.01, aggregate_max_batch: invAggMax },
  poisoning: { cap_per_site: poisonCap, honest_warmup_rounds: poisonWarmup, warmup_sites: 'the capped sites of attacks 1-3', attack_rounds: poisonRounds, clips, sign_flip_boost_over_w: signBoost, backdoor_boost_over_w: backdoorBoost, backdoor_local_epochs: backdoorEpochs, malicious_site: 0 },
  site_cap: siteCap,
  poisoning_test_auc_after_warmup: warmAucs,
  backend,
  commit,
  command,
  commands,
  // per phase; merged phases ran as separate runs, so the total is their sum (plus this run's set-up)
  seconds: { ...seconds, total: Object.values(seconds).reduce((a, b) => a + b, 0) + Math.round((performance.now() - t0) / 1000 - Object.values(seconds).reduce((a, b) => a + b, 0) * Number(!flag('--merge'))) },
  aggregate_max_abs_error: aggregateError,
  inversion_mean_image_reference: prior,
};
await mkdir(out, { recursive: true });
if (grid.length) await writeFile(`${base}-inversion.png`, renderGrid(grid));
if (poison.length) await writeFile(`${base}-poisoning.svg`, await renderDamageChart(poison));
const { json, md } = writeReport({ setup, label, member, memberLong, inversion, poison, files: { grid: inversion.length ? `attacks-${date}-inversion.png` : null, chart: poison.length ? `attacks-${date}-poisoning.svg` : null } });
await writeFile(`${base}.json`, json);
await writeFile(`${base}.md`, md);
say(`wrote ${base}.md, .json${grid.length ? ', -inversion.png' : ''}${poison.length ? ', -poisoning.svg' : ''} in ${setup.seconds.total} s`);
