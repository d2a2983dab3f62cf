import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  attemptStartHash,
  chunkCryptogram,
  CryptogramAssembler,
  decodeEnvelope,
  encodeEnvelope,
  MAX_CHUNK_BYTES,
  MessageKind,
  signingPublicKey,
  toHex,
  type Message,
} from '../../protocol/index.ts';
import { errorCode } from '../helpers/protocol-error-code.ts';

const secret = new Uint8Array(randomBytes(32));
const pub = signingPublicKey(secret);
const header = { consortium: 'k', round: 5, attempt: 1, sender: 'peer-1' };
const opts = { consortium: 'k', publicKeyOf: (s: string) => (s === 'peer-1' ? pub : undefined) };
const h32 = () => new Uint8Array(randomBytes(32));

const samples: Message[] = [
  { kind: MessageKind.Heartbeat, body: { sentAt: 1795593391615, modelVersion: 3, modelHash: h32(), phase: 'collecting' } },
  { kind: MessageKind.KeyAnnouncement, body: { publicKey: h32(), samples: 1570 } },
  { kind: MessageKind.CryptogramChunk, body: chunkCryptogram(Uint32Array.from([1, 2, 3, 4]), h32())[0]! },
  { kind: MessageKind.AttemptStart, body: { aggregator: 'peer-1', participants: ['peer-1', 'peer-2'], baseModelHash: h32(), reason: 'peer-3 missed the deadline' } },
  { kind: MessageKind.AggregateRecord, body: { participants: ['a', 'b'], cryptogramHashes: [h32(), h32()], sumHash: h32(), baseModelHash: h32(), newModelHash: h32() } },
  { kind: MessageKind.ModelRequest, body: { version: 2 } },
];

const code = errorCode;

describe('protocol: wire envelopes', () => {
  it('every message kind round-trips with its header', () => {
    for (const m of samples) {
      const env = decodeEnvelope(encodeEnvelope(header, m, secret), opts);
      assert.equal(env.kind, m.kind);
      assert.deepEqual(env.body, m.body);
      assert.deepEqual([env.consortium, env.round, env.attempt, env.sender], ['k', 5, 1, 'peer-1']);
    }
  });

  it('rejects truncation, trailing bytes, bit flips, wrong version, consortium, sender and signature with typed errors', () => {
    for (const m of samples) {
      const bytes = encodeEnvelope(header, m, secret);
      for (let cut = 0; cut < bytes.length; cut += Math.max(1, bytes.length >> 5)) {
        assert.notEqual(code(() => decodeEnvelope(bytes.subarray(0, cut), opts)), 'accepted');
      }
      assert.notEqual(code(() => decodeEnvelope(Uint8Array.from([...bytes, 0]), opts)), 'accepted');
      for (let i = 0; i < bytes.length; i += Math.max(1, bytes.length >> 4)) {
        const flipped = bytes.slice();
        flipped[i]! ^= 0x10;
        assert.notEqual(code(() => decodeEnvelope(flipped, opts)), 'accepted', `bit flip at ${i} accepted`);
      }
      const v2 = bytes.slice();
      v2[0] = 2;
      assert.equal(code(() => decodeEnvelope(v2, opts)), 'BAD_VERSION');
      assert.equal(code(() => decodeEnvelope(bytes, { ...opts, consortium: 'other' })), 'WRONG_CONSORTIUM');
      assert.equal(code(() => decodeEnvelope(bytes, { ...opts, publicKeyOf: () => undefined })), 'UNKNOWN_SENDER');
      const other = signingPublicKey(new Uint8Array(randomBytes(32)));
      assert.equal(code(() => decodeEnvelope(bytes, { ...opts, publicKeyOf: () => other })), 'BAD_SIGNATURE');
    }
  });

  it('rejects oversized envelopes before parsing', () => {
    assert.equal(code(() => decodeEnvelope(new Uint8Array(MAX_CHUNK_BYTES + 8192), opts)), 'OVERSIZED');
  });

  it('signs the header: the same body under another round does not verify', () => {
    const bytes = encodeEnvelope(header, samples[1]!, secret);
    const other = encodeEnvelope({ ...header, round: 6 }, samples[1]!, secret);
    const spliced = Uint8Array.from([...other.subarray(0, other.length - 64), ...bytes.subarray(bytes.length - 64)]);
    assert.equal(code(() => decodeEnvelope(spliced, opts)), 'BAD_SIGNATURE');
  });
});

describe('protocol: chunking', () => {
  it('splits into ≤ 1 MiB chunks and reassembles in any order with duplicates', () => {
    const c = Uint32Array.from({ length: 600_000 }, (_, i) => (i * 2654435761) >>> 0);
    const chunks = chunkCryptogram(c, h32());
    assert.equal(chunks.length, 3);
    assert.ok(chunks.every((k) => k.payload.length <= MAX_CHUNK_BYTES));
    const asm = new CryptogramAssembler(chunks[2]!);
    assert.equal(asm.add(chunks[2]!), null);
    assert.equal(asm.add(chunks[0]!), null);
    assert.equal(asm.add(chunks[0]!), null, 'an identical duplicate is harmless');
    assert.deepEqual(asm.add(chunks[1]!), c);
  });

  it('refuses a chunk repeated with different bytes, inconsistent totals and a wrong hash', () => {
    const c = Uint32Array.from({ length: 300_000 }, (_, i) => i);
    const start = h32();
    const chunks = chunkCryptogram(c, start, 400_000);
    const asm = new CryptogramAssembler(chunks[0]!);
    asm.add(chunks[0]!);
    const evil = { ...chunks[0]!, payload: chunks[0]!.payload.slice() };
    evil.payload[0]! ^= 1;
    assert.equal(code(() => asm.add(evil)), 'MALFORMED');
    assert.equal(code(() => asm.add({ ...chunks[1]!, totalWords: 5 })), 'MALFORMED');
    const forged = chunkCryptogram(c, start, 400_000).map((k) => ({ ...k, cryptogramHash: new Uint8Array(32) }));
    const asm2 = new CryptogramAssembler(forged[0]!);
    asm2.add(forged[0]!);
    asm2.add(forged[1]!);
    assert.equal(code(() => asm2.add(forged[2]!)), 'MALFORMED');
    // the same cryptogram's chunk naming another attempt start does not mix in
    const other = chunkCryptogram(c, h32(), 400_000);
    assert.equal(code(() => asm.add(other[1]!)), 'MALFORMED');
  });

  it('attemptStartHash names what the masks depend on: participants and base model, not aggregator or reason', () => {
    const base = { aggregator: 'peer-1', participants: ['peer-1', 'peer-2', 'peer-3'], baseModelHash: new Uint8Array(32), reason: 'round start' };
    const h = toHex(attemptStartHash(base));
    for (const same of [{ ...base, participants: [...base.participants] }, { ...base, participants: ['peer-3', 'peer-1', 'peer-2'] }, { ...base, aggregator: 'peer-3' }, { ...base, reason: 'peer-2 missed the deadline' }]) {
      assert.equal(toHex(attemptStartHash(same)), h);
    }
    for (const changed of [
      { ...base, participants: ['peer-1', 'peer-3'] },
      { ...base, baseModelHash: new Uint8Array(32).fill(1) },
    ]) assert.notEqual(toHex(attemptStartHash(changed)), h);
  });
});
