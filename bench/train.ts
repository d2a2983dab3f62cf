// Training benchmark: throughput of each tfjs backend that loads here (and wasm/cpu in one run),
// then a centralized baseline on the dataset. `npm run bench:train -- [--json] [--data PATH] [--epochs N]`.
import * as tf from '@tensorflow/tfjs';
import { createTrainer, initBackend, loadMedMnist, useBackend } from '../node/training/index.ts';
import { arg, flag, say } from './args.ts';

const json = flag('--json');
const dataPath = arg('--data', 'data/pneumoniamnist.npz');
const epochs = Number(arg('--epochs', '10'));
const plan = { epochs: 1, batchSize: 64, learningRate: 0.001, optimizer: 'adam' as const };

const data = await loadMedMnist(dataPath);
await initBackend('auto');
const throughput: Record<string, number> = {};
for (const backend of ['tensorflow', 'wasm', 'cpu'] as const) {
  try {
    if (backend === 'tensorflow') {
      if (tf.getBackend() !== 'tensorflow') continue;
    } else await useBackend(backend);
  } catch {
    continue;
  }
  const samples = backend === 'cpu' ? 256 : 2048; // the cpu backend is measured on fewer samples
  const t = await createTrainer({ dataPath, data, seed: 1, plan, maxTrainSamples: samples });
  await t.trainLocal({ seed: 0 }); // warm-up
  const r = await t.trainLocal({ seed: 1 });
  throughput[backend] = r.samples / r.seconds;
  say(`${backend}: ${throughput[backend]!.toFixed(0)} samples/s (${r.samples} samples)`);
  t.dispose();
}
const ratio = throughput.wasm && throughput.cpu ? throughput.wasm / throughput.cpu : null;
if (ratio) say(`wasm / cpu = ${ratio.toFixed(1)}x`);

await useBackend(throughput.tensorflow ? 'cpu' : 'wasm');
const t = await createTrainer({ dataPath, data, seed: 1, plan });
let best = { epoch: 0, val_auc: -1 };
const t0 = performance.now();
for (let e = 0; e < epochs; e++) {
  const r = await t.trainLocal({ seed: 100 + e, keep: true });
  const val = await t.evaluate('val');
  if (val.auc > best.val_auc) best = { epoch: e + 1, val_auc: val.auc };
  say(`epoch ${e + 1}: loss ${r.loss.toFixed(4)} val AUC ${val.auc.toFixed(4)} ACC ${val.acc.toFixed(4)}`);
}
const test = await t.evaluate('test');
const result = {
  dataset: data.name,
  backend: tf.getBackend(),
  throughput_samples_per_s: Object.fromEntries(Object.entries(throughput).map(([k, v]) => [k, Math.round(v)])),
  wasm_over_cpu: ratio ? +ratio.toFixed(1) : null,
  centralized: { train_samples: t.trainSamples, epochs, seconds: +((performance.now() - t0) / 1000).toFixed(1), test_auc: +test.auc.toFixed(4), test_acc: +test.acc.toFixed(4) },
};
say(`centralized ${data.name}: ${epochs} epochs, test AUC ${result.centralized.test_auc}, ACC ${result.centralized.test_acc}`);
if (json) console.log(JSON.stringify(result));
