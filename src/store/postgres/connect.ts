import type pg from 'pg';
import { StoreError, StoreErrorCode } from '../errors.js';

/** How the PostgreSQL store reaches the database. The URL may hold a password: it is never logged. */
export interface PgConnection {
  url: string;
  /** Connections this pool may open (each worker has its own pool). */
  max?: number;
}

/**
 * A query that hangs (a dead network path) is given up after this long, so
 * refreshes fall back to memory. Generous: on an overloaded host (load 20+ on
 * two cores) a healthy connection can take seconds, and giving up early
 * turns load into failed refreshes.
 */
export const QUERY_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;

/** Client settings shared by pools and the LISTEN connection. */
export function clientConfig(conn: PgConnection): pg.ClientConfig {
  return {
    connectionString: conn.url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    application_name: 'mailtokend',
  };
}

let pgModule: Promise<typeof pg> | undefined;

/**
 * The pg driver, loaded on first use: a daemon on the file store (most of
 * them) never pays for it, in its main thread or in any worker.
 */
export function loadPg(): Promise<typeof pg> {
  pgModule ??= import('pg').then((m) => m.default);
  return pgModule;
}

export async function createPool(conn: PgConnection, onIdleError: (error: StoreError) => void): Promise<pg.Pool> {
  const { Pool } = await loadPg();
  const pool = new Pool({ ...clientConfig(conn), max: conn.max ?? 4, idleTimeoutMillis: 30_000 });
  // An idle client whose server went away emits here; unhandled it would end the process.
  pool.on('error', (error) => onIdleError(storeErrorOf('keep a connection to', error)));
  return pool;
}

/** SQLSTATE classes and client errors that mean "the database is not there", not "the query is wrong". */
const UNREACHABLE_STATES = /^(08|57P0[1-3]|53300)/;
const UNREACHABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

/** An error raised before the query reached the server (no connection): sending it again is always safe. */
export function neverSent(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return code === 'ECONNREFUSED' || code === '57P03' || /timeout exceeded when trying to connect|due to connection timeout/i.test(error.message);
}

export function isUnreachable(error: unknown): boolean {
  if (error instanceof StoreError) return error.code === StoreErrorCode.unreachable;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNREACHABLE_STATES.test(code) || UNREACHABLE_ERRNO.has(code))) return true;
  return /Connection terminated|timeout|not queryable|Client has encountered a connection error/i.test(error.message);
}

/**
 * A pg error as a StoreError: `store-unreachable` when the database cannot be
 * reached, `store-io` otherwise. pg's messages name hosts and SQL states,
 * never the URL's password or a query's parameters.
 */
export function storeErrorOf(op: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const detail = error instanceof Error ? ((error as { code?: string }).code ? `${(error as { code?: string }).code}: ${error.message}` : error.message) : String(error);
  const code = isUnreachable(error) ? StoreErrorCode.unreachable : StoreErrorCode.io;
  const what = code === StoreErrorCode.unreachable ? 'PostgreSQL is unreachable' : 'PostgreSQL refused';
  // A URL parse error carries the URL (and its password) in `input`: such a cause is not kept.
  const keep = !(typeof error === 'object' && error !== null && 'input' in error);
  return new StoreError(code, `${what}: cannot ${op} (${detail})`, { ...(keep && { cause: error }), path: 'postgresql' });
}
