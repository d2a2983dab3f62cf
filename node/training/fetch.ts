// Downloading a MedMNIST file: streamed to <out>/<name>.npz.part with progress, resumed with an
// HTTP Range request when a .part exists, MD5-checked, and only then renamed into place.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DATASETS } from './registry.ts';

export class FetchError extends Error {}

export interface FetchOptions {
  name: string;
  outDir: string;
  /** Overrides of the registry's URL and MD5 (tests serve generated files locally). */
  url?: string;
  md5?: string;
  onProgress?: (received: number, total: number | null) => void;
  fetchImpl?: typeof fetch;
}

async function md5File(path: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function fetchDataset(opts: FetchOptions): Promise<string> {
  const spec = DATASETS[opts.name];
  if (!spec) throw new FetchError(`unknown dataset "${opts.name}"; known: ${Object.keys(DATASETS).join(', ')}`);
  const url = opts.url ?? spec.url;
  const md5 = opts.md5 ?? spec.md5;
  await mkdir(opts.outDir, { recursive: true });
  const final = join(opts.outDir, `${spec.name}.npz`);
  const part = `${final}.part`;
  try {
    if ((await md5File(final)) === md5) return final; // already complete
  } catch {
    /* not there yet */
  }
  let have = 0;
  try {
    have = (await stat(part)).size;
  } catch {
    have = 0;
  }
  const doFetch = opts.fetchImpl ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, { headers: have > 0 ? { range: `bytes=${have}-` } : {} });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new FetchError(`cannot download ${spec.name} from ${new URL(url).host} (${cause}). Download ${spec.name}.npz elsewhere (MD5 ${spec.md5}) and pass it with --data PATH`);
  }
  if (res.status === 200 && have > 0) have = 0; // server ignored the range: restart cleanly
  else if (res.status !== 206 && res.status !== 200) {
    if (res.status === 416) {
      await rm(part, { force: true }); // our partial file is larger than the resource: start again
      return fetchDataset(opts);
    }
    throw new FetchError(`download of ${spec.name} failed: HTTP ${res.status}`);
  }
  const length = Number(res.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? have + length : null;
  const out = createWriteStream(part, { flags: have > 0 ? 'a' : 'w' });
  let received = have;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      received += chunk.length;
      opts.onProgress?.(received, total);
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
  if (total !== null && received !== total) throw new FetchError(`download of ${spec.name} stopped at ${received} of ${total} bytes; run the command again to resume`);
  const got = await md5File(part);
  if (got !== md5) {
    await rm(part, { force: true });
    throw new FetchError(`${spec.name}.npz has MD5 ${got}, expected ${md5}; the download was discarded`);
  }
  await rename(part, final);
  return final;
}
