// One protocol v2 attempt carried entirely through signed envelopes, as the round engine will run
// it: 7 members (t = 5), one dealer caught by a proven complaint (left out of U2), one member of U2
// whose cryptogram never arrives (unmasked through its s_sk). Every member recomputes the same A.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { compareIds, signingPublicKey } from '../../protocol/index.ts';
import {
  attemptFromLists,
  buildCryptogramV2,
  checkAnnouncedKeys,
  checkReveal,
  chunkCryptogramV2,
  computeShares,
  consentCount,
  CryptogramAssemblerV2,
  dealShares,
  decodeAggregateOverU3,
  decodeEnvelopeV2,
  defaultThreshold,
  encodeEnvelopeV2,
  generateRoundSecrets,
  judgeComplaint,
  KindV2,
  listHash,
  openShares,
  quantizeV2,
  randomCoefficients,
  recoverMaskSecret,
  recoverSelfSeed,
  revealFor,
  selfCommit,
  shareCommitment,
  shareKey,
  shareXs,
  unmaskAggregate,
  type EnvelopeV2,
  type HeldShare,
  type MessageV2,
  type OpenedShares,
  type RevealV2,
  type ShareDealingV2,
  type U1ListV2,
  type U2ListV2,
  type U3ListV2,
} from '../../protocol/v2/index.ts';

