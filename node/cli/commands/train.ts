// `flnode train`: centralized (or one site's) training on a MedMNIST .npz, a baseline on its own.
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { UserError } from '../errors.ts';
import { intOption } from '../options.ts';
import { createTrainer, DatasetError, parseSplit } from '../../training/index.ts';
import { createLogger } from '../../log.ts';

const int = intOption;

export function register(program: Command): void {
  program
    .command('train')
    .description('train the CNN on a MedMNIST .npz (all of it, or one site of a split) and report test AUC/ACC')
    .requiredOption('--data <path>', 'MedMNIST .npz file')
    .option('--epochs <n>', 'epochs', int('--epochs', 1), 5)
    .option('--batch <n>', 'batch size', int('--batch', 1), 64)
    .option('--lr <x>', 'learning rate', (v) => Number(v), 0.001)
    .option('--sites <k>', 'number of sites the training split is divided into', int('--sites', 1), 1)
    .option('--site <i>', 'which site (0-based) to train', int('--site', 0), 0)
    .option('--split <scheme>', 'iid or dirichlet:<alpha>', 'iid')
    .option('--seed <n>', 'seed of initial weights and shuffling', int('--seed', 0), 1)
    .option('--max-train-samples <n>', 'use at most this many training samples', int('--max-train-samples', 1))
    .option('--json', 'print a JSON summary as the last line')
    .action(async (o) => {
      const log = createLogger('train');
      let scheme;
      try {
        scheme = parseSplit(o.split);
      } catch (err) {
        throw new UserError((err as Error).message);
      }
      if (o.site >= o.sites) throw new UserError(`--site ${o.site} must be below --sites ${o.sites}`);
      let trainer;
      try {
        trainer = await createTrainer({ dataPath: o.data, sites: o.sites, site: o.site, scheme, seed: o.seed, maxTrainSamples: o.maxTrainSamples, plan: { epochs: 1, batchSize: o.batch, learningRate: o.lr, optimizer: 'adam' } });
      } catch (err) {
        if (err instanceof DatasetError) throw new UserError(err.message);
        throw err;
      }
      const bar = process.stderr.isTTY ? new SingleBar({ format: 'epoch {epoch} [{bar}] {value}/{total} samples | {sps} samples/s', hideCursor: true }) : null;
      let seconds = 0;
      let samples = 0;
      for (let e = 0; e < o.epochs; e++) {
        bar?.start(trainer.trainSamples, 0, { epoch: e + 1, sps: '-' });
        let lastLog = Date.now();
        const r = await trainer.trainLocal({
          seed: o.seed * 1000 + e,
          keep: true,
          onProgress: (done) => {
            bar?.update(done, { sps: seconds > 0 ? Math.round(samples / seconds) : '-' });
            if (!bar && Date.now() - lastLog > 5000) {
              lastLog = Date.now();
              log.info({ epoch: e + 1, done, of: trainer!.trainSamples }, 'training');
            }
          },
        });
        bar?.stop();
        seconds += r.seconds;
        samples += r.samples;
        const val = await trainer.evaluate('val');
        log.info({ epoch: e + 1, loss: +r.loss.toFixed(4), val_auc: +val.auc.toFixed(4), val_acc: +val.acc.toFixed(4), samples_per_s: Math.round(r.samples / r.seconds) }, 'epoch done');
      }
      const test = await trainer.evaluate('test');
      const summary = {
        dataset: trainer.dataset,
        task: trainer.task,
        backend: trainer.backend,
        train_samples: trainer.trainSamples,
        epochs: o.epochs,
        samples_per_s: Math.round(samples / seconds),
        test_auc: +test.auc.toFixed(4),
        test_acc: +test.acc.toFixed(4),
      };
      if (o.json) console.log(JSON.stringify(summary));
      else console.log(`${summary.dataset} (${summary.task}), ${summary.train_samples} training samples, ${summary.epochs} epochs on ${summary.backend}: test AUC ${summary.test_auc}, ACC ${summary.test_acc} (${summary.samples_per_s} samples/s)`);
      trainer.dispose();
    });
}
