// The comparison at several model sizes: P+A+U against d per mode (table, goals, chart).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ModeResult } from './harness.ts';
import { cost, protects, secs, times, type CompareResults } from './report.ts';

export interface SizeRun {
  results: CompareResults;
  synthetic: boolean;
  /** Dataset of the trained size, e.g. "pneumoniamnist". */
  dataset: string;
  command: string;
  load: string;
  /** The per-size files' base name. */
  file: string;
}

const label = (r: SizeRun) => `${r.results.d.toLocaleString('en-US')}${r.synthetic ? ' (synthetic)' : ` (CNN, ${r.dataset})`}`;
const extrapolation = (m: ModeResult) => (m.extrapolated ? ` ¹` : '');

export function sizesMarkdown(runs: readonly SizeRun[], info: { commit: string; chartFile: string; machine: string }): string {
  const sorted = [...runs].sort((a, b) => a.results.d - b.results.d);
  const modes = [...new Set(sorted.flatMap((r) => r.results.modes.map((m) => m.mode)))];
  const find = (r: SizeRun, mode: string) => r.results.modes.find((m) => m.mode === mode);
  const L: string[] = [];
  L.push('# flnode comparison at three model sizes: protect + aggregate + unmask against d', '');
  L.push(`Machine: ${info.machine}. Commit ${info.commit}. 3 sites; cryptograms are protocol v2 (t = 3 of 3).`, '');
  L.push('| d | data | rounds | command | load (uptime) at start → end | files |', '|---|---|---|---|---|---|');
  for (const r of sorted) L.push(`| ${r.results.d.toLocaleString('en-US')} | ${r.synthetic ? '**synthetic updates: costs only, no AUC**' : `${r.dataset}, CNN trained, AUC real`} | ${r.results.rounds} | \`${r.command}\` | ${r.load} | ${r.file}.{json,md,svg} |`);
  L.push('');
  L.push('## P+A+U seconds per round (protect + aggregate + unmask + unprotect: local update → plaintext aggregate, no training or transport)', '');
  L.push(`| mode | ${sorted.map(label).join(' | ')} | what it protects |`, `|---|${sorted.map(() => '---|').join('')}---|`);
  const sites = 3;
  for (const mode of modes) L.push(`| ${mode} | ${sorted.map((r) => (find(r, mode) ? secs(cost(find(r, mode)!)) + extrapolation(find(r, mode)!) : '—')).join(' | ')} | ${protects(mode, sites)} |`);
  L.push('');
  const notes = sorted.flatMap((r) => r.results.modes.filter((m) => m.extrapolated).map((m) => `${m.mode} at d = ${r.results.d.toLocaleString('en-US')}: ${m.notes.join('; ')}`));
  if (notes.length) L.push('¹ extrapolated (measured on a slice, times scaled linearly): ' + notes.join('; ') + '.', '');
  L.push('## Cryptogram breakdown and bytes', '');
  L.push(`| d | protect | aggregate | unmask | unprotect | P+A+U | communicate | bytes/site/round | bytes / (4·d) |`, '|---|---|---|---|---|---|---|---|---|');
  for (const r of sorted) {
    const c = find(r, 'cryptogram');
    if (c) L.push(`| ${label(r)} | ${secs(c.protect_s)} | ${secs(c.aggregate_s)} | ${secs(c.unmask_s)} | ${secs(c.unprotect_s)} | ${secs(cost(c))} | ${secs(c.communicate_s)} | ${c.bytes_per_site.toLocaleString('en-US')} | ${(c.bytes_per_site / (4 * r.results.d)).toFixed(4)} |`);
  }
  L.push('');
  L.push('## Goals', '');
  L.push('| goal | d | measured | |', '|---|---|---|---|');
  for (const r of sorted) {
    const c = find(r, 'cryptogram');
    if (!c) continue;
    const big = r.results.d >= 1e6;
    for (const [base, goal] of [['ckks', 100], ['paillier', 10000]] as const) {
      const b = find(r, base);
      if (!b) continue;
      const ratio = cost(b) / cost(c);
      L.push(`| cryptogram ≥ ${goal.toLocaleString('en-US')}x faster than ${base} (P+A+U)${b.extrapolated ? `, ${base} extrapolated` : ''} | ${label(r)} | ${times(ratio)} (${secs(cost(b))} s vs ${secs(cost(c))} s) | ${big ? (ratio >= goal ? 'met' : '**missed**') : 'ratio stated (goal is for d ≥ 1e6)'} |`);
    }
    if (!r.synthetic) {
      const round = c.train_s + c.protect_s + c.communicate_s + c.aggregate_s + c.unmask_s + c.unprotect_s;
      const plain = find(r, 'plain');
      L.push(`| cryptogram P+A+U ≤ 2 % of round time | ${label(r)} | ${((100 * cost(c)) / round).toFixed(2)} % (${secs(cost(c))} of ${secs(round)} s) | ${cost(c) / round <= 0.02 ? 'met' : '**missed**'} |`);
      if (plain) L.push(`| cryptogram test AUC = plain FedAvg's within 0.001 | ${label(r)} | ${c.test_auc.toFixed(4)} vs ${plain.test_auc.toFixed(4)} (Δ ${Math.abs(c.test_auc - plain.test_auc).toFixed(5)}) | ${Math.abs(c.test_auc - plain.test_auc) <= 0.001 ? 'met' : '**missed**'} |`);
    }
  }
  L.push('');
  L.push(`![P+A+U per round against d, per mode (log-log)](${info.chartFile})`, '');
  return L.join('\n');
}

export async function renderSizesChart(runs: readonly SizeRun[]): Promise<string> {
  const values = runs.flatMap((r) =>
    r.results.modes.map((m) => ({ d: r.results.d, mode: m.mode, seconds: Math.max(1e-6, cost(m)), kind: m.extrapolated ? 'extrapolated' : r.synthetic ? 'measured (synthetic updates)' : 'measured (trained CNN)' })),
  );
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'protect + aggregate + unmask per round against model size (3 sites)',
    data: { values },
    width: 480,
    height: 320,
    layer: [
      { mark: { type: 'line' }, encoding: { x: { field: 'd', type: 'quantitative', scale: { type: 'log' }, title: 'parameters d (log)' }, y: { field: 'seconds', type: 'quantitative', scale: { type: 'log' }, title: 'seconds per round (log)' }, color: { field: 'mode', type: 'nominal' } } },
      {
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          x: { field: 'd', type: 'quantitative', scale: { type: 'log' } },
          y: { field: 'seconds', type: 'quantitative', scale: { type: 'log' } },
          color: { field: 'mode', type: 'nominal' },
          shape: { field: 'kind', type: 'nominal', title: 'point', legend: { labelLimit: 320 } },
          tooltip: [{ field: 'mode' }, { field: 'd' }, { field: 'seconds' }, { field: 'kind' }],
        },
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
