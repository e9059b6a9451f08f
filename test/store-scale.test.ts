/**
 * 10,000 accounts: listing them stays well under a second, and saving one
 * account touches that account's file and nothing else.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { grantFileName, sealGrant } from '../src/store/envelope.js';
import { openFileStore } from '../src/store/index.js';

const N = 10_000;
const userOf = (i: number) => `user${String(i).padStart(5, '0')}@example.com`;

/** Snapshot of every entry in `dir`: name → inode and mtime. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await readdir(dir)) {
    const st = await stat(join(dir, name), { bigint: true });
    out.set(name, `${st.ino}:${st.mtimeNs}`);
  }
  return out;
}

test('10,000 users: users() is fast and a save rewrites one file only', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mailtokend-scale-'));
  const key = randomBytes(32);
  try {
    await (await openFileStore({ dir, key })).close();
    const grants = join(dir, 'grants');
    // Written in the store's own format without fsync, to keep the setup quick.
    const users = Array.from({ length: N }, (_, i) => userOf(i));
    for (let i = 0; i < N; i += 500) {
      await Promise.all(
        users.slice(i, i + 500).map((user) =>
          writeFile(
            join(grants, grantFileName(user)),
            sealGrant(key, { user, provider: 'google', refreshToken: `rt-${user}`, scopes: ['mail'], version: 1, updatedAt: 0 }),
            { mode: 0o600 },
          ),
        ),
      );
    }

    // Best of three fresh stores: the bound is about the store, not a busy CI machine.
    let coldMs = Infinity;
    for (let run = 0; run < 3; run++) {
      const fresh = await openFileStore({ dir, key });
      const t0 = performance.now();
      const listed = await fresh.users();
      coldMs = Math.min(coldMs, performance.now() - t0);
      assert.equal(listed, users);
      await fresh.close();
    }
    assert.ok(coldMs < 1000, `users() on a fresh store took ${coldMs.toFixed(0)} ms`);
    const store = await openFileStore({ dir, key });
    await store.users();
    const t1 = performance.now();
    assert.is((await store.users()).length, N);
    const warmMs = performance.now() - t1;
    assert.ok(warmMs < 200, `users() again took ${warmMs.toFixed(0)} ms`);

    const before = await snapshot(grants);
    await sleep(20); // so a rewrite of any other file would show in its mtime
    const target = userOf(4242);
    assert.is((await store.save(target, { provider: 'google', refreshToken: 'rt-new', scopes: ['mail'] }, 1)).version, 2);
    const after = await snapshot(grants);
    assert.equal([...after.keys()].sort(), [...before.keys()].sort(), 'no file added or left behind');
    const changed = [...after].filter(([name, id]) => before.get(name) !== id).map(([name]) => name);
    assert.equal(changed, [grantFileName(target)]);
    assert.is((await store.load(userOf(4243)))?.refreshToken, `rt-${userOf(4243)}`);
    await store.close();
    console.log(`    users(): ${coldMs.toFixed(0)} ms cold, ${warmMs.toFixed(1)} ms warm for ${N} accounts`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
