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
    .option('--epochs <n>', 'epochs (the one with the best validation AUC is kept)', int('--epochs', 1), 5)
    .option('--batch <n>', 'batch size', int('--batch', 1), 64)
    .option('--lr <x>', 'peak learning rate (warm-up, then cosine decay)', (v) => Number(v), 0.002)
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
      const bar = process.stderr.isTTY ? new SingleBar({ format: 'epoch {epoch} [{bar}] {value}/{total} samples', hideCursor: true }) : null;
      let epoch = 1;
      let lastLog = Date.now();
      bar?.start(trainer.trainSamples, 0, { epoch });
      // one optimizer over all epochs (warm-up + cosine LR); the weights of the epoch with the best
      // validation AUC are kept, and the test split is evaluated once, on them
      const fit = await trainer.fit({
        epochs: o.epochs,
        seed: o.seed * 1000,
        onProgress: (done) => {
          bar?.update(done, { epoch });
          if (!bar && Date.now() - lastLog > 5000) {
            lastLog = Date.now();
            log.info({ epoch, done, of: trainer!.trainSamples }, 'training');
          }
        },
        onEpoch: (e) => {
          log.info({ epoch: e.epoch, loss: +e.loss.toFixed(4), val_auc: +e.valAuc.toFixed(4), val_acc: +e.valAcc.toFixed(4), samples_per_s: Math.round(e.samplesPerS) }, 'epoch done');
          epoch = e.epoch + 1;
          if (bar && e.epoch < o.epochs) bar.start(trainer!.trainSamples, 0, { epoch });
        },
      });
      bar?.stop();
      const test = await trainer.evaluate('test');
      const testAtThreshold = await trainer.evaluate('test', fit.threshold);
      const summary = {
        dataset: trainer.dataset,
        task: trainer.task,
        backend: trainer.backend,
        train_samples: trainer.trainSamples,
        epochs: o.epochs,
        samples_per_s: Math.round(fit.samplesPerS),
        test_auc: +test.auc.toFixed(4),
        test_acc: +test.acc.toFixed(4),
        best_epoch: fit.bestEpoch,
        val_auc: +fit.bestValAuc.toFixed(4),
        threshold: +fit.threshold.toFixed(4),
        test_acc_at_threshold: +testAtThreshold.acc.toFixed(4),
        parameters: trainer.parameterCount,
        seconds: +fit.seconds.toFixed(1),
      };
      if (o.json) console.log(JSON.stringify(summary));
      else console.log(`${summary.dataset} (${summary.task}), ${summary.train_samples} training samples, ${summary.epochs} epochs on ${summary.backend}: test AUC ${summary.test_auc}, ACC ${summary.test_acc} (at ${summary.threshold}, chosen on validation by Youden's J: ${summary.test_acc_at_threshold}); epoch ${summary.best_epoch} kept (best validation AUC ${summary.val_auc}); ${summary.samples_per_s} samples/s`);
      trainer.dispose();
    });
}
