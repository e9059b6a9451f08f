import type pg from 'pg';
import { StoreError, StoreErrorCode } from '../errors.js';

/**
 * The schema, one numbered step at a time. A step is never edited once
 * released: a change is a new step. Every instance runs `migrate` at start;
 * the advisory lock makes simultaneous starts take turns, so each step runs
 * exactly once.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'grants, leases, meta',
    sql: `
      CREATE TABLE mailtokend_grants (
        user_key     text PRIMARY KEY,
        version      bigint NOT NULL CHECK (version > 0),
        -- AES-256-GCM envelope (src/store/envelope.ts) of the grant and its access token.
        sealed       text NOT NULL,
        updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
        -- In clear for status: which instance obtained the last access token, and when.
        refreshed_by text,
        refreshed_at timestamptz
      );
      CREATE TABLE mailtokend_leases (
        user_key   text PRIMARY KEY,
        holder     text NOT NULL,
        holder_id  text NOT NULL,
        expires_at timestamptz NOT NULL
      );
      CREATE TABLE mailtokend_meta (
        name  text PRIMARY KEY,
        value text NOT NULL
      );`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** Any fixed 64-bit number: the advisory lock taken around migrations ("mtkd" "migr"). */
const MIGRATION_LOCK = '7884393246713606514';

/**
 * Brings the schema to SCHEMA_VERSION in one transaction under an advisory
 * lock; `inside` runs in the same transaction after the steps (the key check).
 * Refuses a database whose schema is newer than this code knows.
 */
export async function migrate(client: pg.ClientBase, inside?: (client: pg.ClientBase) => Promise<void>): Promise<number[]> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS mailtokend_schema (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM mailtokend_schema');
    const current = rows[0]?.v ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new StoreError(
        StoreErrorCode.schema,
        `the PostgreSQL schema is at version ${current}, newer than this mailtokend knows (${SCHEMA_VERSION}): upgrade mailtokend on this instance`,
        { path: 'postgresql' },
      );
    }
    const applied: number[] = [];
    for (const step of MIGRATIONS) {
      if (step.version <= current) continue;
      await client.query(step.sql);
      await client.query('INSERT INTO mailtokend_schema (version, name) VALUES ($1, $2)', [step.version, step.name]);
      applied.push(step.version);
    }
    if (inside) await inside(client);
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
