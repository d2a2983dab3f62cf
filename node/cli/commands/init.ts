// `flnode init --dir D`: create the site's identity (Ed25519 key = libp2p peer id) and API token.
import type { Command } from 'commander';
import { initIdentity } from '../../identity.ts';

export function register(program: Command): void {
  program
    .command('init')
    .description("create this site's identity (key files 0600) and print its peer id")
    .requiredOption('--dir <dir>', 'site directory')
    .option('--json', 'print {"peerId","dir"}')
    .action(async (o: { dir: string; json?: boolean }) => {
      const id = await initIdentity(o.dir);
      console.log(o.json ? JSON.stringify({ peerId: id.peerId, dir: o.dir }) : id.peerId);
    });
}
