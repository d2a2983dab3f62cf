import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTrainer, DatasetError, loadMedMnist, partitionClasses, partitionIndices } from '../../node/training/index.ts';
import { makeMedMnistNpz } from '../helpers/medmnist-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'flnode-data-'));
/** Float32Array equality without assert's element diff (which takes gigabytes on 55k weights). */
function sameArrays(a: Float32Array, b: Float32Array, what: string): void {
  const i = a.findIndex((v, k) => v !== b[k]);
  assert.ok(a.length === b.length && i < 0, `${what} differ at index ${i}: ${a[i]} vs ${b[i]}`);
}
const plan = { epochs: 1, batchSize: 32, learningRate: 0.002, optimizer: 'adam' as const };

async function rejects(path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadMedMnist(path), (e: unknown) => e instanceof DatasetError && pattern.test(e.message) && !e.message.includes('\n'));
}

describe('training: MedMNIST files', () => {
  it('reads the real PneumoniaMNIST file (deflated entries) with its official split sizes', async () => {
    const d = await loadMedMnist('data/pneumoniamnist.npz');
    assert.deepEqual([d.name, d.task, d.train.n, d.val.n, d.test.n, d.outputs], ['pneumoniamnist', 'binary', 4708, 524, 624, 1]);
    let pos = 0;
    for (const v of d.train.labels) pos += v;
    assert.equal(pos, 3494);
  });

  it("reads ChestMNIST's 14-label multi-label layout (stored entries)", async () => {
    const p = join(dir, 'chestmnist.npz');
    makeMedMnistNpz(p, { dataset: 'chestmnist' });
    const d = await loadMedMnist(p);
    assert.deepEqual([d.task, d.labelColumns, d.outputs, d.train.n], ['multi-label', 14, 14, 120]);
  });

  it('gives one clear line for missing, truncated, wrong-dtype, wrong-shape and out-of-range files', async () => {
    await rejects(join(dir, 'missing', 'pneumoniamnist.npz'), /no such file/);
    const good = join(dir, 'pneumoniamnist.npz');
    makeMedMnistNpz(good, { dataset: 'pneumoniamnist' });
    const trunc = join(dir, 't', 'pneumoniamnist.npz');
    spawnSync('mkdir', ['-p', join(dir, 't')]);
    writeFileSync(trunc, readFileSync(good).subarray(0, 5000));
    await rejects(trunc, /pneumoniamnist\.npz/);
    const variants: [string, Parameters<typeof makeMedMnistNpz>[1]['tamper'], RegExp][] = [
      ['nokey', (a) => delete a['val_labels'], /missing val_images or val_labels/],
      ['dtype', (a) => (a['train_images'] = { dtype: '<f4', shape: a['train_images']!.shape, data: new Float32Array(a['train_images']!.data.length) }), /dtype/],
      ['shape', (a) => (a['test_images']!.shape = [10, 28 * 28 * 4, 1]), /shape/],
      ['range', (a) => (a['train_labels']!.data[3] = 7), /outside 0\.\.1/],
    ];
    for (const [name, tamper, pattern] of variants) {
      spawnSync('mkdir', ['-p', join(dir, name)]);
      const p = join(dir, name, 'pneumoniamnist.npz');
      makeMedMnistNpz(p, { dataset: 'pneumoniamnist', tamper });
      await rejects(p, pattern);
    }
  });

  it('partitions IID and Dirichlet deterministically, disjoint and complete; Dirichlet skews labels', async () => {
    const d = await loadMedMnist('data/pneumoniamnist.npz');
    const classes = partitionClasses(d.train.labels, 1, false);
    for (const scheme of [{ kind: 'iid' as const }, { kind: 'dirichlet' as const, alpha: 0.3 }]) {
      const a = partitionIndices(classes, { sites: 3, scheme, seed: 5 });
      const b = partitionIndices(classes, { sites: 3, scheme, seed: 5 });
      assert.deepEqual(a, b);
      const all = a.flat().sort((x, y) => x - y);
      assert.equal(all.length, d.train.n);
      assert.ok(all.every((v, i) => v === i));
    }
    const frac = (p: number[]) => p.filter((i) => classes[i] === 1).length / p.length;
    const iid = partitionIndices(classes, { sites: 3, scheme: { kind: 'iid' }, seed: 5 }).map(frac);
    const dir03 = partitionIndices(classes, { sites: 3, scheme: { kind: 'dirichlet', alpha: 0.3 }, seed: 5 }).map(frac);
    assert.ok(Math.max(...iid) - Math.min(...iid) < 0.05, `iid spread ${iid}`);
    assert.ok(Math.max(...dir03) - Math.min(...dir03) > 0.1, `dirichlet spread ${dir03}`);
    // multi-label: first positive label, or "no finding" (class L)
    assert.deepEqual(partitionClasses(Uint8Array.from([0, 1, 1, 0, 0, 0]), 3, true), [1, 3]);
  });
});

