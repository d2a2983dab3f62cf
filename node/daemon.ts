// The daemon: wires identity, manifest, network, training, storage, rounds and the HTTP page.
import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SiteIdentity } from './identity.ts';
import { loadApiToken, loadIdentity } from './identity.ts';
import { createLogger } from './log.ts';
import { isMember, loadManifest, maxSamplesOf, memberName, verifyManifest, type Manifest } from './manifest.ts';
import { createLibp2pNetwork } from './p2p/libp2p-network.ts';
import { RoundEngine } from './rounds/engine.ts';
import { Store } from './storage/store.ts';
import { SystemClock } from './runtime/clock.ts';
import { noHooks, type AggregatorFault, type EngineHooks } from './runtime/hooks.ts';
import { createTrainer, exportLayersModel, importLayersModel, type SplitScheme } from './training/index.ts';
import { setFlatWeights } from './training/model.ts';
import type { Network, NodeStatus, NodeView, RoundSummary, Trainer } from './types.ts';
import { UserError } from './errors.ts';
import { startHttpServer } from './http/server.ts';
import { publishedRound } from './rounds/publication.ts';

export interface DaemonOptions {
  dir: string;
  manifestPath: string;
  dataPath: string;
  listen: string[];
  peers: string[];
  http?: { host: string; port: number } | null;
  sites?: number;
  site?: number;
  scheme?: SplitScheme;
  maxTrainSamples?: number;
  maxEvalSamples?: number;
  /** Misbehave as aggregator (fault suite only). */
  fault?: AggregatorFault | null;
}

