// A simulated federation: N RoundEngines in one process, each on its own Host (virtual clock,
// crash/pause state), its own MemoryStore (kept across a crash, like the disk), a SimNetwork
// endpoint and a deterministic trainer. Everything random comes from one seed. The world can crash
// (and restart) a node at any moment or at a named point of a round (EngineHooks.reached), pause and
// resume it, and partition the network; a Checker looks at every node after every event.
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { pino, type Logger } from 'pino';
import { signingPublicKey } from '../../protocol/index.ts';
import { toHex } from '../../protocol/index.ts';
import { decodeEnvelopeV2, encodeEnvelopeV2, KindV2, listHash, MAX_MODEL_ENVELOPE_BYTES_V2, type EnvelopeV2, type MessageV2 } from '../../protocol/v2/index.ts';
import type { SiteIdentity } from '../../node/identity.ts';
import { createManifest, signManifest, type Manifest } from '../../node/manifest.ts';
import { RoundEngine } from '../../node/rounds/engine.ts';
import { aggregatorOrder } from '../../node/rounds/rotation.ts';
import type { AggregatorFault, CrashPoint, EngineHooks } from '../../node/runtime/hooks.ts';
import { MemoryStore, type BatchOp, type KeyValueStore } from '../../node/runtime/kv-store.ts';
import { Checker } from './sim-check.ts';
import { calmLinks, SimNetwork, type LinkFaults, type SimEndpoint } from './sim-network.ts';
import { Rng } from './sim-rng.ts';
import { Host, Scheduler, SIM_EPOCH } from './sim-scheduler.ts';
import { simTrainer, UpdateLedger } from './sim-trainer.ts';

/** Timeouts scaled for the simulation: short, but not below what the engine's fixed constant
 * (2 s pause threshold) assumes. */
export const SIM_TIMEOUTS: Manifest['timeouts'] = { heartbeatMs: 250, livenessMs: 1000, keysMs: 2000, trainingMs: 3000, collectMs: 2000, aggregateMs: 2500 };

export interface SimOptions {
  seed: number;
  nodes: number;
  rounds: number;
  /** Model size in float32 parameters (default 32). */
  parameters?: number;
  timeouts?: Partial<Manifest['timeouts']>;
  /** t (default: the manifest default for N). */
  threshold?: number;
  maxAttempts?: number;
  links?: LinkFaults;
  /** Virtual training time range, ms (default 50-400). */
  trainMs?: readonly [number, number];
  /** Misbehaving aggregators, by node index (not honest: excluded from agreement checks). */
  faulty?: Record<number, AggregatorFault>;
  /** Slow sites: extra training delay by node index, ms (EngineHooks.trainDelayMs). */
  trainDelayMs?: Record<number, number>;
  /** Max clock offset of a host from virtual time, ms (default 50). */
  skewMs?: number;
  /** Sample counts a node's trainer reports (and the node announces), by index (default 50 + 25·i). */
  samples?: Record<number, number>;
  /** Each member's certified `maxSamples`, by index (default: its sample count). */
  maxSamples?: Record<number, number>;
  /** Nodes a test drives as attackers (signing extra messages with their keys, or rewriting what
   * they send): not honest, so excluded from agreement checks and from `converged`. */
  adversaries?: number[];
}

/** Thrown from EngineHooks.reached to abort the step of a node the world just crashed. */
export class SimCrash extends Error {
  constructor(readonly node: string) {
    super(`simulated crash of ${node}`);
  }
}

export class SimNode {
  engine!: RoundEngine;
  endpoint!: SimEndpoint;
  crashes = 0;
  /** Lists, consents and reveals this node published, over all its incarnations. */
  readonly decisions: { at: number; bytes: Uint8Array }[] = [];
  /** Every envelope but heartbeats this node published, over all its incarnations. */
  readonly published: { at: number; bytes: Uint8Array }[] = [];
  /** Crash points to crash at: `${round}:${point}`, each used once. */
  readonly crashAt = new Set<string>();
  /** After a crash at a point, restart this many ms later (null: stay down). */
  restartAfterMs: number | null = 1000;
  /** Every (round, point) this node reached, in order (for tests that enumerate crash points). */
  readonly reachedPoints: string[] = [];
  constructor(
    readonly index: number,
    readonly name: string,
    readonly identity: SiteIdentity,
    readonly host: Host,
    readonly store: MemoryStore,
    readonly samples: number,
  ) {}
  get id(): string {
    return this.identity.peerId;
  }
}

