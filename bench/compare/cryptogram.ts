// cryptogram: flnode's protocol v2 (PROTOCOL.md), one attempt per round, in-process, every
// message a signed v2 envelope that its receiver decodes and verifies: key announcements, the
// aggregator's U1 list, encrypted t-of-n share dealings (opened and checked by every recipient),
// U2, cryptograms (self mask + pairwise masks) in ≤ 1 MiB chunks, U3, consents, reveals, and the
// unmasking from the reconstructed and verified self-mask seeds. No site drops out (U3 = U2 = U1),
// so no s_sk is ever revealed. The same library calls as the node (buildCryptogramV2,
// unmaskAndDecodeOverU3), minus libp2p. After each round the raw AES-256-CTR
// keystreams a site needs (n to mask, n to unmask) are timed in the same process, for the ratio.
import { createCipheriv, randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { BLOCK_BYTES } from '../../protocol/add-kernel.ts';
import { addKeystreams, attemptFromLists, AttemptV2, buildCryptogramV2, checkAnnouncedKeys, checkReveal, chunkCryptogramV2, compareIds, computeShares, consentCount, CryptogramAssemblerV2, dealShares, decodeEnvelopeV2, defaultThreshold, encodeEnvelopeV2, EnvelopeV2, generateRoundSecrets, HeldShare, KindV2, listHash, MessageV2, OpenedShares, openShares, pairMaskSeed, quantizeV2, randomCoefficients, recoverSelfSeed, revealFor, selfCommit, selfMaskKey, ShareDealingV2, shareXs, signingPublicKey, sortedU2, unmaskAndDecodeOverU3, utf8 } from '../../protocol/index.ts';
import { since, type ProtectionMode, type RoundOutput, type SiteUpdate } from './types.ts';

const CONSORTIUM = 'flnode-bench';

/**
 * c_i = q_i + self_i + Σ ±mask_ij the straightforward way: quantizeV2, then addKeystreams. The
 * cross-check of v2's blocked one-pass buildCryptogramV2 (same words, test/bench/compare.test.ts).
 */
export function maskOnePass(att: AttemptV2, self: { id: string; sSecret: Uint8Array; selfSeed: Uint8Array }, update: Float32Array): Uint32Array {
  const keys: Uint8Array[] = [selfMaskKey(att, self.id, self.selfSeed)];
  const signs: (1 | -1)[] = [1];
  for (const peer of sortedU2(att)) {
    if (peer.id === self.id) continue;
    keys.push(pairMaskSeed(att, self.id, self.sSecret, peer.id, peer.sPublic));
    signs.push(compareIds(self.id, peer.id) < 0 ? 1 : -1);
  }
  const c = quantizeV2(att, self.id, update);
  addKeystreams(c, keys, signs);
  return c;
}

/**
 * A = Σ c_i − Σ self_i for U3 = U2 (no dropout) from an already summed Σ c_i, all self masks
 * removed with addKeystreams: the cross-check of v2's unmaskAggregate for that case.
 */
export function unmaskOnePass(att: AttemptV2, sum: Uint32Array, selfSeeds: ReadonlyMap<string, Uint8Array>): Uint32Array {
  const u2 = sortedU2(att);
  const keys = u2.map((m) => selfMaskKey(att, m.id, selfSeeds.get(m.id) ?? fail(`no self-mask seed of ${m.id}`)));
  const a = Uint32Array.from(sum);
  addKeystreams(a, keys, new Array<-1>(keys.length).fill(-1));
  return a;
}

const ZERO_BLOCK = Buffer.alloc(BLOCK_BYTES);

/** Seconds for `streams` raw AES-256-CTR keystreams of `bytes` bytes each, produced in 64 KiB blocks as the kernel consumes them. */
export function rawKeystreamSeconds(streams: number, bytes: number): number {
  const t0 = performance.now();
  for (let k = 0; k < streams; k++) {
    const cipher = createCipheriv('aes-256-ctr', randomBytes(32), Buffer.alloc(16));
    for (let s = 0; s < bytes; s += BLOCK_BYTES) cipher.update(ZERO_BLOCK.subarray(0, Math.min(BLOCK_BYTES, bytes - s)));
  }
  return since(t0);
}

function fail(msg: string): never {
  throw new Error(msg);
}

export function cryptogramMode(opts: { clip?: number } = {}): ProtectionMode {
  const clip = opts.clip ?? 1;
  const signing = new Map<string, Uint8Array>();
  const publics = new Map<string, Uint8Array>();
  const identity = (id: string) => {
    let k = signing.get(id);
    if (!k) {
      k = new Uint8Array(randomBytes(32));
      signing.set(id, k);
      publics.set(id, signingPublicKey(k));
    }
    return k;
  };
  const decodeOpts = { consortium: CONSORTIUM, publicKeyOf: (s: string) => publics.get(s) };
  // Per round: P+A+U, buildCryptogramV2 (mean over sites), unmaskAndDecodeOverU3, and the raw AES reference.
  const tally = { rounds: 0, cost: 0, build: 0, unmask: 0, aes: 0, n: 0 };
  const ms = (s: number) => `${(1000 * s / tally.rounds).toFixed(2)} ms`;
  const reference = () =>
    tally.rounds === 0
      ? ''
      : ` Raw AES-256-CTR of the 2n = ${2 * tally.n} keystreams of 4·d bytes a site needs (n to mask, n to unmask; 64 KiB blocks), timed after each round in the same process: ${ms(tally.aes)} per round; ` +
        `P+A+U / AES = ${(tally.cost / tally.aes).toFixed(2)}; buildCryptogramV2 ${ms(tally.build)} = ${((2 * tally.build) / tally.aes).toFixed(2)}× its n keystreams; ` +
        `unmaskAndDecodeOverU3 (sum of U3's cryptograms, removal of n self masks and decoding, one pass) ${ms(tally.unmask)} = ${((2 * tally.unmask) / tally.aes).toFixed(2)}× its n keystreams.`;
  return {
    name: 'cryptogram',
    describe: () =>
      `flnode protocol v2 cryptograms: per round fresh X25519 pairs (c, s) and a self-mask seed per site, t-of-n Shamir shares over GF(2^8) (t = n here) ` +
      `dealt under AES-256-GCM with commitments, quantize + self mask + pairwise AES-256-CTR masks over Z_2^32 in one blocked pass (buildCryptogramV2), per-coordinate clip C = ${clip}, ` +
      'exact S = 2^e with n·C·S ≤ 2^31−1−n; Ed25519-signed v2 envelopes for keys, U1/U2/U3 lists, dealings, ≤1 MiB chunks, consents and reveals; ' +
      'unmasking from t verified shares of every self-mask seed. No dropout: U3 = U2. The aggregator only relays (aggregate = 0): every member sums U3\'s cryptograms ' +
      'inside unmaskAndDecodeOverU3, in the same pass that removes the masks and decodes (unprotect = 0).' + reference(),
    async aggregate(updates: readonly SiteUpdate[], round: number): Promise<RoundOutput> {
      const n = updates.length;
      const d = updates[0]!.delta.length;
      const ids = updates.map((u) => u.id).sort(compareIds);
      for (const id of ids) identity(id);
      const t = defaultThreshold(n);
      const ref = { consortium: CONSORTIUM, round, attempt: 0 };
      const binding = { manifestHash: sha256(utf8(`bench manifest ${ids.join(',')}`)), baseModelHash: new Uint8Array(32) };
      const aggregator = ids[round % n]!;
      const xs = shareXs(ids);
      const byId = new Map(updates.map((u) => [u.id, u]));
      const protect = new Map(ids.map((id) => [id, 0]));
      const communicate = new Map(ids.map((id) => [id, 0]));
      const sent = new Map(ids.map((id) => [id, 0]));
      const add = (m: Map<string, number>, id: string, v: number) => m.set(id, m.get(id)! + v);
      const timed = <T>(m: Map<string, number>, id: string, f: () => T): T => {
        const t0 = performance.now();
        const out = f();
        add(m, id, since(t0));
        return out;
      };
      /** Sender encodes and signs, one receiver decodes and verifies (the others do the same in parallel). */
      const wire = (sender: string, m: MessageV2): EnvelopeV2 =>
        timed(communicate, sender, () => {
          const bytes = encodeEnvelopeV2({ ...ref, sender }, m, identity(sender));
          add(sent, sender, bytes.length);
          return decodeEnvelopeV2(bytes, decodeOpts);
        });
      const bodyOf = <K extends KindV2>(env: EnvelopeV2, kind: K) => (env.kind === kind ? (env.body as Extract<MessageV2, { kind: K }>['body']) : fail(`expected kind ${kind}, got ${env.kind}`));

      // 1. keys: fresh secrets, signed announcements, checked by every other site.
      const secrets = new Map(ids.map((id) => [id, timed(protect, id, () => generateRoundSecrets())]));
      const announced = ids.map((id) => {
        const s = secrets.get(id)!;
        const body = bodyOf(wire(id, { kind: KindV2.KeyAnnouncement, body: { ...binding, cPublic: s.cPublic, sPublic: s.sPublic, samples: byId.get(id)!.samples, selfCommit: timed(protect, id, () => selfCommit(s.selfSeed)) } }), KindV2.KeyAnnouncement);
        for (const other of ids) if (other !== id) timed(protect, other, () => checkAnnouncedKeys(body, 0xffffffff));
        return { id, cPublic: body.cPublic, sPublic: body.sPublic, samples: body.samples, selfCommit: body.selfCommit };
      });
      const u1 = bodyOf(wire(aggregator, { kind: KindV2.U1List, body: { ...binding, members: announced } }), KindV2.U1List);
      const u1Hash = timed(communicate, aggregator, () => listHash(ref, { kind: KindV2.U1List, body: u1 }));
      const cPublicOf = (id: string) => u1.members.find((m) => m.id === id)!.cPublic;

      // 2. dealing: t-of-n shares of s_sk and b, encrypted to each other member, opened and checked by it.
      const own = new Map<string, OpenedShares>();
      const dealings = new Map<string, ShareDealingV2>();
      for (const id of ids) {
        const s = secrets.get(id)!;
        const entries = timed(protect, id, () => {
          const shares = computeShares(s, { s: randomCoefficients(t), b: randomCoefficients(t) }, xs, ids);
          own.set(id, shares.get(id)!);
          return dealShares(ref, { id, cSecret: s.cSecret }, shares, cPublicOf);
        });
        dealings.set(id, bodyOf(wire(id, { kind: KindV2.ShareDealing, body: { ...binding, u1Hash, entries } }), KindV2.ShareDealing));
      }
      const held = new Map(ids.map((h) => [h, new Map<string, OpenedShares>([[h, own.get(h)!]])]));
      for (const h of ids) {
        for (const [dealer, dealing] of dealings) {
          if (dealer === h) continue;
          const entry = dealing.entries.find((e) => e.to === h) ?? fail(`${dealer} dealt nothing to ${h}`);
          held.get(h)!.set(dealer, timed(protect, h, () => openShares(ref, { id: h, cSecret: secrets.get(h)!.cSecret }, { id: dealer, cPublic: cPublicOf(dealer) }, entry)));
        }
      }
      const u2 = bodyOf(wire(aggregator, { kind: KindV2.U2List, body: { ...binding, u1Hash, members: ids } }), KindV2.U2List);
      const att = attemptFromLists(ref, clip, t, u1, u2);
      const u2Hash = timed(communicate, aggregator, () => listHash(ref, { kind: KindV2.U2List, body: u2 }));

      // 3. masking, then signed chunks to the aggregator, which reassembles and checks each cryptogram's hash.
      const received = new Map<string, Uint32Array>();
      let buildS = 0;
      for (const id of ids) {
        const b0 = performance.now();
        const c = timed(protect, id, () => buildCryptogramV2(att, { id, ...secrets.get(id)! }, byId.get(id)!.delta));
        buildS += since(b0) / n;
        const chunks = timed(communicate, id, () => chunkCryptogramV2(c, binding, u2Hash));
        let asm: CryptogramAssemblerV2 | null = null;
        let whole: Uint32Array | null = null;
        for (const ch of chunks) {
          const body = bodyOf(wire(id, { kind: KindV2.CryptogramChunk, body: ch }), KindV2.CryptogramChunk);
          whole = timed(communicate, id, () => {
            asm ??= new CryptogramAssemblerV2(body, d);
            return asm.add(body);
          }) ?? whole;
        }
        received.set(id, whole ?? fail(`cryptogram of ${id} did not reassemble`));
      }

      // 5. U3, consents, reveals.
      const u3 = bodyOf(wire(aggregator, { kind: KindV2.U3List, body: { ...binding, u2Hash, members: ids } }), KindV2.U3List);
      const u3Hash = timed(communicate, aggregator, () => listHash(ref, { kind: KindV2.U3List, body: u3 }));
      const consents = ids.map((id) => ({ from: id, listHash: bodyOf(wire(id, { kind: KindV2.Consent, body: { ...binding, u3Hash } }), KindV2.Consent).u3Hash }));
      if (consentCount(u3.members, u3Hash, consents) < t) fail('fewer than t consents');
      const reveals = ids.map((h) => ({ holder: h, body: bodyOf(wire(h, { kind: KindV2.Reveal, body: { ...binding, u3Hash, shares: revealFor(u2.members, u3.members, held.get(h)!) } }), KindV2.Reveal) }));

      // 6. unmasking (every member does the same from the same messages: timed once): t verified
      //    shares per self-mask seed, then U3's cryptograms summed, all self masks removed and the
      //    FedAvg delta decoded in one pass.
      const t0 = performance.now();
      for (const r of reveals) checkReveal(u2.members, u3.members, r.body.shares);
      const seeds = new Map(
        u3.members.map((owner) => {
          const shares: HeldShare[] = reveals.flatMap(({ holder, body }) => {
            const e = body.shares.find((x) => x.owner === owner && x.kind === 'b');
            const commitment = holder === owner ? undefined : dealings.get(owner)!.entries.find((x) => x.to === holder)!.bCommit;
            return e ? [{ holder, x: xs.get(holder)!, share: e.share, commitment }] : [];
          });
          return [owner, recoverSelfSeed(ref, owner, u1.members.find((m) => m.id === owner)!.selfCommit, shares, t)] as const;
        }),
      );
      const u0 = performance.now();
      const aggregate = unmaskAndDecodeOverU3(att, u3.members, received, seeds, new Map());
      const unmaskAggregateS = since(u0);
      const unmask = since(t0);
      const unprotect = 0; // decoded inside the unmasking pass, as the node does

      const mean = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0) / n;
      const times = { protect: mean(protect), communicate: mean(communicate), aggregate: 0, unmask, unprotect };
      tally.rounds++;
      tally.n = n;
      tally.cost += times.protect + times.unmask + times.unprotect;
      tally.build += buildS;
      tally.unmask += unmaskAggregateS;
      tally.aes += rawKeystreamSeconds(2 * n, 4 * d);
      return { aggregate, times, bytesPerSite: Math.round(mean(sent)), extrapolated: false };
    },
  };
}
