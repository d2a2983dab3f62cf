// The WAN relay on its own: bytes arrive intact and in order, never earlier than rtt/2 after they
// were written, at no more than the configured rate; a cut closes both sides cleanly; a stall
// holds delivery. Only lower bounds on time are asserted (they hold on a loaded machine).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { parseDuration, parseRate, WanLinks } from '../../node/testbed/wan.ts';
import { Bottleneck, WanRelay } from '../../node/testbed/wan-relay.ts';

interface Sink {
  server: Server;
  port: number;
  /** Cumulative byte count and arrival time of each chunk, per accepted connection. */
  conns: { socket: Socket; arrivals: { bytes: number; at: number }[]; data: Buffer[]; ended: boolean; error: Error | null; closed: Promise<void> }[];
}

/** A target server that records what arrives and when; echo: sends every chunk back. */
async function sink(echo = false): Promise<Sink> {
  const s: Sink = { server: createServer({ allowHalfOpen: false }), port: 0, conns: [] };
  s.server.on('connection', (socket) => {
    const c = { socket, arrivals: [] as { bytes: number; at: number }[], data: [] as Buffer[], ended: false, error: null as Error | null, closed: Promise.resolve() };
    let total = 0;
    socket.on('data', (b: Buffer) => {
      total += b.length;
      c.arrivals.push({ bytes: total, at: performance.now() });
      c.data.push(b);
      if (echo) socket.write(b);
    });
    socket.on('end', () => void (c.ended = true));
    socket.on('error', (e) => void (c.error = e));
    c.closed = new Promise((r) => socket.once('close', () => r()));
    s.conns.push(c);
  });
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', () => r()));
  s.port = (s.server.address() as { port: number }).port;
  return s;
}

async function connect(port: number): Promise<Socket> {
  const c = createConnection({ host: '127.0.0.1', port, noDelay: true });
  await new Promise<void>((res, rej) => {
    c.once('connect', () => res());
    c.once('error', rej);
  });
  return c;
}

