// A site's identity: an Ed25519 key (its libp2p peer id) and the local HTTP API token, in one
// directory. Key files are written 0600; a key file readable by group or others is refused.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { UserError } from './errors.ts';

export interface SiteIdentity {
  dir: string;
  peerId: string;
  privateKey: PrivateKey;
  /** 32-byte Ed25519 seed, for protocol/wire signatures. */
  signingSecret: Uint8Array;
  signingPublic: Uint8Array;
}

export const IDENTITY_FILE = 'identity.key';
export const TOKEN_FILE = 'api-token';

async function readSecretFile(path: string): Promise<Buffer> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new UserError(`${path} not found; run "flnode init --dir <dir>" first`);
  }
  if ((st.mode & 0o077) !== 0) throw new UserError(`${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); run "chmod 600 ${path}"`);
  return readFile(path);
}

async function writeSecretFile(path: string, data: Uint8Array | string): Promise<void> {
  await writeFile(path, data, { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600);
}

function fromKey(dir: string, privateKey: PrivateKey): SiteIdentity {
  if (privateKey.type !== 'Ed25519') throw new UserError(`${join(dir, IDENTITY_FILE)} is not an Ed25519 key`);
  const raw = privateKey.raw;
  return { dir, peerId: peerIdFromPrivateKey(privateKey).toString(), privateKey, signingSecret: raw.subarray(0, 32), signingPublic: privateKey.publicKey.raw };
}

export async function initIdentity(dir: string): Promise<SiteIdentity> {
  const keyPath = join(dir, IDENTITY_FILE);
  if (existsSync(keyPath)) throw new UserError(`${keyPath} already exists; refusing to overwrite a site identity`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = await generateKeyPair('Ed25519');
  await writeSecretFile(keyPath, privateKeyToProtobuf(key));
  if (!existsSync(join(dir, TOKEN_FILE))) await writeSecretFile(join(dir, TOKEN_FILE), randomBytes(32).toString('hex') + '\n');
  return fromKey(dir, key);
}

export async function loadIdentity(dir: string): Promise<SiteIdentity> {
  const bytes = await readSecretFile(join(dir, IDENTITY_FILE));
  let key: PrivateKey;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch {
    throw new UserError(`${join(dir, IDENTITY_FILE)} is not a valid key file`);
  }
  return fromKey(dir, key);
}

export async function loadApiToken(dir: string): Promise<string> {
  const token = (await readSecretFile(join(dir, TOKEN_FILE))).toString('utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(token)) throw new UserError(`${join(dir, TOKEN_FILE)} does not hold a valid token (64 hex characters)`);
  return token;
}

const keyCache = new Map<string, Uint8Array | undefined>();
/** The raw Ed25519 public key embedded in a peer id, or undefined for other ids. */
export function publicKeyFromPeerId(peerId: string): Uint8Array | undefined {
  if (keyCache.has(peerId)) return keyCache.get(peerId);
  let key: Uint8Array | undefined;
  try {
    const id = peerIdFromString(peerId);
    key = id.type === 'Ed25519' ? id.publicKey.raw : undefined;
  } catch {
    key = undefined;
  }
  if (keyCache.size < 4096) keyCache.set(peerId, key);
  return key;
}

/** Admin keys for signing manifests: a 32-byte Ed25519 seed, hex, 0600. */
export async function loadOrCreateAdminKey(path: string): Promise<Uint8Array> {
  if (!existsSync(path)) {
    const seed = randomBytes(32);
    await writeSecretFile(path, seed.toString('hex') + '\n');
    return new Uint8Array(seed);
  }
  const text = (await readSecretFile(path)).toString('utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(text)) throw new UserError(`${path} is not an admin key (64 hex characters)`);
  return new Uint8Array(Buffer.from(text, 'hex'));
}
