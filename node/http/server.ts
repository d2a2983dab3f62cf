// The node's local status page and JSON API (node:http; the surface is small enough that a
// framework would add more than it saves). Binds where the daemon says (127.0.0.1 by default).
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { ProtocolError } from '../../protocol/index.ts';
import { voidRecordFromJson } from '../../protocol/v2/void.ts';
import type { Logger } from '../log.ts';
import { VoidRefused } from '../rounds/void.ts';
import type { NodeView } from '../types.ts';
import { parseWeightsUpload, UploadError } from './upload.ts';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export interface HttpServerOptions {
  host: string;
  port: number;
  view: NodeView;
  token: string;
  log?: Logger;
  maxUploadBytes?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What the person uploading should do about each refusal (shown by the page and the CLI). */
function hintFor(code: string, ctx: { parameters: number; maxUpload: number }): string | undefined {
  const bytes = ctx.parameters * 4;
  switch (code) {
    case 'UNAUTHORIZED':
      return "Paste the 64 hex characters of the api-token file in this site's directory (created by flnode init).";
    case 'WRONG_SIZE':
      return `Upload weights of this same model (${ctx.parameters} parameters): retrain the model downloaded here, or send a flat .f32 file of exactly ${bytes} bytes.`;
    case 'BAD_SHAPES':
      return 'The layers of the upload differ from the consortium model. Start from the model downloaded here and keep its architecture.';
    case 'BAD_DTYPE':
      return 'Save the weights as float32 (no quantisation).';
    case 'NOT_FINITE':
      return 'Training diverged (NaN or infinity in the weights). Retrain, for example with a lower learning rate, and upload again.';
    case 'BAD_ZIP':
    case 'BAD_MODEL_JSON':
      return 'Upload the zip as TensorFlow.js saves a model: model.json and weights.bin at the top level (the downloaded model zip has this layout).';
    case 'TOO_LARGE':
      return `The node accepts at most ${ctx.maxUpload} bytes; this model's weights are ${bytes} bytes. Check that you chose the weights file of this model.`;
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 'Choose a TensorFlow.js model zip (.zip) or flat little-endian float32 weights (.f32).';
    case 'CROSS_ORIGIN':
      return "Upload from this node's own page, or from the command line (flnode model import).";
    case 'BAD_HOST':
      return 'Open the page as http://127.0.0.1:<port>/ or http://localhost:<port>/.';
  }
  return undefined;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'",
  'cache-control': 'no-store',
};

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > max) throw new HttpError(413, 'TOO_LARGE', `body of ${declared} bytes exceeds the limit of ${max}`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new HttpError(413, 'TOO_LARGE', `body exceeds the limit of ${max} bytes`);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

function checkToken(req: IncomingMessage, token: string): void {
  const auth = req.headers.authorization ?? '';
  const m = /^Bearer ([0-9a-f]{64})$/.exec(auth);
  const a = Buffer.from(m?.[1] ?? '0'.repeat(64));
  const b = Buffer.from(token);
  if (!m || a.length !== b.length || !timingSafeEqual(a, b)) throw new HttpError(401, 'UNAUTHORIZED', 'missing or wrong API token (Authorization: Bearer <token from the site directory\'s api-token file>)');
}

function checkSameOrigin(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (site && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'CROSS_ORIGIN', 'cross-origin requests may not change state');
  const origin = req.headers.origin;
  // `Origin: null` comes from sandboxed frames, file: pages and cross-origin redirects: refuse it.
  if (origin === 'null') throw new HttpError(403, 'CROSS_ORIGIN', 'requests with an opaque (null) origin may not change state');
  if (origin) {
    let host = '';
    try {
      host = new URL(origin).host;
    } catch {
      throw new HttpError(403, 'CROSS_ORIGIN', 'bad Origin header');
    }
    if (host !== req.headers.host) throw new HttpError(403, 'CROSS_ORIGIN', 'cross-origin requests may not change state');
  }
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);
const isLoopback = (host: string): boolean => LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host) || host.endsWith('.localhost');

