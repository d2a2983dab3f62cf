// A 3-site federation of real `flnode start` processes where every connection crosses a WAN relay
// (40 ms RTT, 100 Mbit/s): two rounds end with one model hash everywhere, no node ever held a
// connection that did not go through one of its relays, and the nodes' own byte counts (read from
// their TCP sockets through libp2p's metrics hook) match the relays'.
import assert from 'node:assert/strict';
import { startTestbed, type Testbed } from '../../node/testbed/testbed.ts';
import { parseWanSpec } from '../../node/testbed/wan.ts';

const timeouts = { heartbeatMs: 300, livenessMs: 4000, keysMs: 8000, trainingMs: 12000, collectMs: 6000, aggregateMs: 6000 };

describe('wan testbed: 3 sites through relays', function () {
  this.timeout(240_000);
  let tb: Testbed | null = null;
  afterEach(async function () {
    if (tb && this.currentTest?.state === 'failed') console.error(`  testbed dir kept for inspection: ${tb.dir}`);
    await tb?.stop();
    tb = null;
  });

  it('parses the --wan spec and rejects bad ones', () => {
    assert.deepEqual(parseWanSpec('rtt=40ms,rate=100mbit'), { rttMs: 40, rateBps: 100e6, stall: undefined, cut: undefined, faultSite: undefined });
    assert.deepEqual(parseWanSpec('rtt=150ms,rate=20mbit,stall=3s@10s,cut=5s@20s,site=1'), { rttMs: 150, rateBps: 20e6, stall: { forMs: 3000, atMs: 10000 }, cut: { forMs: 5000, atMs: 20000 }, faultSite: 1 });
    assert.equal(parseWanSpec('rtt=40ms,rate=100mbit,uplink=site').uplink, 'site');
    assert.throws(() => parseWanSpec('rtt=40ms,rate=100mbit,uplink=shared'), /uplink=link or uplink=site/);
    assert.throws(() => parseWanSpec('rtt=40ms'), /needs rtt=… and rate=…/);
    assert.throws(() => parseWanSpec('rtt=40ms,rate=100mbit,loss=1%'), /unknown key "loss"/);
    assert.throws(() => parseWanSpec('rtt=40ms,rate=100mbit,stall=3s'), /DURATION@START/);
  });

  it('2 rounds at 40 ms / 100 Mbit/s: one model hash; every connection and byte went through the relays', async () => {
    const t0 = Date.now();
    tb = await startTestbed({ nodes: 3, rounds: 2, data: 'data/pneumoniamnist.npz', maxTrainSamples: 200, maxEvalSamples: 100, timeouts, wan: parseWanSpec('rtt=40ms,rate=100mbit') });
    tb.start();
    await tb.waitFor((n, s) => !!s?.completed || !n.process, 180_000);
    await tb.waitFor(() => new Set(tb!.nodes.map((n) => n.status()?.model.hash)).size === 1, 30_000).catch(() => undefined);
    const hashes = tb.nodes.map((n) => n.status()?.model.hash);
    const versions = tb.nodes.map((n) => n.status()?.model.version);
    // A node that committed first re-sends its last round's messages (a cryptogram is 220 kB) until
    // every member's heartbeat shows the new model; stopping then would leave a cryptogram on the
    // wire that no node reads. Stop once every link is down to heartbeats and gossip control
    // (measured ~14 kB a second per link at a 300 ms heartbeat; the limit is a fifth of a cryptogram).
    await tb.waitForQuietLinks({ windowMs: 1000, maxBytes: 48_000, timeoutMs: 30_000 });
    await tb.stop();
    assert.equal(new Set(hashes).size, 1, `model hashes differ: ${hashes.join(', ')}`);
    assert.deepEqual(versions, [2, 2, 2]);
    const audit = tb.wanAudit()!;
    assert.deepEqual(audit.bypass, [], 'every connection of every node ends at one of its relays');
    // every ordered pair that connected carried traffic; at least one direction per pair of sites
    for (const [i, j] of [[0, 1], [0, 2], [1, 2]] as const) {
      const bytes = audit.links.filter((l) => (l.from === i && l.to === j) || (l.from === j && l.to === i)).reduce((a, l) => a + l.relay.upDelivered + l.relay.downDelivered, 0);
      assert.ok(bytes > 100_000, `sites ${i} and ${j} exchanged ${bytes} bytes through their relays`);
    }
    // Per link, the relay read at most what each node wrote, and what a node read is at most what
    // the relay delivered to it. They differ only by what never crossed: a dial aborted in a
    // simultaneous-dial race counts its 20-byte multistream header as written though the socket
    // was destroyed first; a connection hung up with a reset (a peer silent too long on a loaded
    // machine) loses what was still buffered; a node that exits first does not read the frames
    // still crossing the 20 ms of delay (heartbeats and closing frames: the links were quiet).
    // Allowed: 128 B per connection plus 1 % of the link's bytes. A connection that bypassed the
    // relays would also be listed in audit.bypass.
    const within = (a: number, b: number, total: number, conns: number) => b <= a && a - b <= 128 * Math.max(1, conns) + total / 100;
    for (const l of audit.links) {
      const at = `link ${l.from}→${l.to} ${JSON.stringify(l)}`;
      const conns = l.dialer.connections + l.listener.connections;
      const total = l.relay.upReceived + l.relay.downReceived;
      assert.ok(within(l.dialer.sent, l.relay.upReceived, total, conns), `dialer wrote vs relay read: ${at}`);
      assert.ok(within(l.listener.sent, l.relay.downReceived, total, conns), `listener wrote vs relay read: ${at}`);
      assert.ok(within(l.relay.upDelivered, l.listener.received, total, conns), `relay delivered vs listener read: ${at}`);
      assert.ok(within(l.relay.downDelivered, l.dialer.received, total, conns), `relay delivered vs dialer read: ${at}`);
    }
    const conns = audit.links.reduce((a, l) => a + l.dialer.connections + l.listener.connections, 0);
    assert.ok(within(audit.nodesSent, audit.relaysReceived, audit.relaysReceived, conns), `nodes wrote ${audit.nodesSent} B, relays read ${audit.relaysReceived} B`);
    assert.ok(audit.minOneWayMs >= 20, `a relay delivered after ${audit.minOneWayMs} ms < rtt/2`);
    console.log(`      ${audit.links.length} links, ${conns} connection ends, relays read ${audit.relaysReceived} B and delivered ${audit.relaysDelivered} B, nodes wrote ${audit.nodesSent} B and read ${audit.nodesReceived} B; min one-way ${audit.minOneWayMs.toFixed(1)} ms; wall ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
});

describe('only-dial-peers gater', () => {
  it('denies an address learned through identify (the peer\'s own listen address), allows its relay', async () => {
    const { onlyDialGater } = await import('../../node/p2p/libp2p-network.ts');
    const { multiaddr } = await import('@multiformats/multiaddr');
    const id = '12D3KooWEP1uQmaXfDcvF9ika86d3Rqt9MYu2GA39RJ8NgVcWybz';
    const g = onlyDialGater([`/ip4/127.0.0.1/tcp/6000/p2p/${id}`]);
    assert.equal(g.denyDialMultiaddr(multiaddr(`/ip4/127.0.0.1/tcp/6000/p2p/${id}`)), false);
    assert.equal(g.denyDialMultiaddr(multiaddr('/ip4/127.0.0.1/tcp/6000')), false);
    assert.equal(g.denyDialMultiaddr(multiaddr(`/ip4/127.0.0.1/tcp/5000/p2p/${id}`)), true, 'direct listen address');
    assert.equal(g.denyDialMultiaddr(multiaddr(`/ip4/10.0.0.7/tcp/6000/p2p/${id}`)), true, 'same port, other host');
  });
});
