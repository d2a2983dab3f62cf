// The WAN testbed's links: one relay per ordered pair of sites (i dials j through relay i→j), the
// fault schedule, the audit that every connection a node had crossed a relay with byte counts that
// match, and a probe that measures what a relay actually delivers (RTT, rate).
import { readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { ConnectionTraffic } from '../p2p/traffic.ts';
import { Bottleneck, WanRelay, type LinkShape } from './wan-relay.ts';

export interface WanSpec extends LinkShape {
  /** Links of `faultSite` stall for `forMs` starting `atMs` after the nodes start. */
  stall?: { atMs: number; forMs: number };
  /** Links of `faultSite` are cut at `atMs` (both sides closed) and restored `forMs` later. */
  cut?: { atMs: number; forMs: number };
  /** Site whose links the faults hit (default: the last). */
  faultSite?: number;
  /**
   * 'link' (default): every ordered pair of sites has its own rate each way. 'site': a site's
   * outgoing bytes to all its peers share one bottleneck of that rate (its uplink).
   */
  uplink?: 'link' | 'site';
}

/** "rtt=40ms,rate=100mbit[,uplink=site][,stall=3s@10s][,cut=5s@20s][,site=2]" */
export function parseWanSpec(v: string): WanSpec {
  const kv = new Map(v.split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
    const i = p.indexOf('=');
    if (i < 0) throw new Error(`--wan: "${p}" is not key=value`);
    return [p.slice(0, i), p.slice(i + 1)] as const;
  }));
  for (const k of kv.keys()) if (!['rtt', 'rate', 'uplink', 'stall', 'cut', 'site'].includes(k)) throw new Error(`--wan: unknown key "${k}" (rtt, rate, uplink, stall, cut, site)`);
  const uplink = kv.get('uplink');
  if (uplink !== undefined && uplink !== 'link' && uplink !== 'site') throw new Error(`--wan uplink=${uplink}: use uplink=link or uplink=site`);
  if (!kv.has('rtt') || !kv.has('rate')) throw new Error('--wan needs rtt=… and rate=… (e.g. rtt=40ms,rate=100mbit)');
  const fault = (k: string) => {
    const f = kv.get(k);
    if (f === undefined) return undefined;
    const m = /^([^@]+)@(.+)$/.exec(f);
    if (!m) throw new Error(`--wan ${k}=${f}: use DURATION@START, e.g. ${k}=3s@10s`);
    return { forMs: parseDuration(m[1]!), atMs: parseDuration(m[2]!) };
  };
  const site = kv.get('site');
  return { rttMs: parseDuration(kv.get('rtt')!), rateBps: parseRate(kv.get('rate')!), stall: fault('stall'), cut: fault('cut'), faultSite: site === undefined ? undefined : Number(site), ...(uplink ? { uplink } : {}) };
}

export interface LinkAudit {
  from: number;
  to: number;
  /** Bytes the relay read from / delivered to each side: up = dialer → listener. */
  relay: { upReceived: number; upDelivered: number; downReceived: number; downDelivered: number };
  /** What the dialling node wrote/read and the listening node read/wrote on this link's connections. */
  dialer: { connections: number; sent: number; received: number };
  listener: { connections: number; sent: number; received: number };
}

export interface WanAudit {
  links: LinkAudit[];
  /** Connections of a node whose far end is not one of its relays. */
  bypass: { node: number; conn: ConnectionTraffic }[];
  /** Σ bytes the nodes wrote vs Σ bytes the relays read from them; Σ read by nodes vs Σ relays delivered. */
  nodesSent: number;
  relaysReceived: number;
  nodesReceived: number;
  relaysDelivered: number;
  /** Smallest and largest observed read→deliver time over all relays, ms (≥ rtt/2; above it = queueing at the rate). */
  minOneWayMs: number;
  maxOneWayMs: number;
}

export class WanLinks {
  private timers: NodeJS.Timeout[] = [];
  private constructor(
    readonly spec: WanSpec,
    readonly relays: { from: number; to: number; relay: WanRelay }[],
  ) {}

