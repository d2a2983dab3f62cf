// Live hostile-peer and crash scenarios on a 3-node loopback testbed (real processes, real data,
// small partitions, short timeouts). Every scenario ends with all honest nodes on one model hash.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeEnvelope, MessageKind } from '../../protocol/index.ts';
import { initIdentity } from '../../node/identity.ts';
import { createLibp2pNetwork } from '../../node/p2p/libp2p-network.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import { startTestbed, type Testbed, type TestbedNode } from '../../node/testbed/testbed.ts';
import type { Network } from '../../node/types.ts';

import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { recordModels, tally } from './summary.ts';

const fast = { heartbeatMs: 300, livenessMs: 3000, keysMs: 6000, trainingMs: 12000, collectMs: 4000, aggregateMs: 5000 };
const base = { nodes: 3, data: 'data/pneumoniamnist.npz', maxTrainSamples: 300, maxEvalSamples: 200, timeouts: fast };

const logOf = (n: TestbedNode): string => {
  try {
    return readFileSync(join(n.dir, 'node.log'), 'utf8');
  } catch {
    return '';
  }
};

/** Wait until `which` complete, then check they agree; tallies rounds and the model verdict. */
async function finish(tb: Testbed, which: TestbedNode[], timeoutMs: number): Promise<string[]> {
  try {
    await tb.waitFor((_n, s) => !!s?.completed, timeoutMs, which);
  } catch (err) {
    recordModels(false); // a federation that never finished did not end on one model
    tally.roundsCompleted += Math.min(...which.map((n) => n.status()?.model.version ?? 0));
    throw err;
  }
  // a node that briefly diverged adopts the majority model (vouched for by signed heartbeats)
  await tb.waitFor(() => new Set(which.map((n) => n.status()!.model.hash)).size === 1, 20_000, which).catch(() => undefined);
  const hashes = which.map((n) => n.status()!.model.hash);
  const identical = new Set(hashes).size === 1;
  recordModels(identical);
  tally.roundsCompleted += Math.min(...which.map((n) => n.status()!.model.version));
  return hashes;
}

/** Processes that died on their own (not by a signal the test sent) are crashes. */
const watched = new WeakSet<object>();
function watchCrashes(tb: Testbed): void {
  for (const n of tb.nodes) {
    const p = n.process;
    if (!p || watched.has(p)) continue;
    watched.add(p);
    p.on('exit', (code, signal) => {
      if (signal === null && code !== 0) tally.crashes++;
    });
  }
}

