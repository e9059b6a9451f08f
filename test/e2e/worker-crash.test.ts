/**
 * A worker thread that dies: its accounts keep being served from the main
 * thread's token replica, a new worker takes them over within a second with
 * the tokens it is handed (no refresh, no sign-in), and it can refresh them.
 */
import { availableParallelism, loadavg } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { adminRequest } from '../../src/admin/client.js';
import type { AccountStatus } from '../../src/host/messages.js';
import { shardOf } from '../../src/host/shard.js';
import { type AccountDef, Harness, setup, tokenInXoauth2, waitUntil } from '../helpers/daemon.js';
import { timeTests } from '../helpers/timing.js';

const WORKERS = 2;

/** Two accounts of each provider on shard 0 and one of each on shard 1. */
function pickAccounts(): { lost: AccountDef[]; kept: AccountDef[] } {
  const lost: AccountDef[] = [];
  const kept: AccountDef[] = [];
  for (let i = 0; lost.length < 4 || kept.length < 2; i++) {
    const provider = i % 2 === 0 ? 'google' : 'microsoft';
    const user = `w${i}@${provider === 'google' ? 'gmail' : 'contoso'}.test`;
    const list = shardOf(user, WORKERS) === 0 ? lost : kept;
    if (list.filter((a) => a.provider === provider).length < (list === lost ? 2 : 1)) list.push({ user, provider });
  }
  return { lost, kept };
}

const { lost, kept } = pickAccounts();
let h: Harness;
const before = new Map<string, { token: string; row: AccountStatus }>();

setup(test, async () => {
  h = await Harness.create({ accounts: [...lost, ...kept], workers: WORKERS });
  await h.start();
  for (const a of [...lost, ...kept]) {
    const row = await h.waitForState(a.user, 'valid');
    const token = await h.token(a.user);
    assert.ok(token, a.user);
    before.set(a.user, { token: token!, row });
  }
});

test.after(async () => {
  await h?.close();
});

test('after crash-worker, shard 0 is served throughout and back to valid within a second, with no refresh', async () => {
  h.emu.resetStats();
  const crashed = await adminRequest(h.adminSocket, { cmd: 'crash-worker', shard: 0 }, 10_000);
  assert.ok(crashed.ok, JSON.stringify(crashed));
  const t0 = Date.now();

  // While the worker is being replaced, requests are answered from the replica.
  const during = await Promise.all(lost.flatMap((a) => [h.request(`SMTP ${a.user}`), h.request(`IMAP ${a.user}`)]));
  during.forEach((reply, i) => {
    const user = lost[Math.floor(i / 2)]!.user;
    assert.is(tokenInXoauth2(reply.bytes, user), before.get(user)!.token, `${user} served during the outage: ${JSON.stringify(reply.text)}`);
  });

  const rows = await waitUntil(
    'shard 0 valid again',
    async () => {
      // A status that reached the dying thread fails (as any task in flight in a crashed worker would): ask again.
      const all = await h.status().catch(() => undefined);
      return all && lost.every((a) => all.find((r) => r.user === a.user)?.state === 'valid') ? all : undefined;
    },
    5_000,
    20,
  );
  const ms = Date.now() - t0;
  // The daemon's own measure, from losing the thread to the new one holding the accounts.
  const restored = await h.daemon!.waitForLog('worker replaced', { shard: 0, msg: 'worker thread replaced; its accounts are back' });
  const restoredMs = Number(restored[0]!.ms);
  // One second on a machine with CPU to spare (about 0.4 s measured on 2 idle cores); a new
  // thread loads the provider libraries, so on an oversubscribed machine allow in proportion.
  const contention = Math.max(1, loadavg()[0]! / availableParallelism());
  const bound = Math.round(1_000 * contention);
  assert.ok(restoredMs < bound, `the new worker held shard 0 after ${restoredMs} ms, bound ${bound} ms (status showed it valid after ${ms} ms)`);
  for (const a of lost) {
    const row = rows.find((r) => r.user === a.user)!;
    const was = before.get(a.user)!.row;
    assert.is(row.lastRefreshAt, was.lastRefreshAt, `${a.user}: no new refresh`);
    assert.is(row.expiresAt, was.expiresAt, `${a.user}: same token expiry`);
    assert.is(row.hasGrant, true, `${a.user}: the new worker holds the grant`);
  }
  assert.equal(h.emu.stats().refreshes, {}, 'the emulator saw no refresh');

  assert.is(h.daemon!.logged({ msg: 'worker thread lost; replacing it', shard: 0 }).length, 1);
  assert.is(h.daemon!.logged({ msg: 'worker thread replaced; its accounts are back' }).length, 1, 'only shard 0 was replaced');
});

test('the new worker serves the same tokens and can refresh its accounts', async () => {
  for (const a of [...lost, ...kept]) {
    assert.is(await h.token(a.user), before.get(a.user)!.token, `${a.user} same token`);
  }
  const a = lost[0]!;
  const b = lost.find((x) => x.provider !== a.provider)!;
  for (const account of [a, b]) {
    const r = await h.cli(['refresh', account.user]);
    assert.is(r.code, 0, `${r.out} ${r.stderr}`);
    const token = await h.token(account.user);
    assert.ok(token && token !== before.get(account.user)!.token, `${account.user}: a new token after refresh`);
    assert.ok(h.emu.isValidAccessToken(token!, account.user));
  }
  assert.is(h.emu.stats().refreshes[a.user], 1);
});

test('no token, refresh token or client secret in the daemon output or state files', () => {
  assert.equal(h.leaks(), []);
});

timeTests(test, 'worker-crash');
test.run();
