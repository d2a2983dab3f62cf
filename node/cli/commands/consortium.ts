// `flnode consortium create|add-member|threshold|sign|verify`: the signed consortium manifest;
// `flnode consortium void-round`: the admin's signed void record of a stalled round.
import { existsSync } from 'node:fs';
import { writeFile, readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { fromHex, signingPublicKey, toHex, utf8 } from '../../../protocol/index.ts';
import { MAX_VOID_REASON_BYTES, signVoidRecord, voidRecordToJson } from '../../../protocol/v2/index.ts';
import { loadOrCreateAdminKey } from '../../identity.ts';
import { createManifest, manifestHash, parseManifest, signManifest, thresholdSummary, verifyManifest, type Manifest } from '../../manifest.ts';
import { publicKeyFromPeerId } from '../../identity.ts';
import { UserError } from '../errors.ts';
import { intOption, positiveOption } from '../options.ts';

const num = positiveOption;

async function readManifest(path: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UserError(`${path}: cannot read the manifest`);
  }
  return parseManifest(text, path);
}

async function writeManifest(path: string, m: Manifest): Promise<void> {
  await writeFile(path, JSON.stringify(m, null, 2) + '\n');
}

/** One line: t of N, and the collusion bound min(2t − N − 1, t − 2) it gives. */
export function thresholdLine(m: Manifest): string {
  const { members, threshold, bound } = thresholdSummary(m);
  return `threshold ${threshold} of ${members} members${m.threshold === undefined ? ' (default)' : ''}; collusion bound min(2t−N−1, t−2) = ${bound}: up to ${bound} colluding member${bound === 1 ? '' : 's'} (the aggregator counted) learn no single update`;
}

