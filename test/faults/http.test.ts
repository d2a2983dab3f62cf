// Seeded bad requests against startHttpServer with a fake NodeView: bad and missing tokens, bad
// bodies, oversized uploads, cross-origin writes, unknown paths and methods. Each is refused with a
// 4xx (or the connection cut for an oversized body), nothing reaches submitWeights, nothing 5xx,
// and the server keeps answering.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { zipSync } from 'fflate';
import { startHttpServer } from '../../node/http/server.ts';
import type { NodeStatus, NodeView } from '../../node/types.ts';
import { tally } from './summary.ts';

const TOKEN = 'ab'.repeat(32);
const SHAPES = [{ name: 'conv/kernel', shape: [3, 3, 1, 2] }, { name: 'conv/bias', shape: [2] }];
const PARAMS = 20;
const MAX_UPLOAD = 4096;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fakeView(submitted: Float32Array[]): NodeView {
  const status: NodeStatus = {
    site: 'site-a', peerId: '12D3KooWtest', consortium: 'c', manifestSignature: 'valid', listen: [], peers: [],
    round: { round: 1, attempt: 0, phase: 'keys', aggregator: null, participants: [], deadline: null },
    model: { version: 0, hash: null, published: null }, roundsPlanned: 3, events: [],
  };
  return {
    status: () => status,
    rounds: () => [],
    currentModel: async () => null,
    weightShapes: () => SHAPES,
    submitWeights: async (flat) => {
      submitted.push(flat);
      return { round: 1 };
    },
    onChange: () => () => undefined,
  };
}

interface Req {
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

function send(base: string, r: Req): Promise<{ status: number | 'reset'; body: string }> {
  return new Promise((resolve) => {
    const u = new URL(base);
    const req = request({ host: u.hostname, port: u.port, path: r.path, method: r.method, headers: r.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', () => resolve({ status: 'reset', body: '' }));
    if (r.body) req.end(r.body);
    else req.end();
  });
}

function floats(n: number, r: () => number, bad?: number): Uint8Array {
  const f = new Float32Array(n).map(() => r() - 0.5);
  if (bad !== undefined) f[(r() * n) | 0] = bad;
  return new Uint8Array(f.buffer);
}

function cases(r: () => number): Req[] {
  const out: Req[] = [];
  const ok = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' };
  const good = floats(PARAMS, r);
  const badTokens = ['', 'Bearer', `Bearer ${TOKEN.slice(1)}`, `Bearer ${TOKEN}0`, `Bearer ${'cd'.repeat(32)}`, `bearer ${TOKEN}`, `Basic ${Buffer.from('a:b').toString('base64')}`, `Bearer ${TOKEN.toUpperCase()}`, `Bearer  ${TOKEN}`, `Bearer ${'z'.repeat(64)}`];
  for (let i = 0; i < 40; i++) {
    const t = badTokens[i % badTokens.length]!;
    out.push({ what: `bad token "${t.slice(0, 20)}"`, method: 'POST', path: '/api/weights', headers: { ...(t ? { authorization: t } : {}), 'content-type': 'application/octet-stream' }, body: good });
  }
  for (let i = 0; i < 40; i++) {
    const n = [0, 1, PARAMS - 1, PARAMS + 1, 2 * PARAMS][i % 5]!;
    out.push({ what: `${n} floats`, method: 'POST', path: '/api/weights', headers: ok, body: floats(n, r) });
    out.push({ what: 'odd byte count', method: 'POST', path: '/api/weights', headers: ok, body: new Uint8Array(PARAMS * 4 + 1 + (i % 3)) });
  }
  for (const v of [NaN, Infinity, -Infinity]) for (let i = 0; i < 10; i++) out.push({ what: `weight ${v}`, method: 'POST', path: '/api/weights', headers: ok, body: floats(PARAMS, r, v) });
  for (let i = 0; i < 30; i++) {
    const garbage = new Uint8Array(16 + ((r() * 2000) | 0)).map(() => (r() * 256) | 0);
    out.push({ what: 'garbage zip', method: 'POST', path: '/api/weights', headers: { ...ok, 'content-type': 'application/zip' }, body: garbage });
  }
  const zips: [string, Uint8Array][] = [
    ['zip without model.json', zipSync({ 'weights.bin': good })],
    ['zip without weights', zipSync({ 'model.json': new TextEncoder().encode('{}') })],
    ['zip with broken model.json', zipSync({ 'model.json': new TextEncoder().encode('{"weightsManifest": ['), 'weights.bin': good })],
    ['zip with wrong weight names', zipSync({ 'model.json': new TextEncoder().encode(JSON.stringify({ weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'x', shape: [20], dtype: 'float32' }] }] })), 'weights.bin': good })],
  ];
  for (const [what, z] of zips) for (let i = 0; i < 5; i++) out.push({ what, method: 'POST', path: '/api/weights', headers: { ...ok, 'content-type': 'application/zip' }, body: z });
  const badShapes = ['not json', '[]', '[{"name":"a"}]', JSON.stringify([{ name: 'conv/kernel', shape: [3, 3, 1, 3] }, { name: 'conv/bias', shape: [2] }]), '{"a":1}', '[[[[[[[[[[1]]]]]]]]]]'];
  for (let i = 0; i < 30; i++) out.push({ what: `x-weight-shapes ${badShapes[i % badShapes.length]}`, method: 'POST', path: '/api/weights', headers: { ...ok, 'x-weight-shapes': badShapes[i % badShapes.length]! }, body: good });
  for (const ct of ['text/plain', 'application/json', '', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']) {
    for (let i = 0; i < 4; i++) out.push({ what: `content-type "${ct}"`, method: 'POST', path: '/api/weights', headers: { authorization: `Bearer ${TOKEN}`, ...(ct ? { 'content-type': ct } : {}) }, body: good });
  }
  for (let i = 0; i < 20; i++) {
    const size = MAX_UPLOAD + 1 + ((r() * 100_000) | 0);
    out.push({ what: `oversized ${size}`, method: 'POST', path: '/api/weights', headers: ok, body: new Uint8Array(size) });
  }
  for (const site of ['cross-site', 'same-site']) for (let i = 0; i < 10; i++) out.push({ what: `sec-fetch-site ${site}`, method: 'POST', path: '/api/weights', headers: { ...ok, 'sec-fetch-site': site }, body: good });
  const paths = ['/api/status', '/api/rounds', '/api/metrics', '/api/model', '/api/model/card', '/api/weights', '/api/events', '/'];
  for (const p of paths) for (const m of ['PUT', 'DELETE', 'PATCH']) out.push({ what: `${m} ${p}`, method: m, path: p, headers: ok, body: good });
  for (const m of ['POST']) for (const p of paths.filter((x) => x !== '/api/weights')) out.push({ what: `${m} ${p}`, method: m, path: p, headers: ok, body: good });
  for (let i = 0; i < 40; i++) {
    const p = ['/api/../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/api/status/../../x', '/api/weights/', '/API/STATUS', '/api', '/vendor/../../package.json', '/app.js%00.html', '/api/model?version=-1&x=' + 'a'.repeat(3000), '//api//status/x'][i % 10]!;
    out.push({ what: `GET ${p.slice(0, 40)}`, method: 'GET', path: p, headers: {} });
  }
  return out;
}

