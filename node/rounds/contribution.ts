// This node's contribution to the round: its ephemeral key per attempt, its local update (trained,
// or uploaded weights) and its cryptogram per attempt, each persisted before it is used or sent
// (PROTOCOL.md §4: at most one cryptogram per (r, a); after a crash the same bytes, never new ones).
import { buildCryptogram, fromHex, generateEphemeralKeyPair, toHex, type AttemptParams } from '../../protocol/index.ts';
import type { Logger } from '../log.ts';
import type { Clock } from '../runtime/clock.ts';
import type { EngineHooks } from '../runtime/hooks.ts';
import type { Trainer } from '../types.ts';
import type { KeyInfo } from './attempts.ts';
import type { RoundStore } from './round-store.ts';

export interface Update {
  delta: Float32Array;
  samples: number;
}

export class Contribution {
  /** This node's X25519 key pair for the current attempt, once announced. */
  own: { secret: Uint8Array; public: Uint8Array } | null = null;
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

  /** Reloads what was persisted for round r: the update and the current attempt's key. */
  async restore(r: number, attempt: number): Promise<void> {
    const stored = await this.store.update(r);
    this.update = stored && { delta: stored.delta, samples: stored.samples };
    if (stored?.uploaded) this.uploadedRound = r;
    const key = await this.store.key(r, attempt);
    if (key) this.own = { secret: fromHex(key.secret), public: fromHex(key.public) };
  }

  /** The key for (r, a): the persisted one, or a fresh one persisted before it is announced. */
  async key(r: number, a: number): Promise<KeyInfo> {
    let key = await this.store.key(r, a);
    if (!key) {
      const kp = generateEphemeralKeyPair();
      key = { secret: toHex(kp.secretKey), public: toHex(kp.publicKey), samples: this.trainer.trainSamples };
      await this.store.saveKey(r, a, key);
    }
    this.own = { secret: fromHex(key.secret), public: fromHex(key.public) };
    return { publicKey: this.own.public, samples: key.samples };
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
      await this.store.saveUpdate(r, delta, samples, uploaded);
      if (uploaded) {
        this.external = null;
        this.uploadedRound = r;
      }
      this.update = { delta, samples };
      done();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'local training failed');
      this.training = null;
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

  /** This node's cryptogram for (r, a): the persisted one, or built now and persisted before it is published. */
  async cryptogram(r: number, a: number, params: AttemptParams, self: string): Promise<{ c: Uint32Array; fresh: boolean } | null> {
    if (!this.own || !this.update) return null;
    const existing = await this.store.ownCryptogram(r, a);
    if (existing) return { c: existing, fresh: false };
    const c = buildCryptogram(params, { id: self, secretKey: this.own.secret }, this.update.delta);
    await this.store.saveOwnCryptogram(r, a, c);
    return { c, fresh: true };
  }

  /** A new attempt: its key is not announced yet. */
  newAttempt(): void {
    this.own = null;
  }

  /** The round committed: nothing of it is used again. */
  newRound(): void {
    this.own = null;
    this.update = null;
    this.training = null;
  }
}
