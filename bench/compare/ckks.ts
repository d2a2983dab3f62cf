// ckks: CKKS homomorphic encryption with node-seal (Microsoft SEAL 4.1 in wasm). All sites share
// one key pair; each site encodes its weighted update w_i·u_i in slot-sized slices, encrypts each
// slice with the public key, serializes it; the aggregator adds ciphertexts; each site decrypts
// and decodes the sum. Additions only (no rescaling), so the cheapest 128-bit parameters that hold
// the precision are used by default: N = 4096, one 54-bit data prime and a 55-bit special prime,
// scale 2^40 (N = 8192 with 60+40+40+60 measured 1.7x slower per round on this machine).
import SEAL from 'node-seal';
import { fedAvg, since, type ProtectionMode, type RoundOutput, type SiteUpdate } from './types.ts';

type Seal = Awaited<ReturnType<typeof SEAL>>;

export interface CkksOptions {
  polyModulusDegree?: number;
  coeffModulusBits?: number[];
  scaleBits?: number;
  /** Encrypt at most this many slices per site (the rest is scaled up and flagged extrapolated). */
  maxSlices?: number;
}

export async function ckksMode(opts: CkksOptions = {}): Promise<ProtectionMode> {
  const N = opts.polyModulusDegree ?? 4096;
  const bits = opts.coeffModulusBits ?? [54, 55];
  const scale = 2 ** (opts.scaleBits ?? 40);
  const seal: Seal = await SEAL();
  const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
  parms.setPolyModulusDegree(N);
  parms.setCoeffModulus(seal.CoeffModulus.Create(N, Int32Array.from(bits)));
  const context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
  if (!context.parametersSet()) throw new Error(`CKKS parameters N=${N} q=${bits.join('+')} are not valid at 128-bit security`);
  const keygen = new seal.KeyGenerator(context);
  const secretKey = keygen.secretKey();
  const publicKey = keygen.createPublicKey();
  const encoder = new seal.CKKSEncoder(context);
  const encryptor = new seal.Encryptor(context, publicKey);
  const decryptor = new seal.Decryptor(context, secretKey);
  const evaluator = new seal.Evaluator(context);
  const slots = encoder.slotCount();
  const compr = seal.ComprModeType.zstd;

  return {
    name: 'ckks',
    describe: () =>
      `CKKS (node-seal 7 / SEAL 4.1.2 wasm): poly modulus degree ${N}, coeff modulus ${bits.join('+')} = ${bits.reduce((a, b) => a + b, 0)} bits, ` +
      `scale 2^${Math.log2(scale)}, 128-bit security (SEAL tc128), ${slots} slots per ciphertext, public-key encryption, zstd serialization; one key pair shared by all sites.`,
    async aggregate(updates: readonly SiteUpdate[]): Promise<RoundOutput> {
      const n = updates.length;
      const d = updates[0]!.delta.length;
      const totalSlices = Math.ceil(d / slots);
      const measured = Math.min(totalSlices, opts.maxSlices ?? totalSlices);
      const factor = totalSlices / measured;
      const weights = fedAvg(updates);
      let protect = 0;
      let communicate = 0;
      let aggregateS = 0;
      let bytes = 0;
      const acc: (InstanceType<Seal['Ciphertext']> | null)[] = new Array(measured).fill(null);
      const plain = new seal.Plaintext();
      const buf = new Float64Array(slots);
      for (const [k, u] of updates.entries()) {
        for (let s = 0; s < measured; s++) {
          let t = performance.now();
          buf.fill(0);
          const end = Math.min(d, (s + 1) * slots);
          for (let i = s * slots; i < end; i++) buf[i - s * slots] = weights[k]! * u.delta[i]!;
          encoder.encode(buf, scale, plain);
          const ct = new seal.Ciphertext();
          encryptor.encrypt(plain, ct);
          protect += since(t);
          t = performance.now();
          const wire = ct.saveToArray(compr) as Uint8Array;
          const back = new seal.Ciphertext();
          back.loadFromArray(context, wire);
          communicate += since(t);
          if (k === 0) bytes += wire.length;
          ct.delete();
          t = performance.now();
          if (acc[s] === null) acc[s] = back;
          else {
            evaluator.add(acc[s]!, back, acc[s]!);
            back.delete();
          }
          aggregateS += since(t);
        }
      }
      // Sites download the summed ciphertexts and decrypt (timed once: every site does the same).
      const out = new Float32Array(d);
      let t = performance.now();
      const sums = acc.map((c) => {
        const wire = c!.saveToArray(compr) as Uint8Array;
        const back = new seal.Ciphertext();
        back.loadFromArray(context, wire);
        return back;
      });
      const download = since(t);
      t = performance.now();
      for (let s = 0; s < measured; s++) {
        decryptor.decrypt(sums[s]!, plain);
        const v = encoder.decodeFloat64(plain) as Float64Array;
        const end = Math.min(d, (s + 1) * slots);
        for (let i = s * slots; i < end; i++) out[i] = v[i - s * slots]!;
        sums[s]!.delete();
        acc[s]!.delete();
      }
      const unprotect = since(t);
      plain.delete();
      // Coordinates beyond the measured slices (only when maxSlices < total) use the float sum.
      for (let i = measured * slots; i < d; i++) for (const [k, u] of updates.entries()) out[i] += weights[k]! * u.delta[i]!;
      return {
        aggregate: out,
        times: { protect: (protect / n) * factor, communicate: (communicate / n + download) * factor, aggregate: aggregateS * factor, unmask: 0, unprotect: unprotect * factor },
        bytesPerSite: Math.round(bytes * factor),
        extrapolated: measured < totalSlices,
        note: measured < totalSlices ? `extrapolated from ${measured} of ${totalSlices} ciphertexts per site (times and bytes scaled ×${factor.toFixed(1)})` : undefined,
      };
    },
    dispose: () => {
      for (const o of [encryptor, decryptor, evaluator, encoder, publicKey, secretKey, keygen, context, parms]) o.delete();
    },
  };
}
