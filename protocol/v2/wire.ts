// Wire formats of protocol v2: one signed, versioned, length-bounded envelope per message, every
// round message bound to (K, r, a, sender, manifest hash, base-model hash) and to the list before
// it. Layout and rules: PROTOCOL.md §11.
import { sha256 } from '@noble/hashes/sha2.js';
import { compareIds, concat, utf8 } from '../bytes.ts';
import { fail } from '../errors.ts';
import { sign, verifySignature } from '../keys.ts';
import { Reader, Writer } from '../reader.ts';
import { SHARE_CIPHERTEXT_BYTES, type ShareKind } from './shares.ts';
import type { AttemptV2 } from './secagg.ts';
import { checkX25519Public } from './secrets.ts';
import { checkSamples, MAX_ID_BYTES_V2, MAX_MEMBERS_V2 } from './threshold.ts';
import { checkVoidReason, MAX_VOID_REASON_BYTES, type VoidRecordV2 } from './void.ts';

export const WIRE_VERSION_V2 = 2;
export const MAX_CONSORTIUM_BYTES_V2 = 256;
export const MAX_PHASE_BYTES_V2 = 32;
export const MAX_CHUNK_BYTES_V2 = 1 << 20;
export const MAX_CHUNKS_V2 = 4096;
export const MAX_MODEL_BYTES_V2 = 64 << 20;
export const MAX_ENVELOPE_BYTES_V2 = MAX_CHUNK_BYTES_V2 + 4096;
export const MAX_MODEL_ENVELOPE_BYTES_V2 = MAX_MODEL_BYTES_V2 + 4096;
const SIGNATURE_DOMAIN_V2 = utf8('flnode/v2/envelope\0');
const LIST_DOMAIN_V2 = utf8('flnode/v2/list\0');

export enum KindV2 {
  Heartbeat = 1,
  KeyAnnouncement = 2,
  ShareDealing = 3,
  Complaint = 4,
  U1List = 5,
  U2List = 6,
  U3List = 7,
  Consent = 8,
  Reveal = 9,
  CryptogramChunk = 10,
  ModelRequest = 11,
  ModelResponse = 12,
  VoidRound = 13,
}

/** What every round message is bound to beyond (K, r, a, sender). */
export interface Binding {
  manifestHash: Uint8Array;
  baseModelHash: Uint8Array;
}

export interface HeartbeatV2 {
  sentAt: number;
  modelVersion: number;
  modelHash: Uint8Array;
  phase: string;
}
export interface KeyAnnouncementV2 extends Binding {
  cPublic: Uint8Array;
  sPublic: Uint8Array;
  samples: number;
  selfCommit: Uint8Array;
}
export interface DealingEntryV2 {
  to: string;
  ciphertext: Uint8Array;
  sCommit: Uint8Array;
  bCommit: Uint8Array;
}
export interface ShareDealingV2 extends Binding {
  u1Hash: Uint8Array;
  entries: DealingEntryV2[];
}
export interface ComplaintV2 extends Binding {
  u1Hash: Uint8Array;
  dealer: string;
  pairKey: Uint8Array;
}
export interface U1Entry {
  id: string;
  cPublic: Uint8Array;
  sPublic: Uint8Array;
  samples: number;
  selfCommit: Uint8Array;
}
export interface U1ListV2 extends Binding {
  members: U1Entry[];
}
export interface U2ListV2 extends Binding {
  u1Hash: Uint8Array;
  members: string[];
}
export interface U3ListV2 extends Binding {
  u2Hash: Uint8Array;
  members: string[];
}
export interface ConsentV2 extends Binding {
  u3Hash: Uint8Array;
}
export interface RevealEntryV2 {
  owner: string;
  kind: ShareKind;
  share: Uint8Array;
}
export interface RevealV2 extends Binding {
  u3Hash: Uint8Array;
  shares: RevealEntryV2[];
}
export interface CryptogramChunkV2 extends Binding {
  u2Hash: Uint8Array;
  cryptogramHash: Uint8Array;
  totalWords: number;
  index: number;
  count: number;
  payload: Uint8Array;
}
export interface ModelRequestV2 {
  version: number;
}
export interface ModelResponseV2 {
  version: number;
  modelHash: Uint8Array;
  weights: Uint8Array;
}

/** An admin-signed void record of the envelope's (K, r), spread by a member (void.ts). */
export interface VoidRoundV2 extends Binding {
  reason: string;
  adminSignature: Uint8Array;
}