/** DNS-rebinding guard: a server bound to loopback only answers requests addressed to a loopback name. */
function checkHost(req: IncomingMessage): void {
  const header = req.headers.host ?? '';
  let hostname = '';
  try {
    hostname = new URL(`http://${header}`).hostname.toLowerCase();
  } catch {
    throw new HttpError(421, 'BAD_HOST', 'bad Host header');
  }
  if (!isLoopback(hostname)) throw new HttpError(421, 'BAD_HOST', `this node only answers requests to localhost, not to ${hostname}`);
}

/** The download's file name: round and the first 12 hex digits of the model hash. */
export const modelFileName = (round: number, hash: string): string => `flnode-model-r${round}-${hash.slice(0, 12)}.zip`;

/** The page's model card: what the downloadable model is and how good it was (this node's own evaluation). */
function modelCard(view: NodeView, parameters: number) {
  const { model } = view.status();
  // the published round (best validation AUC on this site's share), which GET /api/model serves
  const round = model.published ?? model.version;
  const summary = view.rounds().find((r) => r.round === round);
  const hash = summary?.modelHash ?? model.hash;
  const info = view.modelInfo?.();
  const valAuc = summary?.valAuc;
  return {
    available: hash !== null,
    round,
    latestRound: model.version,
    hash,
    fileName: hash ? modelFileName(round, hash) : null,
    parameters,
    dataset: info?.dataset ?? null,
    task: info?.task ?? null,
    testAuc: summary?.testAuc ?? null,
    testAcc: summary?.testAcc ?? null,
    valAuc: typeof valAuc === 'number' ? valAuc : null,
    uploaded: summary?.uploaded === true,
  };
}

/** A void record file is well under 2 KiB. */
const MAX_VOID_BODY = 8192;

/** POST /api/void: the admin's signed void record (JSON, `flnode consortium void-round`) for this node's round. */
async function submitVoid(view: NodeView, body: Buffer, log: Logger | undefined): Promise<{ voided: number }> {
  if (!view.submitVoid) throw new HttpError(404, 'NOT_FOUND', 'this node does not take void records');
  let record;
  try {
    record = voidRecordFromJson(JSON.parse(body.toString('utf8')));
  } catch (err) {
    if (err instanceof ProtocolError || err instanceof SyntaxError) throw new HttpError(400, 'BAD_VOID_RECORD', `not a void record: ${err.message}`);
    throw err;
  }
  try {
    const { round } = await view.submitVoid(record);
    log?.warn({ round, reason: record.reason }, 'void record applied: the round ends without an aggregate');
    return { voided: round };
  } catch (err) {
    // a wrong signature is refused as such; a record for another round, base model or manifest conflicts with this node's state
    if (err instanceof VoidRefused) throw new HttpError(err.code === 'BAD_SIGNATURE' ? 403 : 409, err.code, err.message);
    throw err;
  }
}

