// Federation benchmark on real processes (the local testbed): accuracy of 3 sites over R rounds,
// IID and Dirichlet label skew, against the centralized baseline; round time split by phase; and
// scaling to 10 and 20 local nodes (time per round, peak memory per node).
// `npm run bench:federation -- [--json] [--rounds 10] [--scaling 3,10,20] [--only accuracy|scaling]`
// `npm run bench:federation -- --wan 'rtt=40ms,rate=100mbit;rtt=150ms,rate=20mbit' [--wan-sites 3,5,10]`
// `npm run bench:federation -- --seeds 3 [--rounds 20]`: see federation-seeds.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { startTestbed, type NodeStatusFile, type TestbedOptions } from '../node/testbed/testbed.ts';
import { arg, flag, say } from './args.ts';

if (flag('--seeds')) {
  // accuracy over seeds with validation-based round selection: bench/federation-seeds.ts
  await (await import('./federation-seeds.ts')).federationSeeds();
  process.exit(0);
}

const json = flag('--json');
const only = arg('--only', 'all');
const rounds = Number(arg('--rounds', '10'));
const scaling = arg('--scaling', '3,10,20').split(',').map(Number);
const data = arg('--data', 'data/pneumoniamnist.npz');

// --wan SPEC[;SPEC...]: rounds over emulated WAN links instead (bench/federation-wan.ts).
if (process.argv.includes('--wan')) {
  await (await import('./federation-wan.ts')).wanBench();
  process.exit(0);
}

/** Peak resident memory (VmHWM) of a process, MB; null once it has exited. */
function peakMb(pid: number | undefined): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? +(Number(m[1]) / 1024).toFixed(0) : null;
  } catch {
    return null;
  }
}

interface RunResult {
  nodes: number;
  rounds: number;
  split: string;
  identical_hashes: boolean;
  test_auc: number[];
  test_acc: number[];
  round_s: number[];
  phase_s_mean: Record<string, number>;
  peak_rss_mb: { mean: number; max: number } | null;
}

async function run(opts: Partial<TestbedOptions> & { nodes: number; rounds: number }, timeoutMs: number): Promise<RunResult> {
  const tb = await startTestbed({ data, ...opts });
  const t0 = Date.now();
  tb.start();
  try {
    await tb.waitFor((n, s) => !!s?.completed || !n.process, timeoutMs);
    const dead = tb.nodes.filter((n) => !n.process);
    if (dead.length) throw new Error(`node ${dead[0]!.name} exited; see ${dead[0]!.dir}/node.log`);
    await tb.waitFor(() => new Set(tb.nodes.map((n) => n.status()?.model.hash)).size === 1, 30_000).catch(() => undefined);
    const peaks = tb.nodes.map((n) => peakMb(n.process?.pid)).filter((x): x is number => x !== null);
    const st = tb.nodes.map((n) => n.status()!) as NodeStatusFile[];
    const s0 = st[0]!;
    const rs = [...s0.rounds].sort((a, b) => a.round - b.round);
    const roundS = rs.map((r, i) => +((r.completedAt - (i === 0 ? t0 : rs[i - 1]!.completedAt)) / 1000).toFixed(2));
    // phase seconds of every node and round that ran the round itself (attempt ≥ 0)
    const phases: Record<string, number[]> = {};
    for (const s of st) for (const r of s.rounds) if (r.attempt >= 0) for (const [k, v] of Object.entries(r.phaseSeconds ?? {})) (phases[k] ??= []).push(v);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return {
      nodes: opts.nodes,
      rounds: opts.rounds,
      split: opts.split ?? 'iid',
      identical_hashes: new Set(st.map((s) => s.model.hash)).size === 1,
      test_auc: rs.map((r) => +(r.testAuc ?? NaN).toFixed(4)),
      test_acc: rs.map((r) => +(r.testAcc ?? NaN).toFixed(4)),
      round_s: roundS,
      phase_s_mean: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, +mean(v).toFixed(2)])),
      peak_rss_mb: peaks.length ? { mean: Math.round(mean(peaks)), max: Math.max(...peaks) } : null,
    };
  } finally {
    await tb.stop();
  }
}

const out: { dataset: string; accuracy: RunResult[]; centralized: unknown; scaling: RunResult[] } = { dataset: 'pneumoniamnist', accuracy: [], centralized: null, scaling: [] };
try {
  out.centralized = JSON.parse(readFileSync('bench/results/train-latest.json', 'utf8')).centralized;
} catch {
  /* no baseline measured yet */
}

if (only === 'all' || only === 'accuracy') {
  for (const split of ['iid', 'dirichlet:0.5']) {
    say(`accuracy: 3 sites, ${split}, ${rounds} rounds, full PneumoniaMNIST training split ...`);
    const r = await run({ nodes: 3, rounds, split }, 60 * 60_000);
    out.accuracy.push(r);
    say(`  test AUC per round ${r.test_auc.join(' ')}; final ACC ${r.test_acc.at(-1)}; s/round ${r.round_s.join(' ')}; same hash: ${r.identical_hashes}`);
    say(`  phase seconds (mean per node and round): ${JSON.stringify(r.phase_s_mean)}`);
  }
}
if (only === 'all' || only === 'scaling') {
  // small partitions: this measures the protocol and the network, not training
  const timeouts = { heartbeatMs: 1000, livenessMs: 20000, keysMs: 60000, trainingMs: 120000, collectMs: 30000, aggregateMs: 30000 };
  for (const n of scaling) {
    say(`scaling: ${n} nodes, 3 rounds, 100 training and 100 test samples per node ...`);
    const r = await run({ nodes: n, rounds: 3, maxTrainSamples: 100, maxEvalSamples: 100, timeouts }, 30 * 60_000);
    out.scaling.push(r);
    say(`  s/round ${r.round_s.join(' ')} (round 1 includes start-up); peak RSS per node ${JSON.stringify(r.peak_rss_mb)} MB; same hash: ${r.identical_hashes}`);
  }
}
if (only === 'all') writeFileSync('bench/results/federation-latest.json', JSON.stringify(out, null, 2) + '\n');
if (json) console.log(JSON.stringify(out));