export type MessageV2 =
  | { kind: KindV2.Heartbeat; body: HeartbeatV2 }
  | { kind: KindV2.KeyAnnouncement; body: KeyAnnouncementV2 }
  | { kind: KindV2.ShareDealing; body: ShareDealingV2 }
  | { kind: KindV2.Complaint; body: ComplaintV2 }
  | { kind: KindV2.U1List; body: U1ListV2 }
  | { kind: KindV2.U2List; body: U2ListV2 }
  | { kind: KindV2.U3List; body: U3ListV2 }
  | { kind: KindV2.Consent; body: ConsentV2 }
  | { kind: KindV2.Reveal; body: RevealV2 }
  | { kind: KindV2.CryptogramChunk; body: CryptogramChunkV2 }
  | { kind: KindV2.ModelRequest; body: ModelRequestV2 }
  | { kind: KindV2.ModelResponse; body: ModelResponseV2 }
  | { kind: KindV2.VoidRound; body: VoidRoundV2 };

export interface EnvelopeHeaderV2 {
  consortium: string;
  round: number;
  attempt: number;
  sender: string;
}
export type EnvelopeV2 = EnvelopeHeaderV2 & { version: 2 } & MessageV2;

// ── field helpers ──

function writeId(w: Writer, id: string): void {
  const b = utf8(id);
  if (b.length === 0) fail('BAD_PARAMS', 'empty id');
  if (b.includes(0)) fail('BAD_PARAMS', 'id contains a 0x00 byte');
  w.str(id, MAX_ID_BYTES_V2);
}

function readId(r: Reader, what: string): string {
  const id = r.str(MAX_ID_BYTES_V2, what);
  if (id.length === 0) fail('MALFORMED', `${what}: empty id`);
  if (utf8(id).includes(0)) fail('MALFORMED', `${what}: id contains a 0x00 byte`);
  return id;
}

/** Entries strictly ascending by id bytes (which also rules out duplicates). */
function checkAscending(ids: readonly string[], what: string, code: 'BAD_PARAMS' | 'MALFORMED'): void {
  for (let i = 1; i < ids.length; i++) if (compareIds(ids[i - 1]!, ids[i]!) >= 0) fail(code, `${what}: ids not strictly ascending by UTF-8 bytes`);
}

function writeCount(w: Writer, n: number, what: string): void {
  if (n > MAX_MEMBERS_V2) fail('OVERSIZED', `${what}: more than ${MAX_MEMBERS_V2} entries`);
  w.u16(n);
}

function readCount(r: Reader, what: string): number {
  const n = r.u16(`${what} count`);
  if (n > MAX_MEMBERS_V2) fail('OVERSIZED', `${what}: more than ${MAX_MEMBERS_V2} entries`);
  return n;
}

function writeIdList(w: Writer, ids: readonly string[], what: string): void {
  checkAscending(ids, what, 'BAD_PARAMS');
  writeCount(w, ids.length, what);
  for (const id of ids) writeId(w, id);
}

function readIdList(r: Reader, what: string): string[] {
  const n = readCount(r, what);
  const ids = Array.from({ length: n }, () => readId(r, what));
  checkAscending(ids, what, 'MALFORMED');
  return ids;
}

const writeBinding = (w: Writer, b: Binding) => w.bytes(b.manifestHash, 32).bytes(b.baseModelHash, 32);
const readBinding = (r: Reader): Binding => ({ manifestHash: r.bytes(32, 'manifest hash'), baseModelHash: r.bytes(32, 'base-model hash') });

function checkChunkV2(b: CryptogramChunkV2): void {
  if (b.payload.length > MAX_CHUNK_BYTES_V2) fail('OVERSIZED', 'chunk payload larger than 1 MiB');
  if (b.payload.length % 4 !== 0 || b.payload.length === 0) fail('MALFORMED', 'chunk payload must be whole u32 words');
  if (b.count < 1 || b.count > MAX_CHUNKS_V2) fail('MALFORMED', `chunk count must be 1..${MAX_CHUNKS_V2}`);
  if (b.index >= b.count) fail('MALFORMED', 'chunk index beyond count');
  if (b.totalWords < 1 || b.totalWords * 4 > b.count * MAX_CHUNK_BYTES_V2) fail('MALFORMED', 'total size inconsistent with chunk count');
}

function checkSamplesField(samples: number, code: 'BAD_PARAMS' | 'MALFORMED'): void {
  if (samples < 1) fail(code, 'samples must be ≥ 1');
}

