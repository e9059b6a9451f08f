/**
 * What every reliability scenario starts from: the provider emulator, a
 * config with N accounts, their grants, and the built daemon as a child
 * process. It is the e2e `Harness` (test/helpers/daemon.ts) with what the
 * suite adds on top:
 *
 * - every daemon's output is kept as a log file in the scenario's work dir
 *   and registered with evidence.ts, with every secret the emulator issued
 *   and the text of the state files, so the secrets scenario (run last)
 *   searches the whole suite's output;
 * - grants are written to the store directly, as `mailtokend import` does
 *   with the daemon stopped (one import process per account is slow);
 * - a few probes the scenarios share (a genuine token?, daemon RSS).
 *
 * The Harness needs MAILTOKEND_TEST_CA_DIR and NODE_EXTRA_CA_CERTS set at
 * process start: `npm test` sets them, and reliability/run.ts re-runs itself
 * with them set.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { processRssKiB } from '../bench/common.js';
import type { Provider } from '../emulator/index.js';
import { googleScopes, microsoftScopes } from '../src/providers/scopes.js';
import { loadStoreKey, openFileStore } from '../src/store/index.js';
import { filesUnder, Harness, tokenInXoauth2, type AccountDef, type DaemonProcess, type HarnessOptions, type SocketDef, type SocketReply } from '../test/helpers/daemon.js';
import { webUrl } from '../test/helpers/ops.js';
import { addLogFile, addSecrets, addText } from './evidence.js';

export type { AccountDef, DaemonProcess, SocketDef, SocketReply };

/**
 * Above this many accounts, grants go into the store directly (as `mailtokend
 * import` does with the daemon stopped) instead of through one `mailtokend
 * import` process each: a process start is seconds on a loaded machine, and
 * the import command has tests of its own.
 */
const IMPORT_LIMIT = 0;

/** The harness's own settings, passed through as they are. */
type HarnessSettings = Pick<HarnessOptions, 'lifetime' | 'rotation' | 'refreshAhead' | 'requestTimeout' | 'workers' | 'logLevel'>;

export interface WorldOptions extends HarnessSettings {
  /** The scenario's work dir: daemon logs are kept here until the end of the suite. */
  workDir: string;
  /** A name for the log files (several worlds may share a work dir). */
  name?: string;
  /** A count (alternating Google and Microsoft, see {@link makeAccounts}) or the accounts themselves. */
  accounts: number | AccountDef[];
  /** Default: one socket `mta`, SMTP and IMAP, every account. */
  sockets?: SocketDef[];
  /** TOML appended to the generated config (e.g. `error_notify_cmd = "…"`). */
  extraConfig?: string;
  /** Start the daemon and wait until every account with a grant is valid (default true). */
  start?: boolean;
}

/** `n` accounts, alternating Google and Microsoft: user0@gmail.test, user1@contoso.test, … */
export function makeAccounts(n: number): AccountDef[] {
  const width = String(Math.max(0, n - 1)).length;
  return Array.from({ length: n }, (_, i) => {
    const provider: Provider = i % 2 === 0 ? 'google' : 'microsoft';
    return { user: `user${String(i).padStart(width, '0')}@${provider === 'google' ? 'gmail.test' : 'contoso.test'}`, provider };
  });
}

export class World {
  #closed = false;

  private constructor(
    /** The e2e harness: emulator (`h.emu`), config, daemon runs, requests, status. */
    readonly h: Harness,
    readonly accounts: AccountDef[],
    private readonly opts: WorldOptions,
  ) {}

  /** Emulator up, config written, grants stored, and (unless `start: false`) the daemon serving every account. */
  static async create(opts: WorldOptions): Promise<World> {
    const accounts = typeof opts.accounts === 'number' ? makeAccounts(opts.accounts) : opts.accounts;
    const direct = accounts.length > IMPORT_LIMIT;
    const h = await Harness.create({
      accounts: direct ? accounts.map((a) => ({ ...a, grant: false })) : accounts,
      ...(opts.sockets ? { sockets: opts.sockets } : {}),
      ...(opts.lifetime !== undefined ? { lifetime: opts.lifetime } : {}),
      ...(opts.rotation ? { rotation: opts.rotation } : {}),
      ...(opts.refreshAhead ? { refreshAhead: opts.refreshAhead } : {}),
      ...(opts.requestTimeout ? { requestTimeout: opts.requestTimeout } : {}),
      ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
      ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
    });
    const world = new World(h, accounts, opts);
    try {
      if (opts.extraConfig) h.writeConfig(`${h.configText()}\n${opts.extraConfig}\n`);
      if (direct) await world.#storeGrants(accounts.filter((a) => a.grant !== false));
      if (opts.start !== false) await world.start();
    } catch (error) {
      await world.close();
      throw error;
    }
    return world;
  }

  /** Accounts' addresses, in order. */
  get users(): string[] {
    return this.accounts.map((a) => a.user);
  }

  /** The running (or last) daemon. */
  get daemon(): DaemonProcess {
    if (!this.h.daemon) throw new Error('the daemon was never started');
    return this.h.daemon;
  }

  socket(name = 'mta'): string {
    return this.h.socket(name);
  }

  /** Starts the daemon and waits until every account that has a grant is `valid`. */
  async start(timeoutMs = 60_000): Promise<DaemonProcess> {
    const daemon = await this.h.start(timeoutMs);
    await this.waitAllValid(timeoutMs);
    return daemon;
  }

