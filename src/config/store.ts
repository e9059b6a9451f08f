import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { postgresUrlProblem } from './fields.js';
import { expandPath, type Env } from './paths.js';
import type { Report } from './report.js';
import { storeSchema, tableSchema } from './schema.js';
import type { StoreConfig } from './types.js';

/** A crashed refresher's lease lapses after this long; another instance then takes the account over. */
export const DEFAULT_LEASE_MS = 15_000;
/** Shorter leases would lapse during an ordinary provider call (the lease is renewed, but not faster than this allows). */
export const MIN_LEASE_MS = 2_000;
export const MAX_LEASE_MS = 5 * 60_000;

/** The host name, cut to a valid instance name (what status shows when `instance` is not set). */
export function defaultInstanceName(): string {
  const name = hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return name === '' ? 'mailtokend' : name;
}

/**
 * `[store]`: nothing (or no `postgres*` key) keeps the embedded file store;
 * `postgres` or `postgres_url_file` selects PostgreSQL (doc/cluster.md).
 */
export function resolveStore(raw: unknown, env: Env, report: Report): StoreConfig {
  const table = raw === undefined ? {} : report.check(tableSchema, raw, ['store']);
  const input = table === undefined ? undefined : report.check(storeSchema, table, ['store']);
  const instance = input?.instance ?? defaultInstanceName();
  if (input === undefined) return { backend: 'file', instance };
  if (input.postgres !== undefined && input.postgres_url_file !== undefined) {
    report.error(['store', 'postgres_url_file'], 'set only one of postgres, postgres_url_file');
    return { backend: 'file', instance };
  }
  const leaseMs = input.lease ?? DEFAULT_LEASE_MS;
  if (input.lease !== undefined && (leaseMs < MIN_LEASE_MS || leaseMs > MAX_LEASE_MS)) {
    report.error(['store', 'lease'], `must be between ${MIN_LEASE_MS / 1000}s and ${MAX_LEASE_MS / 60_000}m, got ${leaseMs / 1000}s`);
  }
  if (input.postgres === undefined && input.postgres_url_file === undefined) {
    if (input.lease !== undefined) report.warn(['store', 'lease'], 'lease only matters with postgres or postgres_url_file; the file store has no leases');
    return { backend: 'file', instance };
  }
  if (input.postgres !== undefined) return { backend: 'postgres', url: input.postgres, urlSource: '[store] postgres', instance, leaseMs };
  const path = expandPath(input.postgres_url_file!, env) ?? input.postgres_url_file!;
  let url: string;
  try {
    url = readFileSync(path, 'utf8').trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
    report.error(['store', 'postgres_url_file'], `cannot read ${path}: ${code}`);
    return { backend: 'file', instance };
  }
  const problem = url === '' ? 'the file is empty' : postgresUrlProblem(url)?.message;
  if (problem !== undefined) {
    report.error(['store', 'postgres_url_file'], `${path}: ${problem}`);
    return { backend: 'file', instance };
  }
  return { backend: 'postgres', url, urlSource: path, instance, leaseMs };
}
