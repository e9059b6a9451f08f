/**
 * End-to-end harness: an in-process provider emulator, a config in a fresh
 * temp dir, grants imported with the real `mailtokend import`, and the built
 * daemon (`dist/src/cli/mailtokend.js serve`) as a child process.
 *
 * Every child and temp dir is registered and removed at process exit too, so
 * a failing test (or one that never reaches its `after` hook) leaves nothing
 * running. Nothing here waits without a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { sendRaw, type SendOptions, type SocketReply } from './socket-client.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'uvu';
import { startEmulator, type Emulator, type Provider, type Rotation } from '../../emulator/index.js';
import { testCaDir } from '../../emulator/testing.js';
import { adminRequest } from '../../src/admin/client.js';
import type { AccountStatus } from '../../src/host/messages.js';

// Relative to this compiled file, so a build into another out dir (dist-NAME/) tests its own daemon.
export const MAILTOKEND = fileURLToPath(new URL('../../src/cli/mailtokend.js', import.meta.url));
export const CMS_OAUTH = fileURLToPath(new URL('../../src/cli/cms-oauth.js', import.meta.url));

// ---------------------------------------------------------------- cleanup

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

/** A temp dir removed at exit at the latest. */
export function tempDir(prefix = 'mailtokend-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  liveDirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/**
 * A suite's setup. uvu drops an error thrown in a `before` hook without a
 * word (its runner returns from `finally`); this one fails every test of the
 * suite with it instead.
 */
export function setup(test: Test, fn: () => Promise<void>): void {
  let failure: unknown;
  test.before(async () => {
    try {
      await fn();
    } catch (error) {
      failure = error;
    }
  });
  test.before.each(() => {
    if (failure !== undefined) throw failure;
  });
}

// ---------------------------------------------------------------- processes

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** stdout as UTF-8. */
  out: string;
}

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  uid?: number;
  gid?: number;
}

/** Runs a program to its end (SIGKILL after the deadline) and collects its output. */
export function run(command: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
    liveChildren.add(child);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      err += `\n[harness: ${command} killed after ${opts.timeoutMs ?? 20_000} ms]`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 20_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      const stdout = Buffer.concat(out);
      resolve({ code, signal, stdout, stderr: err, out: stdout.toString('utf8') });
    });
  });
}

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitUntil<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** One `mailtokend serve` child: its output as it comes, and its end. */
export class DaemonProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(readonly child: ChildProcess) {
    liveChildren.add(child);
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (this.stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        liveChildren.delete(child);
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** stdout and stderr, for assertions and leak checks. */
  get output(): string {
    return `${this.stdout}\n${this.stderr}`;
  }

  /** The JSON log lines written so far. */
  logLines(): Array<Record<string, unknown>> {
    const lines: Array<Record<string, unknown>> = [];
    for (const line of this.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line still being written
      }
    }
    return lines;
  }

  /** Log lines whose fields include every field of `match`. */
  logged(match: Record<string, unknown>): Array<Record<string, unknown>> {
    return this.logLines().filter((l) => Object.entries(match).every(([k, v]) => l[k] === v));
  }

