// Word-wise work over large vectors, block by block: the add under every mask and under
// aggregation, and protocol v2's quantize and decode. A hand-assembled WebAssembly SIMD kernel
// does the arithmetic (i32x4.add / i32x4.sub, 4 words per instruction; quantize and decode in f64x2
// lanes, bit-identical to the float64 definitions); JavaScript's scalar loops were slower than
// AES-256-CTR itself (profiles in bench/results/). Each block of the inputs and of every keystream
// is copied into the module's memory (node:crypto cannot write a keystream into an existing
// buffer) and combined there while it sits in the L2 cache, so a cryptogram is built or unmasked
// in one pass over the vector with memory bounded by the result plus a few 64 KiB blocks. Without
// WebAssembly SIMD the same results come from the JavaScript loops.

// Vectors are read and written through their native byte views: little-endian hosts only.
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error('flnode protocol: big-endian hosts are not supported');
}

/** Bytes per block: large enough to amortize a cipher call, small enough to stay in cache. */
export const BLOCK_BYTES = 1 << 16;

interface Simd {
  memory: WebAssembly.Memory;
  /** mem[dst..dst+bytes) += mem[src..src+bytes) as i32x4 lanes; bytes a multiple of 64. */
  add(dst: number, src: number, bytes: number): void;
  sub(dst: number, src: number, bytes: number): void;
  /**
   * u32 mem[dst + 4k] = roundHalfEven(clamp(w·f64(f32 mem[src + 4k]), −C, C)·S) mod 2^32 for
   * |C·S| < 2^51, bytes a multiple of 64; returns 1 if any source float was not finite.
   */
  quantize(dst: number, src: number, bytes: number, w: number, clip: number, scale: number): number;
  /** f32 mem[dst + 4k] = f32(((f64(i32 mem[src + 4k]) · inverseScale)·N2)/N3), bytes a multiple of 64 (dst = src allowed). */
  decode(dst: number, src: number, bytes: number, inverseScale: number, n2: number, n3: number): void;
}

// Instruction bytes. SIMD instructions are 0xfd followed by the LEB128 opcode; memory operands
// are (log2 alignment, offset).
const V = (opcode: number) => [0xfd, ...leb(opcode)];
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const tee = (i: number) => [0x22, i];
const V128_LOAD = (offset: number) => [...V(0x00), 0x04, ...leb(offset)];
const V128_STORE = (offset: number) => [...V(0x0b), 0x04, ...leb(offset)];
const LOAD64_ZERO = (offset: number) => [...V(0x5d), 0x03, ...leb(offset)]; // 2 lanes into the low half
const SHUFFLE = (lanes: number[]) => [...V(0x0d), ...lanes]; // i8x16.shuffle of two vectors' 32 bytes
const F64X2_SPLAT = V(0x14);
const F64X2 = { add: V(0xf0), mul: V(0xf2), div: V(0xf3), pmin: V(0xf6), pmax: V(0xf7), promoteLowF32: V(0x5f), convertLowI32: V(0xfe) };
const F32X4 = { sub: V(0xe5), ne: V(0x42), demoteF64Zero: V(0x5e) };
const I32X4 = { add: V(0xae), sub: V(0xb1) };
const V128_OR = V(0x50);
const ANY_TRUE = V(0x53);
const F64_NEG = [0x9a];

/**
 * (block (loop (br_if 1 (i32.eqz $bytes)) BODY $dst += step; $src += step; $bytes −= step; (br 0)))
 * over params $dst = 0, $src = 1, $bytes = 2.
 */
function loop(step: number, body: number[]): number[] {
  return [
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(2), 0x45, 0x0d, 0x01, // bytes == 0 → exit
    ...body,
    ...get(0), 0x41, ...sleb(step), 0x6a, ...set(0), // dst += step
    ...get(1), 0x41, ...sleb(step), 0x6a, ...set(1), // src += step
    ...get(2), 0x41, ...sleb(step), 0x6b, ...set(2), // bytes -= step
    0x0c, 0x00, 0x0b, 0x0b, // br loop, end loop, end block
  ];
}

