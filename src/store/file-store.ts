/**
 * The embedded grant store: one encrypted file per account under
 * `<dir>/grants/`, so a save writes exactly one file and 10,000 accounts cost
 * 10,000 small files, not one big one rewritten on every refresh.
 *
 * Concurrency: saves and removes of one user are chained in this process so
 * versions never go backwards; different users never wait on each other.
 * Across processes the file store assumes a single writer (the daemon); the
 * PostgreSQL backend is the one for several daemons sharing accounts.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { link, mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fsyncDir, readIfExists, removeStaleTemps, writeFileAtomic } from './atomic.js';
import { GRANT_FILE_RE, KEY_BYTES, grantFileName, openGrant, parseEnvelope, readAccess, sealGrant } from './envelope.js';
import { StoreConflictError, StoreCorruptError, StoreError, StoreErrorCode, StoreKeyError, hasErrno, ioError } from './errors.js';
import { verifyStoreKey } from './key-check.js';
import type { CorruptGrantFile, FileGrantStore, GrantInput, StoredGrant } from './types.js';

export interface FileStoreOptions {
  /** State directory; grants go to `<dir>/grants/`. Created 0700 if missing. */
  dir: string;
  /** 32-byte AES-256-GCM key, usually from loadStoreKey(). */
  key: Buffer;
  /** Clock for `updatedAt` (tests); defaults to Date.now. */
  now?: () => number;
}

/** Files read per turn of the event loop when scanning (a few ms of blocking each). */
const SCAN_BATCH = 128;

/**
 * Open (creating if needed) the file store in `opts.dir`. Removes temp files
 * left by a crashed writer and refuses a key that does not match the store.
 */
export async function openFileStore(opts: FileStoreOptions): Promise<FileGrantStore> {
  if (!Buffer.isBuffer(opts.key) || opts.key.length !== KEY_BYTES) {
    throw new StoreKeyError(`store key must be ${KEY_BYTES} bytes, got ${Buffer.isBuffer(opts.key) ? opts.key.length : 'no buffer'}`);
  }
  const dir = resolve(opts.dir);
  const grantsDir = join(dir, 'grants');
  for (const d of [dir, grantsDir]) {
    try {
      await mkdir(d, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw ioError('create directory', d, err);
    }
  }
  await removeStaleTemps(dir);
  await removeStaleTemps(grantsDir);
  // A private copy: the caller may wipe its buffer once the store is open.
  const key = Buffer.from(opts.key);
  await verifyStoreKey(dir, grantsDir, key);
  return new FileStore(grantsDir, key, opts.now ?? Date.now);
}

/** Reused by scans; grant files are far smaller, and a bigger one is read whole. */
const scanBuffer = Buffer.allocUnsafe(64 * 1024);

/** Read a small file with three syscalls and no allocation; undefined if it is gone. */
function readSmallFileSync(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return undefined;
    throw ioError('read', path, err);
  }
  try {
    const len = readSync(fd, scanBuffer, 0, scanBuffer.length, 0);
    return len < scanBuffer.length ? scanBuffer.toString('utf8', 0, len) : readFileSync(fd, 'utf8');
  } catch (err) {
    throw ioError('read', path, err);
  } finally {
    closeSync(fd);
  }
}

/**
 * Read every file in `names` and hand its text (undefined if it vanished) to
 * `visit`. Promise-based reads take several thread-pool round trips per file
 * and made 10,000 small cached files cost seconds; synchronous reads in small
 * batches, yielding to the event loop between batches, cost a tenth of that
 * and never block the loop for long.
 */
async function scanFiles(dir: string, names: readonly string[], visit: (name: string, path: string, text: string | undefined) => void): Promise<void> {
  for (let i = 0; i < names.length; i += SCAN_BATCH) {
    if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    for (const name of names.slice(i, i + SCAN_BATCH)) {
      const path = join(dir, name);
      visit(name, path, readSmallFileSync(path));
    }
  }
}

