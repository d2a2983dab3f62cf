// The cryptograms of one round: chunks reassembled per (attempt, sender), complete cryptograms,
// equivocation (PROTOCOL.md §4: two different cryptograms of one sender for one (r, a)), what is
// missing and how far each sender got. Owns no persistence: the engine stores what it returns.
import { cryptogramHash, CryptogramAssembler, equalBytes, toHex, type CryptogramChunkBody } from '../../protocol/index.ts';

export type ChunkOutcome =
  | { kind: 'no-attempt' } // no AttemptStart accepted for this attempt yet: the sender re-sends
  | { kind: 'foreign' } // masked for another AttemptStart of this attempt (attempt binding)
  | { kind: 'equivocator' } // the sender is recorded as an equivocator for this attempt
  | { kind: 'equivocation' } // a second, different cryptogram: both dropped
  | { kind: 'duplicate' }
  | { kind: 'partial' }
  | { kind: 'complete'; cryptogram: Uint32Array }
  | { kind: 'bad'; reason: string };

/** `${attempt}/${sender}`: the key of one sender's cryptogram for one attempt of the round. */
export const cryptogramId = (attempt: number, sender: string): string => `${attempt}/${sender}`;

export class Collector {
  private readonly assemblers = new Map<string, CryptogramAssembler>();
  private readonly received = new Map<string, Uint32Array>();
  private readonly hashes = new Map<string, string>();

  /** `equivocators` is the round record's list (`${attempt}/${sender}`), extended here. */
  constructor(
    private readonly modelWords: number,
    private readonly equivocators: string[],
  ) {}

  /**
   * One chunk from `sender` for `attempt`. `acceptedAttemptHash` is the hash of the AttemptStart
   * this node accepted for that attempt, or null: a cryptogram is only usable in the attempt whose
   * start it was masked for (two aggregators may open one (r, a) with different sets; a cryptogram
   * masked for the other set would not cancel in this sum and would decode to noise).
   */
  addChunk(attempt: number, sender: string, body: CryptogramChunkBody, acceptedAttemptHash: Uint8Array | null): ChunkOutcome {
    const id = cryptogramId(attempt, sender);
    if (this.equivocators.includes(id)) return { kind: 'equivocator' };
    if (!acceptedAttemptHash) return { kind: 'no-attempt' };
    if (!equalBytes(acceptedAttemptHash, body.attemptHash)) return { kind: 'foreign' };
    const hash = toHex(body.cryptogramHash);
    const asm = this.assemblers.get(id);
    const known = this.hashes.get(id) ?? (asm ? toHex(asm.hash) : undefined);
    if (known && known !== hash) {
      this.equivocators.push(id);
      this.received.delete(id);
      this.hashes.delete(id);
      this.assemblers.delete(id);
      return { kind: 'equivocation' };
    }
    if (this.received.has(id)) return { kind: 'duplicate' };
    try {
      const a = asm ?? new CryptogramAssembler(body, this.modelWords);
      if (!asm) this.assemblers.set(id, a);
      const c = a.add(body);
      if (!c) return { kind: 'partial' };
      this.assemblers.delete(id);
      this.keep(id, c, hash);
      return { kind: 'complete', cryptogram: c };
    } catch (err) {
      return { kind: 'bad', reason: (err as Error).message };
    }
  }

  /** A complete cryptogram from elsewhere (this node's own, or one reloaded from disk). */
  put(attempt: number, sender: string, c: Uint32Array): void {
    this.keep(cryptogramId(attempt, sender), c, toHex(cryptogramHash(c)));
  }

  /** Restores the cryptograms reloaded from disk, keyed `${attempt}/${sender}`. */
  restore(all: Map<string, Uint32Array>): void {
    for (const [id, c] of all) this.keep(id, c, toHex(cryptogramHash(c)));
  }

  has(attempt: number, sender: string): boolean {
    return this.received.has(cryptogramId(attempt, sender));
  }
  get(attempt: number, sender: string): Uint32Array | undefined {
    return this.received.get(cryptogramId(attempt, sender));
  }

  /** Participants of `attempt` whose complete cryptogram this node does not hold. */
  missing(attempt: number, participants: readonly string[]): string[] {
    return participants.filter((p) => !this.has(attempt, p));
  }

  /** Chunks received of `sender`'s cryptogram for `attempt` (status page). */
  progress(attempt: number, sender: string): { received: number; total: number | null } {
    const id = cryptogramId(attempt, sender);
    if (this.received.has(id)) {
      const n = Math.ceil((this.modelWords * 4) / (1 << 20));
      return { received: n, total: n };
    }
    const asm = this.assemblers.get(id);
    return asm ? { received: asm.progress.received, total: asm.progress.count } : { received: 0, total: null };
  }

  private keep(id: string, c: Uint32Array, hash: string): void {
    this.received.set(id, c);
    this.hashes.set(id, hash);
  }
}
