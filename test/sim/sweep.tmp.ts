import { runSeed } from '../helpers/sim-faults.ts';
const from = Number(process.env.FROM ?? 1), to = Number(process.env.TO ?? 20);
let events = 0; const t0 = performance.now(); let bad = 0;
for (let s = from; s <= to; s++) {
  const t = performance.now();
  const r = await runSeed(s);
  events += r.events;
  const ms = performance.now() - t;
  if (r.violations.length || (r.errors.length && !process.env.NOERR) || process.env.V) { bad++; console.log(s, r.finishedAt, r.events, ms.toFixed(0), r.plan, r.violations, r.errors.length); }
  else if (ms > 2000) console.log('slow', s, ms.toFixed(0), r.finishedAt, r.plan);
}
console.log(`seeds ${from}..${to} events=${events} bad=${bad} ${(performance.now() - t0).toFixed(0)} ms`);
