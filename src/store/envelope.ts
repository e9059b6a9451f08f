/**
 * The on-disk format of one grant file: a small JSON envelope with the address
 * in clear (so `users()` needs no key) and the grant encrypted with
 * AES-256-GCM. The address is bound as additional authenticated data, so a
 * file copied or renamed to another account's name fails to decrypt.
 *
 *   {"format":1,"user":"a@example.com","iv":"<b64>","tag":"<b64>","data":"<b64>"}
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { intern } from '../intern.js';
import { StoreCorruptError } from './errors.js';
import type { StoredAccess, StoredGrant } from './types.js';

export const GRANT_FORMAT = 1;
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Grant files are `<sha256(user) in hex>.json`: safe for any address, fixed length. */
export const GRANT_FILE_RE = /^[0-9a-f]{64}\.json$/;

export function grantFileName(user: string): string {
  return `${createHash('sha256').update(user, 'utf8').digest('hex')}.json`;
}

/** Domain-separated AAD: a grant can never pass for the key-check record or vice versa. */
export function grantAad(user: string): Buffer {
  return Buffer.from(`mailtokend grant v${GRANT_FORMAT}\0${user}`, 'utf8');
}

interface Envelope {
  format: number;
  user: string;
  iv: string;
  tag: string;
  data: string;
}

/** Encrypt `plaintext` into an envelope text bound to `aad`. */
export function seal(key: Buffer, user: string, aad: Buffer, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const env: Envelope = {
    format: GRANT_FORMAT,
    user,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
  return `${JSON.stringify(env)}\n`;
}

/** Parse the clear-text envelope; throws StoreCorruptError naming `path`. */
export function parseEnvelope(path: string, text: string): Envelope {
  if (text.length === 0) throw new StoreCorruptError(path, 'the file is empty');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // The envelope holds no secret in clear, so the parser's message may be kept.
    throw new StoreCorruptError(path, `bad JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null) throw new StoreCorruptError(path, 'bad JSON (not an object)');
  const env = raw as Record<string, unknown>;
  if (env.format !== GRANT_FORMAT) {
    throw new StoreCorruptError(path, `unsupported format ${JSON.stringify(env.format)} (this version reads ${GRANT_FORMAT})`);
  }
  for (const field of ['user', 'iv', 'tag', 'data'] as const) {
    if (typeof env[field] !== 'string') throw new StoreCorruptError(path, `field "${field}" is missing or not a string`);
  }
  return env as unknown as Envelope;
}

/** Decrypt an envelope against `aad`; throws StoreCorruptError on any mismatch. */
export function unseal(key: Buffer, path: string, env: Envelope, aad: Buffer, expectedUser: string): string {
  const iv = Buffer.from(env.iv, 'base64');
  const tag = Buffer.from(env.tag, 'base64');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new StoreCorruptError(path, 'bad iv or tag length');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(env.data, 'base64')), decipher.final()]).toString('utf8');
  } catch (err) {
    const moved = env.user === expectedUser ? '' : `; the file says it belongs to ${env.user}, not ${expectedUser} (copied or renamed?)`;
    throw new StoreCorruptError(path, `authentication failed: wrong key or tampered file${moved}`, { cause: err });
  }
}

/** Encrypt a grant into the text of its file. */
export function sealGrant(key: Buffer, grant: StoredGrant): string {
  const { provider, refreshToken, scopes, access, version, updatedAt } = grant;
  return seal(key, grant.user, grantAad(grant.user), JSON.stringify({ provider, refreshToken, scopes, access, version, updatedAt }));
}

/**
 * The stored access token, if the payload has a well-formed one. Files written
 * before tokens were kept have none; a malformed one is dropped rather than
 * failing the grant: the grant alone still serves (by refreshing).
 */
export function readAccess(raw: unknown): StoredAccess | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const a = raw as Record<string, unknown>;
  const ok =
    typeof a.accessToken === 'string' &&
    a.accessToken.length > 0 &&
    Number.isFinite(a.expiresAt) &&
    Number.isFinite(a.lifetimeMs) &&
    Number.isFinite(a.refreshedAt) &&
    (a.refreshedBy === undefined || typeof a.refreshedBy === 'string');
  if (!ok) return undefined;
  const access: StoredAccess = {
    accessToken: a.accessToken as string,
    expiresAt: a.expiresAt as number,
    lifetimeMs: a.lifetimeMs as number,
    refreshedAt: a.refreshedAt as number,
  };
  if (typeof a.refreshedBy === 'string') access.refreshedBy = a.refreshedBy;
  return access;
}

/** Read the grant of `user` from its file text; throws StoreCorruptError naming `path`. */
export function openGrant(key: Buffer, path: string, user: string, text: string): StoredGrant {
  const plain = unseal(key, path, parseEnvelope(path, text), grantAad(user), user);
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(plain) as Record<string, unknown>;
  } catch {
    // No cause: the parser quotes the text, and the text holds the refresh token.
    throw new StoreCorruptError(path, 'decrypted payload is not JSON');
  }
  const ok =
    typeof p === 'object' &&
    p !== null &&
    typeof p.provider === 'string' &&
    typeof p.refreshToken === 'string' &&
    Array.isArray(p.scopes) &&
    p.scopes.every((s) => typeof s === 'string') &&
    Number.isSafeInteger(p.version) &&
    typeof p.updatedAt === 'number';
  if (!ok) throw new StoreCorruptError(path, 'decrypted payload lacks provider, refreshToken, scopes, version or updatedAt');
  // One object literal (no property added later) and shared provider/scope values: a shard holds thousands.
  const provider = intern(p.provider as string);
  const refreshToken = p.refreshToken as string;
  const scopes = internedScopes(p.scopes as string[]);
  const version = p.version as number;
  const updatedAt = p.updatedAt as number;
  const access = readAccess(p.access);
  return access === undefined
    ? { user, provider, refreshToken, scopes, version, updatedAt }
    : { user, provider, refreshToken, scopes, access, version, updatedAt };
}

const internedLists = new Map<string, readonly string[]>();

/** Every account of a provider has the same scopes: one frozen array for all of them. */
function internedScopes(scopes: string[]): string[] {
  const key = scopes.join(' ');
  const known = internedLists.get(key);
  if (known !== undefined) return known as string[];
  const list = Object.freeze(scopes.map((scope) => intern(scope)));
  if (internedLists.size < 1_000) internedLists.set(key, list);
  return list as string[];
}
