// The void record of protocol v2 (PROTOCOL.md §8.10, §11): the admin's signature over exactly
// (K, r, manifest hash, base-model hash, reason), its strict encodings, and envelope kind 13.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { concat, sign, signingPublicKey, utf8 } from '../../protocol/index.ts';
import {
  decodeEnvelopeV2, decodeVoidRecord, encodeEnvelopeV2, encodeVoidRecord, KindV2, signVoidRecord, verifyVoidRecord, voidRecordFromJson, voidRecordOf, voidRecordToJson, voidRoundMessage, voidSigningBytes,
  type VoidRecordV2,
} from '../../protocol/v2/index.ts';
import { errorCode as code } from '../helpers/protocol-error-code.ts';

const admin = new Uint8Array(randomBytes(32));
const adminPublic = signingPublicKey(admin);
const member = new Uint8Array(randomBytes(32));
const memberPublic = signingPublicKey(member);
const h32 = () => new Uint8Array(randomBytes(32));
const fields = { consortium: 'hospitals-é', round: 7, manifestHash: h32(), baseModelHash: h32(), reason: 'site-3 lost its disk during round 7; its shares cannot come back' };
const record = signVoidRecord(fields, admin);
const opts = { consortium: fields.consortium, publicKeyOf: (s: string) => (s === 'peer-1' ? memberPublic : undefined) };

/** The record with one field changed, signature kept. */
const altered = (change: Partial<VoidRecordV2>): VoidRecordV2 => ({ ...record, ...change });

