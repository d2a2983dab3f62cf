// Comparison benchmark (issue 7): the same 3-site federation under each protection mode.
// npm run bench:compare -- [--data PATH] [--rounds R] [--json] [--out DIR] [--modes a,b,...]
//   [--max-train-samples N] [--max-eval-samples N] [--sites N] [--epochs E] [--seed S]
//   [--he-budget-s S] [--paillier-plaintexts P] [--ckks-slices K] [--dp-clip C]
// Progress on stderr; results in DIR/compare-<YYYY-MM-DD>.{md,json,svg}; --json also prints the JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCompare, MODE_NAMES, type CompareConfig } from './compare/run.ts';

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
  command: `npm run bench:compare -- ${process.argv.slice(2).join(' ')}`.trim(),
  progress: (s) => process.stderr.write(s + '\n'),
};

let result;
try {
  result = await runCompare(config);
} catch (err) {
  fail((err as Error).message);
}
const date = new Date().toISOString().slice(0, 10);
const out = values.out!;
mkdirSync(out, { recursive: true });
const base = join(out, `compare-${date}`);
writeFileSync(`${base}.json`, result.json);
writeFileSync(`${base}.svg`, result.svg);
writeFileSync(`${base}.md`, result.markdown(`compare-${date}.svg`));
process.stderr.write(`wrote ${base}.md, .json, .svg\n`);
if (values.json) process.stdout.write(result.json);
