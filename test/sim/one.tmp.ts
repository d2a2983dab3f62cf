import { runSeed } from '../helpers/sim-faults.ts';
const r = await runSeed(Number(process.env.S));
console.log(JSON.stringify({ ...r, violations: r.violations.map((v) => v.replace(/\\n/g, '\n')) }, null, 1).replace(/\\n/g, '\n'));
