// Per-connection byte counts as libp2p's own transport sees them: a minimal libp2p Metrics whose
// trackMultiaddrConnection (called by the upgrader for every inbound and outbound connection)
// keeps the TCP socket and reads its kernel-level counters; every other metric is a no-op.
// Used by the WAN testbed to prove that every byte went through its relays.
import { renameSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Metrics, MultiaddrConnection } from '@libp2p/interface';

export interface ConnectionTraffic {
  direction: 'inbound' | 'outbound';
  remoteAddr: string;
  localPort: number | null;
  remotePort: number | null;
  /** Bytes written to and read from the socket (noise frames, i.e. what crosses the wire). */
  sent: number;
  received: number;
  closed: boolean;
}

export class TrafficCounter {
  private readonly conns: { maConn: MultiaddrConnection; socket: Socket | null; localPort: number | null; remotePort: number | null }[] = [];

  /** The `metrics` component for createLibp2p. */
  metrics(): Metrics {
    const noop = { update() {}, increment() {}, decrement() {}, reset() {}, observe() {}, timer: () => () => {} };
    return {
      trackMultiaddrConnection: (maConn: MultiaddrConnection) => {
        const socket = (maConn as unknown as { socket?: Socket }).socket ?? null;
        this.conns.push({ maConn, socket, localPort: socket?.localPort ?? null, remotePort: socket?.remotePort ?? null });
      },
      trackProtocolStream: () => undefined,
      registerMetric: () => noop,
      registerMetricGroup: () => noop,
      registerCounter: () => noop,
      registerCounterGroup: () => noop,
      registerHistogram: () => noop,
      registerHistogramGroup: () => noop,
      registerSummary: () => noop,
      registerSummaryGroup: () => noop,
      traceFunction: (_name: string, fn: unknown) => fn,
      createTrace: () => undefined,
    } as unknown as Metrics;
  }

  snapshot(): ConnectionTraffic[] {
    return this.conns.map((c) => ({
      direction: c.maConn.direction,
      remoteAddr: c.maConn.remoteAddr.toString(),
      localPort: c.localPort,
      remotePort: c.remotePort,
      sent: c.socket?.bytesWritten ?? 0,
      received: c.socket?.bytesRead ?? 0,
      closed: c.socket?.destroyed ?? true,
    }));
  }

  /** Writes the snapshot as JSON, atomically. */
  write(file: string): void {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ at: Date.now(), connections: this.snapshot() }));
    renameSync(tmp, file);
  }
}
