// Rounds over an emulated WAN (`bench:federation --wan SPEC[;SPEC...]`): real `flnode start`
// processes, every connection between two sites through a relay on loopback (node/testbed/wan.ts).
// For each spec and site count: round time and phases from round 2 on (round 1 includes start-up),
// the part that is not local training, bytes per round through the relays, the audit that the
// nodes' own byte counts match the relays', and a probe of what one relay delivers (RTT, rate).
// Writes bench/results/wan-<date>-sites-<list>.json and .md.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestbed, type NodeStatusFile } from '../node/testbed/testbed.ts';
import { parseWanSpec, probeLink, type WanSpec } from '../node/testbed/wan.ts';
import { arg, flag, say } from './args.ts';

interface WanRun {
  wan: { rtt_ms: number; rate_mbit: number; uplink: string } | null;
  nodes: number;
  rounds: number;
  identical_hashes: boolean;
  round_s: number[];
  /** Rounds ≥ 2: wall time per round, the slowest participant's local training (from its log: in
   * protocol v2 training runs beside keys and dealing, so no phase measures it), and the rest. */
  steady: { round_s: number; training_max_s: number; non_training_s: number } | null;
  phase_s_mean: Record<string, number>;
  mb_per_round: number;
  audit: { bypass: number; nodes_sent: number; relays_received: number; nodes_received: number; relays_delivered: number; min_one_way_ms: number; max_one_way_ms: number } | null;
  load_before: number[];
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const r2 = (x: number) => +x.toFixed(2);

async function runOne(wan: WanSpec | undefined, nodes: number, rounds: number, data: string, samples: number): Promise<WanRun> {
  const load_before = loadavg().map(r2);
  const timeouts = { heartbeatMs: 1000, livenessMs: 20000, keysMs: 60000, trainingMs: 120000, collectMs: 30000, aggregateMs: 30000 };
  const tb = await startTestbed({ nodes, rounds, data, maxTrainSamples: samples, maxEvalSamples: samples, timeouts, wan, countTraffic: true });
  tb.start();
  let st: NodeStatusFile[];
  try {
    await tb.waitFor((n, s) => !!s?.completed || !n.process, 30 * 60_000);
    const dead = tb.nodes.filter((n) => !n.process);
    if (dead.length) throw new Error(`node ${dead[0]!.name} exited; see ${dead[0]!.dir}/node.log`);
    await tb.waitFor(() => new Set(tb.nodes.map((n) => n.status()?.model.hash)).size === 1, 30_000).catch(() => undefined);
    st = tb.nodes.map((n) => n.status()!);
  } finally {
    await tb.stop();
  }
  const rs = [...st[0]!.rounds].sort((a, b) => a.round - b.round);
  const roundS = rs.map((r, i) => (i === 0 ? NaN : (r.completedAt - rs[i - 1]!.completedAt) / 1000));
  const steadyRounds = rs.slice(1).map((r) => r.round);
  const phases: Record<string, number[]> = {};
  for (const s of st) for (const r of s.rounds) if (r.attempt >= 0 && r.round >= 2) for (const [k, v] of Object.entries(r.phaseSeconds ?? {})) (phases[k] ??= []).push(v);
  const trained = tb.nodes.map((n) => trainingSeconds(join(n.dir, 'node.log')));
  const trainMax = steadyRounds.map((round) => Math.max(...trained.map((t) => t.get(round) ?? 0)));
  const steadyS = roundS.slice(1);
  const audit = tb.wanAudit();
  return {
    wan: wan ? { rtt_ms: wan.rttMs, rate_mbit: wan.rateBps / 1e6, uplink: wan.uplink ?? 'link' } : null,
    nodes,
    rounds,
    identical_hashes: new Set(st.map((s) => s.model.hash)).size === 1,
    round_s: roundS.map((x) => (Number.isNaN(x) ? -1 : r2(x))),
    steady: steadyS.length ? { round_s: r2(mean(steadyS)), training_max_s: r2(mean(trainMax)), non_training_s: r2(mean(steadyS.map((x, i) => x - trainMax[i]!))) } : null,
    phase_s_mean: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, r2(mean(v))])),
    // bytes the nodes wrote to their connections (TCP level), all rounds and start-up, per round
    mb_per_round: r2(tb.trafficTotals().sent / 1e6 / rounds),
    audit: audit ? { bypass: audit.bypass.length, nodes_sent: audit.nodesSent, relays_received: audit.relaysReceived, nodes_received: audit.nodesReceived, relays_delivered: audit.relaysDelivered, min_one_way_ms: r2(audit.minOneWayMs), max_one_way_ms: r2(audit.maxOneWayMs) } : null,
    load_before,
  };
}

