// ≥ 10,000 seeded bad envelopes of every protocol v2 message kind into a real RoundEngine's
// synchronous validator (real level Store in a temp dir, stub Network, fake Trainer with small
// weights). Every one must be rejected with a reason in the log (a replay from exactly the previous
// round: ignored, logged), the validator must never throw, persisted state must not change, and a
// flood of chunks for unknown cryptograms must not grow memory without bound. Then: duplicate
// chunks are harmless, a cryptogram masked for another U2 is never stored, a list from anyone but
// the attempt's aggregator is dropped, and a wrong list re-sent costs its aggregator one refusal.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { pino } from 'pino';
import { compareIds, modelHash, toHex } from '../../protocol/index.ts';
import { chunkCryptogramV2, KindV2, listHash, MAX_ENVELOPE_BYTES_V2, SHARE_CIPHERTEXT_BYTES, signVoidRecord, voidRoundMessage, type MessageV2, type U1Entry, type U2ListV2 } from '../../protocol/v2/index.ts';
import { initIdentity, loadOrCreateAdminKey, type SiteIdentity } from '../../node/identity.ts';
import type { Manifest } from '../../node/manifest.ts';
import { modelKey, RoundEngine } from '../../node/rounds/engine.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import { f32bytes, Store } from '../../node/storage/store.ts';
import type { Verdict } from '../../node/types.ts';
import { fakeTrainer, rng, StubNetwork } from '../helpers/engine-fakes.ts';
import { Peers, signedManifest } from '../helpers/v2-peers.ts';
import { tally } from './summary.ts';

const P = 16384; // model parameters of the fake trainer (a 64 KiB cryptogram, two 32 KiB chunks)
const ROUND = 3; // the engine is resumed in round 3, attempt 1 (so rounds 1-2 are stale)
const ATTEMPT = 1;

async function snapshot(store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const k of await store.keys('')) out.set(k, toHex((await store.getBytes(k))!));
  return out;
}

/**
 * Heap + ArrayBuffer bytes still reachable. V8 releases ArrayBuffer backing stores after a GC
 * asynchronously, so a reading taken at once can still count megabytes already garbage (seen once
 * the flood ran in 5 s instead of 30 s): collect a few times with pauses between.
 */
async function gcHeap(): Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
}

type Mutation = 'truncated' | 'oversized' | 'wrong-version' | 'bad-kind' | 'bit-flipped' | 'wrong-signature' | 'non-member' | 'wrong-consortium' | 'replayed' | 'future-round' | 'trailing-bytes';
const MUTATIONS: Mutation[] = ['truncated', 'oversized', 'wrong-version', 'bad-kind', 'bit-flipped', 'wrong-signature', 'non-member', 'wrong-consortium', 'replayed', 'future-round', 'trailing-bytes'];
const KINDS = Object.values(KindV2).filter((k): k is KindV2 => typeof k === 'number');
const PER_PAIR = 76; // 13 kinds × 11 mutations × 76 = 10,868 cases
const LISTS = [KindV2.U1List, KindV2.U2List, KindV2.U3List];

