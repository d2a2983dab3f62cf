// The simulation's privacy invariant (issue 16), checked after every event from everything ever
// published (every node's lists and reveals) plus what the faulty nodes hold (a share of every
// secret dealt to them): for each round,
//  - no honest member's secrets are both revealable: ≥ t shares of its self seed b and ≥ t shares
//    of its mask secret s_sk for one attempt would let anyone unmask its cryptogram alone;
//  - no two attempts' aggregates are both unmaskable over different U3 sets sharing an honest
//    member (their difference would approximate that member's update).
import { decodeEnvelopeV2, KindV2 } from '../../protocol/v2/index.ts';
import { thresholdOf } from '../../node/manifest.ts';
import type { SimWorld } from './sim-world.ts';

interface AttemptView {
  u2: string[] | null;
  /** U3 lists by members (an equivocating aggregator may sign two). */
  u3: Map<string, string[]>;
  /** `${owner}/${kind}` → holders that revealed that share, per U3 hash named. */
  revealed: Map<string, Set<string>>;
}

export class PrivacyCheck {
  private readonly seen = new Map<string, number>();
  private readonly attempts = new Map<string, AttemptView>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly world: SimWorld,
    private readonly violation: (what: string) => void,
  ) {}

  private view(r: number, a: number): AttemptView {
    const k = `${r}/${a}`;
    let v = this.attempts.get(k);
    if (!v) this.attempts.set(k, (v = { u2: null, u3: new Map(), revealed: new Map() }));
    return v;
  }

  afterEvent(): void {
    const w = this.world;
    let changed = false;
    const publicKeyOf = (id: string) => w.nodes.find((x) => x.id === id)?.identity.signingPublic;
    for (const n of w.nodes) {
      const from = this.seen.get(n.id) ?? 0;
      if (from === n.decisions.length) continue;
      for (const d of n.decisions.slice(from)) {
        const env = decodeEnvelopeV2(d.bytes, { consortium: w.manifest.consortium, publicKeyOf });
        const v = this.view(env.round, env.attempt);
        if (env.kind === KindV2.U2List) v.u2 = env.body.members;
        else if (env.kind === KindV2.U3List) v.u3.set(env.body.members.join(','), env.body.members);
        else if (env.kind === KindV2.Reveal) {
          for (const s of env.body.shares) {
            const key = `${s.owner}/${s.kind}`;
            (v.revealed.get(key) ?? v.revealed.set(key, new Set()).get(key)!).add(env.sender);
          }
          changed = true;
        }
      }
      this.seen.set(n.id, n.decisions.length);
    }
    if (changed) this.check();
  }

  private check(): void {
    const w = this.world;
    const t = thresholdOf(w.manifest);
    const faulty = w.nodes.filter((n) => w.opts.faulty?.[n.index] !== undefined).map((n) => n.id);
    const honest = new Set(w.honest.map((n) => n.id));
    // shares the adversary holds: every faulty member holds a share of each dealer's two secrets
    const known = (v: AttemptView, owner: string, kind: string) => new Set([...(v.revealed.get(`${owner}/${kind}`) ?? []), ...faulty.filter((f) => f !== owner)]).size + (faulty.includes(owner) ? 1 : 0);
    const unmaskable = new Map<number, { a: number; u3: string[] }[]>();
    for (const [k, v] of this.attempts) {
      const [r, a] = k.split('/').map(Number) as [number, number];
      for (const owner of honest) {
        if (known(v, owner, 'b') >= t && known(v, owner, 's') >= t && !this.reported.has(`${k}/${owner}`)) {
          this.reported.add(`${k}/${owner}`);
          this.violation(`privacy: round ${r} attempt ${a}: both secrets of ${w.node(owner).name} are revealable (≥ t shares of b and of s_sk): its cryptogram can be unmasked alone`);
        }
      }
      if (!v.u2) continue;
      for (const u3 of v.u3.values()) {
        const ok = u3.every((j) => known(v, j, 'b') >= t) && v.u2.filter((j) => !u3.includes(j)).every((j) => known(v, j, 's') >= t);
        if (ok) (unmaskable.get(r) ?? unmaskable.set(r, []).get(r)!).push({ a, u3 });
      }
    }
    for (const [r, list] of unmaskable) {
      for (let i = 0; i < list.length; i++) {
        for (let j = i + 1; j < list.length; j++) {
          const x = list[i]!;
          const y = list[j]!;
          const same = x.u3.length === y.u3.length && x.u3.every((id) => y.u3.includes(id));
          const shared = x.u3.filter((id) => y.u3.includes(id) && honest.has(id));
          const tag = `${r}/${x.a}/${y.a}/${x.u3.join()}/${y.u3.join()}`;
          if (!same && shared.length && !this.reported.has(tag)) {
            this.reported.add(tag);
            this.violation(`privacy: round ${r}: aggregates of attempts ${x.a} and ${y.a} are both unmaskable over different sets sharing ${w.names(shared).join(', ')}`);
          }
        }
      }
    }
  }
}
