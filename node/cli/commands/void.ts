// `flnode void`: hands the admin's signed void record (`flnode consortium void-round`) to this
// site's running node, which applies it and gossips it to the other members (PROTOCOL.md §8.10).
// Like `flnode model import` it talks to the node's HTTP API with the token of the site directory
// (read from the api-token file, never passed on the command line).
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadApiToken } from '../../identity.ts';
import { UserError } from '../errors.ts';
import { runningNode } from './model.ts';

async function submitVoid(o: { dir: string; file: string; url?: string }): Promise<void> {
  let body: string;
  try {
    body = await readFile(o.file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const base = await runningNode(o.dir, o.url);
  if (!base) throw new UserError(`no running node answers for ${o.dir}: a void record goes to a running node started with --http (or give --url)`);
  const token = await loadApiToken(o.dir);
  let res: Response;
  try {
    res = await fetch(new URL('/api/void', base), { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  } catch (err) {
    throw new UserError(`sending the void record to ${base} failed: ${(err as Error).message}`);
  }
  const answer = (await res.json().catch(() => null)) as { voided?: number; error?: { code: string; message: string } } | null;
  if (res.status === 200 && answer?.voided !== undefined) {
    console.log(`round ${answer.voided} voided at ${base}: it commits the base model unchanged and gossips the record to the other members`);
    return;
  }
  const e = answer?.error;
  throw new UserError(e ? `${o.file} refused (${e.code}): ${e.message}` : `${o.file} refused: HTTP ${res.status}`);
}

export function register(program: Command): void {
  program
    .command('void')
    .description("hand the admin's signed void record of a stalled round to this site's running node (it applies it and spreads it to the members)")
    .requiredOption('--dir <dir>', 'site directory (for the api-token file and the node address)')
    .requiredOption('--file <path>', 'the void record (JSON from flnode consortium void-round)')
    .option('--url <url>', "the running node's status page (default: the address in <dir>/status.json)")
    .action(submitVoid);
}
