// The results files: the JSON exactly as issue 7 specifies, and a Markdown report with ratios.
import type { ModeResult } from './harness.ts';

export interface CompareResults {
  machine: string;
  rounds: number;
  modes: ModeResult[];
}

export interface RunInfo {
  dataset: string;
  dataPath: string;
  sites: number;
  parameters: number;
  trainSamplesPerSite: number[];
  testSamples: number;
  localEpochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  command: string;
  elapsedS: number;
}

const KEYS = ['mode', 'test_auc', 'test_acc', 'train_s', 'protect_s', 'communicate_s', 'aggregate_s', 'unprotect_s', 'bytes_per_site', 'extrapolated'] as const;

/** `{"machine", "rounds", "modes": [{mode, test_auc, …, extrapolated}]}` and nothing else. */
export function toJson(r: CompareResults): string {
  const round = (v: number) => (Number.isInteger(v) ? v : +v.toPrecision(6));
  const modes = r.modes.map((m) => Object.fromEntries(KEYS.map((k) => [k, typeof m[k] === 'number' ? round(m[k]) : m[k]])));
  return JSON.stringify({ machine: r.machine, rounds: r.rounds, modes }, null, 2) + '\n';
}

const s = (v: number) => (v === 0 ? '0' : v < 0.001 ? v.toExponential(2) : v < 10 ? v.toFixed(3) : v.toFixed(1));
const x = (v: number) => (!Number.isFinite(v) ? '—' : v >= 100 ? `${Math.round(v).toLocaleString('en-US')}x` : `${v.toFixed(2)}x`);