/** Builds a site identity from a 32-byte seed (the same shape node/identity.ts produces). */
export async function simIdentity(seed: Uint8Array, name: string): Promise<SiteIdentity> {
  const key = await generateKeyPairFromSeed('Ed25519', seed);
  return { dir: `sim:${name}`, peerId: peerIdFromPrivateKey(key).toString(), privateKey: key, signingSecret: key.raw.subarray(0, 32), signingPublic: key.publicKey.raw };
}

export class SimWorld {
  readonly sched = new Scheduler();
  readonly rng: Rng;
  readonly net: SimNetwork;
  readonly ledger = new UpdateLedger();
  readonly nodes: SimNode[] = [];
  readonly checker: Checker;
  manifest!: Manifest;
  /** The manifest admin's Ed25519 secret (tests of admin-signed records: the void record). */
  adminSecret!: Uint8Array;
  private readonly faultRng: Rng;

  private constructor(readonly opts: SimOptions) {
    this.rng = new Rng(opts.seed);
    this.net = new SimNetwork(this.rng.fork('network'), opts.links ?? calmLinks);
    this.faultRng = this.rng.fork('faults');
    this.checker = new Checker(this);
  }

  static async create(opts: SimOptions): Promise<SimWorld> {
    const w = new SimWorld(opts);
    const ids = w.rng.fork('identities');
    const admin = ids.bytes(32);
    w.adminSecret = admin;
    const skew = w.rng.fork('skew');
    for (let i = 0; i < opts.nodes; i++) {
      const name = `site-${i}`;
      const identity = await simIdentity(ids.bytes(32), name);
      const host = new Host(w.sched, name, skew.int(-(opts.skewMs ?? 50), opts.skewMs ?? 50));
      w.nodes.push(new SimNode(i, name, identity, host, new MemoryStore(), opts.samples?.[i] ?? 50 + 25 * i));
    }
    const m = createManifest({ consortium: `sim-${opts.seed}`, adminPublicKey: signingPublicKey(admin), plan: { rounds: opts.rounds }, timeouts: { ...SIM_TIMEOUTS, ...opts.timeouts }, maxAttempts: opts.maxAttempts ?? 10, seed: 4242, ...(opts.threshold ? { threshold: opts.threshold } : {}) });
    w.manifest = signManifest({ ...m, members: w.nodes.map((n) => ({ name: n.name, peerId: n.id, maxSamples: opts.maxSamples?.[n.index] ?? n.samples })) }, admin);
    return w;
  }

  get honest(): SimNode[] {
    return this.nodes.filter((n) => this.opts.faulty?.[n.index] === undefined && !this.opts.adversaries?.includes(n.index));
  }
  node(id: string): SimNode {
    return this.nodes.find((n) => n.id === id || n.name === id)!;
  }

  /** Starts every node, each at a seeded offset within the first 300 ms. */
  async start(): Promise<void> {
    const r = this.rng.fork('start');
    for (const n of this.nodes) this.sched.schedule(r.int(0, 300), `start:${n.name}`, () => void (n.host.state !== 'down' && this.boot(n)));
  }

  /** Starts an engine on `n`'s current incarnation, over the store it kept. */
  private async boot(n: SimNode): Promise<void> {
    const inc = n.host.incarnation;
    const clock = n.host.clock();
    n.endpoint = this.net.attach(n.host, n.id, n.decisions, n.published);
    const trainer = simTrainer({ site: n.id, index: n.index, parameters: this.opts.parameters ?? 32, samples: n.samples, modelSeed: this.manifest.model.seed, clock, trainMs: this.opts.trainMs ?? [50, 400], ledger: this.ledger });
    const hooks: EngineHooks = {
      reached: (round: number, point: CrashPoint) => {
        if (!n.host.alive(inc)) throw new SimCrash(n.name);
        n.reachedPoints.push(`${round}:${point}`);
        const tag = `${round}:${point}`;
        if (!n.crashAt.has(tag)) return;
        n.crashAt.delete(tag);
        this.crash(n, n.restartAfterMs);
        throw new SimCrash(n.name);
      },
      trainDelayMs: this.opts.trainDelayMs?.[n.index] ?? 0,
      aggregatorFault: this.opts.faulty?.[n.index] ?? null,
    };
    n.engine = new RoundEngine({ manifest: this.manifest, identity: n.identity, network: n.endpoint, trainer, store: fenced(n.store, () => n.host.alive(inc)), log: logger(this, n), clock, hooks });
    await n.engine.start();
  }

