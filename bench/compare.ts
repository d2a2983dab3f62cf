// Comparison benchmark (issue 7): the same 3-site federation under each protection mode.
// npm run bench:compare -- [--data PATH] [--rounds R] [--json] [--out DIR] [--modes a,b,...]
//   [--max-train-samples N] [--max-eval-samples N] [--sites N] [--epochs E] [--seed S]
//   [--he-budget-s S] [--paillier-plaintexts P] [--ckks-slices K] [--dp-clip C]
//   [--params D | --sizes cnn,1200000,11173962 [--synthetic-rounds R]]
// --params D: synthetic updates of D parameters (costs only, no training or AUC).
// --sizes: one run per size (cnn = the trained CNN, a number = synthetic updates), then a report
//   and chart of protect+aggregate+unmask against d over all of them.
// Progress on stderr; results in DIR/compare-<YYYY-MM-DD>[-d<D>].{md,json,svg} (and
// compare-<YYYY-MM-DD>-sizes.{md,svg} with --sizes); --json also prints the JSON.
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCompare, MODE_NAMES, type CompareConfig } from './compare/run.ts';
import { renderSizesChart, sizesMarkdown, type SizeRun } from './compare/sizes.ts';

function fail(msg: string): never {
  process.stderr.write(`bench:compare: ${msg}\n`);
  process.exit(1);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      data: { type: 'string', default: 'data/pneumoniamnist.npz' },
      rounds: { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench/results' },
      modes: { type: 'string', default: MODE_NAMES.join(',') },
      'max-train-samples': { type: 'string' },
      'max-eval-samples': { type: 'string' },
      sites: { type: 'string', default: '3' },
      epochs: { type: 'string', default: '1' },
      seed: { type: 'string', default: '7' },
      'he-budget-s': { type: 'string', default: '3600' },
      'paillier-plaintexts': { type: 'string' },
      'ckks-slices': { type: 'string' },
      'dp-clip': { type: 'string', default: '1' },
      params: { type: 'string' },
      sizes: { type: 'string' },
      'synthetic-rounds': { type: 'string', default: '3' },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}

const int = (name: string, v: string | undefined, min: number): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
};
const modes = values.modes!.split(',').map((m) => m.trim()).filter(Boolean);
for (const m of modes) if (!(MODE_NAMES as readonly string[]).includes(m)) fail(`unknown mode "${m}" (known: ${MODE_NAMES.join(', ')})`);
const dpClip = Number(values['dp-clip']);
if (!(dpClip > 0)) fail('--dp-clip must be a positive number');
const heBudget = Number(values['he-budget-s']);
if (!(heBudget > 0)) fail('--he-budget-s must be a positive number of seconds');

const params = int('params', values.params, 1);
const syntheticRounds = int('synthetic-rounds', values['synthetic-rounds'], 1)!;
const sizes = values.sizes?.split(',').map((x) => x.trim()).filter(Boolean).map((x) => (x === 'cnn' ? undefined : int('sizes', x, 1)));
if (sizes && params !== undefined) fail('--params and --sizes exclude each other');
if (sizes?.length === 0) fail('--sizes needs at least one size');

const config: CompareConfig = {
  dataPath: values.data!,
  rounds: int('rounds', values.rounds, 1)!,
  sites: int('sites', values.sites, 2)!,
  epochs: int('epochs', values.epochs, 1)!,
  seed: int('seed', values.seed, 0)!,
  modes,
  maxTrainSamples: int('max-train-samples', values['max-train-samples'], 1),
  maxEvalSamples: int('max-eval-samples', values['max-eval-samples'], 1),
  heBudgetS: heBudget,
  paillierPlaintexts: int('paillier-plaintexts', values['paillier-plaintexts'], 1),
  ckksSlices: int('ckks-slices', values['ckks-slices'], 1),
  dpClip,
  params,
  command: `npm run bench:compare -- ${process.argv.slice(2).join(' ')}`.trim(),
  progress: (s) => process.stderr.write(s + '\n'),
};

const load = () => loadavg().map((v) => v.toFixed(2)).join(', ');
let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  if (execSync('git status --porcelain -- . ":!bench/results"', { encoding: 'utf8' }).trim()) commit += ' (with uncommitted changes)';
} catch {
  // not a git checkout
}
const date = new Date().toISOString().slice(0, 10);
const out = values.out!;
const printJson = values.json === true;
mkdirSync(out, { recursive: true });

async function runOne(cfg: CompareConfig, name: string): Promise<SizeRun> {
  const before = load();
  let result;
  try {
    result = await runCompare(cfg);
  } catch (err) {
    fail((err as Error).message);
  }
  const after = load();
  const base = join(out, name);
  result.info.load = `load average (1, 5, 15 min) ${before} at start, ${after} at end`;
  result.info.commit = commit;
  const md = result.markdown(`${name}.svg`);
  writeFileSync(`${base}.json`, result.json);
  writeFileSync(`${base}.svg`, result.svg);
  writeFileSync(`${base}.md`, md);
  process.stderr.write(`wrote ${base}.md, .json, .svg\n`);
  if (printJson) process.stdout.write(result.json);
  return { results: result.results, synthetic: result.info.synthetic, dataset: result.info.dataset, command: cfg.command!, load: `${before} → ${after}`, file: name };
}

if (sizes) {
  const runs: SizeRun[] = [];
  for (const d of sizes) {
    const cfg = { ...config, params: d, rounds: d === undefined ? config.rounds : syntheticRounds };
    runs.push(await runOne(cfg, d === undefined ? `compare-${date}-cnn` : `compare-${date}-d${d}`));
  }
  const base = join(out, `compare-${date}-sizes`);
  writeFileSync(`${base}.svg`, await renderSizesChart(runs));
  writeFileSync(`${base}.md`, sizesMarkdown(runs, { commit, chartFile: `compare-${date}-sizes.svg`, machine: runs[0]!.results.machine }));
  process.stderr.write(`wrote ${base}.md, .svg\n`);
} else {
  await runOne(config, params === undefined ? `compare-${date}` : `compare-${date}-d${params}`);
}
