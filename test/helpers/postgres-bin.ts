/**
 * PostgreSQL's programs for the test server (test/helpers/postgres.ts): where
 * they are, and running them as the `postgres` user when we are root (initdb
 * and the server refuse root).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The directory holding initdb/pg_ctl/psql, or undefined to rely on PATH. */
export function postgresBinDir(): string | undefined {
  const fromEnv = process.env.MAILTOKEND_PG_BINDIR;
  if (fromEnv) return fromEnv;
  const base = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = readdirSync(base).filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(base, v, 'bin', 'pg_ctl')));
  } catch {
    return undefined;
  }
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], 'bin') : undefined;
}

function bin(name: string): string {
  const dir = postgresBinDir();
  return dir ? join(dir, name) : name;
}

/** The uid/gid to run the server as: ourselves, or `postgres` when we are root. */
export function serverUser(): { asRoot: boolean; uid: number; gid: number } {
  if (process.getuid?.() !== 0) return { asRoot: false, uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) throw new Error('running as root but there is no `postgres` user: install Debian\'s postgresql (see .ci/run)');
  return { asRoot: true, uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

export interface Ran {
  code: number | null;
  out: string;
  err: string;
}

/** Runs a PostgreSQL program (as `postgres` when we are root) to its end, or kills it after the deadline. */
export function runPg(name: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; asServer?: boolean } = {}): Promise<Ran> {
  const user = opts.asServer ? serverUser() : { asRoot: false };
  const [command, argv] = user.asRoot ? ['runuser', ['-u', 'postgres', '--', bin(name), ...args]] : [bin(name), args];
  return new Promise((resolve, reject) => {
    // pg_ctl start leaves the postmaster holding inherited pipes; 'exit' (not 'close') ends the wait.
    const child = spawn(command as string, argv as string[], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT' ? new Error(`${name} not found: install Debian's postgresql (see .ci/run) or set MAILTOKEND_PG_BINDIR`) : error);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      // Give the pipes a moment to deliver what was written before exit.
      setImmediate(() => resolve({ code, out, err }));
    });
  });
}

/** The process exists and is not a zombie (nobody may reap a daemonized postmaster). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}
