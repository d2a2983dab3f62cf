// The consortium manifest: members, model and training plan, timeouts; signed by the admin key.
// Signature: Ed25519 over "flnode/v1/manifest\0" || canonical JSON (sorted keys, no "signature").
import { readFile } from 'node:fs/promises';
import { sha256 } from '@noble/hashes/sha2.js';
import { z } from 'zod';
import { concat, fromHex, ProtocolError, sign, signingPublicKey, toHex, utf8, verifySignature } from '../protocol/index.ts';
import { collusionBound, defaultThreshold, validateThreshold } from '../protocol/v2/threshold.ts';
import { UserError } from './errors.ts';
import { publicKeyFromPeerId } from './identity.ts';

const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `expected ${bytes} bytes of lower-case hex`);

export const ManifestSchema = z
  .object({
    version: z.literal(1),
    consortium: z.string().min(1).max(128),
    adminPublicKey: hex(32),
    members: z
      .array(
        z
          .object({
            name: z.string().min(1).max(64),
            peerId: z
              .string()
              .min(1)
              .max(128)
              .refine((id) => !id.includes('\u0000'), 'a member id must not contain a 0x00 byte')
              .refine((id) => publicKeyFromPeerId(id) !== undefined, 'not an Ed25519 libp2p peer id'),
            /** Most training samples this member may announce (a KeyAnnouncement above it is refused); covered by the admin signature. */
            maxSamples: z.number().int().min(1).max(0xffffffff),
          })
          .strict(),
      )
      .max(1024),
    model: z.object({ architecture: z.string().min(1).max(64), seed: z.number().int().min(0).max(2 ** 31), dataset: z.string().min(1).max(64) }).strict(),
    plan: z
      .object({
        rounds: z.number().int().min(1).max(100000),
        localEpochs: z.number().int().min(1).max(1000),
        learningRate: z.number().positive().max(10),
        batchSize: z.number().int().min(1).max(65536),
        optimizer: z.enum(['adam', 'sgd']),
        clip: z.number().positive().max(1e6),
      })
      .strict(),
    timeouts: z
      .object({
        heartbeatMs: z.number().int().min(50).max(600000),
        livenessMs: z.number().int().min(100).max(3600000),
        keysMs: z.number().int().min(100).max(3600000),
        trainingMs: z.number().int().min(100).max(86400000),
        collectMs: z.number().int().min(100).max(3600000),
        aggregateMs: z.number().int().min(100).max(3600000),
      })
      .strict(),
    /** Protocol v2: t of the t-of-N shares (default max(3, floor(2N/3)+1)); validated against N by verifyManifest. */
    threshold: z.number().int().min(3).max(255).optional(),
    maxAttempts: z.number().int().min(1).max(100),
    signature: hex(64).optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const ids = new Set(m.members.map((x) => x.peerId));
    if (ids.size !== m.members.length) ctx.addIssue({ code: 'custom', message: 'duplicate member peer id', path: ['members'] });
    const names = new Set(m.members.map((x) => x.name));
    if (names.size !== m.members.length) ctx.addIssue({ code: 'custom', message: 'duplicate member name', path: ['members'] });
  });

export type Manifest = z.infer<typeof ManifestSchema>;

export const DEFAULT_PLAN: Manifest['plan'] = { rounds: 3, localEpochs: 2, learningRate: 0.002, batchSize: 64, optimizer: 'adam', clip: 1 };
export const DEFAULT_TIMEOUTS: Manifest['timeouts'] = { heartbeatMs: 1000, livenessMs: 5000, keysMs: 8000, trainingMs: 300000, collectMs: 20000, aggregateMs: 15000 };