/** A function body: local declarations (count of v128 locals), code, end. */
function func(v128Locals: number, code: number[]): number[] {
  const b = [...(v128Locals ? [0x01, v128Locals, 0x7b] : [0x00]), ...code, 0x0b];
  return [...leb(b.length), ...b];
}

// add/sub: mem[dst] OP= mem[src], four v128 lanes (64 bytes) per iteration.
function addBody(op: number[]): number[] {
  const lanes: number[] = [];
  for (const offset of [0x00, 0x10, 0x20, 0x30]) lanes.push(...get(0), ...get(0), ...V128_LOAD(offset), ...get(1), ...V128_LOAD(offset), ...op, ...V128_STORE(offset));
  return func(0, loop(64, lanes));
}

// quantize(dst, src, bytes, w, C, S) → bad. Locals 6..9: splats of w, C, −C, S; 10: the or of
// every lane's (f − f ≠ f − f), true for ±Infinity and NaN; 11: scratch; 12: splat of 1.5·2^52.
// Per 16 bytes: the four floats checked, then two halves of two lanes each widened to f64, w·u,
// clamped to [−C, C] (pmin/pmax: the same as min/max without NaN, which is refused), ·S, and
// + 1.5·2^52: for |x| < 2^51 that one addition rounds x to an integer, ties to even, and leaves
// it mod 2^32 in the low 32 bits of the sum's mantissa, which the shuffle gathers into 4 words.
// Four such 16-byte steps per loop iteration (64 bytes): 17 % faster than one.
function quantizeBody(): number[] {
  const half = (offset: number) => [
    ...get(1), ...LOAD64_ZERO(offset), ...F64X2.promoteLowF32,
    ...get(6), ...F64X2.mul, ...get(7), ...F64X2.pmin, ...get(8), ...F64X2.pmax, ...get(9), ...F64X2.mul,
    ...get(12), ...F64X2.add,
  ];
  return func(7, [
    ...get(3), ...F64X2_SPLAT, ...set(6),
    ...get(4), ...F64X2_SPLAT, ...set(7),
    ...get(4), ...F64_NEG, ...F64X2_SPLAT, ...set(8),
    ...get(5), ...F64X2_SPLAT, ...set(9),
    ...f64Const(1.5 * 2 ** 52), ...F64X2_SPLAT, ...set(12),
    ...loop(64, [0, 16, 32, 48].flatMap((o) => [
      ...get(10), ...get(1), ...V128_LOAD(o), ...tee(11), ...get(11), ...F32X4.sub, ...tee(11), ...get(11), ...F32X4.ne, ...V128_OR, ...set(10),
      ...get(0), ...half(o), ...half(o + 8), ...SHUFFLE([0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]), ...V128_STORE(o),
    ])),
    ...get(10), ...ANY_TRUE,
  ]);
}

// decode(dst, src, bytes, 1/S, N2, N3) with 1/S exact (S a power of two). Locals 6..8: splats of
// 1/S, N2, N3. Per 16 bytes, two halves of two i32 lanes to f64, ·(1/S) (= / S exactly), · N2,
// / N3, rounded to f32; the shuffle joins the halves into one store. Four steps per iteration.
function decodeBody(): number[] {
  const half = (offset: number) => [
    ...get(1), ...LOAD64_ZERO(offset), ...F64X2.convertLowI32,
    ...get(6), ...F64X2.mul, ...get(7), ...F64X2.mul, ...get(8), ...F64X2.div,
    ...F32X4.demoteF64Zero,
  ];
  return func(3, [
    ...get(3), ...F64X2_SPLAT, ...set(6),
    ...get(4), ...F64X2_SPLAT, ...set(7),
    ...get(5), ...F64X2_SPLAT, ...set(8),
    ...loop(64, [0, 16, 32, 48].flatMap((o) => [...get(0), ...half(o), ...half(o + 8), ...SHUFFLE([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]), ...V128_STORE(o)])),
  ]);
}

