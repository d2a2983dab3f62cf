// Judging the aggregator's signed lists (PROTOCOL.md §7, §8): U1 (keys announced), U2 (dealings
// delivered), U3 (complete cryptograms). Each function returns the reason to refuse the list, or
// null to accept it. The sender was checked by admission (only the attempt's aggregator may sign
// a list); a second, different list of one kind is equivocation (member.ts).
import { equalBytes } from '../../protocol/index.ts';
import { checkAnnouncedKeys, checkListChain, type U1ListV2, type U2ListV2, type U3ListV2 } from '../../protocol/v2/index.ts';
import { maxSamplesOf } from '../manifest.ts';
import type { AttemptData } from './attempt-book.ts';
import type { RoundContext } from './context.ts';

/** Runs a protocol check; its message as a reason, or null. */
function reasonOf(check: () => void): string | null {
  try {
    check();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Members whose item this node held for a liveness window before the list arrived, left out of the list. */
function leftOut(ctx: RoundContext, held: Map<string, { at: number }> | Iterable<[string, { at: number }]>, listed: readonly string[], now: number, skip: (id: string) => boolean): string[] {
  const inList = new Set(listed);
  const out: string[] = [];
  for (const [id, item] of held) if (!inList.has(id) && !skip(id) && now - item.at >= ctx.manifest.timeouts.livenessMs) out.push(id);
  return out;
}

export function judgeU1(ctx: RoundContext, d: AttemptData, u1: U1ListV2, now: number): string | null {
  const binding = ctx.binding();
  if (!equalBytes(u1.manifestHash, binding.manifestHash)) return 'bound to another manifest';
  if (!equalBytes(u1.baseModelHash, binding.baseModelHash)) return 'built on another global model';
  const chain = reasonOf(() => checkListChain(ctx.ref(d.attempt), ctx.threshold, u1));
  if (chain) return chain;
  for (const e of u1.members) {
    if (!ctx.members.includes(e.id)) return `lists ${e.id.slice(-8)}, not a member`;
    if (ctx.excluded(e.id)) return `lists ${ctx.names([e.id])}, who is excluded for this round`;
    const bad = reasonOf(() => checkAnnouncedKeys(e, maxSamplesOf(ctx.manifest, e.id) ?? 0));
    if (bad) return `entry of ${ctx.names([e.id])}: ${bad}`;
    // An entry must repeat the member's signed announcement: a substituted key would route that
    // member's shares or masks to whoever made it.
    const held = d.keys.get(e.id)?.body;
    if (held && !(equalBytes(held.cPublic, e.cPublic) && equalBytes(held.sPublic, e.sPublic) && held.samples === e.samples && equalBytes(held.selfCommit, e.selfCommit))) {
      return `entry of ${ctx.names([e.id])} differs from its signed key announcement`;
    }
  }
  const out = leftOut(ctx, d.keys, u1.members.map((e) => e.id), now, (id) => ctx.excluded(id));
  return out.length ? `leaves out ${ctx.names(out)}, whose keys this node held for a liveness window` : null;
}

export function judgeU2(ctx: RoundContext, d: AttemptData, u2: U2ListV2, now: number): string | null {
  const chain = reasonOf(() => checkListChain(ctx.ref(d.attempt), ctx.threshold, d.u1!.body, u2));
  if (chain) return chain;
  for (const id of u2.members) {
    if (ctx.excluded(id)) return `lists ${ctx.names([id])}, who is excluded for this round`;
    if (d.badDealers.has(id)) return `lists ${ctx.names([id])}, whose dealing has a proven complaint`;
  }
  const out = leftOut(ctx, d.dealings, u2.members, now, (id) => ctx.excluded(id) || d.badDealers.has(id));
  return out.length ? `leaves out ${ctx.names(out)}, whose dealing this node held for a liveness window` : null;
}

export function judgeU3(ctx: RoundContext, d: AttemptData, u3: U3ListV2, now: number): string | null {
  const chain = reasonOf(() => checkListChain(ctx.ref(d.attempt), ctx.threshold, d.u1!.body, d.u2!.body, u3));
  if (chain) return chain;
  for (const id of u3.members) if (ctx.excluded(id)) return `lists ${ctx.names([id])}, who is excluded for this round`;
  const complete = [...d.cryptograms].filter(([, c]) => c.u2Hash === d.u2!.hex);
  const out = leftOut(ctx, complete, u3.members, now, (id) => ctx.excluded(id) || !d.u2!.body.members.includes(id));
  return out.length ? `leaves out ${ctx.names(out)}, whose complete cryptogram this node held for a liveness window` : null;
}
