/**
 * Builds what a benchmark scenario measures: a temp workspace, the provider
 * emulator with its own CA, N accounts with grants the emulator issued
 * (written to the store directly: one `mailtokend import` process per account
 * would take minutes), the config, the daemon as a child process, and the
 * reference server. Everything registers its own teardown with a Cleanup, so
 * a failure at any step still kills the children and removes the temp dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ensureCa, startEmulator, type Emulator, type Provider } from '../emulator/index.js';
import { adminRequest } from '../src/admin/client.js';
import type { LoadResult } from './common.js';
import type { AccountStatus } from '../src/host/messages.js';
import { googleScopes, microsoftScopes } from '../src/providers/scopes.js';
import { loadStoreKey, openFileStore } from '../src/store/index.js';

export const MAILTOKEND_JS = fileURLToPath(new URL('../src/cli/mailtokend.js', import.meta.url));

/**
 * The Node flags of the `mailtokend` bin's `#!/usr/bin/env -S node …` line:
 * the bench runs the daemon as the installed command does.
 */
export function binNodeFlags(): string[] {
  const first = readFileSync(MAILTOKEND_JS, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)\s*$/.exec(first);
  return match?.[1]?.trim().split(/\s+/).filter((f) => f !== '') ?? [];
}
export const LOAD_JS = fileURLToPath(new URL('./load.js', import.meta.url));
export const REFERENCE_JS = fileURLToPath(new URL('./reference-server.js', import.meta.url));

export const GOOGLE_CLIENT = { id: 'bench-google-client', secret: 'bench-google-secret' };
export const MICROSOFT_CLIENT = { id: 'bench-microsoft-client' };
const PROTOCOLS = ['SMTP', 'IMAP'] as const;

/**
 * Teardown steps, run last-registered first; each one runs even if another
 * fails. SIGINT or SIGTERM runs every Cleanup not yet run, then exits 130:
 * a stopped bench leaves no daemon and no temp dir behind, whichever
 * scenario it was in.
 */
export class Cleanup {
  static readonly #pending = new Set<Cleanup>();
  static #signalsHandled = false;
  readonly #steps: { name: string; run: () => Promise<void> | void }[] = [];
  readonly #children = new Set<ChildProcess>();
  #running: Promise<string[]> | undefined;

