import { SimWorld } from '../helpers/sim-world.ts';
const t0 = performance.now();
const w = await SimWorld.create({ seed: Number(process.env.S ?? 1), nodes: Number(process.env.N ?? 3), rounds: Number(process.env.R ?? 3) });
await w.start();
const ok = await w.run(120_000, () => w.converged());
console.log(ok, w.describe(), w.checker.violations, w.checker.fedAvgChecked, (performance.now() - t0).toFixed(0), 'ms', w.net.stats);
