import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { concat, sign, signingPublicKey, utf8 } from '../../protocol/index.ts';
import {
  attemptFromLists,
  checkAnnouncedKeys,
  checkListChain,
  generateRoundSecrets,
  chunkCryptogramV2,
  CryptogramAssemblerV2,
  decodeEnvelopeV2,
  encodeEnvelopeV2,
  KindV2,
  listHash,
  MAX_CHUNK_BYTES_V2,
  MAX_ENVELOPE_BYTES_V2,
  type MessageV2,
  type U1ListV2,
  type U2ListV2,
  type U3ListV2,
} from '../../protocol/v2/index.ts';
import { errorCode } from '../helpers/protocol-error-code.ts';

const secret = new Uint8Array(randomBytes(32));
const pub = signingPublicKey(secret);
const header = { consortium: 'k', round: 5, attempt: 1, sender: 'peer-1' };
const opts = { consortium: 'k', publicKeyOf: (s: string) => (s === 'peer-1' ? pub : undefined) };
const h32 = () => new Uint8Array(randomBytes(32));
const binding = { manifestHash: h32(), baseModelHash: h32() };
const ref = { consortium: 'k', round: 5, attempt: 1 };

const u1: U1ListV2 = { ...binding, members: ['Z-site', 'a-site', 'é-site'].map((id) => ({ id, cPublic: h32(), sPublic: h32(), samples: 100, selfCommit: h32() })) };
const u2: U2ListV2 = { ...binding, u1Hash: listHash(ref, { kind: KindV2.U1List, body: u1 }), members: ['Z-site', 'a-site', 'é-site'] };
const u3: U3ListV2 = { ...binding, u2Hash: listHash(ref, { kind: KindV2.U2List, body: u2 }), members: ['Z-site', 'a-site', 'é-site'] };

const samples: MessageV2[] = [
  { kind: KindV2.Heartbeat, body: { sentAt: 1795593391615, modelVersion: 3, modelHash: h32(), phase: 'dealing' } },
  { kind: KindV2.KeyAnnouncement, body: { ...binding, cPublic: h32(), sPublic: h32(), samples: 1570, selfCommit: h32() } },
  { kind: KindV2.ShareDealing, body: { ...binding, u1Hash: h32(), entries: ['a', 'b', 'ü'].map((to) => ({ to, ciphertext: new Uint8Array(randomBytes(80)), sCommit: h32(), bCommit: h32() })) } },
  { kind: KindV2.Complaint, body: { ...binding, u1Hash: h32(), dealer: 'peer-2', pairKey: h32() } },
  { kind: KindV2.U1List, body: u1 },
  { kind: KindV2.U2List, body: u2 },
  { kind: KindV2.U3List, body: u3 },
  { kind: KindV2.Consent, body: { ...binding, u3Hash: h32() } },
  { kind: KindV2.Reveal, body: { ...binding, u3Hash: h32(), shares: [{ owner: 'a', kind: 'b', share: h32() }, { owner: 'b', kind: 's', share: h32() }] } },
  { kind: KindV2.CryptogramChunk, body: chunkCryptogramV2(Uint32Array.from([1, 2, 3, 4]), binding, h32())[0]! },
  { kind: KindV2.ModelRequest, body: { version: 2 } },
  { kind: KindV2.ModelResponse, body: { version: 2, modelHash: h32(), weights: new Uint8Array(randomBytes(100)) } },
];

const code = errorCode;

