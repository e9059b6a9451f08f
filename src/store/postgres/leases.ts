/**
 * Refresh leases: one row per account in `mailtokend_leases`, naming the
 * instance allowed to call the provider for it until `expires_at` (the
 * database's clock). Taking a lease is one statement that inserts the row,
 * or takes it over when it has lapsed or is already ours; so of two instances
 * asking at once exactly one gets it, and a crashed holder's lease lapses by
 * itself.
 *
 * Each process keeps the local deadline of every lease it holds, computed from
 * the moment it *sent* the request (never later than the database's expiry),
 * so it knows when to stop refreshing if the database becomes unreachable.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { storeErrorOf } from './connect.js';

/** Clock rates of two machines differ a little: the local deadline keeps this much in hand. */
const DRIFT_MARGIN = 0.05;

export class Leases {
  /** One per process: a restarted instance never mistakes its predecessor's lease for its own. */
  readonly holderId = randomUUID();
  readonly #until = new Map<string, number>();

  constructor(
    private readonly pool: pg.Pool,
    readonly instance: string,
    readonly leaseMs: number,
  ) {}

  /**
   * Take (or extend) the lease on `key`: true if this process holds it now,
   * false if another instance does. Throws a StoreError when the database
   * cannot be asked.
   */
  async acquire(key: string): Promise<boolean> {
    return (await this.take(key)).taken;
  }

  /**
   * Like acquire(), and also says whose lease lapsed when this one replaced
   * it (a released lease leaves no row): that holder may have crashed, or be
   * alive but too slow to renew.
   */
  async take(key: string): Promise<{ taken: boolean; lapsedFrom?: string }> {
    const sent = performance.now();
    let rows: Array<{ prev_holder: string | null; prev_id: string | null }>;
    try {
      ({ rows } = await this.pool.query(
        `WITH prev AS (SELECT holder, holder_id FROM mailtokend_leases WHERE user_key = $1)
         INSERT INTO mailtokend_leases (user_key, holder, holder_id, expires_at)
           VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4::double precision / 1000))
         ON CONFLICT (user_key) DO UPDATE
           SET holder = EXCLUDED.holder, holder_id = EXCLUDED.holder_id, expires_at = EXCLUDED.expires_at
           WHERE mailtokend_leases.expires_at < clock_timestamp() OR mailtokend_leases.holder_id = EXCLUDED.holder_id
         RETURNING (SELECT holder FROM prev) AS prev_holder, (SELECT holder_id FROM prev) AS prev_id`,
        [key, this.instance, this.holderId, this.leaseMs],
      ));
    } catch (error) {
      throw storeErrorOf('take a refresh lease', error);
    }
    const row = rows[0];
    if (row === undefined) {
      this.#until.delete(key);
      return { taken: false };
    }
    this.#until.set(key, sent + this.leaseMs * (1 - DRIFT_MARGIN));
    const lapsed = row.prev_id !== null && row.prev_id !== this.holderId;
    return lapsed ? { taken: true, lapsedFrom: row.prev_holder ?? 'another instance' } : { taken: true };
  }

  /** Milliseconds left on the lease this process holds on `key` (0 if none), by the local clock alone. */
  remainingMs(key: string): number {
    const until = this.#until.get(key);
    if (until === undefined) return 0;
    const left = until - performance.now();
    if (left <= 0) this.#until.delete(key);
    return Math.max(0, left);
  }

  /** Give the lease up early (best effort: if the database is away, it lapses by itself). */
  async release(key: string): Promise<void> {
    this.#until.delete(key);
    try {
      await this.pool.query('DELETE FROM mailtokend_leases WHERE user_key = $1 AND holder_id = $2', [key, this.holderId]);
    } catch {
      // It lapses on its own within the lease time.
    }
  }

  /**
   * Renews the lease every quarter of its length while a refresh runs: while
   * it waits for a provider slot (the refresh cap), and then during the
   * provider call (a call may outlast one lease) for at most two lease
   * lengths, so a provider connection that hangs does not keep the account
   * from every other instance for the whole call timeout. A failed renewal
   * changes nothing: the local deadline tells the caller what it still holds.
   */
  keepAlive(key: string): { callStarted(): void; stop(): void } {
    let until = Infinity;
    const timer = setInterval(() => {
      if (performance.now() > until) clearInterval(timer);
      else if (this.remainingMs(key) > 0) void this.acquire(key).catch(() => undefined);
    }, Math.max(250, Math.floor(this.leaseMs / 4)));
    timer.unref();
    return {
      callStarted: () => {
        until = performance.now() + 2 * this.leaseMs;
      },
      stop: () => clearInterval(timer),
    };
  }
}
