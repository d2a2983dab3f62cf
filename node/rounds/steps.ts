// The engine's steps run one at a time, in order: message handling, ticks, re-sends and local
// submissions are queued here (a step that throws is logged and the next one runs), and the
// periodic ones are started on the injected clock. Stopping cancels the timers and refuses new steps.
import type { Logger } from '../log.ts';
import type { Clock, TimerHandle } from '../runtime/clock.ts';

export class StepQueue {
  private queue: Promise<void> = Promise.resolve();
  private timers: TimerHandle[] = [];
  private halted = false;

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  get stopped(): boolean {
    return this.halted;
  }

  /** Runs `fn` after every step queued before it (nothing once stopped). */
  enqueue(fn: () => Promise<void> | void): void {
    if (this.halted) return;
    this.queue = this.queue.then(fn).catch((err) => this.log.error({ err: (err as Error).stack ?? String(err) }, 'round step failed'));
  }

  /** Calls `fn` every `ms` until stopped. */
  every(ms: number, fn: () => void): void {
    this.timers.push(this.clock.setInterval(fn, ms));
  }

  stop(): void {
    this.halted = true;
    for (const t of this.timers) this.clock.clear(t);
    this.timers = [];
  }
}
