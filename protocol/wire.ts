// Wire formats: one signed, versioned, length-bounded envelope per message, bound to
// (consortium, round, attempt, sender). Layout and rules: PROTOCOL.md §5.
import { sha256 } from '@noble/hashes/sha2.js';
import { compareIds, concat, utf8 } from './bytes.ts';
import { fail, ProtocolError } from './errors.ts';
import { sign, verifySignature } from './keys.ts';
import { Reader, Writer } from './reader.ts';

export const WIRE_VERSION = 1;
export const MAX_CHUNK_BYTES = 1 << 20;
export const MAX_ID_BYTES = 128;
export const MAX_CONSORTIUM_BYTES = 256;
export const MAX_MEMBERS = 1024;
export const MAX_PHASE_BYTES = 32;
export const MAX_REASON_BYTES = 256;
export const MAX_CHUNKS = 4096;
export const MAX_MODEL_BYTES = 64 << 20;
/** Largest gossip envelope: a full chunk plus header, body fields and signature. */
export const MAX_ENVELOPE_BYTES = MAX_CHUNK_BYTES + 4096;
/** Largest ModelResponse envelope (sent over a direct stream, not gossip). */
export const MAX_MODEL_ENVELOPE_BYTES = MAX_MODEL_BYTES + 4096;
const SIGNATURE_DOMAIN = utf8('flnode/v1/envelope\0');

export enum MessageKind {
  Heartbeat = 1,
  KeyAnnouncement = 2,
  CryptogramChunk = 3,
  AttemptStart = 4,
  AggregateRecord = 5,
  ModelRequest = 6,
  ModelResponse = 7,
}

export interface HeartbeatBody {
  /** Sender's clock, ms since the Unix epoch: makes every heartbeat unique (gossip dedupes by hash). */
  sentAt: number;
  modelVersion: number;
  modelHash: Uint8Array;
  phase: string;
}
export interface KeyAnnouncementBody {
  publicKey: Uint8Array;
  samples: number;
}
export interface CryptogramChunkBody {
  cryptogramHash: Uint8Array;
  /** attemptStartHash() of the AttemptStart the sender masked for: binds the masks' participant set. */
  attemptHash: Uint8Array;
  totalWords: number;
  index: number;
  count: number;
  payload: Uint8Array;
}
export interface AttemptStartBody {
  aggregator: string;
  participants: string[];
  baseModelHash: Uint8Array;
  reason: string;
}
export interface AggregateRecordBody {
  participants: string[];
  cryptogramHashes: Uint8Array[];
  sumHash: Uint8Array;
  baseModelHash: Uint8Array;
  newModelHash: Uint8Array;
}
export interface ModelRequestBody {
  version: number;
}
export interface ModelResponseBody {
  version: number;
  modelHash: Uint8Array;
  weights: Uint8Array;
}

export type Message =
  | { kind: MessageKind.Heartbeat; body: HeartbeatBody }
  | { kind: MessageKind.KeyAnnouncement; body: KeyAnnouncementBody }
  | { kind: MessageKind.CryptogramChunk; body: CryptogramChunkBody }
  | { kind: MessageKind.AttemptStart; body: AttemptStartBody }
  | { kind: MessageKind.AggregateRecord; body: AggregateRecordBody }
  | { kind: MessageKind.ModelRequest; body: ModelRequestBody }
  | { kind: MessageKind.ModelResponse; body: ModelResponseBody };

export interface EnvelopeHeader {
  consortium: string;
  round: number;
  attempt: number;
  sender: string;
}

export type Envelope = EnvelopeHeader & { version: number } & Message;

function writeIds(w: Writer, ids: readonly string[]): void {
  if (ids.length > MAX_MEMBERS) fail('OVERSIZED', `more than ${MAX_MEMBERS} members`);
  w.u16(ids.length);
  for (const id of ids) w.str(id, MAX_ID_BYTES);
}

function readIds(r: Reader, what: string): string[] {
  const n = r.u16(`${what} count`);
  if (n > MAX_MEMBERS) fail('OVERSIZED', `${what}: more than ${MAX_MEMBERS} members`);
  const ids: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const id = r.str(MAX_ID_BYTES, what);
    if (id.length === 0) fail('MALFORMED', `${what}: empty id`);
    if (seen.has(id)) fail('MALFORMED', `${what}: duplicate id`);
    seen.add(id);
    ids.push(id);
  }
  return ids;
}

