// Centralized training benchmark on the wasm backend: S seeds of `fit` (augmentation, dropout,
// weight decay, cosine LR, class-balanced loss; the epoch with the best validation AUC is kept),
// then test AUC/ACC of that epoch, mean ± sd over seeds, samples/s and the parameter count.
// Writes bench/results/train-<date>-<commit>.{json,md} and train-latest.json.
// `npm run bench:train -- [--seeds 3] [--epochs 15] [--data PATH] [--json] [--cpu]`
// Experiment knobs (default: the trainer's defaults): --arch 16,32:32 --lr X --wd X
// --dropout a,b --no-augment --no-balance
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { createTrainer, loadMedMnist, useBackend, type TrainingPlan } from '../node/training/index.ts';
import { arg, flag, say } from './args.ts';

const json = flag('--json');
const dataPath = arg('--data', 'data/pneumoniamnist.npz');
const epochs = Number(arg('--epochs', '15'));
const seeds = Number(arg('--seeds', '3'));
const archArg = arg('--arch', '');
const plan: TrainingPlan = {
  epochs: 1,
  batchSize: Number(arg('--batch', '64')),
  learningRate: Number(arg('--lr', '0.002')),
  optimizer: 'adam',
  ...(archArg ? { arch: { convs: archArg.split(':')[0]!.split(',').map(Number), dense: Number(archArg.split(':')[1] ?? 32) } } : {}),
  ...(flag('--wd') ? { weightDecay: Number(arg('--wd', '0')) } : {}),
  ...(flag('--dropout') ? { dropout: arg('--dropout', '0,0').split(',').map(Number) as [number, number] } : {}),
  ...(flag('--no-augment') ? { augment: false } : {}),
  ...(flag('--no-balance') ? { classBalanced: false } : {}),
};

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0);
const r4 = (x: number) => +x.toFixed(4);
const stat = (xs: number[]) => ({ mean: r4(mean(xs)), sd: r4(sd(xs)) });
const pm = (s: { mean: number; sd: number }, d = 4) => `${s.mean.toFixed(d)} ± ${s.sd.toFixed(d)}`;
const sh = (c: string) => {
  try {
    return execSync(c, { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
};

const data = await loadMedMnist(dataPath);
let cpuRatio: number | null = null;
if (flag('--cpu')) {
  // the plain JS backend, on a few samples (it is ~100x slower), against wasm in the same run
  const sps: Record<string, number> = {};
  for (const b of ['cpu', 'wasm'] as const) {
    await useBackend(b);
    const t = await createTrainer({ dataPath, data, seed: 1, plan, maxTrainSamples: 128 });
    await t.trainLocal({ seed: 0 });
    const r = await t.trainLocal({ seed: 1 });
    sps[b] = r.samples / r.seconds;
    t.dispose();
  }
  cpuRatio = sps.wasm! / sps.cpu!;
  say(`wasm ${sps.wasm!.toFixed(0)} samples/s, cpu ${sps.cpu!.toFixed(0)} samples/s: wasm / cpu = ${cpuRatio.toFixed(1)}x`);
}
await useBackend('wasm');

interface SeedRun { seed: number; best_epoch: number; val_auc: number; threshold: number; test_auc: number; test_acc: number; test_acc_youden: number; samples_per_s: number; seconds: number; load_1min: number; val_auc_per_epoch: number[] }
const runs: SeedRun[] = [];
let parameters = 0;
let trainSamples = 0;
for (let seed = 1; seed <= seeds; seed++) {
  const t = await createTrainer({ dataPath, data, seed, plan });
  parameters = t.parameterCount;
  trainSamples = t.trainSamples;
  const load = loadavg()[0]!;
  const fit = await t.fit({ epochs, seed: seed * 1000, onEpoch: (e) => say(`seed ${seed} epoch ${e.epoch}: loss ${e.loss.toFixed(4)} val AUC ${e.valAuc.toFixed(4)} ACC ${e.valAcc.toFixed(4)} (${e.samplesPerS.toFixed(0)} samples/s)`) });
  const test = await t.evaluate('test');
  const testY = await t.evaluate('test', fit.threshold);
  const run: SeedRun = {
    seed,
    best_epoch: fit.bestEpoch,
    val_auc: r4(fit.bestValAuc),
    threshold: r4(fit.threshold),
    test_auc: r4(test.auc),
    test_acc: r4(test.acc),
    test_acc_youden: r4(testY.acc),
    samples_per_s: Math.round(fit.samplesPerS),
    seconds: +fit.seconds.toFixed(1),
    load_1min: +((load + loadavg()[0]!) / 2).toFixed(2),
    val_auc_per_epoch: fit.history.map((h) => r4(h.valAuc)),
  };
  runs.push(run);
  say(`seed ${seed}: best epoch ${run.best_epoch} (val AUC ${run.val_auc}), test AUC ${run.test_auc} ACC@0.5 ${run.test_acc} ACC@Youden(val, t=${run.threshold}) ${run.test_acc_youden}`);
  t.dispose();
}

const commit = sh('git rev-parse --short HEAD') + (sh('git status --porcelain -- node/training bench/train.ts') ? '+dirty' : '');
const command = `npm run bench:train -- ${process.argv.slice(2).join(' ')}`.trim();
const summary = {
  test_auc: stat(runs.map((r) => r.test_auc)),
  test_acc: stat(runs.map((r) => r.test_acc)),
  test_acc_youden: stat(runs.map((r) => r.test_acc_youden)),
  val_auc: stat(runs.map((r) => r.val_auc)),
  best_epoch: stat(runs.map((r) => r.best_epoch)),
  samples_per_s: stat(runs.map((r) => r.samples_per_s)),
};
const result = {
  dataset: data.name,
  backend: tf.getBackend(),
  command,
  commit,
  date: new Date().toISOString(),
  machine: { cores: sh('nproc'), load_1min_during_runs: runs.map((r) => r.load_1min) },
  parameters,
  plan,
  seeds,
  throughput_samples_per_s: { wasm: Math.round(summary.samples_per_s.mean) },
  wasm_over_cpu: cpuRatio ? +cpuRatio.toFixed(1) : null,
  // the shape the federation benchmark reads as its baseline
  centralized: { train_samples: trainSamples, epochs, seeds, test_auc: summary.test_auc.mean, test_acc: summary.test_acc.mean, test_auc_sd: summary.test_auc.sd, test_acc_sd: summary.test_acc.sd },
  summary,
  runs,
};
const md = [
  `# Centralized training, ${data.name} (official splits: ${trainSamples} train / ${data.val.n} val / ${data.test.n} test)`,
  '',
  `Command: \`${command}\` at commit ${commit}, ${result.date}; backend ${result.backend}, ${result.machine.cores} cores shared (1-min load during runs: ${runs.map((r) => r.load_1min).join(', ')}).`,
  `Model: ${parameters} parameters; ${epochs} epochs per seed; the epoch with the best validation AUC is kept (test not looked at).`,
  '',
  '| seed | best epoch | val AUC | test AUC | test ACC@0.5 | test ACC@Youden (val) | samples/s |',
  '|---:|---:|---:|---:|---:|---:|---:|',
  ...runs.map((r) => `| ${r.seed} | ${r.best_epoch} | ${r.val_auc.toFixed(4)} | ${r.test_auc.toFixed(4)} | ${r.test_acc.toFixed(4)} | ${r.test_acc_youden.toFixed(4)} (t=${r.threshold.toFixed(3)}) | ${r.samples_per_s} |`),
  `| mean ± sd | ${pm(summary.best_epoch, 1)} | ${pm(summary.val_auc)} | **${pm(summary.test_auc)}** | **${pm(summary.test_acc)}** | ${pm(summary.test_acc_youden)} | ${pm(summary.samples_per_s, 0)} |`,
  '',
];
if (flag('--no-write')) {
  say(md.join('\n'));
  process.exit(0);
}
mkdirSync('bench/results', { recursive: true });
const stem = `bench/results/train-${result.date.slice(0, 10)}-${commit}`;
writeFileSync(`${stem}.json`, JSON.stringify(result, null, 2) + '\n');
writeFileSync(`${stem}.md`, md.join('\n'));
writeFileSync('bench/results/train-latest.json', JSON.stringify(result) + '\n');
say(md.join('\n'));
say(`wrote ${stem}.json, ${stem}.md and bench/results/train-latest.json`);
if (json) console.log(JSON.stringify(result));
