// POST /api/void: the admin's void record reaches the node only with the site's token, from the
// same origin, as a strict JSON record; the node's refusals come back with their codes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { equalBytes, signingPublicKey, verifySignature } from '../../protocol/index.ts';
import { signVoidRecord, voidRecordToJson, voidSigningBytes, type VoidRecordV2 } from '../../protocol/v2/index.ts';
import { startHttpServer } from '../../node/http/server.ts';
import { VoidRefused } from '../../node/rounds/void.ts';
import type { NodeStatus, NodeView } from '../../node/types.ts';

const token = 'ab'.repeat(32);
const admin = new Uint8Array(randomBytes(32));
const adminPublic = signingPublicKey(admin);
const base = new Uint8Array(randomBytes(32));
const fields = { consortium: 'k', round: 2, manifestHash: new Uint8Array(32).fill(1), baseModelHash: base, reason: 'site c is gone for good' };
const applied: VoidRecordV2[] = [];

/** A node in round 2 on `base`: checks the record as the engine does (void.ts), in brief. */
const view: NodeView = {
  status: () => ({}) as NodeStatus,
  rounds: () => [],
  currentModel: async () => null,
  weightShapes: () => [],
  submitWeights: async () => ({ round: 2 }),
  onChange: () => () => undefined,
  async submitVoid(v) {
    if (v.round !== 2) throw new VoidRefused('WRONG_ROUND', `the record voids round ${v.round}, this node is in round 2`);
    if (!equalBytes(v.baseModelHash, base)) throw new VoidRefused('WRONG_BASE', 'another base model');
    try {
      verifySignature(v.adminSignature, voidSigningBytes(v), adminPublic);
    } catch {
      throw new VoidRefused('BAD_SIGNATURE', "the record's signature is not the manifest admin key's");
    }
    applied.push(v);
    return { round: v.round };
  },
};

let url = '';
let close: () => Promise<void>;
before(async () => {
  const s = await startHttpServer({ host: '127.0.0.1', port: 0, view, token });
  url = s.url.replace(/\/$/, '');
  close = s.close;
});
after(() => close());

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/api/void`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers } });
async function refused(res: Response, status: number, code: string): Promise<void> {
  assert.equal(res.status, status);
  assert.equal((await res.json()).error.code, code);
}

describe('http: POST /api/void', () => {
  const good = voidRecordToJson(signVoidRecord(fields, admin));

  it('refuses a missing or wrong token and cross-origin requests, before reading the record', async () => {
    await refused(await post(good, { authorization: '' }), 401, 'UNAUTHORIZED');
    await refused(await post(good, { authorization: `Bearer ${'cd'.repeat(32)}` }), 401, 'UNAUTHORIZED');
    await refused(await post(good, { origin: 'http://evil.example' }), 403, 'CROSS_ORIGIN');
    await refused(await post(good, { 'sec-fetch-site': 'cross-site' }), 403, 'CROSS_ORIGIN');
    assert.equal(applied.length, 0);
  });

  it('refuses what is not a void record, and the node\'s refusals keep their codes', async () => {
    await refused(await post('{not json'), 400, 'BAD_VOID_RECORD');
    await refused(await post({ ...good, extra: true }), 400, 'BAD_VOID_RECORD');
    await refused(await post({ ...good, reason: '' }), 400, 'BAD_VOID_RECORD');
    await refused(await post('x'.repeat(9000)), 413, 'TOO_LARGE');
    await refused(await post(voidRecordToJson(signVoidRecord({ ...fields, round: 3 }, admin))), 409, 'WRONG_ROUND');
    await refused(await post(voidRecordToJson(signVoidRecord({ ...fields, baseModelHash: new Uint8Array(32) }, admin))), 409, 'WRONG_BASE');
    await refused(await post(voidRecordToJson(signVoidRecord(fields, new Uint8Array(randomBytes(32))))), 403, 'BAD_SIGNATURE');
    await refused(await post({ ...good, reason: 'edited after signing' }), 403, 'BAD_SIGNATURE');
    assert.equal(applied.length, 0);
  });

  it('hands a good record with the token to the node', async () => {
    const res = await post(good);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { voided: 2 });
    assert.equal(applied.length, 1);
    assert.equal(applied[0]!.reason, fields.reason);
  });
});
