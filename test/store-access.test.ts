/**
 * The access token stored with a grant: encrypted in the same file, read
 * back whole, absent from files written before it existed, dropped (not
 * fatal) when malformed, refused on save when malformed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grantFileName, grantAad, seal } from '../src/store/envelope.js';
import { openFileStore, type FileGrantStore, type StoredAccess } from '../src/store/index.js';

const ACCESS: StoredAccess = { accessToken: 'ya29.AT-SECRET-access-token', expiresAt: 1_700_003_600_000, lifetimeMs: 3_600_000, refreshedAt: 1_700_000_000_000 };
const grant = { provider: 'google', refreshToken: '1//RT-SECRET-refresh', scopes: ['https://mail.google.com/'] };

async function withStore(body: (s: FileGrantStore, dir: string, key: Buffer) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mailtokend-store-access-'));
  const key = randomBytes(32);
  const store = await openFileStore({ dir, key, now: () => 1_700_000_000_000 });
  try {
    await body(store, dir, key);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('an access token saved with the grant is read back, and is not in the file in clear', () =>
  withStore(async (store, dir) => {
    await store.save('a@x', { ...grant, access: { ...ACCESS, refreshedBy: 'node-1' } });
    const loaded = await store.load('a@x');
    assert.equal(loaded?.access, { ...ACCESS, refreshedBy: 'node-1' });
    assert.equal((await store.loadMany!(['a@x', 'nobody@x']))[0], loaded);
    const text = await readFile(join(dir, 'grants', grantFileName('a@x')), 'utf8');
    assert.not.ok(text.includes('AT-SECRET'), 'the access token is encrypted');
    // A later save without one (a sign-in that brought none) drops it.
    await store.save('a@x', grant);
    assert.is((await store.load('a@x'))?.access, undefined);
  }));

test('a grant file written before access tokens were kept loads without one', () =>
  withStore(async (store, dir, key) => {
    const old = JSON.stringify({ ...grant, version: 3, updatedAt: 5 });
    await writeFile(join(dir, 'grants', grantFileName('b@x')), seal(key, 'b@x', grantAad('b@x'), old), { mode: 0o600 });
    const loaded = await store.load('b@x');
    assert.equal(loaded, { user: 'b@x', ...grant, version: 3, updatedAt: 5 });
    assert.is((await store.check()).corrupt.length, 0);
  }));

test('a malformed stored access token is dropped, the grant still loads', () =>
  withStore(async (store, dir, key) => {
    const bad = JSON.stringify({ ...grant, access: { accessToken: 42, expiresAt: 'soon' }, version: 1, updatedAt: 5 });
    await writeFile(join(dir, 'grants', grantFileName('c@x')), seal(key, 'c@x', grantAad('c@x'), bad), { mode: 0o600 });
    const loaded = await store.load('c@x');
    assert.is(loaded?.refreshToken, grant.refreshToken);
    assert.is(loaded?.access, undefined);
  }));

test('saving a malformed access token is refused with a message that holds no secret', () =>
  withStore(async (store) => {
    const access = { ...ACCESS, expiresAt: Number.NaN };
    let error: unknown;
    await store.save('d@x', { ...grant, access }).catch((e: unknown) => (error = e));
    assert.instance(error, TypeError);
    assert.not.ok(String(error).includes('SECRET'));
    assert.is(await store.load('d@x'), undefined, 'nothing was written');
  }));

test.run();
