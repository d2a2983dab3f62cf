// The last few envelopes this node decoded and verified, so the same bytes are not verified again
// when gossipsub hands them first to the topic validator and then to the message handler.
// Measured (10-node testbed, --cpu-prof): every envelope was verified two or three times, and
// signature checks were the largest single CPU cost. A hit needs byte-identical input, so a
// cached verdict never covers different bytes. Bounded in entries and bytes (a chunk flood cannot
// grow it).
import type { EnvelopeV2 as Envelope } from '../../protocol/v2/index.ts';

const MAX_ENTRIES = 64;
const MAX_BYTES = 4 << 20; // ≥ 3 full 1 MiB chunks: enough for the validator → handler hand-over

export class VerifiedEnvelopes {
  private entries = new Map<string, { bytes: Uint8Array; env: Envelope }>();
  private bytes = 0;

  /** decode(bytes) through the cache; throws whatever decode throws (failures are not cached). */
  decode(bytes: Uint8Array, decode: (b: Uint8Array) => Envelope): Envelope {
    if (bytes.length < 64) return decode(bytes);
    const key = Buffer.from(bytes.buffer, bytes.byteOffset + bytes.length - 64, 64).toString('base64');
    const hit = this.entries.get(key);
    if (hit && Buffer.from(hit.bytes.buffer, hit.bytes.byteOffset, hit.bytes.length).equals(bytes)) return hit.env;
    const env = decode(bytes);
    if (bytes.length <= MAX_BYTES) {
      if (hit) this.drop(key);
      this.entries.set(key, { bytes, env });
      this.bytes += bytes.length;
      while (this.entries.size > MAX_ENTRIES || this.bytes > MAX_BYTES) this.drop(this.entries.keys().next().value!);
    }
    return env;
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.bytes -= e.bytes.length;
    this.entries.delete(key);
  }
}
