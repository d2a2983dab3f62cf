// Time as the round logic sees it. Production uses the system clock and Node's timers; the
// deterministic simulation (test/sim/) supplies virtual time, so no module under node/rounds/
// calls Date.now() or setTimeout directly.

/** An opaque timer handle returned by a Clock. */
export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** Milliseconds since the epoch (wall time for logs, summaries and signed `sentAt`). */
  now(): number;
  /** Run `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Run `fn` every `ms` milliseconds until cleared. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  /** Cancel a timer from setTimeout or setInterval (unknown or cleared handles are ignored). */
  clear(handle: TimerHandle): void;
}

/** The system clock and Node's timers. */
export class SystemClock implements Clock {
  private next = 1;
  private readonly live = new Map<number, NodeJS.Timeout>();

  now(): number {
    return Date.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.live.set(
      id,
      setTimeout(() => {
        this.live.delete(id);
        fn();
      }, ms),
    );
    return { id };
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.live.set(id, setInterval(fn, ms));
    return { id };
  }
  clear(handle: TimerHandle): void {
    const t = this.live.get(handle.id);
    if (t === undefined) return;
    clearTimeout(t); // clearTimeout and clearInterval are interchangeable in Node
    this.live.delete(handle.id);
  }
}
