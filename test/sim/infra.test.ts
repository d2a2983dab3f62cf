// The simulation's own machinery: seeded randomness, virtual time, hosts that pause and crash, the
// in-memory network's faults, the deterministic trainer, and that a whole run replays from its seed.
import assert from 'node:assert/strict';
import { MemoryStore } from '../../node/runtime/kv-store.ts';
import { runSeed } from '../helpers/sim-faults.ts';
import { SimNetwork } from '../helpers/sim-network.ts';
import { Rng } from '../helpers/sim-rng.ts';
import { Host, Scheduler, SIM_EPOCH } from '../helpers/sim-scheduler.ts';
import { initialWeights, modelHash, simTrainer, UpdateLedger } from '../helpers/sim-trainer.ts';
import { SimWorld } from '../helpers/sim-world.ts';

describe('sim: machinery', () => {
  it('Rng: one seed, one stream; forks are independent of draws made elsewhere', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 100 }, () => a.next());
    assert.deepEqual(Array.from({ length: 100 }, () => b.next()), xs);
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.ok(new Set(xs).size > 95);
    assert.notDeepEqual(Array.from({ length: 10 }, () => new Rng(43).next()), xs.slice(0, 10));
    const f1 = new Rng(7).fork('net');
    const r2 = new Rng(7);
    const f2 = r2.fork('net');
    r2.next(); // a draw on the parent after forking does not move the fork
    assert.equal(f1.next(), f2.next());
    assert.notEqual(new Rng(7).fork('net').next(), new Rng(7).fork('faults').next());
    const ints = Array.from({ length: 1000 }, () => a.int(3, 5));
    assert.deepEqual([...new Set(ints)].sort(), [3, 4, 5]);
  });

  it('Scheduler: events run in (time, insertion) order; cancelled ones do not run; promise chains settle before time moves', async () => {
    const s = new Scheduler();
    const seen: string[] = [];
    s.schedule(20, 'b', () => seen.push(`b@${s.now - SIM_EPOCH}`));
    s.schedule(10, 'a1', () => seen.push(`a1@${s.now - SIM_EPOCH}`));
    s.schedule(10, 'a2', () => {
      seen.push(`a2@${s.now - SIM_EPOCH}`);
      // a chain of awaits started by an event finishes before the next event
      void (async () => {
        for (let i = 0; i < 50; i++) await Promise.resolve();
        seen.push('chain');
      })();
    });
    const c = s.schedule(15, 'c', () => seen.push('c'));
    s.cancel(c);
    await s.run({ until: SIM_EPOCH + 1000 });
    assert.deepEqual(seen, ['a1@10', 'a2@10', 'chain', 'b@20']);
    assert.equal(s.events, 3);
    assert.equal(s.now, SIM_EPOCH + 1000);
  });

  it('VirtualClock: timeouts and intervals on virtual time; a paused host runs an overdue interval once on resume, then its messages', async () => {
    const s = new Scheduler();
    const h = new Host(s, 'h', 7);
    const clock = h.clock();
    assert.equal(clock.now(), SIM_EPOCH + 7, 'skew applies to now()');
    const fired: string[] = [];
    const iv = clock.setInterval(() => fired.push(`i${s.now - SIM_EPOCH}`), 100);
    const to = clock.setTimeout(() => fired.push('never'), 150);
    clock.clear(to);
    clock.setTimeout(() => fired.push(`t${s.now - SIM_EPOCH}`), 250);
    await s.run({ until: SIM_EPOCH + 310 });
    assert.deepEqual(fired, ['i100', 'i200', 't250', 'i300']);
    fired.length = 0;
    h.pause();
    s.schedule(100, 'msg', () => h.arrive(h.incarnation, () => fired.push(`m${s.now - SIM_EPOCH}`)));
    await s.run({ until: SIM_EPOCH + 1000 });
    assert.deepEqual(fired, [], 'nothing runs while paused');
    h.resume();
    await s.run({ until: SIM_EPOCH + 1150 });
    assert.deepEqual(fired, ['i1000', 'm1000', 'i1100'], 'one overdue interval, then the buffered message, then the interval from the resume time');
    clock.clear(iv);
    assert.equal(clock.timers, 0);
  });

  it('Host: a crash kills the incarnation: its timers, buffered messages and pending callbacks never run, also after a restart', async () => {
    const s = new Scheduler();
    const h = new Host(s, 'h');
    const old = h.clock();
    const fired: string[] = [];
    old.setInterval(() => fired.push('old-interval'), 100);
    old.setTimeout(() => fired.push('old-timeout'), 500);
    const inc = h.incarnation;
    await s.run({ until: SIM_EPOCH + 150 });
    h.crash();
    s.schedule(10, 'msg', () => h.arrive(inc, () => fired.push('old-message')));
    h.restart();
    const fresh = h.clock();
    fresh.setTimeout(() => fired.push('new-timeout'), 400);
    await s.run({ until: SIM_EPOCH + 1000 });
    assert.deepEqual(fired, ['old-interval', 'new-timeout']);
  });

  it('SimNetwork: seeded delays within bounds, loss near its rate, partitions cut both ways, fifo keeps order, reordering otherwise, rejected messages are not handled', async () => {
    const s = new Scheduler();
    const net = new SimNetwork(new Rng(1), { minDelayMs: 10, maxDelayMs: 50, loss: 0.2, fifo: false });
    const [ha, hb, hc] = ['a', 'b', 'c'].map((n) => new Host(s, n));
    const a = net.attach(ha!, 'A');
    const b = net.attach(hb!, 'B');
    const c = net.attach(hc!, 'C');
    const got: { at: number; n: number; to: string }[] = [];
    for (const [ep, name] of [[b, 'B'], [c, 'C']] as const) {
      ep.setValidator((bytes) => (bytes[0] === 255 ? 'reject' : 'accept'));
      ep.onMessage((bytes) => got.push({ at: s.now - SIM_EPOCH, n: bytes[0]!, to: name }));
    }
    for (let i = 0; i < 200; i++) await a.publish(Uint8Array.of(i % 250, 0));
    await s.run({ until: SIM_EPOCH + 1000 });
    assert.ok(got.every((g) => g.at >= 10 && g.at <= 50), 'delay outside [min, max]');
    assert.ok(got.length > 400 * 0.7 && got.length < 400 * 0.9, `${got.length} of 400 delivered at 20 % loss`);
    const toB = got.filter((g) => g.to === 'B').map((g) => g.n);
    assert.notDeepEqual(toB, [...toB].sort((x, y) => x - y), 'random delays reorder');
    assert.deepEqual(net.connected('A').sort(), ['B', 'C']);
    // fifo, no loss, partition A | B (C unaffected), a rejected message
    net.faults = { minDelayMs: 1, maxDelayMs: 100, loss: 0, fifo: true };
    net.partition([['A'], ['B']]);
    assert.deepEqual(net.connected('A'), ['C']);
    got.length = 0;
    for (let i = 0; i < 50; i++) await a.publish(Uint8Array.of(i, 0));
    await b.publish(Uint8Array.of(255, 0));
    await a.publish(Uint8Array.of(255, 0));
    await s.run({ until: SIM_EPOCH + 2000 });
    assert.deepEqual(got.map((g) => g.n), Array.from({ length: 50 }, (_, i) => i), 'fifo order to C, nothing to B');
    assert.equal(c.verdicts.reject, 2, 'one from A, one from B');
    assert.equal(c.peerScore('A'), -1, 'a rejected message lowers the sender score');
    net.heal();
    assert.deepEqual(net.connected('A').sort(), ['B', 'C']);
  });

  it('SimNetwork: a message in flight to a node that crashes is lost; one to a paused node arrives when it resumes', async () => {
    const s = new Scheduler();
    const net = new SimNetwork(new Rng(2), { minDelayMs: 100, maxDelayMs: 100, loss: 0, fifo: true });
    const ha = new Host(s, 'a');
    const hb = new Host(s, 'b');
    const a = net.attach(ha, 'A');
    let b = net.attach(hb, 'B');
    const got: number[] = [];
    b.onMessage((x) => got.push(x[0]!));
    await a.publish(Uint8Array.of(1));
    hb.crash();
    hb.restart();
    b = net.attach(hb, 'B');
    b.onMessage((x) => got.push(x[0]!));
    await s.run({ until: SIM_EPOCH + 500 });
    assert.deepEqual(got, [], 'sent to the dead incarnation: lost');
    hb.pause();
    await a.publish(Uint8Array.of(2));
    await s.run({ until: SIM_EPOCH + 1000 });
    assert.deepEqual(got, []);
    hb.resume();
    await s.run({ until: SIM_EPOCH + 1001 });
    assert.deepEqual(got, [2]);
  });

  it('SimNetwork direct requests: answered after two delays; oversized answers, unreachable or crashed peers fail', async () => {
    const s = new Scheduler();
    const net = new SimNetwork(new Rng(3), { minDelayMs: 10, maxDelayMs: 10, loss: 0, fifo: true });
    const ha = new Host(s, 'a');
    const hb = new Host(s, 'b');
    const a = net.attach(ha, 'A');
    const b = net.attach(hb, 'B');
    b.onRequest(async (req, from) => (req[0] === 0 ? null : new Uint8Array(req[0]! * 10).fill(from === 'A' ? 1 : 2)));
    const outcome = (p: Promise<Uint8Array | null>) => p.then((x) => (x === null ? 'none' : `${x.length}x${x[0]}@${s.now - SIM_EPOCH}`), (e: Error) => `error: ${e.message}@${s.now - SIM_EPOCH}`);
    const opts = { maxResponseBytes: 50, timeoutMs: 1000 };
    const got = [outcome(a.request('B', Uint8Array.of(3), opts)), outcome(a.request('B', Uint8Array.of(0), opts)), outcome(a.request('B', Uint8Array.of(9), opts))];
    await s.run({ until: SIM_EPOCH + 100 });
    assert.deepEqual(await Promise.all(got), ['30x1@20', 'none', 'error: answer of 90 bytes exceeds 50@20']);
    net.partition([['A'], ['B']]);
    const cut = outcome(a.request('B', Uint8Array.of(1), opts));
    await s.run({ until: SIM_EPOCH + 200 });
    assert.equal(await cut, 'error: cannot reach B@110');
    net.heal();
    const lost = outcome(a.request('B', Uint8Array.of(1), opts));
    hb.crash(); // the request reaches a dead process: no answer, the requester times out
    await s.run({ until: SIM_EPOCH + 2000 });
    assert.equal(await lost, 'error: request to B timed out after 1000 ms@1200');
  });

  it('sim trainer: every site starts from one model; an update is a pure function of base, site and seed, and is recorded', async () => {
    const s = new Scheduler();
    const h = new Host(s, 'h');
    const ledger = new UpdateLedger();
    const mk = (index: number) => simTrainer({ site: `s${index}`, index, parameters: 16, samples: 10, modelSeed: 5, clock: h.clock(), trainMs: [100, 100], ledger });
    const t0 = mk(0);
    assert.equal(modelHash(t0.getWeights()), modelHash(mk(1).getWeights()));
    assert.equal(modelHash(t0.getWeights()), modelHash(initialWeights(16, 5)));
    const run = async (t: ReturnType<typeof mk>, seed: number) => {
      const p = t.trainLocal({ seed });
      await s.run({ until: s.now + 200 });
      return p;
    };
    const r1 = await run(t0, 9);
    const r2 = await run(mk(0), 9);
    assert.deepEqual(r1.delta, r2.delta);
    assert.notDeepEqual((await run(mk(1), 9)).delta, r1.delta, 'sites differ');
    assert.deepEqual(ledger.get('s0', modelHash(initialWeights(16, 5)))?.delta, r1.delta);
    assert.ok(r1.delta.some((x) => Math.abs(x) > 0.01));
  });

  it('MemoryStore survives a simulated crash (the world keeps the object; a dead incarnation cannot write to it)', async () => {
    const w = await SimWorld.create({ seed: 3, nodes: 3, rounds: 1 });
    await w.start();
    await w.run(300);
    const n = w.nodes[0]!;
    const before = await n.store.get<{ version: number }>('global');
    assert.equal(before?.version, 0);
    w.crash(n);
    const size = n.store.data.size;
    await w.run(10_000);
    assert.equal(n.store.data.size, size, 'the dead incarnation wrote to the store');
    assert.ok(n.store instanceof MemoryStore);
    w.restart(n);
    await w.run(60_000, () => w.converged());
    assert.ok(w.converged(), w.describe());
    assert.equal((await n.store.get<{ version: number }>('global'))?.version, 1);
  });

  it('the checker has teeth: a committed model that is not the FedAvg of the recorded updates is a violation', async () => {
    const w = await SimWorld.create({ seed: 4, nodes: 3, rounds: 1 });
    await w.start();
    // (v2 masks an update only once U2 is signed: wait until every site published its cryptogram)
    await w.run(30_000, () => w.nodes.every((n) => n.reachedPoints.includes('1:cryptogram-published')));
    assert.equal(w.ledger.size, 3);
    assert.equal(w.checker.committed.has(1), false, 'committed before the updates could be altered');
    // the ledger now disagrees with what site-0 masked and sent by 0.5 in one weight
    w.ledger.get(w.nodes[0]!.id, w.checker.committed.get(0)!.hash)!.delta[3]! += 0.5;
    await w.run(30_000, () => w.converged());
    assert.equal(w.checker.violations.length, 1, w.checker.violations.join('\n'));
    assert.match(w.checker.violations[0]!, /^FedAvg: v1 weight 3 /);
  });

  it('a seed replays exactly: same event trace, same models (faults included)', async function () {
    this.timeout(60_000);
    for (const seed of [5, 13]) {
      const a = await runSeed(seed);
      const b = await runSeed(seed);
      assert.equal(a.events, b.events, `seed ${seed}: event counts differ`);
      assert.equal(a.trace, b.trace, `seed ${seed}: traces differ`);
      assert.deepEqual(a.hashes, b.hashes);
      assert.deepEqual(a.plan, b.plan);
      assert.ok(a.faults > 0);
    }
  });
});