  constructor() {
    // Last resort if the orchestrator dies without running its finally: no child outlives it.
    process.once('exit', () => {
      for (const child of this.#children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    Cleanup.#pending.add(this);
    Cleanup.#handleSignals();
  }

  static #handleSignals(): void {
    if (Cleanup.#signalsHandled) return;
    Cleanup.#signalsHandled = true;
    const stop = (signal: NodeJS.Signals) => {
      process.stderr.write(`bench: ${signal}: cleaning up\n`);
      void Promise.all([...Cleanup.#pending].map((c) => c.run())).finally(() => process.exit(130));
    };
    process.once('SIGINT', stop).once('SIGTERM', stop);
  }

  add(name: string, run: () => Promise<void> | void): void {
    this.#steps.push({ name, run });
  }

  child(child: ChildProcess): void {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
  }

  /** Runs the steps once; a second call (a signal during a scenario's own teardown) waits for the same run. */
  run(): Promise<string[]> {
    this.#running ??= this.#runSteps().finally(() => Cleanup.#pending.delete(this));
    return this.#running;
  }

  async #runSteps(): Promise<string[]> {
    const problems: string[] = [];
    for (const step of this.#steps.reverse()) {
      try {
        await step.run();
      } catch (error) {
        problems.push(`${step.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return problems;
  }
}

/** A temp directory removed at cleanup (unless kept for a look afterwards). */
export function workspace(cleanup: Cleanup, keep: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailtokend-bench-'));
  cleanup.add('remove workspace', () => {
    if (keep) process.stderr.write(`bench: workspace kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

export async function startProvider(cleanup: Cleanup, dir: string, lifetimeSeconds: number): Promise<Emulator> {
  const caDir = join(dir, 'ca');
  await ensureCa(caDir);
  const emu = await startEmulator({ caDir, accessTokenLifetime: lifetimeSeconds });
  cleanup.add('close emulator', () => emu.close());
  emu.registerClient({ provider: 'google', clientId: GOOGLE_CLIENT.id, clientSecret: GOOGLE_CLIENT.secret });
  emu.registerClient({ provider: 'microsoft', clientId: MICROSOFT_CLIENT.id });
  return emu;
}

export interface BenchAccount {
  user: string;
  provider: Provider;
}

/** `n` accounts, alternating Google and Microsoft, addresses lower-case as the store keys them. */
export function makeAccounts(n: number): BenchAccount[] {
  const width = String(n).length;
  return Array.from({ length: n }, (_, i) => {
    const provider: Provider = i % 2 === 0 ? 'google' : 'microsoft';
    const domain = provider === 'google' ? 'gmail.test' : 'contoso.test';
    return { user: `user${String(i).padStart(width, '0')}@${domain}`, provider };
  });
}

export interface ConfigOptions {
  dir: string;
  emu: Emulator;
  accounts: BenchAccount[];
  workers: number;
  maxConcurrentRefreshes: number;
  /** File name in `dir` (default config.toml): a second config for the same workspace. */
  file?: string;
}

export interface BenchConfig {
  path: string;
  stateDir: string;
  socket: string;
  adminSocket: string;
}

/** One socket for every account, SMTP+IMAP; both providers pointed at the emulator. */
export function writeConfig(o: ConfigOptions): BenchConfig {
  const stateDir = join(o.dir, 'state');
  const socket = join(o.dir, 'run', 'mta.sock');
  const lines = [
    `state_dir = ${JSON.stringify(stateDir)}`,
    `workers = ${o.workers}`,
    `log_level = "info"`,
    '',
    '[[socket]]',
    `path = ${JSON.stringify(socket)}`,
    `protocols = ${JSON.stringify(PROTOCOLS)}`,
    'accounts = ["*"]',
    '',
    '[provider.google]',
    `auth_url = ${JSON.stringify(o.emu.google.authUrl)}`,
    `token_url = ${JSON.stringify(o.emu.google.tokenUrl)}`,
    `revoke_url = ${JSON.stringify(o.emu.google.revokeUrl)}`,
    `client_id = ${JSON.stringify(GOOGLE_CLIENT.id)}`,
    `client_secret = ${JSON.stringify(GOOGLE_CLIENT.secret)}`,
    `max_concurrent_refreshes = ${o.maxConcurrentRefreshes}`,
    '',
    '[provider.microsoft]',
    `authority = ${JSON.stringify(o.emu.microsoft.authority)}`,
    `client_id = ${JSON.stringify(MICROSOFT_CLIENT.id)}`,
    `max_concurrent_refreshes = ${o.maxConcurrentRefreshes}`,
  ];
  for (const a of o.accounts) lines.push('', '[[account]]', `user = ${JSON.stringify(a.user)}`, `provider = "${a.provider}"`);
  const path = join(o.dir, o.file ?? 'config.toml');
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { path, stateDir, socket, adminSocket: join(stateDir, 'admin.sock') };
}

/** Env for daemon and store: no key from the caller's environment, the emulator's CA trusted. */
export function daemonEnv(emu: Emulator): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_EXTRA_CA_CERTS: emu.caFile, MAILTOKEND_LOG_FORMAT: 'json' };
  delete env.MAILTOKEND_STORE_KEY;
  delete env.CREDENTIALS_DIRECTORY;
  delete env.MAILTOKEND_DEBUG_COMMANDS;
  return env;
}

/**
 * Issues a grant per account at the emulator and saves it in the daemon's
 * store, as `mailtokend import` would with the daemon stopped.
 */
export async function storeGrants(emu: Emulator, config: BenchConfig, accounts: BenchAccount[], env: NodeJS.ProcessEnv): Promise<void> {
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  const { key } = await loadStoreKey({ stateDir: config.stateDir, env });
  const store = await openFileStore({ dir: config.stateDir, key });
  try {
    const google = googleScopes();
    const microsoft = microsoftScopes([...PROTOCOLS]);
    let next = 0;
    const writer = async (): Promise<void> => {
      while (next < accounts.length) {
        const a = accounts[next++]!;
        const scopes = a.provider === 'google' ? google : microsoft;
        const clientId = a.provider === 'google' ? GOOGLE_CLIENT.id : MICROSOFT_CLIENT.id;
        const refreshToken = emu.issueGrant({ provider: a.provider, user: a.user, clientId, scopes });
        await store.save(a.user.toLowerCase(), { provider: a.provider, refreshToken, scopes });
      }
    };
    // Each save fsyncs a file and its directory: a few in parallel, not 1,000.
    await Promise.all(Array.from({ length: 32 }, writer));
  } finally {
    await store.close();
  }
}

export interface LogLine {
  level?: string;
  msg?: string;
  [field: string]: unknown;
}

/** The daemon as a child process, its JSON log parsed line by line. */
export class DaemonProcess {
  readonly child: ChildProcess;
  /** Log lines at warn or above since start (or the last mark), and the last lines of any kind. */
  readonly problems: LogLine[] = [];
  readonly tail: string[] = [];
  readonly stderr: string[] = [];
  readonly ready: Promise<number>;
  readonly #started = performance.now();

  constructor(
    cleanup: Cleanup,
    configPath: string,
    env: NodeJS.ProcessEnv,
    nodeArgs: string[] = [],
  ) {
    this.child = spawn(process.execPath, [...binNodeFlags(), ...nodeArgs, MAILTOKEND_JS, 'serve', '-c', configPath], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup.child(this.child);
    cleanup.add('stop daemon', () => this.stop());
    let onReady: (ms: number) => void = () => undefined;
    let onFail: (error: Error) => void = () => undefined;
    this.ready = new Promise<number>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.tail.push(line);
      if (this.tail.length > 40) this.tail.shift();
      let entry: LogLine;
      try {
        entry = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      if (entry.level === 'warn' || entry.level === 'error' || entry.level === 'fatal') {
        if (this.problems.length < 200) this.problems.push(entry);
      }
      if (entry.msg === 'ready') onReady(performance.now() - this.#started);
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      if (this.stderr.length > 40) this.stderr.shift();
    });
    this.child.once('exit', (code, signal) => {
      onFail(new Error(`daemon exited before ready (code ${code}, signal ${signal}); stderr:\n${this.stderr.join('\n')}\nlast log lines:\n${this.tail.slice(-10).join('\n')}`));
    });
    this.child.once('error', (error) => onFail(error));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** SIGTERM (a clean exit writes --cpu-prof profiles), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Polls the admin socket until every account is `valid`. Returns the time
 * taken; throws with the state counts if `timeoutMs` passes first.
 */
export async function waitAllValid(adminSocket: string, expected: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  let counts: Record<string, number> = {};
  while (performance.now() - started < timeoutMs) {
    const reply = await adminRequest(adminSocket, { cmd: 'status' });
    if (!reply.ok) throw new Error(`status failed: ${reply.code}: ${reply.message}`);
    if (!Array.isArray(reply.accounts)) throw new Error('status: unexpected reply from the daemon');
    const accounts = reply.accounts as Pick<AccountStatus, 'state'>[];
    counts = {};
    for (const a of accounts) counts[a.state] = (counts[a.state] ?? 0) + 1;
    if (accounts.length === expected && counts.valid === expected) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not every account became valid within ${timeoutMs / 1000} s: ${JSON.stringify(counts)}`);
}

/** One request as exim sends it (write, half-close, read to the end); the reply. */
export function askOnce(socket: string, request: string, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const conn = connect(socket);
    conn.setTimeout(timeoutMs, () => conn.destroy(new Error(`no reply on ${socket} within ${timeoutMs} ms`)));
    conn.end(request);
    conn.on('data', (c: Buffer) => chunks.push(c));
    conn.on('error', reject);
    conn.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** The reference server as a child process on its own socket, answering with replies of `replySizes` bytes. */
export async function startReference(cleanup: Cleanup, socket: string, replySizes: number[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [REFERENCE_JS, '--socket', socket, '--reply-sizes', replySizes.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.child(child);
  cleanup.add('stop reference server', async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => (line === 'ready' ? resolve() : reject(new Error(`reference server: ${line}`))));
    child.once('exit', (code) => reject(new Error(`reference server exited with code ${code}`)));
  });
  return child;
}

/**
 * One round of load in a separate load-generator process (so its CPU is not
 * counted as the server's); its last output line is the parsed result.
 * `nodeArgs` go to that process's node (e.g. a bigger heap for long runs).
 */
export function runLoad(cleanup: Cleanup, args: string[], budgetMs: number, nodeArgs: string[] = []): Promise<LoadResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, LOAD_JS, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanup.child(child);
    const out: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), budgetMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const text = Buffer.concat(out).toString('utf8').trim();
      if (code !== 0) return reject(new Error(`load generator failed (code ${code}, signal ${signal})`));
      try {
        resolvePromise(JSON.parse(text.slice(text.lastIndexOf('\n') + 1)) as LoadResult);
      } catch {
        reject(new Error(`load generator printed no result: ${text.slice(0, 200)}`));
      }
    });
  });
}