  async waitForLog(what: string, match: Record<string, unknown>, count = 1, timeoutMs = 10_000): Promise<Array<Record<string, unknown>>> {
    return waitUntil(
      `${what} (log ${JSON.stringify(match)} x${count})`,
      () => {
        if (!this.running) throw new Error(`daemon exited while waiting for ${what}:\n${this.output}`);
        const found = this.logged(match);
        return found.length >= count ? found : undefined;
      },
      timeoutMs,
    );
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

// ---------------------------------------------------------------- sockets

export { sendRaw, type SendOptions, type SocketReply };


/** The token in an XOAUTH2 reply, or undefined when the reply is anything else. */
export function tokenInXoauth2(reply: Buffer | string, user: string): string | undefined {
  const text = typeof reply === 'string' ? reply : reply.toString('latin1');
  const prefix = `user=${user}\x01auth=Bearer `;
  if (!text.startsWith(prefix) || !text.endsWith('\x01\x01')) return undefined;
  const token = text.slice(prefix.length, -2);
  return /^[\x21-\x7e]+$/.test(token) ? token : undefined;
}

// ---------------------------------------------------------------- harness

export interface AccountDef {
  user: string;
  provider: Provider;
  /** Microsoft: use the confidential client (with a client secret) instead of the public one. */
  confidential?: boolean;
  /** Extra TOML lines for this [[account]]. */
  extra?: string;
  /** Import a grant before the first start (default true). */
  grant?: boolean;
}

export interface SocketDef {
  /** Key for `h.socket(name)`; the file is `<dir>/<subdir>/<name>.sock`. */
  name: string;
  subdir?: string;
  mode?: string;
  group?: string;
  protocols?: string[];
  accounts?: string[];
}

export interface HarnessOptions {
  accounts: AccountDef[];
  sockets?: SocketDef[];
  /** Emulator access token lifetime, seconds (default 3600). */
  lifetime?: number;
  rotation?: Rotation;
  refreshAhead?: string;
  requestTimeout?: string;
  workers?: number;
  logLevel?: string;
  /** Mode of the temp dir (default 0700); exim needs 0755 to get through. */
  dirMode?: number;
}

const GOOGLE_CLIENT = 'e2e-google-client';
const MS_CLIENT = 'e2e-ms-client';
const MS_CONFIDENTIAL_CLIENT = 'e2e-ms-confidential-client';

export class Harness {
  readonly sockets = new Map<string, string>();
  /** Every daemon this harness started, in order (leak checks read all of them). */
  readonly runs: DaemonProcess[] = [];
  daemon: DaemonProcess | undefined;

  private constructor(
    readonly emu: Emulator,
    readonly dir: string,
    readonly opts: HarnessOptions,
    readonly googleSecret: string,
    readonly msSecret: string,
  ) {}

  get stateDir(): string {
    return join(this.dir, 'state');
  }
  get configPath(): string {
    return join(this.dir, 'config.toml');
  }
  get adminSocket(): string {
    return join(this.stateDir, 'admin.sock');
  }

  socket(name = 'mta'): string {
    const path = this.sockets.get(name);
    if (!path) throw new Error(`no socket named ${name}`);
    return path;
  }

  /** Emulator up, config written, grants imported with `mailtokend import` (daemon not started). */
  static async create(opts: HarnessOptions): Promise<Harness> {
    const dir = tempDir();
    if (opts.dirMode !== undefined) chmodSync(dir, opts.dirMode);
    const emu = await startEmulator({ caDir: testCaDir(), accessTokenLifetime: opts.lifetime ?? 3600, refreshTokenRotation: opts.rotation ?? 'rotate' });
    const h = new Harness(emu, dir, opts, `GOCSPX-e2e-${randomBytes(12).toString('hex')}`, `e2e~ms.${randomBytes(15).toString('base64url')}`);
    try {
      emu.registerClient({ provider: 'google', clientId: GOOGLE_CLIENT, clientSecret: h.googleSecret });
      emu.registerClient({ provider: 'microsoft', clientId: MS_CLIENT });
      emu.registerClient({ provider: 'microsoft', clientId: MS_CONFIDENTIAL_CLIENT, clientSecret: h.msSecret });
      h.writeConfig();
      const grants = opts.accounts.filter((a) => a.grant !== false);
      // The first import makes the store key; the rest may run side by side.
      const [first, ...rest] = grants;
      if (first) await h.importGrant(first.user, h.issueGrant(first));
      await Promise.all(rest.map((a) => h.importGrant(a.user, h.issueGrant(a))));
    } catch (error) {
      await h.close();
      throw error;
    }
    return h;
  }

  /** A new refresh token for the account, as a sign-in would give. */
  issueGrant(account: AccountDef): string {
    return account.provider === 'google'
      ? this.emu.issueGrant({ provider: 'google', user: account.user, clientId: GOOGLE_CLIENT, scopes: ['https://mail.google.com/'] })
      : this.emu.issueGrant({
          provider: 'microsoft',
          user: account.user,
          clientId: account.confidential ? MS_CONFIDENTIAL_CLIENT : MS_CLIENT,
          scopes: ['https://outlook.office.com/SMTP.Send', 'https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/POP.AccessAsUser.All', 'offline_access'],
        });
  }

  async importGrant(user: string, refreshToken: string): Promise<void> {
    const r = await this.cli(['import', user], { input: `${refreshToken}\n` });
    if (r.code !== 0) throw new Error(`mailtokend import ${user} exited ${r.code}: ${r.stderr}`);
  }

  configText(): string {
    const o = this.opts;
    const sockets = o.sockets ?? [{ name: 'mta', protocols: ['SMTP', 'IMAP'] }];
    const lines = [
      `state_dir = "${this.stateDir}"`,
      `workers = ${o.workers ?? 2}`,
      `refresh_ahead = "${o.refreshAhead ?? '10m'}"`,
      `request_timeout = "${o.requestTimeout ?? '3s'}"`,
      `log_level = "${o.logLevel ?? 'info'}"`,
      '',
      // Port 0: several daemons (tests, other people's) may run at once.
      '[web]',
      'listen = "127.0.0.1:0"',
      '',
    ];
    for (const s of sockets) {
      const path = join(this.dir, s.subdir ?? 'run', `${s.name}.sock`);
      this.sockets.set(s.name, path);
      lines.push('[[socket]]', `path = "${path}"`);
      if (s.mode) lines.push(`mode = "${s.mode}"`);
      if (s.group) lines.push(`group = "${s.group}"`);
      lines.push(`protocols = ${JSON.stringify(s.protocols ?? ['SMTP'])}`);
      if (s.accounts) lines.push(`accounts = ${JSON.stringify(s.accounts)}`);
      lines.push('');
    }
    lines.push(
      '[provider.google]',
      `auth_url = "${this.emu.google.authUrl}"`,
      `token_url = "${this.emu.google.tokenUrl}"`,
      `revoke_url = "${this.emu.google.revokeUrl}"`,
      `client_id = "${GOOGLE_CLIENT}"`,
      `client_secret = "${this.googleSecret}"`,
      '',
      '[provider.microsoft]',
      `authority = "${this.emu.microsoft.authority}"`,
      `client_id = "${MS_CLIENT}"`,
      '',
    );
    for (const a of o.accounts) {
      lines.push('[[account]]', `user = "${a.user}"`, `provider = "${a.provider}"`);
      if (a.confidential) lines.push(`client_id = "${MS_CONFIDENTIAL_CLIENT}"`, `client_secret = "${this.msSecret}"`);
      if (a.extra) lines.push(a.extra);
      lines.push('');
    }
    return lines.join('\n');
  }

  writeConfig(text = this.configText()): void {
    writeFileSync(this.configPath, text, { mode: 0o600 });
  }

  /** Variables every daemon and CLI of this harness gets (e.g. a cluster's shared store key); never set on process.env, which later test files share. */
  readonly envOverlay: NodeJS.ProcessEnv = {};

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { ...process.env, NODE_EXTRA_CA_CERTS: this.emu.caFile, MAILTOKEND_DEBUG_COMMANDS: '1', MAILTOKEND_LOG_FORMAT: 'json', ...this.envOverlay, ...extra };
  }

  /** Runs `mailtokend ARGS -c CONFIG`. */
  cli(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(process.execPath, [MAILTOKEND, ...args, '-c', this.configPath], { env: this.env(), input: opts.input, timeoutMs: opts.timeoutMs ?? 40_000 });
  }

  /** Spawns `mailtokend serve`; does not wait for it. */
  spawnDaemon(configPath = this.configPath): DaemonProcess {
    const child = spawn(process.execPath, [MAILTOKEND, 'serve', '-c', configPath], { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    const daemon = new DaemonProcess(child);
    this.runs.push(daemon);
    return daemon;
  }

  /** Starts the daemon and waits for its `ready` line. */
  async start(timeoutMs = 20_000): Promise<DaemonProcess> {
    if (this.daemon?.running) throw new Error('daemon already running');
    const daemon = this.spawnDaemon();
    this.daemon = daemon;
    await daemon.waitForLog('ready', { msg: 'ready' }, 1, timeoutMs);
    return daemon;
  }

  /** Stops the running daemon (SIGTERM: clean stop; SIGKILL: crash). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.daemon) throw new Error('no daemon');
    return this.daemon.stop(signal);
  }

  async restart(): Promise<DaemonProcess> {
    await this.stop();
    return this.start();
  }

  /** A raw request on a named socket. */
  request(text: string | Buffer, socketName = 'mta', opts: SendOptions = {}): Promise<SocketReply> {
    return sendRaw(this.socket(socketName), text, opts);
  }

  /** `PROTO USER` as exim sends it; the token if the reply is a good XOAUTH2 string. */
  async token(user: string, proto = 'SMTP', socketName = 'mta'): Promise<string | undefined> {
    return tokenInXoauth2((await this.request(`${proto} ${user}`, socketName)).bytes, user);
  }

  /** The daemon's account list through the admin socket. */
  async status(): Promise<AccountStatus[]> {
    const response = await adminRequest(this.adminSocket, { cmd: 'status' }, 10_000);
    if (!response.ok || !Array.isArray(response.accounts)) throw new Error(`status failed: ${JSON.stringify(response)}`);
    return response.accounts as AccountStatus[];
  }

  async waitForState(user: string, state: AccountStatus['state'], timeoutMs = 10_000): Promise<AccountStatus> {
    return waitUntil(`${user} ${state}`, async () => (await this.status()).find((a) => a.user === user && a.state === state), timeoutMs, 100);
  }

  /**
   * Every emulator secret found in clear in the daemon's output (all runs) or
   * in a file under state_dir: whole, as a 24-character piece of its random
   * part (a truncated log line), or as the base64 XOAUTH2 string of an access
   * token; also any JWT (Microsoft access and id tokens are JWTs).
   */
  leaks(extra: Array<{ where: string; text: string }> = []): string[] {
    const needles: Array<{ label: string; value: string }> = [];
    for (const secret of this.emu.secrets()) {
      const info = this.emu.lookupToken(secret);
      const label = `${info?.kind ?? 'client secret'} ${secret.slice(0, 6)}…`;
      needles.push({ label, value: secret });
      if (secret.length >= 40 && !secret.startsWith('eyJ')) needles.push({ label: `${label} (piece)`, value: secret.slice(8, 32) });
      if (info?.kind === 'access') {
        const b64 = Buffer.from(`user=${info.user}\x01auth=Bearer ${secret}\x01\x01`).toString('base64');
        needles.push({ label: `${label} (XOAUTH2 base64)`, value: b64 });
      }
    }
    const haystacks = this.runs.map((d, i) => ({ where: `daemon run ${i + 1} (pid ${d.pid}) output`, text: d.output }));
    for (const file of filesUnder(this.stateDir)) haystacks.push({ where: file, text: readFileSync(file).toString('latin1') });
    haystacks.push(...extra);
    const found: string[] = [];
    for (const { where, text } of haystacks) {
      for (const { label, value } of needles) if (text.includes(value)) found.push(`${label} in ${where}`);
      if (/eyJ[\w-]{8,}\.eyJ[\w-]{8,}/.test(text)) found.push(`a JWT in ${where}`);
    }
    return [...new Set(found)];
  }

  async close(): Promise<void> {
    for (const d of this.runs) if (d.running) await d.stop('SIGKILL');
    await this.emu.close();
    removeDir(this.dir);
  }
}

/** Regular files under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else if (st.isFile()) out.push(path);
  }
  return out;
}

/** Permission bits of a path, as an octal string ("0600"). */
export function modeOf(path: string): string {
  return `0${(lstatSync(path).mode & 0o777).toString(8)}`;
}
