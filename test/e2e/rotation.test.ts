/**
 * Rotated refresh tokens are persisted: with single-use rotation (each
 * Microsoft refresh token works once), the daemon refreshes about every second; after
 * a clean stop, and after kill -9 at different points of the refresh cycle,
 * a new daemon on the same state_dir still gets tokens. Only the latest
 * rotated refresh token can do that: the emulator refuses every older one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { lstatSync } from 'node:fs';
import { postForm } from '../../emulator/testing.js';
import { Harness, setup, tokenInXoauth2, waitUntil } from '../helpers/daemon.js';
import { timeTests } from '../helpers/timing.js';

const MS = 'rota@contoso.test';
const GOOGLE = 'rota@gmail.test';

let h: Harness;
let importedRt: string;

setup(test, async () => {
  h = await Harness.create({
    accounts: [
      { user: MS, provider: 'microsoft', grant: false },
      { user: GOOGLE, provider: 'google' },
    ],
    lifetime: 2,
    refreshAhead: '1s',
    rotation: 'single-use',
  });
  importedRt = h.issueGrant({ user: MS, provider: 'microsoft' });
  await h.importGrant(MS, importedRt);
});

test.after(async () => {
  await h?.close();
});

const refreshes = (user: string) => h.emu.stats().refreshes[user] ?? 0;

/** Refreshes of `user` that this daemon run completed (its log). */
const completed = (user: string) => h.daemon!.logged({ msg: 'account state changed', account: user, to: 'valid' }).length;

async function assertServes(user: string, why: string): Promise<void> {
  const reply = await h.request(`SMTP ${user}`);
  const token = tokenInXoauth2(reply.bytes, user);
  assert.ok(token, `${why}: ${user} got ${JSON.stringify(reply.text)}\n${h.daemon!.output.slice(-3000)}`);
  assert.ok(h.emu.isValidAccessToken(token!, user), `${why}: the token is valid at the emulator`);
}

async function assertHealthy(why: string): Promise<void> {
  for (const user of [MS, GOOGLE]) await assertServes(user, why);
  const ms = (await h.status()).find((a) => a.user === MS)!;
  // Refreshes come every second: the account may be caught in one.
  assert.ok(ms.state === 'valid' || ms.state === 'refreshing', `${why}: ${ms.state}`);
  assert.is(ms.failures, 0, why);
  assert.is(ms.lastError, undefined, `${why}: ${JSON.stringify(ms.lastError)}`);
  assert.not.match(h.daemon!.output, /AADSTS70000|invalid_grant|needs-auth/, why);
}

test('tokens keep coming while single-use refresh tokens rotate', async () => {
  await h.start();
  await waitUntil('three Microsoft refreshes', () => refreshes(MS) >= 3, 15_000);
  await assertHealthy('after three rotations');
  // The emulator really is single-use: the imported refresh token is dead now.
  const old = await postForm(`${h.emu.microsoft.authority}/common/oauth2/v2.0/token`, {
    grant_type: 'refresh_token',
    client_id: 'e2e-ms-client',
    refresh_token: importedRt,
    scope: 'https://outlook.office.com/SMTP.Send offline_access',
  });
  assert.is(old.status, 400);
  assert.is(old.body.error, 'invalid_grant');
  assert.match(String(old.body.error_description), /^AADSTS70000/);
});

test('SIGTERM stops cleanly (exit 0) and a new daemon continues with the latest refresh token', async () => {
  const before = refreshes(MS);
  const stopped = await h.stop('SIGTERM');
  assert.equal(stopped, { code: 0, signal: null }, h.daemon!.stderr);
  assert.is(h.daemon!.logged({ msg: 'stopped' }).length, 1);
  await h.start();
  // The stored access token may still be good at start; within a 2 s lifetime the new daemon must refresh, with the latest grant.
  await waitUntil('a refresh by the new daemon', () => refreshes(MS) > before, 10_000);
  await assertHealthy('after restart');
});

for (const round of [
  { name: 'right after a rotation was stored', delayMs: 0 },
  { name: 'half-way to the next refresh', delayMs: 400 },
]) {
  test(`kill -9 ${round.name}, then a new daemon still gets tokens`, async () => {
    const seen = completed(MS);
    await h.daemon!.waitForLog('a scheduled refresh', { msg: 'account state changed', account: MS, to: 'valid' }, seen + 1, 10_000);
    if (round.delayMs > 0) await sleep(round.delayMs);
    // A refresh the provider answered but the daemon had no time to store is
    // lost to any client killed at that instant; keep the next one from
    // starting (a 503 uses nothing up) so the kill lands between refreshes.
    const hold = h.emu.setFault({ provider: 'microsoft', user: MS, kind: 'status', status: 503 });
    const killed = await h.stop('SIGKILL');
    h.emu.clearFault(hold);
    assert.is(killed.signal, 'SIGKILL');
    assert.ok(lstatSync(h.socket()).isSocket(), 'kill -9 leaves the socket file behind');
    await h.start();
    await waitUntil('the start-up refresh', () => completed(MS) >= 1, 10_000);
    await assertHealthy(`after kill -9 ${round.name}`);
  });
}

test('no token, refresh token or client secret in the daemon output or state files', async () => {
  await h.stop();
  assert.equal(h.leaks(), []);
});

timeTests(test, 'rotation');
test.run();