function encodeBody(m: Message): Uint8Array {
  const w = new Writer();
  switch (m.kind) {
    case MessageKind.Heartbeat:
      w.u64(m.body.sentAt).u64(m.body.modelVersion).bytes(m.body.modelHash, 32).str(m.body.phase, MAX_PHASE_BYTES, 1);
      break;
    case MessageKind.KeyAnnouncement:
      if (m.body.samples < 1) fail('BAD_PARAMS', 'samples must be ≥ 1');
      w.bytes(m.body.publicKey, 32).u32(m.body.samples);
      break;
    case MessageKind.CryptogramChunk: {
      const b = m.body;
      checkChunk(b);
      w.bytes(b.cryptogramHash, 32).bytes(b.attemptHash, 32).u32(b.totalWords).u16(b.index).u16(b.count).u32(b.payload.length).bytes(b.payload);
      break;
    }
    case MessageKind.AttemptStart:
      w.str(m.body.aggregator, MAX_ID_BYTES);
      writeIds(w, m.body.participants);
      w.bytes(m.body.baseModelHash, 32).str(m.body.reason, MAX_REASON_BYTES);
      break;
    case MessageKind.AggregateRecord:
      if (m.body.cryptogramHashes.length !== m.body.participants.length) {
        fail('BAD_PARAMS', 'one cryptogram hash per participant');
      }
      writeIds(w, m.body.participants);
      for (const h of m.body.cryptogramHashes) w.bytes(h, 32);
      w.bytes(m.body.sumHash, 32).bytes(m.body.baseModelHash, 32).bytes(m.body.newModelHash, 32);
      break;
    case MessageKind.ModelRequest:
      w.u64(m.body.version);
      break;
    case MessageKind.ModelResponse:
      if (m.body.weights.length > MAX_MODEL_BYTES) fail('OVERSIZED', 'model larger than 64 MiB');
      w.u64(m.body.version).bytes(m.body.modelHash, 32).u32(m.body.weights.length).bytes(m.body.weights);
      break;
    default:
      fail('BAD_KIND', `unknown message kind ${(m as { kind: number }).kind}`);
  }
  return w.finish();
}

function checkChunk(b: CryptogramChunkBody): void {
  if (b.payload.length > MAX_CHUNK_BYTES) fail('OVERSIZED', 'chunk payload larger than 1 MiB');
  if (b.payload.length % 4 !== 0 || b.payload.length === 0) fail('MALFORMED', 'chunk payload must be whole u32 words');
  if (b.count < 1 || b.count > MAX_CHUNKS) fail('MALFORMED', `chunk count must be 1..${MAX_CHUNKS}`);
  if (b.index >= b.count) fail('MALFORMED', 'chunk index beyond count');
  if (b.totalWords < 1 || b.totalWords * 4 > b.count * MAX_CHUNK_BYTES) fail('MALFORMED', 'total size inconsistent with chunk count');
  if (b.cryptogramHash.length !== 32) fail('MALFORMED', 'cryptogram hash must be 32 bytes');
  if (b.attemptHash.length !== 32) fail('MALFORMED', 'attempt hash must be 32 bytes');
}

const ATTEMPT_DOMAIN = utf8('flnode/v1/attempt\0');

/**
 * The hash a cryptogram chunk carries to name what its masks and its update depend on:
 * SHA-256(utf8("flnode/v1/attempt") || 0x00 || ids(participants sorted by UTF-8 bytes) || baseModelHash) of the
 * AttemptStart the sender accepted. Two aggregators that opened the same (round, attempt) with
 * the same participants and base model give the same hash (their cryptograms do cancel together);
 * a different set gives a different hash, so a cryptogram masked for one set is never summed with
 * cryptograms masked for another. The aggregator and the reason do not enter: they change no mask.
 */
export function attemptStartHash(body: Pick<AttemptStartBody, 'participants' | 'baseModelHash'>): Uint8Array {
  const w = new Writer();
  // the set, not the list: masks pair members in UTF-8 byte order, whatever order a start lists them in
  const sorted = [...body.participants].sort(compareIds);
  writeIds(w, sorted);
  w.bytes(body.baseModelHash, 32);
  return sha256(concat(ATTEMPT_DOMAIN, w.finish()));
}

function decodeBody(kind: MessageKind, body: Uint8Array): Message {
  const r = new Reader(body);
  let m: Message;
  switch (kind) {
    case MessageKind.Heartbeat:
      m = { kind, body: { sentAt: r.u64('sent at'), modelVersion: r.u64('model version'), modelHash: r.bytes(32, 'model hash'), phase: r.str(MAX_PHASE_BYTES, 'phase', 1) } };
      break;
    case MessageKind.KeyAnnouncement: {
      const publicKey = r.bytes(32, 'public key');
      const samples = r.u32('samples');
      if (samples < 1) fail('MALFORMED', 'samples must be ≥ 1');
      m = { kind, body: { publicKey, samples } };
      break;
    }
    case MessageKind.CryptogramChunk: {
      const cryptogramHash = r.bytes(32, 'cryptogram hash');
      const attemptHash = r.bytes(32, 'attempt hash');
      const totalWords = r.u32('total words');
      const index = r.u16('chunk index');
      const count = r.u16('chunk count');
      const len = r.u32('payload length');
      if (len > MAX_CHUNK_BYTES) fail('OVERSIZED', 'chunk payload larger than 1 MiB');
      const payload = r.bytes(len, 'payload');
      const b = { cryptogramHash, attemptHash, totalWords, index, count, payload };
      checkChunk(b);
      m = { kind, body: b };
      break;
    }
    case MessageKind.AttemptStart: {
      const aggregator = r.str(MAX_ID_BYTES, 'aggregator');
      const participants = readIds(r, 'participants');
      m = { kind, body: { aggregator, participants, baseModelHash: r.bytes(32, 'base model hash'), reason: r.str(MAX_REASON_BYTES, 'reason') } };
      break;
    }
    case MessageKind.AggregateRecord: {
      const participants = readIds(r, 'participants');
      const cryptogramHashes = participants.map(() => r.bytes(32, 'cryptogram hash'));
      m = {
        kind,
        body: {
          participants,
          cryptogramHashes,
          sumHash: r.bytes(32, 'sum hash'),
          baseModelHash: r.bytes(32, 'base model hash'),
          newModelHash: r.bytes(32, 'new model hash'),
        },
      };
      break;
    }
    case MessageKind.ModelRequest:
      m = { kind, body: { version: r.u64('version') } };
      break;
    case MessageKind.ModelResponse: {
      const version = r.u64('version');
      const modelHash = r.bytes(32, 'model hash');
      const len = r.u32('weights length');
      if (len > MAX_MODEL_BYTES) fail('OVERSIZED', 'model larger than 64 MiB');
      m = { kind, body: { version, modelHash, weights: r.bytes(len, 'weights') } };
      break;
    }
    default:
      return fail('BAD_KIND', `unknown message kind ${kind as number}`);
  }
  r.end('body');
  return m;
}

