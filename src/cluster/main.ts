/**
 * The main thread's side of a cluster: before any worker starts it creates or
 * migrates the schema and checks the store key against the database; while
 * the daemon runs it watches the database (log and `error_notify_cmd` when it
 * goes away, a log line when it is back) and answers the `cluster` admin
 * command that `mailtokend status` shows.
 */
import type { Config } from '../config/types.js';
import type { DaemonContext } from '../daemon/context.js';
import type { Logger } from '../log.js';
import { notifyEnv, runCommand } from '../notify/run-command.js';
import { openPgStore, type ClusterRow, type PgGrantStore } from '../store/postgres/store.js';
import { SCHEMA_VERSION } from '../store/postgres/migrations.js';
import type { ClusterSettings } from './settings.js';

/** How often the main thread checks that the database answers. */
const HEALTH_INTERVAL_MS = 2_000;

/** What `mailtokend status` shows about the cluster (the `cluster` admin command). */
export type ClusterView = {
  instance: string;
  backend: 'file' | 'postgres';
  reachable?: boolean;
  leaseMs?: number;
  accounts: ClusterRow[];
  error?: string;
};

export class Cluster {
  #reachable = true;
  #timer: NodeJS.Timeout | undefined;
  #context: DaemonContext | undefined;

  private constructor(
    readonly settings: ClusterSettings,
    private readonly store: PgGrantStore,
    private readonly log: Logger,
  ) {}

  /** Opens the cluster the config names (schema, key check); undefined for the embedded file store. */
  static async open(config: Config, key: Buffer, log: Logger): Promise<Cluster | undefined> {
    const store = config.store;
    if (store.backend !== 'postgres') return undefined;
    const started = Date.now();
    const pg = await openPgStore({ url: store.url, max: 2, key, instance: store.instance, leaseMs: store.leaseMs, migrate: true });
    // The URL may hold a password: only where it came from is logged.
    log.info({ instance: store.instance, schema: SCHEMA_VERSION, lease: store.leaseMs, from: store.urlSource, ms: Date.now() - started }, 'PostgreSQL store ready');
    return new Cluster({ url: store.url, instance: store.instance, leaseMs: store.leaseMs }, pg, log);
  }

  get reachable(): boolean {
    return this.#reachable;
  }

  install(context: DaemonContext): void {
    this.#context = context;
    context.admin.register('cluster', async () => this.view());
    this.#timer = setInterval(() => void this.#check(), HEALTH_INTERVAL_MS);
    this.#timer.unref();
  }

  async view(): Promise<ClusterView> {
    const base = { instance: this.settings.instance, backend: 'postgres' as const, leaseMs: this.settings.leaseMs };
    try {
      const accounts = await this.store.clusterView();
      return { ...base, reachable: true, accounts };
    } catch (error) {
      return { ...base, reachable: false, accounts: [], error: error instanceof Error ? error.message : String(error) };
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.store.close();
  }

  async #check(): Promise<void> {
    try {
      await this.store.ping();
      if (!this.#reachable) {
        this.#reachable = true;
        this.log.warn({ instance: this.settings.instance }, 'PostgreSQL is reachable again; refreshes and shared tokens resume');
      }
    } catch (error) {
      if (!this.#reachable) return;
      this.#reachable = false;
      const message = error instanceof Error ? error.message : String(error);
      this.log.error(
        { instance: this.settings.instance, error: message },
        'PostgreSQL is unreachable: serving the tokens held in memory; accounts are refreshed only under leases already held, rotated grants are kept until it returns',
      );
      this.#alert(`store-unreachable: ${message}`);
    }
  }

  /** The error notify path (error_notify_cmd), as for an account that keeps failing; no account is named. */
  #alert(message: string): void {
    const context = this.#context;
    const cmd = context?.config.notify.errorCmd;
    if (!context || !cmd) return;
    void runCommand(cmd, notifyEnv(context.env, { MAILTOKEND_ACCOUNT: '', MAILTOKEND_MESSAGE: message, MAILTOKEND_EVENT: 'store-unreachable' })).then((result) => {
      if (result.code !== 0) this.log.warn({ cmd: 'error_notify_cmd', exit: result.code, error: result.error }, 'error_notify_cmd failed');
    });
  }
}

/** The `cluster` admin command and the database watch; for the file store only the instance name. */
export function installCluster(context: DaemonContext, cluster: Cluster | undefined): void {
  if (cluster) {
    cluster.install(context);
    return;
  }
  context.admin.register('cluster', async (): Promise<ClusterView> => ({ instance: context.config.store.instance, backend: 'file', accounts: [] }));
}
