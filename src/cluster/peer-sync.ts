/**
 * The worker's ear on the cluster: every grant another instance writes
 * arrives as (address, version) over LISTEN/NOTIFY; for the accounts of this
 * shard the worker reads the encrypted row and gives the new access token to
 * the account (ShardHost.adoptToken), so every instance serves every account
 * from memory. Changes missed while the connection was down are found by
 * comparing versions on reconnect.
 */
import type { KnownToken } from '../../actors/account.js';
import type { WorkerLog } from '../host/messages.js';
import type { PgConnection } from '../store/postgres/connect.js';
import { GrantListener, type GrantChange } from '../store/postgres/listener.js';
import type { ClusterRuntime } from './runtime.js';

/** What peer sync needs of the shard host (ShardHost implements it). */
export interface PeerTarget {
  /** Whether this shard holds the account. */
  spec(key: string): unknown;
  adoptToken(key: string, token: KnownToken): void;
  revoke(key: string, remote?: boolean): Promise<unknown>;
  status(): Array<{ key: string; failures: number; lastError?: { code: string } }>;
  refresh(key: string, waitMs: number): Promise<unknown>;
}

/** Failure codes of refreshes that could not run because the database was away (src/cluster/refresh.ts). */
const DATABASE_CODES = new Set(['store-unreachable', 'store-io']);

type Log = (level: WorkerLog['level'], msg: string, fields: WorkerLog['fields']) => void;

export class PeerSync {
  /** The newest version seen per account (own writes included), so each change is applied once. */
  readonly #seen = new Map<string, number>();
  readonly #listener: GrantListener;
  #baseline = false;

  constructor(
    private readonly runtime: ClusterRuntime,
    private readonly target: PeerTarget,
    conn: PgConnection,
    private readonly log: Log,
  ) {
    this.#listener = new GrantListener(conn, {
      change: (change) => this.#change(change),
      connect: () => void this.#catchUp(),
      disconnect: (error) => {
        if (this.runtime.reachable) this.log('warn', 'lost the PostgreSQL notification connection; reconnecting', { error: error.message });
        this.runtime.reachable = false;
      },
    });
  }

  start(): void {
    this.#listener.start();
  }

  close(): Promise<void> {
    return this.#listener.close();
  }

  #change({ user, version }: GrantChange): void {
    if (this.target.spec(user) === undefined) return;
    const seen = this.#seen.get(user);
    if (version !== 0 && seen !== undefined && version <= seen) return;
    const wrote = this.runtime.store.wroteVersion(user);
    if (version === 0 ? wrote === 0 : wrote >= version) {
      this.#seen.set(user, version);
      return;
    }
    this.#seen.set(user, version);
    void this.#apply(user, version);
  }

  async #apply(user: string, version: number): Promise<void> {
    try {
      const grant = await this.runtime.store.load(user);
      this.runtime.grantChanged(user, grant);
      if (grant === undefined) {
        // Revoked on another instance (a sign-in since then would have left a row).
        if (version === 0) await this.target.revoke(user, false);
        this.runtime.changed(user);
        return;
      }
      const access = grant.access;
      // The actor keeps whichever token lives longer, so offering one it already has is harmless.
      if (access && access.expiresAt > Date.now()) {
        this.target.adoptToken(user, { accessToken: access.accessToken, expiresAt: access.expiresAt, lifetimeMs: access.lifetimeMs, refreshedAt: access.refreshedAt });
      }
      this.runtime.changed(user);
    } catch (error) {
      this.#seen.delete(user);
      this.log('warn', 'could not read a grant another instance wrote; it is read again on the next change or reconnect', {
        account: user,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** On every (re)connect: apply what changed while nobody listened. The first connect only sets the baseline (the shard just loaded). */
  async #catchUp(): Promise<void> {
    this.runtime.reachable = true;
    let versions;
    try {
      versions = await this.runtime.store.versions();
    } catch {
      return;
    }
    const first = !this.#baseline;
    this.#baseline = true;
    const present = new Set<string>();
    for (const { user, version } of versions) {
      if (this.target.spec(user) === undefined) continue;
      present.add(user);
      if (first) {
        if (!this.#seen.has(user)) this.#seen.set(user, version);
        continue;
      }
      this.#change({ user, version });
    }
    if (first) return;
    for (const user of this.#seen.keys()) {
      if (!present.has(user) && this.#seen.get(user) !== 0) this.#change({ user, version: 0 });
    }
    // Refreshes that failed only because the database was away need not wait out their backoff.
    for (const row of this.target.status()) {
      if (row.failures > 0 && row.lastError && DATABASE_CODES.has(row.lastError.code)) void this.target.refresh(row.key, 0).catch(() => undefined);
    }
  }
}
