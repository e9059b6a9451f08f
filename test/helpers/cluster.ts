/**
 * Several `mailtokend serve` instances on one private PostgreSQL
 * (test/helpers/postgres.ts) against one provider emulator: the e2e Harness
 * gives the emulator and the base config; each instance gets its own
 * directory (state_dir, sockets) and a `[store]` section naming the database,
 * the instance and the lease. Every instance shares one store key
 * (MAILTOKEND_STORE_KEY), as doc/cluster.md asks.
 *
 * The emulator is the witness: `refreshTimes(user)` lists when it issued each
 * access token of a user, which is when some instance refreshed it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminRequest } from '../../src/admin/client.js';
import type { AccountStatus } from '../../src/host/messages.js';
import type { Rotation } from '../../emulator/index.js';
import { type AccountDef, type DaemonProcess, filesUnder, Harness, MAILTOKEND, run, type RunResult, sendRaw, tokenInXoauth2, waitUntil } from './daemon.js';
import { type PostgresServer, startPostgres } from './postgres.js';

/** The cluster's view in `status`: which instance last refreshed the account (doc/cluster.md). */
export type ClusterAccountStatus = AccountStatus & { refreshedBy?: string };

export interface ClusterOptions {
  accounts: AccountDef[];
  instances: number;
  /** Emulator access token lifetime, seconds. */
  lifetime: number;
  rotation?: Rotation;
  /** `[store] lease` (default: the daemon's). */
  lease?: string;
  refreshAhead?: string;
  requestTimeout?: string;
  workers?: number;
  /** Top-level config lines for a node (before the first table). */
  top?: (node: ClusterNode) => string[];
  /** Give node i its URL through `postgres_url_file` instead of `postgres` (default: every node but the first). */
  urlFile?: (index: number) => boolean;
}

export class ClusterNode {
  daemon: DaemonProcess | undefined;

