// A TCP relay on loopback that emulates a WAN link: each direction is delayed by rtt/2 and paced to
// a rate (a token bucket with no burst: a chunk leaves the bottleneck size/rate after the previous
// one, then travels rtt/2), so no byte is delivered earlier than rtt/2 after the relay read it.
// Faults: stall (nothing is delivered until the stall ends) and cut (both sides of every
// connection are closed with a FIN; while cut, new connections are accepted and closed at once).
// The kernel here has no netem, so the delay lives in user space.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface LinkShape {
  /** Round-trip time added by the link, ms (each direction gets half). */
  rttMs: number;
  /** Bottleneck rate, bits per second, each direction. */
  rateBps: number;
}

export interface DirectionStats {
  /** Bytes read from the sending side. */
  received: number;
  /** Bytes written to the receiving side. */
  delivered: number;
  /** Bytes dropped by a cut (read, never delivered). */
  dropped: number;
  /** Smallest and largest time between reading a byte and delivering it, ms. */
  minDelayMs: number;
  maxDelayMs: number;
}

export interface RelayStats {
  connections: number;
  /** Client → target. */
  up: DirectionStats;
  /** Target → client. */
  down: DirectionStats;
  /** Local ports of the relay's own connections to the target (how the target sees the relay). */
  upstreamPorts: number[];
}

/** Chunks larger than this are split, so delivery follows the rate at this granularity. */
const SLICE = 16 * 1024;

const emptyDirection = (): DirectionStats => ({ received: 0, delivered: 0, dropped: 0, minDelayMs: Infinity, maxDelayMs: 0 });

/**
 * The pacing state of one bottleneck. Each direction of each connection has its own unless the
 * caller passes a shared one (e.g. one per site's uplink, shared by all its links).
 */
export class Bottleneck {
  /** performance.now() at which the last queued byte leaves the bottleneck. */
  lastFinish = 0;
}

/** One direction of one connection: a FIFO of chunks with their delivery times and one timer. */
class Pipe {
  private queue: { data: Buffer; readAt: number; deliverAt: number }[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | null = null;
  private ended = false;
  private dead = false;
  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly relay: WanRelay,
    private readonly stats: DirectionStats,
    private readonly bottleneck: Bottleneck,
  ) {
    from.on('data', (buf: Buffer) => this.push(buf));
    from.on('end', () => {
      this.ended = true;
      this.pump();
    });
  }

  private push(buf: Buffer): void {
    const now = performance.now();
    this.stats.received += buf.length;
    if (this.dead) {
      this.stats.dropped += buf.length;
      return;
    }
    const bytesPerMs = this.relay.shape.rateBps / 8000;
    for (let o = 0; o < buf.length; o += SLICE) {
      const data = buf.subarray(o, o + SLICE);
      const b = this.bottleneck;
      b.lastFinish = Math.max(now, b.lastFinish) + data.length / bytesPerMs;
      this.queue.push({ data, readAt: now, deliverAt: b.lastFinish + this.relay.shape.rttMs / 2 });
      this.queued += data.length;
    }
    // a bounded link buffer (bytes in flight plus a queue): the bandwidth-delay product plus
    // 256 KiB, then TCP backpressure on the sender until it is half empty
    if (this.queued > this.limit()) this.from.pause();
    this.pump();
  }

  private limit(): number {
    return (this.relay.shape.rateBps / 8000) * this.relay.shape.rttMs + 256 * 1024;
  }

  /** Delivers every due chunk and arms the timer for the next one. */
  pump(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const now = performance.now();
    const gate = Math.max(now, this.relay.stalledUntil);
    while (this.queue.length && this.queue[0]!.deliverAt <= now && this.relay.stalledUntil <= now) {
      const c = this.queue.shift()!;
      this.queued -= c.data.length;
      if (!this.to.writable) {
        this.stats.dropped += c.data.length;
        continue;
      }
      this.to.write(c.data);
      this.stats.delivered += c.data.length;
      this.stats.minDelayMs = Math.min(this.stats.minDelayMs, now - c.readAt);
      this.stats.maxDelayMs = Math.max(this.stats.maxDelayMs, now - c.readAt);
    }
    if (this.from.isPaused() && this.queued < this.limit() / 2) this.from.resume();
    if (this.queue.length) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, Math.max(this.queue[0]!.deliverAt, gate) - now));
    } else if (this.ended && this.to.writable) {
      this.to.end();
    }
  }

  /** A cut: queued bytes are lost. */
  drop(): void {
    this.dead = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const c of this.queue) this.stats.dropped += c.data.length;
    this.queue = [];
    this.queued = 0;
    this.from.resume(); // keep reading (to drop) so the peer's FIN is seen
  }
}

