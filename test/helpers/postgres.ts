/**
 * A private PostgreSQL for tests: `initdb` in a fresh temp dir, `pg_ctl` on a
 * free 127.0.0.1 port (plus a UNIX socket in the same dir), a generated
 * password (scram-sha-256), fsync off. It can be stopped and started again on
 * the same data dir and port (an outage), and it never outlives the test
 * process: `close()`, a process 'exit' hook, and a detached watchdog that
 * stops it if this process dies without running either (kill -9).
 *
 *   const pg = await startPostgres();
 *   pg.url                     // postgresql://mailtokend:…@127.0.0.1:PORT/mailtokend
 *   await pg.createDatabase('c2')   // another empty database on the same server, its URL
 *   await pg.stop(); await pg.start();   // outage, same port and data
 *   await pg.sql('select 1')   // psql -At, stdout
 *   await pg.close()
 *
 * Binaries: $MAILTOKEND_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin
 * (Debian's layout), else whatever PATH finds. initdb and the server refuse
 * to run as root, so as root they run as the `postgres` user (runuser).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, runPg, serverUser } from './postgres-bin.js';

export { alive, postgresBinDir } from './postgres-bin.js';

const DB = 'mailtokend';
const ROLE = 'mailtokend';

// ---------------------------------------------------------------- cleanup

const live = new Set<PostgresServer>();

/** Synchronous last-resort stop: SIGQUIT is PostgreSQL's immediate shutdown. */
function killNow(server: PostgresServer): void {
  const pid = server.postmasterPid();
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      // already gone
    }
    const wait = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 100 && alive(pid); i++) Atomics.wait(wait, 0, 0, 20);
  }
  rmSync(server.dir, { recursive: true, force: true });
}

process.on('exit', () => {
  for (const server of live) killNow(server);
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    for (const server of live) killNow(server);
    live.clear();
    process.kill(process.pid, signal);
  });
}

/** A free TCP port on 127.0.0.1 (free now; the server binds it moments later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- server

export interface PostgresOptions {
  /** Extra postgresql.conf lines. */
  conf?: string[];
}

export class PostgresServer {
  #running = false;
  #watchdog: number | undefined;

  private constructor(
    /** The temp dir: data/ (the cluster), the socket, server.log. */
    readonly dir: string,
    readonly port: number,
    readonly password: string,
  ) {}

  get dataDir(): string {
    return join(this.dir, 'data');
  }
  get logFile(): string {
    return join(this.dir, 'server.log');
  }
  /** The UNIX socket's directory (host= for libpq). */
  get socketDir(): string {
    return this.dir;
  }
  get running(): boolean {
    return this.#running;
  }

  /** Connection URL of the test database (or of `database`) over TCP. */
  urlFor(database = DB): string {
    return `postgresql://${ROLE}:${this.password}@127.0.0.1:${this.port}/${database}`;
  }
  get url(): string {
    return this.urlFor();
  }

  /** What libpq programs (psql) need in the environment to reach the test database. */
  get env(): NodeJS.ProcessEnv {
    return { PGHOST: '127.0.0.1', PGPORT: String(this.port), PGUSER: ROLE, PGPASSWORD: this.password, PGDATABASE: DB, PGCONNECT_TIMEOUT: '5' };
  }

  static async start(opts: PostgresOptions = {}): Promise<PostgresServer> {
    const user = serverUser();
    let lastError: unknown;
    // The free port may be taken between probing and binding; try again on another.
    for (let attempt = 0; attempt < 3; attempt++) {
      const dir = mkdtempSync(join(tmpdir(), 'mailtokend-pg-'));
      if (user.asRoot) chownSync(dir, user.uid, user.gid);
      const server = new PostgresServer(dir, await freePort(), randomBytes(18).toString('hex'));
      live.add(server);
      try {
        await server.#init(opts);
        await server.start();
        await server.#createRoleAndDatabase();
        server.#startWatchdog();
        return server;
      } catch (error) {
        lastError = error;
        await server.close();
        if (!/could not bind|address already in use/i.test(String(error))) break;
      }
    }
    throw lastError;
  }