describe('protocol v2: void record', () => {
  it('signs exactly utf8("flnode/v2/void") || 0x00 || str16(K) || u64be(r) || manifestHash || baseModelHash || str16(reason)', () => {
    const k = utf8(fields.consortium);
    const reason = utf8(fields.reason);
    const u16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff);
    const expected = concat(utf8('flnode/v2/void'), Uint8Array.of(0), u16(k.length), k, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 7), fields.manifestHash, fields.baseModelHash, u16(reason.length), reason);
    assert.deepEqual(voidSigningBytes(fields), expected);
    verifyVoidRecord(record, adminPublic);
  });

  it('refuses a bad signature, another key, and any field changed after signing', () => {
    const flipped = record.adminSignature.slice();
    flipped[10]! ^= 1;
    assert.equal(code(() => verifyVoidRecord(altered({ adminSignature: flipped }), adminPublic)), 'BAD_SIGNATURE');
    assert.equal(code(() => verifyVoidRecord(record, memberPublic)), 'BAD_SIGNATURE', 'a member key is not the admin key');
    assert.equal(code(() => verifyVoidRecord(signVoidRecord(fields, member), adminPublic)), 'BAD_SIGNATURE', 'signed by a member');
    for (const change of [{ consortium: 'other' }, { round: 8 }, { manifestHash: h32() }, { baseModelHash: h32() }, { reason: fields.reason + '.' }] as Partial<VoidRecordV2>[]) {
      assert.equal(code(() => verifyVoidRecord(altered(change), adminPublic)), 'BAD_SIGNATURE', `changed ${Object.keys(change)[0]} still verifies`);
    }
  });

  it('the reason is 1..256 UTF-8 bytes and the round ≥ 1', () => {
    assert.equal(code(() => signVoidRecord({ ...fields, reason: '' }, admin)), 'BAD_PARAMS');
    assert.equal(code(() => signVoidRecord({ ...fields, reason: 'é'.repeat(129) }, admin)), 'OVERSIZED'); // 258 bytes
    assert.equal(code(() => signVoidRecord({ ...fields, reason: 'é'.repeat(128) }, admin)), 'accepted'); // 256 bytes
    assert.equal(code(() => signVoidRecord({ ...fields, round: 0 }, admin)), 'BAD_PARAMS');
  });

  it('the binary record round-trips and is decoded strictly (truncation, a trailing byte, an empty or long reason)', () => {
    const bytes = encodeVoidRecord(record);
    assert.deepEqual(decodeVoidRecord(bytes), record);
    verifyVoidRecord(decodeVoidRecord(bytes), adminPublic);
    assert.equal(code(() => decodeVoidRecord(Uint8Array.from([...bytes, 0]))), 'MALFORMED');
    for (let cut = 0; cut < bytes.length; cut += 7) assert.equal(code(() => decodeVoidRecord(bytes.subarray(0, cut))), 'MALFORMED', `cut at ${cut}`);
    // a reason of length 0 and one of 257 bytes, with valid framing around them
    const frame = (reason: Uint8Array) => {
      const k = utf8(fields.consortium);
      return concat(Uint8Array.of(0, k.length), k, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 7), fields.manifestHash, fields.baseModelHash, Uint8Array.of(reason.length >> 8, reason.length & 0xff), reason, record.adminSignature);
    };
    assert.equal(code(() => decodeVoidRecord(frame(new Uint8Array(0)))), 'MALFORMED');
    assert.equal(code(() => decodeVoidRecord(frame(new Uint8Array(257).fill(0x61)))), 'OVERSIZED');
    assert.equal(code(() => decodeVoidRecord(frame(new Uint8Array(256).fill(0x61)))), 'accepted');
  });

  it('the JSON form round-trips and refuses unknown fields, wrong types and hex lengths', () => {
    const j = voidRecordToJson(record);
    const back = voidRecordFromJson(JSON.parse(JSON.stringify(j)));
    assert.deepEqual(back, record);
    verifyVoidRecord(back, adminPublic);
    assert.equal(code(() => voidRecordFromJson({ ...j, extra: 1 })), 'MALFORMED');
    assert.equal(code(() => voidRecordFromJson({ ...j, round: '7' })), 'MALFORMED');
    assert.equal(code(() => voidRecordFromJson({ ...j, round: 0 })), 'MALFORMED');
    assert.equal(code(() => voidRecordFromJson({ ...j, adminSignature: j.adminSignature.slice(2) })), 'MALFORMED');
    assert.equal(code(() => voidRecordFromJson({ ...j, baseModelHash: j.baseModelHash.toUpperCase() })), 'MALFORMED');
    assert.equal(code(() => voidRecordFromJson({ ...j, type: 'something-else' })), 'MALFORMED');
    assert.equal(code(() => voidRecordFromJson([j])), 'MALFORMED');
  });

  it('envelope kind 13 carries binding || reason || adminSignature; its (K, r) come from the header', () => {
    const env = decodeEnvelopeV2(encodeEnvelopeV2({ consortium: fields.consortium, round: 7, attempt: 2, sender: 'peer-1' }, voidRoundMessage(record), member), opts);
    assert.equal(env.kind, KindV2.VoidRound);
    assert.equal(KindV2.VoidRound, 13);
    if (env.kind !== KindV2.VoidRound) return;
    assert.deepEqual(voidRecordOf(env), record);
    verifyVoidRecord(voidRecordOf(env), adminPublic);
    // the same body sent in round 8: the record it yields no longer verifies
    const moved = decodeEnvelopeV2(encodeEnvelopeV2({ consortium: fields.consortium, round: 8, attempt: 0, sender: 'peer-1' }, voidRoundMessage(record), member), opts);
    assert.equal(code(() => verifyVoidRecord(voidRecordOf(moved as typeof env), adminPublic)), 'BAD_SIGNATURE');
  });

  it('envelope kind 13 is decoded strictly: trailing byte in the body, truncation, empty or long reason', () => {
    const header = { consortium: fields.consortium, round: 7, attempt: 0, sender: 'peer-1' };
    const bytes = encodeEnvelopeV2(header, voidRoundMessage(record), member);
    // re-sign a tampered body so that only the body rule can refuse it
    const resealed = (body: Uint8Array) => {
      const head = bytes.subarray(0, headerLength(bytes) - 4); // up to the body length
      const unsigned = concat(head, Uint8Array.of(body.length >>> 24, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff), body);
      return concat(unsigned, sign(concat(utf8('flnode/v2/envelope'), Uint8Array.of(0), unsigned), member));
    };
    const body = bytes.subarray(headerLength(bytes), bytes.length - 64);
    assert.equal(code(() => decodeEnvelopeV2(resealed(body), opts)), 'accepted', 'the re-sealing itself is sound');
    assert.equal(code(() => decodeEnvelopeV2(resealed(concat(body, Uint8Array.of(0))), opts)), 'MALFORMED');
    assert.equal(code(() => decodeEnvelopeV2(resealed(body.subarray(0, body.length - 1)), opts)), 'MALFORMED');
    const emptyReason = concat(body.subarray(0, 64), Uint8Array.of(0, 0), record.adminSignature);
    assert.equal(code(() => decodeEnvelopeV2(resealed(emptyReason), opts)), 'MALFORMED');
    const longReason = concat(body.subarray(0, 64), Uint8Array.of(1, 1), new Uint8Array(257).fill(0x61), record.adminSignature);
    assert.equal(code(() => decodeEnvelopeV2(resealed(longReason), opts)), 'OVERSIZED');
    assert.equal(code(() => encodeEnvelopeV2(header, voidRoundMessage({ ...record, reason: '' }), member)), 'BAD_PARAMS');
    assert.equal(code(() => encodeEnvelopeV2(header, voidRoundMessage({ ...record, adminSignature: new Uint8Array(63) }), member)), 'BAD_PARAMS');
  });
});

/** Offset of the body in an envelope: version, kind, str16 K, u64 r, u32 a, str16 sender, u32 length. */
function headerLength(bytes: Uint8Array): number {
  let o = 2;
  o += 2 + ((bytes[o]! << 8) | bytes[o + 1]!);
  o += 8 + 4;
  o += 2 + ((bytes[o]! << 8) | bytes[o + 1]!);
  return o + 4;
}

