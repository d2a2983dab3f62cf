// Messages of the next round that arrive before this node commits the current one: kept (bounded
// in count and bytes, raw bytes only: they are decoded again when that round starts) and handed
// back once, at the commit.

/** At most this many messages, and this many bytes. */
const MAX_MESSAGES = 512;
const MAX_BYTES = 16 << 20;

export class NextRoundBuffer {
  private held: Uint8Array[] = [];
  private bytes = 0;

  /** Keeps `envelope` if the bounds allow (a flood of next-round messages is dropped beyond them). */
  keep(envelope: Uint8Array): void {
    if (this.held.length >= MAX_MESSAGES || this.bytes + envelope.length > MAX_BYTES) return;
    this.held.push(envelope);
    this.bytes += envelope.length;
  }

  /** Everything kept, in arrival order; the buffer is empty afterwards. */
  drain(): Uint8Array[] {
    const out = this.held;
    this.held = [];
    this.bytes = 0;
    return out;
  }
}
