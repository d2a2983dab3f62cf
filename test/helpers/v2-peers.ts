// Protocol v2 envelopes as other members would send them, for engine-level tests that feed a
// RoundEngine by hand (engine.validate / engine.handle): a signed manifest over given identities,
// sealing (encode + sign) and decoding as the engine does, the binding every round message carries,
// and fresh key announcements with real X25519 keys.
import { fromHex, signingPublicKey } from '../../protocol/index.ts';
import { decodeEnvelopeV2, encodeEnvelopeV2, generateRoundSecrets, KindV2, MAX_MODEL_ENVELOPE_BYTES_V2, selfCommit, type Binding, type EnvelopeV2, type KeyAnnouncementV2, type MessageV2 } from '../../protocol/v2/index.ts';
import type { SiteIdentity } from '../../node/identity.ts';
import { createManifest, manifestHash, signManifest, type Manifest } from '../../node/manifest.ts';

/** A manifest signed by `admin` listing `ids` as site-0.. with `maxSamples` each (default 1000). */
export function signedManifest(
  admin: Uint8Array,
  ids: readonly SiteIdentity[],
  opts: Omit<Parameters<typeof createManifest>[0], 'adminPublicKey'> & { maxSamples?: number | readonly number[] },
): Manifest {
  const { maxSamples, ...rest } = opts;
  const m = createManifest({ ...rest, adminPublicKey: signingPublicKey(admin) });
  const cap = (i: number) => (Array.isArray(maxSamples) ? maxSamples[i]! : ((maxSamples as number | undefined) ?? 1000));
  return signManifest({ ...m, members: ids.map((s, i) => ({ name: `site-${i}`, peerId: s.peerId, maxSamples: cap(i) })) }, admin);
}

export class Peers {
  constructor(
    readonly manifest: Manifest,
    readonly ids: readonly SiteIdentity[],
  ) {}

  /** Encodes and signs `message` from `from` for (round, attempt). */
  seal(from: SiteIdentity, round: number, attempt: number, message: MessageV2, header: { consortium?: string; sender?: string } = {}): Uint8Array {
    return encodeEnvelopeV2({ consortium: header.consortium ?? this.manifest.consortium, round, attempt, sender: header.sender ?? from.peerId }, message, from.signingSecret);
  }

  /** Decodes and verifies as the engine does (members only). */
  decode(bytes: Uint8Array): EnvelopeV2 {
    return decodeEnvelopeV2(bytes, { consortium: this.manifest.consortium, publicKeyOf: (s) => this.ids.find((i) => i.peerId === s)?.signingPublic, maxBytes: MAX_MODEL_ENVELOPE_BYTES_V2 });
  }

  /** What a round message built on the model with hash `baseHex` is bound to. */
  binding(baseHex: string): Binding {
    return { manifestHash: manifestHash(this.manifest), baseModelHash: fromHex(baseHex) };
  }

  /** A KeyAnnouncement body with fresh X25519 keys and self-seed commitment. */
  keyBody(baseHex: string, samples = 100): KeyAnnouncementV2 {
    const s = generateRoundSecrets();
    return { ...this.binding(baseHex), cPublic: s.cPublic, sPublic: s.sPublic, samples, selfCommit: selfCommit(s.selfSeed) };
  }

  /** A signed KeyAnnouncement of `from` for (round, attempt). */
  keys(from: SiteIdentity, round: number, attempt: number, baseHex: string, samples = 100): { bytes: Uint8Array; body: KeyAnnouncementV2 } {
    const body = this.keyBody(baseHex, samples);
    return { bytes: this.seal(from, round, attempt, { kind: KindV2.KeyAnnouncement, body }), body };
  }

  /** A signed heartbeat of `from`. */
  heartbeat(from: SiteIdentity, round: number, sentAt: number, modelVersion: number, modelHashHex: string, phase = 'keys'): Uint8Array {
    return this.seal(from, round, 0, { kind: KindV2.Heartbeat, body: { sentAt, modelVersion, modelHash: fromHex(modelHashHex), phase } });
  }
}
