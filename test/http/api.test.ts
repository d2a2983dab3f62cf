import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { unzipSync, zipSync } from 'fflate';
import { parse } from 'yaml';
import { startHttpServer } from '../../node/http/server.ts';
import type { NodeStatus, NodeView, RoundSummary } from '../../node/types.ts';

const token = 'ab'.repeat(32);
const shapes = [{ name: 'k', shape: [2, 3] }, { name: 'b', shape: [3] }];
const submitted: Float32Array[] = [];
let hasModel = true;
const listeners = new Set<() => void>();
const status: NodeStatus = {
  site: 'hospital-<a>', peerId: '12D3KooWtest', consortium: 'k', manifestSignature: 'valid', listen: ['/ip4/127.0.0.1/tcp/1'],
  peers: [{ id: '12D3KooWtest', name: 'hospital-<a>', connected: true, live: true, lastSeen: Date.now() }],
  round: { round: 2, attempt: 0, phase: 'collecting', aggregator: '12D3KooWtest', participants: [{ id: '12D3KooWtest', name: 'a', chunksReceived: 1, chunksTotal: 1 }], deadline: Date.now() + 5000 },
  model: { version: 1, hash: 'ff'.repeat(32), published: 1 }, roundsPlanned: 3,
  events: [{ at: 1, kind: 'paused', detail: 'this node did not run for 21.1 s' }],
};
const rounds: RoundSummary[] = [{ round: 1, attempt: 0, participants: ['12D3KooWtest'], aggregator: '12D3KooWtest', phaseSeconds: { training: 1.5 }, bytesIn: 10, bytesOut: 20, modelHash: 'ff'.repeat(32), testAuc: 0.9, testAcc: 0.8, testLoss: 0.3, completedAt: 1 }];
const view: NodeView = {
  status: () => status,
  rounds: () => rounds,
  modelInfo: () => ({ dataset: 'pneumoniamnist', task: 'binary' }),
  currentModel: async () => (hasModel ? { version: 1, round: 1, hash: 'ff'.repeat(32), modelJson: '{"format":"layers-model"}', weights: new Uint8Array(36) } : null),
  weightShapes: () => shapes,
  submitWeights: async (flat) => {
    submitted.push(flat);
    return { round: 3 };
  },
  onChange: (l) => {
    listeners.add(l);
    return () => listeners.delete(l);
  },
};

let url = '';
let close: () => Promise<void>;
before(async () => {
  const s = await startHttpServer({ host: '127.0.0.1', port: 0, view, token, maxUploadBytes: 4096 });
  url = s.url.replace(/\/$/, '');
  close = s.close;
});
after(() => close());

