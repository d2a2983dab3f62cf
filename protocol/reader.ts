// A bounds-checked cursor over bytes and its writing twin. Every read that would pass the end
// throws MALFORMED; callers call `end()` to reject trailing bytes.
import { fromUtf8, utf8 } from './bytes.ts';
import { fail } from './errors.ts';

export class Reader {
  private o = 0;
  private readonly dv: DataView;
  constructor(private readonly b: Uint8Array) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  private need(n: number, what: string): void {
    if (this.o + n > this.b.length) fail('MALFORMED', `truncated ${what}`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.dv.getUint8(this.o++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.dv.getUint16(this.o);
    this.o += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.o);
    this.o += 4;
    return v;
  }
  u64(what: string): number {
    this.need(8, what);
    const v = this.dv.getBigUint64(this.o);
    this.o += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('MALFORMED', `${what} out of range`);
    return Number(v);
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = this.b.slice(this.o, this.o + n);
    this.o += n;
    return v;
  }
  /** u16-length-prefixed UTF-8 string of at most `max` bytes. */
  str(max: number, what: string, lenBytes: 1 | 2 = 2): string {
    const n = lenBytes === 1 ? this.u8(what) : this.u16(what);
    if (n > max) fail('OVERSIZED', `${what} longer than ${max} bytes`);
    return fromUtf8(this.bytes(n, what));
  }
  get offset(): number {
    return this.o;
  }
  end(what: string): void {
    if (this.o !== this.b.length) fail('MALFORMED', `trailing bytes after ${what}`);
  }
}

export class Writer {
  private parts: Uint8Array[] = [];
  private size = 0;
  private push(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  u8(v: number): this {
    return this.push(Uint8Array.of(v & 0xff));
  }
  u16(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) fail('BAD_PARAMS', `not a u16: ${v}`);
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v);
    return this.push(b);
  }
  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) fail('BAD_PARAMS', `not a u32: ${v}`);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v);
    return this.push(b);
  }
  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) fail('BAD_PARAMS', `not a u64: ${v}`);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v));
    return this.push(b);
  }
  bytes(b: Uint8Array, exact?: number): this {
    if (exact !== undefined && b.length !== exact) fail('BAD_PARAMS', `expected ${exact} bytes, got ${b.length}`);
    return this.push(b);
  }
  str(s: string, max: number, lenBytes: 1 | 2 = 2): this {
    const b = utf8(s);
    if (b.length > max) fail('OVERSIZED', `string longer than ${max} bytes`);
    if (lenBytes === 1) this.u8(b.length);
    else this.u16(b.length);
    return this.push(b);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}