function checkInput(user: string, grant: GrantInput, expectedVersion: number | undefined): void {
  // Values are left out of the messages: one of them is a refresh token.
  if (typeof user !== 'string' || user.length === 0) throw new TypeError('store: user must be a non-empty string');
  if (typeof grant?.provider !== 'string' || grant.provider.length === 0) throw new TypeError(`store: provider of ${user} must be a non-empty string`);
  if (typeof grant.refreshToken !== 'string' || grant.refreshToken.length === 0) throw new TypeError(`store: refreshToken of ${user} must be a non-empty string`);
  if (!Array.isArray(grant.scopes) || !grant.scopes.every((s) => typeof s === 'string')) throw new TypeError(`store: scopes of ${user} must be an array of strings`);
  if (grant.access !== undefined && readAccess(grant.access) === undefined) {
    throw new TypeError(`store: access of ${user} needs a non-empty accessToken and numeric expiresAt, lifetimeMs and refreshedAt`);
  }
  if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && expectedVersion >= 0)) {
    throw new TypeError(`store: expectedVersion for ${user} must be an integer >= 0`);
  }
}

class FileStore implements FileGrantStore {
  /** Tail of each user's chain of saves/removes; deleted when the chain drains. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** File name → address. Names are hashes of addresses, so an entry never goes stale. */
  private readonly userByFile = new Map<string, string>();
  private closed = false;

  constructor(
    readonly grantsDir: string,
    private readonly key: Buffer,
    private readonly now: () => number,
  ) {}

  async load(user: string): Promise<StoredGrant | undefined> {
    this.assertOpen();
    const path = join(this.grantsDir, grantFileName(user));
    const text = await readIfExists(path);
    // Loads need no chain: rename makes every read see a whole file.
    return text === undefined ? undefined : openGrant(this.key, path, user, text);
  }

  /**
   * Many grants at once (a shard's start): synchronous reads in batches, as
   * `check()` does, instead of several thread-pool round trips per file.
   */
  async loadMany(users: readonly string[]): Promise<Array<StoredGrant | undefined | StoreCorruptError>> {
    this.assertOpen();
    const out: Array<StoredGrant | undefined | StoreCorruptError> = [];
    for (let i = 0; i < users.length; i++) {
      if (i > 0 && i % SCAN_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const user = users[i]!;
      const path = join(this.grantsDir, grantFileName(user));
      const text = readSmallFileSync(path);
      try {
        out.push(text === undefined ? undefined : openGrant(this.key, path, user, text));
      } catch (err) {
        if (!(err instanceof StoreCorruptError)) throw err;
        out.push(err);
      }
    }
    return out;
  }

  save(user: string, grant: GrantInput, expectedVersion?: number): Promise<StoredGrant> {
    try {
      this.assertOpen();
      checkInput(user, grant, expectedVersion);
    } catch (err) {
      return Promise.reject(err);
    }
    // Copy now: the caller may mutate its object while the save waits in the chain.
    const input: GrantInput = { provider: grant.provider, refreshToken: grant.refreshToken, scopes: [...grant.scopes] };
    if (grant.access !== undefined) input.access = { ...grant.access };
    return this.serialize(user, () => this.saveNow(user, input, expectedVersion));
  }

  remove(user: string): Promise<boolean> {
    try {
      this.assertOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serialize(user, async () => {
      const path = join(this.grantsDir, grantFileName(user));
      try {
        await unlink(path);
      } catch (err) {
        if (hasErrno(err, 'ENOENT')) return false;
        throw ioError('remove', path, err);
      }
      await fsyncDir(this.grantsDir);
      return true;
    });
  }

  /** Addresses come from the clear headers; a file whose header is unreadable is left out (check() lists it). */
  async users(): Promise<string[]> {
    this.assertOpen();
    const names = await this.grantFiles();
    const fresh = names.filter((n) => !this.userByFile.has(n));
    await scanFiles(this.grantsDir, fresh, (name, path, text) => {
      if (text === undefined) return;
      try {
        const { user } = parseEnvelope(path, text);
        if (grantFileName(user) === name) this.userByFile.set(name, user);
      } catch (err) {
        // An unreadable header hides the address; check() reports such files.
        if (!(err instanceof StoreCorruptError)) throw err;
      }
    });
    const users: string[] = [];
    for (const name of names) {
      const user = this.userByFile.get(name);
      if (user !== undefined) users.push(user);
    }
    return users.sort();
  }

  async check(): Promise<{ ok: number; corrupt: CorruptGrantFile[] }> {
    this.assertOpen();
    let ok = 0;
    const corrupt: CorruptGrantFile[] = [];
    await scanFiles(this.grantsDir, await this.grantFiles(), (name, path, text) => {
      if (text === undefined) return;
      let user: string | undefined;
      try {
        user = parseEnvelope(path, text).user;
        if (grantFileName(user) !== name) throw new StoreCorruptError(path, `file name does not match its user ${user} (renamed or copied?)`);
        openGrant(this.key, path, user, text);
        ok++;
      } catch (err) {
        if (!(err instanceof StoreCorruptError)) throw err;
        corrupt.push(user === undefined ? { path, reason: err.reason } : { path, user, reason: err.reason });
      }
    });
    return { ok, corrupt };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.chains.values()]);
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError(StoreErrorCode.closed, `grant store ${this.grantsDir} is closed`, { path: this.grantsDir });
  }

