import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grantFileName, sealGrant } from '../src/store/envelope.js';
import {
  StoreConflictError,
  StoreCorruptError,
  StoreError,
  StoreKeyError,
  openFileStore,
  type FileGrantStore,
  type StoredGrant,
} from '../src/store/index.js';

const SECRET = 'rt-SECRET-refresh-token-value';
const grant = (n = 1) => ({ provider: 'google', refreshToken: `${SECRET}-${n}`, scopes: ['https://mail.google.com/'] });

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'mailtokend-store-'));
}

/** Run `body` with a fresh store; the directory is removed afterwards. */
async function withStore(body: (s: FileGrantStore, dir: string, key: Buffer) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  const key = randomBytes(32);
  const store = await openFileStore({ dir, key, now: () => 1_700_000_000_000 });
  try {
    await body(store, dir, key);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Await a rejection and return the error. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const pathOf = (dir: string, user: string) => join(dir, 'grants', grantFileName(user));

test('round trip: save, load, users, remove', () =>
  withStore(async (s) => {
    assert.is(await s.load('a@example.com'), undefined);
    const saved = await s.save('a@example.com', grant());
    const expected: StoredGrant = { user: 'a@example.com', ...grant(), version: 1, updatedAt: 1_700_000_000_000 };
    assert.equal(saved, expected);
    assert.equal(await s.load('a@example.com'), expected);
    // Any address is a safe file name: it is hashed.
    await s.save('../../etc/passwd "odd"/é@x', grant());
    assert.equal(await s.users(), ['../../etc/passwd "odd"/é@x', 'a@example.com']);
    assert.is(await s.remove('a@example.com'), true);
    assert.is(await s.remove('a@example.com'), false);
    assert.is(await s.load('a@example.com'), undefined);
    assert.equal(await s.users(), ['../../etc/passwd "odd"/é@x']);
  }));

test('versions count saves; expectedVersion is compare-and-swap', () =>
  withStore(async (s) => {
    assert.is((await s.save('a@x', grant(1), 0)).version, 1);
    assert.is((await s.save('a@x', grant(2))).version, 2);
    const err = await rejection(s.save('a@x', grant(3), 1));
    assert.instance(err, StoreConflictError);
    const conflict = err as StoreConflictError;
    assert.is(conflict.code, 'store-conflict');
    assert.is(conflict.actualVersion, 2);
    assert.ok(!conflict.message.includes(SECRET));
    assert.instance(await rejection(s.save('a@x', grant(3), 0)), StoreConflictError);
    assert.instance(await rejection(s.save('new@x', grant(1), 1)), StoreConflictError);
    assert.is((await s.save('a@x', grant(3), 2)).version, 3);
    assert.is((await s.load('a@x'))?.refreshToken, `${SECRET}-3`);
  }));

test('concurrent saves of one user are serialized; one CAS winner', () =>
  withStore(async (s) => {
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => s.save('a@x', grant(i))));
    assert.equal(all.map((g) => g.version), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.is((await s.load('a@x'))?.refreshToken, `${SECRET}-19`);
    const races = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => s.save('a@x', grant(i), 20)));
    assert.is(races.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(races.every((r) => r.status === 'fulfilled' || r.reason instanceof StoreConflictError));
  }));

test('different users do not wait for each other', () =>
  withStore(async (s) => {
    const order: string[] = [];
    const slow = Array.from({ length: 30 }, (_, i) => s.save('slow@x', grant(i)).then(() => order.push(`slow${i}`)));
    const fast = s.save('fast@x', grant()).then(() => order.push('fast'));
    await Promise.all([...slow, fast]);
    assert.ok(order.indexOf('fast') < order.indexOf('slow29'), order.join(' '));
  }));

test('directories are 0700 and files 0600 whatever the umask', async () => {
  const old = process.umask(0);
  try {
    await withStore(async (s, dir) => {
      await s.save('a@x', grant());
      assert.is((await stat(dir)).mode & 0o777, 0o700);
      assert.is((await stat(join(dir, 'grants'))).mode & 0o777, 0o700);
      assert.is((await stat(pathOf(dir, 'a@x'))).mode & 0o777, 0o600);
      assert.is((await stat(join(dir, 'key-check.json'))).mode & 0o777, 0o600);
    });
  } finally {
    process.umask(old);
  }
});

test('a grant file holds no secret in clear', () =>
  withStore(async (s, dir) => {
    await s.save('a@x', grant());
    const text = await readFile(pathOf(dir, 'a@x'), 'utf8');
    assert.ok(!text.includes(SECRET));
    assert.ok(!text.includes('mail.google.com'));
    assert.is(JSON.parse(text).user, 'a@x');
  }));

test('a tampered file is refused with its path', () =>
  withStore(async (s, dir) => {
    await s.save('a@x', grant());
    const path = pathOf(dir, 'a@x');
    const env = JSON.parse(await readFile(path, 'utf8'));
    const data = Buffer.from(env.data, 'base64');
    data[5] = (data[5] ?? 0) ^ 1;
    await writeFile(path, JSON.stringify({ ...env, data: data.toString('base64') }));
    const err = await rejection(s.load('a@x'));
    assert.instance(err, StoreCorruptError);
    assert.is((err as StoreCorruptError).code, 'store-corrupt');
    assert.match((err as Error).message, path);
    assert.match((err as Error).message, 'authentication failed: wrong key or tampered');
    await writeFile(path, '{"format":1,"user":');
    const bad = await rejection(s.load('a@x'));
    assert.instance(bad, StoreCorruptError);
    assert.match((bad as Error).message, path);
    assert.match((bad as Error).message, 'bad JSON');
  }));

