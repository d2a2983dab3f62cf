// The randomized sweep: many seeds, each a federation of 3-5 engines under a seeded fault plan
// (crashes at any moment or at a named point, pauses, partitions, lossy reordering links), then
// quiet until every honest node finished. Invariants are checked after every event (agreement,
// FedAvg within the quantization bound, no failing engine step) and liveness once faults stop.
//
//   npx mocha test/sim/sweep.test.ts                      # seeds 1..200 (SIM_SEEDS, SIM_SEED_BASE)
//   SIM_SEED=123 npx mocha test/sim/sweep.test.ts         # replay one seed, printing its plan
//   SIM_SEED=123 SIM_LOG=info npx mocha test/sim/sweep.test.ts   # ... with the engines' logs
//   SIM_STRICT=1 ...                                      # known bugs fail the sweep too
//
// Failures of a known, reported cause (test/sim/regressions.test.ts names each with its seed) are
// counted on the sweep line as `known=` and do not fail the sweep unless SIM_STRICT is set; any
// other violation fails it with the seed that replays it.
import assert from 'node:assert/strict';
import { runSeed, type SeedResult } from '../helpers/sim-faults.ts';

/** Causes already reported; each is named by a test in regressions.test.ts. */
const KNOWN: { name: string; matches: (r: SeedResult, v: string) => boolean }[] = [
  {
    // LIVENESS only: a malicious member (two cryptograms, a second U3, a member left out of U3)
    // detected after some honest members already revealed for its attempt: they drop its
    // messages and the attempt cannot complete, so the round waits (never forks: privacy and
    // agreement are still checked after every event). Bounded only by an admin void record.
    name: 'stall-with-malicious-member',
    matches: (r, v) => v.startsWith('liveness') && r.malicious !== null,
  },
];

function classify(r: SeedResult): { unknown: string[]; known: string[] } {
  const unknown: string[] = [];
  const known = new Set<string>();
  for (const v of [...r.violations, ...r.errors]) {
    const k = process.env.SIM_STRICT ? undefined : KNOWN.find((x) => x.matches(r, v));
    if (k) known.add(k.name);
    else unknown.push(v);
  }
  return { unknown, known: [...known] };
}

describe('sim: randomized sweep', function () {
  this.timeout(900_000);
  it('invariants hold after every event for every seed, and the federation finishes once faults stop', async () => {
    const one = process.env.SIM_SEED !== undefined ? Number(process.env.SIM_SEED) : null;
    const count = one !== null ? 1 : Number(process.env.SIM_SEEDS ?? 200);
    const base = one ?? Number(process.env.SIM_SEED_BASE ?? 1);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let events = 0;
    let faults = 0;
    const failures: string[] = [];
    const knownBy = new Map<string, number[]>();
    for (let seed = base; seed < base + count; seed++) {
      const r = await runSeed(seed);
      events += r.events;
      faults += r.faults;
      const { unknown, known } = classify(r);
      for (const k of known) knownBy.set(k, [...(knownBy.get(k) ?? []), seed]);
      if (one !== null) console.log(`      seed ${seed}: ${r.events} events, finished at ${r.finishedAt ?? '-'} s virtual, trace ${r.trace.toString(16)}\n        plan: ${r.plan.join('; ')}\n        ${[...r.violations, ...r.errors].join('\n        ') || 'no violations'}`);
      if (unknown.length) {
        failures.push(`seed ${seed} (replay: SIM_SEED=${seed} npx mocha test/sim/sweep.test.ts)\n  plan: ${r.plan.join('; ')}\n  ${unknown.join('\n  ')}`);
        console.log(`      FAILED ${failures.at(-1)}`);
      }
    }
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const knownCount = [...knownBy.values()].reduce((s, x) => s + x.length, 0);
    const knownText = knownCount ? ` (${[...knownBy].map(([k, s]) => `${k}: ${s.join(',')}`).join('; ')})` : '';
    console.log(`      sim: seeds=${count} events=${events} faults=${faults} violations=${failures.length} known=${knownCount}${knownText} wall=${wall.toFixed(1)}s cpu=${((cpu.user + cpu.system) / 1e6).toFixed(1)}s`);
    assert.deepEqual(failures, [], `${failures.length} seed(s) violated an invariant`);
  });
});
