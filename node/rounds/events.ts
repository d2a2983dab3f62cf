// The node's notable events (status page, /api/status, status.json): a typed kind, a bounded log,
// and a once-per-round tag set so that re-sent copies of one fault are recorded once.
import type { Logger } from '../log.ts';

export type EventKind =
  | 'paused' // this process did not run for longer than the liveness window
  | 'refused-attempt' // an AttemptStart broke a re-mask rule (PROTOCOL.md §4)
  | 'rejected-aggregate' // an AggregateRecord did not check (PROTOCOL.md §5, aggregate check)
  | 'split-attempt' // another AttemptStart with another set for an attempt this node follows
  | 'attempt-stalled' // too few cryptograms for a re-mask, or no attempt left
  | 'equivocation' // two different cryptograms from one member for one (r, a)
  | 'bad-model' // a fetched model did not match its hash or size
  | 'fork-healed'; // this node adopted the model most live members hold for its version

export interface NodeEvent {
  at: number;
  kind: EventKind;
  detail: string;
}

const KEEP = 200;

export class EventLog {
  readonly list: NodeEvent[] = [];
  /** Tags of things logged or recorded once per round (see firstTime). */
  private readonly noted = new Set<string>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
    private readonly changed: () => void,
  ) {}

  record(kind: EventKind, detail: string): void {
    this.list.push({ at: this.now(), kind, detail });
    if (this.list.length > KEEP) this.list.shift();
    this.log.warn({ event: kind }, detail);
    this.changed();
  }

  /** True the first time a tag is seen in this round. */
  firstTime(tag: string): boolean {
    if (this.noted.has(tag)) return false;
    this.noted.add(tag);
    return true;
  }

  /** A new round: every tag may be noted again. */
  newRound(): void {
    this.noted.clear();
  }
}
