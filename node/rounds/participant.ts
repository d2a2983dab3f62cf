// What this node itself sends in an attempt (PROTOCOL.md §3–§9), each step persisted before it is
// sent and re-sent byte-identically after a restart: its keys, its dealing, its cryptogram, its
// consent, and its one reveal of the round.
import { fromHex, toHex } from '../../protocol/index.ts';
import {
  attemptFromLists, buildCryptogramV2, chunkCryptogramV2, computeShares, consentCount, dealShares, KindV2, randomCoefficients, revealFor, selfCommit, type EnvelopeV2,
} from '../../protocol/v2/index.ts';
import type { AttemptData } from './attempt-book.ts';
import type { RoundContext } from './context.ts';
import type { StoredDealing } from './round-store.ts';

/** This node revealed for another attempt of the round: it takes part in no other (its update must enter one aggregate only). */
function revealedElsewhere(ctx: RoundContext, d: AttemptData): boolean {
  return ctx.state.revealed !== null && ctx.state.revealed.attempt !== d.attempt;
}

/** Announces this node's keys for attempt a (secrets persisted first; the same bytes after a restart). */
export async function announceKeys(ctx: RoundContext, a: number): Promise<void> {
  const d = ctx.book.of(a);
  if (d.keys.has(ctx.self) || ctx.state.revealed || ctx.excluded(ctx.self)) return;
  const r = ctx.state.round;
  const s = await ctx.contribution.secrets(r, a);
  ctx.hooks.reached(r, 'secrets-persisted');
  const body = { ...ctx.binding(), cPublic: s.cPublic, sPublic: s.sPublic, samples: s.samples, selfCommit: selfCommit(s.selfSeed) };
  const bytes = ctx.sign({ kind: KindV2.KeyAnnouncement, body }, a);
  d.keys.set(ctx.self, { body, bytes, at: ctx.clock.now() });
  await ctx.store.saveEnvelope(r, a, KindV2.KeyAnnouncement, ctx.self, bytes);
  await ctx.publish(bytes, a, 'keys');
}

/** Once U1 lists this node: shares of its secrets for every U1 member, persisted, then sent (one dealing per (r, a)). */
export async function deal(ctx: RoundContext, d: AttemptData): Promise<void> {
  const u1 = d.u1;
  if (!u1 || d.held.has(ctx.self) || !u1.body.members.some((m) => m.id === ctx.self) || revealedElsewhere(ctx, d)) return;
  const r = ctx.state.round;
  const a = d.attempt;
  const s = await ctx.contribution.storedSecrets(r, a);
  if (!s) return;
  const ids = u1.body.members.map((m) => m.id);
  const cPublicOf = (id: string) => u1.body.members.find((m) => m.id === id)!.cPublic;
  const { dealing, fresh } = await ctx.contribution.dealing(r, a, () => {
    const t = ctx.threshold;
    const shares = computeShares(s, { s: randomCoefficients(t), b: randomCoefficients(t) }, ctx.xs, ids);
    const entries = dealShares(ctx.ref(a), { id: ctx.self, cSecret: s.cSecret }, shares, cPublicOf);
    const envelope = ctx.sign({ kind: KindV2.ShareDealing, body: { ...ctx.binding(), u1Hash: u1.hash, entries } }, a);
    const own = shares.get(ctx.self)!;
    return { ownS: toHex(own.s), ownB: toHex(own.b), envelope: toHex(envelope) };
  });
  if (fresh) ctx.hooks.reached(r, 'dealing-persisted');
  await useOwnDealing(ctx, d, dealing);
}

/** This node's persisted dealing for attempt d (just made, or reloaded after a restart): its own shares held, the dealing kept as every member keeps one, and sent. */
export async function useOwnDealing(ctx: RoundContext, d: AttemptData, dealing: StoredDealing): Promise<void> {
  d.held.set(ctx.self, { s: fromHex(dealing.ownS), b: fromHex(dealing.ownB) });
  const bytes = fromHex(dealing.envelope);
  const env = ctx.decodeOwn(bytes) as EnvelopeV2 & { kind: KindV2.ShareDealing };
  if (!d.dealings.has(ctx.self)) d.dealings.set(ctx.self, { body: env.body, bytes, at: ctx.clock.now() });
  await ctx.publish(bytes, d.attempt, 'dealing');
}

/** Once U2 lists this node and its update exists: its cryptogram, persisted, then published in chunks naming H(U2). */
export async function publishCryptogram(ctx: RoundContext, d: AttemptData): Promise<void> {
  const { u1, u2 } = d;
  if (!u1 || !u2 || d.cryptograms.has(ctx.self) || !u2.body.members.includes(ctx.self) || revealedElsewhere(ctx, d)) return;
  const r = ctx.state.round;
  const a = d.attempt;
  const s = await ctx.contribution.storedSecrets(r, a);
  if (!s) return;
  const built = await ctx.contribution.cryptogram(r, a, (u) => buildCryptogramV2(attemptFromLists(ctx.ref(a), ctx.manifest.plan.clip, ctx.threshold, u1.body, u2.body), { id: ctx.self, sSecret: s.sSecret, selfSeed: s.selfSeed }, u.delta));
  if (!built) return; // no update yet
  if (built.fresh) ctx.hooks.reached(r, 'cryptogram-persisted');
  d.putCryptogram(ctx.self, built.c, u2.hex, ctx.clock.now());
  await sendChunks(ctx, a, built.c, u2.hash, 'chunk');
  ctx.hooks.reached(r, 'cryptogram-published');
  if (ctx.hooks.aggregatorFault === 'equivocate') {
    const other = built.c.slice();
    other[0] = (other[0]! + 1) >>> 0;
    await sendChunks(ctx, a, other, u2.hash, 'chunk-b');
  }
  ctx.state.lastProgressAt = ctx.clock.now();
  await ctx.persist();
}

