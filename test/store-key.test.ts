import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StoreKeyError, loadStoreKey } from '../src/store/index.js';

const RACER = fileURLToPath(new URL('./fixtures/store-key-race.js', import.meta.url));
const run = promisify(execFile);

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mailtokend-key-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function keyError(p: Promise<unknown>): Promise<StoreKeyError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, StoreKeyError);
    assert.is((err as StoreKeyError).code, 'store-key');
    return err as StoreKeyError;
  }
  throw new Error('expected a StoreKeyError');
}

test('env MAILTOKEND_STORE_KEY: base64 or hex, anything else refused', () =>
  withDir(async (dir) => {
    const raw = randomBytes(32);
    for (const text of [raw.toString('base64'), raw.toString('hex'), `${raw.toString('hex').toUpperCase()}\n`, raw.toString('base64url')]) {
      const got = await loadStoreKey({ stateDir: dir, env: { MAILTOKEND_STORE_KEY: text } });
      assert.ok(got.key.equals(raw), text);
      assert.is(got.source, 'env:MAILTOKEND_STORE_KEY');
    }
    for (const bad of ['', 'secret-passphrase', randomBytes(16).toString('base64'), randomBytes(31).toString('hex')]) {
      const err = await keyError(loadStoreKey({ stateDir: dir, env: { MAILTOKEND_STORE_KEY: bad } }));
      assert.match(err.message, 'base64 (44 characters) or as 64 hex characters');
      if (bad) assert.ok(!err.message.includes(bad), 'the value is not echoed');
    }
    // The env key wins: no key file was created along the way.
    assert.equal(await readdir(dir), []);
  }));

test('systemd credential: raw or text, after env, before the file', () =>
  withDir(async (dir) => {
    const creds = join(dir, 'creds');
    await mkdir(creds);
    const path = join(creds, 'mailtokend-store-key');
    const raw = randomBytes(32);
    const env = { CREDENTIALS_DIRECTORY: creds };
    await writeFile(path, raw);
    let got = await loadStoreKey({ stateDir: join(dir, 'state'), env });
    assert.ok(got.key.equals(raw));
    assert.is(got.source, `credential:${path}`);
    await writeFile(path, `${raw.toString('base64')}\n`);
    assert.ok((await loadStoreKey({ stateDir: join(dir, 'state'), env })).key.equals(raw));
    const fromEnv = randomBytes(32);
    got = await loadStoreKey({ stateDir: join(dir, 'state'), env: { ...env, MAILTOKEND_STORE_KEY: fromEnv.toString('hex') } });
    assert.ok(got.key.equals(fromEnv));
    await writeFile(path, 'too short');
    const err = await keyError(loadStoreKey({ stateDir: join(dir, 'state'), env }));
    assert.match(err.message, path);
    // A credentials directory without our credential falls through to the key file.
    await rm(path);
    got = await loadStoreKey({ stateDir: join(dir, 'state'), env });
    assert.is(got.source, `file:${join(dir, 'state', 'store.key')}`);
  }));

test('key file: created once with 32 bytes, 0600, in a 0700 state dir', () =>
  withDir(async (dir) => {
    const stateDir = join(dir, 'state', 'nested');
    const old = process.umask(0o022);
    try {
      const first = await loadStoreKey({ stateDir, env: {} });
      const path = join(stateDir, 'store.key');
      assert.is(first.source, `file:${path}`);
      assert.is(first.created, true);
      assert.is(first.key.length, 32);
      assert.ok((await readFile(path)).equals(first.key));
      assert.is((await stat(path)).mode & 0o777, 0o600);
      assert.is((await stat(stateDir)).mode & 0o777, 0o700);
      assert.equal(await readdir(stateDir), ['store.key'], 'no temp file left');
      const again = await loadStoreKey({ stateDir, env: {} });
      assert.ok(again.key.equals(first.key));
      assert.is(again.created, false);
    } finally {
      process.umask(old);
    }
  }));

test('key file: a mode open to group/others is refused with the chmod to run', () =>
  withDir(async (dir) => {
    const path = join(dir, 'store.key');
    await writeFile(path, randomBytes(32));
    for (const mode of [0o644, 0o640, 0o604]) {
      await chmod(path, mode);
      const err = await keyError(loadStoreKey({ stateDir: dir, env: {} }));
      assert.match(err.message, `chmod 600 ${path}`);
      assert.is(err.path, path);
    }
    await chmod(path, 0o400);
    assert.is((await loadStoreKey({ stateDir: dir, env: {} })).key.length, 32);
  }));

test('key file: wrong length refused, text keys accepted', () =>
  withDir(async (dir) => {
    const path = join(dir, 'store.key');
    await writeFile(path, randomBytes(31), { mode: 0o600 });
    const err = await keyError(loadStoreKey({ stateDir: dir, env: {} }));
    assert.match(err.message, 'exactly 32 raw bytes');
    assert.match(err.message, 'holds 31 bytes');
    // Never replaced: a new key could not read the grants of the old one.
    assert.is((await readFile(path)).length, 31);
    const raw = randomBytes(32);
    await writeFile(path, `${raw.toString('base64')}\n`);
    assert.ok((await loadStoreKey({ stateDir: dir, env: {} })).key.equals(raw));
  }));

test('racing creation: processes and concurrent calls end with one key', () =>
  withDir(async (dir) => {
    const procs = join(dir, 'procs');
    const startAt = Date.now() + 600;
    const outs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, [RACER, procs, String(startAt)])));
    const lines = outs.map((o) => o.stdout.trim().split(' '));
    assert.is(new Set(lines.map(([hash]) => hash)).size, 1, 'one key for all');
    assert.is(lines.filter(([, created]) => created === 'true').length, 1, 'created exactly once');
    assert.equal(await readdir(procs), ['store.key']);

    const calls = join(dir, 'calls');
    const keys = await Promise.all(Array.from({ length: 20 }, () => loadStoreKey({ stateDir: calls, env: {} })));
    assert.ok(keys.every((k) => k.key.equals(keys[0]?.key ?? Buffer.alloc(0))));
    assert.is(keys.filter((k) => k.created).length, 1);
  }));

test.run();
