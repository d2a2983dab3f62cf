// Virtual time for the deterministic simulation: one event queue ordered by (time, insertion), a
// Host per simulated process (up, paused or down; its timers and incoming messages go through it),
// and a VirtualClock per process incarnation implementing node/runtime/clock.ts. After every event
// the scheduler lets pending promise chains run to completion (one macrotask turn drains the
// microtask queue), so the engines' async steps finish before virtual time moves on.
import type { Clock, TimerHandle } from '../../node/runtime/clock.ts';
import { hash32 } from './sim-rng.ts';

/** Virtual epoch: a plausible wall-clock time, so signed `sentAt` values look like real ones. */
export const SIM_EPOCH = 1_767_225_600_000; // 2026-01-01T00:00:00Z

interface SimEvent {
  at: number;
  seq: number;
  label: string;
  fn: () => void;
  cancelled: boolean;
}

/** Lets every promise chain that is ready run to completion (the microtask queue is drained
 * before the next macrotask). */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Scheduler {
  now = SIM_EPOCH;
  /** Events run so far. */
  events = 0;
  /** A running hash of (time, label) of every event run: equal traces replay equal schedules. */
  trace = 0;
  private heap: SimEvent[] = [];
  private seq = 0;

  /** Run `fn` `delay` ms from now (label: what it is, for the trace and for debugging). */
  schedule(delay: number, label: string, fn: () => void): SimEvent {
    const ev: SimEvent = { at: this.now + Math.max(0, Math.floor(delay)), seq: this.seq++, label, fn, cancelled: false };
    this.push(ev);
    return ev;
  }
  cancel(ev: SimEvent): void {
    ev.cancelled = true;
  }
  get pending(): number {
    return this.heap.length;
  }
  /** Time of the next event, or null when nothing is scheduled. */
  peek(): number | null {
    while (this.heap.length && this.heap[0]!.cancelled) this.pop();
    return this.heap.length ? this.heap[0]!.at : null;
  }

  /** Runs the next event and lets the promise chains it started settle. False when idle. */
  async step(): Promise<boolean> {
    let ev: SimEvent | undefined;
    do ev = this.pop();
    while (ev && ev.cancelled);
    if (!ev) return false;
    this.now = ev.at;
    this.events++;
    this.trace = hash32(`${this.trace}|${ev.at}|${ev.label}`);
    ev.fn();
    await flush();
    return true;
  }

  /** Steps until `stop()` holds (checked after every event) or virtual time passes `until`.
   * `after` runs after every event (the invariant checks). Returns true if `stop` held. */
  async run(opts: { until: number; stop?: () => boolean; after?: () => void }): Promise<boolean> {
    for (;;) {
      if (opts.stop?.()) return true;
      const next = this.peek();
      if (next === null || next > opts.until) {
        this.now = Math.max(this.now, opts.until);
        return false;
      }
      await this.step();
      opts.after?.();
    }
  }

  private push(ev: SimEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  private pop(): SimEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

const before = (a: SimEvent, b: SimEvent): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/**
 * One simulated process. Timers fire and messages arrive only while it is up. Paused (SIGSTOP), it
 * keeps what arrives and what falls due; on resume its overdue timers fire once each (as Node's
 * do after a blocked loop), then the buffered messages are read, in arrival order. Down (crashed),
 * everything addressed to it is lost, and every timer and pending callback of the dead
 * incarnation stays dead, also after a restart.
 */
export class Host {
  state: 'up' | 'paused' | 'down' = 'up';
  /** Incremented on each crash: callbacks of an older incarnation never run again. */
  incarnation = 0;
  private dueTimers: (() => void)[] = [];
  private inbox: (() => void)[] = [];

  constructor(
    readonly sched: Scheduler,
    readonly name: string,
    /** This host's clock offset from virtual time, ms. */
    readonly skewMs = 0,
  ) {}

  /** The clock of the current incarnation. */
  clock(): VirtualClock {
    return new VirtualClock(this, this.incarnation);
  }
  alive(incarnation: number): boolean {
    return this.incarnation === incarnation && this.state !== 'down';
  }
  /** Run (or buffer) the arrival of a message for `incarnation`. */
  arrive(incarnation: number, fn: () => void): void {
    if (!this.alive(incarnation)) return;
    if (this.state === 'paused') this.inbox.push(fn);
    else fn();
  }
  /** @internal VirtualClock: a timer fell due. Returns false when the host is paused (buffered). */
  timerDue(fn: () => void): boolean {
    if (this.state === 'paused') {
      this.dueTimers.push(fn);
      return false;
    }
    fn();
    return true;
  }
  pause(): void {
    if (this.state === 'up') this.state = 'paused';
  }
  resume(): void {
    if (this.state !== 'paused') return;
    this.state = 'up';
    const timers = this.dueTimers.splice(0);
    const inbox = this.inbox.splice(0);
    const inc = this.incarnation;
    // Node runs the timers phase, then reads the sockets, settling promises after each callback:
    // one event each, in that order
    for (const fn of [...timers, ...inbox]) this.sched.schedule(0, `resume:${this.name}`, () => void (this.alive(inc) && fn()));
  }
  crash(): void {
    this.state = 'down';
    this.incarnation++;
    this.dueTimers = [];
    this.inbox = [];
  }
  restart(): void {
    if (this.state === 'down') this.state = 'up';
  }
}

/** node/runtime/clock.ts on virtual time, for one incarnation of one host. */
export class VirtualClock implements Clock {
  private next = 1;
  private readonly live = new Map<number, { ev: ReturnType<Scheduler['schedule']> | null }>();

  constructor(
    readonly host: Host,
    readonly incarnation: number,
  ) {}

  now(): number {
    return this.host.sched.now + this.host.skewMs;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.arm(id, fn, ms, false);
    return { id };
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.arm(id, fn, ms, true);
    return { id };
  }
  clear(handle: TimerHandle): void {
    const t = this.live.get(handle.id);
    if (!t) return;
    if (t.ev) this.host.sched.cancel(t.ev);
    this.live.delete(handle.id);
  }
  /** Pending timers of this incarnation (for tests of the clock itself). */
  get timers(): number {
    return this.live.size;
  }

  private arm(id: number, fn: () => void, ms: number, repeat: boolean): void {
    const entry = { ev: null as ReturnType<Scheduler['schedule']> | null };
    this.live.set(id, entry);
    const fire = () => {
      entry.ev = null;
      if (!this.host.alive(this.incarnation)) return void this.live.delete(id);
      this.host.timerDue(() => {
        if (!this.live.has(id) || !this.host.alive(this.incarnation)) return;
        if (repeat) entry.ev = this.host.sched.schedule(Math.max(1, ms), `timer:${this.host.name}`, fire);
        else this.live.delete(id);
        fn();
      });
    };
    entry.ev = this.host.sched.schedule(Math.max(repeat ? 1 : 0, ms), `timer:${this.host.name}`, fire);
  }
}