function writeHeader(w: Writer, h: EnvelopeHeader, kind: MessageKind): void {
  if (h.sender.length === 0) fail('BAD_PARAMS', 'empty sender');
  w.u8(WIRE_VERSION).u8(kind).str(h.consortium, MAX_CONSORTIUM_BYTES).u64(h.round).u32(h.attempt).str(h.sender, MAX_ID_BYTES);
}

/** Encode and sign: header ‖ u32 body length ‖ body ‖ Ed25519 signature (64 bytes). */
export function encodeEnvelope(header: EnvelopeHeader, message: Message, signingSecret: Uint8Array): Uint8Array {
  const w = new Writer();
  writeHeader(w, header, message.kind);
  const body = encodeBody(message);
  w.u32(body.length).bytes(body);
  const unsigned = w.finish();
  const sig = sign(concat(SIGNATURE_DOMAIN, unsigned), signingSecret);
  const out = concat(unsigned, sig);
  const max = message.kind === MessageKind.ModelResponse ? MAX_MODEL_ENVELOPE_BYTES : MAX_ENVELOPE_BYTES;
  if (out.length > max) fail('OVERSIZED', `envelope of ${out.length} bytes exceeds ${max}`);
  return out;
}

export interface DecodeOptions {
  consortium: string;
  /** The sender's Ed25519 public key, or undefined when the sender is not a member. */
  publicKeyOf: (sender: string) => Uint8Array | undefined;
  /** Defaults to MAX_ENVELOPE_BYTES (gossip); pass MAX_MODEL_ENVELOPE_BYTES for model responses. */
  maxBytes?: number;
}

/**
 * Decode and verify. Checks, in order: size, version, kind, header fields, consortium, sender
 * known, signature, body (strict, no trailing bytes). Throws ProtocolError on the first failure.
 */
export function decodeEnvelope(bytes: Uint8Array, opts: DecodeOptions): Envelope {
  const max = opts.maxBytes ?? MAX_ENVELOPE_BYTES;
  if (bytes.length > max) fail('OVERSIZED', `envelope of ${bytes.length} bytes exceeds ${max}`);
  if (bytes.length < 2 + 64) fail('MALFORMED', 'envelope too short');
  const r = new Reader(bytes);
  const version = r.u8('version');
  if (version !== WIRE_VERSION) fail('BAD_VERSION', `wire version ${version}, expected ${WIRE_VERSION}`);
  const kind = r.u8('kind');
  if (!(kind in MessageKind) || kind < MessageKind.Heartbeat || kind > MessageKind.ModelResponse) fail('BAD_KIND', `unknown message kind ${kind}`);
  const consortium = r.str(MAX_CONSORTIUM_BYTES, 'consortium');
  const round = r.u64('round');
  const attempt = r.u32('attempt');
  const sender = r.str(MAX_ID_BYTES, 'sender');
  const bodyLength = r.u32('body length');
  if (r.offset + bodyLength + 64 !== bytes.length) fail('MALFORMED', 'body length does not match the envelope size');
  const body = r.bytes(bodyLength, 'body');
  const signature = r.bytes(64, 'signature');
  r.end('signature');
  if (consortium !== opts.consortium) fail('WRONG_CONSORTIUM', `message for consortium "${consortium.slice(0, 64)}"`);
  const publicKey = opts.publicKeyOf(sender);
  if (!publicKey) fail('UNKNOWN_SENDER', `sender ${sender.slice(0, 64)} is not a member`);
  verifySignature(signature, concat(SIGNATURE_DOMAIN, bytes.subarray(0, bytes.length - 64)), publicKey);
  const message = decodeBody(kind as MessageKind, body);
  return { version, consortium, round, attempt, sender, ...message } as Envelope;
}

export { ProtocolError };
