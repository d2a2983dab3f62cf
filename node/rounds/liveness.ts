// Who is live (PROTOCOL.md §4, node/rounds/README.md rules 1, 2 and 9): the members' signed
// heartbeats, the (version, hash) each claims, and this node's own pauses. Decisions only.
import type { HeartbeatV2 as HeartbeatBody } from '../../protocol/v2/index.ts';
import { toHex } from '../../protocol/index.ts';

export interface PeerHeartbeat {
  /** When the member was last heard alive (epoch ms): its last heartbeat's signed `sentAt`, or when that arrived if earlier. */
  at: number;
  /** The signed `sentAt` of that heartbeat. */
  sentAt: number;
  version: number;
  hash: string;
  round: number;
  attempt: number;
  phase: string;
}

/** Above this many distinct (version, hash) claims the claim table starts over (a bound, not a rule). */
const MAX_CLAIMS = 1000;

export class Liveness {
  private readonly heartbeats = new Map<string, PeerHeartbeat>();
  private readonly claims = new Map<string, Set<string>>(); // `${version}/${hash}` → senders
  /** When the event loop last ran (watchdog and tick); a long gap means this process was paused. */
  private lastAliveAt: number;
  /** Set when a pause or a mid-round restart is noticed; cleared once the network was heard again. */
  private resumedAt: number | null = null;
  /** When this node last woke from a pause or started: liveness judged from older heartbeats is stale. */
  private wokeAt: number;

  constructor(
    private readonly self: string,
    private readonly members: readonly string[],
    private readonly livenessMs: number,
    now: number,
    resumedMidRound: boolean,
  ) {
    this.lastAliveAt = this.wokeAt = now;
    if (resumedMidRound) this.resumedAt = now; // restarted mid-round: same stale view as a pause
  }

  /**
   * A member's heartbeat, admitted (PROTOCOL.md §5 Heartbeat). Liveness is judged by its signed
   * `sentAt` (capped at the arrival time, so a future date buys nothing), and one not newer than the
   * last heartbeat from that member is dropped: a recorded heartbeat replayed in a fresh gossip
   * wrapper neither makes a dead member look live nor rolls back the model it reported. Returns
   * false for a dropped one.
   */
  noteHeartbeat(sender: string, round: number, attempt: number, body: HeartbeatBody, now: number): boolean {
    const prev = this.heartbeats.get(sender);
    if (prev && body.sentAt <= prev.sentAt) return false;
    const hash = toHex(body.modelHash);
    this.heartbeats.set(sender, { at: Math.min(body.sentAt, now), sentAt: body.sentAt, version: body.modelVersion, hash, round, attempt, phase: body.phase });
    const claim = `${body.modelVersion}/${hash}`;
    if (!this.claims.has(claim) && this.claims.size > MAX_CLAIMS) this.claims.clear();
    (this.claims.get(claim) ?? this.claims.set(claim, new Set()).get(claim)!).add(sender);
    return true;
  }

  /** This node's own heartbeat, as it sends it. */
  noteOwn(hb: PeerHeartbeat): void {
    this.heartbeats.set(this.self, hb);
  }

  heartbeatOf(peer: string): PeerHeartbeat | undefined {
    return this.heartbeats.get(peer);
  }

  /** Members other than `sender` whose heartbeat claimed model (version, hash). */
  vouchers(version: number, hash: string, sender: string): string[] {
    return [...(this.claims.get(`${version}/${hash}`) ?? [])].filter((s) => s !== sender);
  }

  /** A member is live when its last heartbeat is younger than the liveness window. */
  live(peer: string, now: number): boolean {
    if (peer === this.self) return true;
    const hb = this.heartbeats.get(peer);
    return !!hb && now - hb.at < this.livenessMs;
  }