  constructor(
    readonly cluster: Cluster,
    readonly index: number,
    readonly name: string,
    readonly dir: string,
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
  get socket(): string {
    return join(this.dir, 'run', 'mta.sock');
  }
  get running(): boolean {
    return this.daemon?.running ?? false;
  }

  writeConfig(): void {
    const h = this.cluster.h;
    // The Harness config is written for its own dir; move state and sockets into this node's.
    const base = h
      .configText()
      .split(`state_dir = "${h.stateDir}"`)
      .join(`state_dir = "${this.stateDir}"`)
      .split(`path = "${join(h.dir, 'run')}/`)
      .join(`path = "${join(this.dir, 'run')}/`);
    const o = this.cluster.opts;
    const top = o.top ? [...o.top(this), ''] : [];
    const store = ['[store]'];
    if ((o.urlFile ?? ((i: number) => i > 0))(this.index)) {
      const file = join(this.dir, 'postgres.url');
      writeFileSync(file, `${this.cluster.db.url}\n`, { mode: 0o600 });
      store.push(`postgres_url_file = "${file}"`);
    } else {
      store.push(`postgres = "${this.cluster.db.url}"`);
    }
    store.push(`instance = "${this.name}"`);
    if (o.lease) store.push(`lease = "${o.lease}"`);
    writeFileSync(this.configPath, `${top.join('\n')}${base}\n${store.join('\n')}\n`, { mode: 0o600 });
  }

  /** Spawns `serve` on this node's config; `ready` waits for its ready line. */
  async start(ready = true, timeoutMs = 30_000): Promise<DaemonProcess> {
    if (this.running) throw new Error(`${this.name} already running`);
    this.daemon = this.cluster.h.spawnDaemon(this.configPath);
    if (ready) await this.daemon.waitForLog(`${this.name} ready`, { msg: 'ready' }, 1, timeoutMs);
    return this.daemon;
  }

  async kill(): Promise<void> {
    await this.daemon?.stop('SIGKILL');
  }

  /** `PROTO USER` on this node's socket: the token when the answer is a good XOAUTH2 string. */
  async token(user: string, proto = 'SMTP'): Promise<{ token: string | undefined; text: string }> {
    const reply = await sendRaw(this.socket, `${proto} ${user}`);
    return { token: tokenInXoauth2(reply.bytes, user), text: reply.error ? `(${reply.error})` : reply.text };
  }

  async status(): Promise<ClusterAccountStatus[]> {
    const response = await adminRequest(this.adminSocket, { cmd: 'status' }, 10_000);
    if (!response.ok || !Array.isArray(response.accounts)) throw new Error(`${this.name} status failed: ${JSON.stringify(response)}`);
    return response.accounts as ClusterAccountStatus[];
  }

  /** `mailtokend status --json` on this node: its accounts with the cluster's view (refreshedBy). */
  async cliStatus(): Promise<ClusterAccountStatus[]> {
    const r = await this.cli(['status', '--json']);
    if (r.code !== 0) throw new Error(`${this.name}: mailtokend status exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.out) as ClusterAccountStatus[];
  }

  /** Runs `mailtokend ARGS -c <this node's config>`. */
  cli(args: string[], input?: string): Promise<RunResult> {
    return run(process.execPath, [MAILTOKEND, ...args, '-c', this.configPath], { env: this.cluster.h.env(), input, timeoutMs: 40_000 });
  }
}

export class Cluster {
  readonly nodes: ClusterNode[] = [];

  private constructor(
    readonly h: Harness,
    readonly db: PostgresServer,
    readonly opts: ClusterOptions,
  ) {}

  /** PostgreSQL, emulator and configs; no daemon started, no grant imported. */
  static async create(opts: ClusterOptions): Promise<Cluster> {
    const db = await startPostgres();
    let h: Harness | undefined;
    try {
      h = await Harness.create({
        accounts: opts.accounts.map((a) => ({ ...a, grant: false })),
        lifetime: opts.lifetime,
        rotation: opts.rotation ?? 'single-use',
        refreshAhead: opts.refreshAhead ?? '10m',
        requestTimeout: opts.requestTimeout ?? '3s',
        workers: opts.workers ?? 1,
      });
      // One key for every instance (and for the CLI the test runs), never in the database.
      h.envOverlay.MAILTOKEND_STORE_KEY = randomBytes(32).toString('hex');
      const c = new Cluster(h, db, opts);
      for (let i = 0; i < opts.instances; i++) {
        const dir = join(h.dir, `n${i + 1}`);
        mkdirSync(dir, { mode: 0o700 });
        const node = new ClusterNode(c, i, `n${i + 1}`, dir);
        node.writeConfig();
        c.nodes.push(node);
      }
      return c;
    } catch (error) {
      await h?.close();
      await db.close();
      throw error;
    }
  }

  node(i: number): ClusterNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }

  get running(): ClusterNode[] {
    return this.nodes.filter((n) => n.running);
  }

  /** Starts every node side by side (schema migrations race, as in a real rollout). */
  async startAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.start()));
  }

  /** A fresh grant from the emulator for each account, imported through `via`'s running daemon. */
  async importAll(via: ClusterNode, accounts = this.opts.accounts, parallel = false): Promise<void> {
    const one = async (a: AccountDef): Promise<void> => {
      const r = await via.cli(['import', a.user], `${this.h.issueGrant(a)}\n`);
      if (r.code !== 0) throw new Error(`import ${a.user} through ${via.name} exited ${r.code}: ${r.out}${r.stderr}`);
    };
    if (parallel) await Promise.all(accounts.map(one));
    else for (const a of accounts) await one(a);
  }

  /**
   * When the emulator issued each access token of `user` (ms, its clock =
   * Date.now), sorted: one entry per successful refresh by any instance.
   */
  refreshTimes(user: string): number[] {
    const times: number[] = [];
    for (const secret of this.h.emu.secrets()) {
      const info = this.h.emu.lookupToken(secret);
      if (info?.kind === 'access' && info.user === user) times.push(info.issuedAt);
    }
    return times.sort((a, b) => a - b);
  }

  /** Live refresh leases, account key -> instance name, from `mailtokend_leases` (doc/cluster.md). */
  async leaseHolders(): Promise<Map<string, string>> {
    const out = await this.db.sql("select user_key || '|' || holder from mailtokend_leases where expires_at > clock_timestamp()");
    return new Map(out.split('\n').filter(Boolean).map((l) => l.split('|') as [string, string]));
  }

  /** Every (node, account) pair where the node does not serve a token the emulator accepts for that account; empty when all do. */
  async notServing(nodes = this.running, accounts = this.opts.accounts): Promise<string[]> {
    const bad: string[] = [];
    await Promise.all(
      nodes.flatMap((n) =>
        accounts.map(async (a) => {
          const { token, text } = await n.token(a.user);
          if (!token) bad.push(`${n.name} ${a.user}: ${JSON.stringify(text.slice(0, 120))}`);
          else if (!this.h.emu.isValidAccessToken(token, a.user)) bad.push(`${n.name} ${a.user}: a token the emulator does not accept`);
        }),
      ),
    );
    return bad;
  }

  async waitAllServing(what: string, timeoutMs = 20_000, accounts = this.opts.accounts, nodes = this.running): Promise<void> {
    let last: string[] = [];
    try {
      await waitUntil(what, async () => ((last = await this.notServing(nodes, accounts)).length === 0 ? true : undefined), timeoutMs, 200);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nnot serving: ${last.join('\n')}\n${this.tails()}`);
    }
  }

  /** The last lines of every daemon's output, for failure messages. */
  tails(chars = 1500): string {
    return this.nodes.map((n) => `--- ${n.name} (${n.running ? 'running' : 'stopped'}):\n${n.daemon?.output.slice(-chars) ?? ''}`).join('\n');
  }

  /** Secrets in clear in any daemon's output, any file of any node, or the database (a plain dump). */
  async leaks(): Promise<string[]> {
    const extra: Array<{ where: string; text: string }> = [];
    for (const n of this.nodes) for (const f of filesUnder(n.stateDir)) extra.push({ where: f, text: readFileSync(f).toString('latin1') });
    if (this.db.running) extra.push({ where: 'the database', text: await this.dump() });
    const found = this.h.leaks(extra);
    // The database password: given to the daemons in config and file, never to be logged.
    for (const d of this.h.runs) if (d.output.includes(this.db.password)) found.push(`the database password in daemon pid ${d.pid} output`);
    return found;
  }

  /** Every row of every mailtokend table, as text. */
  async dump(): Promise<string> {
    const tables = (await this.db.sql("select tablename from pg_tables where schemaname = 'public' order by 1")).split('\n').filter(Boolean);
    const parts: string[] = [];
    for (const t of tables) parts.push(`${t}:\n${await this.db.sql(`select * from "${t}"`)}`);
    return parts.join('\n');
  }

  async close(): Promise<void> {
    // For a look after a failure: every instance's output, and when the emulator issued each account's tokens.
    const keep = process.env.MAILTOKEND_CLUSTER_LOGS;
    if (keep) {
      mkdirSync(keep, { recursive: true });
      this.h.runs.forEach((d, i) => writeFileSync(join(keep, `run${i + 1}-pid${d.pid}.log`), d.output));
      const times = Object.fromEntries(this.opts.accounts.map((a) => [a.user, this.refreshTimes(a.user).map((t) => new Date(t).toISOString())]));
      writeFileSync(join(keep, 'emulator-issued.json'), JSON.stringify({ issued: times, stats: this.h.emu.stats() }, null, 1));
    }
    await this.h.close();
    await this.db.close();
  }
}