describe('protocol v2: wire envelopes', () => {
  it('every v2 kind round-trips with its header and binding', () => {
    assert.equal(samples.length, 12);
    for (const m of samples) {
      const env = decodeEnvelopeV2(encodeEnvelopeV2(header, m, secret), opts);
      assert.equal(env.kind, m.kind);
      assert.deepEqual(env.body, m.body);
      assert.deepEqual([env.version, env.consortium, env.round, env.attempt, env.sender], [2, 'k', 5, 1, 'peer-1']);
    }
  });

  it('rejects truncation, trailing bytes, bit flips, wrong consortium, sender and signature with typed errors', () => {
    for (const m of samples) {
      const bytes = encodeEnvelopeV2(header, m, secret);
      for (let cut = 0; cut < bytes.length; cut += Math.max(1, bytes.length >> 5)) assert.notEqual(code(() => decodeEnvelopeV2(bytes.subarray(0, cut), opts)), 'accepted');
      assert.notEqual(code(() => decodeEnvelopeV2(Uint8Array.from([...bytes, 0]), opts)), 'accepted');
      for (let i = 0; i < bytes.length; i += Math.max(1, bytes.length >> 4)) {
        const flipped = bytes.slice();
        flipped[i]! ^= 0x10;
        assert.notEqual(code(() => decodeEnvelopeV2(flipped, opts)), 'accepted', `kind ${m.kind}: bit flip at ${i} accepted`);
      }
      assert.equal(code(() => decodeEnvelopeV2(bytes, { ...opts, consortium: 'other' })), 'WRONG_CONSORTIUM');
      assert.equal(code(() => decodeEnvelopeV2(bytes, { ...opts, publicKeyOf: () => undefined })), 'UNKNOWN_SENDER');
      assert.equal(code(() => decodeEnvelopeV2(bytes, { ...opts, publicKeyOf: () => signingPublicKey(new Uint8Array(randomBytes(32))) })), 'BAD_SIGNATURE');
    }
  });

  it('refuses a signed envelope of any other wire version (BAD_VERSION) and an unknown kind (BAD_KIND)', () => {
    const unsigned = encodeEnvelopeV2(header, samples[10]!, secret).slice(0, -64);
    for (const version of [0, 1, 3, 255]) {
      const other = unsigned.slice();
      other[0] = version;
      assert.equal(code(() => decodeEnvelopeV2(encodeRaw(other), opts)), 'BAD_VERSION', `version ${version}`);
    }
    for (const kind of [0, KindV2.VoidRound + 1, 255]) {
      const other = unsigned.slice();
      other[1] = kind;
      assert.equal(code(() => decodeEnvelopeV2(encodeRaw(other), opts)), 'BAD_KIND', `kind ${kind}`);
    }
    assert.equal(decodeEnvelopeV2(encodeRaw(unsigned), opts).kind, KindV2.ModelRequest);
  });

  it('refuses unsorted or duplicate ids, a reveal naming one owner twice (both kinds), a bad kind byte, ids with 0x00', () => {
    const enc = (m: MessageV2) => () => encodeEnvelopeV2(header, m, secret);
    assert.equal(code(enc({ kind: KindV2.U2List, body: { ...u2, members: ['a-site', 'Z-site'] } })), 'BAD_PARAMS');
    assert.equal(code(enc({ kind: KindV2.U3List, body: { ...u3, members: ['a', 'a'] } })), 'BAD_PARAMS');
    const share = h32();
    assert.equal(code(enc({ kind: KindV2.Reveal, body: { ...binding, u3Hash: h32(), shares: [{ owner: 'a', kind: 's', share }, { owner: 'a', kind: 'b', share }] } })), 'BAD_PARAMS');
    assert.equal(code(enc({ kind: KindV2.Complaint, body: { ...binding, u1Hash: h32(), dealer: 'a\u0000b', pairKey: h32() } })), 'BAD_PARAMS');
    // the decoder enforces the same on bytes signed by a member (a member can sign anything)
    const reveal = encodeEnvelopeV2(header, samples[8]!, secret);
    const forged = reveal.slice(0, reveal.length - 64);
    const kindAt = forged.length - 2 * 36 + 3; // entries: str16('a') kind share[32], str16('b') kind share[32]
    assert.equal(forged[kindAt], 0x62);
    forged[kindAt] = 0x78;
    const resigned = encodeRaw(forged);
    assert.equal(code(() => decodeEnvelopeV2(resigned, opts)), 'MALFORMED');
    const swapped = encodeRaw(swapFirstTwoU2Ids(encodeEnvelopeV2(header, { kind: KindV2.U2List, body: { ...u2, members: ['a-site', 'b-site'] } }, secret)));
    assert.equal(code(() => decodeEnvelopeV2(swapped, opts)), 'MALFORMED');
  });

  it('a KeyAnnouncement above maxSamples or with a low-order key is refused after decoding', () => {
    const ka = decodeEnvelopeV2(encodeEnvelopeV2(header, { kind: KindV2.KeyAnnouncement, body: { ...binding, cPublic: generateRoundSecrets().cPublic, sPublic: generateRoundSecrets().sPublic, samples: 5001, selfCommit: h32() } }, secret), opts);
    assert.equal(ka.kind, KindV2.KeyAnnouncement);
    if (ka.kind !== KindV2.KeyAnnouncement) return;
    checkAnnouncedKeys(ka.body, 5001);
    assert.equal(code(() => checkAnnouncedKeys(ka.body, 5000)), 'OVER_MAX_SAMPLES');
    assert.equal(code(() => checkAnnouncedKeys({ ...ka.body, sPublic: new Uint8Array(32) }, 5001)), 'BAD_KEY');
    assert.equal(code(() => checkAnnouncedKeys({ ...ka.body, cPublic: Uint8Array.of(1, ...new Uint8Array(31)) }, 5001)), 'BAD_KEY');
  });

  it('refuses oversized envelopes before parsing', () => {
    assert.equal(code(() => decodeEnvelopeV2(new Uint8Array(MAX_ENVELOPE_BYTES_V2 + 1), opts)), 'OVERSIZED');
  });

  it('list hashes chain U1 → U2 → U3 and any change to a list, its binding or its (K, r, a) changes its hash', () => {
    checkListChain(ref, 3, u1, u2, u3);
    const h = Buffer.from(listHash(ref, { kind: KindV2.U1List, body: u1 }));
    const other = [
      listHash({ ...ref, attempt: 2 }, { kind: KindV2.U1List, body: u1 }),
      listHash({ ...ref, consortium: 'k2' }, { kind: KindV2.U1List, body: u1 }),
      listHash(ref, { kind: KindV2.U1List, body: { ...u1, baseModelHash: h32() } }),
      listHash(ref, { kind: KindV2.U1List, body: { ...u1, members: u1.members.map((m, i) => (i === 1 ? { ...m, samples: 101 } : m)) } }),
    ];
    for (const o of other) assert.ok(!h.equals(Buffer.from(o)));
    assert.equal(code(() => checkListChain(ref, 3, u1, { ...u2, u1Hash: h32() })), 'MALFORMED');
    assert.equal(code(() => checkListChain(ref, 3, u1, u2, { ...u3, members: ['Z-site', 'a-site'] })), 'BAD_THRESHOLD');
    assert.equal(code(() => checkListChain(ref, 3, u1, u2, { ...u3, members: ['Z-site', 'a-site', 'x-site'] })), 'MALFORMED');
    assert.equal(code(() => checkListChain(ref, 3, u1, u2, { ...u3, baseModelHash: h32() })), 'MALFORMED');
    const att = attemptFromLists(ref, 0.5, 3, u1, u2);
    assert.deepEqual(att.u2.map((m) => [m.id, m.samples]), [['Z-site', 100], ['a-site', 100], ['é-site', 100]]);
    assert.deepEqual(att.u2[2]!.sPublic, u1.members[2]!.sPublic);
  });

  it('v2 chunks carry H(U2): a chunk under another U2 does not mix into a cryptogram', () => {
    const c = Uint32Array.from({ length: 300_000 }, (_, i) => (i * 2654435761) >>> 0);
    const h2 = h32();
    const chunks = chunkCryptogramV2(c, binding, h2, 400_000);
    const asm = new CryptogramAssemblerV2(chunks[0]!);
    asm.add(chunks[0]!);
    assert.equal(code(() => asm.add({ ...chunks[1]!, u2Hash: h32() })), 'MALFORMED');
    asm.add(chunks[1]!);
    assert.deepEqual(asm.add(chunks[2]!), c);
  });
});