  /** Kills `n` now (SIGKILL: timers, in-flight steps and unsent writes of this incarnation die);
   * restarts it over the same store after `restartAfterMs` (null: it stays down). */
  crash(n: SimNode, restartAfterMs: number | null = null): void {
    if (n.host.state === 'down') return;
    n.crashes++;
    n.host.crash();
    n.engine?.stop();
    if (restartAfterMs !== null) this.sched.schedule(restartAfterMs, `restart:${n.name}`, () => this.restart(n));
  }
  restart(n: SimNode): void {
    if (n.host.state !== 'down') return;
    n.host.restart();
    void this.boot(n);
  }
  pause(n: SimNode, forMs: number | null = null): void {
    n.host.pause();
    if (forMs !== null) this.sched.schedule(forMs, `resume:${n.name}`, () => n.host.resume());
  }
  resume(n: SimNode): void {
    n.host.resume();
  }

  /** Runs for `ms` of virtual time (or until `stop`), checking invariants after every event. */
  run(ms: number, stop?: () => boolean): Promise<boolean> {
    return this.sched.run({ until: this.sched.now + ms, stop, after: () => this.checker.afterEvent() });
  }

  /** Every honest node is up, has finished the plan, and they hold one model. */
  converged(): boolean {
    const hs = this.honest;
    if (hs.some((n) => n.host.state !== 'up' || !n.engine?.global || !n.engine.completed)) return false;
    return new Set(hs.map((n) => n.engine.global.hash)).size === 1;
  }

  /** Ends all faults: heals partitions, calms the links, resumes and restarts every node. */
  endFaults(): void {
    this.net.heal();
    this.net.faults = { ...this.net.faults, loss: 0 };
    for (const n of this.nodes) {
      n.crashAt.clear();
      if (n.host.state === 'paused') n.host.resume();
      if (n.host.state === 'down') this.sched.schedule(0, `restart:${n.name}`, () => this.restart(n));
    }
  }

  /** The lists, consents and reveals `n` published (first copies only), decoded. `hash`: H(list)
   * of a list, the U3 hash a consent or reveal names (hex). */
  decided(n: SimNode): { at: number; kind: KindV2; round: number; attempt: number; members: string[]; hash?: string }[] {
    const seen = new Set<string>();
    const out: ReturnType<SimWorld['decided']> = [];
    for (const d of n.decisions) {
      const key = Buffer.from(d.bytes).toString('base64');
      if (seen.has(key)) continue; // a re-send
      seen.add(key);
      const env = this.decode(d.bytes);
      if (env.sender !== n.id) continue; // evidence of another member's equivocation, re-published
      const members = env.kind === KindV2.U1List ? env.body.members.map((m) => m.id) : env.kind === KindV2.U2List || env.kind === KindV2.U3List ? env.body.members : [];
      const hash = env.kind === KindV2.U1List || env.kind === KindV2.U2List || env.kind === KindV2.U3List ? toHex(listHash(env, env)) : env.kind === KindV2.Consent || env.kind === KindV2.Reveal ? toHex(env.body.u3Hash) : undefined;
      out.push({ at: d.at, kind: env.kind, round: env.round, attempt: env.attempt, members, ...(hash ? { hash } : {}) });
    }
    return out;
  }

  /** Decodes and verifies an envelope signed by any node of the world. */
  decode(bytes: Uint8Array): EnvelopeV2 {
    const publicKeyOf = (id: string) => this.nodes.find((x) => x.id === id)?.identity.signingPublic;
    return decodeEnvelopeV2(bytes, { consortium: this.manifest.consortium, publicKeyOf, maxBytes: MAX_MODEL_ENVELOPE_BYTES_V2 });
  }