// ── bodies ──

export function encodeBodyV2(m: MessageV2): Uint8Array {
  const w = new Writer();
  switch (m.kind) {
    case KindV2.Heartbeat:
      w.u64(m.body.sentAt).u64(m.body.modelVersion).bytes(m.body.modelHash, 32).str(m.body.phase, MAX_PHASE_BYTES_V2, 1);
      break;
    case KindV2.KeyAnnouncement:
      checkSamplesField(m.body.samples, 'BAD_PARAMS');
      writeBinding(w, m.body).bytes(m.body.cPublic, 32).bytes(m.body.sPublic, 32).u32(m.body.samples).bytes(m.body.selfCommit, 32);
      break;
    case KindV2.ShareDealing:
      writeBinding(w, m.body).bytes(m.body.u1Hash, 32);
      checkAscending(m.body.entries.map((e) => e.to), 'dealing', 'BAD_PARAMS');
      writeCount(w, m.body.entries.length, 'dealing');
      for (const e of m.body.entries) {
        writeId(w, e.to);
        w.bytes(e.ciphertext, SHARE_CIPHERTEXT_BYTES).bytes(e.sCommit, 32).bytes(e.bCommit, 32);
      }
      break;
    case KindV2.Complaint:
      writeBinding(w, m.body).bytes(m.body.u1Hash, 32);
      writeId(w, m.body.dealer);
      w.bytes(m.body.pairKey, 32);
      break;
    case KindV2.U1List:
      writeBinding(w, m.body);
      checkAscending(m.body.members.map((e) => e.id), 'U1', 'BAD_PARAMS');
      writeCount(w, m.body.members.length, 'U1');
      for (const e of m.body.members) {
        checkSamplesField(e.samples, 'BAD_PARAMS');
        writeId(w, e.id);
        w.bytes(e.cPublic, 32).bytes(e.sPublic, 32).u32(e.samples).bytes(e.selfCommit, 32);
      }
      break;
    case KindV2.U2List:
      writeBinding(w, m.body).bytes(m.body.u1Hash, 32);
      writeIdList(w, m.body.members, 'U2');
      break;
    case KindV2.U3List:
      writeBinding(w, m.body).bytes(m.body.u2Hash, 32);
      writeIdList(w, m.body.members, 'U3');
      break;
    case KindV2.Consent:
      writeBinding(w, m.body).bytes(m.body.u3Hash, 32);
      break;
    case KindV2.Reveal:
      writeBinding(w, m.body).bytes(m.body.u3Hash, 32);
      checkAscending(m.body.shares.map((e) => e.owner), 'reveal', 'BAD_PARAMS');
      writeCount(w, m.body.shares.length, 'reveal');
      for (const e of m.body.shares) {
        writeId(w, e.owner);
        w.u8(e.kind === 's' ? 0x73 : 0x62).bytes(e.share, 32);
      }
      break;
    case KindV2.CryptogramChunk: {
      const b = m.body;
      checkChunkV2(b);
      writeBinding(w, b).bytes(b.u2Hash, 32).bytes(b.cryptogramHash, 32).u32(b.totalWords).u16(b.index).u16(b.count).u32(b.payload.length).bytes(b.payload);
      break;
    }
    case KindV2.ModelRequest:
      w.u64(m.body.version);
      break;
    case KindV2.ModelResponse:
      if (m.body.weights.length > MAX_MODEL_BYTES_V2) fail('OVERSIZED', 'model larger than 64 MiB');
      w.u64(m.body.version).bytes(m.body.modelHash, 32).u32(m.body.weights.length).bytes(m.body.weights);
      break;
    case KindV2.VoidRound:
      checkVoidReason(m.body.reason, 'BAD_PARAMS');
      writeBinding(w, m.body).str(m.body.reason, MAX_VOID_REASON_BYTES).bytes(m.body.adminSignature, 64);
      break;
    default:
      fail('BAD_KIND', `unknown v2 message kind ${(m as { kind: number }).kind}`);
  }
  return w.finish();
}

