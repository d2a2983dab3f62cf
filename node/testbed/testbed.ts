// N local flnode processes on loopback as one consortium: identities, a signed manifest, one
// `flnode start` per site with its own directory, partition and status page.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signingPublicKey } from '../../protocol/index.ts';
import { UserError } from '../errors.ts';
import { initIdentity, loadOrCreateAdminKey } from '../identity.ts';
import { createManifest, DEFAULT_PLAN, signManifest, type Manifest } from '../manifest.ts';
import { loadMedMnist } from '../training/dataset.ts';
import { PARTITION_SEED, parseSplit, partitionClasses, partitionIndices } from '../training/partition.ts';
import { WanLinks, type WanAudit, type WanSpec } from './wan.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface TestbedOptions {
  nodes: number;
  rounds: number;
  data: string;
  dir?: string;
  httpBasePort?: number | null;
  maxTrainSamples?: number;
  maxEvalSamples?: number;
  epochs?: number;
  split?: string;
  timeouts?: Partial<Manifest['timeouts']>;
  maxAttempts?: number;
  /** Seed of the model's initial weights and the sites' shuffling (manifest model.seed). */
  seed?: number;
  /** Peak learning rate of the sites' local training (manifest plan; default 0.001). */
  learningRate?: number;
  /** Extra environment per node index (fault injection in tests). */
  env?: (i: number) => Record<string, string | undefined>;
  /** Route every connection between two sites through a WAN relay of this shape. */
  wan?: WanSpec;
  /** Each node writes its per-connection byte counts to traffic.json (always on with wan). */
  countTraffic?: boolean;
}

export interface TestbedNode {
  index: number;
  name: string;
  dir: string;
  peerId: string;
  port: number;
  httpUrl: string | null;
  process: ChildProcess | null;
  kill(signal?: NodeJS.Signals): void;
  restart(): void;
  status(): NodeStatusFile | null;
}

export interface NodeStatusFile {
  site: string;
  peerId: string;
  round: { round: number; attempt: number; phase: string; participants: { id: string; name: string }[] };
  model: { version: number; hash: string };
  rounds: { round: number; attempt: number; participants: string[]; aggregator: string; testAuc: number | null; testAcc: number | null; modelHash: string; completedAt: number; phaseSeconds: Record<string, number> }[];
  completed: boolean;
  events?: { kind: string; detail: string }[];
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

/**
 * Each site's training-partition size (the split every node computes, capped by
 * --max-train-samples): certified as the member's maxSamples, so a site can announce no more.
 * null when the data file cannot be read here (the nodes then report the problem themselves).
 */
async function partitionSizes(opts: TestbedOptions): Promise<number[] | null> {
  try {
    const data = await loadMedMnist(resolve(root, opts.data));
    const classes = partitionClasses(data.train.labels, data.labelColumns, data.task === 'multi-label');
    const parts = partitionIndices(classes, { sites: opts.nodes, scheme: parseSplit(opts.split ?? 'iid'), seed: PARTITION_SEED });
    return parts.map((p) => Math.max(1, Math.min(p.length, opts.maxTrainSamples ?? Infinity)));
  } catch {
    return null;
  }
}

export async function startTestbed(opts: TestbedOptions): Promise<Testbed> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'flnode-testbed-'));
  mkdirSync(dir, { recursive: true });
  const sites = [];
  for (let i = 0; i < opts.nodes; i++) {
    const siteDir = join(dir, `site-${i}`);
    const id = existsSync(join(siteDir, 'identity.key')) ? await (await import('../identity.ts')).loadIdentity(siteDir) : await initIdentity(siteDir);
    sites.push({ dir: siteDir, peerId: id.peerId, port: await freePort() });
  }
  const adminKey = await loadOrCreateAdminKey(join(dir, 'admin.key'));
  let manifest = createManifest({
    consortium: `testbed-${Date.now().toString(36)}`,
    adminPublicKey: signingPublicKey(adminKey),
    plan: { rounds: opts.rounds, localEpochs: opts.epochs ?? DEFAULT_PLAN.localEpochs, ...(opts.learningRate ? { learningRate: opts.learningRate } : {}) },
    timeouts: { heartbeatMs: 500, livenessMs: 4000, keysMs: 8000, trainingMs: 60000, collectMs: 10000, aggregateMs: 8000, ...opts.timeouts },
    ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
    seed: opts.seed,
  });
  // each site's certified maxSamples: its share of the training split (the testbed partitions it)
  const sizes = await partitionSizes(opts);
  if (!sizes) throw new UserError(`${opts.data}: cannot read the dataset to size each site's share (maxSamples)`);
  manifest = { ...manifest, members: sites.map((s, i) => ({ name: `hospital-${String.fromCharCode(97 + i)}`, peerId: s.peerId, maxSamples: sizes[i]! })) };
  manifest = signManifest(manifest, adminKey);
  const manifestPath = join(dir, 'manifest.json');
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
  const links = opts.wan ? await WanLinks.start(opts.wan, sites.map((s) => s.port)) : null;
  return new Testbed(opts, dir, manifestPath, manifest, sites, links);
}

