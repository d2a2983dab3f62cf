// In-process stand-ins for a RoundEngine's collaborators in engine-level tests: a seeded PRNG, a
// trainer with a small fixed model that "trains" instantly, and a network that only records what
// the engine publishes (tests feed incoming envelopes to engine.handle/validate themselves).
import { seededRandom } from '../../node/training/partition.ts';
import type { Clock, TimerHandle } from '../../node/runtime/clock.ts';
import type { Network, Trainer } from '../../node/types.ts';

/** The seeded PRNG the data splits use (mulberry32), so every run generates the same cases. */
export { seededRandom as rng } from '../../node/training/partition.ts';

/** A trainer over `parameters` weights drawn from a fixed seed (every site gets the same v0). */
export function fakeTrainer(parameters: number): Trainer {
  const r = seededRandom(7);
  let w = new Float32Array(parameters).map(() => r() - 0.5);
  return {
    dataset: 'fake', task: 'binary', backend: 'none', parameterCount: parameters, trainSamples: 100,
    getWeights: () => w.slice(),
    setWeights: (x) => void (w = x.slice()),
    trainLocal: async () => ({ delta: new Float32Array(parameters), samples: 100, seconds: 0, loss: 0 }),
    evaluate: async () => ({ auc: 0.5, acc: 0.5, loss: 1 }),
    exportModel: async () => ({ modelJson: '{}', weights: new Uint8Array(0) }),
    dispose: () => undefined,
  };
}

export class StubNetwork implements Network {
  published: Uint8Array[] = [];
  constructor(readonly selfId: string) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async publish(e: Uint8Array): Promise<void> {
    this.published.push(e);
  }
  setValidator(): void {}
  onMessage(): void {}
  async request(_peer: string, _request: Uint8Array, _opts: { maxResponseBytes: number; timeoutMs: number }): Promise<Uint8Array | null> {
    return null;
  }
  onRequest(): void {}
  connectedPeers(): string[] {
    return [];
  }
  listenAddresses(): string[] {
    return [];
  }
  peerScore(): number {
    return 0;
  }
}

/** Virtual time for engine tests: timers run only when the test advances the clock. */
export class ManualClock implements Clock {
  private t: number;
  private next = 1;
  private readonly timers = new Map<number, { at: number; every: number | null; fn: () => void }>();
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, every: null, fn });
    return { id };
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, every: Math.max(1, ms), fn });
    return { id };
  }
  clear(h: TimerHandle): void {
    this.timers.delete(h.id);
  }
  /** Moves time forward by `ms`, running every timer that falls due, in order, with a macrotask turn between them. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!due) break;
      const [id, x] = due;
      this.t = Math.max(this.t, x.at);
      if (x.every === null) this.timers.delete(id);
      else x.at += x.every;
      x.fn();
      await new Promise((r) => setImmediate(r));
    }
    this.t = end;
  }
}
