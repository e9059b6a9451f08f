/**
 * The PostgreSQL grant store against a real PostgreSQL (a private cluster in
 * a temp dir, test/helpers/postgres.ts): migrations from several clients at
 * once, compare-and-swap, leases, notifications, an outage, and what an
 * attacker with a dump of the database would find.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StoreConflictError, StoreError, StoreKeyError, type StoredAccess } from '../src/store/index.js';
import { GrantListener, type GrantChange } from '../src/store/postgres/listener.js';
import { SCHEMA_VERSION } from '../src/store/postgres/migrations.js';
import { GRANTS_CHANNEL, openPgStore, type PgGrantStore } from '../src/store/postgres/store.js';
import { postgresBinDir, startPostgres, type PostgresServer } from './helpers/postgres.js';

let server: PostgresServer;
const key = randomBytes(32);
const opened: PgGrantStore[] = [];
let databases = 0;

test.before(async () => {
  server = await startPostgres();
});
test.after(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await server.close();
});

/** A fresh, empty database: each test starts from no schema. */
async function freshDatabase(): Promise<string> {
  return server.createDatabase(`t${++databases}`);
}

async function open(url: string, opts: { migrate?: boolean; leaseMs?: number; instance?: string; storeKey?: Buffer } = {}): Promise<PgGrantStore> {
  const store = await openPgStore({
    url,
    key: opts.storeKey ?? key,
    instance: opts.instance ?? 'test',
    leaseMs: opts.leaseMs ?? 15_000,
    migrate: opts.migrate ?? true,
  });
  opened.push(store);
  return store;
}

const access = (token: string, refreshedBy?: string): StoredAccess => {
  const now = Date.now();
  return { accessToken: token, expiresAt: now + 3_600_000, lifetimeMs: 3_600_000, refreshedAt: now, ...(refreshedBy && { refreshedBy }) };
};

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Waits (bounded) until `check` holds; fails with `what` otherwise. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.unreachable(`never happened: ${what}`);
}

test('several instances migrating one new database at once: each step runs once, all of them open', async () => {
  const url = await freshDatabase();
  const stores = await Promise.all(Array.from({ length: 6 }, (_, i) => open(url, { instance: `i${i}` })));
  assert.is(stores.length, 6);
  const rows = (await server.sql('SELECT version FROM mailtokend_schema ORDER BY version', `t${databases}`)).trim().split('\n');
  assert.equal(rows, Array.from({ length: SCHEMA_VERSION }, (_, i) => String(i + 1)));
  // Every instance sees what any other wrote.
  await stores[0]!.save('a@example.com', { provider: 'microsoft', refreshToken: 'rt-1', scopes: ['s'] });
  assert.is((await stores[5]!.load('a@example.com'))?.refreshToken, 'rt-1');
});

test('an instance with another store key is refused at start, naming the cause', async () => {
  const url = await freshDatabase();
  await open(url);
  const error = await rejection(open(url, { storeKey: randomBytes(32) }));
  assert.instance(error, StoreKeyError);
  assert.match((error as Error).message, /does not match the PostgreSQL store/);
});

test('grant and access token round-trip; users, versions and remove', async () => {
  const store = await open(await freshDatabase());
  const saved = await store.save('b@example.com', { provider: 'google', refreshToken: 'rt-b', scopes: ['x', 'y'], access: access('at-b', 'relay1') });
  assert.is(saved.version, 1);
  const loaded = await store.load('b@example.com');
  assert.is(loaded?.refreshToken, 'rt-b');
  assert.equal(loaded?.scopes, ['x', 'y']);
  assert.is(loaded?.access?.accessToken, 'at-b');
  assert.is(loaded?.access?.refreshedBy, 'relay1');
  assert.is(await store.load('nobody@example.com'), undefined);
  await store.save('a@example.com', { provider: 'google', refreshToken: 'rt-a', scopes: [] });
  assert.equal(await store.users(), ['a@example.com', 'b@example.com']);
  const view = await store.clusterView();
  assert.is(view.find((r) => r.user === 'b@example.com')?.refreshedBy, 'relay1');
  assert.is(view.find((r) => r.user === 'a@example.com')?.refreshedBy, undefined);
  assert.is(await store.remove('a@example.com'), true);
  assert.is(await store.remove('a@example.com'), false);
  assert.equal(await store.users(), ['b@example.com']);
});

test('compare-and-swap: of two instances rotating from one version, the second is refused and sees the first', async () => {
  const url = await freshDatabase();
  const a = await open(url, { instance: 'a' });
  const b = await open(url, { instance: 'b' });
  const v1 = await a.save('c@example.com', { provider: 'microsoft', refreshToken: 'rt-1', scopes: [] });
  const seenByB = await b.load('c@example.com');
  assert.is(seenByB?.version, v1.version);
  await a.save('c@example.com', { provider: 'microsoft', refreshToken: 'rt-2a', scopes: [], access: access('at-2a', 'a') }, v1.version);
  const error = await rejection(b.save('c@example.com', { provider: 'microsoft', refreshToken: 'rt-2b', scopes: [] }, seenByB!.version));
  assert.instance(error, StoreConflictError);
  assert.is((error as StoreConflictError).actualVersion, 2);
  const latest = await b.load('c@example.com');
  assert.is(latest?.refreshToken, 'rt-2a');
  assert.is(latest?.version, 2);
  // "must not exist" is refused as well once someone stored one.
  assert.instance(await rejection(b.save('c@example.com', { provider: 'microsoft', refreshToken: 'rt-x', scopes: [] }, 0)), StoreConflictError);
});

