// `flnode data fetch NAME [--out DIR]`
import type { Command } from 'commander';
import { UserError } from '../errors.ts';
import { FetchError, fetchDataset } from '../../training/fetch.ts';

export function register(program: Command): void {
  const data = program.command('data').description('MedMNIST datasets');
  data
    .command('fetch <name>')
    .description("download a MedMNIST dataset's published .npz and check its MD5")
    .option('--out <dir>', 'directory to write <name>.npz into', 'data')
    .action(async (name: string, opts: { out: string }) => {
      // Test-only overrides (a local server serving generated files).
      const test = process.env.NODE_ENV === 'test';
      const tty = process.stderr.isTTY;
      let last = 0;
      try {
        const path = await fetchDataset({
          name,
          outDir: opts.out,
          url: test ? process.env.FLNODE_TEST_DATASET_URL : undefined,
          md5: test ? process.env.FLNODE_TEST_DATASET_MD5 : undefined,
          onProgress: (got, total) => {
            const now = Date.now();
            if (now - last < (tty ? 100 : 2000) && got !== total) return;
            last = now;
            const pct = total ? ` ${((100 * got) / total).toFixed(1)}%` : '';
            process.stderr.write(`${tty ? '\r' : ''}${name}: ${(got / 2 ** 20).toFixed(1)} MiB${pct}${tty ? '' : '\n'}`);
          },
        });
        if (tty) process.stderr.write('\n');
        console.log(path);
      } catch (err) {
        if (err instanceof FetchError) throw new UserError(err.message);
        throw err;
      }
    });
}