describe('faults: bad HTTP requests', function () {
  this.timeout(120_000);
  it('refuses every bad request with a 4xx and stays up; nothing reaches submitWeights', async () => {
    const submitted: Float32Array[] = [];
    const refused: string[] = [];
    const { pino } = await import('pino');
    const log = pino({ level: 'warn' }, { write: (l: string) => void (l.includes('http request refused') && refused.push(l)) });
    const srv = await startHttpServer({ host: '127.0.0.1', port: 0, view: fakeView(submitted), token: TOKEN, log, maxUploadBytes: MAX_UPLOAD });
    try {
      const all = cases(rng(8));
      assert.ok(all.length >= 300, `${all.length} cases`);
      const statuses = new Map<string, number>();
      for (const c of all) {
        const before = refused.length;
        const res = await send(srv.url, c);
        tally.cases++;
        const s = res.status;
        statuses.set(String(s), (statuses.get(String(s)) ?? 0) + 1);
        // some unknown paths normalize to a static page (e.g. /api/../x → /x → 404; /API/STATUS → 404)
        if (s === 'reset') assert.match(c.what, /^oversized/, `${c.what}: connection reset`);
        else {
          assert.ok(s >= 400 && s < 500, `${c.what}: status ${s} ${res.body.slice(0, 200)}`);
          if (s !== 404 || c.method !== 'GET') assert.ok(refused.length > before, `${c.what}: no reason in the log`);
          if (res.body.length) assert.ok(JSON.parse(res.body).error.code, `${c.what}: error body`);
          // a refused upload says what to do about it (the page and `flnode model import` show it)
          if (res.body.length && c.method === 'POST' && c.path === '/api/weights') assert.ok(JSON.parse(res.body).error.hint?.length > 20, `${c.what}: no hint in ${res.body}`);
        }
        tally.rejected++;
      }
      assert.equal(submitted.length, 0, 'a bad request reached submitWeights');
      console.log(`      ${all.length} bad requests refused: ${[...statuses].map(([k, v]) => `${k}×${v}`).join(' ')}`);
      // still serving, and a good upload still works
      assert.equal((await send(srv.url, { what: 'status', method: 'GET', path: '/api/status', headers: {} })).status, 200);
      const card = await send(srv.url, { what: 'card', method: 'GET', path: '/api/model/card', headers: {} });
      assert.equal(card.status, 200);
      assert.equal(JSON.parse(card.body).available, false, 'no model yet: the card says so');
      const ok = await send(srv.url, { what: 'good', method: 'POST', path: '/api/weights', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' }, body: floats(PARAMS, rng(1)) });
      assert.equal(ok.status, 202);
      assert.equal(submitted.length, 1);
    } finally {
      await srv.close();
    }
  });
});