test('leases: of many instances asking at once exactly one gets it; the holder renews; release frees it', async () => {
  const url = await freshDatabase();
  const stores = await Promise.all(Array.from({ length: 5 }, (_, i) => open(url, { instance: `n${i}` })));
  const got = await Promise.all(stores.map((s) => s.leases.acquire('d@example.com')));
  assert.is(got.filter(Boolean).length, 1);
  const holder = stores[got.indexOf(true)]!;
  const other = stores[(got.indexOf(true) + 1) % stores.length]!;
  assert.is(await holder.leases.acquire('d@example.com'), true, 'the holder renews its own lease');
  assert.ok(holder.leases.remainingMs('d@example.com') > 10_000);
  assert.is(await other.leases.acquire('d@example.com'), false);
  assert.is(other.leases.remainingMs('d@example.com'), 0);
  assert.is((await holder.clusterView()).length, 0, 'a lease is not a grant');
  await holder.leases.release('d@example.com');
  assert.equal(await other.leases.take('d@example.com'), { taken: true }, 'a released lease is taken, not taken over');
});

test('leases: a holder that stops renewing (crashed) loses the lease when it lapses', async () => {
  const url = await freshDatabase();
  const crashed = await open(url, { instance: 'crashed', leaseMs: 400 });
  const peer = await open(url, { instance: 'peer', leaseMs: 400 });
  assert.is(await crashed.leases.acquire('e@example.com'), true);
  assert.is(await peer.leases.acquire('e@example.com'), false);
  let took: { taken: boolean; lapsedFrom?: string } = { taken: false };
  await eventually('the lease lapsed and the peer took it', async () => (took = await peer.leases.take('e@example.com')).taken);
  assert.is(took.lapsedFrom, 'crashed', 'the taker learns whose lease lapsed');
  assert.is(crashed.leases.remainingMs('e@example.com'), 0, 'by its own clock the old holder knows it lost it');
  assert.is(await crashed.leases.acquire('e@example.com'), false);
});

test('notifications: every write reaches a listener as address and version, never a token', async () => {
  const url = await freshDatabase();
  const writer = await open(url);
  const changes: GrantChange[] = [];
  let connects = 0;
  const listener = new GrantListener({ url }, { change: (c) => changes.push(c), connect: () => connects++, disconnect: () => undefined });
  const raw = new pg.Client({ connectionString: url });
  const payloads: string[] = [];
  try {
    listener.start();
    await raw.connect();
    await raw.query(`LISTEN ${GRANTS_CHANNEL}`);
    raw.on('notification', (m) => payloads.push(m.payload ?? ''));
    await eventually('listener connected', () => connects === 1);
    await writer.save('f@example.com', { provider: 'google', refreshToken: 'rt-SECRET-f', scopes: [], access: access('at-SECRET-f') });
    await writer.save('f@example.com', { provider: 'google', refreshToken: 'rt-SECRET-f2', scopes: [] }, 1);
    await writer.remove('f@example.com');
    await eventually('three changes delivered', () => changes.length === 3);
    assert.equal(changes, [
      { user: 'f@example.com', version: 1 },
      { user: 'f@example.com', version: 2 },
      { user: 'f@example.com', version: 0 },
    ]);
    await eventually('raw payloads', () => payloads.length === 3);
    for (const p of payloads) assert.not.match(p, /SECRET/);
    assert.equal(JSON.parse(payloads[0]!), { user: 'f@example.com', version: 1 });
  } finally {
    await listener.close();
    await raw.end();
  }
});

test('no plaintext token and no key in a dump of the database', async () => {
  const url = await freshDatabase();
  const store = await open(url);
  const refresh = `rt-${randomBytes(12).toString('hex')}`;
  const accessToken = `at-${randomBytes(12).toString('hex')}`;
  await store.save('g@example.com', { provider: 'microsoft', refreshToken: refresh, scopes: ['offline_access'], access: access(accessToken, 'relay2') });
  await store.leases.acquire('g@example.com');
  const pgDump = postgresBinDir() ? join(postgresBinDir()!, 'pg_dump') : 'pg_dump';
  const dump = spawnSync(pgDump, ['--data-only', `--dbname=${url}`], { encoding: 'utf8' });
  assert.is(dump.status, 0, dump.stderr);
  assert.match(dump.stdout, /g@example\.com/, 'the dump holds the row');
  assert.match(dump.stdout, /relay2/);
  for (const secret of [refresh, accessToken, key.toString('base64'), key.toString('hex'), key.toString('base64url')]) {
    assert.not.ok(dump.stdout.includes(secret), 'a secret is in the dump');
  }
});

test('an outage: queries fail fast as store-unreachable, the listener reconnects, everything resumes', async () => {
  const url = await freshDatabase();
  const store = await open(url);
  await store.save('h@example.com', { provider: 'google', refreshToken: 'rt-h', scopes: [] });
  let connects = 0;
  const changes: GrantChange[] = [];
  const listener = new GrantListener({ url }, { change: (c) => changes.push(c), connect: () => connects++, disconnect: () => undefined });
  listener.start();
  try {
    await eventually('listener connected', () => connects === 1);
    await server.stop();
    const error = await rejection(store.load('h@example.com'));
    assert.instance(error, StoreError);
    assert.is((error as StoreError).code, 'store-unreachable');
    assert.not.ok((error as Error).message.includes(server.password), 'the message never holds the URL password');
    assert.is((await rejection(store.leases.acquire('h@example.com')) as StoreError).code, 'store-unreachable');
    await server.start();
    await eventually('listener reconnected', () => connects === 2, 20_000);
    assert.is((await store.load('h@example.com'))?.refreshToken, 'rt-h');
    await store.save('h@example.com', { provider: 'google', refreshToken: 'rt-h2', scopes: [] }, 1);
    await eventually('change after reconnect delivered', () => changes.some((c) => c.version === 2));
  } finally {
    await listener.close();
  }
});

test.run();
