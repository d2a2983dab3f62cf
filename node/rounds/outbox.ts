// Sending: every message this node signs goes out here. Messages of the current attempt are
// re-sent until the round commits (gossip gives no delivery guarantee; each copy carries a new
// gossip nonce), and the last aggregate record is re-sent while a live member is behind.
import { encodeEnvelope, type Message } from '../../protocol/index.ts';
import type { Network } from '../types.ts';

export class Outbox {
  /** Envelopes of the current attempt, by `${round}/${attempt}/...` tag. */
  private readonly resend = new Map<string, Uint8Array>();
  /** The last aggregate record this node published as aggregator, and the model version it made. */
  private lastRecord: { version: number; bytes: Uint8Array } | null = null;

  constructor(
    private readonly network: Network,
    private readonly consortium: string,
    private readonly self: string,
    private readonly signingSecret: Uint8Array,
    /** Counts bytes sent (the round's bytesOut). */
    private readonly sent: (bytes: number) => void,
  ) {}

  /** Signs and gossips `message` for (round, attempt); with a tag, it is re-sent until the round commits. Returns the envelope. */
  async send(message: Message, round: number, attempt: number, resendTag?: string): Promise<Uint8Array> {
    const bytes = this.sign(message, round, attempt);
    this.sent(bytes.length);
    if (resendTag) this.resend.set(resendTag, bytes);
    await this.network.publish(bytes);
    return bytes;
  }

  /** Signs without sending (a direct-stream request or answer). */
  sign(message: Message, round: number, attempt: number): Uint8Array {
    return encodeEnvelope({ consortium: this.consortium, round, attempt, sender: this.self }, message, this.signingSecret);
  }

  /** Re-sends every tagged envelope of (round, attempt); drops the others. */
  async resendCurrent(round: number, attempt: number): Promise<void> {
    for (const [tag, bytes] of this.resend) {
      if (!tag.startsWith(`${round}/${attempt}/`)) {
        this.resend.delete(tag);
        continue;
      }
      this.sent(bytes.length);
      await this.network.publish(bytes);
    }
  }

  /** Remembers the record envelope this node committed `version` with. */
  keepRecord(version: number, bytes: Uint8Array): void {
    this.lastRecord = { version, bytes };
  }

  /** Re-sends the record that made `version`, if this node made it. */
  async resendRecord(version: number): Promise<void> {
    if (this.lastRecord && this.lastRecord.version === version) await this.network.publish(this.lastRecord.bytes);
  }

  /** The round committed: nothing of it is re-sent any more. */
  newRound(): void {
    this.resend.clear();
  }
}
