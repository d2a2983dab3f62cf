// Builds the sites and the modes, runs each mode's federation, and renders the results.
import * as tf from '@tensorflow/tfjs';
import { createTrainer, loadMedMnist } from '../../node/training/index.ts';
import { renderChart } from './chart.ts';
import { ckksMode } from './ckks.ts';
import { cryptogramMode } from './cryptogram.ts';
import { dpMode, gaussianSigma } from './dp.ts';
import { runFederation, runSyntheticFederation, type ModeResult } from './harness.ts';
import { describeMachine } from './machine.ts';
import { packingLayout, paillierMode } from './paillier.ts';
import { plainMode } from './plain.ts';
import { toJson, toMarkdown, type CompareResults, type RunInfo } from './report.ts';
import { smpcMode } from './smpc.ts';
import type { ProtectionMode } from './types.ts';

export const MODE_NAMES = ['plain', 'cryptogram', 'ckks', 'paillier', 'smpc', 'dp-eps1', 'dp-eps8', 'dp-eps1+cryptogram', 'dp-eps8+cryptogram'] as const;

export interface CompareConfig {
  dataPath: string;
  rounds: number;
  sites: number;
  epochs: number;
  seed: number;
  modes: string[];
  maxTrainSamples?: number;
  maxEvalSamples?: number;
  /** Paillier/CKKS: above this estimated full-run time, measure a slice and extrapolate. */
  heBudgetS: number;
  paillierPlaintexts?: number;
  ckksSlices?: number;
  dpClip: number;
  /** Synthetic updates of this many parameters instead of the trained CNN: costs only, no AUC. */
  params?: number;
  batchSize?: number;
  learningRate?: number;
  command?: string;
  progress?: (msg: string) => void;
}

export interface CompareOutput {
  results: CompareResults;
  json: string;
  svg: string;
  info: RunInfo;
  markdown(chartFile: string): string;
}

const CLIP = 1; // per-coordinate clip of the fixed-point encoding (the node's default plan)

export async function runCompare(cfg: CompareConfig): Promise<CompareOutput> {
  return cfg.params === undefined ? runTrained(cfg) : runSynthetic(cfg, cfg.params);
}

async function runSynthetic(cfg: CompareConfig, d: number): Promise<CompareOutput> {
  const say = cfg.progress ?? (() => {});
  const t0 = performance.now();
  say(`synthetic updates: ${cfg.sites} sites, ${d} parameters, costs only (no training, no AUC)`);
  const results: ModeResult[] = [];
  for (const name of cfg.modes) {
    const mode = await buildMode(name, cfg, d, say);
    say(`— ${name}: ${mode.describe()}`);
    results.push(await runSyntheticFederation(mode, { d, sites: cfg.sites, rounds: cfg.rounds, seed: cfg.seed, progress: say }));
    mode.dispose?.();
  }
  const res: CompareResults = { machine: describeMachine('not used (no training)'), rounds: cfg.rounds, d, modes: results };
  const info = {
    dataset: 'synthetic updates',
    synthetic: true,
    dataPath: '',
    sites: cfg.sites,
    parameters: d,
    trainSamplesPerSite: [],
    testSamples: 0,
    localEpochs: 0,
    batchSize: 0,
    learningRate: 0,
    seed: cfg.seed,
    command: cfg.command ?? 'runCompare',
    elapsedS: (performance.now() - t0) / 1000,
  };
  const svg = await renderChart(results);
  return { results: res, json: toJson(res), svg, info, markdown: (chart) => toMarkdown(res, info, chart) };
}

