/**
 * The PostgreSQL grant store, shared by several daemons (doc/cluster.md).
 * Each row holds one account's grant and last access token, sealed with the
 * same AES-256-GCM envelope as the file store's files (the key stays with the
 * daemons). Every write is a compare-and-swap on `version` and, in the same
 * statement, a NOTIFY carrying only the address and the new version.
 */
import type pg from 'pg';
import { KEY_BYTES, openGrant, sealGrant } from '../envelope.js';
import { StoreConflictError, StoreCorruptError, StoreError, StoreErrorCode, StoreKeyError } from '../errors.js';
import type { GrantInput, GrantStore, StoredGrant } from '../types.js';
import { createPool, neverSent, storeErrorOf, type PgConnection } from './connect.js';
import { Leases } from './leases.js';
import { checkKeyRecord } from './key-record.js';
import { migrate } from './migrations.js';

/** The channel every instance listens on. */
export const GRANTS_CHANNEL = 'mailtokend_grants';

export interface PgStoreOptions extends PgConnection {
  key: Buffer;
  /** This instance's name: written as `refreshed_by`, shown in leases. */
  instance: string;
  leaseMs: number;
  /** Run migrations and the key check (the main thread does, once, before the workers open theirs). */
  migrate?: boolean;
  now?: () => number;
  /** Errors of idle connections (the server went away): the store recovers by itself on the next query. */
  onIdleError?: (error: StoreError) => void;
}

/** A row as `versions()` lists it, for catching up after missed notifications. */
export interface GrantVersion {
  user: string;
  version: number;
}

/** One account in the cluster's view (status): nothing secret. */
export interface ClusterRow {
  user: string;
  version: number;
  refreshedBy?: string;
  refreshedAt?: number;
  leaseHolder?: string;
}

const RETRY_PAUSE_MS = 250;

/** Loads that arrive in the same turn go out as one query (10,000 accounts start in a few round trips). */
const LOAD_BATCH = 500;

function rowPath(user: string): string {
  return `postgresql:mailtokend_grants/${user}`;
}

function checkInput(user: string, grant: GrantInput, expectedVersion: number | undefined): void {
  if (typeof user !== 'string' || user.length === 0) throw new TypeError('store: user must be a non-empty string');
  if (typeof grant?.provider !== 'string' || grant.provider.length === 0) throw new TypeError(`store: provider of ${user} must be a non-empty string`);
  if (typeof grant.refreshToken !== 'string' || grant.refreshToken.length === 0) throw new TypeError(`store: refreshToken of ${user} must be a non-empty string`);
  if (!Array.isArray(grant.scopes) || !grant.scopes.every((s) => typeof s === 'string')) throw new TypeError(`store: scopes of ${user} must be an array of strings`);
  if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && expectedVersion >= 0)) {
    throw new TypeError(`store: expectedVersion for ${user} must be an integer >= 0`);
  }
}

/** Open the store; with `migrate`, create or upgrade the schema and check the key against the database. */
export async function openPgStore(opts: PgStoreOptions): Promise<PgGrantStore> {
  if (!Buffer.isBuffer(opts.key) || opts.key.length !== KEY_BYTES) {
    throw new StoreKeyError(`store key must be ${KEY_BYTES} bytes, got ${Buffer.isBuffer(opts.key) ? opts.key.length : 'no buffer'}`);
  }
  const pool = await createPool(opts, opts.onIdleError ?? (() => undefined));
  const key = Buffer.from(opts.key);
  if (opts.migrate) {
    let client: pg.PoolClient | undefined;
    try {
      client = await pool.connect();
      await migrate(client, (c) => checkKeyRecord(c, key));
    } catch (error) {
      client?.release(true);
      client = undefined;
      await pool.end().catch(() => undefined);
      throw error instanceof StoreError ? error : storeErrorOf('open the store', error);
    } finally {
      client?.release();
    }
  }
  return new PgGrantStore(pool, key, opts);
}

