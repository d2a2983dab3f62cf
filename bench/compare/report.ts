// The results files: the JSON of issue 7 plus `d` and `unmask_s`, and a Markdown report with ratios.
import { collusionBound, defaultThreshold } from '../../protocol/index.ts';
import { costOf, type ModeResult } from './harness.ts';

export interface CompareResults {
  machine: string;
  rounds: number;
  /** Parameters per update. */
  d: number;
  modes: ModeResult[];
}

export interface RunInfo {
  dataset: string;
  /** Seeded synthetic updates (costs only, no training or AUC). */
  synthetic: boolean;
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
  /** Commit and machine load, when the CLI knows them. */
  commit?: string;
  load?: string;
}

export const MODE_KEYS = ['mode', 'test_auc', 'test_acc', 'train_s', 'protect_s', 'communicate_s', 'aggregate_s', 'unmask_s', 'unprotect_s', 'bytes_per_site', 'extrapolated'] as const;

/** `{"machine", "rounds", "d", "modes": [{mode, test_auc, …, extrapolated}]}` and nothing else; AUC/ACC null for synthetic runs. */
export function toJson(r: CompareResults): string {
  const round = (v: number) => (Number.isInteger(v) ? v : +v.toPrecision(6));
  const modes = r.modes.map((m) => Object.fromEntries(MODE_KEYS.map((k) => [k, typeof m[k] === 'number' ? round(m[k]) : m[k]])));
  return JSON.stringify({ machine: r.machine, rounds: r.rounds, d: r.d, modes }, null, 2) + '\n';
}

export const secs = (v: number) => (v === 0 ? '0' : v < 0.001 ? v.toExponential(2) : v < 10 ? v.toFixed(3) : v.toFixed(1));
export const times = (v: number) => (!Number.isFinite(v) ? '—' : v >= 100 ? `${Math.round(v).toLocaleString('en-US')}x` : `${v.toFixed(2)}x`);

/** protect + aggregate + unmask + unprotect (decryption/decoding) seconds per round. */
export const cost = (m: Pick<ModeResult, 'protect_s' | 'aggregate_s' | 'unmask_s' | 'unprotect_s'>) => costOf({ protect: m.protect_s, aggregate: m.aggregate_s, unmask: m.unmask_s, unprotect: m.unprotect_s });
export const roundTime = (m: ModeResult) => m.train_s + m.protect_s + m.communicate_s + m.aggregate_s + m.unmask_s + m.unprotect_s;

/** What each mode keeps from whom: printed next to the rows. */
export function protects(mode: string, sites: number): string {
  if (mode === 'plain') return 'nothing: the aggregator sees every update';
  if (mode === 'cryptogram') {
    const t = defaultThreshold(sites);
    const c = collusionBound(sites, t);
    return `protocol v2, t = ${t} of ${sites}: any ${c === 1 ? 'single member, the aggregator included,' : `${c} colluding members (the aggregator counted)`} learns nothing beyond the sum over at least t − c honest members (c ≤ min(2t−N−1, t−2) = ${c}); dropouts are unmasked from shares, never re-masked`;
  }
  if (mode === 'ckks') return '**one CKKS key pair shared by all sites: any site can decrypt any other site\'s update ciphertext**; it hides updates only from an outsider or an aggregator that holds no site key';
  if (mode === 'paillier') return '**one Paillier key pair shared by all sites: any site can decrypt any other site\'s update**; hides updates only from a keyless aggregator';
  if (mode === 'smpc') return `additive n-of-n shares: any ${sites - 2} or fewer sites learn nothing about another's update; the other ${sites - 1} sites together reconstruct the remaining one's (they hold all its shares); one missing site stops the round (no dropout recovery)`;
  const dp = /^dp-eps(\d+(?:\.\d+)?)(\+cryptogram)?$/.exec(mode);
  if (dp)
    return `(ε = ${dp[1]}, δ = 1e-5)-DP per site per round against anyone who sees the noisy update (over R rounds up to R·ε by basic composition)${dp[2] ? '; the noisy updates themselves are hidden by cryptograms' : '; the aggregator sees each noisy update'}`;
  return '';
}