const f32 = (vals: number[]) => Buffer.from(new Float32Array(vals).buffer);
const post = (body: BodyInit, headers: Record<string, string> = {}) => fetch(`${url}/api/weights`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', ...headers } });
async function expectError(res: Response, status: number, code: string, hint?: RegExp): Promise<void> {
  assert.equal(res.status, status);
  const j = await res.json();
  assert.equal(j.error.code, code);
  assert.ok(j.error.message.length > 5);
  if (hint) assert.match(j.error.hint, hint);
}

describe('http: read endpoints', () => {
  it('serves the page, its script and the chart library, without CORS wildcards', async () => {
    for (const path of ['/', '/app.js', '/vendor/chart.umd.js']) {
      const r = await fetch(url + path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('access-control-allow-origin'), null);
      assert.ok((await r.text()).length > 100);
    }
  });
  it('GET /api/status, /api/rounds and /api/metrics return the view as JSON', async () => {
    assert.deepEqual(await (await fetch(`${url}/api/status`)).json(), JSON.parse(JSON.stringify(status)));
    assert.equal((await (await fetch(`${url}/api/rounds`)).json())[0].testAuc, 0.9);
    assert.deepEqual(await (await fetch(`${url}/api/metrics`)).json(), [{ round: 1, testAuc: 0.9, testAcc: 0.8, testLoss: 0.3, valAuc: null, completedAt: 1 }]);
    // the round whose model GET /api/model serves is marked, and only that one
    assert.deepEqual((await (await fetch(`${url}/api/rounds`)).json()).map((r: { published: boolean }) => r.published), [true]);
    status.model.published = 2;
    assert.deepEqual((await (await fetch(`${url}/api/rounds`)).json()).map((r: { published: boolean }) => r.published), [false]);
    status.model.published = 1;
  });
  it('GET /api/events streams the status and pushes changes', async () => {
    const ctl = new AbortController();
    const r = await fetch(`${url}/api/events`, { signal: ctl.signal });
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    const reader = r.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /^data: \{.*"consortium":"k"/);
    for (const l of listeners) l();
    const second = new TextDecoder().decode((await reader.read()).value);
    assert.match(second, /^data: /);
    ctl.abort();
  });
  it('GET /api/model returns model.json + weights.bin in one zip with hash/round/version headers; 404 before a model', async () => {
    const r = await fetch(`${url}/api/model`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-model-hash'), 'ff'.repeat(32));
    assert.equal(r.headers.get('x-model-round'), '1');
    assert.equal(r.headers.get('x-model-version'), '1');
    assert.equal(r.headers.get('content-disposition'), `attachment; filename="flnode-model-r1-${'ff'.repeat(6)}.zip"`);
    const files = unzipSync(new Uint8Array(await r.arrayBuffer()));
    assert.deepEqual(Object.keys(files).sort(), ['model.json', 'weights.bin']);
    hasModel = false;
    await expectError(await fetch(`${url}/api/model`), 404, 'NO_MODEL');
    hasModel = true;
  });
  it('GET /api/model/card describes the current model: round, size, dataset, task, AUC of that round', async () => {
    const card = await (await fetch(`${url}/api/model/card`)).json();
    assert.deepEqual(card, {
      available: true, round: 1, latestRound: 1, hash: 'ff'.repeat(32), fileName: `flnode-model-r1-${'ff'.repeat(6)}.zip`, parameters: 9,
      dataset: 'pneumoniamnist', task: 'binary', testAuc: 0.9, testAcc: 0.8, valAuc: null, uploaded: false,
    });
    // a validation AUC in the round summary (recorded by newer engines) is shown; uploaded rounds are marked
    Object.assign(rounds[0]!, { valAuc: 0.85, uploaded: true });
    const card2 = await (await fetch(`${url}/api/model/card`)).json();
    assert.equal(card2.valAuc, 0.85);
    assert.equal(card2.uploaded, true);
    delete (rounds[0] as { valAuc?: number }).valAuc;
    delete rounds[0]!.uploaded;
  });
  it('unknown paths and methods are refused with JSON errors', async () => {
    await expectError(await fetch(`${url}/api/nope`), 404, 'NOT_FOUND');
    await expectError(await fetch(`${url}/api/status`, { method: 'DELETE' }), 405, 'METHOD_NOT_ALLOWED');
  });
});

describe('http: POST /api/weights', () => {
  const good = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  it('accepts flat float32 with the token and passes it to the node', async () => {
    const r = await post(f32(good), { 'x-weight-shapes': JSON.stringify([[2, 3], [3]]) });
    assert.equal(r.status, 202);
    assert.deepEqual(Array.from(submitted.at(-1)!), good);
  });
  it('accepts a zip of tfjs layers artifacts', async () => {
    const modelJson = JSON.stringify({ weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'k', shape: [2, 3], dtype: 'float32' }, { name: 'b', shape: [3], dtype: 'float32' }] }] });
    const zip = zipSync({ 'model.json': new TextEncoder().encode(modelJson), 'weights.bin': new Uint8Array(f32(good.map((x) => -x))) });
    const r = await post(Buffer.from(zip), { 'content-type': 'application/zip' });
    assert.equal(r.status, 202);
    assert.equal(submitted.at(-1)![0], -1);
  });
  it('refuses a missing or wrong token (401) and cross-origin requests (403)', async () => {
    const n = submitted.length;
    await expectError(await fetch(`${url}/api/weights`, { method: 'POST', body: f32(good), headers: { 'content-type': 'application/octet-stream' } }), 401, 'UNAUTHORIZED');
    await expectError(await post(f32(good), { authorization: `Bearer ${'cd'.repeat(32)}` }), 401, 'UNAUTHORIZED', /api-token file/);
    await expectError(await post(f32(good), { origin: 'http://evil.example' }), 403, 'CROSS_ORIGIN');
    await expectError(await post(f32(good), { 'sec-fetch-site': 'cross-site' }), 403, 'CROSS_ORIGIN');
    await expectError(await post(f32(good), { origin: 'null' }), 403, 'CROSS_ORIGIN');
    await expectError(await post(f32(good), { origin: 'http://127.0.0.1:1' }), 403, 'CROSS_ORIGIN');
    assert.equal(submitted.length, n, 'nothing reached the node');
    const sameOrigin = await post(f32(good), { origin: url, 'sec-fetch-site': 'same-origin' });
    assert.equal(sameOrigin.status, 202, 'a same-origin request with the token is accepted');
  });
  it('refuses wrong sizes, wrong shapes, non-finite values, bad zips, oversized bodies and other media types', async () => {
    const n = submitted.length;
    await expectError(await post(f32(good.slice(1))), 400, 'WRONG_SIZE', /same model \(9 parameters\).*exactly 36 bytes/);
    await expectError(await post(f32(good), { 'x-weight-shapes': '[[3,2],[3]]' }), 400, 'BAD_SHAPES', /architecture/);
    await expectError(await post(f32([...good.slice(0, 8), NaN])), 400, 'NOT_FINITE', /diverged/);
    await expectError(await post(f32([Infinity, ...good.slice(1)])), 400, 'NOT_FINITE');
    await expectError(await post(Buffer.from('PK\x03\x04broken'), { 'content-type': 'application/zip' }), 400, 'BAD_ZIP', /model\.json and weights\.bin/);
    await expectError(await post(Buffer.alloc(8192)), 413, 'TOO_LARGE', /at most 4096 bytes/);
    // the same without a Content-Length: the limit holds while streaming
    const chunks = Array.from({ length: 8 }, () => new Uint8Array(1024));
    const stream = new ReadableStream<Uint8Array>({ pull: (c) => (chunks.length ? c.enqueue(chunks.shift()!) : c.close()) });
    const streamed = await fetch(`${url}/api/weights`, { method: 'POST', body: stream, duplex: 'half', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' } } as RequestInit);
    await expectError(streamed, 413, 'TOO_LARGE');
    await expectError(await post('{"w":[1]}', { 'content-type': 'application/json' }), 415, 'UNSUPPORTED_MEDIA_TYPE', /\.f32/);
    assert.equal(submitted.length, n, 'nothing reached the node');
  });
});