/** Publishes cryptogram c of attempt a in chunks naming H(U2), each re-sent until commit. */
export async function sendChunks(ctx: RoundContext, a: number, c: Uint32Array, u2Hash: Uint8Array, name: string): Promise<void> {
  for (const chunk of chunkCryptogramV2(c, ctx.binding(), u2Hash)) {
    await ctx.publish(ctx.sign({ kind: KindV2.CryptogramChunk, body: chunk }, a), a, `${name}/${chunk.index}`);
  }
}

/** Once U3 lists this node: one consent to it (persisted first), at most one per (r, a). */
export async function consent(ctx: RoundContext, d: AttemptData): Promise<void> {
  const u3 = d.u3;
  if (!u3 || !u3.body.members.includes(ctx.self) || d.consents.has(ctx.self) || revealedElsewhere(ctx, d)) return;
  const a = d.attempt;
  const given = ctx.state.consented[a];
  if (given !== undefined && given !== u3.hex) return; // consented to another U3 of this attempt (cannot happen: lists are compared)
  if (given === undefined) {
    ctx.state.consented[a] = u3.hex;
    await ctx.persist();
  }
  const bytes = ctx.sign({ kind: KindV2.Consent, body: { ...ctx.binding(), u3Hash: u3.hash } }, a);
  d.consents.set(ctx.self, { body: { ...ctx.binding(), u3Hash: u3.hash }, bytes, at: ctx.clock.now() });
  await ctx.store.saveEnvelope(ctx.state.round, a, KindV2.Consent, ctx.self, bytes);
  await ctx.publish(bytes, a, 'consent', true);
}

/** Counted consents to attempt d's U3 (distinct members of U3 naming that list). */
export function consents(d: AttemptData): number {
  if (!d.u3) return 0;
  return consentCount(d.u3.body.members, d.u3.hash, [...d.consents].map(([from, c]) => ({ from, listHash: c.body.u3Hash })));
}

/** The final attempt: its U3 holds ≥ t counted consents (at most one per round while the bound holds). */
export function finalAttempt(ctx: RoundContext): AttemptData | null {
  return ctx.book.all().find((d) => consents(d) >= ctx.threshold) ?? null;
}

/**
 * The one reveal of the round: for the final attempt's U3 — as a member of U3 only for the U3 it
 * consented to; as a holder outside U3 for the first U3 with t consents. The envelope is persisted,
 * then the decision, then it is sent and re-sent until commit (after a restart: the stored bytes).
 */
export async function reveal(ctx: RoundContext): Promise<void> {
  const r = ctx.state.round;
  if (ctx.book.revealedBy.has(ctx.self)) return; // sent (or reloaded: re-sent by the engine)
  const d = finalAttempt(ctx);
  if (!d?.u2 || !d.u3 || ctx.state.revealed) return;
  if (d.u3.body.members.includes(ctx.self) && ctx.state.consented[d.attempt] !== d.u3.hex) return;
  if (d.held.size === 0) return; // holds no share of this attempt
  // Wait (a while) for a share of every U2 dealer: a reveal is sent once, and with t = N a single
  // missing share would leave a secret unrecoverable for good. (A dealing lost with its dealer is
  // given up on after aggregateMs.)
  const waiting = d.u2.body.members.some((id) => !d.held.has(id) && !d.complained.has(id));
  if (waiting && ctx.clock.now() - d.u3.at < ctx.manifest.timeouts.aggregateMs) return;
  const shares = revealFor(d.u2.body.members, d.u3.body.members, d.held);
  const body = { ...ctx.binding(), u3Hash: d.u3.hash, shares };
  const bytes = ctx.sign({ kind: KindV2.Reveal, body }, d.attempt);
  await ctx.store.saveEnvelope(r, d.attempt, KindV2.Reveal, ctx.self, bytes);
  ctx.hooks.reached(r, 'reveal-saved'); // a crash here: the replayed envelope restores the decision (member.ts onReveal)
  ctx.state.revealed = { attempt: d.attempt, u3Hash: d.u3.hex };
  await ctx.persist();
  ctx.hooks.reached(r, 'reveal-persisted');
  d.reveals.set(ctx.self, { body, bytes, at: ctx.clock.now() });
  ctx.book.revealedBy.set(ctx.self, d.attempt);
  await ctx.publish(bytes, d.attempt, 'reveal', true);
  ctx.hooks.reached(r, 'reveal-sent');
}
