/**
 * Where the store key comes from, first match wins:
 *   1. env MAILTOKEND_STORE_KEY (base64 of 32 bytes, or 64 hex characters);
 *   2. the systemd credential $CREDENTIALS_DIRECTORY/mailtokend-store-key;
 *   3. <stateDir>/store.key, created with 32 random bytes on first run.
 * Messages name the source and the expected format, never the key.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fsyncDir, writeTemp } from './atomic.js';
import { KEY_BYTES } from './envelope.js';
import { StoreKeyError, hasErrno } from './errors.js';

export const STORE_KEY_ENV = 'MAILTOKEND_STORE_KEY';
export const STORE_KEY_CREDENTIAL = 'mailtokend-store-key';
export const STORE_KEY_FILE = 'store.key';

export interface StoreKey {
  key: Buffer;
  /** 'env:MAILTOKEND_STORE_KEY' | 'credential:<path>' | 'file:<path>' */
  source: string;
  /** True when this call generated a new store.key (worth a log line: back it up). */
  created: boolean;
}

const FORMAT_HINT = `${KEY_BYTES} bytes as base64 (44 characters) or as 64 hex characters; generate one with: openssl rand -base64 ${KEY_BYTES}`;

/** Decode key text: 64 hex characters or base64 (standard or URL-safe) of exactly 32 bytes. */
export function decodeKeyText(text: string): Buffer | undefined {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const key = Buffer.from(t, 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  return undefined;
}

/** A file holding exactly 32 bytes is a raw key; anything else must be key text. */
function decodeKeyFile(bytes: Buffer): Buffer | undefined {
  return bytes.length === KEY_BYTES ? bytes : decodeKeyText(bytes.toString('utf8'));
}

/** Find the store key; see the module comment for the order. Throws StoreKeyError. */
export async function loadStoreKey(opts: { stateDir: string; env: NodeJS.ProcessEnv }): Promise<StoreKey> {
  const fromEnv = opts.env[STORE_KEY_ENV];
  if (fromEnv !== undefined) {
    const key = decodeKeyText(fromEnv);
    if (!key) throw new StoreKeyError(`${STORE_KEY_ENV} must hold ${FORMAT_HINT}`);
    return { key, source: `env:${STORE_KEY_ENV}`, created: false };
  }
  const credDir = opts.env.CREDENTIALS_DIRECTORY;
  if (credDir) {
    const path = join(credDir, STORE_KEY_CREDENTIAL);
    const key = await readCredential(path);
    if (key) return { key, source: `credential:${path}`, created: false };
  }
  return loadOrCreateKeyFile(join(resolve(opts.stateDir), STORE_KEY_FILE));
}

/** systemd makes credentials private to the service, so no mode check here. Missing → undefined. */
async function readCredential(path: string): Promise<Buffer | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return undefined;
    throw new StoreKeyError(`cannot read systemd credential ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err, path });
  }
  const key = decodeKeyFile(bytes);
  if (!key) throw new StoreKeyError(`systemd credential ${path} must hold ${KEY_BYTES} raw bytes, or ${FORMAT_HINT}`, { path });
  return key;
}

async function loadOrCreateKeyFile(path: string): Promise<StoreKey> {
  const dir = resolve(path, '..');
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new StoreKeyError(`cannot create state directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err, path: dir });
  }
  for (;;) {
    const existing = await readKeyFile(path);
    if (existing) return { key: existing, source: `file:${path}`, created: false };
    const created = await createKeyFile(dir, path);
    if (created) return { key: created, source: `file:${path}`, created: true };
    // Another process created it first: loop and read theirs, so both end with one key.
  }
}

/** The key in `path`, or undefined if there is no such file. Refuses unsafe modes and bad lengths. */
async function readKeyFile(path: string): Promise<Buffer | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return undefined;
    throw new StoreKeyError(`cannot open key file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err, path });
  }
  try {
    // fstat of the open file: the mode checked is the mode of the bytes read.
    const st = await fh.stat();
    if (!st.isFile()) throw new StoreKeyError(`key file ${path} is not a regular file`, { path });
    if ((st.mode & 0o077) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new StoreKeyError(`key file ${path} has mode ${mode}, open to group or others; run: chmod 600 ${path}`, { path });
    }
    const key = decodeKeyFile(await fh.readFile());
    if (!key) {
      throw new StoreKeyError(
        `key file ${path} must hold exactly ${KEY_BYTES} raw bytes, or ${FORMAT_HINT}; it holds ${st.size} bytes. ` +
          'Restore it from a backup: a new key cannot read the grants stored with the old one',
        { path },
      );
    }
    return key;
  } finally {
    await fh.close();
  }
}

/**
 * Create `path` with 32 random bytes, mode 0600. The key is written and
 * fsynced in a temp file opened with O_EXCL, then link(2)ed to its name:
 * link fails with EEXIST if the name exists, like O_EXCL, and the name never
 * shows an empty or half-written key to a racing reader. Returns undefined if
 * another process won the race.
 */
async function createKeyFile(dir: string, path: string): Promise<Buffer | undefined> {
  const key = randomBytes(KEY_BYTES);
  let tmp: string;
  try {
    tmp = await writeTemp(dir, STORE_KEY_FILE, key);
  } catch (err) {
    throw new StoreKeyError(`cannot create key file in ${dir}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, path });
  }
  try {
    await link(tmp, path);
  } catch (err) {
    if (hasErrno(err, 'EEXIST')) return undefined;
    throw new StoreKeyError(
      `cannot create key file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; ` +
        `create it yourself (openssl rand -base64 ${KEY_BYTES} > ${path}; chmod 600 ${path}) or set ${STORE_KEY_ENV}`,
      { cause: err, path },
    );
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await fsyncDir(dir);
  return key;
}