const until = async (cond: () => boolean, ms = 20_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('wan relay', function () {
  this.timeout(30_000);
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0)) await f();
  });
  async function setup(rttMs: number, rateBps: number, echo = false) {
    const target = await sink(echo);
    const relay = await WanRelay.start({ target: { host: '127.0.0.1', port: target.port }, rttMs, rateBps });
    cleanup.push(() => relay.close(), () => new Promise<void>((r) => target.server.close(() => r())));
    return { target, relay };
  }

  it('parses durations and rates', () => {
    assert.equal(parseDuration('40ms'), 40);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseRate('100mbit'), 100e6);
    assert.equal(parseRate('20Mbit'), 20e6);
    assert.equal(parseRate('512kbit'), 512e3);
    assert.throws(() => parseRate('100mb'), /not a rate/);
    assert.throws(() => parseDuration('fast'), /not a duration/);
  });

  it('delivers 1 MiB intact, each byte ≥ rtt/2 after it was written, no faster than the rate', async () => {
    const rttMs = 80;
    const rateBps = 20e6;
    const { target, relay } = await setup(rttMs, rateBps);
    const client = await connect(relay.port);
    cleanup.push(() => void client.destroy());
    const payload = randomBytes(1 << 20);
    const writes: { end: number; at: number }[] = [];
    for (let o = 0; o < payload.length; o += 50_000) {
      const piece = payload.subarray(o, o + 50_000);
      writes.push({ end: o + piece.length, at: performance.now() });
      client.write(piece);
      await new Promise((r) => setTimeout(r, 2)); // spread the writes so per-chunk delays are checked
    }
    await until(() => (target.conns[0]?.arrivals.at(-1)?.bytes ?? 0) === payload.length);
    const c = target.conns[0]!;
    assert.equal(sha(Buffer.concat(c.data)), sha(payload), 'bytes arrive intact and in order');
    // the last byte of every arrival was written (at the earliest) at the time recorded for the
    // write that contains it; it must not arrive before that time + rtt/2
    let minSlack = Infinity;
    for (const a of c.arrivals) {
      const w = writes.find((x) => x.end >= a.bytes)!;
      minSlack = Math.min(minSlack, a.at - w.at);
      assert.ok(a.at - w.at >= rttMs / 2, `byte ${a.bytes} arrived ${(a.at - w.at).toFixed(2)} ms after it was written (< ${rttMs / 2} ms)`);
    }
    // rate: the whole payload cannot cross a rate-limited link faster than size/rate (+ rtt/2)
    const elapsed = c.arrivals.at(-1)!.at - writes[0]!.at;
    const minMs = (payload.length * 8 * 1000) / rateBps + rttMs / 2;
    assert.ok(elapsed >= minMs, `1 MiB took ${elapsed.toFixed(1)} ms, less than size/rate + rtt/2 = ${minMs.toFixed(1)} ms`);
    assert.equal(relay.stats.up.received, payload.length);
    assert.equal(relay.stats.up.delivered, payload.length);
    assert.ok(relay.stats.up.minDelayMs >= rttMs / 2);
    console.log(`      1 MiB at 20 Mbit/s, rtt 80 ms: ${elapsed.toFixed(0)} ms (floor ${minMs.toFixed(0)}), smallest write→arrival ${minSlack.toFixed(1)} ms, achieved ${((payload.length * 8) / elapsed / 1000).toFixed(1)} Mbit/s`);
  });

  it('relays sharing a bottleneck (a site uplink) share its rate: 2 × 512 KiB at once take ≥ 1 MiB/rate', async () => {
    const rateBps = 20e6;
    const target = await sink();
    const shared = new Bottleneck();
    const relays = [await WanRelay.start({ target: { host: '127.0.0.1', port: target.port }, rttMs: 10, rateBps, upBottleneck: shared }), await WanRelay.start({ target: { host: '127.0.0.1', port: target.port }, rttMs: 10, rateBps, upBottleneck: shared })];
    cleanup.push(() => Promise.all(relays.map((r) => r.close())).then(() => undefined), () => new Promise<void>((r) => target.server.close(() => r())));
    const clients = await Promise.all(relays.map((r) => connect(r.port)));
    cleanup.push(() => clients.forEach((c) => c.destroy()));
    const half = 512 * 1024;
    const t0 = performance.now();
    for (const c of clients) c.write(randomBytes(half));
    await until(() => target.conns.length === 2 && target.conns.every((c) => c.arrivals.at(-1)?.bytes === half));
    const elapsed = Math.max(...target.conns.map((c) => c.arrivals.at(-1)!.at)) - t0;
    const floor = (2 * half * 8 * 1000) / rateBps;
    assert.ok(elapsed >= floor, `2 × 512 KiB over one shared 20 Mbit/s bottleneck took ${elapsed.toFixed(1)} ms < ${floor.toFixed(1)} ms`);
  });

  it('delays both directions: an echo round trip takes ≥ rtt, and the byte counts match each way', async () => {
    const rttMs = 60;
    const { relay } = await setup(rttMs, 100e6, true);
    const client = await connect(relay.port);
    cleanup.push(() => void client.destroy());
    const got: Buffer[] = [];
    client.on('data', (b: Buffer) => got.push(b));
    for (let i = 0; i < 3; i++) {
      const msg = randomBytes(100);
      const before = Buffer.concat(got).length;
      const t0 = performance.now();
      client.write(msg);
      await until(() => Buffer.concat(got).length === before + 100);
      const rtt = performance.now() - t0;
      assert.ok(rtt >= rttMs, `echo round trip ${rtt.toFixed(1)} ms < ${rttMs} ms`);
      assert.deepEqual(Buffer.concat(got).subarray(before), msg);
    }
    assert.equal(relay.stats.up.delivered, 300);
    assert.equal(relay.stats.down.delivered, 300);
    assert.equal(relay.stats.connections, 1);
  });

  it('a cut closes both sides with a FIN (no reset), refuses new connections until restored', async () => {
    const { target, relay } = await setup(20, 100e6);
    const client = await connect(relay.port);
    let clientEnded = false;
    let clientError: Error | null = null;
    client.on('end', () => void (clientEnded = true));
    client.on('error', (e) => void (clientError = e));
    const clientClosed = new Promise<boolean>((r) => client.once('close', (hadError) => r(hadError)));
    client.write('hello');
    await until(() => target.conns[0]?.arrivals.length === 1);
    relay.cut();
    assert.equal(await clientClosed, false, 'client socket closed without error');
    await target.conns[0]!.closed;
    assert.ok(clientEnded, 'client saw end of stream');
    assert.ok(target.conns[0]!.ended, 'target saw end of stream');
    assert.equal(clientError, null);
    assert.equal(target.conns[0]!.error, null);
    // while cut: a new connection is accepted and closed at once, nothing reaches the target
    const c2 = await connect(relay.port);
    const c2Closed = new Promise<boolean>((r) => c2.once('close', (e) => r(e)));
    c2.on('error', () => undefined);
    c2.on('data', () => assert.fail('no data while cut'));
    assert.equal(await c2Closed, false);
    assert.equal(target.conns.length, 1, 'no connection reached the target while cut');
    relay.restore();
    const c3 = await connect(relay.port);
    cleanup.push(() => void c3.destroy());
    c3.write('again');
    await until(() => target.conns[1]?.arrivals.length === 1);
    assert.equal(Buffer.concat(target.conns[1]!.data).toString(), 'again');
  });

  it('a stall holds delivery until it ends, then delivers everything intact', async () => {
    const rttMs = 20;
    const { target, relay } = await setup(rttMs, 100e6);
    const client = await connect(relay.port);
    cleanup.push(() => void client.destroy());
    client.write('a');
    await until(() => target.conns[0]?.arrivals.length === 1);
    const stallMs = 700;
    const t0 = performance.now();
    relay.stall(stallMs);
    const msg = randomBytes(200_000);
    client.write(msg);
    await until(() => (target.conns[0]!.arrivals.at(-1)?.bytes ?? 0) === 1 + msg.length);
    const firstAfter = target.conns[0]!.arrivals[1]!.at;
    assert.ok(firstAfter - t0 >= stallMs, `first byte after the stall began arrived after ${(firstAfter - t0).toFixed(1)} ms (< ${stallMs} ms)`);
    assert.deepEqual(Buffer.concat(target.conns[0]!.data).subarray(1), msg);
  });

  it('links are quiet only a full window after the last byte moved, and say so when they never are', async () => {
    const targets = [await sink(), await sink()];
    const links = await WanLinks.start({ rttMs: 20, rateBps: 100e6 }, targets.map((t) => t.port));
    cleanup.push(() => Promise.all(links.relays.map((r) => r.relay.close())).then(() => undefined), ...targets.map((t) => () => new Promise<void>((r) => t.server.close(() => r()))));
    const client = await connect(links.relayPort(0, 1));
    cleanup.push(() => void client.destroy());
    let lastWrite = 0;
    let sent = 0;
    const writer = setInterval(() => {
      client.write(randomBytes(64 * 1024));
      lastWrite = performance.now();
      if (++sent === 12) clearInterval(writer);
    }, 40);
    cleanup.push(() => clearInterval(writer));
    const windowMs = 300;
    await links.quiet({ windowMs, maxBytes: 1000, timeoutMs: 20_000, pollMs: 10 });
    const quietAt = performance.now();
    assert.equal(sent, 12, 'quiet while still sending');
    assert.ok(quietAt - lastWrite >= windowMs, `quiet ${(quietAt - lastWrite).toFixed(0)} ms after the last write (< ${windowMs} ms)`);
    await until(() => (target1Bytes() === 12 * 64 * 1024));
    function target1Bytes() {
      return targets[1]!.conns.reduce((a, c) => a + (c.arrivals.at(-1)?.bytes ?? 0), 0);
    }
    // a link that keeps carrying traffic is never quiet: the wait fails with the busiest link's bytes
    const busy = setInterval(() => client.write(randomBytes(16 * 1024)), 20);
    cleanup.push(() => clearInterval(busy));
    await assert.rejects(links.quiet({ windowMs: 200, maxBytes: 1000, timeoutMs: 800, pollMs: 10 }), /not quiet after 800 ms \(busiest link moved \d+ B/);
  });
});
