// Sending: every message this node signs goes out here. This node's messages of the round are
// re-sent until the round commits (gossip gives no delivery guarantee; each copy carries a new
// gossip nonce): those of the attempt it works in, and consents and reveals of any attempt (a final
// attempt completes even after later ones opened).
import { encodeEnvelopeV2, type MessageV2 } from '../../protocol/v2/index.ts';
import type { Network } from '../types.ts';

interface Tagged {
  round: number;
  attempt: number;
  /** Re-sent whatever attempt this node is in. */
  always: boolean;
  bytes: Uint8Array;
}

export class Outbox {
  /** Envelopes to re-send, by tag. */
  private readonly resend = new Map<string, Tagged>();
  /** The last committed round's envelopes (all public), re-sent while a live member is still in that round. */
  private previous: Uint8Array[] = [];

  constructor(
    private readonly network: Network,
    private readonly consortium: string,
    private readonly self: string,
    private readonly signingSecret: Uint8Array,
    /** Counts bytes sent (the round's bytesOut). */
    private readonly sent: (bytes: number) => void,
  ) {}

  /** Signs `message` for (round, attempt). */
  sign(message: MessageV2, round: number, attempt: number): Uint8Array {
    return encodeEnvelopeV2({ consortium: this.consortium, round, attempt, sender: this.self }, message, this.signingSecret);
  }

  /** Gossips signed bytes; with a tag, they are re-sent until the round commits. */
  async publish(bytes: Uint8Array, tag?: { name: string; round: number; attempt: number; always?: boolean }): Promise<void> {
    if (tag) this.resend.set(tag.name, { round: tag.round, attempt: tag.attempt, always: tag.always ?? false, bytes });
    this.sent(bytes.length);
    await this.network.publish(bytes);
  }

  /** Re-sends the tagged envelopes of `round` for attempt ≥ `attempt`, the `always` ones and those of `alsoAttempts`; drops other rounds'. */
  async resendCurrent(round: number, attempt: number, alsoAttempts: ReadonlySet<number> = new Set()): Promise<void> {
    for (const [name, t] of this.resend) {
      if (t.round !== round) {
        this.resend.delete(name);
        continue;
      }
      if (!t.always && t.attempt < attempt && !alsoAttempts.has(t.attempt)) continue;
      this.sent(t.bytes.length);
      await this.network.publish(t.bytes);
    }
  }

  /** Re-sends the last committed round's envelopes (a member still in it may lack this node's reveal). */
  async resendPrevious(): Promise<void> {
    for (const b of this.previous) {
      this.sent(b.length);
      await this.network.publish(b);
    }
  }

  /** The round is void (void.ts): none of this node's envelopes of it is re-sent any more, to anyone. */
  forgetRound(): void {
    this.resend.clear();
  }

  /** The round committed: its envelopes are re-sent only to members still in it. */
  newRound(): void {
    this.previous = [...this.resend.values()].map((t) => t.bytes);
    this.resend.clear();
  }
}
