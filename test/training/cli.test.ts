import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeMedMnistNpz } from '../helpers/medmnist-fixture.ts';

const run = (...args: string[]) => spawnSync(process.execPath, ['bin/flnode.mjs', ...args], { encoding: 'utf8', timeout: 120_000 });

describe('training: flnode train', () => {
  it('trains one site of a split and prints the JSON summary as the last line', () => {
    const r = run('train', '--data', 'data/pneumoniamnist.npz', '--epochs', '1', '--sites', '3', '--site', '2', '--max-train-samples', '200', '--json');
    assert.equal(r.status, 0, r.stderr);
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    // the original schema comes first and unchanged; later fields are additions
    assert.deepEqual(Object.keys(last).slice(0, 8), ['dataset', 'task', 'backend', 'train_samples', 'epochs', 'samples_per_s', 'test_auc', 'test_acc']);
    assert.ok(last.best_epoch === 1 && last.val_auc > 0 && last.threshold > 0 && last.threshold < 1, JSON.stringify(last));
    assert.equal(last.dataset, 'pneumoniamnist');
    assert.equal(last.train_samples, 200);
    assert.ok(last.test_auc > 0 && last.test_auc <= 1);
  });
  it('trains a generated ChestMNIST-layout file as multi-label', () => {
    const p = join(mkdtempSync(join(tmpdir(), 'flnode-cli-')), 'chestmnist.npz');
    makeMedMnistNpz(p, { dataset: 'chestmnist' });
    const r = run('train', '--data', p, '--epochs', '1', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim().split('\n').at(-1)!).task, 'multi-label');
  });
  it('bad input gives one error line and a non-zero exit', () => {
    for (const args of [['--data', '/nonexistent/pneumoniamnist.npz'], ['--data', 'data/pneumoniamnist.npz', '--split', 'weird'], ['--data', 'data/pneumoniamnist.npz', '--sites', '2', '--site', '5'], ['--data', 'data/pneumoniamnist.npz', '--epochs', 'x']]) {
      const r = run('train', ...args);
      assert.notEqual(r.status, 0);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('flnode:') || /^\s+at /.test(l));
      assert.equal(lines.length, 1, r.stderr);
    }
  });
});
