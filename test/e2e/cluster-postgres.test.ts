/**
 * The private PostgreSQL the cluster tests run on (test/helpers/postgres.ts):
 * it takes connections with its URL and nothing without the password, keeps
 * its data across a stop and start on the same port, and leaves neither a
 * server nor a directory behind.
 */
import { existsSync } from 'node:fs';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../helpers/daemon.js';
import { alive, type PostgresServer, startPostgres } from '../helpers/postgres.js';

let server: PostgresServer;

async function query(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

setup(test, async () => {
  server = await startPostgres();
});

test.after(async () => {
  await server?.close();
});

test('a client connects with the URL; a wrong password is refused', async () => {
  const r = await query(server.url, 'select current_user as who, current_database() as db, current_setting($1) as fsync', ['fsync']);
  assert.equal(r.rows[0], { who: 'mailtokend', db: 'mailtokend', fsync: 'off' });
  const wrong = server.url.replace(server.password, 'not-the-password');
  const error = await query(wrong, 'select 1').catch((e: unknown) => e);
  assert.instance(error, Error);
  assert.match(String((error as Error).message), /password authentication failed/);
});

test('data survives stop and start on the same port; clients fail while it is down', async () => {
  await query(server.url, 'create table kept (v text)');
  await query(server.url, 'insert into kept values ($1)', ['before the outage']);
  const port = server.port;
  await server.stop();
  assert.is(server.running, false);
  const down = await query(server.url, 'select 1').catch((e: unknown) => e);
  assert.match(String((down as Error).message), /ECONNREFUSED/);
  await server.start();
  assert.is(server.port, port);
  const r = await query(server.url, 'select v from kept');
  assert.equal(r.rows, [{ v: 'before the outage' }]);
});

test('createDatabase gives another empty database; sql() runs psql against it', async () => {
  const url = await server.createDatabase('second');
  assert.match(url, /\/second$/);
  await query(url, 'create table t (n int)');
  await query(url, 'insert into t values (1), (2)');
  assert.is((await server.sql('select sum(n) from t', 'second')).trim(), '3');
  assert.is((await server.sql("select count(*) from pg_tables where tablename = 't'")).trim(), '0', 'the first database is untouched');
});

test('close stops the server and removes its directory', async () => {
  const pid = server.postmasterPid();
  assert.ok(pid && alive(pid), 'the postmaster runs');
  await server.close();
  assert.is(alive(pid!), false, 'the postmaster is gone');
  assert.is(existsSync(server.dir), false, 'the directory is gone');
});

test.run();
