// `flnode start`: run this site's node until stopped (or until the plan's rounds are done).
import type { Command } from 'commander';
import { startDaemon } from '../../daemon.ts';
import { createLogger } from '../../log.ts';
import { parseSplit } from '../../training/index.ts';
import { DatasetError } from '../../training/dataset.ts';
import { UserError } from '../errors.ts';
import type { AggregatorFault } from '../../runtime/hooks.ts';
import { intOption } from '../options.ts';

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
const int = (name: string) => intOption(name, 0);

export function parseHostPort(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(v) ?? /^()()(\d+)$/.exec(v);
  if (!m) throw new UserError(`--http must be HOST:PORT (e.g. 127.0.0.1:8600), got "${v}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new UserError(`--http port ${port} is out of range`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

export function register(program: Command): void {
  program
    .command('start')
    .description("run this site's node: join the consortium and take part in encrypted rounds")
    .requiredOption('--dir <dir>', 'site directory (from flnode init)')
    .requiredOption('--manifest <file>', 'signed consortium manifest')
    .requiredOption('--data <path>', "this site's MedMNIST .npz")
    .option('--listen <multiaddrs>', 'comma-separated listen multiaddrs', list, ['/ip4/127.0.0.1/tcp/0'])
    .option('--peers <multiaddrs>', 'comma-separated multiaddrs (with /p2p/<id>) of other members', list, [])
    .option('--http <host:port>', 'serve the status page and API here (127.0.0.1 unless a host is given)')
    .option('--sites <k>', 'split the training data into k partitions (default: members in the manifest)', int('--sites'))
    .option('--site <i>', "use partition i (default: this member's position in the manifest)", int('--site'))
    .option('--split <scheme>', 'iid or dirichlet:<alpha>', 'iid')
    .option('--max-train-samples <n>', "cap this site's training samples (quick runs)", int('--max-train-samples'))
    .option('--max-eval-samples <n>', 'cap the evaluation samples', int('--max-eval-samples'))
    .option('--exit-when-done', 'exit once the planned rounds are complete')
    .action(async (o) => {
      let scheme;
      try {
        scheme = parseSplit(o.split);
      } catch (err) {
        throw new UserError((err as Error).message);
      }
      const http = o.http ? parseHostPort(o.http) : null;
      const fault = process.env.NODE_ENV === 'test' ? ((process.env.FLNODE_TEST_FAULT as AggregatorFault | undefined) ?? null) : null;
      const log = createLogger('cli');
      let daemon;
      try {
        daemon = await startDaemon({ dir: o.dir, manifestPath: o.manifest, dataPath: o.data, listen: o.listen, peers: o.peers, http, sites: o.sites, site: o.site, scheme, maxTrainSamples: o.maxTrainSamples, maxEvalSamples: o.maxEvalSamples, fault });
      } catch (err) {
        if (err instanceof DatasetError) throw new UserError(err.message);
        if (err instanceof Error && /cannot open the node database|EADDRINUSE/.test(err.message)) throw new UserError(err.message);
        throw err;
      }
      if (fault) log.warn({ fault }, 'TEST FAULT INJECTION ACTIVE');
      process.on('unhandledRejection', (err) => log.error({ err: String((err as Error)?.stack ?? err) }, 'unhandled rejection'));
      process.on('uncaughtException', (err) => log.error({ err: err.stack }, 'uncaught exception'));
      let stopping = false;
      const stop = async (why: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ why }, 'stopping');
        await daemon.stop();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
      if (o.exitWhenDone) {
        const t = setInterval(() => {
          if (daemon.engine.completed) {
            clearInterval(t);
            // linger so peers can still fetch the final model from this node
            setTimeout(() => void stop('planned rounds complete'), 3000);
          }
        }, 500);
      }
      await new Promise(() => undefined);
    });
}
