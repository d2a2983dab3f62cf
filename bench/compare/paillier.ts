// paillier: Paillier 2048-bit (paillier-bigint) with value packing. Each site offsets its quantized
// weighted update (the fixed-point encoding of protocol v2 cryptograms: w_i = n_i/N, S =
// exactScale(n, C)) to non-negative x = q + B, B =
// floor((2^31 − 1)/n), and packs `slots` values of `slotBits` bits into one plaintext, so that the
// sum of n packed plaintexts cannot carry between slots. The aggregator multiplies ciphertexts
// (adds plaintexts) mod n²; sites share the key pair and decrypt the sum.
//
// When a full run would exceed the time budget, only the first `maxPlaintexts` plaintexts per
// site are encrypted; times and bytes are scaled to the full model and the row is flagged
// extrapolated. The remaining coordinates are summed in the clear with the same integer encoding,
// which is exactly what decryption would give, so accuracy is unaffected.
import { generateRandomKeys, type KeyPair } from 'paillier-bigint';
import { decodeAggregateV2, exactScale, fedAvgWeightsV2, quantize } from '../../protocol/index.ts';
import { since, type ProtectionMode, type RoundOutput, type SiteUpdate } from './types.ts';

export interface PaillierOptions {
  bits?: number;
  clip?: number;
  maxPlaintexts?: number;
  keys?: KeyPair;
}

export interface PackingLayout {
  offset: number;
  slotBits: number;
  slots: number;
}

export function packingLayout(participants: number, modulusBits: number): PackingLayout {
  const offset = Math.floor((2 ** 31 - 1) / participants);
  const slotBits = Math.ceil(Math.log2(2 * offset * participants + 1)); // Σ x ≤ 2·B·n
  return { offset, slotBits, slots: Math.floor((modulusBits - 1) / slotBits) };
}

export function pack(q: Uint32Array, from: number, layout: PackingLayout): bigint {
  let m = 0n;
  const end = Math.min(q.length, from + layout.slots);
  for (let i = end - 1; i >= from; i--) m = (m << BigInt(layout.slotBits)) | BigInt((q[i]! | 0) + layout.offset);
  return m;
}

/** Unpacks a sum of `participants` packed plaintexts into the signed Σ q per slot. */
export function unpack(m: bigint, count: number, participants: number, layout: PackingLayout): number[] {
  const mask = (1n << BigInt(layout.slotBits)) - 1n;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(Number(m & mask) - participants * layout.offset);
    m >>= BigInt(layout.slotBits);
  }
  return out;
}

export async function paillierMode(opts: PaillierOptions = {}): Promise<ProtectionMode & { maxPlaintexts?: number; keys: KeyPair }> {
  const bits = opts.bits ?? 2048;
  const clip = opts.clip ?? 1;
  const keys = opts.keys ?? (await generateRandomKeys(bits));
  const { publicKey, privateKey } = keys;
  const modulusBits = publicKey.bitLength;
  const mode = {
    name: 'paillier',
    keys,
    maxPlaintexts: opts.maxPlaintexts,
    describe: () => {
      const l = packingLayout(3, modulusBits);
      return `Paillier ${bits}-bit (paillier-bigint, g = n+1), values offset by B = floor((2^31-1)/n) and packed ${l.slotBits} bits per slot, ${l.slots} slots per plaintext (n = 3); one key pair shared by all sites.`;
    },
    async aggregate(updates: readonly SiteUpdate[]): Promise<RoundOutput> {
      const n = updates.length;
      const d = updates[0]!.delta.length;
      const layout = packingLayout(n, modulusBits);
      const { total: samples, weights } = fedAvgWeightsV2(updates.map((u) => u.samples));
      const scale = exactScale(n, clip);
      const total = Math.ceil(d / layout.slots);
      const measured = Math.min(total, mode.maxPlaintexts ?? total);
      const factor = total / measured;
      let protect = 0;
      let communicate = 0;
      let aggregateS = 0;
      let bytes = 0;
      const sumQ = new Uint32Array(d); // Σ q mod 2^32: decrypted slots, and the clear remainder when extrapolating
      const acc: bigint[] = new Array(measured).fill(1n);
      const cbytes = Math.ceil((2 * modulusBits) / 8);
      for (const [k, u] of updates.entries()) {
        let t = performance.now();
        const q = quantize(u.delta, weights[k]!, clip, scale);
        const cts: bigint[] = [];
        for (let p = 0; p < measured; p++) cts.push(publicKey.encrypt(pack(q, p * layout.slots, layout)));
        protect += since(t);
        t = performance.now();
        const wire = cts.map((c) => Buffer.from(c.toString(16).padStart(2 * cbytes, '0'), 'hex'));
        const back = wire.map((b) => BigInt('0x' + b.toString('hex')));
        communicate += since(t);
        if (bytes === 0) bytes = wire.reduce((s, b) => s + b.length, 0);
        t = performance.now();
        for (let p = 0; p < measured; p++) acc[p] = publicKey.addition(acc[p]!, back[p]!);
        aggregateS += since(t);
        for (let i = measured * layout.slots; i < d; i++) sumQ[i] = (sumQ[i]! + q[i]!) >>> 0;
      }
      let t = performance.now();
      for (let p = 0; p < measured; p++) {
        const from = p * layout.slots;
        const count = Math.min(layout.slots, d - from);
        unpack(privateKey.decrypt(acc[p]!), count, n, layout).forEach((v, i) => (sumQ[from + i] = v >>> 0));
      }
      const decrypt = since(t);
      t = performance.now();
      const out = decodeAggregateV2(sumQ, scale, samples, samples); // every site in: N3 = N2
      const unprotect = decrypt * factor + since(t);
      return {
        aggregate: out,
        times: { protect: (protect / n) * factor, communicate: (communicate / n) * factor, aggregate: aggregateS * factor, unmask: 0, unprotect },
        bytesPerSite: Math.round(bytes * factor),
        extrapolated: measured < total,
        note: measured < total ? `extrapolated from ${measured} of ${total} plaintexts per site (times and bytes scaled ×${factor.toFixed(1)})` : undefined,
      };
    },
  };
  return mode;
}
