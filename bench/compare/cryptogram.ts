// cryptogram: flnode's protocol, in-process. Each site announces an ephemeral X25519 key in a
// signed envelope, builds its cryptogram, and sends it as signed chunk envelopes; the aggregator
// verifies, reassembles, sums mod 2^32 and decodes. The same code paths as the node, minus libp2p.
import { randomBytes } from 'node:crypto';
import {
  buildCryptogram,
  attemptStartHash,
  chunkCryptogram,
  CryptogramAssembler,
  cryptogramHash,
  decodeAggregate,
  decodeEnvelope,
  encodeEnvelope,
  generateEphemeralKeyPair,
  MessageKind,
  signingPublicKey,
  sumCryptograms,
  type AttemptParams,
} from '../../protocol/index.ts';
import { since, type ProtectionMode, type RoundOutput, type SiteUpdate } from './types.ts';

const CONSORTIUM = 'flnode-bench';

export function cryptogramMode(opts: { clip?: number } = {}): ProtectionMode {
  const clip = opts.clip ?? 1;
  const signing = new Map<string, { secret: Uint8Array; public: Uint8Array }>();
  const identity = (id: string) => {
    let k = signing.get(id);
    if (!k) {
      const secret = randomBytes(32);
      k = { secret, public: signingPublicKey(secret) };
      signing.set(id, k);
    }
    return k;
  };
  return {
    name: 'cryptogram',
    describe: () =>
      `flnode cryptograms: X25519 + HKDF-SHA256 pairwise AES-256-CTR masks over Z_2^32, per-coordinate clip C = ${clip}, ` +
      'fixed-point S = 2^floor(log2((2^31-1)/(n·C))); Ed25519-signed key-announcement and ≤1 MiB chunk envelopes.',
    async aggregate(updates: readonly SiteUpdate[], round: number): Promise<RoundOutput> {
      const n = updates.length;
      const publicKeyOf = (s: string) => signing.get(s)?.public;
      const header = (sender: string) => ({ consortium: CONSORTIUM, round, attempt: 0, sender });
      let protect = 0;
      let communicate = 0;
      let bytes = 0;

      // Keys phase: ephemeral key pairs, announced in signed envelopes that every site verifies.
      let t = performance.now();
      const ephemeral = updates.map(() => generateEphemeralKeyPair());
      protect += since(t);
      t = performance.now();
      const announcements = updates.map((u, k) =>
        encodeEnvelope(header(u.id), { kind: MessageKind.KeyAnnouncement, body: { publicKey: ephemeral[k]!.publicKey, samples: u.samples } }, identity(u.id).secret),
      );
      const participants = announcements.map((a) => {
        const env = decodeEnvelope(a, { consortium: CONSORTIUM, publicKeyOf });
        if (env.kind !== MessageKind.KeyAnnouncement) throw new Error('unexpected envelope kind');
        return { id: env.sender, publicKey: env.body.publicKey, samples: env.body.samples };
      });
      // n encodes + n verifications measured; ×(n − 1)/n per site below ≥ one encode + (n − 1) verifications: conservative
      communicate += since(t) * (n - 1);
      bytes += announcements[0]!.length;
      const params: AttemptParams = { consortium: CONSORTIUM, round, attempt: 0, clip, participants };
      const startHash = attemptStartHash({ participants: participants.map((p) => p.id), baseModelHash: new Uint8Array(32) });

      // Masking phase, then chunked signed envelopes to the aggregator.
      const received: Uint32Array[] = [];
      for (const [k, u] of updates.entries()) {
        t = performance.now();
        const c = buildCryptogram(params, { id: u.id, secretKey: ephemeral[k]!.secretKey }, u.delta);
        protect += since(t);
        t = performance.now();
        const hash = cryptogramHash(c);
        const envelopes = chunkCryptogram(c, startHash).map((body) => encodeEnvelope(header(u.id), { kind: MessageKind.CryptogramChunk, body }, identity(u.id).secret));
        if (k === 0) bytes += envelopes.reduce((s, e) => s + e.length, 0);
        let assembler: CryptogramAssembler | null = null;
        let done: Uint32Array | null = null;
        for (const e of envelopes) {
          const env = decodeEnvelope(e, { consortium: CONSORTIUM, publicKeyOf });
          if (env.kind !== MessageKind.CryptogramChunk) throw new Error('unexpected envelope kind');
          assembler ??= new CryptogramAssembler(env.body, u.delta.length);
          done = assembler.add(env.body) ?? done;
        }
        communicate += since(t);
        if (!done || cryptogramHash(done).some((b, i) => b !== hash[i])) throw new Error(`cryptogram of ${u.id} did not reassemble`);
        received.push(done);
      }

      t = performance.now();
      const sum = sumCryptograms(received);
      const aggregateS = since(t);
      t = performance.now();
      const aggregate = decodeAggregate(sum, params);
      const unprotect = since(t);
      return { aggregate, times: { protect: protect / n, communicate: communicate / n, aggregate: aggregateS, unprotect }, bytesPerSite: bytes, extrapolated: false };
    },
  };
}