// Raw request with a chosen Host header (fetch does not let us set it).
function rawGet(path: string, host: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('http: DNS rebinding and the OpenAPI document', () => {
  it('a loopback-bound node refuses requests addressed to another host name (421)', async () => {
    const evil = await rawGet('/api/status', 'evil.example:80');
    assert.equal(evil.status, 421);
    assert.equal(JSON.parse(evil.body).error.code, 'BAD_HOST');
    for (const host of ['localhost', `127.0.0.1:${new URL(url).port}`, 'localhost:9']) assert.equal((await rawGet('/api/status', host)).status, 200, host);
  });
  it('openapi.yaml documents exactly the endpoints served, with the upload error codes', async () => {
    const spec = parse(readFileSync(new URL('../../node/http/openapi.yaml', import.meta.url), 'utf8'));
    assert.equal(spec.openapi, '3.1.0');
    assert.deepEqual(Object.keys(spec.paths).sort(), ['/', '/api/events', '/api/metrics', '/api/model', '/api/model/card', '/api/rounds', '/api/status', '/api/void', '/api/weights']);
    for (const [path, ops] of Object.entries<Record<string, unknown>>(spec.paths)) {
      if (!('get' in ops) || path === '/api/events') continue;
      assert.equal((await fetch(url + path)).status, 200, path);
    }
    assert.deepEqual(Object.keys(spec.paths['/api/weights'].post.responses).sort(), ['202', '400', '401', '403', '413', '415']);
    assert.deepEqual(Object.keys(spec.paths['/api/model'].get.responses['200'].headers).sort(), ['Content-Disposition', 'X-Model-Hash', 'X-Model-Round', 'X-Model-Version']);
    const card = await (await fetch(`${url}/api/model/card`)).json();
    assert.deepEqual(Object.keys(card).sort(), [...spec.components.schemas.ModelCard.required].sort(), 'the card has exactly the documented fields');
  });
});
