// Federation accuracy over seeds (`npm run bench:federation -- --seeds 3`): for each seed and each
// split (IID, Dirichlet α = 0.5 over labels), 3 real flnode processes with cryptograms run R rounds
// on PneumoniaMNIST. Every site records its validation AUC of each round's global model; the
// published round is the one with the best mean validation AUC over the sites (the test split is
// not looked at), and its test AUC / ACC are reported per seed and as mean ± sd, with the per-round
// curves and the gap to the centralized mean of bench/results/train-latest.json.
// Options: --rounds 20 --splits iid,dirichlet:0.5 --epochs 1 (local epochs per round) --lr 0.001
// (the sites' Adam learning rate) --json
// Results are rewritten after every run, so an interrupted benchmark leaves what it measured.
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { startTestbed } from '../node/testbed/testbed.ts';
import { arg, flag, say } from './args.ts';

export interface SeedRun {
  seed: number;
  split: string;
  rounds: number;
  identical_hashes: boolean;
  /** Round with the best mean validation AUC over the sites. */
  selected_round: number;
  /** Round numbers of the curves (rounds every site has a summary of). */
  round_numbers: number[];
  selected_val_auc: number;
  test_auc: number;
  test_acc: number;
  final_test_auc: number;
  curves: { val_auc_mean: number[]; val_auc_per_site: number[][]; test_auc: number[]; test_acc: number[] };
  round_s_mean: number;
  minutes: number;
  load_1min: number;
}

interface RoundRow { round: number; testAuc: number | null; testAcc: number | null; valAuc?: number | null; modelHash: string; completedAt: number }

const r4 = (x: number) => +x.toFixed(4);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0);
const stat = (xs: number[]) => ({ mean: r4(mean(xs)), sd: r4(sd(xs)), n: xs.length });
const pm = (s: { mean: number; sd: number }) => `${s.mean.toFixed(4)} ± ${s.sd.toFixed(4)}`;

/** The published round: best mean validation AUC over the sites (earliest on ties). */
export function selectRound(valPerSite: number[][]): { round: number; valAuc: number } {
  const means = valPerSite[0]!.map((_, r) => mean(valPerSite.map((s) => s[r]!)));
  let best = 0;
  for (let r = 1; r < means.length; r++) if (means[r]! > means[best]!) best = r;
  return { round: best + 1, valAuc: means[best]! };
}

async function runOne(data: string, seed: number, split: string, rounds: number, epochs: number, learningRate: number | undefined): Promise<SeedRun> {
  const tb = await startTestbed({ data, nodes: 3, rounds, split, seed, epochs, learningRate, timeouts: { trainingMs: 240_000 } });
  const t0 = Date.now();
  const load0 = loadavg()[0]!;
  tb.start();
  try {
    await tb.waitFor((n, s) => !!s?.completed || !n.process, 120 * 60_000);
    const dead = tb.nodes.filter((n) => !n.process);
    if (dead.length) throw new Error(`node ${dead[0]!.name} exited; see ${dead[0]!.dir}/node.log`);
    await tb.waitFor(() => new Set(tb.nodes.map((n) => n.status()?.model.hash)).size === 1, 30_000).catch(() => undefined);
    const st = tb.nodes.map((n) => n.status()!);
    // rounds that every site has a summary of, aligned by round number
    const bySite = st.map((s) => new Map((s.rounds as RoundRow[]).map((r) => [r.round, r])));
    const common = [...bySite[0]!.keys()].filter((r) => bySite.every((m) => m.has(r))).sort((a, b) => a - b);
    const perSite = bySite.map((m) => common.map((r) => m.get(r)!));
    const n = common.length;
    const valPerSite = perSite.map((p) => p.map((r) => r.valAuc ?? NaN));
    const sel = selectRound(valPerSite);
    const rs = perSite[0]!;
    const chosen = rs[sel.round - 1]!; // sel.round is 1-based over `common`
    return {
      seed,
      split,
      rounds: n,
      identical_hashes: new Set(st.map((s) => s.model.hash)).size === 1,
      selected_round: chosen.round,
      round_numbers: common,
      selected_val_auc: r4(sel.valAuc),
      test_auc: r4(chosen.testAuc ?? NaN),
      test_acc: r4(chosen.testAcc ?? NaN),
      final_test_auc: r4(rs.at(-1)!.testAuc ?? NaN),
      curves: {
        val_auc_mean: valPerSite[0]!.map((_, r) => r4(mean(valPerSite.map((s) => s[r]!)))),
        val_auc_per_site: valPerSite.map((s) => s.map(r4)),
        test_auc: rs.map((r) => r4(r.testAuc ?? NaN)),
        test_acc: rs.map((r) => r4(r.testAcc ?? NaN)),
      },
      round_s_mean: +((rs.at(-1)!.completedAt - t0) / 1000 / n).toFixed(1),
      minutes: +((Date.now() - t0) / 60_000).toFixed(1),
      load_1min: +((load0 + loadavg()[0]!) / 2).toFixed(2),
    };
  } finally {
    await tb.stop();
  }
}