  private async grantFiles(): Promise<string[]> {
    try {
      return (await readdir(this.grantsDir)).filter((n) => GRANT_FILE_RE.test(n));
    } catch (err) {
      throw ioError('list', this.grantsDir, err);
    }
  }

  /** Chain `fn` after the user's pending operations, whatever their outcome. */
  private serialize<T>(user: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.chains.get(user) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    this.chains.set(user, tail);
    void tail.then(() => {
      if (this.chains.get(user) === tail) this.chains.delete(user);
    });
    return run;
  }

  private async saveNow(user: string, input: GrantInput, expectedVersion: number | undefined): Promise<StoredGrant> {
    const name = grantFileName(user);
    const path = join(this.grantsDir, name);
    const text = await readIfExists(path);
    let current: number | undefined = 0;
    if (text !== undefined) {
      try {
        current = openGrant(this.key, path, user, text).version;
      } catch (err) {
        if (!(err instanceof StoreCorruptError)) throw err;
        current = undefined;
      }
    }
    // A corrupt grant counts as none: re-authorizing (expected 0) replaces it.
    if (expectedVersion !== undefined && expectedVersion !== (current ?? 0)) {
      throw new StoreConflictError(user, expectedVersion, current, path);
    }
    if (current === undefined) await this.moveAside(path);
    const stored: StoredGrant = { user, ...input, version: (current ?? 0) + 1, updatedAt: this.now() };
    await writeFileAtomic(this.grantsDir, name, sealGrant(this.key, stored));
    this.userByFile.set(name, user);
    return stored;
  }

  /** Keep an unreadable grant as `<file>.corrupt-<epochms>` before it is replaced: nothing is lost. */
  private async moveAside(path: string): Promise<void> {
    const stamp = this.now();
    for (let n = 0; ; n++) {
      const aside = `${path}.corrupt-${stamp}${n === 0 ? '' : `-${n}`}`;
      try {
        // link() never overwrites; the rename that follows in save() drops the old name.
        await link(path, aside);
        return;
      } catch (err) {
        if (hasErrno(err, 'EEXIST')) continue;
        if (hasErrno(err, 'EPERM') || hasErrno(err, 'ENOTSUP')) {
          // No hard links on this file system: a plain rename does the job.
          try {
            await rename(path, aside);
            return;
          } catch (err2) {
            throw ioError('move aside corrupt grant file', path, err2);
          }
        }
        throw ioError('move aside corrupt grant file', path, err);
      }
    }
  }
}
