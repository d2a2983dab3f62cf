// The void record of protocol v2 (PROTOCOL.md §8.10, §11): the admin's signed decision that round r
// of consortium K, on base model H, ends without an aggregate. Members then commit model r = the
// base model unchanged. Pure: encode, decode, sign, verify; the node applies it.
import { concat, fromHex, toHex, utf8 } from '../bytes.ts';
import { fail } from '../errors.ts';
import { sign, verifySignature } from '../keys.ts';
import { Reader, Writer } from '../reader.ts';

/** The longest reason a void record may carry (UTF-8 bytes); it must not be empty. */
export const MAX_VOID_REASON_BYTES = 256;
const VOID_DOMAIN = utf8('flnode/v2/void\0');
const MAX_CONSORTIUM_BYTES = 256; // = MAX_CONSORTIUM_BYTES_V2 (wire.ts imports this module)

export interface VoidRecordV2 {
  consortium: string;
  round: number;
  manifestHash: Uint8Array;
  baseModelHash: Uint8Array;
  reason: string;
  /** Ed25519 signature of the manifest's admin key over voidSigningBytes. */
  adminSignature: Uint8Array;
}

export type UnsignedVoidRecordV2 = Omit<VoidRecordV2, 'adminSignature'>;

/** The reason: 1..256 UTF-8 bytes. */
export function checkVoidReason(reason: string, code: 'BAD_PARAMS' | 'MALFORMED'): void {
  const n = utf8(reason).length;
  if (n === 0) fail(code, 'a void record must state its reason');
  if (n > MAX_VOID_REASON_BYTES) fail('OVERSIZED', `void reason longer than ${MAX_VOID_REASON_BYTES} bytes`);
}

function writeFields(w: Writer, v: UnsignedVoidRecordV2): Writer {
  checkVoidReason(v.reason, 'BAD_PARAMS');
  return w.str(v.consortium, MAX_CONSORTIUM_BYTES).u64(v.round).bytes(v.manifestHash, 32).bytes(v.baseModelHash, 32).str(v.reason, MAX_VOID_REASON_BYTES);
}

/** utf8("flnode/v2/void") || 0x00 || str16(K) || u64be(r) || manifestHash[32] || baseModelHash[32] || str16(reason). */
export function voidSigningBytes(v: UnsignedVoidRecordV2): Uint8Array {
  return concat(VOID_DOMAIN, writeFields(new Writer(), v).finish());
}

/** The admin signs round r void (r ≥ 1: version 0 is built, never aggregated). */
export function signVoidRecord(v: UnsignedVoidRecordV2, adminSecret: Uint8Array): VoidRecordV2 {
  if (!Number.isSafeInteger(v.round) || v.round < 1) fail('BAD_PARAMS', 'a void record names a round ≥ 1');
  return { ...v, adminSignature: sign(voidSigningBytes(v), adminSecret) };
}

/** Throws BAD_SIGNATURE unless the admin key signed exactly this record. */
export function verifyVoidRecord(v: VoidRecordV2, adminPublicKey: Uint8Array): void {
  if (v.round < 1) fail('MALFORMED', 'a void record names a round ≥ 1');
  verifySignature(v.adminSignature, voidSigningBytes(v), adminPublicKey);
}

/** The record alone (a file, an API body): str16(K) || u64be(r) || binding || str16(reason) || adminSignature[64]. */
export function encodeVoidRecord(v: VoidRecordV2): Uint8Array {
  return writeFields(new Writer(), v).bytes(v.adminSignature, 64).finish();
}

export function decodeVoidRecord(bytes: Uint8Array): VoidRecordV2 {
  const r = new Reader(bytes);
  const v = {
    consortium: r.str(MAX_CONSORTIUM_BYTES, 'consortium'),
    round: r.u64('round'),
    manifestHash: r.bytes(32, 'manifest hash'),
    baseModelHash: r.bytes(32, 'base-model hash'),
    reason: r.str(MAX_VOID_REASON_BYTES, 'void reason'),
    adminSignature: r.bytes(64, 'admin signature'),
  };
  r.end('void record');
  checkVoidReason(v.reason, 'MALFORMED');
  if (v.round < 1) fail('MALFORMED', 'a void record names a round ≥ 1');
  return v;
}

/** The JSON form `flnode consortium void-round` writes (hex for bytes). */
export interface VoidRecordJson {
  type: 'flnode-void-record';
  version: 2;
  consortium: string;
  round: number;
  manifestHash: string;
  baseModelHash: string;
  reason: string;
  adminSignature: string;
}

export function voidRecordToJson(v: VoidRecordV2): VoidRecordJson {
  return { type: 'flnode-void-record', version: 2, consortium: v.consortium, round: v.round, manifestHash: toHex(v.manifestHash), baseModelHash: toHex(v.baseModelHash), reason: v.reason, adminSignature: toHex(v.adminSignature) };
}

/** Strict: every field present with its type and length, nothing else (MALFORMED otherwise). */
export function voidRecordFromJson(j: unknown): VoidRecordV2 {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) fail('MALFORMED', 'a void record is a JSON object');
  const o = j as Record<string, unknown>;
  const keys = ['type', 'version', 'consortium', 'round', 'manifestHash', 'baseModelHash', 'reason', 'adminSignature'];
  const extra = Object.keys(o).filter((k) => !keys.includes(k));
  if (extra.length) fail('MALFORMED', `unknown field ${extra[0]} in the void record`);
  if (o.type !== 'flnode-void-record' || o.version !== 2) fail('MALFORMED', 'not a flnode v2 void record (type, version)');
  const hex = (k: string, n: number) => {
    const s = o[k];
    if (typeof s !== 'string' || !new RegExp(`^[0-9a-f]{${2 * n}}$`).test(s)) fail('MALFORMED', `${k} must be ${2 * n} lowercase hex digits`);
    return fromHex(s);
  };
  if (typeof o.consortium !== 'string' || utf8(o.consortium).length > MAX_CONSORTIUM_BYTES) fail('MALFORMED', 'consortium must be a string of at most 256 bytes');
  if (typeof o.round !== 'number' || !Number.isSafeInteger(o.round) || o.round < 1) fail('MALFORMED', 'round must be an integer ≥ 1');
  if (typeof o.reason !== 'string') fail('MALFORMED', 'reason must be a string');
  checkVoidReason(o.reason, 'MALFORMED');
  return { consortium: o.consortium, round: o.round, manifestHash: hex('manifestHash', 32), baseModelHash: hex('baseModelHash', 32), reason: o.reason, adminSignature: hex('adminSignature', 64) };
}
