// ≥ 10,000 seeded bad envelopes of every message kind into a real RoundEngine's synchronous
// validator (real level Store in a temp dir, stub Network, fake Trainer with small weights).
// Every one must be rejected with a reason in the log (duplicates: accepted and harmless), the
// validator must never throw, persisted state must not change, and a flood of chunks for unknown
// cryptograms must not grow memory without bound.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { pino } from 'pino';
import { attemptStartHash, chunkCryptogram, decodeEnvelope, encodeEnvelope, MAX_ENVELOPE_BYTES, MessageKind, signingPublicKey, toHex, type Message } from '../../protocol/index.ts';
import { initIdentity, loadOrCreateAdminKey, type SiteIdentity } from '../../node/identity.ts';
import { createManifest, signManifest, type Manifest } from '../../node/manifest.ts';
import { modelKey, RoundEngine, sha256hex } from '../../node/rounds/engine.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import { f32bytes, Store } from '../../node/storage/store.ts';
import type { Verdict } from '../../node/types.ts';
import { fakeTrainer, rng, StubNetwork } from '../helpers/engine-fakes.ts';
import { tally } from './summary.ts';

const P = 16384; // model parameters of the fake trainer (a 64 KiB cryptogram, two 32 KiB chunks)
const ROUND = 3; // the engine is resumed in round 3, attempt 1 (so round 1-2 and attempt 0 are stale)
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
const KINDS = [MessageKind.Heartbeat, MessageKind.KeyAnnouncement, MessageKind.CryptogramChunk, MessageKind.AttemptStart, MessageKind.AggregateRecord, MessageKind.ModelRequest, MessageKind.ModelResponse];
const PER_PAIR = 135; // 7 kinds × 11 mutations × 135 = 10,395 cases

