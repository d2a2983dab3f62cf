// `flnode model export|import`: the global model out of a site, and uploaded weights into it.
// While the node runs its database is locked, so both talk to the node's own HTTP API (the address
// is in <dir>/status.json, which the running node rewrites); export falls back to reading the
// database when the node is stopped.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { unzipSync } from 'fflate';
import { loadApiToken } from '../../identity.ts';
import { loadManifest } from '../../manifest.ts';
import { modelKey } from '../../rounds/engine.ts';
import { publishedRound } from '../../rounds/publication.ts';
import type { RoundSummary } from '../../types.ts';
import { Store, bytesF32 } from '../../storage/store.ts';
import { UserError } from '../errors.ts';

interface StatusFile {
  peerId?: string;
  http?: string | null;
}

async function readStatus(dir: string): Promise<StatusFile | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'status.json'), 'utf8')) as StatusFile;
  } catch {
    return null;
  }
}

/** The running node's HTTP address, or null when it has none or does not answer (stopped). */
export async function runningNode(dir: string, url: string | undefined): Promise<string | null> {
  const status = await readStatus(dir);
  const base = url ?? status?.http ?? null;
  if (!base) return null;
  try {
    const res = await fetch(new URL('/api/status', base), { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const live = (await res.json()) as { peerId?: string };
    // another program on a reused port, or another site's node, is not this site's node
    if (!url && status?.peerId && live.peerId !== status.peerId) return null;
    return base;
  } catch (err) {
    if (url) throw new UserError(`no flnode answers at ${url}: ${(err as Error).message}`);
    return null;
  }
}

const sha256hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function exportOnline(base: string, out: string): Promise<void> {
  const res = await fetch(new URL('/api/model', base));
  if (!res.ok) throw new UserError(`the node at ${base} answered ${res.status}: ${((await res.json().catch(() => null)) as { error?: { message?: string } } | null)?.error?.message ?? 'no model'}`);
  const hash = res.headers.get('x-model-hash') ?? '';
  const round = res.headers.get('x-model-round') ?? '?'; // the published round
  const files = unzipSync(new Uint8Array(await res.arrayBuffer()));
  const weights = files['weights.bin'];
  const modelJson = files['model.json'];
  if (!weights || !modelJson) throw new UserError(`the node at ${base} sent a model zip without model.json and weights.bin`);
  if (sha256hex(weights) !== hash) throw new UserError(`the weights from ${base} do not match the model hash ${hash}`);
  await write(out, modelJson, weights, hash, Number(round));
}

async function exportOffline(dir: string, manifestPath: string | undefined, out: string): Promise<void> {
  if (!manifestPath) throw new UserError(`no running node answers for ${dir} (see its status.json): to read the stopped node's database, give --manifest too`);
  const manifest = await loadManifest(manifestPath);
  const { DATASETS, outputCount } = await import('../../training/registry.ts');
  const spec = DATASETS[manifest.model.dataset];
  if (!spec) throw new UserError(`unknown dataset ${manifest.model.dataset} in the manifest`);
  const store = new Store(join(dir, 'db'));
  try {
    await store.open();
  } catch (err) {
    throw new UserError(`${(err as Error).message}; a running node is exported through its HTTP API: start it with --http`);
  }
  const g = await store.get<{ version: number; hash: string }>('global');
  // the round the running node would publish (best validation AUC), as GET /api/model serves it
  const summaries: RoundSummary[] = [];
  for (const k of await store.keys('summary/')) summaries.push((await store.get<RoundSummary>(k))!);
  const round = g ? (publishedRound(summaries) ?? g.version) : 0;
  const hash = g && round !== g.version ? summaries.find((x) => x.round === round)?.modelHash : g?.hash;
  const bytes = g ? await store.getBytes(modelKey(round)) : undefined;
  await store.close();
  if (!g || !bytes || !hash) throw new UserError(`no global model in ${dir} yet`);
  const { initBackend } = await import('../../training/backend.ts');
  const { createModel, exportLayersModel, setFlatWeights } = await import('../../training/model.ts');
  await initBackend();
  const model = createModel(spec.task, outputCount(spec), manifest.model.seed);
  setFlatWeights(model, bytesF32(bytes));
  const art = await exportLayersModel(model);
  await write(out, new TextEncoder().encode(art.modelJson), art.weights, hash, round);
}

async function write(out: string, modelJson: Uint8Array, weights: Uint8Array, hash: string, round: number): Promise<void> {
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'model.json'), modelJson);
  await writeFile(join(out, 'weights.bin'), weights);
  await writeFile(join(out, 'model-hash.txt'), `${hash}\nround ${round}\n`);
  console.log(`${out}: global model of round ${round} ${hash}`);
}

async function importWeights(o: { dir: string; file: string; url?: string }): Promise<void> {
  const base = await runningNode(o.dir, o.url);
  if (!base) throw new UserError(`no running node answers for ${o.dir}: uploads go to a running node started with --http (or give --url)`);
  const token = await loadApiToken(o.dir);
  let body: Buffer;
  try {
    body = await readFile(o.file);
  } catch (err) {
    throw new UserError(`cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const zip = body.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
  let res: Response;
  try {
    res = await fetch(new URL('/api/weights', base), { method: 'POST', body: new Uint8Array(body), headers: { authorization: `Bearer ${token}`, 'content-type': zip ? 'application/zip' : 'application/octet-stream' } });
  } catch (err) {
    throw new UserError(`the upload to ${base} failed: ${(err as Error).message}`);
  }
  const answer = (await res.json().catch(() => null)) as { round?: number; parameters?: number; error?: { code: string; message: string; hint?: string } } | null;
  if (res.status === 202 && answer?.round !== undefined) {
    const planned = ((await (await fetch(new URL('/api/status', base))).json().catch(() => null)) as { roundsPlanned?: number } | null)?.roundsPlanned;
    const when = planned !== undefined && answer.round > planned
      ? `no further round is planned (${planned} of ${planned}): the node keeps them for round ${answer.round} if the consortium plans more`
      : `round ${answer.round} will include them as this site's contribution`;
    console.log(`${o.file}: accepted, ${answer.parameters} parameters; ${when}`);
    return;
  }
  const e = answer?.error;
  throw new UserError(e ? `${o.file} refused (${e.code}): ${e.message}.${e.hint ? ` ${e.hint}` : ''}` : `${o.file} refused: HTTP ${res.status}`);
}

export function register(program: Command): void {
  const m = program.command('model').description('the global model');
  m.command('export')
    .description('write the published global model (the round with the best validation AUC at this site) as a tfjs layers model directory (model.json + weights.bin)')
    .requiredOption('--dir <dir>', 'site directory')
    .requiredOption('--out <dir>', 'output directory')
    .option('--manifest <file>', 'consortium manifest (needed only when the node is stopped: the architecture to rebuild the model)')
    .option('--url <url>', "the running node's status page (default: the address in <dir>/status.json)")
    .action(async (o: { dir: string; out: string; manifest?: string; url?: string }) => {
      const base = await runningNode(o.dir, o.url);
      if (base) await exportOnline(base, o.out);
      else await exportOffline(o.dir, o.manifest, o.out);
    });
  m.command('import')
    .description("upload locally-trained weights (a tfjs model zip or flat float32 .f32) to the running node as this site's next contribution")
    .requiredOption('--dir <dir>', 'site directory (for the api-token file and the node address)')
    .requiredOption('--file <path>', 'model zip (model.json + weights.bin) or flat little-endian float32 weights')
    .option('--url <url>', "the running node's status page (default: the address in <dir>/status.json)")
    .action(importWeights);
}