  async waitAllValid(timeoutMs = 60_000): Promise<void> {
    const want = this.accounts.filter((a) => a.grant !== false).map((a) => a.user.toLowerCase());
    const deadline = Date.now() + timeoutMs;
    let states: Record<string, number> = {};
    while (Date.now() < deadline) {
      const status = await this.h.status();
      const byUser = new Map(status.map((s) => [s.user.toLowerCase(), s.state]));
      states = {};
      for (const user of want) {
        const state = byUser.get(user) ?? 'missing';
        states[state] = (states[state] ?? 0) + 1;
      }
      if (states.valid === want.length) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`not every account became valid within ${timeoutMs / 1000} s: ${JSON.stringify(states)}`);
  }

  /** True if `reply` is an XOAUTH2 string for `user` carrying a token the emulator issued to that user and still honours. */
  genuine(reply: Buffer | string, user: string): boolean {
    const token = tokenInXoauth2(reply, user);
    return token !== undefined && this.h.emu.isValidAccessToken(token, user);
  }

  /** `PROTO USER` as exim sends it: whether it got a genuine token. */
  async served(user: string, proto = 'SMTP', socketName = 'mta'): Promise<boolean> {
    return this.genuine((await this.h.request(`${proto} ${user}`, socketName)).bytes, user);
  }

  /** The daemon's resident set in KiB (all threads), or null when it is not running. */
  rssKiB(): number | null {
    return this.h.daemon?.running ? processRssKiB(this.h.daemon.pid) : null;
  }

  /** The web listener's base URL (from the `ready` log line). */
  webUrl(): string {
    return webUrl(this.daemon);
  }

  /** Extra text the daemon produced outside its log (a page, a scrape, an error reply) for the secrets search. */
  evidence(label: string, text: string): void {
    addText(`${this.#label()}: ${label}`, text);
  }

  /**
   * Stops every daemon, hands its output, the state files and the emulator's
   * secrets to evidence.ts, then closes the emulator and removes the
   * harness's temp dir. The log files stay in the work dir for the secrets
   * scenario; the runner removes the work dir at the end of the suite.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const d of this.h.runs) if (d.running) await d.stop('SIGTERM');
    this.#keepEvidence();
    await this.h.close();
  }

  #label(): string {
    return this.opts.name ?? 'world';
  }

  #keepEvidence(): void {
    this.h.runs.forEach((d, i) => {
      const path = join(this.opts.workDir, `${this.#label()}-daemon-${i + 1}.log`);
      writeFileSync(path, d.output, { mode: 0o600 });
      addLogFile(path);
    });
    for (const file of filesUnder(this.h.stateDir)) {
      if (file.endsWith('.sock')) continue;
      addText(`${this.#label()}: state file ${file.slice(this.h.dir.length + 1)}`, readFileSync(file).toString('latin1'));
    }
    const emu = this.h.emu;
    const derived: string[] = [];
    for (const secret of emu.secrets()) {
      const info = emu.lookupToken(secret);
      // A truncated log line could hold a piece of a token; a reply logged as base64 the whole XOAUTH2 string.
      if (secret.length >= 40 && !secret.startsWith('eyJ')) derived.push(secret.slice(8, 32));
      if (info?.kind === 'access') derived.push(Buffer.from(`user=${info.user}\x01auth=Bearer ${secret}\x01\x01`).toString('base64'));
    }
    addSecrets(emu.secrets());
    addSecrets(derived);
  }

  async #storeGrants(accounts: AccountDef[]): Promise<void> {
    const env = this.h.env();
    mkdirSync(this.h.stateDir, { recursive: true, mode: 0o700 });
    const { key } = await loadStoreKey({ stateDir: this.h.stateDir, env });
    const store = await openFileStore({ dir: this.h.stateDir, key });
    try {
      let next = 0;
      const writer = async (): Promise<void> => {
        while (next < accounts.length) {
          const a = accounts[next++]!;
          const scopes = a.provider === 'google' ? googleScopes() : microsoftScopes(['SMTP', 'IMAP', 'POP']);
          await store.save(a.user.toLowerCase(), { provider: a.provider, refreshToken: this.h.issueGrant(a), scopes });
        }
      };
      // Each save fsyncs a file and its directory: a few at a time.
      await Promise.all(Array.from({ length: 16 }, writer));
    } finally {
      await store.close();
    }
  }
}

export const CLIENTS_JS = fileURLToPath(new URL('./clients.js', import.meta.url));

/**
 * Runs reliability/clients.js MODE ARGS as its own process, killed after
 * `budgetMs`; every line that is not JSON goes to `onLine` as it comes
 * (progress), the last line is the parsed result.
 */
export function runClients<T>(mode: string, args: string[], budgetMs: number, onLine: (line: string) => void = () => undefined): { done: Promise<T>; child: ChildProcess } {
  const child = spawn(process.execPath, [CLIENTS_JS, mode, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  liveClients.add(child);
  let last = '';
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) onLine(line);
    last = line;
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), budgetMs);
  const done = new Promise<T>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      liveClients.delete(child);
      if (code !== 0) return reject(new Error(`clients ${mode} failed (code ${code}, signal ${signal}${signal === 'SIGKILL' ? `, over its ${budgetMs / 1000} s budget` : ''}): ${stderr.trim().slice(0, 500)}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`clients ${mode} printed no result: ${last.slice(0, 200)}`));
      }
    });
  });
  return { done, child };
}

const liveClients = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of liveClients) child.kill('SIGKILL');
});
