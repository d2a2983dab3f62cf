// This node's contribution to the round: its secrets per attempt, its dealing per attempt, its
// local update (trained, or uploaded weights) and its cryptogram per attempt, each persisted before
// it is used or sent (PROTOCOL.md §3: at most one set of secrets, one dealing and one cryptogram per
// (r, a); after a crash the same bytes, never new ones).
import { fromHex, toHex } from '../../protocol/index.ts';
import { generateRoundSecrets, type RoundSecrets } from '../../protocol/v2/index.ts';
import type { Logger } from '../log.ts';
import type { Clock } from '../runtime/clock.ts';
import type { EngineHooks } from '../runtime/hooks.ts';
import type { Trainer } from '../types.ts';
import type { RoundStore, StoredDealing } from './round-store.ts';

export interface Update {
  delta: Float32Array;
  samples: number;
}

export interface OwnSecrets extends RoundSecrets {
  samples: number;
}

export class Contribution {
  update: Update | null = null;
  private training: Promise<void> | null = null;
  private external: Float32Array | null = null;
  /** The round whose update came from uploaded weights (−1: none yet). */
  uploadedRound = -1;

  constructor(
    private readonly store: RoundStore,
    private readonly trainer: Trainer,
    private readonly clock: Clock,
    private readonly hooks: EngineHooks,
    private readonly log: Logger,
  ) {}

  /** Reloads uploaded weights not used yet. */
  async load(): Promise<void> {
    this.external = await this.store.externalWeights();
  }

  /** Reloads round r's persisted update. */
  async restore(r: number): Promise<void> {
    const stored = await this.store.update(r);
    this.update = stored && { delta: stored.delta, samples: stored.samples };
    if (stored?.uploaded) this.uploadedRound = r;
  }

  /** This node's secrets for (r, a): the persisted ones, or fresh ones persisted before anything derived is sent. */
  async secrets(r: number, a: number): Promise<OwnSecrets> {
    let s = await this.store.secrets(r, a);
    if (!s) {
      const g = generateRoundSecrets();
      s = { cSecret: toHex(g.cSecret), cPublic: toHex(g.cPublic), sSecret: toHex(g.sSecret), sPublic: toHex(g.sPublic), selfSeed: toHex(g.selfSeed), samples: this.update?.samples ?? this.trainer.trainSamples };
      await this.store.saveSecrets(r, a, s);
    }
    return { cSecret: fromHex(s.cSecret), cPublic: fromHex(s.cPublic), sSecret: fromHex(s.sSecret), sPublic: fromHex(s.sPublic), selfSeed: fromHex(s.selfSeed), samples: s.samples };
  }

  /** The persisted secrets of (r, a), if this node made any. */
  async storedSecrets(r: number, a: number): Promise<OwnSecrets | null> {
    return (await this.store.secrets(r, a)) ? this.secrets(r, a) : null;
  }

  /** This node's dealing for (r, a): the persisted one, or `build()`'s, persisted before it is sent. */
  async dealing(r: number, a: number, build: () => StoredDealing): Promise<{ dealing: StoredDealing; fresh: boolean }> {
    const existing = await this.store.dealing(r, a);
    if (existing) return { dealing: existing, fresh: false };
    const dealing = build();
    await this.store.saveDealing(r, a, dealing);
    return { dealing, fresh: true };
  }

  /** This node's cryptogram for (r, a): the persisted one, or `build()`'s, persisted before it is published. */
  async cryptogram(r: number, a: number, build: (u: Update) => Uint32Array): Promise<{ c: Uint32Array; fresh: boolean } | null> {
    const existing = await this.store.ownCryptogram(r, a);
    if (existing) return { c: existing, fresh: false };
    if (!this.update) return null;
    const c = build(this.update);
    await this.store.saveOwnCryptogram(r, a, c);
    return { c, fresh: true };
  }

  /** Starts computing round r's update from `weights` unless it exists or is under way; `done` runs when it is stored. */
  startTraining(r: number, weights: Float32Array, seed: number, currentRound: () => number, done: () => void): void {
    if (this.update || this.training) return;
    this.training = this.train(r, weights, seed, currentRound, done);
  }

  private async train(r: number, weights: Float32Array, seed: number, currentRound: () => number, done: () => void): Promise<void> {
    try {
      let delta: Float32Array;
      let samples = this.trainer.trainSamples;
      const uploaded = this.external !== null;
      if (this.external) {
        delta = new Float32Array(weights.length);
        for (let i = 0; i < delta.length; i++) delta[i] = this.external[i]! - weights[i]!;
        this.log.info({ round: r }, "using uploaded weights as this round's contribution");
      } else {
        const delay = this.hooks.trainDelayMs;
        if (delay > 0) await new Promise<void>((res) => this.clock.setTimeout(res, delay)); // test hook: a slow site
        this.trainer.setWeights(weights);
        const res = await this.trainer.trainLocal({ seed });
        delta = res.delta;
        samples = res.samples;
        this.log.info({ round: r, seconds: +res.seconds.toFixed(2), loss: +res.loss.toFixed(4), samples }, 'local training done');
      }
      if (currentRound() !== r) return;
      // a non-finite update could not be quantized (the cryptogram build would fail on every tick)
      const bad = delta.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) throw new Error(`the update is not finite (value ${bad} is ${delta[bad]}): not used; check the learning rate or the uploaded weights`);
      await this.store.saveUpdate(r, delta, samples, uploaded);
      if (uploaded) {
        this.external = null;
        this.uploadedRound = r;
      }
      this.update = { delta, samples };
      done();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'local training failed');
      // a non-finite update would come out the same again (training is seeded): no retry this round
      this.training = (err as Error).message.startsWith('the update is not finite') ? Promise.resolve() : null;
    }
  }

  /** This round's update exists or is being computed (an upload now goes to the next round). */
  get started(): boolean {
    return this.update !== null || this.training !== null;
  }

  /** Waits for local training to finish (the trainer is shared with evaluation). */
  async idle(): Promise<void> {
    if (this.training) await this.training.catch(() => undefined);
  }

  /** Weights uploaded through the API: this site's contribution to the next round that trains. */
  async submit(flat: Float32Array): Promise<void> {
    this.external = flat;
    await this.store.saveExternalWeights(flat);
  }

  /** The round committed: nothing of it is used again. */
  newRound(): void {
    this.update = null;
    this.training = null;
  }
}