  /**
   * Silent for twice the liveness window while other members are heard from, and this node has
   * been up long enough to know. Conservative on purpose: skipping a live aggregator makes two
   * aggregators, and their models must then be reconciled (fork healing).
   */
  knownDead(peer: string, now: number): boolean {
    if (now - this.wokeAt < 2 * this.livenessMs) return false; // (wokeAt: start-up or the last pause)
    const hb = this.heartbeats.get(peer);
    if (hb && now - hb.at < 2 * this.livenessMs) return false;
    return this.members.some((m) => m !== this.self && m !== peer && this.live(m, now));
  }

  /** Heartbeats of the other live members. */
  private others(now: number): PeerHeartbeat[] {
    return [...this.heartbeats].filter(([p, hb]) => p !== this.self && now - hb.at < this.livenessMs).map(([, hb]) => hb);
  }

  /** True when most other live members claim one other model for this node's current version (fork). */
  outvoted(version: number, hash: string, now: number): boolean {
    const others = this.others(now);
    const differ = others.filter((hb) => hb.version === version && hb.hash !== hash);
    return differ.length > 0 && differ.length > others.length / 2 && new Set(differ.map((hb) => hb.hash)).size === 1;
  }

  /** The newest model version a live member reports (at least `version`). */
  newestVersion(version: number, now: number): number {
    return Math.max(version, ...this.others(now).map((hb) => hb.version));
  }

  /**
   * More than half of the other live members (at least two) report a model newer than `version`.
   * One member's claim alone is not enough: a faulty member must not be able to stall the honest ones.
   */
  majorityAhead(version: number, now: number): boolean {
    const others = this.others(now);
    const ahead = others.filter((hb) => hb.version > version).length;
    return ahead >= 2 && ahead > others.length / 2;
  }

  /** Live members whose heartbeat reports model `version` (with another hash than `notHash`, when given). */
  holders(version: number, notHash: string | null, now: number): string[] {
    return [...this.heartbeats].filter(([p, hb]) => p !== this.self && now - hb.at < this.livenessMs && hb.version === version && hb.hash !== notHash).map(([p]) => p);
  }

  /** A live member reports a model older than `version` (it needs this node's last record). */
  anyBehind(version: number, now: number): boolean {
    return this.members.some((m) => m !== this.self && this.live(m, now) && (this.heartbeats.get(m)?.version ?? 0) < version);
  }

  /**
   * A process that was stopped (SIGSTOP, a suspended VM, a stalled event loop) for longer than the
   * liveness window wakes up with a stale view: heartbeats, deadlines and AttemptStarts the others
   * acted on are still in its socket buffers. Its first tick used to open its own attempt as the
   * aggregator it still believed to be, beside the one the others had opened (a split attempt that
   * stalled the SIGSTOP fault test). Returns the gap in ms when it was a pause, else null.
   */
  notePause(now: number): number | null {
    const gap = now - this.lastAliveAt;
    this.lastAliveAt = now;
    // (at least 2 s: the watchdog runs every 250 ms, and a busy but running loop is not a pause)
    if (gap <= Math.max(this.livenessMs, 2000)) return null;
    this.resumedAt = now;
    this.wokeAt = now;
    return gap;
  }

  /**
   * True while this node's view is stale after a pause or restart: it opens no attempt, skips no
   * candidate and fails over no aggregator until it has heard another member's heartbeat and the
   * liveness window has passed since it resumed (by then re-sent AttemptStarts have arrived too).
   * Hearing nobody, it waits: alone it could not complete a round anyway, and opening an attempt
   * from its old view is what splits one. `refreshed` is called once, with the wait, when it ends.
   */
  settling(now: number, refreshed: (waitedMs: number) => void): boolean {
    if (this.resumedAt === null) return false;
    const since = this.resumedAt;
    const waited = now - since;
    const heard = [...this.heartbeats].some(([p, hb]) => p !== this.self && hb.at > since);
    if (!heard || waited < this.livenessMs) return true;
    this.resumedAt = null;
    refreshed(waited);
    return false;
  }
}
