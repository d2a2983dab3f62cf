// Random fault plans for the sweep, all drawn from the seed: the federation's size and links, then
// a window of faults (crashes at any moment or at a named point of a round, pauses, partitions,
// lossy and reordering links), then quiet: every fault ends and the honest nodes must finish the
// plan on one model.
import { SimWorld, type SimOptions } from './sim-world.ts';
import { Rng } from './sim-rng.ts';

/** Every point EngineHooks.reached is called with (phases entered and steps of a round). */
export const CRASH_POINTS = ['keys', 'dealing', 'training', 'collecting', 'unmasking', 'verifying', 'secrets-persisted', 'dealing-persisted', 'list-persisted', 'cryptogram-persisted', 'cryptogram-published', 'reveal-saved', 'reveal-persisted', 'reveal-sent'] as const;

export interface SeedResult {
  seed: number;
  events: number;
  faults: number;
  trace: number;
  /** Virtual seconds until every honest node finished, or null. */
  finishedAt: number | null;
  violations: string[];
  errors: string[];
  plan: string[];
  hashes: string[];
  /** Event kinds honest unfinished nodes recorded in the round they are stuck in. */
  stallEvents: string[];
  /** The malicious member's fault, if the seed has one. */
  malicious: string | null;
}

/** The shape of the federation for a seed. */
export function optionsFor(seed: number): SimOptions {
  const r = new Rng(seed).fork('shape');
  const minDelayMs = r.int(1, 10);
  const nodes = r.int(3, 5);
  // a malicious member in 40 % of the federations of 4-5 (with 3, t = 3 = N: one excluded member
  // stalls every round, which is the protocol's rule, not a finding)
  const m = new Rng(seed).fork('malice');
  const malicious = nodes >= 4 && m.chance(0.4) ? { [m.int(0, nodes - 1)]: m.pick(['split-u3', 'false-dropout', 'equivocate'] as const) } : undefined;
  return {
    seed,
    nodes,
    ...(malicious ? { faulty: malicious } : {}),
    rounds: r.int(2, 4),
    parameters: r.pick([8, 32, 100]),
    links: { minDelayMs, maxDelayMs: minDelayMs + r.int(10, 300), loss: r.pick([0, 0, 0.01, 0.05, 0.1]), fifo: r.chance(0.5) },
  };
}

/** Schedules the seed's faults into the world's first `windowMs`; returns their descriptions. */
export function scheduleFaults(w: SimWorld, windowMs: number): string[] {
  const r = w.faults;
  const plan: string[] = [];
  const count = r.int(1, 6);
  for (let i = 0; i < count; i++) {
    const at = r.int(0, windowMs);
    const n = r.pick(w.nodes);
    const kind = r.pick(['crash', 'crash-at', 'pause', 'partition'] as const);
    const t = `${(at / 1000).toFixed(2)}s`;
    if (kind === 'crash') {
      const down = r.int(100, 6000);
      plan.push(`${t} crash ${n.name} for ${down} ms`);
      w.sched.schedule(at, `fault:crash:${n.name}`, () => w.crash(n, down));
    } else if (kind === 'crash-at') {
      const point = `${r.int(1, w.opts.rounds)}:${r.pick(CRASH_POINTS)}`;
      const down = r.int(100, 5000);
      plan.push(`crash ${n.name} at ${point}, restart after ${down} ms`);
      n.crashAt.add(point);
      n.restartAfterMs = down;
    } else if (kind === 'pause') {
      const len = r.int(300, 6000);
      plan.push(`${t} pause ${n.name} for ${len} ms`);
      w.sched.schedule(at, `fault:pause:${n.name}`, () => w.pause(n, len));
    } else {
      const len = r.int(300, 8000);
      const shuffled = w.nodes.map((x) => ({ x, k: r.next() })).sort((a, b) => a.k - b.k).map((e) => e.x.id);
      const cut = r.int(1, shuffled.length - 1);
      const groups = [shuffled.slice(0, cut), shuffled.slice(cut)];
      plan.push(`${t} partition ${groups.map((g) => g.map((id) => w.node(id).name).join('+')).join(' | ')} for ${len} ms`);
      w.sched.schedule(at, 'fault:partition', () => w.net.partition(groups));
      w.sched.schedule(at + len, 'fault:heal', () => w.net.heal());
    }
  }
  return plan;
}

/** Runs one seed: faults for `windowMs`, then quiet until finished (at most `quietMs`). */
export async function runSeed(seed: number, opts: { windowMs?: number; quietMs?: number; override?: Partial<SimOptions> } = {}): Promise<SeedResult> {
  const { windowMs = 20_000, quietMs = 120_000 } = opts;
  const w = await SimWorld.create({ ...optionsFor(seed), ...opts.override });
  const plan = scheduleFaults(w, windowMs);
  await w.start();
  await w.run(windowMs, () => w.checker.violations.length > 0);
  let finishedAt: number | null = null;
  if (!w.checker.violations.length) {
    w.endFaults();
    const done = await w.run(quietMs, () => w.converged() || w.checker.violations.length > 0);
    if (done && w.converged()) finishedAt = w.elapsed();
    else if (!w.checker.violations.length) w.checker.checkConverged();
  }
  return {
    seed,
    events: w.sched.events,
    faults: plan.length,
    trace: w.sched.trace,
    finishedAt,
    violations: w.checker.violations,
    errors: w.checker.errors,
    plan,
    hashes: w.honest.map((n) => n.engine?.global?.hash ?? '-'),
    malicious: Object.values(w.opts.faulty ?? {})[0] ?? null,
    stallEvents: [
      ...new Set(
        w.honest
          .filter((n) => n.engine?.round && !n.engine.completed)
          .flatMap((n) => n.engine.events.filter((e) => e.at >= n.engine.round.roundStartedAt).map((e) => e.kind)),
      ),
    ],
  };
}