function decodeBodyV2(kind: KindV2, body: Uint8Array): MessageV2 {
  const r = new Reader(body);
  let m: MessageV2;
  switch (kind) {
    case KindV2.Heartbeat:
      m = { kind, body: { sentAt: r.u64('sent at'), modelVersion: r.u64('model version'), modelHash: r.bytes(32, 'model hash'), phase: r.str(MAX_PHASE_BYTES_V2, 'phase', 1) } };
      break;
    case KindV2.KeyAnnouncement: {
      const b = { ...readBinding(r), cPublic: r.bytes(32, 'c public'), sPublic: r.bytes(32, 's public'), samples: r.u32('samples'), selfCommit: r.bytes(32, 'self-commit') };
      checkSamplesField(b.samples, 'MALFORMED');
      m = { kind, body: b };
      break;
    }
    case KindV2.ShareDealing: {
      const binding = readBinding(r);
      const u1Hash = r.bytes(32, 'U1 hash');
      const n = readCount(r, 'dealing');
      const entries = Array.from({ length: n }, () => ({ to: readId(r, 'recipient'), ciphertext: r.bytes(SHARE_CIPHERTEXT_BYTES, 'share ciphertext'), sCommit: r.bytes(32, 's commit'), bCommit: r.bytes(32, 'b commit') }));
      checkAscending(entries.map((e) => e.to), 'dealing', 'MALFORMED');
      m = { kind, body: { ...binding, u1Hash, entries } };
      break;
    }
    case KindV2.Complaint:
      m = { kind, body: { ...readBinding(r), u1Hash: r.bytes(32, 'U1 hash'), dealer: readId(r, 'dealer'), pairKey: r.bytes(32, 'pair key') } };
      break;
    case KindV2.U1List: {
      const binding = readBinding(r);
      const n = readCount(r, 'U1');
      const members = Array.from({ length: n }, () => {
        const e = { id: readId(r, 'U1 member'), cPublic: r.bytes(32, 'c public'), sPublic: r.bytes(32, 's public'), samples: r.u32('samples'), selfCommit: r.bytes(32, 'self-commit') };
        checkSamplesField(e.samples, 'MALFORMED');
        return e;
      });
      checkAscending(members.map((e) => e.id), 'U1', 'MALFORMED');
      m = { kind, body: { ...binding, members } };
      break;
    }
    case KindV2.U2List:
      m = { kind, body: { ...readBinding(r), u1Hash: r.bytes(32, 'U1 hash'), members: readIdList(r, 'U2') } };
      break;
    case KindV2.U3List:
      m = { kind, body: { ...readBinding(r), u2Hash: r.bytes(32, 'U2 hash'), members: readIdList(r, 'U3') } };
      break;
    case KindV2.Consent:
      m = { kind, body: { ...readBinding(r), u3Hash: r.bytes(32, 'U3 hash') } };
      break;
    case KindV2.Reveal: {
      const binding = readBinding(r);
      const u3Hash = r.bytes(32, 'U3 hash');
      const n = readCount(r, 'reveal');
      const shares = Array.from({ length: n }, () => {
        const owner = readId(r, 'owner');
        const k = r.u8('share kind');
        if (k !== 0x73 && k !== 0x62) fail('MALFORMED', `share kind byte ${k}`);
        return { owner, kind: (k === 0x73 ? 's' : 'b') as ShareKind, share: r.bytes(32, 'share') };
      });
      checkAscending(shares.map((e) => e.owner), 'reveal', 'MALFORMED');
      m = { kind, body: { ...binding, u3Hash, shares } };
      break;
    }
    case KindV2.CryptogramChunk: {
      const binding = readBinding(r);
      const u2Hash = r.bytes(32, 'U2 hash');
      const cryptogramHash = r.bytes(32, 'cryptogram hash');
      const totalWords = r.u32('total words');
      const index = r.u16('chunk index');
      const count = r.u16('chunk count');
      const len = r.u32('payload length');
      if (len > MAX_CHUNK_BYTES_V2) fail('OVERSIZED', 'chunk payload larger than 1 MiB');
      const b = { ...binding, u2Hash, cryptogramHash, totalWords, index, count, payload: r.bytes(len, 'payload') };
      checkChunkV2(b);
      m = { kind, body: b };
      break;
    }
    case KindV2.ModelRequest:
      m = { kind, body: { version: r.u64('version') } };
      break;
    case KindV2.ModelResponse: {
      const version = r.u64('version');
      const modelHash = r.bytes(32, 'model hash');
      const len = r.u32('weights length');
      if (len > MAX_MODEL_BYTES_V2) fail('OVERSIZED', 'model larger than 64 MiB');
      m = { kind, body: { version, modelHash, weights: r.bytes(len, 'weights') } };
      break;
    }
    case KindV2.VoidRound: {
      const b = { ...readBinding(r), reason: r.str(MAX_VOID_REASON_BYTES, 'void reason'), adminSignature: r.bytes(64, 'admin signature') };
      checkVoidReason(b.reason, 'MALFORMED');
      m = { kind, body: b };
      break;
    }
    default:
      return fail('BAD_KIND', `unknown v2 message kind ${kind as number}`);
  }
  r.end('body');
  return m;
}