export async function startHttpServer(opts: HttpServerOptions): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const maxUpload = opts.maxUploadBytes ?? 64 << 20;
  const page = await readFile(join(here, 'static', 'index.html'));
  const appJs = await readFile(join(here, 'static', 'app.js'));
  const chartJs = await readFile(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'));
  const sse = new Set<ServerResponse>();
  const loopbackOnly = isLoopback(opts.host.toLowerCase());
  const parameterCount = () => opts.view.weightShapes().reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (loopbackOnly) checkHost(req);
      if (req.method === 'GET' || req.method === 'HEAD') {
        switch (url.pathname) {
          case '/':
            res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' });
            return void res.end(page);
          case '/app.js':
            res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/javascript; charset=utf-8' });
            return void res.end(appJs);
          case '/vendor/chart.umd.js':
            res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=3600' });
            return void res.end(chartJs);
          case '/api/status':
            return sendJson(res, 200, opts.view.status());
          case '/api/rounds': {
            const published = opts.view.status().model.published;
            return sendJson(res, 200, opts.view.rounds().map((r) => ({ ...r, published: r.round === published })));
          }
          case '/api/metrics':
            return sendJson(res, 200, opts.view.rounds().map((r) => ({ round: r.round, testAuc: r.testAuc, testAcc: r.testAcc, testLoss: r.testLoss, valAuc: r.valAuc ?? null, completedAt: r.completedAt })));
          case '/api/events': {
            res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
            res.write(`data: ${JSON.stringify(opts.view.status())}\n\n`);
            sse.add(res);
            req.on('close', () => sse.delete(res));
            return;
          }
          case '/api/model': {
            const m = await opts.view.currentModel();
            if (!m) throw new HttpError(404, 'NO_MODEL', 'no global model yet');
            const zip = zipSync({ 'model.json': new TextEncoder().encode(m.modelJson), 'weights.bin': m.weights });
            res.writeHead(200, {
              ...SECURITY_HEADERS,
              'content-type': 'application/zip',
              'content-disposition': `attachment; filename="${modelFileName(m.round, m.hash)}"`,
              'x-model-hash': m.hash,
              'x-model-round': String(m.round),
              'x-model-version': String(m.version),
              'content-length': zip.length,
            });
            return void res.end(zip);
          }
          case '/api/model/card':
            return sendJson(res, 200, modelCard(opts.view, parameterCount()));
        }
        throw new HttpError(404, 'NOT_FOUND', `no such endpoint: ${url.pathname}`);
      }
      if (req.method === 'POST' && url.pathname === '/api/weights') {
        checkSameOrigin(req);
        checkToken(req, opts.token);
        const body = await readBody(req, maxUpload);
        let flat: Float32Array;
        try {
          flat = parseWeightsUpload(body, String(req.headers['content-type'] ?? ''), req.headers['x-weight-shapes'] as string | undefined, opts.view.weightShapes());
        } catch (err) {
          if (err instanceof UploadError) throw new HttpError(err.status, err.code, err.message);
          throw err;
        }
        const r = await opts.view.submitWeights(flat);
        opts.log?.info({ parameters: flat.length, round: r.round }, 'weights uploaded; they will be masked as this site\'s contribution');
        return sendJson(res, 202, { accepted: true, parameters: flat.length, round: r.round });
      }
      if (req.method === 'POST' && url.pathname === '/api/void') {
        checkSameOrigin(req);
        checkToken(req, opts.token);
        return sendJson(res, 200, await submitVoid(opts.view, await readBody(req, MAX_VOID_BODY), opts.log));
      }
      if (url.pathname.startsWith('/api/')) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`);
      throw new HttpError(404, 'NOT_FOUND', `no such endpoint: ${url.pathname}`);
    } catch (err) {
      if (err instanceof HttpError) {
        opts.log?.warn({ method: req.method, path: url.pathname, status: err.status, reason: err.message }, 'http request refused');
        // an oversized body is not read to its end: answer first, then drop the connection
        if (err.status === 413) {
          res.shouldKeepAlive = false;
          res.once('finish', () => req.destroy());
        }
        const hint = url.pathname === '/api/weights' ? hintFor(err.code, { parameters: parameterCount(), maxUpload }) : undefined;
        if (!res.headersSent) sendJson(res, err.status, { error: { code: err.code, message: err.message, ...(hint ? { hint } : {}) } });
        else res.end();
        return;
      }
      opts.log?.error({ err: (err as Error).stack }, 'http handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  const unsubscribe = opts.view.onChange(() => {
    if (sse.size === 0) return;
    const data = `data: ${JSON.stringify(opts.view.status())}\n\n`;
    for (const res of sse) res.write(data);
  });
  const keepAlive = setInterval(() => {
    for (const res of sse) res.write(': keep-alive\n\n');
  }, 15000);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}/`,
    port,
    async close() {
      clearInterval(keepAlive);
      unsubscribe();
      for (const res of sse) res.end();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