describe('training: trainer', () => {
  it('is deterministic: same seed → same initial and trained weights; trainLocal restores the start', async () => {
    const opts = { dataPath: 'data/pneumoniamnist.npz', sites: 3, site: 1, seed: 11, plan, maxTrainSamples: 96, maxEvalSamples: 100 };
    const a = await createTrainer(opts);
    const b = await createTrainer(opts);
    sameArrays(a.getWeights(), b.getWeights(), 'initial weights');
    const start = a.getWeights();
    const ra = await a.trainLocal({ seed: 3 });
    const rb = await b.trainLocal({ seed: 3 });
    // a and b are different model instances (tfjs renames the second one's variables)
    sameArrays(ra.delta, rb.delta, 'updates');
    assert.ok(ra.delta.some((v) => v !== 0));
    sameArrays(a.getWeights(), start, 'weights restored without keep');
    assert.equal(ra.samples, 96);
    const e = await a.evaluate('test');
    assert.ok(e.auc >= 0 && e.auc <= 1 && e.acc >= 0 && e.acc <= 1 && e.loss > 0);
    a.dispose();
    b.dispose();
  });

  it('fit keeps the weights of the epoch with the best validation AUC and is deterministic', async () => {
    const opts = { dataPath: 'data/pneumoniamnist.npz', seed: 4, plan, maxTrainSamples: 128, maxEvalSamples: 150 };
    const a = await createTrainer(opts);
    const b = await createTrainer(opts);
    const fa = await a.fit({ epochs: 3, seed: 1 });
    const fb = await b.fit({ epochs: 3, seed: 1 });
    sameArrays(a.getWeights(), b.getWeights(), 'fitted weights');
    const aucs = fa.history.map((h) => h.valAuc);
    assert.equal(fa.bestEpoch, aucs.indexOf(Math.max(...aucs)) + 1);
    assert.equal((await a.evaluate('val')).auc, fa.bestValAuc);
    assert.equal(fa.threshold, fb.threshold);
    assert.ok(fa.threshold > 0 && fa.threshold < 1);
    a.dispose();
    b.dispose();
  });

  it('trains and evaluates the 14-label ChestMNIST layout and exports the tfjs layers format', async () => {
    const p = join(dir, 'chestmnist.npz');
    makeMedMnistNpz(p, { dataset: 'chestmnist' });
    const t = await createTrainer({ dataPath: p, seed: 2, plan });
    assert.equal(t.task, 'multi-label');
    const r = await t.trainLocal({ seed: 1, keep: true });
    assert.ok(Number.isFinite(r.loss));
    const ev = await t.evaluate('test');
    assert.ok(ev.auc > 0 && ev.auc <= 1);
    const { modelJson, weights } = await t.exportModel();
    const mj = JSON.parse(modelJson);
    assert.equal(mj.format, 'layers-model');
    assert.equal(weights.byteLength, t.parameterCount * 4);
    assert.equal(mj.modelTopology.config.layers.at(-1).config.units, 14);
    t.dispose();
  });
});