export function toMarkdown(r: CompareResults, info: RunInfo, chartFile: string): string {
  const by = new Map(r.modes.map((m) => [m.mode, m]));
  const plain = by.get('plain');
  const pa = (m: ModeResult) => m.protect_s + m.aggregate_s;
  const roundS = (m: ModeResult) => m.train_s + m.protect_s + m.communicate_s + m.aggregate_s + m.unprotect_s;
  const L: string[] = [];
  L.push(`# flnode comparison: cryptograms vs plain FedAvg, CKKS, Paillier, SMPC and DP (${info.dataset})`, '');
  L.push(`Machine: ${r.machine}.`, '');
  L.push(
    `Run: \`${info.command}\` — ${info.sites} sites (IID partitions, fixed partition seed), ${r.rounds} rounds, ${info.localEpochs} local epoch(s), ` +
      `batch ${info.batchSize}, Adam lr ${info.learningRate}, seed ${info.seed}, same initial model for every mode; CNN with ${info.parameters.toLocaleString('en-US')} parameters; ` +
      `train samples per site ${info.trainSamplesPerSite.join('/')}; test set ${info.testSamples}. Whole run ${Math.round(info.elapsedS)} s.`,
    '',
  );
  L.push('## Results (seconds per round, averaged over rounds)', '');
  L.push('| mode | test AUC | test ACC | ΔAUC vs plain | train | protect | communicate | aggregate | unprotect | protect+aggregate | % of round | bytes/site/round | extrapolated |');
  L.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const m of r.modes) {
    const d = plain ? (m.test_auc - plain.test_auc).toFixed(4) : '—';
    L.push(
      `| ${m.mode} | ${m.test_auc.toFixed(4)} | ${m.test_acc.toFixed(4)} | ${d} | ${s(m.train_s)} | ${s(m.protect_s)} | ${s(m.communicate_s)} | ${s(m.aggregate_s)} | ${s(m.unprotect_s)} | ${s(pa(m))} | ${((100 * pa(m)) / roundS(m)).toFixed(2)}% | ${m.bytes_per_site.toLocaleString('en-US')} | ${m.extrapolated ? 'yes' : 'no'} |`,
    );
  }
  L.push('');
  if (plain) {
    L.push('## Ratios to plain', '');
    L.push('| mode | protect+aggregate / plain | round time / plain | bytes / plain |');
    L.push('|---|---|---|---|');
    for (const m of r.modes) L.push(`| ${m.mode} | ${x(pa(m) / pa(plain))} | ${x(roundS(m) / roundS(plain))} | ${x(m.bytes_per_site / plain.bytes_per_site)} |`);
    L.push('', 'plain protect+aggregate is only the float32 weighted sum, so its ratios are large for any protection; the round-time column is the meaningful one.', '');
  }
  const c = by.get('cryptogram');
  if (c) {
    L.push('## Targets (measured)', '');
    const row = (t: string, got: string, ok: boolean | null) => L.push(`| ${t} | ${got} | ${ok === null ? 'not run' : ok ? 'met' : '**not met**'} |`);
    L.push('| target | measured | |', '|---|---|---|');
    if (plain) row('cryptogram vs plain \\|ΔAUC\\| ≤ 0.001', Math.abs(c.test_auc - plain.test_auc).toFixed(5), Math.abs(c.test_auc - plain.test_auc) <= 0.001);
    row('cryptogram protect+aggregate ≤ 2 % of round time', `${((100 * pa(c)) / roundS(c)).toFixed(3)} %`, pa(c) / roundS(c) <= 0.02);
    const ck = by.get('ckks');
    row('≥ 100x faster than ckks (protect+aggregate)', ck ? `${x(pa(ck) / pa(c))}` : '—', ck ? pa(ck) / pa(c) >= 100 : null);
    const p = by.get('paillier');
    row(`≥ 10,000x faster than paillier (protect+aggregate)${p?.extrapolated ? ', paillier extrapolated' : ''}`, p ? `${x(pa(p) / pa(c))}` : '—', p ? pa(p) / pa(c) >= 10000 : null);
    const sm = by.get('smpc');
    row(`fewer bytes per site than smpc (n = ${info.sites})`, sm ? `${c.bytes_per_site.toLocaleString('en-US')} vs ${sm.bytes_per_site.toLocaleString('en-US')} (${x(sm.bytes_per_site / c.bytes_per_site)})` : '—', sm ? c.bytes_per_site < sm.bytes_per_site : null);
    L.push('', `max |decoded − float64 FedAvg| per coordinate over all rounds: cryptogram ${c.max_abs_error.toExponential(2)}${by.get('smpc') ? `, smpc ${by.get('smpc')!.max_abs_error.toExponential(2)}` : ''}${by.get('paillier') ? `, paillier ${by.get('paillier')!.max_abs_error.toExponential(2)}` : ''}${by.get('ckks') ? `, ckks ${by.get('ckks')!.max_abs_error.toExponential(2)}` : ''}${plain ? `, plain (float32) ${plain.max_abs_error.toExponential(2)}` : ''}.`, '');
  }
  L.push('## Modes and parameters', '');
  for (const m of r.modes) L.push(`- **${m.mode}**: ${m.description}${m.notes.length ? ` — ${m.notes.join('; ')}` : ''}`);
  L.push('', '## How the times are measured', '');
  L.push(
    '- All modes run in one process, one after another, without libp2p; every site trains from the same global model with the same per-site, per-round seed, so "train" differs between modes only through the (different) global models.',
    '- protect, communicate and unprotect are per site (mean over sites, since sites work in parallel); aggregate is the aggregator\'s work (for smpc it also includes one site summing the shares it holds). Round time = train + protect + communicate + aggregate + unprotect.',
    '- communicate = serialization + deserialization only (signed envelopes and chunk reassembly for cryptograms; ciphertext save/load for CKKS, incl. downloading the summed ciphertexts; hex bytes for Paillier; GCM boxes for smpc). **No network latency or bandwidth is modelled**; bytes/site/round is what one site uploads for aggregation (the model broadcast is the same for every mode and not counted).',
    '- Extrapolated rows: only a slice of the model was encrypted; times and bytes are scaled linearly by (full plaintexts / measured plaintexts), and the remaining coordinates are summed with the same integer encoding in the clear (bit-identical to what decryption yields), so AUC is real.',
    '- DP: the RNG for the Gaussian noise is a seeded mulberry32 (repeatable benchmark); a deployment would use a CSPRNG, which costs more protect time.',
    '',
  );
  L.push('## ChestMNIST (`--data PATH` to chestmnist.npz)', '');
  L.push(
    `ChestMNIST is multi-label with 14 outputs: the model\'s last Dense layer grows from 32·1+1 = 33 to 32·14+14 = 462 parameters (${info.parameters.toLocaleString('en-US')} → ${(info.parameters + 429).toLocaleString('en-US')} in total for this binary run's model), ` +
      'every mode\'s update, ciphertext count and bytes grow accordingly, and AUC/ACC are the MedMNIST multi-label ones (mean per-label AUC, per-label ACC at 0.5). Its train split is 78,468 images, about 17x PneumoniaMNIST, so training dominates the round even more; use `--max-train-samples` to cap per-site samples for a quicker run. Nothing else changes: the loader and model pick the task and output count from the file.',
    '',
  );
  L.push(`![protect+aggregate per mode (log) and AUC per round](${chartFile})`, '');
  return L.join('\n');
}