async function runTrained(cfg: CompareConfig): Promise<CompareOutput> {
  const say = cfg.progress ?? (() => {});
  const t0 = performance.now();
  const data = await loadMedMnist(cfg.dataPath);
  const plan = { epochs: cfg.epochs, batchSize: cfg.batchSize ?? 64, learningRate: cfg.learningRate ?? 0.001, optimizer: 'adam' as const };
  const sites = [];
  for (let k = 0; k < cfg.sites; k++) {
    sites.push(await createTrainer({ dataPath: cfg.dataPath, data, sites: cfg.sites, site: k, scheme: { kind: 'iid' }, seed: cfg.seed, plan, maxTrainSamples: cfg.maxTrainSamples, maxEvalSamples: cfg.maxEvalSamples }));
  }
  const initial = sites[0]!.getWeights();
  const d = initial.length;
  say(`${data.name}: ${cfg.sites} sites × ${sites.map((s) => s.trainSamples).join('/')} train samples, ${d} parameters, backend ${tf.getBackend()}`);

  const results: ModeResult[] = [];
  for (const name of cfg.modes) {
    const mode = await buildMode(name, cfg, d, say);
    say(`— ${name}: ${mode.describe()}`);
    results.push(await runFederation(mode, { sites, rounds: cfg.rounds, seed: cfg.seed, initial, progress: say }));
    mode.dispose?.();
  }
  const machine = describeMachine(tf.getBackend());
  const res: CompareResults = { machine, rounds: cfg.rounds, d, modes: results };
  const info = {
    dataset: data.name,
    synthetic: false,
    dataPath: cfg.dataPath,
    sites: cfg.sites,
    parameters: d,
    trainSamplesPerSite: sites.map((s) => s.trainSamples),
    testSamples: Math.min(data.test.n, cfg.maxEvalSamples ?? Infinity),
    localEpochs: cfg.epochs,
    batchSize: plan.batchSize,
    learningRate: plan.learningRate,
    seed: cfg.seed,
    command: cfg.command ?? 'runCompare',
    elapsedS: (performance.now() - t0) / 1000,
  };
  const svg = await renderChart(results);
  sites.forEach((s) => s.dispose());
  return { results: res, json: toJson(res), svg, info, markdown: (chart) => toMarkdown(res, info, chart) };
}

async function buildMode(name: string, cfg: CompareConfig, d: number, say: (s: string) => void): Promise<ProtectionMode> {
  const dp = /^dp-eps(\d+(?:\.\d+)?)(\+cryptogram)?$/.exec(name);
  if (dp) {
    const epsilon = Number(dp[1]);
    const sigma = gaussianSigma(epsilon, 1e-5, cfg.dpClip);
    // The cryptogram's per-coordinate clip must hold the noisy weighted values: 8σ is never reached.
    const inner = dp[2] ? cryptogramMode({ clip: Math.max(CLIP, Math.ceil(8 * sigma)) }) : plainMode();
    return dpMode({ epsilon, clipNorm: cfg.dpClip, inner, seed: cfg.seed });
  }
  switch (name) {
    case 'plain':
      return plainMode();
    case 'cryptogram':
      return cryptogramMode({ clip: CLIP });
    case 'smpc':
      return smpcMode({ clip: CLIP });
    case 'ckks':
      return ckksMode({ maxSlices: cfg.ckksSlices });
    case 'paillier': {
      let t = performance.now();
      const mode = await paillierMode({ clip: CLIP, maxPlaintexts: cfg.paillierPlaintexts });
      say(`paillier: 2048-bit key generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      if (cfg.paillierPlaintexts === undefined) {
        // Calibrate: 3 encryptions and 1 decryption, then estimate a full in-process run.
        const { publicKey, privateKey } = mode.keys;
        const layout = packingLayout(cfg.sites, publicKey.bitLength);
        const m = (1n << BigInt(layout.slotBits * layout.slots - 1)) - 12345n;
        t = performance.now();
        let c = 0n;
        for (let i = 0; i < 3; i++) c = publicKey.encrypt(m);
        const enc = (performance.now() - t) / 3000;
        t = performance.now();
        privateKey.decrypt(c);
        const dec = (performance.now() - t) / 1000;
        const plaintexts = Math.ceil(d / layout.slots);
        const estimate = cfg.rounds * plaintexts * (cfg.sites * enc + dec);
        if (estimate > cfg.heBudgetS) {
          mode.maxPlaintexts = Math.max(4, Math.floor(cfg.heBudgetS / 20 / cfg.rounds / (cfg.sites * enc + dec)));
          say(`paillier: full run estimated ${Math.round(estimate)} s > budget ${cfg.heBudgetS} s: encrypting ${mode.maxPlaintexts} of ${plaintexts} plaintexts per site and extrapolating`);
        } else say(`paillier: full run estimated ${Math.round(estimate)} s ≤ budget ${cfg.heBudgetS} s: encrypting the full model`);
      }
      return mode;
    }
    default:
      throw new Error(`unknown mode "${name}"`);
  }
}
