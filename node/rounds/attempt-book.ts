// What this node holds for each attempt of the round (PROTOCOL.md §7–§9): key announcements, the
// aggregator's three lists, dealings and the shares it opened, proven complaints, complete
// cryptograms, consents and reveals, each with when it arrived (the "held for a liveness window"
// rule). Detects equivocation: two different signed messages of one kind from one member for one
// (r, a). Owns no persistence and decides no protocol rule beyond equivocation.
import { toHex } from '../../protocol/index.ts';
import { CryptogramAssemblerV2, cryptogramHashV2, KindV2, type ComplaintV2, type ConsentV2, type CryptogramChunkV2, type KeyAnnouncementV2, type OpenedShares, type RevealV2, type ShareDealingV2, type U1ListV2, type U2ListV2, type U3ListV2 } from '../../protocol/v2/index.ts';

export interface Signed<T> {
  body: T;
  bytes: Uint8Array;
  at: number;
}
export interface ListRecord<T> extends Signed<T> {
  /** H(list) (PROTOCOL.md §10) and its hex. */
  hash: Uint8Array;
  hex: string;
}
export interface Cryptogram {
  c: Uint32Array;
  hash: string;
  u2Hash: string;
  at: number;
}

/** A second, different message of one kind from one member for one attempt, with both envelopes as evidence (none for cryptogram chunks). */
export interface Equivocation {
  sender: string;
  kind: KindV2;
  first?: Uint8Array;
  second?: Uint8Array;
}

export type ChunkOutcome = { kind: 'partial' | 'duplicate' } | { kind: 'complete'; cryptogram: Cryptogram } | { kind: 'equivocation'; sender: string } | { kind: 'bad'; reason: string };

/** Same signed content (header and body; the 64-byte signature aside: a signer may sign one message twice). */
export const sameMessage = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.length - 64).equals(Buffer.from(b.buffer, b.byteOffset, b.length - 64));

export class AttemptData {
  readonly keys = new Map<string, Signed<KeyAnnouncementV2>>();
  u1: ListRecord<U1ListV2> | null = null;
  u2: ListRecord<U2ListV2> | null = null;
  u3: ListRecord<U3ListV2> | null = null;
  readonly dealings = new Map<string, Signed<ShareDealingV2>>();
  /** The shares this node holds, by dealer (its own included). */
  readonly held = new Map<string, OpenedShares>();
  /** Dealers with a proven complaint (left out of U2, and excluded for the round). */
  readonly badDealers = new Set<string>();
  /** Complaints this node sent, by dealer. */
  readonly complained = new Set<string>();
  /** Every complaint held, by `${complainer}/${dealer}` (an honest complaint is deterministic: a second, different one is equivocation). */
  readonly complaints = new Map<string, Signed<ComplaintV2>>();
  /** Complete cryptograms, by sender (masked over some U2: `u2Hash`). */
  readonly cryptograms = new Map<string, Cryptogram>();
  readonly consents = new Map<string, Signed<ConsentV2>>();
  readonly reveals = new Map<string, Signed<RevealV2>>();
  /**
   * Messages that need a list or dealing this node does not hold yet (handled again when it
   * arrives): per sender and kind (and dealer, for complaints) the first one and the first
   * different one (evidence of equivocation), so that one member cannot fill memory or crowd out
   * others' (an honest re-send is the same message).
   */
  deferred = new Map<string, Uint8Array[]>();
  /** When the last dealing, complaint or cryptogram arrived (the aggregator lets them settle). */
  lastInputAt = 0;
  private readonly assemblers = new Map<string, { hash: string; asm: CryptogramAssemblerV2 }>();

  constructor(readonly attempt: number) {}

  /** Chunks received of `sender`'s cryptogram (status page). */
  progress(sender: string, modelWords: number): { received: number; total: number | null } {
    if (this.cryptograms.has(sender)) {
      const n = Math.max(1, Math.ceil((modelWords * 4) / (1 << 20)));
      return { received: n, total: n };
    }
    const a = this.assemblers.get(sender);
    return a ? { received: a.asm.progress.received, total: a.asm.progress.count } : { received: 0, total: null };
  }

  /** One chunk of `sender`'s cryptogram: reassembled; a second cryptogram (another hash) is equivocation. */
  addChunk(sender: string, body: CryptogramChunkV2, modelWords: number, now: number): ChunkOutcome {
    if (this.badCryptograms.has(sender)) return { kind: 'duplicate' };
    const hash = toHex(body.cryptogramHash);
    const known = this.cryptograms.get(sender)?.hash ?? this.assemblers.get(sender)?.hash;
    if (known && known !== hash) return { kind: 'equivocation', sender };
    if (this.cryptograms.has(sender)) return { kind: 'duplicate' };
    try {
      let entry = this.assemblers.get(sender);
      if (!entry) this.assemblers.set(sender, (entry = { hash, asm: new CryptogramAssemblerV2(body, modelWords) }));
      const c = entry.asm.add(body);
      if (!c) return { kind: 'partial' };
      this.assemblers.delete(sender);
      const cryptogram = { c, hash, u2Hash: toHex(body.u2Hash), at: now };
      this.cryptograms.set(sender, cryptogram);
      this.lastInputAt = now;
      return { kind: 'complete', cryptogram };
    } catch (err) {
      this.assemblers.delete(sender);
      return { kind: 'bad', reason: (err as Error).message };
    }
  }

  /** A complete cryptogram from elsewhere (this node's own, or reloaded from disk). */
  putCryptogram(sender: string, c: Uint32Array, u2Hash: string, now: number): void {
    this.cryptograms.set(sender, { c, hash: toHex(cryptogramHashV2(c)), u2Hash, at: now });
  }

  /** Members that published two different cryptograms for this attempt: neither is ever used. */
  readonly badCryptograms = new Set<string>();

  /** `member` published two different cryptograms: neither enters this attempt's sum. */
  forgetCryptogram(member: string): void {
    this.badCryptograms.add(member);
    this.cryptograms.delete(member);
    this.assemblers.delete(member);
  }
}

/** Every attempt of the round this node has heard of. */
export class AttemptBook {
  private readonly byAttempt = new Map<number, AttemptData>();
  /** The attempt each holder revealed for (one per round). */
  readonly revealedBy = new Map<string, number>();

  of(a: number): AttemptData {
    let d = this.byAttempt.get(a);
    if (!d) this.byAttempt.set(a, (d = new AttemptData(a)));
    return d;
  }
  peek(a: number): AttemptData | undefined {
    return this.byAttempt.get(a);
  }
  all(): AttemptData[] {
    return [...this.byAttempt.values()].sort((x, y) => x.attempt - y.attempt);
  }

  /**
   * Keeps a signed per-member message (KeyAnnouncement, ShareDealing, Consent) unless this member
   * already sent a different one of that kind for the attempt: then returns the evidence.
   * Returns 'new', 'same' (a re-send) or the equivocation.
   */
  keep<T>(map: Map<string, Signed<T>>, kind: KindV2, sender: string, item: Signed<T>): 'new' | 'same' | Equivocation {
    const prev = map.get(sender);
    if (!prev) {
      map.set(sender, item);
      return 'new';
    }
    return sameMessage(prev.bytes, item.bytes) ? 'same' : { sender, kind, first: prev.bytes, second: item.bytes };
  }
}
