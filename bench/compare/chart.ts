// SVG charts: P+A+U seconds per round by mode (log scale) and test AUC per round for one run, and
// P+A+U against the parameter count d for several runs.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ModeResult } from './harness.ts';
import { cost as costOfMode } from './report.ts';

export async function renderChart(modes: readonly Pick<ModeResult, 'mode' | 'protect_s' | 'aggregate_s' | 'unmask_s' | 'unprotect_s' | 'extrapolated' | 'auc_per_round'>[]): Promise<string> {
  const cost = modes.map((m) => ({ mode: m.mode, seconds: Math.max(1e-6, costOfMode(m)), extrapolated: m.extrapolated ? 'extrapolated' : 'measured' }));
  const auc = modes.flatMap((m) => m.auc_per_round.map((a, i) => ({ mode: m.mode, round: i + 1, auc: a })));
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    hconcat: [
      {
        title: 'protect + aggregate + unmask per round (s, log)',
        data: { values: cost },
        mark: 'bar',
        width: 320,
        height: 240,
        encoding: {
          y: { field: 'mode', type: 'nominal', sort: '-x', title: null },
          // a log scale has no zero: bars start at the left edge of the domain
          x: { field: 'seconds', type: 'quantitative', scale: { type: 'log', domainMin: 1e-4 }, title: 'seconds (log)' },
          x2: { datum: 1e-4 },
          color: { field: 'extrapolated', type: 'nominal', title: 'slice', scale: { range: ['#2e5aac', '#b54708'] } },
        },
      },
      {
        title: 'test AUC per round',
        data: { values: auc },
        mark: { type: 'line', point: true },
        width: 320,
        height: 240,
        encoding: {
          x: { field: 'round', type: 'ordinal' },
          y: { field: 'auc', type: 'quantitative', scale: { zero: false }, title: 'test AUC' },
          color: { field: 'mode', type: 'nominal' },
        },
      },
    ],
    resolve: { scale: { color: 'independent' } },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
