// SVG chart: protect+aggregate seconds per round by mode (log scale) and test AUC per round.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ModeResult } from './harness.ts';

export async function renderChart(modes: readonly ModeResult[]): Promise<string> {
  const cost = modes.map((m) => ({ mode: m.mode, seconds: Math.max(1e-6, m.protect_s + m.aggregate_s), extrapolated: m.extrapolated ? 'extrapolated' : 'measured' }));
  const auc = modes.flatMap((m) => m.auc_per_round.map((a, i) => ({ mode: m.mode, round: i + 1, auc: a })));
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    hconcat: [
      {
        title: 'protect + aggregate per round (s, log)',
        data: { values: cost },
        mark: 'bar',
        width: 320,
        height: 240,
        encoding: {
          y: { field: 'mode', type: 'nominal', sort: '-x', title: null },
          x: { field: 'seconds', type: 'quantitative', scale: { type: 'log' }, title: 'seconds' },
          color: { field: 'extrapolated', type: 'nominal', title: null },
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
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
