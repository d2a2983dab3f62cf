// smpc: additive secret sharing over Z_2^32 of the same quantized update a protocol v2 cryptogram
// carries (w_i = n_i/N, S = exactScale(n, C)), decoded like the v2 aggregate.
// Site i splits q_i into n shares (n − 1 uniformly random, the last q_i − Σ others), sends share
// j to site j under AES-256-GCM with a key from X25519 + HKDF-SHA256 (ephemeral keys per round),
// keeps its own; every site decrypts and sums the shares it holds and publishes that sum; the
// aggregator adds the n published sums and decodes.
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { decodeAggregateV2, exactScale, fedAvgWeightsV2, generateEphemeralKeyPair, quantize, sharedSecret } from '../../protocol/index.ts';
import { sumAndMask } from '../../protocol/masks.ts';
import { since, type ProtectionMode, type RoundOutput, type SiteUpdate } from './types.ts';

const GCM_OVERHEAD = 12 + 16; // nonce + tag

function channelKey(selfSecret: Uint8Array, peerPublic: Uint8Array, from: string, to: string, round: number): Uint8Array {
  return hkdf(sha256, sharedSecret(selfSecret, peerPublic), new TextEncoder().encode('flnode-bench smpc'), new TextEncoder().encode(`${from}>${to}@${round}`), 32);
}

function seal(key: Uint8Array, words: Uint32Array): Uint8Array {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([c.update(new Uint8Array(words.buffer, words.byteOffset, words.byteLength)), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]);
}

function open(key: Uint8Array, box: Uint8Array): Uint32Array {
  const d = createDecipheriv('aes-256-gcm', key, box.subarray(0, 12));
  d.setAuthTag(box.subarray(box.length - 16));
  const plain = Buffer.concat([d.update(box.subarray(12, box.length - 16)), d.final()]);
  return new Uint32Array(plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.byteLength));
}

export function smpcMode(opts: { clip?: number } = {}): ProtectionMode {
  const clip = opts.clip ?? 1;
  return {
    name: 'smpc',
    describe: () =>
      `additive secret sharing over Z_2^32 (same fixed-point encoding as cryptograms, C = ${clip}); n − 1 shares per site, ` +
      'each under AES-256-GCM with an X25519 + HKDF-SHA256 channel key; each site publishes the sum of the shares it holds.',
    async aggregate(updates: readonly SiteUpdate[], round: number): Promise<RoundOutput> {
      const n = updates.length;
      const d = updates[0]!.delta.length;
      const keys = updates.map(() => generateEphemeralKeyPair());
      const { total: samples, weights } = fedAvgWeightsV2(updates.map((u) => u.samples));
      const scale = exactScale(n, clip);
      let protect = 0;
      let communicate = 0;
      let combine = 0;
      // boxes[i][j]: site i's share for site j (sealed), own share kept in clear.
      const boxes: (Uint8Array | null)[][] = [];
      const own: Uint32Array[] = [];
      for (const [i, u] of updates.entries()) {
        let t = performance.now();
        const q = quantize(u.delta, weights[i]!, clip, scale);
        const row: (Uint8Array | null)[] = [];
        const last = q; // becomes q − Σ random shares, in place
        for (let j = 0; j < n; j++) {
          if (j === i) {
            row.push(null);
            continue;
          }
          const share = randomFillSync(new Uint32Array(d));
          for (let x = 0; x < d; x++) last[x] = (last[x]! - share[x]!) >>> 0;
          row.push(seal(channelKey(keys[i]!.secretKey, keys[j]!.publicKey, updates[i]!.id, updates[j]!.id, round), share));
        }
        own.push(last);
        protect += since(t);
        t = performance.now();
        boxes.push(row.map((b) => (b ? Uint8Array.from(b) : null))); // serialization: bytes handed to the transport
        communicate += since(t);
      }
      const published: Uint32Array[] = [];
      for (let j = 0; j < n; j++) {
        const t = performance.now();
        const held = [own[j]!];
        for (let i = 0; i < n; i++) if (i !== j) held.push(open(channelKey(keys[j]!.secretKey, keys[i]!.publicKey, updates[i]!.id, updates[j]!.id, round), boxes[i]![j]!));
        published.push(sumAndMask(held, [], []));
        combine += since(t);
      }
      const t = performance.now();
      const sum = sumAndMask(published, [], []);
      const aggregateS = since(t) + combine / n;
      const t2 = performance.now();
      const aggregate = decodeAggregateV2(sum, scale, samples, samples); // every site in: N3 = N2
      const unprotect = since(t2);
      const bytesPerSite = (n - 1) * (4 * d + GCM_OVERHEAD) + 4 * d + 32; // shares, published sum, key
      return { aggregate, times: { protect: protect / n, communicate: communicate / n, aggregate: aggregateS, unmask: 0, unprotect }, bytesPerSite, extrapolated: false };
    },
  };
}
