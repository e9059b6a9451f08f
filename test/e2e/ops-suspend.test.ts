/**
 * A daemon that sleeps past its tokens' expiry (stopped with SIGSTOP for
 * longer than a token lives, as a suspended laptop is) never hands out a dead
 * token afterwards: the first request after the resume gets a fresh one the
 * provider accepts, and refreshing goes on by itself. (The wall-clock vs
 * monotonic watchdog that re-arms timers after a real suspend is tested with
 * fake clocks in test/ops-service.test.ts.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { Harness, waitUntil } from '../helpers/daemon.js';

const USERS = ['sleepy@gmail.test', 'drowsy@contoso.test'];
let h: Harness;

test.before(async () => {
  h = await Harness.create({
    accounts: [
      { user: USERS[0]!, provider: 'google' },
      { user: USERS[1]!, provider: 'microsoft' },
    ],
    lifetime: 4,
  });
  await h.start();
});

test.after(async () => {
  await h?.close();
});

test('after sleeping past expiry the first request gets a fresh, valid token', async () => {
  const before = new Map<string, string>();
  for (const user of USERS) before.set(user, (await h.token(user))!);
  for (const [user, token] of before) assert.ok(h.emu.isValidAccessToken(token, user));

  h.daemon!.child.kill('SIGSTOP');
  await sleep(5_000);
  for (const [user, token] of before) assert.not.ok(h.emu.isValidAccessToken(token, user), 'the old token died while the daemon slept');
  h.daemon!.child.kill('SIGCONT');

  for (const user of USERS) {
    const token = await h.token(user);
    assert.ok(token, `${user}: a token right after the resume`);
    assert.ok(h.emu.isValidAccessToken(token!, user), `${user}: the token served after the resume is alive`);
  }
  // Refreshing goes on by itself afterwards (timers re-armed), with no request asking.
  const counts = { ...h.emu.stats().refreshes };
  await waitUntil('a scheduled refresh after the resume', () => USERS.every((u) => (h.emu.stats().refreshes[u] ?? 0) > (counts[u] ?? 0)), 8_000, 100);
});

test.run();
