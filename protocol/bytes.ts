// Byte helpers shared by the protocol modules.
import { fail } from './errors.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

export function fromUtf8(b: Uint8Array): string {
  try {
    return decoder.decode(b);
  } catch {
    return fail('MALFORMED', 'invalid UTF-8');
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function u32be(v: number): Uint8Array {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) fail('BAD_PARAMS', `not a u32: ${v}`);
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

export function u64be(v: number): Uint8Array {
  if (!Number.isSafeInteger(v) || v < 0) fail('BAD_PARAMS', `not a u64 safe integer: ${v}`);
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v));
  return b;
}

/** Byte-wise comparison (ids are ordered by their UTF-8 bytes). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}

/** Order of two member ids: by their UTF-8 bytes. */
export function compareIds(a: string, b: string): number {
  return compareBytes(utf8(a), utf8(b));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/i.test(s)) fail('MALFORMED', 'invalid hex');
  return new Uint8Array(Buffer.from(s, 'hex'));
}