describe('protocol v2: chunking', () => {
  it('splits into ≤ 1 MiB chunks and reassembles in any order with duplicates', () => {
    const c = Uint32Array.from({ length: 600_000 }, (_, i) => (i * 2654435761) >>> 0);
    const chunks = chunkCryptogramV2(c, binding, h32());
    assert.equal(chunks.length, 3);
    assert.ok(chunks.every((k) => k.payload.length <= MAX_CHUNK_BYTES_V2));
    const asm = new CryptogramAssemblerV2(chunks[2]!);
    assert.equal(asm.add(chunks[2]!), null);
    assert.equal(asm.add(chunks[0]!), null);
    assert.equal(asm.add(chunks[0]!), null, 'an identical duplicate is harmless');
    assert.deepEqual(asm.progress, { received: 2, count: 3 });
    assert.deepEqual(asm.add(chunks[1]!), c);
  });

  it('refuses a chunk repeated with different bytes, inconsistent totals, a wrong hash and too few chunks', () => {
    const c = Uint32Array.from({ length: 300_000 }, (_, i) => i);
    const h2 = h32();
    const chunks = chunkCryptogramV2(c, binding, h2, 400_000);
    const asm = new CryptogramAssemblerV2(chunks[0]!);
    asm.add(chunks[0]!);
    const evil = { ...chunks[0]!, payload: chunks[0]!.payload.slice() };
    evil.payload[0]! ^= 1;
    assert.equal(code(() => asm.add(evil)), 'MALFORMED');
    assert.equal(code(() => asm.add({ ...chunks[1]!, totalWords: 5 })), 'MALFORMED');
    const forged = chunkCryptogramV2(c, binding, h2, 400_000).map((k) => ({ ...k, cryptogramHash: new Uint8Array(32) }));
    const asm2 = new CryptogramAssemblerV2(forged[0]!);
    asm2.add(forged[0]!);
    asm2.add(forged[1]!);
    assert.equal(code(() => asm2.add(forged[2]!)), 'MALFORMED');
    assert.equal(code(() => new CryptogramAssemblerV2(chunks[0]!, 299_999)), 'MALFORMED');
    const big = chunkCryptogramV2(Uint32Array.from({ length: 600_000 }), binding, h2);
    assert.equal(code(() => new CryptogramAssemblerV2({ ...big[0]!, count: 1 })), 'MALFORMED');
    assert.equal(code(() => chunkCryptogramV2(new Uint32Array(0), binding, h2)), 'BAD_PARAMS');
    assert.equal(code(() => chunkCryptogramV2(c, binding, h2, MAX_CHUNK_BYTES_V2 + 4)), 'BAD_PARAMS');
  });

  it('signs the header: the same body under another round does not verify', () => {
    const bytes = encodeEnvelopeV2(header, samples[1]!, secret);
    const other = encodeEnvelopeV2({ ...header, round: 6 }, samples[1]!, secret);
    const spliced = Uint8Array.from([...other.subarray(0, other.length - 64), ...bytes.subarray(bytes.length - 64)]);
    assert.equal(code(() => decodeEnvelopeV2(spliced, opts)), 'BAD_SIGNATURE');
  });
});

/** Re-signs unsigned envelope bytes as the member would (a member can sign malformed bodies). */
function encodeRaw(unsigned: Uint8Array): Uint8Array {
  return concat(unsigned, sign(concat(utf8('flnode/v2/envelope\0'), unsigned), secret));
}
/** Unsigned bytes of a U2 list envelope whose two one-letter-prefixed ids are swapped in place. */
function swapFirstTwoU2Ids(signed: Uint8Array): Uint8Array {
  const unsigned = signed.slice(0, signed.length - 64);
  const text = Buffer.from(unsigned).toString('latin1');
  const i = text.indexOf('a-site');
  const j = text.indexOf('b-site');
  unsigned[i] = 0x62;
  unsigned[j] = 0x61;
  return unsigned;
}
