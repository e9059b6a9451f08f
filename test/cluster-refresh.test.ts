/**
 * One refresher per account across a cluster, at the level of the grant
 * keeper: two "instances" (two PostgreSQL stores with their own leases and
 * keepers) against a real PostgreSQL and the provider emulator with
 * single-use Microsoft refresh tokens. The emulator counts every refresh and
 * every reuse of a spent refresh token.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startEmulator, type Emulator } from '../emulator/index.js';
import { testCaDir } from '../emulator/testing.js';
import type { MicrosoftProviderConfig } from '../src/config/types.js';
import { GrantKeeper } from '../src/host/grant-keeper.js';
import type { AccountSpec } from '../src/host/messages.js';
import { ProviderRegistry } from '../src/host/provider-registry.js';
import { microsoftScopes } from '../src/providers/scopes.js';
import { openPgStore, type PgGrantStore } from '../src/store/postgres/store.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';

let server: PostgresServer;
let emu: Emulator;
let provider: MicrosoftProviderConfig;
const key = randomBytes(32);
const stores: PgGrantStore[] = [];
let databases = 0;

test.before(async () => {
  server = await startPostgres();
  emu = await startEmulator({ caDir: testCaDir(), accessTokenLifetime: 3600, refreshTokenRotation: 'single-use' });
  emu.registerClient({ provider: 'microsoft', clientId: 'ms-public' });
  provider = { type: 'microsoft', name: 'microsoft', authority: emu.microsoft.authority, tenant: 'common', maxConcurrentRefreshes: 4 };
});
test.after(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await emu?.close();
  await server?.close();
});

interface Instance {
  store: PgGrantStore;
  keeper: GrantKeeper;
  providers: ProviderRegistry;
}

async function cluster(n: number, leaseMs = 15_000): Promise<Instance[]> {
  const url = await server.createDatabase(`r${++databases}`);
  const out: Instance[] = [];
  for (let i = 0; i < n; i++) {
    const store = await openPgStore({ url, key, instance: `node${i}`, leaseMs, migrate: true });
    stores.push(store);
    out.push({ store, keeper: new GrantKeeper(store, () => undefined), providers: new ProviderRegistry(1) });
  }
  return out;
}

const spec = (user: string): AccountSpec => ({ key: user, user, provider, clientId: 'ms-public', protocols: ['SMTP', 'IMAP'], refreshAheadMs: 600_000 });

async function signedIn(first: Instance, user: string): Promise<string> {
  const refreshToken = emu.issueGrant({ provider: 'microsoft', user, clientId: 'ms-public', scopes: microsoftScopes(['SMTP', 'IMAP']) });
  await first.keeper.replace(spec(user), refreshToken);
  return refreshToken;
}

const refreshes = (user: string) => emu.stats().refreshes[user] ?? 0;
const reused = (user: string) => emu.stats().reusedRefreshTokens?.[user] ?? 0;

test('three instances refreshing one account at once: one provider call, one token for all', async () => {
  const nodes = await cluster(3);
  const user = 'once@contoso.test';
  await signedIn(nodes[0]!, user);
  for (const n of nodes) await n.keeper.preload(user);
  const results = await Promise.all(nodes.map((n) => n.keeper.refreshWith(spec(user), new AbortController().signal, n.providers)));
  assert.is(refreshes(user), 1, 'the provider saw one refresh');
  assert.is(new Set(results.map((r) => r.accessToken)).size, 1, 'every instance serves the same token');
  assert.ok(emu.isValidAccessToken(results[0]!.accessToken, user));
  const stored = await nodes[2]!.store.load(user);
  assert.is(stored?.version, 2, 'the rotated grant and its token were written once');
  assert.is(stored?.access?.accessToken, results[0]!.accessToken);
  assert.match(stored?.access?.refreshedBy ?? '', /^node[012]$/);
  // The next refresh, from any instance, uses the rotated grant: nothing was spent twice.
  const next = nodes.find((n) => n.store.instance !== stored?.access?.refreshedBy)!;
  await next.store.save(user, { ...stored!, access: { ...stored!.access!, refreshedAt: 0, expiresAt: 1 } }, stored!.version);
  await next.keeper.refreshWith(spec(user), new AbortController().signal, next.providers);
  assert.is(refreshes(user), 2);
  assert.is(reused(user), 0, 'no spent refresh token was presented');
});

test('a peer holding the lease: no provider call here, its token is used when it writes it', async () => {
  const [holder, waiter] = await cluster(2);
  const user = 'wait@contoso.test';
  await signedIn(holder!, user);
  await waiter!.keeper.preload(user);
  assert.is(await holder!.store.leases.acquire(user), true);
  const waiting = waiter!.keeper.refreshWith(spec(user), new AbortController().signal, waiter!.providers);
  // The holder "refreshes": it writes a grant with a token, as its own refresh would.
  const current = (await holder!.store.load(user))!;
  const now = Date.now();
  const access = { accessToken: 'at-from-holder', expiresAt: now + 3_600_000, lifetimeMs: 3_600_000, refreshedAt: now, refreshedBy: 'node0' };
  await holder!.store.save(user, { provider: current.provider, refreshToken: current.refreshToken, scopes: current.scopes, access }, current.version);
  await holder!.store.leases.release(user);
  const result = await waiting;
  assert.is(result.accessToken, 'at-from-holder');
  assert.is(refreshes(user), 0, 'the waiting instance never called the provider');
});

test('a holder that crashed: its lease lapses and another instance refreshes', async () => {
  const [crashed, survivor] = await cluster(2, 500);
  const user = 'lapse@contoso.test';
  await signedIn(crashed!, user);
  await survivor!.keeper.preload(user);
  assert.is(await crashed!.store.leases.acquire(user), true);
  const result = await survivor!.keeper.refreshWith(spec(user), new AbortController().signal, survivor!.providers);
  assert.ok(emu.isValidAccessToken(result.accessToken, user));
  assert.is(refreshes(user), 1);
  assert.is((await survivor!.store.load(user))?.access?.refreshedBy, 'node1');
});

test('a lost compare-and-swap: the grant signed in meanwhile is kept; the rotation of the old one is dropped', async () => {
  const [a, b] = await cluster(2);
  const user = 'cas@contoso.test';
  await signedIn(a!, user);
  await b!.keeper.preload(user);
  // b's provider call is slow; a new sign-in through a lands while it runs.
  emu.setFault({ provider: 'microsoft', user, kind: 'delay', ms: 1_500, count: 1 });
  const refreshing = b!.keeper.refreshWith(spec(user), new AbortController().signal, b!.providers);
  const deadline = Date.now() + 10_000;
  while (emu.stats().inFlight === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const signedInRt = await signedIn(a!, user);
  const result = await refreshing;
  assert.ok(emu.isValidAccessToken(result.accessToken, user), 'b still got a good token');
  const stored = await a!.store.load(user);
  assert.is(stored?.refreshToken, signedInRt, "the sign-in's grant survives; b's write was refused");
  assert.is(stored?.version, 2);
  assert.is(b!.keeper.refreshTokenOf(user), signedInRt, 'b now holds the stored grant');
  // The next refresh from b uses the signed-in grant: no refresh token is presented twice.
  await a!.store.save(user, { ...stored!, ...(stored!.access && { access: { ...stored!.access, refreshedAt: 0, expiresAt: 1 } }) }, stored!.version);
  await b!.keeper.refreshWith(spec(user), new AbortController().signal, b!.providers);
  assert.is(reused(user), 0);
});

// Last: it stops the shared server.
test('PostgreSQL away: only an account whose lease is still held is refreshed; its rotated grant is written when the database returns', async () => {
  const [node] = await cluster(1);
  const leased = 'leased@contoso.test';
  const other = 'other@contoso.test';
  await signedIn(node!, leased);
  await signedIn(node!, other);
  await node!.keeper.preload(leased);
  await node!.keeper.preload(other);
  assert.is(await node!.store.leases.acquire(leased), true, 'a lease taken just before the outage');
  await server.stop();
  try {
    const refused = await node!.keeper.refreshWith(spec(other), new AbortController().signal, node!.providers).catch((e: unknown) => e);
    assert.is((refused as { code?: string }).code, 'store-unreachable');
    assert.is(refreshes(other), 0, 'no lease, no provider call');
    const result = await node!.keeper.refreshWith(spec(leased), new AbortController().signal, node!.providers);
    assert.ok(emu.isValidAccessToken(result.accessToken, leased));
    assert.is(refreshes(leased), 1, 'the lease held by this instance covers one refresh');
  } finally {
    await server.start();
  }
  const rotated = node!.keeper.refreshTokenOf(leased);
  const deadline = Date.now() + 20_000;
  let stored = await node!.store.load(leased);
  while (stored?.refreshToken !== rotated && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    stored = await node!.store.load(leased).catch(() => undefined);
  }
  assert.is(stored?.refreshToken, rotated, 'the rotation kept in memory reached the database');
  assert.is(stored?.version, 2);
});

test.run();