/** Seconds of local training per round, from a node's log ('local training done'; the longest if it trained twice). */
function trainingSeconds(logPath: string): Map<number, number> {
  const out = new Map<number, number>();
  let text = '';
  try {
    text = readFileSync(logPath, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.includes('"local training done"')) continue;
    try {
      const e = JSON.parse(line) as { round: number; seconds: number };
      out.set(e.round, Math.max(out.get(e.round) ?? 0, e.seconds));
    } catch {
      /* not a log record */
    }
  }
  return out;
}

/** The protocol v2 phases (node/types.ts RoundPhase) in round order; `training` is the wait for the own update after U2. */
const PHASES = ['keys', 'dealing', 'training', 'collecting', 'unmasking', 'verifying'];

export async function wanBench(): Promise<void> {
  const specs = arg('--wan', 'rtt=40ms,rate=100mbit;rtt=150ms,rate=20mbit').split(';').map(parseWanSpec);
  const sites = arg('--wan-sites', '3,5,10').split(',').map(Number);
  const rounds = Number(arg('--wan-rounds', '3'));
  const samples = Number(arg('--wan-samples', '100'));
  const data = arg('--data', 'data/pneumoniamnist.npz');
  const baseline = !flag('--no-baseline');
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const command = `npm run bench:federation -- ${process.argv.slice(2).map((a) => (/[;, ]/.test(a) ? `'${a}'` : a)).join(' ')}`;
  const out = { command, commit, date: new Date().toISOString(), dataset: `pneumoniamnist, ${samples} training and ${samples} test samples per site, CNN 55,041 parameters`, probes: [] as unknown[], runs: [] as WanRun[] };
  for (const w of specs) {
    const p = await probeLink(w);
    out.probes.push(p);
    say(`probe rtt=${w.rttMs}ms rate=${w.rateBps / 1e6}mbit: measured RTT min ${p.rttMs.min} ms / median ${p.rttMs.median} ms, rate ${p.rateMbit} Mbit/s over ${p.bytes >> 20} MiB`);
  }
  const write = () => {
    const day = out.date.slice(0, 10);
    const name = `wan-${day}-sites-${sites.join('-')}`;
    writeFileSync(`bench/results/${name}.json`, JSON.stringify(out, null, 2) + '\n');
    const rows = out.runs.map((r) => `| ${r.nodes} | ${r.wan ? `${r.wan.rtt_ms} ms / ${r.wan.rate_mbit} Mbit/s${r.wan.uplink === 'site' ? ' (site uplink)' : ''}` : 'loopback'} | ${r.steady?.round_s ?? '-'} | ${r.steady?.training_max_s ?? '-'} | **${r.steady?.non_training_s ?? '-'}** | ${PHASES.map((k) => r.phase_s_mean[k] ?? '-').join(' / ')} | ${r.mb_per_round ?? '-'} | ${r.audit ? `${r.audit.bypass} bypass; nodes wrote ${r.audit.nodes_sent} B, relays read ${r.audit.relays_received} B; one-way ${r.audit.min_one_way_ms}–${r.audit.max_one_way_ms} ms` : '-'} | ${r.load_before[0]} |`);
    const md = [
      `# Rounds over an emulated WAN (${day})`,
      '',
      `Command: \`${command}\` at commit ${commit}. Data: ${out.dataset}. Rounds 2..${rounds} (round 1 includes start-up). Every connection between two sites crosses a relay on loopback (delay rtt/2 each way, paced to the rate).`,
      '',
      '| configured | measured RTT min / median (ms) | measured rate (Mbit/s) |',
      '|---|---|---|',
      ...(out.probes as Awaited<ReturnType<typeof probeLink>>[]).map((p) => `| ${p.configured.rttMs} ms / ${p.configured.rateMbit} Mbit/s | ${p.rttMs.min} / ${p.rttMs.median} | ${p.rateMbit} |`),
      '',
      `| sites | link | round (s) | training, slowest (s) | not training (s) | ${PHASES.join(' / ')}, mean per node (s) | MB written per round (all nodes) | relay audit | load (1 min) |`,
      '|---|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n');
    writeFileSync(`bench/results/${name}.md`, md);
    return md;
  };
  for (const n of sites) {
    for (const w of [...(baseline ? [undefined] : []), ...specs]) {
      const label = w ? `rtt ${w.rttMs} ms, ${w.rateBps / 1e6} Mbit/s${w.uplink === 'site' ? ' per site uplink' : ''}` : 'loopback';
      say(`${n} sites, ${label}, ${rounds} rounds (load ${loadavg().map(r2).join(' ')}) ...`);
      const r = await runOne(w, n, rounds, data, samples);
      out.runs.push(r);
      write(); // after every run, so a stopped bench keeps what it measured
      say(`  steady round ${r.steady?.round_s} s, of which not training ${r.steady?.non_training_s} s; phases ${JSON.stringify(r.phase_s_mean)}; ${r.mb_per_round ?? '-'} MB/round written by the nodes; bypass ${r.audit?.bypass ?? '-'}; same hash ${r.identical_hashes}`);
    }
  }
  say(write());
}