test('a file copied to another account name fails to decrypt', () =>
  withStore(async (s, dir) => {
    await s.save('alice@x', grant());
    const target = pathOf(dir, 'mallory@x');
    await copyFile(pathOf(dir, 'alice@x'), target);
    const err = await rejection(s.load('mallory@x'));
    assert.instance(err, StoreCorruptError);
    assert.match((err as Error).message, target);
    assert.match((err as Error).message, 'belongs to alice@x');
    // Rewriting the clear user field does not help: the address is authenticated.
    const env = JSON.parse(await readFile(target, 'utf8'));
    await writeFile(target, JSON.stringify({ ...env, user: 'mallory@x' }));
    assert.instance(await rejection(s.load('mallory@x')), StoreCorruptError);
    const report = await s.check();
    assert.is(report.ok, 1);
    assert.equal(report.corrupt.map((c) => c.path), [target]);
  }));

test('a wrong key is refused at open, and per file', async () => {
  const dir = await tempDir();
  try {
    const key = randomBytes(32);
    const s = await openFileStore({ dir, key });
    await s.save('a@x', grant());
    await s.close();
    const wrong = randomBytes(32);
    const err = await rejection(openFileStore({ dir, key: wrong }));
    assert.instance(err, StoreKeyError);
    assert.match((err as Error).message, 'does not match');
    // Without the key-check record, the grants themselves betray the wrong key.
    await rm(join(dir, 'key-check.json'));
    assert.instance(await rejection(openFileStore({ dir, key: wrong })), StoreKeyError);
    assert.instance(await rejection(openFileStore({ dir, key: Buffer.alloc(16) })), StoreKeyError);
    // A file sealed with another key, in a store opened with the right one.
    const s2 = await openFileStore({ dir, key });
    const path = pathOf(dir, 'b@x');
    await writeFile(path, sealGrant(wrong, { user: 'b@x', ...grant(), version: 1, updatedAt: 0 }));
    const perFile = await rejection(s2.load('b@x'));
    assert.instance(perFile, StoreCorruptError);
    assert.match((perFile as Error).message, `${path} is unreadable: authentication failed: wrong key`);
    assert.ok(!(perFile as Error).message.includes(SECRET));
    await s2.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('save over a corrupt file moves it aside first', () =>
  withStore(async (s, dir) => {
    await s.save('a@x', grant(1));
    const path = pathOf(dir, 'a@x');
    await writeFile(path, 'garbage');
    assert.instance(await rejection(s.load('a@x')), StoreCorruptError);
    const conflict = await rejection(s.save('a@x', grant(2), 1));
    assert.instance(conflict, StoreConflictError);
    assert.is((conflict as StoreConflictError).actualVersion, undefined);
    assert.equal((await s.check()).corrupt.map((c) => c.path), [path]);
    const saved = await s.save('a@x', grant(2), 0);
    assert.is(saved.version, 1);
    assert.is(await readFile(`${path}.corrupt-1700000000000`, 'utf8'), 'garbage');
    assert.equal(await s.load('a@x'), saved);
    // Same millisecond, second corrupt file: the first one is kept too.
    await writeFile(path, 'garbage 2');
    await s.save('a@x', grant(3));
    assert.is(await readFile(`${path}.corrupt-1700000000000-1`, 'utf8'), 'garbage 2');
    assert.equal(await s.users(), ['a@x']);
  }));

test('stale temp files are removed on open, live ones kept', async () => {
  const dir = await tempDir();
  try {
    const key = randomBytes(32);
    await (await openFileStore({ dir, key })).close();
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const grants = join(dir, 'grants');
    const deadTemp = join(grants, `.tmp-${dead}-abcdef-${grantFileName('a@x')}`);
    const oldTemp = join(grants, `.tmp-${process.pid}-abcdef-${grantFileName('b@x')}`);
    const liveTemp = join(grants, `.tmp-${process.pid}-012345-${grantFileName('c@x')}`);
    for (const p of [deadTemp, oldTemp, liveTemp]) await writeFile(p, 'half');
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(oldTemp, hourAgo, hourAgo);
    const s = await openFileStore({ dir, key });
    assert.equal(await readdir(grants), [`.tmp-${process.pid}-012345-${grantFileName('c@x')}`]);
    assert.equal(await s.users(), []);
    await s.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a closed store refuses calls', async () => {
  const dir = await tempDir();
  const s = await openFileStore({ dir, key: randomBytes(32) });
  const pending = s.save('a@x', grant());
  await s.close();
  assert.is((await pending).version, 1);
  const err = await rejection(s.load('a@x'));
  assert.instance(err, StoreError);
  assert.is((err as StoreError).code, 'store-closed');
  await rm(dir, { recursive: true, force: true });
});

test.run();
