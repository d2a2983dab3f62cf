// The node's notable events (status page, /api/status, status.json): a typed kind, a bounded log,
// and a once-per-round tag set so that re-sent copies of one fault are recorded once.
import type { Logger } from '../log.ts';

export type EventKind =
  | 'paused' // this process did not run for longer than the liveness window
  | 'refused-list' // the aggregator's U1, U2 or U3 list broke a rule (PROTOCOL.md §8): next attempt
  | 'bad-dealing' // a dealer's share failed (complaint sent, or a proven complaint seen)
  | 'attempt-stalled' // no attempt left, or the round waits for a final attempt's shares
  | 'equivocation' // two different signed messages of one kind from one member for one (r, a)
  | 'bad-model' // a fetched model did not match its hash or size
  | 'fork-healed' // this node adopted the model most live members hold for its version
  | 'round-voided'; // the admin's void record ended the round: the model stays the previous version's

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
