// Unmasking (PROTOCOL.md §9): once an attempt is final, every member recomputes the aggregate from
// U3's cryptograms and the revealed shares: b_j of U3 and s_sk_j of U2 \ U3, each reconstructed from
// ≥ t shares that match the dealer's commitments and verified. There is no aggregate record: each
// member commits the model it computed (all compute the same bytes).
import { applyAggregate, modelHash, toHex } from '../../protocol/index.ts';
import { attemptFromLists, checkReveal, recoverMaskSecret, recoverSelfSeed, unmaskAndDecodeOverU3, type HeldShare, type ShareKind } from '../../protocol/v2/index.ts';
import type { AttemptData } from './attempt-book.ts';
import type { RoundContext } from './context.ts';
import { consents } from './participant.ts';

export interface Unmasked {
  next: Float32Array;
  hash: string;
  u2: string[];
  u3: string[];
}

/** What was tried last per attempt (U3, reveals, cryptograms and dealings held): nothing is recomputed until it changes. */
const tried = new WeakMap<AttemptData, string>();

/** The new model from attempt d, or null while cryptograms or shares are missing (or d is not final). */
export function tryUnmask(ctx: RoundContext, d: AttemptData): Unmasked | null {
  const { u1, u2, u3 } = d;
  if (!u1 || !u2 || !u3 || consents(d) < ctx.threshold) return null;
  const u3ids = u3.body.members;
  const u2ids = u2.body.members;
  const cryptograms = new Map<string, Uint32Array>();
  for (const id of u3ids) {
    const c = d.cryptograms.get(id);
    if (!c || c.u2Hash !== u2.hex) return null;
    cryptograms.set(id, c.c);
  }
  const reveals = [...d.reveals].filter(([, r]) => toHex(r.body.u3Hash) === u3.hex);
  // dealings count: a share is checked against its dealer's commitment, so a dealing that arrives
  // after the reveals can make the reconstruction possible
  const tag = `${u3.hex}/${reveals.length}/${cryptograms.size}/${d.dealings.size}`;
  if (tried.get(d) === tag) return null;
  tried.set(d, tag);
  if (reveals.length < ctx.threshold) return null;
  const ref = ctx.ref(d.attempt);
  const valid = reveals.filter(([holder, r]) => {
    try {
      checkReveal(u2ids, u3ids, r.body.shares);
      return ctx.xs.has(holder);
    } catch (err) {
      ctx.log.warn({ from: ctx.names([holder]), reason: (err as Error).message }, 'reveal ignored');
      return false;
    }
  });
  const sharesOf = (owner: string, kind: ShareKind): HeldShare[] => {
    const dealing = d.dealings.get(owner)?.body.entries;
    const out: HeldShare[] = [];
    for (const [holder, r] of valid) {
      const e = r.body.shares.find((s) => s.owner === owner && s.kind === kind);
      if (!e) continue;
      const entry = dealing?.find((x) => x.to === holder);
      const commitment = holder === owner ? undefined : kind === 'b' ? entry?.bCommit : entry?.sCommit;
      if (holder !== owner && !commitment) continue;
      out.push({ holder, x: ctx.xs.get(holder)!, share: e.share, ...(commitment ? { commitment } : {}) });
    }
    return out;
  };
  const entryOf = (id: string) => u1.body.members.find((m) => m.id === id)!;
  const seeds = new Map<string, Uint8Array>();
  const secrets = new Map<string, Uint8Array>();
  try {
    for (const id of u3ids) seeds.set(id, recoverSelfSeed(ref, id, entryOf(id).selfCommit, sharesOf(id, 'b'), ctx.threshold));
    for (const id of u2ids.filter((x) => !u3ids.includes(x))) secrets.set(id, recoverMaskSecret(ref, id, entryOf(id).sPublic, sharesOf(id, 's'), ctx.threshold));
  } catch (err) {
    ctx.log.debug({ attempt: d.attempt, reveals: valid.length, reason: (err as Error).message }, 'cannot unmask yet');
    return null; // not enough verified shares yet
  }
  const att = attemptFromLists(ref, ctx.manifest.plan.clip, ctx.threshold, u1.body, u2.body);
  const next = applyAggregate(ctx.weights, unmaskAndDecodeOverU3(att, u3ids, cryptograms, seeds, secrets));
  return { next, hash: toHex(modelHash(next)), u2: [...u2ids], u3: [...u3ids] };
}