export function toMarkdown(r: CompareResults, info: RunInfo, chartFile: string): string {
  const by = new Map(r.modes.map((m) => [m.mode, m]));
  const plain = by.get('plain');
  const auc = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : '—');
  const L: string[] = [];
  const what = info.synthetic ? `synthetic updates, d = ${r.d.toLocaleString('en-US')}, costs only` : info.dataset;
  L.push(`# flnode comparison: cryptograms vs plain FedAvg, CKKS, Paillier, SMPC and DP (${what})`, '');
  L.push(`Machine: ${r.machine}.${info.load ? ` Load (uptime): ${info.load}.` : ''}`, '');
  if (info.synthetic)
    L.push(
      `Run: \`${info.command}\`${info.commit ? ` at commit ${info.commit}` : ''} — ${info.sites} sites, ${r.rounds} rounds, **synthetic updates** of ${r.d.toLocaleString('en-US')} parameters (seeded uniform ±0.01 per coordinate, FedAvg weights 1570/1569/1569 like the CNN's PneumoniaMNIST partition): ` +
        `no training and no AUC, costs and bytes only; every aggregate is still checked against float FedAvg. Whole run ${Math.round(info.elapsedS)} s.`,
      '',
    );
  else
    L.push(
      `Run: \`${info.command}\`${info.commit ? ` at commit ${info.commit}` : ''} — ${info.sites} sites (IID partitions, fixed partition seed), ${r.rounds} rounds, ${info.localEpochs} local epoch(s), ` +
        `batch ${info.batchSize}, Adam lr ${info.learningRate}, seed ${info.seed}, same initial model for every mode; CNN with ${info.parameters.toLocaleString('en-US')} parameters; ` +
        `train samples per site ${info.trainSamplesPerSite.join('/')}; test set ${info.testSamples}. Whole run ${Math.round(info.elapsedS)} s.`,
      '',
    );
  L.push('## Results (seconds per round, averaged over rounds)', '');
  L.push('P+A+U = protect + aggregate + unmask + unprotect: from the local update to the plaintext aggregate (for HE the decryption, for cryptograms share reconstruction, mask removal and decoding), without training or transport.', '');
  L.push('| mode | test AUC | test ACC | ΔAUC vs plain | train | protect | communicate | aggregate | unmask | unprotect | P+A+U | % of round | bytes/site/round | extrapolated |');
  L.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const m of r.modes) {
    const d = plain && Number.isFinite(m.test_auc) ? (m.test_auc - plain.test_auc).toFixed(4) : '—';
    L.push(
      `| ${m.mode} | ${auc(m.test_auc)} | ${auc(m.test_acc)} | ${d} | ${secs(m.train_s)} | ${secs(m.protect_s)} | ${secs(m.communicate_s)} | ${secs(m.aggregate_s)} | ${secs(m.unmask_s)} | ${secs(m.unprotect_s)} | ${secs(cost(m))} | ${info.synthetic ? '—' : `${((100 * cost(m)) / roundTime(m)).toFixed(2)}%`} | ${m.bytes_per_site.toLocaleString('en-US')} | ${m.extrapolated ? 'yes' : 'no'} |`,
    );
  }
  L.push('');
  L.push('## What each mode protects', '');
  for (const m of r.modes) L.push(`- **${m.mode}**: ${protects(m.mode, info.sites)}.`);
  L.push('');
  if (plain) {
    L.push('## Ratios to plain', '');
    L.push(`| mode | P+A+U / plain |${info.synthetic ? '' : ' round time / plain |'} bytes / plain |`);
    L.push(info.synthetic ? '|---|---|---|' : '|---|---|---|---|');
    for (const m of r.modes) L.push(`| ${m.mode} | ${times(cost(m) / cost(plain))} |${info.synthetic ? '' : ` ${times(roundTime(m) / roundTime(plain))} |`} ${times(m.bytes_per_site / plain.bytes_per_site)} |`);
    L.push('', 'plain P+A+U is only the float32 weighted sum, so its ratios are large for any protection' + (info.synthetic ? '.' : '; the round-time column is the meaningful one.'), '');
  }
  const c = by.get('cryptogram');
  if (c) {
    L.push('## Targets (measured)', '');
    const row = (t: string, got: string, ok: boolean | null) => L.push(`| ${t} | ${got} | ${ok === null ? 'not run' : ok ? 'met' : '**not met**'} |`);
    L.push('| target | measured | |', '|---|---|---|');
    if (plain && !info.synthetic) row('cryptogram vs plain \\|ΔAUC\\| ≤ 0.001', Math.abs(c.test_auc - plain.test_auc).toFixed(5), Math.abs(c.test_auc - plain.test_auc) <= 0.001);
    if (!info.synthetic) row('cryptogram P+A+U ≤ 2 % of round time', `${((100 * cost(c)) / roundTime(c)).toFixed(3)} %`, cost(c) / roundTime(c) <= 0.02);
    const ck = by.get('ckks');
    const goal = r.d >= 1e6 ? '' : ' (goal set for d ≥ 1e6; ratio stated)';
    row(`≥ 100x faster than ckks (P+A+U)${ck?.extrapolated ? ', ckks extrapolated' : ''}${goal}`, ck ? `${times(cost(ck) / cost(c))}` : '—', ck ? cost(ck) / cost(c) >= 100 : null);
    const p = by.get('paillier');
    row(`≥ 10,000x faster than paillier (P+A+U)${p?.extrapolated ? ', paillier extrapolated' : ''}${goal}`, p ? `${times(cost(p) / cost(c))}` : '—', p ? cost(p) / cost(c) >= 10000 : null);
    const sm = by.get('smpc');
    row(`fewer bytes per site than smpc (n = ${info.sites})`, sm ? `${c.bytes_per_site.toLocaleString('en-US')} vs ${sm.bytes_per_site.toLocaleString('en-US')} (${times(sm.bytes_per_site / c.bytes_per_site)})` : '—', sm ? c.bytes_per_site < sm.bytes_per_site : null);
    const err = (name: string, label = name) => (by.get(name) ? `, ${label} ${by.get(name)!.max_abs_error.toExponential(2)}` : '');
    L.push('', `max |decoded − float64 FedAvg| per coordinate over all rounds: cryptogram ${c.max_abs_error.toExponential(2)}${err('smpc')}${err('paillier')}${err('ckks')}${err('plain', 'plain (float32)')}.`, '');
  }
  L.push('## Modes and parameters', '');
  for (const m of r.modes) L.push(`- **${m.mode}**: ${m.description}${m.notes.length ? ` — ${m.notes.join('; ')}` : ''}`);
  L.push('', '## How the times are measured', '');
  L.push(
    '- All modes run in one process, one after another, without libp2p' +
      (info.synthetic ? '; every mode gets the same seeded updates.' : '; every site trains from the same global model with the same per-site, per-round seed, so "train" differs between modes only through the (different) global models.'),
    '- protect, communicate, unmask and unprotect are per site (mean over sites, since sites work in parallel); aggregate is the aggregator\'s work (for smpc it also includes one site summing the shares it holds). Round time = train + protect + communicate + aggregate + unmask + unprotect.',
    '- cryptogram (protocol v2): protect = fresh secrets + self-commit + checking the others\' announced keys + Shamir dealing and share encryption + opening and checking the received shares + quantizing and adding the self mask and pairwise masks in one blocked pass (buildCryptogramV2); aggregate = 0 (the aggregator only relays); unmask = checking the reveals, reconstructing every self-mask seed from t shares that match their commitments (verified against its self-commit), then summing U3\'s cryptograms and removing all self masks in one blocked pass (unmaskAggregate); unprotect = decoding (decodeAggregateOverU3). Each message is encoded and signed by its sender and decoded and verified once (communicate).',
    '- communicate = serialization + deserialization only (signed envelopes and chunk reassembly for cryptograms; ciphertext save/load for CKKS, incl. downloading the summed ciphertexts; hex bytes for Paillier; GCM boxes for smpc). **No network latency or bandwidth is modelled**; bytes/site/round is what one site uploads for aggregation (for cryptograms the mean over sites of everything it signs and sends in the round: key announcement, dealing, cryptogram chunks, consent, reveal, and the aggregator\'s U1/U2/U3 lists; the model broadcast is the same for every mode and not counted).',
    '- Extrapolated rows: only a slice of the model was encrypted; times and bytes are scaled linearly by (full / measured ciphertexts or plaintexts, stated in the mode\'s line above), and the remaining coordinates are summed with the same encoding in the clear (bit-identical to what decryption yields), so the aggregate' + (info.synthetic ? ' is still exact.' : ' and AUC are real.'),
    '- DP: the RNG for the Gaussian noise is a seeded mulberry32 (repeatable benchmark); a deployment would use a CSPRNG, which costs more protect time.',
    '',
  );
  if (!info.synthetic) {
    L.push('## ChestMNIST (`--data PATH` to chestmnist.npz)', '');
    L.push(
      `ChestMNIST is multi-label with 14 outputs: the model\'s last Dense layer grows from 32·1+1 = 33 to 32·14+14 = 462 parameters (${info.parameters.toLocaleString('en-US')} → ${(info.parameters + 429).toLocaleString('en-US')} in total for this binary run's model), ` +
        'every mode\'s update, ciphertext count and bytes grow accordingly, and AUC/ACC are the MedMNIST multi-label ones (mean per-label AUC, per-label ACC at 0.5). Its train split is 78,468 images, about 17x PneumoniaMNIST, so training dominates the round even more; use `--max-train-samples` to cap per-site samples for a quicker run. Nothing else changes: the loader and model pick the task and output count from the file.',
      '',
    );
  }
  L.push(`![P+A+U per mode (log)${info.synthetic ? '' : ' and AUC per round'}](${chartFile})`, '');
  return L.join('\n');
}
