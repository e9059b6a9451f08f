/**
 * Access tokens are stored (encrypted) with their grants: a restarted daemon
 * serves each account's stored token without asking the provider, idle
 * accounts are parked without an actor and survive a worker crash, and an
 * operator refresh of a parked account still reports its outcome.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { adminRequest } from '../../src/admin/client.js';
import { shardOf } from '../../src/host/shard.js';
import { Harness, setup, waitUntil } from '../helpers/daemon.js';

const WORKERS = 2;
const ACCOUNTS = [
  { user: 'rhea@gmail.test', provider: 'google' as const },
  { user: 'ravi@contoso.test', provider: 'microsoft' as const },
  { user: 'rosa@gmail.test', provider: 'google' as const },
  { user: 'rick@contoso.test', provider: 'microsoft' as const },
];
/** Parked accounts give up their actor after about a second idle (src/host/shard-host.ts). */
const PARK_MS = 1_500;

let h: Harness;
const tokens = new Map<string, string>();
const tokenCalls = () => Object.values(h.emu.stats().refreshes).reduce((a, b) => a + b, 0);

setup(test, async () => {
  h = await Harness.create({ accounts: ACCOUNTS, workers: WORKERS });
  await h.start();
  for (const a of ACCOUNTS) {
    await h.waitForState(a.user, 'valid');
    const token = await h.token(a.user);
    assert.ok(token, a.user);
    tokens.set(a.user, token!);
  }
});

test.after(async () => {
  await h?.close();
});

test('a restarted daemon serves the stored tokens without calling the token endpoint', async () => {
  await h.stop();
  h.emu.resetStats();
  await h.start();
  for (const a of ACCOUNTS) {
    const token = await h.token(a.user);
    assert.is(token, tokens.get(a.user), `${a.user} gets the token stored before the restart`);
    assert.ok(h.emu.isValidAccessToken(token!, a.user));
  }
  const rows = await h.status();
  for (const a of ACCOUNTS) assert.is(rows.find((r) => r.user === a.user)?.state, 'valid');
  assert.is(tokenCalls(), 0, 'no refresh at start');
  assert.is(h.leaks().length, 0, h.leaks().join('\n'));
});

test('parked accounts of a crashed worker are served throughout and come back valid without a refresh', async () => {
  await new Promise((resolve) => setTimeout(resolve, PARK_MS));
  h.emu.resetStats();
  const lost = ACCOUNTS.filter((a) => shardOf(a.user, WORKERS) === 0);
  assert.ok(lost.length > 0);
  const crashed = await adminRequest(h.adminSocket, { cmd: 'crash-worker', shard: 0 }, 10_000);
  assert.ok(crashed.ok, JSON.stringify(crashed));
  for (const a of lost) assert.is(await h.token(a.user), tokens.get(a.user), `${a.user} served during the outage`);
  await waitUntil(
    'shard 0 valid again',
    async () => {
      const rows = await h.status().catch(() => undefined);
      return rows && lost.every((a) => rows.find((r) => r.user === a.user)?.state === 'valid');
    },
    10_000,
    50,
  );
  assert.is(tokenCalls(), 0);
});

test('an operator refresh of a parked account refreshes it and reports valid', async () => {
  await new Promise((resolve) => setTimeout(resolve, PARK_MS));
  const a = ACCOUNTS[1]!;
  const before = (await h.status()).find((r) => r.user === a.user)!;
  const refreshed = await h.cli(['refresh', a.user]);
  assert.is(refreshed.code, 0, refreshed.stderr);
  const after = (await h.status()).find((r) => r.user === a.user)!;
  assert.is(after.state, 'valid');
  assert.ok(after.lastRefreshAt! > before.lastRefreshAt!, 'a new token');
  const token = await h.token(a.user);
  assert.is.not(token, tokens.get(a.user));
  assert.ok(h.emu.isValidAccessToken(token!, a.user));
});

test.run();