export async function federationSeeds(): Promise<void> {
  const seeds = Number(arg('--seeds', '3'));
  const rounds = Number(arg('--rounds', '20'));
  const epochs = Number(arg('--epochs', '1'));
  const learningRate = flag('--lr') ? Number(arg('--lr', '0.001')) : undefined;
  const splits = arg('--splits', 'iid,dirichlet:0.5').split(',');
  const data = arg('--data', 'data/pneumoniamnist.npz');
  const sh = (c: string) => {
    try {
      return execSync(c, { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  const commit = sh('git rev-parse --short HEAD') + (sh('git status --porcelain -- node bench/federation-seeds.ts') ? '+dirty' : '');
  const command = `npm run bench:federation -- ${process.argv.slice(2).join(' ')}`.trim();
  // read at every write: the centralized benchmark may finish while the federations run
  const baseline = (): { test_auc: number; test_acc: number; test_auc_sd?: number; seeds?: number; commit?: string } | null => {
    try {
      const t = JSON.parse(readFileSync('bench/results/train-latest.json', 'utf8'));
      return { ...t.centralized, commit: t.commit };
    } catch {
      return null; // no centralized baseline measured yet
    }
  };
  const date = new Date().toISOString();
  const stem = `bench/results/federation-${date.slice(0, 10)}-${commit}`;
  const runs: SeedRun[] = [];
  const write = () => {
    const central = baseline();
    const bySplit = Object.fromEntries(splits.map((sp) => {
      const rs = runs.filter((r) => r.split === sp);
      return [sp, rs.length ? { seeds: rs.map((r) => r.seed), test_auc: stat(rs.map((r) => r.test_auc)), test_acc: stat(rs.map((r) => r.test_acc)), selected_val_auc: stat(rs.map((r) => r.selected_val_auc)), selected_round: stat(rs.map((r) => r.selected_round)), gap_to_central_auc: central ? r4(mean(rs.map((r) => r.test_auc)) - central.test_auc) : null } : null];
    }));
    const out = { dataset: 'pneumoniamnist', command, commit, date, nodes: 3, rounds, local_epochs: epochs, learning_rate: learningRate ?? 0.001, seeds_planned: seeds, centralized: central, summary: bySplit, runs };
    const md = [
      `# Federation, PneumoniaMNIST, 3 flnode processes with cryptograms, ≤ ${rounds} rounds, ${epochs} local epoch(s) per round`,
      '',
      `Command: \`${command}\` at commit ${commit}, ${date}; 2 shared cores. Published round = best mean validation AUC over the 3 sites' own validation shares (test not looked at). Seeds vary the model's initial weights and shuffling; the site partition is fixed.`,
      central ? `Centralized baseline (bench/results/train-latest.json, commit ${central.commit}): test AUC ${central.test_auc} ± ${central.test_auc_sd ?? '?'} (${central.seeds ?? '?'} seeds), ACC@0.5 ${central.test_acc}.` : 'No centralized baseline in bench/results/train-latest.json.',
      '',
      '| split | seed | selected round | mean val AUC | test AUC | test ACC@0.5 | last-round test AUC | s/round | 1-min load |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...runs.map((r) => `| ${r.split} | ${r.seed} | ${r.selected_round} / ${r.rounds} | ${r.selected_val_auc.toFixed(4)} | ${r.test_auc.toFixed(4)} | ${r.test_acc.toFixed(4)} | ${r.final_test_auc.toFixed(4)} | ${r.round_s_mean} | ${r.load_1min} |`),
      '',
      '| split | seeds | test AUC (mean ± sd) | test ACC@0.5 | selected val AUC | AUC gap to centralized |',
      '|---|---:|---:|---:|---:|---:|',
      ...Object.entries(bySplit).filter(([, v]) => v).map(([sp, v]) => `| ${sp} | ${v!.seeds.length} | **${pm(v!.test_auc)}** | ${pm(v!.test_acc)} | ${pm(v!.selected_val_auc)} | ${v!.gap_to_central_auc === null ? '–' : v!.gap_to_central_auc.toFixed(4)} |`),
      '',
      'Per-round curves (mean validation AUC / test AUC):',
      '',
      ...runs.map((r) => `- ${r.split}, seed ${r.seed}: val ${r.curves.val_auc_mean.join(' ')}; test ${r.curves.test_auc.join(' ')}`),
      '',
    ].join('\n');
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`${stem}.json`, JSON.stringify(out, null, 2) + '\n');
    writeFileSync(`${stem}.md`, md);
    return { out, md };
  };
  for (let seed = 1; seed <= seeds; seed++) {
    for (const split of splits) {
      say(`seed ${seed}, ${split}: 3 sites, ${rounds} rounds ...`);
      const r = await runOne(data, seed, split, rounds, epochs, learningRate);
      runs.push(r);
      say(`  round ${r.selected_round} selected (mean val AUC ${r.selected_val_auc}): test AUC ${r.test_auc} ACC ${r.test_acc}; last round ${r.final_test_auc}; ${r.minutes} min; same hash: ${r.identical_hashes}`);
      write();
    }
  }
  const { out, md } = write();
  say(md);
  say(`wrote ${stem}.json and ${stem}.md`);
  if (flag('--json')) console.log(JSON.stringify(out));
}
