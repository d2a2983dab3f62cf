// Only manifest members connect (PROTOCOL.md §1): real libp2p nodes on loopback TCP. A non-member
// (an outsider with a valid libp2p identity) that dials members, or that a member is told to dial,
// never gets a connection, so it receives no message of the consortium's topic; each member says
// why in one log line, however often the outsider redials.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { pino, type Logger } from 'pino';
import { initIdentity, type SiteIdentity } from '../../node/identity.ts';
import { membershipGater } from '../../node/p2p/gater.ts';
import { createLibp2pNetwork } from '../../node/p2p/libp2p-network.ts';
import type { Network } from '../../node/types.ts';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A debug-level logger whose JSON lines land in `lines`. */
function captured(lines: string[]): Logger {
  return pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
}

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

const refusalsOf = (lines: string[], peer: string) => lines.filter((l) => l.includes('not a member') && l.includes(peer));

describe('node: only manifest members connect (libp2p connection gater)', function () {
  this.timeout(90_000);
  let dir: string;
  const nets: Network[] = [];
  const nodes: Libp2p[] = [];
  before(() => void (dir = mkdtempSync(join(tmpdir(), 'flnode-gater-'))));
  after(async () => {
    for (const n of nets) await n.stop().catch(() => undefined);
    for (const n of nodes) await Promise.resolve(n.stop()).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a non-member that dials two members, and that one member is configured to dial, cannot connect and receives no message of the topic; the refusal is logged once per member', async () => {
    const [a, b, x] = (await Promise.all(['a', 'b', 'x'].map((n) => initIdentity(join(dir, n))))) as [SiteIdentity, SiteIdentity, SiteIdentity];
    const [pa, pb, px] = await Promise.all([freePort(), freePort(), freePort()]);
    const addr = (id: SiteIdentity, port: number) => `/ip4/127.0.0.1/tcp/${port}/p2p/${id.peerId}`;
    const members = [a.peerId, b.peerId];
    const logs = { a: [] as string[], b: [] as string[], x: [] as string[] };
    const got = { a: [] as string[], b: [] as string[], x: [] as string[] };
    const consortium = 'gater-consortium';
    const mk = async (who: 'a' | 'b' | 'x', identity: SiteIdentity, port: number, peers: string[], admitted: string[]) => {
      const net = await createLibp2pNetwork({ identity, consortium, listen: [`/ip4/127.0.0.1/tcp/${port}`], peers, members: admitted, log: captured(logs[who]) });
      net.setValidator(() => 'accept');
      net.onMessage((m, from) => void got[who].push(`${from}:${Buffer.from(m).toString()}`));
      nets.push(net);
      return net;
    };
    // member a is (mis)configured to dial the outsider too; the outsider admits everyone and dials both members
    const na = await mk('a', a, pa, [addr(b, pb), addr(x, px)], members);
    const nb = await mk('b', b, pb, [addr(a, pa)], members);
    const nx = await mk('x', x, px, [addr(a, pa), addr(b, pb)], [...members, x.peerId]);
    for (const n of [na, nb, nx]) await n.start();
    let seq = 0;
    const membersSawX = new Set<string>();
    const pump = setInterval(() => {
      for (const [name, n] of [['a', na], ['b', nb]] as const) if (n.connectedPeers().includes(x.peerId)) membersSawX.add(name);
      void na.publish(Buffer.from(`a-${seq}`));
      void nb.publish(Buffer.from(`b-${seq++}`));
    }, 200);
    try {
      // The topic works between members, and the outsider has dialled each member several times.
      // (Noise's XX handshake authenticates the dialler last, so the outsider's own side may hold a
      // connection for the moment it takes the member's reset to arrive: it opens no stream on it.)
      const dialsOf = (id: string) => logs.x.filter((l) => (l.includes('dial failed') || l.includes('"connected"')) && l.includes(id)).length;
      const progressed = await until(() => got.a.length >= 5 && got.b.length >= 5 && dialsOf(a.peerId) >= 3 && dialsOf(b.peerId) >= 3, 40_000);
      assert.deepEqual(got.x, [], `the outsider received ${got.x.length} topic messages`);
      assert.deepEqual([...membersSawX], [], 'no member ever held a connection to the outsider');
      assert.ok(!na.connectedPeers().includes(x.peerId) && !nb.connectedPeers().includes(x.peerId));
      assert.ok(progressed, `members exchanged messages (${got.a.length}, ${got.b.length}) and the outsider dialled them (${dialsOf(a.peerId)}, ${dialsOf(b.peerId)} times)`);
      assert.equal(refusalsOf(logs.a, x.peerId).length, 1, `member a logs the refusal once:\n${refusalsOf(logs.a, x.peerId).join('\n')}`);
      assert.equal(refusalsOf(logs.b, x.peerId).length, 1, `member b logs the refusal once:\n${refusalsOf(logs.b, x.peerId).join('\n')}`);
    } finally {
      clearInterval(pump);
    }
  });

  it('the gater refuses an outbound connection once noise has authenticated a non-member (a dial by address only), and a dial by its peer id before any socket opens', async () => {
    const [m, x] = (await Promise.all(['m', 'x2'].map((n) => initIdentity(join(dir, n))))) as [SiteIdentity, SiteIdentity];
    const lines: string[] = [];
    const make = (identity: SiteIdentity, gater?: ReturnType<typeof membershipGater>) =>
      createLibp2p({ privateKey: identity.privateKey, addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], ...(gater ? { connectionGater: gater } : {}) });
    const member = await make(m, membershipGater({ members: [m.peerId], log: captured(lines) }));
    const outsider = await make(x);
    nodes.push(member, outsider);
    const where = outsider.getMultiaddrs()[0]!;
    const bare = multiaddr(where.toString().replace(/\/p2p\/.*$/, ''));
    for (let i = 0; i < 3; i++) {
      await assert.rejects(member.dial(bare, { signal: AbortSignal.timeout(5000) }), (err: Error) => /gater/i.test(err.message), 'dial by address refused after the handshake');
      await assert.rejects(member.dial(where, { signal: AbortSignal.timeout(5000) }), (err: Error) => /gater/i.test(err.message), 'dial by peer id refused');
    }
    assert.equal(member.getConnections().length, 0);
    assert.equal(outsider.getConnections().length, 0);
    assert.equal(refusalsOf(lines, x.peerId).length, 1, lines.join('\n'));
  });

  it('with only-dial-peers the combined gater still denies addresses outside --peers (the WAN relays)', async () => {
    const [m] = (await Promise.all(['m3'].map((n) => initIdentity(join(dir, n))))) as [SiteIdentity];
    const id = '12D3KooWEP1uQmaXfDcvF9ika86d3Rqt9MYu2GA39RJ8NgVcWybz';
    const g = membershipGater({ members: [m.peerId, id], log: pino({ level: 'silent' }), onlyDial: [`/ip4/127.0.0.1/tcp/6000/p2p/${id}`] });
    assert.equal(g.denyDialMultiaddr(multiaddr(`/ip4/127.0.0.1/tcp/6000/p2p/${id}`)), false);
    assert.equal(g.denyDialMultiaddr(multiaddr(`/ip4/127.0.0.1/tcp/5000/p2p/${id}`)), true, 'a listen address learned through identify');
  });
});