describe('faults: bad envelopes into RoundEngine.validate()', function () {
  this.timeout(240_000);
  let dir: string;
  let store: Store;
  let engine: RoundEngine;
  let manifest: Manifest;
  let self: SiteIdentity;
  let peerA: SiteIdentity;
  let peerB: SiteIdentity;
  let outsider: SiteIdentity;
  let globalHash: Uint8Array;
  let startHash: Uint8Array; // of the AttemptStart this node accepted for ATTEMPT
  const rejections: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flnode-faults-'));
    [self, peerA, peerB, outsider] = await Promise.all(['self', 'a', 'b', 'x'].map((n) => initIdentity(join(dir, n))));
    const admin = await loadOrCreateAdminKey(join(dir, 'admin.key'));
    manifest = createManifest({ consortium: 'fuzz-consortium', adminPublicKey: signingPublicKey(admin), plan: { rounds: 10 }, minParticipants: 2, maxAttempts: 4 });
    manifest = signManifest({ ...manifest, members: [self, peerA, peerB].map((s, i) => ({ name: `site-${i}`, peerId: s!.peerId })) }, admin);
    store = new Store(join(dir, 'db'));
    await store.open();
    // resume in round 3, attempt 1 with global model v2
    const w = fakeTrainer(P).getWeights();
    const hash = sha256hex(f32bytes(w));
    globalHash = Buffer.from(hash, 'hex');
    const now = Date.now();
    startHash = attemptStartHash({ participants: [self.peerId, peerA.peerId, peerB.peerId], baseModelHash: globalHash });
    await store.batch([
      { type: 'putBytes', key: modelKey(2), value: f32bytes(w) },
      { type: 'put', key: 'global', value: { version: 2, hash } },
      {
        type: 'put', key: 'state',
        // failover: one past member B's index, so B is an aggregator candidate (within f + 1)
        // but neither the current one nor the attempt's (A): its records pass the candidate check
        value: { round: ROUND, attempt: ATTEMPT, failover: aggregatorOrder([self, peerA, peerB].map((s) => s!.peerId), ROUND).indexOf(peerB.peerId) + 1, phase: 'collecting', roundStartedAt: now, phaseStartedAt: now, phaseSeconds: {}, attempts: { 1: { aggregator: peerA.peerId, participants: [self.peerId, peerA.peerId, peerB.peerId], openedAt: now } }, refused: [], equivocators: [], bytesIn: 0, bytesOut: 0, lastProgressAt: now },
      },
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

  function message(kind: MessageKind, r: () => number): Message {
    const h = () => new Uint8Array(32).map(() => (r() * 256) | 0);
    const members = [self.peerId, peerA.peerId, peerB.peerId];
    switch (kind) {
      case MessageKind.Heartbeat:
        return { kind, body: { sentAt: Date.now(), modelVersion: 2, modelHash: globalHash, phase: 'collecting' } };
      case MessageKind.KeyAnnouncement:
        return { kind, body: { publicKey: h(), samples: 1 + ((r() * 1000) | 0) } };
      case MessageKind.CryptogramChunk: {
        const c = new Uint32Array(P).map(() => (r() * 2 ** 32) >>> 0);
        const chunks = chunkCryptogram(c, startHash, 16384);
        return { kind, body: chunks[(r() * chunks.length) | 0]! };
      }
      case MessageKind.AttemptStart:
        return { kind, body: { aggregator: peerA.peerId, participants: members, baseModelHash: globalHash, reason: 'fuzz' } };
      case MessageKind.AggregateRecord:
        return { kind, body: { participants: members, cryptogramHashes: members.map(h), sumHash: h(), baseModelHash: globalHash, newModelHash: h() } };
      case MessageKind.ModelRequest:
        return { kind, body: { version: 2 } };
      case MessageKind.ModelResponse:
        return { kind, body: { version: 2, modelHash: globalHash, weights: new Uint8Array(64).map(() => (r() * 256) | 0) } };
    }
    throw new Error('unreachable');
  }

  /** One bad envelope: a valid one from member A, then the mutation. */
  function bad(kind: MessageKind, m: Mutation, r: () => number): Uint8Array {
    const sender = kind === MessageKind.AttemptStart || kind === MessageKind.AggregateRecord ? peerA : r() < 0.5 ? peerA : peerB;
    const msg = message(kind, r);
    const hdr = { consortium: manifest.consortium, round: ROUND, attempt: ATTEMPT, sender: sender.peerId };
    const env = (h = hdr, mm = msg, key = sender.signingSecret) => encodeEnvelope(h, mm, key);
    switch (m) {
      case 'truncated': {
        const e = env();
        return e.subarray(0, (r() * e.length) | 0);
      }
      case 'oversized': {
        const e = env();
        const out = new Uint8Array(MAX_ENVELOPE_BYTES + 1 + ((r() * 1000) | 0));
        out.set(e);
        return out;
      }
      case 'wrong-version': {
        const e = env().slice();
        e[0] = 2 + ((r() * 254) | 0);
        return e;
      }
      case 'bad-kind': {
        const e = env().slice();
        e[1] = r() < 0.5 ? 0 : 8 + ((r() * 248) | 0);
        return e;
      }
      case 'bit-flipped': {
        const e = env().slice();
        const bit = (r() * e.length * 8) | 0;
        e[bit >> 3]! ^= 1 << (bit & 7);
        return e;
      }
      case 'wrong-signature':
        return env(hdr, msg, (r() < 0.5 ? peerB : outsider).signingSecret.map((b, i) => (i === 0 && sender === peerB ? b ^ 1 : b)));
      case 'non-member':
        return env({ ...hdr, sender: outsider.peerId }, msg, outsider.signingSecret);
      case 'wrong-consortium':
        return env({ ...hdr, consortium: r() < 0.5 ? 'another-consortium' : manifest.consortium + 'x' });
      case 'replayed':
        // an old round, or an old attempt of this round; for round-free kinds, an old heartbeat
        if (kind === MessageKind.Heartbeat) return env(hdr, { kind, body: { sentAt: Date.now() - 600_000 - ((r() * 1e9) | 0), modelVersion: 1, modelHash: globalHash, phase: 'done' } });
        if (kind === MessageKind.ModelRequest || kind === MessageKind.ModelResponse) return env({ ...hdr, round: ROUND + 100_001 + ((r() * 1000) | 0) });
        return env(r() < 0.5 ? { ...hdr, round: 1 + ((r() * (ROUND - 1)) | 0) } : { ...hdr, attempt: 0 });
      case 'future-round':
        if (kind === MessageKind.Heartbeat || kind === MessageKind.ModelRequest || kind === MessageKind.ModelResponse) return env({ ...hdr, round: ROUND + 200_000 + ((r() * 1e6) | 0) });
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

  it(`rejects ${KINDS.length * MUTATIONS.length * PER_PAIR} generated bad envelopes of every kind, never throws, changes nothing on disk`, async () => {
    const before = await snapshot(store);
    const r = rng(20261125);
    const byMutation = new Map<string, number>();
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
            throw new Error(`validate threw on ${MessageKind[kind]}/${m}: ${(err as Error).message}`);
          }
          tally.cases++;
          // A replay from exactly the previous round is dropped as 'ignore' (an honest member one
          // round behind still re-sends it, and 'reject' would lower its gossip score); logged all the same.
          const previousRound = m === 'replayed' && v === 'ignore' && /"round":\d+/.test(rejections.at(-1) ?? '') && rejections.length === logged + 1 && rejections.at(-1)!.includes('previous round');
          if (v === 'reject' || previousRound) {
            tally.rejected++;
            assert.equal(rejections.length, logged + 1, `${MessageKind[kind]}/${m}: rejected without a reason in the log`);
            assert.match(rejections.at(-1)!, /"reason":"[^"]+"/);
          } else {
            accepted++;
            assert.fail(`${MessageKind[kind]}/${m} #${i} was ${v}ed`);
          }
          byMutation.set(m, (byMutation.get(m) ?? 0) + 1);
        }
      }
    }
    assert.equal(accepted, 0);
    assert.ok(tally.cases >= 10_000);
    assert.deepEqual(await snapshot(store), before, 'persisted state changed');
    assert.equal(engine.round.round, ROUND);
    assert.equal(engine.round.attempt, ATTEMPT);
  });

  it('duplicate chunks are accepted once and are harmless: the cryptogram is stored once, the state does not change again', async () => {
    const c = new Uint32Array(P).map((_, i) => (i * 2654435761) >>> 0);
    const chunks = chunkCryptogram(c, startHash, 4096);
    const envs = chunks.map((ch) => encodeEnvelope({ consortium: manifest.consortium, round: ROUND, attempt: ATTEMPT, sender: peerB.peerId }, { kind: MessageKind.CryptogramChunk, body: ch }, peerB.signingSecret));
    // first delivery, with every chunk repeated three times in a shuffled order
    const order = [...envs.keys(), ...envs.keys(), ...envs.keys()].sort((x, y) => ((x * 7919 + y) % 13) - 6);
    let first: Map<string, string> | null = null;
    for (const i of order) {
      assert.equal(engine.validate(envs[i]!, peerB.peerId), 'accept');
      tally.cases++;
      await engine.handle(decode(envs[i]!));
    }
    first = await snapshot(store);
    assert.ok([...first.keys()].some((k) => k === `recv/${ROUND}/${ATTEMPT}/${peerB.peerId}`), 'the cryptogram was stored');
    for (const e of envs) {
      await engine.handle(decode(e));
      tally.cases++;
    }
    assert.deepEqual(await snapshot(store), first, 'a duplicate changed the persisted state');
    assert.ok(!engine.round.equivocators.length, 'duplicates are not equivocation');
  });

  it('a cryptogram masked for another AttemptStart of the same attempt is never stored or summed', async () => {
    const c = new Uint32Array(P).map((_, i) => (i * 40503 + 7) >>> 0);
    const other = attemptStartHash({ participants: [self.peerId, peerB.peerId], baseModelHash: globalHash });
    const before = await snapshot(store);
    for (const ch of chunkCryptogram(c, other, 4096)) {
      const e = encodeEnvelope({ consortium: manifest.consortium, round: ROUND, attempt: ATTEMPT, sender: peerA.peerId }, { kind: MessageKind.CryptogramChunk, body: ch }, peerA.signingSecret);
      assert.equal(engine.validate(e, peerA.peerId), 'accept'); // well-formed and signed: not the sender's fault
      tally.cases++;
      await engine.handle(decode(e));
    }
    assert.deepEqual(await snapshot(store), before, 'a cryptogram for another attempt start changed the state');
    assert.ok(!engine.round.equivocators.length);
    // (chunks naming the accepted start are stored: the duplicate-chunk test above)
  });

  it('a flood of chunks for unknown cryptograms and for the next round does not grow memory without bound', async () => {
    const r = rng(99);
    const heap0 = await gcHeap();
    let bytes = 0;
    for (let i = 0; i < 3000; i++) {
      const sender = i % 2 ? peerA : peerB;
      const round = i % 2 === 0 ? ROUND + 1 : ROUND; // the next round's messages are buffered
      const hash = new Uint8Array(32).map(() => (r() * 256) | 0);
      const body = { cryptogramHash: hash, attemptHash: startHash, totalWords: P, index: 0, count: 2, payload: new Uint8Array(P * 2).map(() => (r() * 256) | 0) };
      const e = encodeEnvelope({ consortium: manifest.consortium, round, attempt: 2 + (i % 2), sender: sender.peerId }, { kind: MessageKind.CryptogramChunk, body }, sender.signingSecret);
      bytes += e.length;
      tally.cases++;
      if (engine.validate(e, sender.peerId) === 'accept') await engine.handle(decode(e));
      else tally.rejected++;
    }
    const grown = (await gcHeap()) - heap0;
    process.stdout.write(`      flood: ${(bytes / 2 ** 20).toFixed(1)} MiB of chunks, heap + array buffers grew ${(grown / 2 ** 20).toFixed(1)} MiB\n`);
    assert.ok(bytes > 80 << 20, `flooded ${bytes} bytes`);
    // at most one assembler per (member, attempt) and a bounded buffer of next-round messages
    // (1500 next-round chunks of 32 KiB would hold 48 MiB if that buffer were unbounded)
    assert.ok(grown < 32 << 20, `memory grew by ${(grown / 2 ** 20).toFixed(1)} MiB after a ${(bytes / 2 ** 20).toFixed(1)} MiB flood`);
  });

  it('an aggregate record from a member that is not the attempt\'s aggregator is ignored: no failover, no rejection recorded', async () => {
    // the attack: any aggregator candidate could publish a bogus record and make every member fail
    // over the honest aggregator of the attempt (PROTOCOL.md §5: the record's sender must be the
    // aggregator of (r, a) the member expects)
    assert.equal(engine.round.attempts[ATTEMPT]!.aggregator, peerA.peerId);
    // (a participant set that differs from the attempt's: judged, it would be rejected at once)
    const members = [self.peerId, peerB.peerId];
    const h = new Uint8Array(32).fill(5);
    const body = { participants: members, cryptogramHashes: members.map(() => h), sumHash: h, baseModelHash: globalHash, newModelHash: h };
    const e = encodeEnvelope({ consortium: manifest.consortium, round: ROUND, attempt: ATTEMPT, sender: peerB.peerId }, { kind: MessageKind.AggregateRecord, body }, peerB.signingSecret);
    const before = engine.round.failover;
    const events = engine.events.length;
    for (let i = 0; i < 3; i++) {
      await engine.handle(decode(e));
      tally.cases++;
    }
    assert.equal(engine.round.failover, before, 'a non-aggregator\'s record moved the aggregator');
    assert.equal(engine.events.length, events, 'a non-aggregator\'s record was judged');
    assert.ok(!engine.round.refused.includes(`record/${ATTEMPT}/${peerB.peerId}`));
  });

  it('a wrong aggregate record re-sent by its aggregator costs it one failover, not one per copy', async () => {
    // participants differ from the accepted attempt's: rejected before any cryptogram is needed
    const members = [self.peerId, peerA.peerId];
    const h = new Uint8Array(32).fill(3);
    const body = { participants: members, cryptogramHashes: members.map(() => h), sumHash: h, baseModelHash: globalHash, newModelHash: h };
    const before = engine.round.failover;
    const e = encodeEnvelope({ consortium: manifest.consortium, round: ROUND, attempt: ATTEMPT, sender: peerA.peerId }, { kind: MessageKind.AggregateRecord, body }, peerA.signingSecret);
    for (let i = 0; i < 5; i++) {
      await engine.handle(decode(e));
      tally.cases++;
    }
    assert.equal(engine.round.failover, before + 1, `five copies of one wrong record moved the aggregator ${engine.round.failover - before} times`);
    assert.ok(engine.round.refused.includes(`record/${ATTEMPT}/${peerA.peerId}`));
    assert.equal(engine.events.filter((x) => x.kind === 'rejected-aggregate').length, 1, 'the rejection is recorded once');
  });

  function decode(e: Uint8Array) {
    return decodeEnvelopeFor(e, manifest, [self, peerA, peerB]);
  }
});

function decodeEnvelopeFor(e: Uint8Array, m: Manifest, ids: SiteIdentity[]) {
  return decodeEnvelope(e, { consortium: m.consortium, publicKeyOf: (s) => ids.find((i) => i.peerId === s)?.signingPublic });
}