/** f64.const x (little-endian IEEE 754 bytes). */
function f64Const(x: number): number[] {
  const b = new Uint8Array(new Float64Array([x]).buffer);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) b.reverse();
  return [0x44, ...b];
}

/** Unsigned LEB128. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    const byte = n & 0x7f;
    n >>>= 7;
    out.push(n ? byte | 0x80 : byte);
  } while (n);
  return out;
}

/** Signed LEB128 of a small non-negative constant. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if (n === 0 && (byte & 0x40) === 0) return [...out, byte];
    out.push(byte | 0x80);
  }
}

function section(id: number, content: number[]): number[] {
  return [id, ...leb(content.length), ...content];
}

const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
const STEP = 64;
const INT31 = 2 ** 31 - 1;
/** Two blocks (target at 0, source at BLOCK_BYTES) and the padding of the last one. */
const PAGES = Math.ceil((2 * BLOCK_BYTES + STEP) / 65536);
const I32 = 0x7f;
const F64 = 0x7c;

export const KERNEL_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [
    0x03,
    0x60, 0x03, I32, I32, I32, 0x00, // 0: (i32 i32 i32) → ()
    0x60, 0x06, I32, I32, I32, F64, F64, F64, 0x01, I32, // 1: (i32 i32 i32 f64 f64 f64) → i32
    0x60, 0x06, I32, I32, I32, F64, F64, F64, 0x00, // 2: (i32 i32 i32 f64 f64 f64) → ()
  ]),
  ...section(3, [0x04, 0x00, 0x00, 0x01, 0x02]), // add, sub, quantize, decode
  ...section(5, [0x01, 0x00, ...leb(PAGES)]), // memory, min PAGES
  ...section(7, [0x05, ...name('memory'), 0x02, 0x00, ...name('add'), 0x00, 0x00, ...name('sub'), 0x00, 0x01, ...name('quantize'), 0x00, 0x02, ...name('decode'), 0x00, 0x03]),
  ...section(10, [0x04, ...addBody(I32X4.add), ...addBody(I32X4.sub), ...quantizeBody(), ...decodeBody()]),
]);

function instantiate(): Simd | null {
  try {
    if (typeof WebAssembly !== 'object' || !WebAssembly.validate(KERNEL_WASM)) return null;
    return new WebAssembly.Instance(new WebAssembly.Module(KERNEL_WASM)).exports as unknown as Simd;
  } catch {
    return null;
  }
}

const simd = instantiate();
export const simdAvailable = simd !== null;

type BlockSource = (j: number, byteStart: number, bytes: number) => Uint8Array;

/**
 * The SIMD pass under every function below: for each block [s, s + len) of `out`'s bytes, `first`
 * writes the block's first term into the module's target region, source j's block is added or
 * subtracted (j = 0..count−1), and the target region is copied to `out`.
 */
function simdPass(
  kernel: Simd,
  out: Uint8Array,
  first: (mem: Uint8Array, s: number, len: number, padded: number) => void,
  count: number,
  block: BlockSource,
  signs: ArrayLike<1 | -1>,
  last?: (padded: number) => void,
): void {
  const mem = new Uint8Array(kernel.memory.buffer);
  for (let s = 0; s < out.length; s += BLOCK_BYTES) {
    const len = Math.min(BLOCK_BYTES, out.length - s);
    const padded = (len + STEP - 1) & -STEP; // bytes past len are scratch and never copied back
    first(mem, s, len, padded);
    for (let j = 0; j < count; j++) {
      mem.set(checked(block(j, s, len), len), BLOCK_BYTES);
      if (signs[j] === 1) kernel.add(0, BLOCK_BYTES, padded);
      else kernel.sub(0, BLOCK_BYTES, padded);
    }
    last?.(padded);
    out.set(mem.subarray(0, len), s);
  }
}

