/**
 * Parked accounts (src/host/parked.ts): an idle `valid` account gives up its
 * actor, and is still refreshed on time, answers a request, reports its
 * status, adopts a cluster peer's token and can be revoked; a new shard
 * starts from the access tokens stored with the grants, without a refresh.
 * A real ShardHost with the real file store and provider emulator, in this
 * process, with 4 s tokens.
 */
import { MessageChannel } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../src/config/index.js';
import type { AccountSpec, AccountUpdate, HostMessage } from '../src/host/messages.js';
import { ShardHost } from '../src/host/shard-host.js';
import { accountSpecs } from '../src/specs.js';
import { loadStoreKey, openFileStore, type GrantStore } from '../src/store/index.js';
import { Harness, setup, waitUntil } from './helpers/daemon.js';

const GOOGLE = 'pia@gmail.test';
const MS = 'max@contoso.test';
const LIFETIME_S = 4;

let h: Harness;
let store: GrantStore;
let specs: AccountSpec[];
const hosts: ShardHost[] = [];
const updates: AccountUpdate[] = [];

function newHost(): ShardHost {
  const { port1, port2 } = new MessageChannel();
  port2.on('message', (batch: HostMessage[]) => {
    for (const m of batch) if (m.type === 'account') updates.push(m);
  });
  port2.unref();
  const host = new ShardHost(port1, store, 1, { idleMs: 30 });
  hosts.push(host);
  return host;
}

const refreshes = (user: string) => h.emu.stats().refreshes[user] ?? 0;
const row = async (host: ShardHost, user: string) => host.status().find((r) => r.user === user)!;
const parkedAll = (host: ShardHost) => waitUntil('every account parked', () => host.liveCount() === 0, 5_000, 10);

setup(test, async () => {
  h = await Harness.create({
    accounts: [
      { user: GOOGLE, provider: 'google' },
      { user: MS, provider: 'microsoft' },
    ],
    lifetime: LIFETIME_S,
  });
  const config = await loadConfig(h.configPath, h.env());
  specs = accountSpecs(config);
  const { key } = await loadStoreKey({ stateDir: h.stateDir, env: h.env() });
  store = await openFileStore({ dir: h.stateDir, key });
});

test.after(async () => {
  for (const host of hosts) await host.drain(1_000);
  await store?.close();
  await h?.close();
});

let host: ShardHost;

test('an idle valid account is parked and still reports its status', async () => {
  host = newHost();
  await host.sync(specs);
  for (const user of [GOOGLE, MS]) await waitUntil(`${user} valid`, async () => (await row(host, user)).state === 'valid', 10_000);
  await parkedAll(host);
  for (const user of [GOOGLE, MS]) {
    const r = await row(host, user);
    assert.is(r.state, 'valid');
    assert.is(r.failures, 0);
    assert.ok(r.hasGrant);
    assert.ok(r.expiresAt! > Date.now(), `${user} expires in the future`);
    assert.ok(r.lastRefreshAt! <= Date.now());
  }
});

test('a parked account answers a request with its token, without calling the provider', async () => {
  await parkedAll(host);
  const before = refreshes(MS);
  const published = updates.filter((u) => u.key === MS).at(-1)!;
  const answer = await host.token(MS, Date.now(), 1_000);
  assert.is(answer.kind, 'token');
  assert.is(answer.kind === 'token' && answer.accessToken, published.accessToken);
  assert.ok(h.emu.isValidAccessToken(published.accessToken!, MS));
  assert.is(refreshes(MS), before);
  await parkedAll(host);
});

test('a parked account refreshes on time (before its token lapses) and parks again', async () => {
  await parkedAll(host);
  const first = await row(host, GOOGLE);
  const seen = updates.length;
  const refreshed = await waitUntil('a scheduled refresh', async () => {
    const r = await row(host, GOOGLE);
    return r.lastRefreshAt! > first.lastRefreshAt! && r.state === 'valid' ? r : undefined;
  }, LIFETIME_S * 1_000 + 3_000, 20);
  assert.ok(refreshed.lastRefreshAt! < first.expiresAt!, 'refreshed before the old token expired');
  const due = updates.slice(seen).find((u) => u.key === GOOGLE && u.state === 'refreshing');
  assert.is(due?.cause, 'refresh-due', 'woken by its planned refresh');
  const after = updates.filter((u) => u.key === GOOGLE).at(-1)!;
  assert.ok(h.emu.isValidAccessToken(after.accessToken!, GOOGLE));
  await parkedAll(host);
});

test('a token adopted from a cluster peer replaces a shorter one, never a longer one', async () => {
  await parkedAll(host);
  const current = await row(host, MS);
  const token = 'adopted-token-from-peer-0123456789';
  const refreshedAt = Date.now();
  host.adoptToken(MS, { accessToken: token, expiresAt: current.expiresAt! + 60_000, lifetimeMs: 3_600_000, refreshedAt });
  const adopted = await row(host, MS);
  assert.is(adopted.state, 'valid');
  assert.is(adopted.expiresAt, current.expiresAt! + 60_000);
  assert.is(adopted.lastRefreshAt, refreshedAt);
  await waitUntil('update published', () => updates.some((u) => u.key === MS && u.accessToken === token));
  host.adoptToken(MS, { accessToken: 'older-token-from-peer-0123456789', expiresAt: current.expiresAt!, lifetimeMs: 3_600_000, refreshedAt });
  assert.is((await row(host, MS)).expiresAt, current.expiresAt! + 60_000, 'a token expiring sooner is ignored');
  const answer = await host.token(MS, Date.now(), 1_000);
  assert.is(answer.kind === 'token' && answer.accessToken, token);
  await parkedAll(host);
});

test('a new shard starts from the stored access tokens: valid at once, no refresh', async () => {
  await host.drain(1_000);
  const before = { g: refreshes(GOOGLE), m: refreshes(MS) };
  const stored = await store.load(GOOGLE.toLowerCase());
  assert.ok(stored?.access, 'the refresh stored its access token with the grant');
  const second = newHost();
  await second.sync(specs);
  assert.is(second.liveCount(), 0, 'no actor needed at start');
  const r = await row(second, GOOGLE);
  assert.is(r.state, 'valid');
  assert.is(r.expiresAt, stored.access.expiresAt);
  const answer = await second.token(GOOGLE, Date.now(), 1_000);
  assert.is(answer.kind === 'token' && answer.accessToken, stored.access.accessToken);
  assert.equal({ g: refreshes(GOOGLE), m: refreshes(MS) }, before);
  host = second;
});

test('revoking a parked account leaves it unauthenticated and removes its grant', async () => {
  await parkedAll(host);
  const result = await host.revoke(GOOGLE);
  assert.ok(result.ok, result.message);
  assert.is(result.state, 'unauthenticated');
  const r = await row(host, GOOGLE);
  assert.is(r.state, 'unauthenticated');
  assert.is(r.hasGrant, false);
  assert.is(await store.load(GOOGLE.toLowerCase()), undefined);
  const answer = await host.token(GOOGLE, Date.now(), 500);
  assert.is(answer.kind === 'fail' && answer.code, 'needs-auth');
});

test.run();