export class PgGrantStore implements GrantStore {
  readonly leases: Leases;
  readonly instance: string;
  #closed = false;
  /** The last version this process wrote per address (0 after its own remove): its own notifications are skipped. */
  readonly #written = new Map<string, number>();
  #pending = new Map<string, Array<{ resolve: (g: StoredGrant | undefined) => void; reject: (e: unknown) => void }>>();
  #flushScheduled = false;
  readonly #now: () => number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly key: Buffer,
    opts: PgStoreOptions,
  ) {
    this.instance = opts.instance;
    this.#now = opts.now ?? Date.now;
    this.leases = new Leases(pool, opts.instance, opts.leaseMs);
  }

  load(user: string): Promise<StoredGrant | undefined> {
    if (this.#closed) return Promise.reject(this.#closedError());
    return new Promise((resolve, reject) => {
      const waiting = this.#pending.get(user);
      if (waiting) waiting.push({ resolve, reject });
      else this.#pending.set(user, [{ resolve, reject }]);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => void this.#flushLoads());
      }
    });
  }

  async save(user: string, grant: GrantInput, expectedVersion?: number): Promise<StoredGrant> {
    if (this.#closed) throw this.#closedError();
    checkInput(user, grant, expectedVersion);
    if (expectedVersion !== undefined) return this.#swap(user, grant, expectedVersion);
    // No expectation: the caller means "whatever is there"; a concurrent writer only makes us read again.
    for (let attempt = 0; ; attempt++) {
      const current = await this.#currentVersion(user);
      try {
        return await this.#swap(user, grant, current ?? 0, current === undefined);
      } catch (error) {
        if (!(error instanceof StoreConflictError) || attempt >= 4) throw error;
      }
    }
  }

  async remove(user: string): Promise<boolean> {
    if (this.#closed) throw this.#closedError();
    // Before the query: its notification may reach the listener before the answer reaches us.
    this.#written.set(user, 0);
    const { rowCount } = await this.#query(
      'remove a grant',
      `WITH d AS (DELETE FROM mailtokend_grants WHERE user_key = $1 RETURNING user_key)
       SELECT pg_notify('${GRANTS_CHANNEL}', json_build_object('user', user_key, 'version', 0)::text) FROM d`,
      [user],
    );
    return (rowCount ?? 0) > 0;
  }

  /** The last version this process wrote for `user`: 0 after its own remove, -1 if it wrote none. */
  wroteVersion(user: string): number {
    return this.#written.get(user) ?? -1;
  }

  async users(): Promise<string[]> {
    if (this.#closed) throw this.#closedError();
    const { rows } = await this.#query<{ user_key: string }>('list grants', 'SELECT user_key FROM mailtokend_grants');
    return rows.map((r) => r.user_key).sort();
  }

  /** Every stored address with its version: what a listener that missed notifications compares against. */
  async versions(): Promise<GrantVersion[]> {
    const { rows } = await this.#query<{ user_key: string; version: string }>('list grant versions', 'SELECT user_key, version FROM mailtokend_grants');
    return rows.map((r) => ({ user: r.user_key, version: Number(r.version) }));
  }

  /** The cluster's view for status: who refreshed each account last, and who holds its lease. */
  async clusterView(): Promise<ClusterRow[]> {
    const { rows } = await this.#query<{ user_key: string; version: string; refreshed_by: string | null; refreshed_ms: string | null; holder: string | null }>(
      'read the cluster view',
      `SELECT g.user_key, g.version, g.refreshed_by, (extract(epoch FROM g.refreshed_at) * 1000)::bigint AS refreshed_ms,
              CASE WHEN l.expires_at > clock_timestamp() THEN l.holder END AS holder
         FROM mailtokend_grants g LEFT JOIN mailtokend_leases l USING (user_key)`,
    );
    return rows.map((r) => ({
      user: r.user_key,
      version: Number(r.version),
      ...(r.refreshed_by !== null && { refreshedBy: r.refreshed_by }),
      ...(r.refreshed_ms !== null && { refreshedAt: Number(r.refreshed_ms) }),
      ...(r.holder !== null && { leaseHolder: r.holder }),
    }));
  }

  /** A cheap round trip: is the database there? */
  async ping(): Promise<void> {
    await this.#query('reach the database', 'SELECT 1');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.end().catch(() => undefined);
  }

  async #swap(user: string, grant: GrantInput, expected: number, insert = expected === 0): Promise<StoredGrant> {
    const stored: StoredGrant = {
      user,
      provider: grant.provider,
      refreshToken: grant.refreshToken,
      scopes: [...grant.scopes],
      ...(grant.access !== undefined && { access: { ...grant.access } }),
      version: expected + 1,
      updatedAt: this.#now(),
    };
    const sealed = sealGrant(this.key, stored);
    const refreshedBy = grant.access ? (grant.access.refreshedBy ?? this.instance) : null;
    const refreshedAt = grant.access ? grant.access.refreshedAt : null;
    const write = insert
      ? `INSERT INTO mailtokend_grants (user_key, version, sealed, refreshed_by, refreshed_at)
           VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000))
           ON CONFLICT (user_key) DO NOTHING RETURNING user_key, version`
      : `UPDATE mailtokend_grants SET version = $2, sealed = $3, updated_at = clock_timestamp(),
             refreshed_by = coalesce($4, refreshed_by), refreshed_at = coalesce(to_timestamp($5::double precision / 1000), refreshed_at)
           WHERE user_key = $1 AND version = $6 RETURNING user_key, version`;
    const params = [user, stored.version, sealed, refreshedBy, refreshedAt, ...(insert ? [] : [expected])];
    const { rowCount } = await this.#query(
      'store a grant',
      `WITH w AS (${write})
       SELECT pg_notify('${GRANTS_CHANNEL}', json_build_object('user', user_key, 'version', version)::text) FROM w`,
      params,
    );
    if ((rowCount ?? 0) === 0) {
      const actual = await this.#currentVersion(user);
      throw new StoreConflictError(user, expected, actual ?? 0, rowPath(user));
    }
    this.#written.set(user, stored.version);
    return stored;
  }

  async #currentVersion(user: string): Promise<number | undefined> {
    const { rows } = await this.#query<{ version: string }>('read a grant version', 'SELECT version FROM mailtokend_grants WHERE user_key = $1', [user]);
    return rows[0] === undefined ? undefined : Number(rows[0].version);
  }

  async #flushLoads(): Promise<void> {
    this.#flushScheduled = false;
    const batch = [...this.#pending.entries()];
    this.#pending.clear();
    for (let i = 0; i < batch.length; i += LOAD_BATCH) {
      const part = batch.slice(i, i + LOAD_BATCH);
      try {
        const { rows } = await this.#query<{ user_key: string; version: string; sealed: string }>(
          'read grants',
          'SELECT user_key, version, sealed FROM mailtokend_grants WHERE user_key = ANY($1::text[])',
          [part.map(([user]) => user)],
        );
        const byUser = new Map(rows.map((r) => [r.user_key, r]));
        for (const [user, waiters] of part) {
          const row = byUser.get(user);
          let result: { grant?: StoredGrant; error?: unknown };
          try {
            result = { grant: row === undefined ? undefined : this.#open(user, Number(row.version), row.sealed) };
          } catch (error) {
            result = { error };
          }
          for (const w of waiters) ('error' in result ? w.reject(result.error) : w.resolve(result.grant));
        }
      } catch (error) {
        for (const [, waiters] of part) for (const w of waiters) w.reject(error);
      }
    }
  }

  #open(user: string, version: number, sealed: string): StoredGrant {
    const grant = openGrant(this.key, rowPath(user), user, sealed);
    // The sealed version is authenticated; the column is not. A mismatch means the row was tampered with or copied.
    if (grant.version !== version) throw new StoreCorruptError(rowPath(user), `sealed version ${grant.version} differs from the row's version ${version}`);
    return grant;
  }

  async #query<R extends pg.QueryResultRow = pg.QueryResultRow>(op: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      if (!neverSent(error)) throw storeErrorOf(op, error);
    }
    // Once more after a pause: a connection that could not be made in time (an overloaded host, a restarting server).
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      throw storeErrorOf(op, error);
    }
  }

  #closedError(): StoreError {
    return new StoreError(StoreErrorCode.closed, 'the PostgreSQL grant store is closed', { path: 'postgresql' });
  }
}