  /** Starts one relay for every ordered pair of the sites' listen ports. */
  static async start(spec: WanSpec, ports: number[]): Promise<WanLinks> {
    const relays = [];
    // uplink=site: relay i→j's up direction and relay j→i's down direction both carry i's bytes
    const uplinks = ports.map(() => (spec.uplink === 'site' ? new Bottleneck() : undefined));
    for (let i = 0; i < ports.length; i++) {
      for (let j = 0; j < ports.length; j++) {
        if (i !== j) relays.push({ from: i, to: j, relay: await WanRelay.start({ target: { host: '127.0.0.1', port: ports[j]! }, rttMs: spec.rttMs, rateBps: spec.rateBps, upBottleneck: uplinks[i], downBottleneck: uplinks[j] }) });
      }
    }
    return new WanLinks(spec, relays);
  }

  /** Where site i dials site j. */
  relayPort(i: number, j: number): number {
    return this.relays.find((r) => r.from === i && r.to === j)!.relay.port;
  }

  /** Arms the stall and cut faults, relative to now (the nodes' start). */
  scheduleFaults(): void {
    const site = this.spec.faultSite ?? Math.max(...this.relays.map((r) => r.from));
    const links = this.relays.filter((r) => r.from === site || r.to === site).map((r) => r.relay);
    const { stall, cut } = this.spec;
    if (stall) this.timers.push(setTimeout(() => links.forEach((l) => l.stall(stall.forMs)), stall.atMs));
    if (cut) {
      this.timers.push(setTimeout(() => links.forEach((l) => l.cut()), cut.atMs));
      this.timers.push(setTimeout(() => links.forEach((l) => l.restore()), cut.atMs + cut.forMs));
    }
  }

