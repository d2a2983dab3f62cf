// node/types.ts's Network on the simulation's event queue: a full mesh of members where every
// published envelope is delivered to every other member after a seeded delay, unless the link is
// cut (partition), the message is lost, or the receiver crashed meanwhile. Delays are drawn per
// message, so messages overtake one another (reordering) unless `fifo` is set. The receiver's
// topic validator runs synchronously on arrival; only 'accept'ed messages reach its handlers.
import { KindV2 } from '../../protocol/v2/index.ts';
import type { Network, Verdict } from '../../node/types.ts';
import type { Rng } from './sim-rng.ts';
import type { Host } from './sim-scheduler.ts';

export interface LinkFaults {
  minDelayMs: number;
  maxDelayMs: number;
  /** Probability that one delivery is lost. */
  loss: number;
  /** Deliveries on one link keep their order (TCP-like) instead of overtaking one another. */
  fifo: boolean;
}

export const calmLinks: LinkFaults = { minDelayMs: 5, maxDelayMs: 30, loss: 0, fifo: true };

export class SimNetwork {
  readonly stats = { sent: 0, delivered: 0, lost: 0, cut: 0, rejected: 0, requests: 0 };
  /** Bytes of the round messages (heartbeats aside) handed to each member's handlers, over all its incarnations. */
  readonly handledBytes = new Map<string, number>();
  faults: LinkFaults;
  /**
   * A dishonest sender's rewriting of what it publishes (tests of a member that deals bad shares):
   * returns the bytes to send instead, or null to send nothing. Applied once per publish, before
   * the copies go out, so every receiver gets the same bytes.
   */
  tamper: ((bytes: Uint8Array, from: string) => Uint8Array | null) | null = null;
  /** Drops one copy (or a direct answer) when it returns false: a message lost on one link only (tests of late messages). */
  filter: ((bytes: Uint8Array, from: string, to: string) => boolean) | null = null;
  private readonly endpoints = new Map<string, SimEndpoint>();
  private readonly cuts = new Set<string>();
  private readonly lastArrival = new Map<string, number>();

  constructor(
    private readonly rng: Rng,
    faults: LinkFaults = calmLinks,
  ) {
    this.faults = faults;
  }

  /** A fresh endpoint for `peerId` on `host`'s current incarnation (replacing an older one). */
  attach(host: Host, peerId: string, decisions: SimEndpoint['decisions'] = [], published: SimEndpoint['published'] = []): SimEndpoint {
    const ep = new SimEndpoint(this, host, host.incarnation, peerId, decisions, published);
    this.endpoints.set(peerId, ep);
    return ep;
  }
  endpoint(peerId: string): SimEndpoint | undefined {
    return this.endpoints.get(peerId);
  }

  /** Cut every link between different groups (members in no group keep all their links). */
  partition(groups: readonly (readonly string[])[]): void {
    for (let i = 0; i < groups.length; i++)
      for (let j = 0; j < groups.length; j++) if (i !== j) for (const a of groups[i]!) for (const b of groups[j]!) this.cuts.add(`${a}|${b}`);
  }
  /** Cut the links between `a` and `b`, both ways (a non-transitive partition: a third node may
   * still hear both). */
  cut(a: string, b: string): void {
    this.cuts.add(`${a}|${b}`);
    this.cuts.add(`${b}|${a}`);
  }
  /** Lose everything `from` sends to `to` (`to` still reaches `from`). */
  cutOneWay(from: string, to: string): void {
    this.cuts.add(`${from}|${to}`);
  }
  heal(): void {
    this.cuts.clear();
  }
  linked(a: string, b: string): boolean {
    return !this.cuts.has(`${a}|${b}`);
  }

  /** One link delay drawn from the seeded stream. */
  delay(): number {
    return this.rng.int(this.faults.minDelayMs, this.faults.maxDelayMs);
  }
  /** Whether one delivery is lost (drawn from the seeded stream). */
  lose(): boolean {
    if (this.faults.loss > 0 && this.rng.chance(this.faults.loss)) {
      this.stats.lost++;
      return true;
    }
    return false;
  }

  /** Members with a live endpoint and an uncut link to `peerId`. */
  connected(peerId: string): string[] {
    return [...this.endpoints.values()].filter((e) => e.selfId !== peerId && e.alive && this.linked(peerId, e.selfId)).map((e) => e.selfId);
  }

  /** @internal SimEndpoint.publish */
  send(from: SimEndpoint, original: Uint8Array): void {
    if (!from.alive) return;
    const bytes = this.tamper ? this.tamper(original, from.selfId) : original;
    if (!bytes) return;
    const sched = from.host.sched;
    for (const to of this.endpoints.values()) {
      if (to === from || to.selfId === from.selfId) continue;
      this.stats.sent++;
      if (!to.alive) continue;
      if (!this.linked(from.selfId, to.selfId) || (this.filter && !this.filter(bytes, from.selfId, to.selfId))) {
        this.stats.cut++;
        continue;
      }
      const f = this.faults;
      if (f.loss > 0 && this.rng.chance(f.loss)) {
        this.stats.lost++;
        continue;
      }
      let delay = this.rng.int(f.minDelayMs, f.maxDelayMs);
      const link = `${from.selfId}|${to.selfId}`;
      if (f.fifo) {
        delay = Math.max(delay, (this.lastArrival.get(link) ?? 0) - sched.now);
        this.lastArrival.set(link, sched.now + delay);
      }
      const copy = bytes.slice();
      sched.schedule(delay, `msg:${from.host.name}>${to.host.name}:${bytes[1]}`, () => {
        // a link cut while the message was in flight loses it, as a reset connection does
        if (!this.linked(from.selfId, to.selfId)) return void this.stats.cut++;
        to.receive(copy, from.selfId);
      });
    }
  }
}

