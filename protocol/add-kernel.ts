// Word-wise sums mod 2^32 over large Uint32Arrays, block by block: the add under every mask and
// under aggregation. A hand-assembled WebAssembly SIMD kernel (i32x4.add / i32x4.sub, 4 words per
// instruction) does the arithmetic; JavaScript's scalar loop was slower than AES-256-CTR itself
// (profile in bench/results/protocol.md). The target block and each source block are copied into
// the module's memory (node:crypto cannot write a keystream into an existing buffer), which at
// 64 KiB blocks stays in the L2 cache. Without WebAssembly SIMD the same sums run in JavaScript.

/** Bytes per block: large enough to amortize a cipher call, small enough to stay in cache. */
export const BLOCK_BYTES = 1 << 16;

interface Simd {
  memory: WebAssembly.Memory;
  /** mem[dst..dst+bytes) += mem[src..src+bytes) as i32x4 lanes; bytes a multiple of 64. */
  add(dst: number, src: number, bytes: number): void;
  sub(dst: number, src: number, bytes: number): void;
}

// (func (param $dst i32) (param $src i32) (param $bytes i32)
//   (block (loop (br_if 1 (i32.eqz (local.get $bytes)))
//     4 × (v128.store offset=16k (local.get $dst)
//            (i32x4.OP (v128.load offset=16k (local.get $dst)) (v128.load offset=16k (local.get $src))))
//     $dst += 64; $src += 64; $bytes −= 64; (br 0))))
// Unrolled four times: 64 bytes per iteration ($bytes a multiple of 64).
function kernelBody(op: number): number[] {
  const lanes: number[] = [];
  for (const offset of [0x00, 0x10, 0x20, 0x30]) {
    lanes.push(
      0x20, 0x00, // dst (store address)
      0x20, 0x00, 0xfd, 0x00, 0x04, offset, // v128.load offset=16k (dst)
      0x20, 0x01, 0xfd, 0x00, 0x04, offset, // v128.load offset=16k (src)
      0xfd, op, 0x01, // i32x4.add (0xae) / i32x4.sub (0xb1)
      0xfd, 0x0b, 0x04, offset, // v128.store offset=16k
    );
  }
  const b = [
    0x00, // no locals
    0x02, 0x40, 0x03, 0x40, // block, loop
    0x20, 0x02, 0x45, 0x0d, 0x01, // bytes == 0 → exit
    ...lanes,
    0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x00, // dst += 64
    0x20, 0x01, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x01, // src += 64
    0x20, 0x02, 0x41, 0xc0, 0x00, 0x6b, 0x21, 0x02, // bytes -= 64
    0x0c, 0x00, 0x0b, 0x0b, 0x0b, // br loop, end loop, end block, end func
  ];
  return [...leb(b.length), ...b];
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

function section(id: number, content: number[]): number[] {
  return [id, ...leb(content.length), ...content];
}

const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
const STEP = 64;
const PAGES = Math.ceil((2 * BLOCK_BYTES + STEP) / 65536);

export const KERNEL_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00]), // type (i32 i32 i32) → ()
  ...section(3, [0x02, 0x00, 0x00]), // two functions of that type
  ...section(5, [0x01, 0x00, ...leb(PAGES)]), // memory, min PAGES
  ...section(7, [0x03, ...name('memory'), 0x02, 0x00, ...name('add'), 0x00, 0x00, ...name('sub'), 0x00, 0x01]),
  ...section(10, [0x02, ...kernelBody(0xae), ...kernelBody(0xb1)]),
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

/**
 * target[k] += Σ_j signs[j] · source_j[k] (mod 2^32), one block of the target at a time:
 * `block(j, byteStart, bytes)` returns source j's little-endian bytes [byteStart, byteStart + bytes)
 * (it is called in order j = 0..count−1 for each block, blocks in ascending order, so a stream
 * cipher can produce them). Little-endian hosts only (cryptogram.ts checks).
 */
export function addBlocks(
  target: Uint32Array,
  count: number,
  block: (j: number, byteStart: number, bytes: number) => Uint8Array,
  signs: ArrayLike<1 | -1>,
  useSimd = simdAvailable,
): void {
  const tb = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
  if (useSimd && simd) {
    const mem = new Uint8Array(simd.memory.buffer);
    for (let s = 0; s < tb.length; s += BLOCK_BYTES) {
      const len = Math.min(BLOCK_BYTES, tb.length - s);
      const padded = (len + STEP - 1) & -STEP; // bytes past len are scratch and never copied back
      mem.set(tb.subarray(s, s + len), 0);
      for (let j = 0; j < count; j++) {
        mem.set(checked(block(j, s, len), len), BLOCK_BYTES);
        if (signs[j] === 1) simd.add(0, BLOCK_BYTES, padded);
        else simd.sub(0, BLOCK_BYTES, padded);
      }
      tb.set(mem.subarray(0, len), s);
    }
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

function checked(b: Uint8Array, len: number): Uint8Array {
  if (b.length !== len) throw new Error(`add kernel: source block of ${b.length} bytes, expected ${len}`);
  return b;
}