export function createManifest(opts: { consortium: string; adminPublicKey: Uint8Array; plan?: Partial<Manifest['plan']>; timeouts?: Partial<Manifest['timeouts']>; maxAttempts?: number; seed?: number; dataset?: string; threshold?: number }): Manifest {
  return ManifestSchema.parse({
    version: 1,
    consortium: opts.consortium,
    adminPublicKey: toHex(opts.adminPublicKey),
    members: [],
    model: { architecture: 'flnode-cnn-v1', seed: opts.seed ?? 1, dataset: opts.dataset ?? 'pneumoniamnist' },
    plan: { ...DEFAULT_PLAN, ...opts.plan },
    timeouts: { ...DEFAULT_TIMEOUTS, ...opts.timeouts },
    maxAttempts: opts.maxAttempts ?? 10,
    ...(opts.threshold === undefined ? {} : { threshold: opts.threshold }),
  });
}

/** The manifest's threshold t: as set, or the default max(3, floor(2N/3)+1) for its N members. */
export function thresholdOf(m: Manifest): number {
  return m.threshold ?? defaultThreshold(m.members.length);
}

/**
 * Checks t against the member count N (3 ≤ t ≤ N ≤ 255, t ≥ ceil(N/2)+1) and returns t with the
 * collusion bound min(2t − N − 1, t − 2). A UserError names the violated rule.
 */
export function thresholdSummary(m: Manifest): { members: number; threshold: number; bound: number } {
  try {
    const t = thresholdOf(m);
    validateThreshold(m.members.length, t);
    return { members: m.members.length, threshold: t, bound: collusionBound(m.members.length, t) };
  } catch (err) {
    if (err instanceof ProtocolError) throw new UserError(`threshold: ${err.message.replace(/^[A-Z_]+: /, '')}`);
    throw err;
  }
}

/** The certified maxSamples of a member (undefined for a non-member). */
export function maxSamplesOf(m: Manifest, peerId: string): number | undefined {
  return m.members.find((x) => x.peerId === peerId)?.maxSamples;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .filter((k) => k !== 'signature')
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const DOMAIN = utf8('flnode/v1/manifest\0');

export function manifestBytes(m: Manifest): Uint8Array {
  return concat(DOMAIN, utf8(canonical(m)));
}

/**
 * The manifest hash every v2 round message is bound to: SHA-256 of the exact bytes the admin signs
 * (domain || canonical JSON without the signature), so a re-signed or changed manifest changes it.
 */
export function manifestHash(m: Manifest): Uint8Array {
  return sha256(manifestBytes(m));
}

export function signManifest(m: Manifest, adminSecret: Uint8Array): Manifest {
  if (toHex(signingPublicKey(adminSecret)) !== m.adminPublicKey) throw new UserError('this admin key does not match the manifest\'s adminPublicKey');
  const { signature: _old, ...rest } = m;
  return { ...rest, signature: toHex(sign(manifestBytes(rest as Manifest), adminSecret)) };
}

export function verifyManifest(m: Manifest): void {
  if (!m.signature) throw new UserError('manifest is not signed; run "flnode consortium sign"');
  try {
    verifySignature(fromHex(m.signature), manifestBytes(m), fromHex(m.adminPublicKey));
  } catch {
    throw new UserError('manifest signature does not verify: the file was changed after signing or signed by another key');
  }
  // t must fit the member list (3 ≤ t ≤ N, t ≥ ceil(N/2)+1): a consortium needs at least 3 members
  if (m.members.length > 0 || m.threshold !== undefined) thresholdSummary(m);
}

export function parseManifest(text: string, source: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  const r = ManifestSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new UserError(`${source}: ${i.path.join('.') || 'manifest'}: ${i.message}`);
  }
  return r.data;
}

/** Reads, validates and verifies a manifest file. */
export async function loadManifest(path: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UserError(`${path}: cannot read the manifest`);
  }
  if (text.length > 1 << 20) throw new UserError(`${path}: manifest larger than 1 MiB`);
  const m = parseManifest(text, path);
  verifyManifest(m);
  return m;
}

export function isMember(m: Manifest, peerId: string): boolean {
  return m.members.some((x) => x.peerId === peerId);
}

export function memberName(m: Manifest, peerId: string): string | undefined {
  return m.members.find((x) => x.peerId === peerId)?.name;
}