describe('faults: bad v2 envelopes into RoundEngine.validate()', function () {
  this.timeout(240_000);
  let dir: string;
  let store: Store;
  let engine: RoundEngine;
  let manifest: Manifest;
  let peers: Peers;
  let self: SiteIdentity;
  let peerA: SiteIdentity; // the aggregator of (ROUND, ATTEMPT)
  let peerB: SiteIdentity;
  let outsider: SiteIdentity;
  let globalHex: string;
  let admin: Uint8Array;
  let members: string[];
  const rejections: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flnode-faults-'));
    const three = await Promise.all(['s0', 's1', 's2'].map((n) => initIdentity(join(dir, n))));
    outsider = await initIdentity(join(dir, 'x'));
    const agg = aggregatorOrder(three.map((s) => s.peerId), ROUND)[ATTEMPT % 3];
    peerA = three.find((s) => s.peerId === agg)!;
    [self, peerB] = three.filter((s) => s !== peerA) as [SiteIdentity, SiteIdentity];
    members = three.map((s) => s.peerId).sort(compareIds);
    admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    manifest = signedManifest(admin, three, { consortium: 'fuzz-consortium', plan: { rounds: 10 }, maxAttempts: 4 });
    peers = new Peers(manifest, three);
    store = new Store(join(dir, 'db'));
    await store.open();
    // resume in round 3, attempt 1 with global model v2
    const w = fakeTrainer(P).getWeights();
    globalHex = toHex(modelHash(w));
    const now = Date.now();
    await store.batch([
      { type: 'putBytes', key: modelKey(2), value: f32bytes(w) },
      { type: 'put', key: 'global', value: { version: 2, hash: globalHex } },
      { type: 'put', key: 'state', value: { round: ROUND, attempt: ATTEMPT, phase: 'collecting', roundStartedAt: now, attemptStartedAt: now, phaseStartedAt: now, phaseSeconds: {}, excluded: [], refused: [], consented: {}, revealed: null, bytesIn: 0, bytesOut: 0, lastProgressAt: now } },
    ]);
    const log = pino({ level: 'info' }, { write: (line: string) => void ((line.includes('"message rejected"') || line.includes('"message ignored (previous round)"')) && rejections.push(line)) });
    engine = new RoundEngine({ manifest, identity: self, network: new StubNetwork(self.peerId), trainer: fakeTrainer(P), store, log });
    await engine.start();
    engine.stop(); // no timers: only what the test feeds in changes anything
    assert.equal(engine.round.round, ROUND);
    assert.equal(engine.round.attempt, ATTEMPT);
  });

  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const u1Entries = (): U1Entry[] => members.map((id) => {
    const k = peers.keyBody(globalHex, 100);
    return { id, cPublic: k.cPublic, sPublic: k.sPublic, samples: k.samples, selfCommit: k.selfCommit };
  });

  /** A well-formed, correctly bound message of `kind` from `sender` (what the mutations start from). */
  function message(kind: KindV2, sender: SiteIdentity, r: () => number): MessageV2 {
    const h = () => new Uint8Array(32).map(() => (r() * 256) | 0);
    const binding = peers.binding(globalHex);
    const others = members.filter((id) => id !== sender.peerId);
    switch (kind) {
      case KindV2.Heartbeat:
        return { kind, body: { sentAt: Date.now(), modelVersion: 2, modelHash: binding.baseModelHash, phase: 'collecting' } };
      case KindV2.KeyAnnouncement:
        return { kind, body: peers.keyBody(globalHex, 1 + ((r() * 999) | 0)) };
      case KindV2.ShareDealing:
        return { kind, body: { ...binding, u1Hash: h(), entries: others.map((to) => ({ to, ciphertext: new Uint8Array(SHARE_CIPHERTEXT_BYTES).map(() => (r() * 256) | 0), sCommit: h(), bCommit: h() })) } };
      case KindV2.Complaint:
        return { kind, body: { ...binding, u1Hash: h(), dealer: others[(r() * others.length) | 0]!, pairKey: h() } };
      case KindV2.U1List:
        return { kind, body: { ...binding, members: u1Entries() } };
      case KindV2.U2List:
        return { kind, body: { ...binding, u1Hash: h(), members } };
      case KindV2.U3List:
        return { kind, body: { ...binding, u2Hash: h(), members } };
      case KindV2.Consent:
        return { kind, body: { ...binding, u3Hash: h() } };
      case KindV2.Reveal:
        return { kind, body: { ...binding, u3Hash: h(), shares: members.map((owner) => ({ owner, kind: 'b' as const, share: h() })) } };
      case KindV2.CryptogramChunk: {
        const c = new Uint32Array(P).map(() => (r() * 2 ** 32) >>> 0);
        const chunks = chunkCryptogramV2(c, binding, h(), 16384);
        return { kind, body: chunks[(r() * chunks.length) | 0]! };
      }
      case KindV2.ModelRequest:
        return { kind, body: { version: 2 } };
      case KindV2.ModelResponse:
        return { kind, body: { version: 2, modelHash: binding.baseModelHash, weights: new Uint8Array(64).map(() => (r() * 256) | 0) } };
      case KindV2.VoidRound:
        return voidRoundMessage(signVoidRecord({ consortium: manifest.consortium, round: ROUND, ...binding, reason: `fuzz ${(r() * 1e6) | 0}` }, admin));
    }
  }

  const senderOf = (kind: KindV2, r: () => number) => (LISTS.includes(kind) ? peerA : r() < 0.5 ? peerA : peerB);

  /** One bad envelope: a valid one from a member, then the mutation. */
  function bad(kind: KindV2, m: Mutation, r: () => number): Uint8Array {
    const sender = senderOf(kind, r);
    const msg = message(kind, sender, r);
    const hdr = { round: ROUND, attempt: ATTEMPT };
    const env = (h: { round: number; attempt: number; consortium?: string; sender?: string } = hdr, mm = msg, key: SiteIdentity = sender) => peers.seal(key, h.round, h.attempt, mm, { sender: h.sender ?? sender.peerId, ...(h.consortium ? { consortium: h.consortium } : {}) });
    switch (m) {
      case 'truncated': {
        const e = env();
        return e.subarray(0, (r() * e.length) | 0);
      }
      case 'oversized': {
        const e = env();
        const out = new Uint8Array(MAX_ENVELOPE_BYTES_V2 + 1 + ((r() * 1000) | 0));
        out.set(e);
        return out;
      }
      case 'wrong-version': {
        const e = env().slice();
        e[0] = r() < 0.3 ? 1 : 3 + ((r() * 253) | 0); // v1, or no version at all
        return e;
      }
      case 'bad-kind': {
        const e = env().slice();
        e[1] = r() < 0.5 ? 0 : 14 + ((r() * 242) | 0);
        return e;
      }
      case 'bit-flipped': {
        const e = env().slice();
        const bit = (r() * e.length * 8) | 0;
        e[bit >> 3]! ^= 1 << (bit & 7);
        return e;
      }
      case 'wrong-signature': {
        // another member's key, or the sender's own key with one byte changed
        const wrong = sender === peerA ? peerB : peerA;
        if (r() < 0.5) return env(hdr, msg, wrong);
        return peers.seal({ ...sender, signingSecret: sender.signingSecret.map((b, i) => (i === 0 ? b ^ 1 : b)) }, ROUND, ATTEMPT, msg);
      }
      case 'non-member':
        return env({ ...hdr, sender: outsider.peerId }, msg, outsider);
      case 'wrong-consortium':
        return env({ ...hdr, consortium: r() < 0.5 ? 'another-consortium' : manifest.consortium + 'x' });
      case 'replayed':
        // an old round; for round-free kinds, an old heartbeat or a request far out of range.
        // (An earlier attempt of the current round is not stale in v2: a final attempt completes late.)
        if (kind === KindV2.Heartbeat) return env(hdr, { kind, body: { sentAt: Date.now() - 600_000 - ((r() * 1e9) | 0), modelVersion: 1, modelHash: peers.binding(globalHex).baseModelHash, phase: 'done' } });
        if (kind === KindV2.ModelRequest || kind === KindV2.ModelResponse) return env({ ...hdr, round: ROUND + 100_001 + ((r() * 1000) | 0) });
        return env({ ...hdr, round: 1 + ((r() * (ROUND - 1)) | 0) });
      case 'future-round':
        if (kind === KindV2.Heartbeat || kind === KindV2.ModelRequest || kind === KindV2.ModelResponse) return env({ ...hdr, round: ROUND + 200_000 + ((r() * 1e6) | 0) });
        return env(r() < 0.5 ? { ...hdr, round: ROUND + 2 + ((r() * 1000) | 0) } : { ...hdr, attempt: manifest.maxAttempts + ((r() * 100) | 0) });
      case 'trailing-bytes': {
        const e = env();
        const out = new Uint8Array(e.length + 1 + ((r() * 16) | 0));
        out.set(e.subarray(0, e.length - 64));
        out.set(e.subarray(e.length - 64), out.length - 64);
        return out;
      }
    }
  }

  it('control: the unmutated envelope of every round kind is accepted (model sync is refused on gossip)', () => {
    const r = rng(7);
    for (const kind of KINDS) {
      const sender = senderOf(kind, r);
      const v = engine.validate(peers.seal(sender, ROUND, ATTEMPT, message(kind, sender, r)), sender.peerId);
      tally.cases++;
      assert.equal(v, kind === KindV2.ModelRequest || kind === KindV2.ModelResponse ? 'reject' : 'accept', KindV2[kind]);
    }
  });

  it(`rejects ${KINDS.length * MUTATIONS.length * PER_PAIR} generated bad envelopes of every kind, never throws, changes nothing on disk`, async () => {
    const before = await snapshot(store);
    const r = rng(20261125);
    let accepted = 0;
    for (const kind of KINDS) {
      for (const m of MUTATIONS) {
        for (let i = 0; i < PER_PAIR; i++) {
          const bytes = bad(kind, m, r);
          const logged = rejections.length;
          let v: Verdict;
          try {
            v = engine.validate(bytes, 'fuzzer');
          } catch (err) {
            tally.crashes++;
            throw new Error(`validate threw on ${KindV2[kind]}/${m}: ${(err as Error).message}`);
          }
          tally.cases++;
          // A replay from exactly the previous round is dropped as 'ignore' (an honest member one
          // round behind still re-sends it, and 'reject' would lower its gossip score); logged all the same.
          const previousRound = m === 'replayed' && v === 'ignore' && rejections.length === logged + 1 && rejections.at(-1)!.includes('previous round');
          if (v === 'reject' || previousRound) {
            tally.rejected++;
            assert.equal(rejections.length, logged + 1, `${KindV2[kind]}/${m}: rejected without a reason in the log`);
            assert.match(rejections.at(-1)!, /"reason":"[^"]+"/);
          } else {
            accepted++;
            assert.fail(`${KindV2[kind]}/${m} #${i} was ${v}ed`);
          }
        }
      }
    }
    assert.equal(accepted, 0);
    assert.ok(tally.cases >= 10_000);
    assert.deepEqual(await snapshot(store), before, 'persisted state changed');
    assert.equal(engine.round.round, ROUND);
    assert.equal(engine.round.attempt, ATTEMPT);
  });

  let u2Hash: Uint8Array; // of the U2 list this node accepted for ATTEMPT
  let u2Body: U2ListV2;

  async function deliver(bytes: Uint8Array): Promise<void> {
    tally.cases++;
    await engine.handle(peers.decode(bytes), bytes);
  }

  it('duplicate chunks are accepted once and are harmless: the cryptogram is stored once, the state does not change again', async () => {
    // the attempt's aggregator signs U1 and U2 (every member)
    const binding = peers.binding(globalHex);
    const u1 = { kind: KindV2.U1List, body: { ...binding, members: u1Entries() } } as const;
    const ref = { consortium: manifest.consortium, round: ROUND, attempt: ATTEMPT };
    u2Body = { ...binding, u1Hash: listHash(ref, u1), members };
    u2Hash = listHash(ref, { kind: KindV2.U2List, body: u2Body });
    await deliver(peers.seal(peerA, ROUND, ATTEMPT, u1));
    await deliver(peers.seal(peerA, ROUND, ATTEMPT, { kind: KindV2.U2List, body: u2Body }));
    assert.deepEqual(engine.participants(), members, 'the lists were taken');
    const c = new Uint32Array(P).map((_, i) => (i * 2654435761) >>> 0);
    const envs = chunkCryptogramV2(c, binding, u2Hash, 4096).map((ch) => peers.seal(peerB, ROUND, ATTEMPT, { kind: KindV2.CryptogramChunk, body: ch }));
    // first delivery, with every chunk repeated three times in a shuffled order
    const order = [...envs.keys(), ...envs.keys(), ...envs.keys()].sort((x, y) => ((x * 7919 + y) % 13) - 6);
    for (const i of order) {
      assert.equal(engine.validate(envs[i]!, peerB.peerId), 'accept');
      await deliver(envs[i]!);
    }
    const first = await snapshot(store);
    const stored = [...first.keys()].filter((k) => k.includes('/recv/'));
    assert.deepEqual(stored, [`round/${String(ROUND).padStart(8, '0')}/recv/${String(ATTEMPT).padStart(4, '0')}/${peerB.peerId}`], 'the cryptogram was stored once');
    for (const e of envs) await deliver(e);
    assert.deepEqual(await snapshot(store), first, 'a duplicate changed the persisted state');
    assert.deepEqual(engine.round.excluded, [], 'duplicates are not equivocation');
  });

  it('a cryptogram masked for another U2 of the same attempt is never stored', async () => {
    const c = new Uint32Array(P).map((_, i) => (i * 40503 + 7) >>> 0);
    const other = listHash({ consortium: manifest.consortium, round: ROUND, attempt: ATTEMPT }, { kind: KindV2.U2List, body: { ...u2Body, members: members.filter((id) => id !== peerB.peerId) } });
    const before = await snapshot(store);
    for (const ch of chunkCryptogramV2(c, peers.binding(globalHex), other, 4096)) {
      const e = peers.seal(peerA, ROUND, ATTEMPT, { kind: KindV2.CryptogramChunk, body: ch });
      assert.equal(engine.validate(e, peerA.peerId), 'accept'); // well-formed and signed: not the sender's fault
      await deliver(e);
    }
    assert.deepEqual(await snapshot(store), before, 'a cryptogram for another U2 changed the state');
    assert.deepEqual(engine.round.excluded, []);
    // (chunks naming the accepted U2 are stored: the duplicate-chunk test above)
  });

  it("a list from a member that is not the attempt's aggregator is rejected by the validator and ignored when handled: no refusal, no move", async () => {
    const e = peers.seal(peerB, ROUND, ATTEMPT, { kind: KindV2.U3List, body: { ...peers.binding(globalHex), u2Hash, members: members.filter((id) => id !== peerA.peerId) } });
    const logged = rejections.length;
    assert.equal(engine.validate(e, peerB.peerId), 'reject');
    assert.match(rejections.at(-1)!, /is not the aggregator of round 3 attempt 1/);
    assert.equal(rejections.length, logged + 1);
    const events = engine.events.length;
    for (let i = 0; i < 3; i++) await deliver(e);
    assert.deepEqual(engine.round.refused, [], "a non-aggregator's list was judged");
    assert.equal(engine.round.attempt, ATTEMPT, "a non-aggregator's list moved this node to another attempt");
    assert.equal(engine.events.length, events);
  });

  it('a wrong list re-sent by its aggregator costs it one refusal and one move, not one per copy', async () => {
    // U3 below t = 3: refused when judged (not by the pure decoder)
    const e = peers.seal(peerA, ROUND, ATTEMPT, { kind: KindV2.U3List, body: { ...peers.binding(globalHex), u2Hash, members: members.filter((id) => id !== self.peerId) } });
    assert.equal(engine.validate(e, peerA.peerId), 'accept');
    for (let i = 0; i < 5; i++) await deliver(e);
    assert.deepEqual(engine.round.refused, [ATTEMPT]);
    assert.equal(engine.round.attempt, ATTEMPT + 1, `five copies of one wrong list moved this node ${engine.round.attempt - ATTEMPT} attempts`);
    const refusals = engine.events.filter((x) => x.kind === 'refused-list');
    assert.equal(refusals.length, 1, 'the refusal is recorded once');
    assert.match(refusals[0]!.detail, /U3/);
  });

  it('a flood of chunks for unknown cryptograms and for the next round does not grow memory without bound', async () => {
    const r = rng(99);
    // one cryptogram hash per sender: each chunk 0 with other bytes is a malformed repeat, not a second cryptogram
    const hashOf = new Map([peerA, peerB].map((s) => [s.peerId, new Uint8Array(32).map(() => (r() * 256) | 0)]));
    const binding = peers.binding(globalHex);
    let bytes = 0;
    const flood = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const sender = i % 2 ? peerA : peerB;
        const round = i % 2 === 0 ? ROUND + 1 : ROUND; // the next round's messages are buffered
        const body = { ...binding, u2Hash: new Uint8Array(32).map(() => (r() * 256) | 0), cryptogramHash: hashOf.get(sender.peerId)!, totalWords: P, index: 0, count: 2, payload: new Uint8Array(P * 2).map(() => (r() * 256) | 0) };
        const e = peers.seal(sender, round, 2 + (i % 2), { kind: KindV2.CryptogramChunk, body });
        bytes += e.length;
        tally.cases++;
        if (engine.validate(e, sender.peerId) === 'accept') await engine.handle(peers.decode(e), e);
        else tally.rejected++;
      }
    };
    const heap0 = await gcHeap();
    await flood(3000);
    const heap1 = await gcHeap();
    const first = bytes;
    await flood(3000);
    const heap2 = await gcHeap();
    const mib = (x: number) => (x / 2 ** 20).toFixed(1);
    process.stdout.write(`      flood: ${mib(first)} MiB of chunks, heap + array buffers grew ${mib(heap1 - heap0)} MiB; ${mib(bytes - first)} MiB more, grew ${mib(heap2 - heap1)} MiB more\n`);
    assert.ok(first > 80 << 20, `flooded ${first} bytes`);
    assert.deepEqual(engine.round.excluded, [], 'the flood was dropped as equivocation instead of being bounded');
    // At most one assembler per (member, attempt) and a buffer of at most 512 next-round messages:
    // once that buffer is full, a second flood as large as the first adds (almost) nothing.
    assert.ok(heap2 - heap1 < 8 << 20, `memory kept growing: ${mib(heap2 - heap1)} MiB more after another ${mib(bytes - first)} MiB`);
    // 512 buffered 32 KiB chunks, each held as decoded envelope and bytes (2 × 16 MiB), plus the 4 MiB
    // verified-envelope cache (an unbounded buffer would hold 1500 chunks: 96 MiB)
    assert.ok(heap1 - heap0 < 48 << 20, `memory grew by ${mib(heap1 - heap0)} MiB after a ${mib(first)} MiB flood`);
  });

  it('after all of it, nothing was persisted for the next round and the state is still round 3', async () => {
    assert.equal(engine.round.round, ROUND);
    assert.ok(!(await store.keys(`round/${String(ROUND + 1).padStart(8, '0')}/`)).length);
    assert.equal(toHex(peers.binding(globalHex).baseModelHash), engine.global.hash);
  });
});