  /**
   * Resolves once no link carried more than `maxBytes` (read plus delivered, both directions)
   * during the last `windowMs`: the nodes have stopped re-sending round messages and only
   * heartbeats cross. Rejects after `timeoutMs`. Audits that compare byte counts stop the nodes
   * after this, so what is still on the wire at exit is a heartbeat, not a re-sent cryptogram.
   */
  async quiet(opts: { windowMs: number; maxBytes: number; timeoutMs: number; pollMs?: number }): Promise<void> {
    const poll = opts.pollMs ?? 100;
    const moved = () => this.relays.map(({ relay: { stats: s } }) => s.up.received + s.up.delivered + s.down.received + s.down.delivered);
    const history: { at: number; bytes: number[] }[] = [];
    const t0 = performance.now();
    for (;;) {
      const now = performance.now();
      history.push({ at: now, bytes: moved() });
      while (history.length > 1 && history[1]!.at <= now - opts.windowMs) history.shift();
      const first = history[0]!;
      const last = history[history.length - 1]!;
      if (last.at - first.at >= opts.windowMs && last.bytes.every((b, k) => b - first.bytes[k]! <= opts.maxBytes)) return;
      if (now - t0 > opts.timeoutMs) {
        const busiest = Math.max(...last.bytes.map((b, k) => b - first.bytes[k]!));
        throw new Error(`wan links: not quiet after ${opts.timeoutMs} ms (busiest link moved ${busiest} B in the last ${Math.round(last.at - first.at)} ms, limit ${opts.maxBytes})`);
      }
      await new Promise((r) => setTimeout(r, poll));
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    // let bytes still on the wire arrive (FINs included) before the relays go away
    await new Promise((r) => setTimeout(r, this.spec.rttMs + 500));
    await Promise.all(this.relays.map((r) => r.relay.close()));
  }

  /** Matches each node's own per-connection counts (traffic files) against the relays'. */
  audit(trafficFiles: string[]): WanAudit {
    const traffic = trafficFiles.map((f) => (JSON.parse(readFileSync(f, 'utf8')) as { connections: ConnectionTraffic[] }).connections);
    const audit: WanAudit = { links: [], bypass: [], nodesSent: 0, relaysReceived: 0, nodesReceived: 0, relaysDelivered: 0, minOneWayMs: Infinity, maxOneWayMs: 0 };
    const claimed = new Set<ConnectionTraffic>();
    for (const { from, to, relay } of this.relays) {
      const s = relay.stats;
      const dialerConns = traffic[from]!.filter((c) => c.direction === 'outbound' && c.remotePort === relay.port);
      const listenerConns = traffic[to]!.filter((c) => c.direction === 'inbound' && c.remotePort !== null && s.upstreamPorts.includes(c.remotePort));
      for (const c of [...dialerConns, ...listenerConns]) claimed.add(c);
      const sum = (cs: ConnectionTraffic[], k: 'sent' | 'received') => cs.reduce((a, c) => a + c[k], 0);
      audit.links.push({ from, to, relay: { upReceived: s.up.received, upDelivered: s.up.delivered, downReceived: s.down.received, downDelivered: s.down.delivered }, dialer: { connections: dialerConns.length, sent: sum(dialerConns, 'sent'), received: sum(dialerConns, 'received') }, listener: { connections: listenerConns.length, sent: sum(listenerConns, 'sent'), received: sum(listenerConns, 'received') } });
      audit.relaysReceived += s.up.received + s.down.received;
      audit.relaysDelivered += s.up.delivered + s.down.delivered;
      audit.minOneWayMs = Math.min(audit.minOneWayMs, s.up.minDelayMs, s.down.minDelayMs);
      audit.maxOneWayMs = Math.max(audit.maxOneWayMs, s.up.maxDelayMs, s.down.maxDelayMs);
    }
    for (const [node, conns] of traffic.entries()) {
      for (const c of conns) {
        audit.nodesSent += c.sent;
        audit.nodesReceived += c.received;
        if (!claimed.has(c)) audit.bypass.push({ node, conn: c });
      }
    }
    return audit;
  }
}

export interface LinkProbe {
  configured: { rttMs: number; rateMbit: number };
  /** Echo of a 64-byte message, ms: the smallest and the median of `pings`. */
  rttMs: { min: number; median: number };
  /** A `bytes` transfer one way, from the first byte written to the last byte read. */
  rateMbit: number;
  bytes: number;
}

/** Measures a relay of this shape on its own: ping RTT and one-way throughput. */
export async function probeLink(shape: LinkShape, bytes = 4 << 20, pings = 7): Promise<LinkProbe> {
  const server = createServer((s) => {
    let mode: 'echo' | 'sink' | null = null;
    let got = 0;
    s.on('data', (b: Buffer) => {
      mode ??= b[0] === 0x65 ? 'echo' : 'sink';
      if (mode === 'echo') s.write(b);
      else if ((got += b.length) >= bytes) s.write('k');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const relay = await WanRelay.start({ target: { host: '127.0.0.1', port: (server.address() as { port: number }).port }, ...shape });
  const open = async () => {
    const c = createConnection({ host: '127.0.0.1', port: relay.port, noDelay: true });
    await new Promise((r) => c.once('connect', r));
    return c;
  };
  try {
    const c = await open();
    const rtts: number[] = [];
    for (let i = 0; i < pings; i++) {
      const t0 = performance.now();
      const back = new Promise<void>((r) => {
        let n = 0;
        const on = (b: Buffer) => {
          if ((n += b.length) >= 64) {
            c.off('data', on);
            r();
          }
        };
        c.on('data', on);
      });
      c.write(Buffer.alloc(64, 0x65));
      await back;
      rtts.push(performance.now() - t0);
    }
    c.destroy();
    const d = await open();
    const done = new Promise((r) => d.once('data', r));
    const t0 = performance.now();
    const chunk = Buffer.alloc(64 * 1024, 0x73);
    for (let o = 0; o < bytes; o += chunk.length) if (!d.write(chunk)) await new Promise((r) => d.once('drain', r));
    await done;
    // the acknowledgement crosses back in rtt/2: subtract it, and the first byte's own rtt/2
    const ms = performance.now() - t0 - shape.rttMs;
    d.destroy();
    rtts.sort((a, b) => a - b);
    return { configured: { rttMs: shape.rttMs, rateMbit: shape.rateBps / 1e6 }, rttMs: { min: +rtts[0]!.toFixed(2), median: +rtts[rtts.length >> 1]!.toFixed(2) }, rateMbit: +((bytes * 8) / ms / 1000).toFixed(2), bytes };
  } finally {
    await relay.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** Parses "40ms", "1.5s", "0" into ms. */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v.trim());
  if (!m) throw new Error(`not a duration: "${v}" (e.g. 40ms, 3s)`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/** Parses "100mbit", "20Mbit", "512kbit", "1gbit" into bits per second. */
export function parseRate(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|m|g)?bit$/i.exec(v.trim());
  if (!m) throw new Error(`not a rate: "${v}" (e.g. 100mbit, 20mbit)`);
  return Number(m[1]) * ({ k: 1e3, m: 1e6, g: 1e9 }[(m[2] ?? '').toLowerCase()] ?? 1);
}