export class Testbed {
  readonly nodes: TestbedNode[];
  constructor(
    readonly opts: TestbedOptions,
    readonly dir: string,
    readonly manifestPath: string,
    readonly manifest: Manifest,
    sites: { dir: string; peerId: string; port: number }[],
    /** The WAN relays (--wan), or null on plain loopback. */
    readonly links: WanLinks | null = null,
  ) {
    // with --wan, site i dials site j at relay i→j; noise still authenticates j's peer id
    const addr = (from: number, to: number) => `/ip4/127.0.0.1/tcp/${links ? links.relayPort(from, to) : sites[to]!.port}/p2p/${sites[to]!.peerId}`;
    const wanEnv = (i: number) => ({ ...(links ? { FLNODE_ONLY_DIAL_PEERS: '1' } : {}), ...(links || opts.countTraffic ? { FLNODE_TRAFFIC_FILE: join(sites[i]!.dir, 'traffic.json') } : {}) });
    this.nodes = sites.map((s, i) => {
      const node: TestbedNode = {
        index: i,
        name: manifest.members[i]!.name,
        dir: s.dir,
        peerId: s.peerId,
        port: s.port,
        httpUrl: opts.httpBasePort != null ? `http://127.0.0.1:${opts.httpBasePort + i}/` : null,
        process: null,
        kill: (signal = 'SIGTERM') => node.process?.kill(signal),
        restart: () => {
          const args = [
            join(root, 'bin', 'flnode.mjs'), 'start', '--dir', s.dir, '--manifest', this.manifestPath, '--data', opts.data,
            '--listen', `/ip4/127.0.0.1/tcp/${s.port}`, '--peers', sites.flatMap((_o, j) => (j === i ? [] : [addr(i, j)])).join(','),
            '--sites', String(sites.length), '--site', String(i), '--split', opts.split ?? 'iid',
          ];
          if (opts.httpBasePort != null) args.push('--http', `127.0.0.1:${opts.httpBasePort + i}`);
          if (opts.maxTrainSamples) args.push('--max-train-samples', String(opts.maxTrainSamples));
          if (opts.maxEvalSamples) args.push('--max-eval-samples', String(opts.maxEvalSamples));
          const log = createWriteStream(join(s.dir, 'node.log'), { flags: 'a' });
          // FLNODE_CPU_PROF_DIR=<dir>: each node writes a V8 CPU profile there when it stops (how the
          // signature-verification hot spot was found).
          const prof = process.env.FLNODE_CPU_PROF_DIR;
          const child = spawn(process.execPath, [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), ...args], { cwd: root, env: { ...process.env, ...wanEnv(i), ...(opts.env?.(i) ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
          child.stdout!.pipe(log, { end: false });
          child.stderr!.pipe(log, { end: false });
          node.process = child;
          child.on('exit', () => {
            if (node.process === child) node.process = null;
          });
        },
        status: () => {
          try {
            return JSON.parse(readFileSync(join(s.dir, 'status.json'), 'utf8')) as NodeStatusFile;
          } catch {
            return null;
          }
        },
      };
      return node;
    });
  }

  start(): void {
    for (const n of this.nodes) n.restart();
    this.links?.scheduleFaults();
  }

  /** With wan or countTraffic, after stop(): bytes all nodes wrote to and read from their connections. */
  trafficTotals(): { sent: number; received: number } {
    const t = { sent: 0, received: 0 };
    for (const n of this.nodes) {
      for (const c of (JSON.parse(readFileSync(join(n.dir, 'traffic.json'), 'utf8')) as { connections: { sent: number; received: number }[] }).connections) {
        t.sent += c.sent;
        t.received += c.received;
      }
    }
    return t;
  }

  /** With --wan, after stop(): each node's own byte counts against its relays'. */
  wanAudit(): WanAudit | null {
    return this.links?.audit(this.nodes.map((n) => join(n.dir, 'traffic.json'))) ?? null;
  }

  /** With --wan: resolves once every link is down to heartbeat traffic (WanLinks.quiet). */
  async waitForQuietLinks(opts: { windowMs: number; maxBytes: number; timeoutMs: number }): Promise<void> {
    if (!this.links) throw new Error('testbed: waitForQuietLinks needs --wan');
    await this.links.quiet(opts);
  }

  alive(): TestbedNode[] {
    return this.nodes.filter((n) => n.process && n.process.exitCode === null);
  }

  /** Resolves when every node in `which` (default: all) reports model version ≥ v. */
  async waitFor(pred: (n: TestbedNode, s: NodeStatusFile | null) => boolean, timeoutMs: number, which = this.nodes): Promise<void> {
    const t0 = Date.now();
    while (!which.every((n) => pred(n, n.status()))) {
      if (Date.now() - t0 > timeoutMs) {
        const states = which.map((n) => `${n.name}: ${JSON.stringify(n.status()?.round ?? null)} v${n.status()?.model.version ?? '?'}`).join('; ');
        throw new Error(`testbed: timed out after ${timeoutMs} ms (${states}); logs in ${this.dir}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  waitForVersion(v: number, timeoutMs: number, which = this.nodes): Promise<void> {
    return this.waitFor((_n, s) => (s?.model.version ?? -1) >= v, timeoutMs, which);
  }

  async stop(): Promise<void> {
    const all = this.nodes.filter((n) => n.process);
    for (const n of all) n.process!.kill('SIGTERM');
    await Promise.all(all.map((n) => new Promise<void>((r) => {
      const p = n.process;
      if (!p || p.exitCode !== null) return r();
      const t = setTimeout(() => {
        p.kill('SIGKILL');
        r();
      }, 8000);
      p.once('exit', () => {
        clearTimeout(t);
        r();
      });
    })));
    if (this.links && !this.linksClosed) {
      this.linksClosed = true;
      await this.links.close();
    }
  }

  private linksClosed = false;
}