describe('protocol v2: one attempt through signed envelopes', () => {
  it('dealing, a proven complaint, U2, a dropout, U3, consents, reveals and unmasking give every member the FedAvg over U3', () => {
    const N = 7;
    const t = defaultThreshold(N);
    assert.equal(t, 5);
    const ids = Array.from({ length: N }, (_, i) => `site-${String.fromCharCode(65 + i)}`).sort(compareIds);
    const identity = new Map(ids.map((id) => [id, new Uint8Array(randomBytes(32))]));
    const opts = { consortium: 'K', publicKeyOf: (s: string) => (identity.has(s) ? signingPublicKey(identity.get(s)!) : undefined) };
    const ref = { consortium: 'K', round: 3, attempt: 0 };
    const binding = { manifestHash: new Uint8Array(32).fill(1), baseModelHash: new Uint8Array(32).fill(2) };
    const aggregator = ids[ref.attempt % N]!;
    const clip = 0.5;
    const maxSamples = 10_000;
    const xs = shareXs(ids);
    const wire = (sender: string, m: MessageV2): EnvelopeV2 => decodeEnvelopeV2(encodeEnvelopeV2({ ...ref, sender }, m, identity.get(sender)!), opts);

    // keys
    const secrets = new Map(ids.map((id) => [id, generateRoundSecrets()]));
    const samples = new Map(ids.map((id, i) => [id, 500 + 111 * i]));
    const updates = new Map(ids.map((id, i) => [id, Float32Array.from({ length: 2000 }, (_, k) => Math.fround(Math.cos(k * 0.11 + i) * 0.3))]));
    const announcements = ids.map((id) => {
      const s = secrets.get(id)!;
      const env = wire(id, { kind: KindV2.KeyAnnouncement, body: { ...binding, cPublic: s.cPublic, sPublic: s.sPublic, samples: samples.get(id)!, selfCommit: selfCommit(s.selfSeed) } });
      assert.equal(env.kind, KindV2.KeyAnnouncement);
      if (env.kind !== KindV2.KeyAnnouncement) throw new Error('kind');
      checkAnnouncedKeys(env.body, maxSamples);
      return { id: env.sender, ...env.body };
    });
    // U1, signed by the aggregator
    const u1Env = wire(aggregator, { kind: KindV2.U1List, body: { ...binding, members: announcements.map(({ id, cPublic, sPublic, samples: n, selfCommit: sc }) => ({ id, cPublic, sPublic, samples: n, selfCommit: sc })) } });
    const u1 = u1Env.body as U1ListV2;
    const u1Hash = listHash(ref, { kind: KindV2.U1List, body: u1 });
    const cPublic = (id: string) => u1.members.find((m) => m.id === id)!.cPublic;

    // dealing: the cheat commits one s-share and encrypts another for site-B
    const cheat = ids[3]!;
    const dealings = new Map<string, ShareDealingV2>();
    const plain = new Map<string, Map<string, OpenedShares>>();
    for (const id of ids) {
      const s = secrets.get(id)!;
      const shares = computeShares(s, { s: randomCoefficients(t), b: randomCoefficients(t) }, xs, ids);
      plain.set(id, shares);
      let entries = dealShares(ref, { id, cSecret: s.cSecret }, shares, cPublic);
      if (id === cheat) entries = entries.map((e) => (e.to === ids[1] ? { ...e, sCommit: shareCommitment(ref, id, e.to, 's', new Uint8Array(32)) } : e));
      const env = wire(id, { kind: KindV2.ShareDealing, body: { ...binding, u1Hash, entries } });
      dealings.set(id, env.body as ShareDealingV2);
    }
    // every recipient opens its entries; failures become complaints with the pair key
    const held = new Map(ids.map((h) => [h, new Map<string, OpenedShares>()]));
    const complaints: { from: string; dealer: string; pairKey: Uint8Array }[] = [];
    for (const h of ids) {
      held.get(h)!.set(h, plain.get(h)!.get(h)!); // own share
      for (const [dealer, d] of dealings) {
        if (dealer === h) continue;
        const entry = d.entries.find((e) => e.to === h)!;
        try {
          held.get(h)!.set(dealer, openShares(ref, { id: h, cSecret: secrets.get(h)!.cSecret }, { id: dealer, cPublic: cPublic(dealer) }, entry));
        } catch {
          const env = wire(h, { kind: KindV2.Complaint, body: { ...binding, u1Hash, dealer, pairKey: shareKey(ref, dealer, h, secrets.get(h)!.cSecret, cPublic(dealer)) } });
          if (env.kind === KindV2.Complaint) complaints.push({ from: env.sender, dealer: env.body.dealer, pairKey: env.body.pairKey });
        }
      }
    }
    assert.deepEqual(complaints.map((c) => [c.from, c.dealer]), [[ids[1], cheat]]);
    const proven = complaints.filter((c) => judgeComplaint(ref, c.dealer, dealings.get(c.dealer)!.entries.find((e) => e.to === c.from)!, c.pairKey) === 'proven').map((c) => c.dealer);
    // U2 without the cheat
    const u2 = wire(aggregator, { kind: KindV2.U2List, body: { ...binding, u1Hash, members: ids.filter((id) => !proven.includes(id)) } }).body as U2ListV2;
    const att = attemptFromLists(ref, clip, t, u1, u2);
    const u2Hash = listHash(ref, { kind: KindV2.U2List, body: u2 });
    // cryptograms; the last member of U2 never gets its cryptogram out
    const late = u2.members[u2.members.length - 1]!;
    const received = new Map<string, Uint32Array>();
    for (const id of u2.members) {
      const c = buildCryptogramV2(att, { id, ...secrets.get(id)! }, updates.get(id)!);
      if (id === late) continue;
      const chunks = chunkCryptogramV2(c, binding, u2Hash, 4096).map((ch) => wire(id, { kind: KindV2.CryptogramChunk, body: ch }).body as Parameters<CryptogramAssemblerV2['add']>[0]);
      const asm = new CryptogramAssemblerV2(chunks[0]!, 2000);
      let whole: Uint32Array | null = null;
      for (const ch of chunks) whole = asm.add(ch) ?? whole;
      received.set(id, whole!);
    }
    const u3 = wire(aggregator, { kind: KindV2.U3List, body: { ...binding, u2Hash, members: [...received.keys()].sort(compareIds) } }).body as U3ListV2;
    const u3Hash = listHash(ref, { kind: KindV2.U3List, body: u3 });
    const consents = u3.members.map((id) => {
      const env = wire(id, { kind: KindV2.Consent, body: { ...binding, u3Hash } });
      return { from: env.sender, listHash: (env.body as { u3Hash: Uint8Array }).u3Hash };
    });
    assert.ok(consentCount(u3.members, u3Hash, consents) >= t);
    // every holder (the cheat too: it holds shares) reveals for this U3
    const reveals = ids.map((h) => wire(h, { kind: KindV2.Reveal, body: { ...binding, u3Hash, shares: revealFor(u2.members, u3.members, held.get(h)!) } }));
    // every member recomputes A from the same messages
    const results = ids.map(() => {
      const got = (owner: string, kind: 's' | 'b'): HeldShare[] =>
        reveals.flatMap((env) => {
          const body = env.body as RevealV2;
          checkReveal(u2.members, u3.members, body.shares);
          const e = body.shares.find((x) => x.owner === owner && x.kind === kind);
          // the owner's own share has no commitment (it never travelled)
          const commitment = env.sender === owner ? undefined : dealings.get(owner)!.entries.find((x) => x.to === env.sender)![kind === 's' ? 'sCommit' : 'bCommit'];
          return e ? [{ holder: env.sender, x: xs.get(env.sender)!, share: e.share, commitment }] : [];
        });
      const entry = (id: string) => u1.members.find((m) => m.id === id)!;
      const seeds = new Map(u3.members.map((id) => [id, recoverSelfSeed(ref, id, entry(id).selfCommit, got(id, 'b'), t)]));
      const dropped = new Map(u2.members.filter((id) => !u3.members.includes(id)).map((id) => [id, recoverMaskSecret(ref, id, entry(id).sPublic, got(id, 's'), t)]));
      return unmaskAggregate(att, u3.members, received, seeds, dropped);
    });
    for (const r of results) assert.deepEqual(r, results[0]);
    const expect = new Uint32Array(2000);
    for (const id of u3.members) quantizeV2(att, id, updates.get(id)!).forEach((q, k) => (expect[k] = (expect[k]! + q) >>> 0));
    assert.deepEqual(results[0], expect);
    const decoded = decodeAggregateOverU3(att, u3.members, results[0]!);
    const n3 = u3.members.reduce((s, id) => s + samples.get(id)!, 0);
    for (let k = 0; k < 2000; k += 97) {
      const fedAvg = u3.members.reduce((s, id) => s + (samples.get(id)! / n3) * updates.get(id)![k]!, 0);
      assert.ok(Math.abs(decoded[k]! - fedAvg) < 1e-6, `coordinate ${k}`);
    }
    assert.ok(!u2.members.includes(cheat) && u3.members.length === t && !u3.members.includes(late));
  });
});