export function register(program: Command): void {
  const c = program.command('consortium').description('create, extend, sign and verify a consortium manifest');
  c.command('create')
    .description('create an unsigned manifest (and the admin key if it does not exist)')
    .requiredOption('--id <consortium>', 'consortium id')
    .requiredOption('--out <file>', 'manifest file to write')
    .option('--admin-key <file>', 'admin key file (created 0600 if missing)', 'admin.key')
    .option('--rounds <n>', 'training rounds', num('--rounds'))
    .option('--epochs <n>', 'local epochs per round', num('--epochs'))
    .option('--lr <x>', 'learning rate', num('--lr'))
    .option('--batch <n>', 'batch size', num('--batch'))
    .option('--clip <x>', 'clip of weighted update values', num('--clip'))
    .option('--max-attempts <n>', 'attempts per round', num('--max-attempts'))
    .option('--threshold <t>', 'shares needed to unmask (protocol v2; 3 ≤ t ≤ N, t ≥ ceil(N/2)+1; default max(3, floor(2N/3)+1))', intOption('--threshold', 3))
    .option('--seed <n>', 'seed of the initial model', num('--seed'))
    .option('--dataset <name>', 'dataset the model is for', 'pneumoniamnist')
    .option('--timeouts <json>', 'timeouts in ms as JSON, e.g. {"collectMs":20000}')
    .action(async (o) => {
      const secret = await loadOrCreateAdminKey(o.adminKey);
      let timeouts = {};
      if (o.timeouts) {
        try {
          timeouts = JSON.parse(o.timeouts);
        } catch {
          throw new UserError('--timeouts must be JSON');
        }
      }
      const plan = Object.fromEntries(Object.entries({ rounds: o.rounds, localEpochs: o.epochs, learningRate: o.lr, batchSize: o.batch, clip: o.clip }).filter(([, v]) => v !== undefined));
      let m: Manifest;
      try {
        m = createManifest({ consortium: o.id, adminPublicKey: signingPublicKey(secret), plan, timeouts, maxAttempts: o.maxAttempts, seed: o.seed, dataset: o.dataset, threshold: o.threshold });
      } catch (err) {
        throw new UserError(`invalid manifest settings: ${(err as Error).message.split('\n')[0]}`);
      }
      await writeManifest(o.out, m);
      console.log(o.out);
    });
  c.command('add-member')
    .description('add a member (name, peer id) to an unsigned or signed manifest (drops the signature)')
    .requiredOption('--manifest <file>')
    .requiredOption('--name <name>')
    .requiredOption('--peer-id <id>')
    .requiredOption('--max-samples <n>', 'most training samples this member may announce (its FedAvg weight; the other members refuse a key announcement above it)', intOption('--max-samples', 1))
    .action(async (o) => {
      const m = await readManifest(o.manifest);
      if (!publicKeyFromPeerId(o.peerId)) throw new UserError(`${o.peerId} is not an Ed25519 libp2p peer id (see "flnode init")`);
      if (m.members.some((x) => x.peerId === o.peerId || x.name === o.name)) throw new UserError(`a member named ${o.name} or with that peer id is already listed`);
      if (o.maxSamples > 0xffffffff) throw new UserError('--max-samples must be at most 4294967295');
      const { signature: _s, ...rest } = m;
      const member = { name: o.name, peerId: o.peerId, maxSamples: o.maxSamples };
      await writeManifest(o.manifest, { ...rest, members: [...m.members, member] });
    });
  c.command('threshold')
    .description('print the threshold t and the collusion bound min(2t−N−1, t−2); --set changes t (drops the signature)')
    .requiredOption('--manifest <file>')
    .option('--set <t>', 'new threshold', intOption('--set', 1))
    .action(async (o) => {
      const m = await readManifest(o.manifest);
      if (o.set === undefined) {
        console.log(thresholdLine(m));
        return;
      }
      const { signature: _s, ...rest } = m;
      const next = { ...rest, threshold: o.set } as Manifest;
      const line = thresholdLine(next); // validates t against N before writing
      await writeManifest(o.manifest, next);
      console.log(line);
    });
  c.command('sign')
    .description('sign the manifest with the admin key')
    .requiredOption('--manifest <file>')
    .option('--admin-key <file>', 'admin key file', 'admin.key')
    .action(async (o) => {
      const m = await readManifest(o.manifest);
      const signed = signManifest(m, await loadOrCreateAdminKey(o.adminKey));
      verifyManifest(signed);
      await writeManifest(o.manifest, signed);
    });
  c.command('void-round')
    .description('sign a void record: round r ends without an aggregate and every member keeps the model it started from (PROTOCOL.md §8.10: check first that the round cannot complete)')
    .requiredOption('--manifest <file>', 'the signed manifest the members run')
    .requiredOption('--admin-key <file>', 'the admin key file (never created here)')
    .requiredOption('--round <r>', 'the stalled round', intOption('--round', 1))
    .requiredOption('--base-hash <hex>', 'hash of the model the round builds on: model version r − 1 (flnode status shows it)')
    .requiredOption('--reason <text>', `why the round is voided (1..${MAX_VOID_REASON_BYTES} bytes; every member records it)`)
    .option('--out <file>', 'write the record to this file (default: print it)')
    .action(async (o: { manifest: string; adminKey: string; round: number; baseHash: string; reason: string; out?: string }) => {
      const m = await readManifest(o.manifest);
      verifyManifest(m);
      if (!existsSync(o.adminKey)) throw new UserError(`${o.adminKey}: no admin key there (void-round never creates one)`);
      const secret = await loadOrCreateAdminKey(o.adminKey);
      if (toHex(signingPublicKey(secret)) !== m.adminPublicKey) throw new UserError(`${o.adminKey} is not the admin key of ${o.manifest} (its adminPublicKey is ${m.adminPublicKey.slice(0, 16)}…)`);
      if (!/^[0-9a-f]{64}$/.test(o.baseHash)) throw new UserError('--base-hash must be the 64 lowercase hex digits of the base model hash (model version r − 1)');
      const n = utf8(o.reason).length;
      if (n === 0 || n > MAX_VOID_REASON_BYTES) throw new UserError(`--reason must be 1..${MAX_VOID_REASON_BYTES} UTF-8 bytes, got ${n}`);
      const record = signVoidRecord({ consortium: m.consortium, round: o.round, manifestHash: manifestHash(m), baseModelHash: fromHex(o.baseHash), reason: o.reason }, secret);
      const text = JSON.stringify(voidRecordToJson(record), null, 2) + '\n';
      process.stderr.write(
        `warning: voiding skips round ${o.round}: members keep model version ${o.round - 1} as version ${o.round} and go on with round ${o.round + 1}.\n` +
          `  Apply it only to a round whose final attempt cannot complete (members' status shows attempt-stalled), and only when the\n` +
          `  members whose reveals or cryptograms are missing cannot come back with their round data: if they can, restart them instead.\n` +
          `  Hand it to one running member: flnode void --dir <site dir> --file <record>\n`,
      );
      if (o.out) {
        await writeFile(o.out, text);
        console.log(o.out);
      } else process.stdout.write(text);
    });
  c.command('verify')
    .description("check the manifest's schema and admin signature")
    .requiredOption('--manifest <file>')
    .action(async (o) => {
      const m = await readManifest(o.manifest);
      verifyManifest(m);
      console.log(`${o.manifest}: valid, consortium ${m.consortium}, ${m.members.length} members, signed by ${m.adminPublicKey.slice(0, 16)}…`);
      if (m.members.length >= 3) console.log(thresholdLine(m));
      else console.log('protocol v2 needs at least 3 members (a two-site aggregate cannot be private)');
    });
}