  /** Every distinct envelope any node ever published (all incarnations; re-sends once), decoded,
   * with the node that published it first (not always its signer: evidence is re-published). */
  envelopes(): { by: SimNode; at: number; env: EnvelopeV2; bytes: Uint8Array }[] {
    const seen = new Set<string>();
    const out: ReturnType<SimWorld['envelopes']> = [];
    for (const n of this.nodes) {
      for (const p of n.published) {
        const key = Buffer.from(p.bytes).toString('base64');
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ by: n, at: p.at, env: this.decode(p.bytes), bytes: p.bytes });
      }
    }
    return out.sort((a, b) => a.at - b.at);
  }

  /** A message signed with `signer`'s key for (round, attempt): what a dishonest member can send. */
  forge(signer: SimNode, round: number, attempt: number, message: MessageV2): Uint8Array {
    return encodeEnvelopeV2({ consortium: this.manifest.consortium, round, attempt, sender: signer.id }, message, signer.identity.signingSecret);
  }

  /** Delivers `bytes` from `from` to each of `to` now, through its endpoint (topic validator, then
   * the engine), bypassing links and cuts: a sender that reaches exactly the members it chooses. */
  inject(bytes: Uint8Array, from: SimNode, to: readonly SimNode[]): void {
    for (const n of to) if (n !== from) n.endpoint?.receive(bytes, from.id);
  }

  /** The nodes in aggregator order for `round` (candidate 0 first). */
  order(round: number): SimNode[] {
    return aggregatorOrder(this.nodes.map((n) => n.id), round).map((id) => this.node(id));
  }

  /** Names of nodes (for messages). */
  names(ids: readonly string[]): string[] {
    return ids.map((id) => this.node(id).name);
  }

  /** A draw from the fault stream (random fault plans use it, so they replay with the seed). */
  get faults(): Rng {
    return this.faultRng;
  }

  /** Virtual seconds since the simulation began. */
  elapsed(): number {
    return (this.sched.now - SIM_EPOCH) / 1000;
  }

  /** A one-line description of the run so far, for failure messages. */
  describe(): string {
    const nodes = this.nodes.map((n) => `${n.name}:${n.host.state[0]}:v${n.engine?.global?.version ?? '-'}:r${n.engine?.round?.round ?? '-'}a${n.engine?.round?.attempt ?? '-'}:${n.engine?.round?.phase ?? '-'}`).join(' ');
    return `seed=${this.opts.seed} t=${this.elapsed().toFixed(3)}s events=${this.sched.events} ${nodes}`;
  }
}

/** The node's store as its current incarnation sees it: once that incarnation is dead, nothing
 * it still tries to write lands (the promise never settles, as in a killed process). */
function fenced(store: MemoryStore, alive: () => boolean): KeyValueStore {
  const dead = <T>(): Promise<T> => new Promise<T>(() => undefined);
  return {
    get: <T>(key: string) => (alive() ? store.get<T>(key) : dead<T | undefined>()),
    getBytes: (key: string) => (alive() ? store.getBytes(key) : dead()),
    batch: (ops: BatchOp[]) => (alive() ? store.batch(ops) : dead()),
    put: (key: string, value: unknown) => (alive() ? store.put(key, value) : dead()),
    putBytes: (key: string, value: Uint8Array) => (alive() ? store.putBytes(key, value) : dead()),
    keys: (prefix: string) => (alive() ? store.keys(prefix) : dead()),
    delPrefix: (prefix: string) => (alive() ? store.delPrefix(prefix) : dead()),
  };
}

/** Errors only (to the checker) unless SIM_LOG is set (SIM_LOG=1: info and above, or a pino level), stamped with
 * virtual time and the node's name. */
function logger(w: SimWorld, n: SimNode): Logger {
  const level = process.env.SIM_LOG;
  // errors always reach the checker (an engine step that throws is a bug)
  if (!level) return pino({ level: 'error' }, { write: (line: string) => w.checker.engineError(n.name, line) });
  return pino({ level: level === '1' ? 'info' : level, base: { node: n.name }, timestamp: () => `,"t":${w.elapsed()}` }, pino.destination({ fd: 2, sync: true }));
}
