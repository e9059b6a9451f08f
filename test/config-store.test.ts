import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, parseConfig } from '../src/config/index.js';
import { defaultInstanceName } from '../src/config/store.js';

const FILE = '/etc/mailtokend/config.toml';
const env = { HOME: '/home/u' };
const BASE = '[provider.google]\nclient_id = "g"\nclient_secret = "s"\n\n[[account]]\nuser = "a@example.com"\nprovider = "google"\n\n';

function refuse(text: string): ConfigError {
  try {
    parseConfig(text, FILE, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('config was accepted');
}

test('no [store]: the embedded file store, named after the host', () => {
  const config = parseConfig(BASE, FILE, env);
  assert.equal(config.store, { backend: 'file', instance: defaultInstanceName() });
  assert.match(config.store.instance, /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
});

test('[store] postgres: URL, instance and lease resolved', () => {
  const config = parseConfig(`${BASE}[store]\npostgres = "postgresql://m:pw@db.example.com/mailtokend"\ninstance = "relay1"\nlease = "20s"\n`, FILE, env);
  assert.equal(config.store, { backend: 'postgres', url: 'postgresql://m:pw@db.example.com/mailtokend', urlSource: '[store] postgres', instance: 'relay1', leaseMs: 20_000 });
});

test('[store] postgres_url_file: the URL is read from the file; the lease defaults to 15 s', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailtokend-config-store-'));
  try {
    const path = join(dir, 'url');
    writeFileSync(path, 'postgres://m:secret-pw@/mailtokend?host=/run/postgresql\n', { mode: 0o600 });
    const config = parseConfig(`${BASE}[store]\npostgres_url_file = "${path}"\n`, FILE, env);
    assert.equal(config.store, { backend: 'postgres', url: 'postgres://m:secret-pw@/mailtokend?host=/run/postgresql', urlSource: path, instance: defaultInstanceName(), leaseMs: 15_000 });
    writeFileSync(path, 'mysql://m:secret-pw@db/x\n');
    const error = refuse(`${BASE}[store]\npostgres_url_file = "${path}"\n`);
    assert.is(error.key, 'store.postgres_url_file');
    assert.is(error.line, 10);
    assert.match(error.message, /must start with "postgresql:\/\/"/);
    assert.not.match(error.message, /secret-pw/);
    const missing = refuse(`${BASE}[store]\npostgres_url_file = "${join(dir, 'nope')}"\n`);
    assert.match(missing.message, /store\.postgres_url_file: cannot read .*nope: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mistakes name file, line and key, and never echo the URL (it may hold a password)', () => {
  const bad = refuse(`${BASE}[store]\npostgres = "https://m:hunter2@db/x"\n`);
  assert.ok(bad.message.startsWith(`${FILE}:10: store.postgres: `), bad.message);
  assert.not.match(bad.message, /hunter2/);
  const garbage = refuse(`${BASE}[store]\npostgres = "not a url hunter2"\n`);
  assert.not.match(garbage.message, /hunter2/);
  const both = refuse(`${BASE}[store]\npostgres = "postgresql://db/x"\npostgres_url_file = "/etc/x"\n`);
  assert.match(both.message, /store\.postgres_url_file: set only one of postgres, postgres_url_file/);
  const lease = refuse(`${BASE}[store]\npostgres = "postgresql://db/x"\nlease = "1s"\n`);
  assert.is(lease.key, 'store.lease');
  assert.match(lease.message, /between 2s and 5m/);
  const name = refuse(`${BASE}[store]\npostgres = "postgresql://db/x"\ninstance = "relay 1"\n`);
  assert.is(name.key, 'store.instance');
  const typo = refuse(`${BASE}[store]\npostgress = "postgresql://db/x"\n`);
  assert.match(typo.message, /did you mean "postgres"/);
});

test('lease without a database: a warning, the file store', () => {
  const config = parseConfig(`${BASE}[store]\nlease = "30s"\n`, FILE, env);
  assert.is(config.store.backend, 'file');
  assert.ok(config.warnings.some((w) => /store\.lease: lease only matters with postgres/.test(w)), config.warnings.join('\n'));
});

test.run();