export interface WanRelayOptions extends LinkShape {
  target: { host: string; port: number };
  /** Listen port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Shared bottlenecks for client → target and target → client (default: one per connection and direction). */
  upBottleneck?: Bottleneck;
  downBottleneck?: Bottleneck;
}

export class WanRelay {
  readonly stats: RelayStats = { connections: 0, up: emptyDirection(), down: emptyDirection(), upstreamPorts: [] };
  /** performance.now() until which nothing is delivered. */
  stalledUntil = 0;
  private down = false;
  private readonly refused = new Set<Socket>();
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; pipes: Pipe[] }>();
  private constructor(
    private readonly server: Server,
    readonly shape: LinkShape,
    readonly target: { host: string; port: number },
    private readonly bottlenecks: { up?: Bottleneck; down?: Bottleneck },
  ) {}

  static async start(opts: WanRelayOptions): Promise<WanRelay> {
    if (!(opts.rttMs >= 0) || !(opts.rateBps > 0)) throw new Error(`wan relay: rtt must be ≥ 0 and rate > 0 (got ${opts.rttMs} ms, ${opts.rateBps} bit/s)`);
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    const relay = new WanRelay(server, { rttMs: opts.rttMs, rateBps: opts.rateBps }, opts.target, { up: opts.upBottleneck, down: opts.downBottleneck });
    server.on('connection', (c) => relay.accept(c));
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(opts.port ?? 0, '127.0.0.1', () => res());
    });
    void relay.port;
    return relay;
  }

  /** The listen port on 127.0.0.1 (kept after close, for audits). */
  get port(): number {
    return (this.listenPort ??= (this.server.address() as { port: number }).port);
  }

  private listenPort: number | undefined;

  get isCut(): boolean {
    return this.down;
  }

  private accept(client: Socket): void {
    if (this.down) {
      // read (and discard) so the peer's FIN is seen and the socket closes; close() destroys leftovers
      this.refused.add(client);
      client.once('close', () => this.refused.delete(client));
      client.on('error', () => undefined);
      client.resume();
      client.end();
      return;
    }
    this.stats.connections++;
    const upstream = createConnection({ host: this.target.host, port: this.target.port, allowHalfOpen: true, noDelay: true });
    const pair = { client, upstream, pipes: [] as Pipe[] };
    this.pairs.add(pair);
    upstream.once('connect', () => this.stats.upstreamPorts.push(upstream.localPort!));
    pair.pipes.push(new Pipe(client, upstream, this, this.stats.up, this.bottlenecks.up ?? new Bottleneck()), new Pipe(upstream, client, this, this.stats.down, this.bottlenecks.down ?? new Bottleneck()));
    const fail = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail);
    upstream.on('error', fail);
    let closed = 0;
    const onClose = () => {
      if (++closed === 2) this.pairs.delete(pair);
    };
    client.once('close', onClose);
    upstream.once('close', onClose);
  }

  /** Nothing is delivered for `ms` from now (bytes read meanwhile are held, then delivered). */
  stall(ms: number): void {
    this.stalledUntil = Math.max(this.stalledUntil, performance.now() + ms);
    for (const p of this.pairs) for (const pipe of p.pipes) pipe.pump();
  }

  /** Closes both sides of every connection with a FIN and refuses new ones until restore(). */
  cut(): void {
    this.down = true;
    for (const p of this.pairs) {
      for (const pipe of p.pipes) pipe.drop();
      p.client.end();
      p.upstream.end();
    }
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    for (const c of this.refused) c.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