const bytesOf = (a: Uint32Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * target[k] += Σ_j signs[j] · source_j[k] (mod 2^32), one block of the target at a time:
 * `block(j, byteStart, bytes)` returns source j's little-endian bytes [byteStart, byteStart + bytes)
 * (it is called in order j = 0..count−1 for each block, blocks in ascending order, so a stream
 * cipher can produce them). Little-endian hosts only (checked when this module loads).
 */
export function addBlocks(target: Uint32Array, count: number, block: BlockSource, signs: ArrayLike<1 | -1>, useSimd = simdAvailable): void {
  const tb = bytesOf(target);
  if (useSimd && simd) {
    simdPass(simd, tb, (mem, s, len) => mem.set(tb.subarray(s, s + len), 0), count, block, signs);
    return;
  }
  const t = new Int32Array(target.buffer, target.byteOffset, target.length);
  for (let s = 0; s < tb.length; s += BLOCK_BYTES) {
    const len = Math.min(BLOCK_BYTES, tb.length - s);
    const w0 = s >>> 2;
    for (let j = 0; j < count; j++) {
      let src = checked(block(j, s, len), len);
      if (src.byteOffset % 4 !== 0) src = src.slice(); // an unaligned view: copy once
      const m = new Int32Array(src.buffer, src.byteOffset, len >>> 2);
      if (signs[j] === 1) for (let i = 0, k = w0; i < m.length; i++, k++) t[k] = (t[k]! + m[i]!) | 0;
      else for (let i = 0, k = w0; i < m.length; i++, k++) t[k] = (t[k]! - m[i]!) | 0;
    }
  }
}

/**
 * Whether quantizeAddBlocks can run: WebAssembly SIMD, and |roundHalfEven(±C·S)| < 2^31 so that the
 * kernel's int32 conversion never saturates (the JavaScript quantize reduces mod 2^32 instead).
 */
export function quantizeInKernel(clip: number, scale: number): boolean {
  return simd !== null && clip * scale <= INT31;
}

/**
 * out[k] = roundHalfEven(clamp(w·update[k], −C, C)·S) + Σ_j signs[j] · source_j[k] (mod 2^32) in
 * one pass over blocks (WebAssembly SIMD only: check quantizeInKernel first). A non-finite
 * update[k] is reported by `nonFinite(k)` for the first such k, which must throw.
 */
export function quantizeAddBlocks(
  update: Float32Array,
  q: { weight: number; clip: number; scale: number },
  count: number,
  block: BlockSource,
  signs: ArrayLike<1 | -1>,
  nonFinite: (index: number) => never,
): Uint32Array {
  if (!simd || !quantizeInKernel(q.clip, q.scale)) throw new Error('quantize kernel: not available for these parameters');
  const kernel = simd;
  const out = new Uint32Array(update.length);
  const ub = bytesOf(update);
  simdPass(kernel, bytesOf(out), (mem, s, len, padded) => {
    mem.set(ub.subarray(s, s + len), BLOCK_BYTES);
    mem.fill(0, BLOCK_BYTES + len, BLOCK_BYTES + padded); // finite padding
    if (kernel.quantize(0, BLOCK_BYTES, padded, q.weight, q.clip, q.scale) !== 0) {
      for (let k = s >>> 2; k < (s + len) >>> 2; k++) if (update[k]! - update[k]! !== 0) nonFinite(k);
    }
  }, count, block, signs);
  return out;
}

/** out = Σ_i terms_i + Σ_j signs[j] · source_j (mod 2^32), in one pass over blocks. */
export function sumAddBlocks(terms: readonly Uint32Array[], count: number, block: BlockSource, signs: ArrayLike<1 | -1>, useSimd = simdAvailable): Uint32Array {
  const d = checkTerms(terms);
  const out = new Uint32Array(d);
  if (useSimd && simd) {
    simdPass(simd, bytesOf(out), sumFirst(simd, terms.map(bytesOf)), count, block, signs);
    return out;
  }
  const bytes = terms.map(bytesOf);
  const ones = new Array<1>(bytes.length).fill(1);
  addBlocks(out, bytes.length, (i, s, len) => bytes[i]!.subarray(s, s + len), ones, false);
  addBlocks(out, count, block, signs, false);
  return out;
}

/**
 * decodeBlocks(sumAddBlocks(terms, count, block, signs), scale, n2, n3) in one pass over blocks:
 * each block is summed, its masks added or removed and decoded while it sits in the kernel, so
 * neither the aggregate's words nor a second pass over them exist. Where the kernel cannot decode
 * exactly (no WebAssembly SIMD, or S not a power of two) it is the two calls.
 */
export function sumAddDecodeBlocks(
  terms: readonly Uint32Array[],
  count: number,
  block: BlockSource,
  signs: ArrayLike<1 | -1>,
  decode: { scale: number; n2: number; n3: number },
  useSimd = simdAvailable,
): Float32Array {
  const inverse = 1 / decode.scale;
  if (!(useSimd && simd && decodesInKernel(decode.scale))) return decodeBlocks(sumAddBlocks(terms, count, block, signs, useSimd), decode.scale, decode.n2, decode.n3, useSimd);
  const kernel = simd;
  const out = new Float32Array(checkTerms(terms));
  simdPass(kernel, bytesOf(out), sumFirst(kernel, terms.map(bytesOf)), count, block, signs, (padded) => kernel.decode(0, 0, padded, inverse, decode.n2, decode.n3));
  return out;
}

function checkTerms(terms: readonly Uint32Array[]): number {
  const d = terms[0]?.length ?? 0;
  for (const t of terms) if (t.length !== d) throw new Error('add kernel: terms of different lengths');
  return d;
}

/** simdPass's first step for a sum: the block of the first term (or zeros), plus every other term's. */
function sumFirst(kernel: Simd, bytes: readonly Uint8Array[]): (mem: Uint8Array, s: number, len: number, padded: number) => void {
  return (mem, s, len, padded) => {
    if (bytes.length === 0) mem.fill(0, 0, len);
    else mem.set(bytes[0]!.subarray(s, s + len), 0);
    for (let i = 1; i < bytes.length; i++) {
      mem.set(bytes[i]!.subarray(s, s + len), BLOCK_BYTES);
      kernel.add(0, BLOCK_BYTES, padded);
    }
  };
}

/** Whether the kernel decodes exactly: S a power of two whose inverse is a finite float64. */
function decodesInKernel(scale: number): boolean {
  const inverse = 1 / scale;
  return isPowerOfTwo(scale) && inverse > 0 && Number.isFinite(inverse);
}

/**
 * float32(((int32(a[k]) / S) · N2) / N3), evaluated in float64, one block at a time. The kernel
 * multiplies by 1/S, which is x / S exactly when S is a power of two whose inverse is a float64
 * (both are the one correctly rounded x·2^−e); any other S takes the JavaScript loop.
 */
export function decodeBlocks(a: Uint32Array, scale: number, n2: number, n3: number, useSimd = simdAvailable): Float32Array {
  const out = new Float32Array(a.length);
  const inverse = 1 / scale;
  if (useSimd && simd && decodesInKernel(scale)) {
    const mem = new Uint8Array(simd.memory.buffer);
    const ab = bytesOf(a);
    const ob = bytesOf(out);
    for (let s = 0; s < ab.length; s += BLOCK_BYTES) {
      const len = Math.min(BLOCK_BYTES, ab.length - s);
      mem.set(ab.subarray(s, s + len), 0);
      simd.decode(0, 0, (len + STEP - 1) & -STEP, inverse, n2, n3);
      ob.set(mem.subarray(0, len), s);
    }
    return out;
  }
  for (let k = 0; k < a.length; k++) out[k] = (((a[k]! | 0) / scale) * n2) / n3;
  return out;
}

/** x = 2^e for an integer e (subnormal powers of two included). */
function isPowerOfTwo(x: number): boolean {
  if (!(x > 0) || !Number.isFinite(x)) return false;
  const e = Math.round(Math.log2(x));
  return 2 ** e === x;
}

function checked(b: Uint8Array, len: number): Uint8Array {
  if (b.length !== len) throw new Error(`add kernel: source block of ${b.length} bytes, expected ${len}`);
  return b;
}