// ── envelopes ──

function headerBytes(h: EnvelopeHeaderV2, kind: KindV2): Writer {
  if (h.sender.length === 0) fail('BAD_PARAMS', 'empty sender');
  return new Writer().u8(WIRE_VERSION_V2).u8(kind).str(h.consortium, MAX_CONSORTIUM_BYTES_V2).u64(h.round).u32(h.attempt).str(h.sender, MAX_ID_BYTES_V2);
}

/** Encode and sign: header || u32 body length || body || Ed25519 signature (64 bytes). */
export function encodeEnvelopeV2(header: EnvelopeHeaderV2, message: MessageV2, signingSecret: Uint8Array): Uint8Array {
  const w = headerBytes(header, message.kind);
  const body = encodeBodyV2(message);
  w.u32(body.length).bytes(body);
  const unsigned = w.finish();
  const out = concat(unsigned, sign(concat(SIGNATURE_DOMAIN_V2, unsigned), signingSecret));
  const max = message.kind === KindV2.ModelResponse ? MAX_MODEL_ENVELOPE_BYTES_V2 : MAX_ENVELOPE_BYTES_V2;
  if (out.length > max) fail('OVERSIZED', `envelope of ${out.length} bytes exceeds ${max}`);
  return out;
}

export interface DecodeOptionsV2 {
  consortium: string;
  publicKeyOf: (sender: string) => Uint8Array | undefined;
  maxBytes?: number;
}

/**
 * Decode and verify, in this order: size, version, kind, header, consortium, sender known,
 * signature, body (strict: canonical order of entries, no trailing bytes). Throws ProtocolError.
 */
export function decodeEnvelopeV2(bytes: Uint8Array, opts: DecodeOptionsV2): EnvelopeV2 {
  const max = opts.maxBytes ?? MAX_ENVELOPE_BYTES_V2;
  if (bytes.length > max) fail('OVERSIZED', `envelope of ${bytes.length} bytes exceeds ${max}`);
  if (bytes.length < 2 + 64) fail('MALFORMED', 'envelope too short');
  const r = new Reader(bytes);
  const version = r.u8('version');
  if (version !== WIRE_VERSION_V2) fail('BAD_VERSION', `wire version ${version}, expected ${WIRE_VERSION_V2}`);
  const kind = r.u8('kind');
  if (kind < KindV2.Heartbeat || kind > KindV2.VoidRound) fail('BAD_KIND', `unknown v2 message kind ${kind}`);
  const consortium = r.str(MAX_CONSORTIUM_BYTES_V2, 'consortium');
  const round = r.u64('round');
  const attempt = r.u32('attempt');
  const sender = readId(r, 'sender');
  const bodyLength = r.u32('body length');
  if (r.offset + bodyLength + 64 !== bytes.length) fail('MALFORMED', 'body length does not match the envelope size');
  const body = r.bytes(bodyLength, 'body');
  const signature = r.bytes(64, 'signature');
  if (consortium !== opts.consortium) fail('WRONG_CONSORTIUM', `message for consortium "${consortium.slice(0, 64)}"`);
  const publicKey = opts.publicKeyOf(sender);
  if (!publicKey) fail('UNKNOWN_SENDER', `sender ${sender.slice(0, 64)} is not a member`);
  verifySignature(signature, concat(SIGNATURE_DOMAIN_V2, bytes.subarray(0, bytes.length - 64)), publicKey);
  const message = decodeBodyV2(kind as KindV2, body);
  return { version: WIRE_VERSION_V2, consortium, round, attempt, sender, ...message } as EnvelopeV2;
}

/** The wire version of an envelope (its first byte) without verifying it; null if empty. */
export function peekWireVersion(bytes: Uint8Array): number | null {
  return bytes.length > 0 ? bytes[0]! : null;
}

/**
 * H(list) = SHA-256(utf8("flnode/v2/list") || 0x00 || u8(kind) || str16(K) || u64be(r) ||
 * u32be(a) || body): names a signed U1, U2 or U3 list in the next list, dealings, complaints,
 * cryptogram chunks, consents and reveals. The body holds the binding and the previous hash, so
 * the hashes chain U1 (with every member's keys) → U2 → U3.
 */
