import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ProtocolError, signingPublicKey } from '../../protocol/index.ts';
import { decodeEnvelopeV2, encodeEnvelopeV2, KindV2, type EnvelopeV2 } from '../../protocol/v2/index.ts';
import { VerifiedEnvelopes } from '../../node/rounds/verified-envelopes.ts';

const secret = new Uint8Array(randomBytes(32));
const pub = signingPublicKey(secret);
const opts = { consortium: 'k', publicKeyOf: (s: string) => (s === 'peer-1' ? pub : undefined) };
const envelope = (round: number, pad = 0) =>
  encodeEnvelopeV2({ consortium: 'k', round, attempt: 0, sender: 'peer-1' }, { kind: KindV2.ModelResponse, body: { version: round, modelHash: new Uint8Array(32), weights: new Uint8Array(pad) } }, secret);

describe('node: envelopes are verified once per distinct byte string', () => {
  it('verifies the same bytes once, re-verifies other bytes, and never caches a failure', () => {
    const cache = new VerifiedEnvelopes();
    let calls = 0;
    const decode = (b: Uint8Array): EnvelopeV2 => (calls++, decodeEnvelopeV2(b, { ...opts, maxBytes: 64 << 20 }));
    const a = envelope(1);
    const first = cache.decode(a, decode);
    assert.equal(cache.decode(a.slice(), decode), first); // equal bytes in another buffer: a hit
    assert.equal(calls, 1);
    cache.decode(envelope(2), decode);
    assert.equal(calls, 2);
    // same signature (the cache key) but one body byte changed: must be decoded and rejected
    const forged = a.slice();
    forged[forged.length - 65]! ^= 1;
    for (let i = 0; i < 2; i++) assert.throws(() => cache.decode(forged, decode), ProtocolError);
    assert.equal(calls, 4);
    assert.equal(cache.decode(a, decode), first);
    assert.equal(calls, 4);
  });

  it('is bounded: old entries are evicted by count and by bytes', () => {
    const cache = new VerifiedEnvelopes();
    let calls = 0;
    const decode = (b: Uint8Array): EnvelopeV2 => (calls++, decodeEnvelopeV2(b, { ...opts, maxBytes: 64 << 20 }));
    const small = Array.from({ length: 65 }, (_, i) => envelope(100 + i));
    for (const e of small) cache.decode(e, decode);
    cache.decode(small[0]!, decode); // 65 > 64 entries: the oldest was evicted
    assert.equal(calls, 66);
    cache.decode(small[64]!, decode);
    assert.equal(calls, 66);
    const big = Array.from({ length: 3 }, (_, i) => envelope(200 + i, 3 << 19));
    for (const e of big) cache.decode(e, decode); // 4.5 MiB > 4 MiB: the first big one goes
    cache.decode(big[0]!, decode);
    assert.equal(calls, 66 + 3 + 1);
    cache.decode(big[2]!, decode);
    assert.equal(calls, 70);
  });
});