  async #init(opts: PostgresOptions): Promise<void> {
    // The superuser's password too, so nothing on this machine gets in without one.
    const pwfile = join(this.dir, 'pwfile');
    writeFileSync(pwfile, `${this.password}\n`, { mode: 0o600 });
    const user = serverUser();
    if (user.asRoot) chownSync(pwfile, user.uid, user.gid);
    const r = await runPg('initdb', ['-D', this.dataDir, '-U', 'postgres', `--pwfile=${pwfile}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'], { asServer: true });
    rmSync(pwfile, { force: true });
    if (r.code !== 0) throw new Error(`initdb failed (${r.code}): ${r.err}${r.out}`);
    const conf = [
      '',
      '# test server (test/helpers/postgres.ts)',
      `port = ${this.port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${this.socketDir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'shared_buffers = 32MB',
      'max_connections = 100',
      ...(opts.conf ?? []),
      '',
    ];
    writeFileSync(join(this.dataDir, 'postgresql.conf'), conf.join('\n'), { flag: 'a' });
  }

  /** Starts the server (again) on the same data dir and port; resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.#running) return;
    const r = await runPg('pg_ctl', ['start', '-D', this.dataDir, '-l', this.logFile, '-w', '-t', '30'], { asServer: true });
    if (r.code !== 0) throw new Error(`pg_ctl start failed (${r.code}): ${r.err}${r.out}\n${this.log()}`);
    this.#running = true;
  }

  /** Stops the server: 'fast' (default) disconnects clients and shuts down cleanly; 'immediate' is a crash. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!existsSync(join(this.dataDir, 'postmaster.pid'))) {
      this.#running = false;
      return;
    }
    const pid = this.postmasterPid();
    const r = await runPg('pg_ctl', ['stop', '-D', this.dataDir, '-m', mode, '-w', '-t', '30'], { asServer: true });
    if (r.code !== 0 && existsSync(join(this.dataDir, 'postmaster.pid'))) throw new Error(`pg_ctl stop failed (${r.code}): ${r.err}${r.out}`);
    // pg_ctl returns when the lock file is gone; the process ends a moment later.
    for (let i = 0; i < 250 && pid !== undefined && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    this.#running = false;
  }

  /** Stops the server if it runs and removes its directory. */
  async close(): Promise<void> {
    try {
      await this.stop('immediate');
    } catch {
      killNow(this);
    }
    if (this.#watchdog !== undefined) {
      try {
        process.kill(this.#watchdog, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** The postmaster's pid, from its lock file, while it runs. */
  postmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** The server's log so far (for failure messages). */
  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Runs SQL with psql as the test role; stdout in unaligned tuples-only form. Throws on error. */
  async sql(sql: string, database = DB): Promise<string> {
    const r = await runPg('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', sql], { env: this.env, timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`psql failed (${r.code}): ${r.err}`);
    return r.out;
  }

  /** A new empty database owned by the test role; its URL. */
  async createDatabase(name: string): Promise<string> {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${JSON.stringify(name)}`);
    await this.sql(`CREATE DATABASE ${name} OWNER ${ROLE}`);
    return this.urlFor(name);
  }

  async #createRoleAndDatabase(): Promise<void> {
    const superEnv = { ...this.env, PGUSER: 'postgres', PGDATABASE: 'postgres' };
    const steps = [`CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${this.password}'`, `CREATE DATABASE ${DB} OWNER ${ROLE}`];
    for (const step of steps) {
      const r = await runPg('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', step], { env: superEnv, timeoutMs: 20_000 });
      if (r.code !== 0) throw new Error(`psql failed (${r.code}): ${r.err}`);
    }
  }

  /**
   * A detached shell that outlives a kill -9 of this process: once our pid is
   * gone it stops the server (immediate) and removes the directory.
   */
  #startWatchdog(): void {
    const script = [
      'while kill -0 "$1" 2>/dev/null; do sleep 1; done',
      'pid=$(head -n 1 "$2/data/postmaster.pid" 2>/dev/null)',
      '[ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null',
      'sleep 2',
      'rm -rf "$2"',
    ].join('\n');
    const child = spawn('sh', ['-c', script, 'pg-watchdog', String(process.pid), this.dir], { detached: true, stdio: 'ignore' });
    child.unref();
    this.#watchdog = child.pid;
  }
}

export function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  return PostgresServer.start(opts);
}