export function listHash(ref: { consortium: string; round: number; attempt: number }, list: Extract<MessageV2, { kind: KindV2.U1List | KindV2.U2List | KindV2.U3List }>): Uint8Array {
  const w = new Writer().u8(list.kind).str(ref.consortium, MAX_CONSORTIUM_BYTES_V2).u64(ref.round).u32(ref.attempt);
  return sha256(concat(LIST_DOMAIN_V2, w.finish(), encodeBodyV2(list)));
}

/**
 * The chain checks a member applies to a list from the attempt's aggregator: same binding as its
 * own, the previous list's hash, and U3 ⊆ U2 ⊆ U1 each of size ≥ t.
 */
export function checkListChain(
  ref: { consortium: string; round: number; attempt: number },
  threshold: number,
  u1: U1ListV2,
  u2?: U2ListV2,
  u3?: U3ListV2,
): void {
  const same = (a: Binding, b: Binding) => Buffer.from(a.manifestHash).equals(Buffer.from(b.manifestHash)) && Buffer.from(a.baseModelHash).equals(Buffer.from(b.baseModelHash));
  if (u1.members.length < threshold) fail('BAD_THRESHOLD', `U1 holds ${u1.members.length} < t = ${threshold}`);
  if (!u2) return;
  if (!same(u1, u2)) fail('MALFORMED', 'U2 bound to another manifest or base model');
  if (!Buffer.from(u2.u1Hash).equals(Buffer.from(listHash(ref, { kind: KindV2.U1List, body: u1 })))) fail('MALFORMED', 'U2 names another U1');
  const in1 = new Set(u1.members.map((m) => m.id));
  if (u2.members.some((id) => !in1.has(id))) fail('MALFORMED', 'U2 is not a subset of U1');
  if (u2.members.length < threshold) fail('BAD_THRESHOLD', `U2 holds ${u2.members.length} < t = ${threshold}`);
  if (!u3) return;
  if (!same(u2, u3)) fail('MALFORMED', 'U3 bound to another manifest or base model');
  if (!Buffer.from(u3.u2Hash).equals(Buffer.from(listHash(ref, { kind: KindV2.U2List, body: u2 })))) fail('MALFORMED', 'U3 names another U2');
  const in2 = new Set(u2.members);
  if (u3.members.some((id) => !in2.has(id))) fail('MALFORMED', 'U3 is not a subset of U2');
  if (u3.members.length < threshold) fail('BAD_THRESHOLD', `U3 holds ${u3.members.length} < t = ${threshold}`);
}

/**
 * The checks on a KeyAnnouncement (or a U1 entry) beyond decoding: samples within the member's
 * certified maxSamples (OVER_MAX_SAMPLES) and both public keys of full order (BAD_KEY).
 */
export function checkAnnouncedKeys(body: Pick<KeyAnnouncementV2, 'cPublic' | 'sPublic' | 'samples'>, maxSamples: number): void {
  checkSamples(body.samples, maxSamples);
  checkX25519Public(body.cPublic, 'c public key');
  checkX25519Public(body.sPublic, 's public key');
}

/** The attempt's public parameters from its signed lists: U2's members with the keys U1 lists for them. */
export function attemptFromLists(ref: { consortium: string; round: number; attempt: number }, clip: number, threshold: number, u1: U1ListV2, u2: U2ListV2): AttemptV2 {
  checkListChain(ref, threshold, u1, u2);
  const byId = new Map(u1.members.map((m) => [m.id, m]));
  return { ...ref, clip, threshold, u2: u2.members.map((id) => ({ id, sPublic: byId.get(id)!.sPublic, samples: byId.get(id)!.samples })) };
}

/** The void record a VoidRound envelope carries: its K and r are the envelope's (checked by verifyVoidRecord). */
export function voidRecordOf(env: EnvelopeHeaderV2 & { body: VoidRoundV2 }): VoidRecordV2 {
  return { consortium: env.consortium, round: env.round, manifestHash: env.body.manifestHash, baseModelHash: env.body.baseModelHash, reason: env.body.reason, adminSignature: env.body.adminSignature };
}

/** The VoidRound message that spreads record `v` (sent in an envelope of v's K and r). */
export function voidRoundMessage(v: VoidRecordV2): MessageV2 {
  return { kind: KindV2.VoidRound, body: { manifestHash: v.manifestHash, baseModelHash: v.baseModelHash, reason: v.reason, adminSignature: v.adminSignature } };
}