export class SimEndpoint implements Network {
  private validator: ((envelope: Uint8Array, from: string) => Verdict) | null = null;
  private readonly handlers: ((envelope: Uint8Array, from: string) => void)[] = [];
  private requestHandler: ((request: Uint8Array, from: string) => Promise<Uint8Array | null>) | null = null;
  private readonly rejectedFrom = new Map<string, number>();
  /** Verdicts this endpoint's validator returned, by verdict. */
  readonly verdicts: Record<Verdict, number> = { accept: 0, reject: 0, ignore: 0 };

  constructor(
    private readonly net: SimNetwork,
    readonly host: Host,
    readonly incarnation: number,
    readonly selfId: string,
    /** U1/U2/U3 lists (5–7), consents (8) and reveals (9) this endpoint published, first copies
     * and re-sends alike, with the virtual time (tests decode them to see what a node decided). */
    readonly decisions: { at: number; bytes: Uint8Array }[] = [],
    /** Every envelope but heartbeats this endpoint published (round messages, re-sends and
     * re-published evidence of others' equivocation included), as handed to the network. */
    readonly published: { at: number; bytes: Uint8Array }[] = [],
  ) {}

  get alive(): boolean {
    return this.host.alive(this.incarnation) && this.net.endpoint(this.selfId) === this;
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async publish(envelope: Uint8Array): Promise<void> {
    if (envelope[1]! >= 5 && envelope[1]! <= 9) this.decisions.push({ at: this.host.sched.now, bytes: envelope.slice() });
    if (envelope[1]! !== 1) this.published.push({ at: this.host.sched.now, bytes: envelope.slice() });
    this.net.send(this, envelope);
  }
  setValidator(validate: (envelope: Uint8Array, from: string) => Verdict): void {
    this.validator = validate;
  }
  onMessage(handler: (envelope: Uint8Array, from: string) => void): void {
    this.handlers.push(handler);
  }
  /**
   * A direct stream to `peer`: the request and the answer each take one seeded link delay and may
   * be lost like gossip; a peer that is down, cut off, or has no handler never answers, and the
   * request then fails after `timeoutMs` (an unreachable peer fails after one delay, as a refused
   * dial does).
   */
  request(peer: string, request: Uint8Array, opts: { maxResponseBytes: number; timeoutMs: number }): Promise<Uint8Array | null> {
    return new Promise((resolve, reject) => {
      if (!this.alive) return; // a dead process waits forever
      let settled = false;
      const settle = (fn: () => void) => this.host.arrive(this.incarnation, () => {
        if (settled) return;
        settled = true;
        fn();
      });
      const sched = this.host.sched;
      sched.schedule(opts.timeoutMs, `timeout:${this.host.name}`, () => settle(() => reject(new Error(`request to ${peer.slice(-8)} timed out after ${opts.timeoutMs} ms`))));
      const to = this.net.endpoint(peer);
      if (!to?.alive || !this.net.linked(this.selfId, peer)) {
        sched.schedule(this.net.delay(), `dial:${this.host.name}`, () => settle(() => reject(new Error(`cannot reach ${peer.slice(-8)}`))));
        return;
      }
      if (this.net.lose()) return;
      const copy = request.slice();
      sched.schedule(this.net.delay(), `req:${this.host.name}>${to.host.name}`, () => {
        if (!this.net.linked(this.selfId, peer)) return;
        to.serve(copy, this.selfId, (answer) => {
          if (this.net.lose()) return;
          sched.schedule(this.net.delay(), `res:${to.host.name}>${this.host.name}`, () => {
            if (!this.net.linked(peer, this.selfId) || (answer && this.net.filter && !this.net.filter(answer, peer, this.selfId))) return;
            settle(() => (answer !== null && answer.length > opts.maxResponseBytes ? reject(new Error(`answer of ${answer.length} bytes exceeds ${opts.maxResponseBytes}`)) : resolve(answer)));
          });
        });
      });
    });
  }
  onRequest(handler: (request: Uint8Array, from: string) => Promise<Uint8Array | null>): void {
    this.requestHandler = handler;
  }
  /** @internal a direct request arrives; `reply` is called with the handler's answer. */
  serve(request: Uint8Array, from: string, reply: (answer: Uint8Array | null) => void): void {
    this.host.arrive(this.incarnation, () => {
      if (!this.alive || !this.requestHandler) return;
      this.net.stats.requests++;
      this.requestHandler(request, from).then(
        (answer) => void (this.alive && reply(answer === null ? null : answer.slice())),
        () => undefined, // the handler failed: no answer, the requester times out
      );
    });
  }

  connectedPeers(): string[] {
    return this.alive ? this.net.connected(this.selfId) : [];
  }
  listenAddresses(): string[] {
    return [];
  }
  peerScore(peer: string): number {
    return -(this.rejectedFrom.get(peer) ?? 0);
  }

  /** @internal an envelope arrives from `from` (validated, then handled if accepted). */
  receive(bytes: Uint8Array, from: string): void {
    this.host.arrive(this.incarnation, () => {
      if (!this.alive) return;
      const verdict = this.validator ? this.validator(bytes, from) : 'accept';
      this.verdicts[verdict]++;
      if (verdict === 'reject') {
        this.rejectedFrom.set(from, (this.rejectedFrom.get(from) ?? 0) + 1);
        return;
      }
      if (verdict !== 'accept') return;
      this.net.stats.delivered++;
      if (bytes[1] !== KindV2.Heartbeat) this.net.handledBytes.set(this.selfId, (this.net.handledBytes.get(this.selfId) ?? 0) + bytes.length);
      for (const h of this.handlers) h(bytes, from);
    });
  }
}
