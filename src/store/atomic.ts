/**
 * File primitives of the store. A file is only ever replaced by rename(2) of
 * a complete, fsynced temp file in the same directory, so at any instant the
 * name holds the previous or the new content, never a mix or nothing.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { hasErrno, ioError } from './errors.js';

/** `.tmp-<pid>-<random>-<target>`: the pid tells a crashed writer's leftovers from live ones. */
const TEMP_RE = /^\.tmp-(\d+)-[0-9a-f]+-/;

/** A temp file this old is stale whoever wrote it: real writes take milliseconds. */
const STALE_TEMP_MS = 60_000;

/** The text of `path`, or undefined if it does not exist; other errors become store-io. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return undefined;
    throw ioError('read', path, err);
  }
}

export function tempPath(dir: string, target: string): string {
  return join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}-${target}`);
}

/** Flush a directory's entries (a rename or unlink in it) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    throw ioError('fsync directory', dir, err);
  } finally {
    await fh?.close();
  }
}

/** Write `data` to a fresh temp file (mode 0600, O_EXCL) next to its target and fsync it. */
export async function writeTemp(dir: string, target: string, data: string | Buffer): Promise<string> {
  const tmp = tempPath(dir, target);
  let fh;
  try {
    fh = await open(tmp, 'wx', 0o600);
    // The umask may only narrow the mode; chmod makes it exactly 0600 either way.
    await fh.chmod(0o600);
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw ioError('write', tmp, err);
  }
  try {
    await fh.close();
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw ioError('write', tmp, err);
  }
  return tmp;
}

/** Atomically and durably replace `dir/target` with `data`. */
export async function writeFileAtomic(dir: string, target: string, data: string | Buffer): Promise<void> {
  const tmp = await writeTemp(dir, target, data);
  const dest = join(dir, target);
  try {
    await rename(tmp, dest);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw ioError('rename into', dest, err);
  }
  await fsyncDir(dir);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return !hasErrno(err, 'ESRCH');
  }
}

/**
 * Delete temp files left by writers that died mid-write. A temp file is kept
 * only while its writer may still be running: its pid is alive and it is
 * younger than a minute (the age test also covers a pid reused after a crash,
 * e.g. pid 1 in a restarted container). Returns how many were removed.
 */
export async function removeStaleTemps(dir: string): Promise<number> {
  const now = Date.now();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw ioError('list', dir, err);
  }
  let removed = 0;
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    try {
      const fresh = now - (await stat(path)).mtimeMs < STALE_TEMP_MS;
      if (fresh && processAlive(Number(m[1]))) continue;
      await unlink(path);
      removed++;
    } catch (err) {
      if (!hasErrno(err, 'ENOENT')) throw ioError('remove stale temp file', path, err);
    }
  }
  if (removed > 0) await fsyncDir(dir);
  return removed;
}
