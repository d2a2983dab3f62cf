// plain: FedAvg of raw float32 updates (no protection). Communicate = float32 LE bytes out and back.
import { fedAvg, since, type ProtectionMode, type RoundOutput, type SiteUpdate } from './types.ts';

export function serializeFloat32(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
}

export function deserializeFloat32(b: Uint8Array): Float32Array {
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function plainMode(): ProtectionMode {
  return {
    name: 'plain',
    describe: () => 'FedAvg of raw float32 updates; the aggregator sees every update.',
    async aggregate(updates: readonly SiteUpdate[]): Promise<RoundOutput> {
      const n = updates.length;
      const d = updates[0]!.delta.length;
      const weights = fedAvg(updates);
      let t = performance.now();
      const received = updates.map((u) => deserializeFloat32(serializeFloat32(u.delta)));
      const communicate = since(t) / n;
      t = performance.now();
      const sum = new Float32Array(d);
      received.forEach((u, k) => {
        const w = weights[k]!;
        for (let i = 0; i < d; i++) sum[i] += w * u[i]!;
      });
      const aggregate = since(t);
      return { aggregate: sum, times: { protect: 0, communicate, aggregate, unmask: 0, unprotect: 0 }, bytesPerSite: 4 * d, extrapolated: false };
    },
  };
}