export interface Daemon {
  engine: RoundEngine;
  network: Network;
  view: NodeView;
  httpUrl: string | null;
  stop(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const identity: SiteIdentity = await loadIdentity(opts.dir);
  const manifest: Manifest = await loadManifest(opts.manifestPath);
  if (!isMember(manifest, identity.peerId)) throw new UserError(`this site (${identity.peerId}) is not a member of consortium ${manifest.consortium}; ask the admin to add it`);
  const site = memberName(manifest, identity.peerId)!;
  const log = createLogger('node', { site });
  const token = await loadApiToken(opts.dir);
  const trainer: Trainer = await createTrainer({
    dataPath: opts.dataPath,
    sites: opts.sites ?? manifest.members.length,
    site: opts.site ?? manifest.members.findIndex((m) => m.peerId === identity.peerId),
    scheme: opts.scheme,
    seed: manifest.model.seed,
    maxTrainSamples: opts.maxTrainSamples,
    maxEvalSamples: opts.maxEvalSamples,
    plan: { epochs: manifest.plan.localEpochs, batchSize: manifest.plan.batchSize, learningRate: manifest.plan.learningRate, optimizer: manifest.plan.optimizer },
  });
  const cap = maxSamplesOf(manifest, identity.peerId);
  if (cap !== undefined && trainer.trainSamples > cap) log.warn({ trainSamples: trainer.trainSamples, maxSamples: cap }, 'this site trains on more samples than the manifest certifies: the other members will refuse its key announcements (ask the admin to raise maxSamples, or pass --max-train-samples)');
  if (trainer.dataset !== manifest.model.dataset) log.warn({ data: trainer.dataset, manifest: manifest.model.dataset }, 'the data file is not the dataset named in the manifest');
  const store = new Store(join(opts.dir, 'db'));
  await store.open();
  const network = await createLibp2pNetwork({ identity, consortium: manifest.consortium, listen: opts.listen, peers: opts.peers, members: manifest.members.map((m) => m.peerId), log: createLogger('p2p', { site }), silenceMs: Math.max(5000, 2 * manifest.timeouts.livenessMs) });

  const listeners = new Set<() => void>();
  let statusTimer: NodeJS.Timeout | null = null;
  let httpUrl: string | null = null; // written to status.json so the CLI can reach a running node
  const changed = () => {
    for (const l of listeners) l();
    if (!statusTimer) statusTimer = setTimeout(() => void writeStatus(), 200);
  };
  const engine = new RoundEngine({ manifest, identity, network, trainer, store, log, onChange: changed, clock: new SystemClock(), hooks: engineHooks(opts.fault ?? null) });

  const status = (): NodeStatus => {
    const connected = new Set(network.connectedPeers());
    const s = engine.round;
    let signature: 'valid' | 'invalid' = 'valid';
    try {
      verifyManifest(manifest);
    } catch {
      signature = 'invalid';
    }
    return {
      site,
      peerId: identity.peerId,
      consortium: manifest.consortium,
      manifestSignature: signature,
      listen: network.listenAddresses(),
      peers: manifest.members.map((m) => {
        const hb = engine.heartbeatOf(m.peerId);
        const self = m.peerId === identity.peerId;
        return { id: m.peerId, name: m.name, connected: self || connected.has(m.peerId), live: self || (!!hb && Date.now() - hb.at < manifest.timeouts.livenessMs), lastSeen: self ? Date.now() : (hb?.at ?? null) };
      }),
      round: {
        round: s.round,
        attempt: s.attempt,
        phase: s.phase,
        aggregator: engine.completed ? null : engine.aggregator,
        participants: engine.participants().map((id) => {
          const p = engine.chunkProgress(id);
          return { id, name: memberName(manifest, id) ?? id, chunksReceived: p.received, chunksTotal: p.total };
        }),
        deadline: engine.completed ? null : engine.deadline(),
      },
      model: { version: engine.global.version, hash: engine.global.hash, published: publishedRound(engine.summaries) },
      roundsPlanned: manifest.plan.rounds,
      events: engine.events.slice(-20),
    };
  };

  const writeStatus = async () => {
    statusTimer = null;
    const tmp = join(opts.dir, `status.json.${randomBytes(4).toString('hex')}`);
    try {
      await writeFile(tmp, JSON.stringify({ ...status(), rounds: engine.summaries, completed: engine.completed, events: engine.events, http: httpUrl }, null, 1));
      await rename(tmp, join(opts.dir, 'status.json'));
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not write status.json');
    }
  };

  const view: NodeView = {
    status,
    rounds: (): RoundSummary[] => engine.summaries,
    async currentModel() {
      if (!engine.global) return null;
      // the published round's model (best validation AUC); the current one before any round
      const round = publishedRound(engine.summaries) ?? engine.global.version;
      const summary = engine.summaries.find((s) => s.round === round);
      const weights = round === engine.global.version ? engine.currentWeights() : await engine.modelWeights(round);
      if (!weights || !summary) return { version: engine.global.version, round: engine.global.version, hash: engine.global.hash, ...(await modelArtifacts(trainer, engine.currentWeights())) };
      return { version: engine.global.version, round, hash: summary.modelHash, ...(await modelArtifacts(trainer, weights)) };
    },
    modelInfo: () => ({ dataset: trainer.dataset, task: trainer.task }),
    weightShapes: () => (trainer as unknown as { weightShapes(): { name: string; shape: number[] }[] }).weightShapes(),
    async submitWeights(flat) {
      return { round: await engine.submitWeights(flat) };
    },
    async submitVoid(record) {
      return { round: await engine.submitVoid(record) };
    },
    onChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };

  await network.start();
  await engine.start();
  let http: { close(): Promise<void> } | null = null;
  if (opts.http) {
    const srv = await startHttpServer({ host: opts.http.host, port: opts.http.port, view, token, log: createLogger('http', { site }) });
    httpUrl = srv.url;
    http = srv;
    log.info({ url: srv.url }, 'status page');
  }
  await writeStatus();
  const heartbeatStatus = setInterval(() => changed(), 1000);
  log.info({ peerId: identity.peerId, consortium: manifest.consortium, round: engine.round.round, model: engine.global.version, dataset: trainer.dataset, trainSamples: trainer.trainSamples }, 'flnode started');

  return {
    engine,
    network,
    view,
    httpUrl,
    async stop() {
      clearInterval(heartbeatStatus);
      engine.stop();
      await http?.close();
      await network.stop();
      await writeStatus();
      await store.close();
      trainer.dispose();
    },
  };
}

/**
 * The round engine's fault hooks. Production: none. Under NODE_ENV=test (the fault suite):
 * FLNODE_TEST_CRASH_AT="<round>:<point>[,...]" makes the process SIGKILL itself on reaching that
 * point (a phase name: `dealing`, `training`, `collecting`, `unmasking`, `verifying`; or a step:
 * `secrets-persisted`, `dealing-persisted`, `list-persisted`, `cryptogram-persisted`,
 * `cryptogram-published`, `reveal-saved`, `reveal-persisted`, `reveal-sent`), so that a crash of each role in each
 * phase is reproducible rather than a matter of timing; FLNODE_TEST_TRAIN_DELAY_MS makes a slow
 * site; `fault` (FLNODE_TEST_FAULT) an equivocating member or a faulty aggregator (`equivocate`,
 * `false-dropout`, `split-u3`).
 */
export function engineHooks(fault: AggregatorFault | null, env: NodeJS.ProcessEnv = process.env): EngineHooks {
  if (env.NODE_ENV !== 'test') return noHooks;
  const crashAt = new Set((env.FLNODE_TEST_CRASH_AT ?? '').split(',').filter(Boolean));
  return {
    reached(round, point) {
      if (!crashAt.has(`${round}:${point}`)) return;
      process.stderr.write(`test hook: SIGKILL at round ${round} ${point}\n`);
      process.kill(process.pid, 'SIGKILL');
    },
    trainDelayMs: Number(env.FLNODE_TEST_TRAIN_DELAY_MS ?? 0) || 0,
    aggregatorFault: fault,
  };
}

/** The model in the tfjs layers format for given flat weights (a scratch copy of the architecture). */
async function modelArtifacts(trainer: Trainer, weights: Float32Array): Promise<{ modelJson: string; weights: Uint8Array }> {
  const base = await trainer.exportModel();
  const model = await importLayersModel(base.modelJson, base.weights);
  setFlatWeights(model, weights);
  const out = await exportLayersModel(model);
  model.dispose();
  return out;
}