describe('faults: live scenarios on a 3-node testbed', function () {
  this.timeout(480_000);
  let tb: Testbed | null = null;
  let intruder: Network | null = null;
  afterEach(async () => {
    await intruder?.stop().catch(() => undefined);
    intruder = null;
    await tb?.stop();
    tb = null;
  });

  it('a non-member peer cannot connect (refused once noise names it, logged once) and receives nothing; an equivocating member is dropped', async () => {
    let equivocator = -1;
    tb = await startTestbed({ ...base, rounds: 2, env: (i) => (i === equivocator ? { NODE_ENV: 'test', FLNODE_TEST_FAULT: 'equivocate' } : {}) });
    equivocator = 2;
    tb.start();
    watchCrashes(tb);
    tally.faultsInjected++; // the equivocator
    const target = tb.nodes[0]!;
    // the target listens before the intruder starts, so each of its failed dials is a refusal
    await tb.waitFor((_n, s) => s !== null, 60_000, [target]);
    const id = await initIdentity(mkdtempSync(join(tmpdir(), 'flnode-intruder-')));
    // The intruder admits everyone itself, dials the target (redialling as a member would) and
    // would publish forged key announcements and garbage the moment it had a peer.
    const intruderLog: string[] = [];
    const received: Uint8Array[] = [];
    intruder = await createLibp2pNetwork({ identity: id, consortium: tb.manifest.consortium, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [`/ip4/127.0.0.1/tcp/${target.port}/p2p/${target.peerId}`], members: [...tb.manifest.members.map((m) => m.peerId), id.peerId], log: pino({ level: 'debug' }, { write: (l: string) => void intruderLog.push(l) }) });
    intruder.setValidator(() => 'accept');
    intruder.onMessage((m) => void received.push(m));
    await intruder.start();
    const refusals = () => logOf(target).split('\n').filter((l) => l.includes('not a member') && l.includes(id.peerId));
    const dials = () => intruderLog.filter((l) => (l.includes('dial failed') || l.includes('"connected"')) && l.includes(target.peerId)).length;
    let published = 0;
    for (let i = 0; i < 20; i++) {
      const garbage = new Uint8Array(100 + i).map((_, j) => (j * 31 + i) & 0xff);
      const forged = encodeEnvelope({ consortium: tb.manifest.consortium, round: 1, attempt: 0, sender: id.peerId }, { kind: MessageKind.KeyAnnouncement, body: { publicKey: new Uint8Array(32).fill(i), samples: 10 } }, id.signingSecret);
      for (const m of [garbage, forged]) {
        await intruder.publish(m);
        published++;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await tb.waitFor(() => refusals().length > 0 && dials() >= 3, 60_000, [target]).catch(() => undefined);
    const attempts = dials();
    tally.faultsInjected += attempts + published;
    tally.cases += attempts;
    assert.ok(attempts >= 3, `the intruder dialled the target ${attempts} times`);
    assert.equal(refusals().length, 1, `the target logged the refusal once (logs in ${tb.dir}):\n${refusals().join('\n')}`);
    assert.ok(!logOf(target).split('\n').some((l) => l.includes('message rejected') && l.includes(id.peerId)), 'no message of the intruder reached the validator');
    const honest = tb.nodes.filter((_, i) => i !== equivocator);
    const hashes = await finish(tb, honest, 180_000);
    assert.equal(new Set(hashes).size, 1, `honest hashes differ: ${hashes}`);
    // nothing of the topic reached the intruder over the whole federation
    assert.equal(received.length, 0, `the intruder received ${received.length} topic messages`);
    tally.refusedConnections += attempts;
    // the equivocation was detected by the honest nodes and recorded
    const detected = honest.some((n) => (n.status()!.events ?? []).some((e) => e.kind === 'equivocation') || logOf(n).includes('two different cryptograms'));
    assert.ok(detected, 'equivocation recorded by an honest node');
    assert.ok(!honest[0]!.status()!.rounds.find((r) => r.round === 1)!.participants.includes(tb.nodes[equivocator]!.peerId), 'round 1 completed without the equivocator');
  });

  // One faulty aggregator on the real stack (processes, libp2p validators, level). The other
  // aggregator faults (false dropout, equivocation) and every crash point are covered engine-level
  // in the deterministic simulation (test/sim/rules.test.ts).
  it('the aggregator of round 1 publishes a bad aggregate: honest members reject it and the failover completes', async () => {
    let bad = '';
    const env = (i: number): Record<string, string> => (tb!.nodes[i]!.peerId === bad ? { NODE_ENV: 'test', FLNODE_TEST_FAULT: 'bad-aggregate' } : {});
    tb = await startTestbed({ ...base, rounds: 2, env, dir: mkdtempSync(join(tmpdir(), 'flnode-faults-bad-aggregate-')) });
    bad = aggregatorOrder(tb.nodes.map((n) => n.peerId), 1)[0]!;
    tb.start();
    watchCrashes(tb);
    tally.faultsInjected++;
    const honest = tb.nodes.filter((n) => n.peerId !== bad);
    const hashes = await finish(tb, honest, 200_000);
    assert.equal(new Set(hashes).size, 1, `honest hashes differ: ${hashes}`);
    const r1 = honest[0]!.status()!.rounds.find((r) => r.round === 1)!;
    const logs = honest.map(logOf).join('\n');
    assert.notEqual(r1.aggregator, bad, `round 1 was completed by a failover aggregator (logs in ${tb.dir})`);
    const noticed = honest.some((n) => (n.status()!.events ?? []).some((e) => e.kind === 'rejected-aggregate')) || /rejected: /.test(logs);
    assert.ok(noticed, `an honest member recorded the rejection (logs in ${tb.dir})`);
  });

  it('SIGKILL of each role in each phase (a reproducible crash point per round): every round completes, restarted nodes catch up, same hashes', async () => {
    // Each round one node kills itself (SIGKILL, test hook) at a chosen point; the test restarts it
    // half a second later. The aggregator (candidate 0) and a plain participant each crash once in
    // each phase. Victims of consecutive rounds differ, so a restarted node is back in time.
    const aggPoints = ['training', 'cryptogram-persisted', 'cryptogram-published', 'aggregating', 'record-sent', 'verifying'];
    const partPoints = ['training', 'cryptogram-persisted', 'cryptogram-published', 'aggregating', 'verifying'];
    const cases = [...aggPoints.map((p) => ({ role: 'aggregator', point: p })), ...partPoints.map((p) => ({ role: 'participant', point: p }))];
    const makePlan = (peerIds: string[]) => {
      const pending = [...cases];
      const plan: { round: number; role: string; point: string; victim: number }[] = [];
      let prev = -1;
      for (let r = 1; pending.length; r++) {
        const order = aggregatorOrder(peerIds, r).map((id) => peerIds.indexOf(id));
        const next = aggregatorOrder(peerIds, r + 1).map((id) => peerIds.indexOf(id));
        let pick: { c: (typeof cases)[number]; victim: number } | null = null;
        for (const c of pending) {
          if (c.role === 'aggregator' && order[0] !== prev) pick = { c, victim: order[0]! };
          else if (c.role === 'participant') {
            const v = order.slice(1).find((i) => i !== prev && i !== next[0]);
            if (v !== undefined) pick = { c, victim: v };
          }
          if (pick) break;
        }
        if (pick) {
          pending.splice(pending.indexOf(pick.c), 1);
          plan.push({ round: r, role: pick.c.role, point: pick.c.point, victim: pick.victim });
        }
        prev = pick?.victim ?? -1;
      }
      return plan;
    };
    const rounds = makePlan(['a', 'b', 'c']).at(-1)!.round; // the same for any three ids
    let plan: ReturnType<typeof makePlan> = [];
    const crashed = new Map<number, number>(); // node index → last round it crashed in
    const env = (i: number): Record<string, string> => {
      const left = plan.filter((p) => p.victim === i && p.round > (crashed.get(i) ?? 0));
      return left.length ? { NODE_ENV: 'test', FLNODE_TEST_CRASH_AT: left.map((p) => `${p.round}:${p.point}`).join(',') } : {};
    };
    tb = await startTestbed({ ...base, rounds, env, timeouts: { ...fast, keysMs: 15000 } });
    plan = makePlan(tb.nodes.map((n) => n.peerId));
    assert.equal(plan.at(-1)!.round, rounds);
    const restarts: string[] = [];
    const guard = (n: TestbedNode) => {
      n.process!.once('exit', (_code, signal) => {
        if (signal !== 'SIGKILL') return;
        const m = [...logOf(n).matchAll(/test hook: SIGKILL at round (\d+) (\S+)/g)].at(-1);
        if (!m || Number(m[1]) <= (crashed.get(n.index) ?? 0)) return; // not a planned crash (teardown)
        crashed.set(n.index, Number(m[1]));
        restarts.push(`${m[1]}:${m[2]}@${n.index}`);
        tally.faultsInjected++;
        setTimeout(() => {
          if (!tb || n.process) return;
          n.restart();
          watchCrashes(tb);
          guard(n);
        }, 500);
      });
    };
    tb.start();
    watchCrashes(tb);
    for (const n of tb.nodes) guard(n);
    const hashes = await finish(tb, tb.nodes, 420_000);
    assert.equal(new Set(hashes).size, 1, `model hashes differ: ${hashes} (logs in ${tb.dir})`);
    assert.ok(tb.nodes.every((n) => n.status()!.model.version === rounds));
    const wanted = plan.map((p) => `${p.round}:${p.point}@${p.victim}`);
    assert.deepEqual([...restarts].sort(), [...wanted].sort(), `every planned crash happened once (logs in ${tb.dir})`);
  });

  it('SIGKILL of a participant mid-round and SIGSTOP beyond the deadline then SIGCONT: every round completes, same hashes', async () => {
    tb = await startTestbed({ ...base, rounds: 3 });
    tb.start();
    watchCrashes(tb);
    const victim = tb.nodes[2]!;
    // kill it inside round 1 or 2 while the round is under way (rounds take seconds here: match any
    // in-round phase, not one precise moment)
    const inRound = (s: { round: { round: number; phase: string } } | null, maxRound: number) => !!s && s.round.round >= 1 && s.round.round <= maxRound && ['keys', 'training', 'masking', 'collecting', 'aggregating'].includes(s.round.phase);
    await tb.waitFor((_n, s) => inRound(s, 2), 180_000, [victim]);
    const killedIn = victim.status()!.round.round;
    victim.kill('SIGKILL');
    tally.faultsInjected++;
    const others = tb.nodes.filter((n) => n !== victim);
    await tb.waitForVersion(killedIn, 120_000, others);
    victim.restart();
    watchCrashes(tb);
    // SIGSTOP a node during round 2 for longer than the collect + aggregate deadlines
    const stopped = tb.nodes[1]!;
    await tb.waitFor((_n, s) => inRound(s, 3) && s!.round.round > killedIn, 120_000, [stopped]);
    stopped.kill('SIGSTOP');
    tally.faultsInjected++;
    await new Promise((r) => setTimeout(r, fast.trainingMs + fast.collectMs + fast.aggregateMs));
    stopped.kill('SIGCONT');
    const hashes = await finish(tb, tb.nodes, 240_000);
    assert.equal(new Set(hashes).size, 1, `model hashes differ: ${hashes}`);
    assert.ok(tb.nodes.every((n) => n.status()!.model.version === 3));
  });
});
