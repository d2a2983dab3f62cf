// `flnode status --dir D`: what the node last wrote to <dir>/status.json (works while it runs).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../errors.ts';

export function register(program: Command): void {
  program
    .command('status')
    .description("show a node's state (from <dir>/status.json, rewritten by the running node)")
    .requiredOption('--dir <dir>', 'site directory')
    .option('--json', 'print the raw JSON')
    .action(async (o: { dir: string; json?: boolean }) => {
      let s;
      try {
        s = JSON.parse(await readFile(join(o.dir, 'status.json'), 'utf8'));
      } catch {
        throw new UserError(`${join(o.dir, 'status.json')} not found or unreadable: has "flnode start --dir ${o.dir}" run yet?`);
      }
      if (o.json) return void console.log(JSON.stringify(s));
      console.log(`${s.site} (${s.peerId}) in consortium ${s.consortium}, manifest ${s.manifestSignature}`);
      console.log(`round ${s.round.round}/${s.roundsPlanned} attempt ${s.round.attempt} phase ${s.round.phase}${s.completed ? ' (all rounds complete)' : ''}`);
      console.log(`global model v${s.model.version} ${s.model.hash}`);
      for (const p of s.peers) console.log(`  ${p.name.padEnd(12)} ${p.connected ? 'connected' : 'disconnected'} ${p.live ? 'live' : 'silent'}`);
      for (const r of s.rounds) console.log(`  round ${r.round}: attempt ${r.attempt}, ${r.participants.length} participants, test AUC ${r.testAuc?.toFixed(4)} (${r.modelHash.slice(0, 16)}…)`);
    });
}
