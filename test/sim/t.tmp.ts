import { SimWorld } from '../helpers/sim-world.ts';
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  const w = await SimWorld.create({ seed: 1, nodes: 5, rounds: 10, parameters: 100 });
  const t1 = performance.now();
  await w.start();
  await w.run(120_000, () => w.converged());
  console.log((t1 - t0).toFixed(0), (performance.now() - t0).toFixed(0), w.sched.events);
}
