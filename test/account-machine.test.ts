import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { accountMachine, type RefreshFailure, type RefreshSuccess } from '../actors/account.js';
import { answerAfterChange, answerFor, type AccountState } from '../actors/answer.js';
import { backoffMs, minRemainingMs, refreshOffsetMs } from '../actors/timing.js';

const HOUR = 3_600_000;
const USER = 'alice@example.com';

interface PendingRefresh {
  resolve(value: RefreshSuccess): void;
  reject(value: RefreshFailure): void;
  signal: AbortSignal;
}

/** An account actor whose wall clock and provider are both in the test's hands. */
function harness(opts: { user?: string; hasGrant?: boolean; refreshAheadMs?: number; token?: { accessToken: string; expiresAt: number; lifetimeMs: number; refreshedAt: number } } = {}) {
  const clock = new SimulatedClock();
  let wall = 1_000_000;
  const pending: PendingRefresh[] = [];
  const machine = accountMachine.provide({
    actors: {
      refresh: fromPromise<RefreshSuccess, { user: string }>(
        ({ signal }) =>
          new Promise<RefreshSuccess>((resolve, reject) => {
            pending.push({ resolve, reject, signal });
          }),
      ),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: {
      user: opts.user ?? USER,
      refreshAheadMs: opts.refreshAheadMs ?? 10 * 60_000,
      hasGrant: opts.hasGrant ?? true,
      now: wall,
      token: opts.token,
    },
  });
  actor.start();
  const h = {
    actor,
    pending,
    get wall() {
      return wall;
    },
    state: () => actor.getSnapshot().value as AccountState,
    ctx: () => actor.getSnapshot().context,
    /** Lets time pass: wall clock and the actor's timers together. */
    advance(ms: number) {
      wall += ms;
      clock.increment(ms);
    },
    /** The wall clock jumps without timers firing, as across a suspend. */
    sleep(ms: number) {
      wall += ms;
    },
    async succeed(expiresInMs = HOUR, token = `tok-${pending.length}`) {
      const p = pending.shift();
      assert.ok(p, 'a refresh is in flight');
      p.resolve({ accessToken: token, expiresInMs, now: wall });
      await flush();
    },
    async fail(failure: Omit<RefreshFailure, 'now'>) {
      const p = pending.shift();
      assert.ok(p, 'a refresh is in flight');
      p.reject({ ...failure, now: wall });
      await flush();
    },
    request() {
      actor.send({ type: 'TOKEN_REQUEST', now: wall });
      return answerFor({ state: h.state(), context: h.ctx() }, wall, 4_000);
    },
  };
  return h;
}

async function flush() {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

const machine = suite('account machine');

machine('an account without a grant is unauthenticated and requests fail with needs-auth', () => {
  const h = harness({ hasGrant: false });
  assert.is(h.state(), 'unauthenticated');
  assert.is(h.pending.length, 0, 'no provider call without a grant');
  const answer = h.request();
  assert.is(answer.kind, 'fail');
  assert.is(answer.kind === 'fail' && answer.code, 'needs-auth');
});

machine('a stored grant is refreshed at start, then the token is served', async () => {
  const h = harness();
  assert.is(h.state(), 'refreshing');
  assert.equal(h.request(), { kind: 'wait' });
  await h.succeed(HOUR, 'first');
  assert.is(h.state(), 'valid');
  const answer = h.request();
  assert.equal(answer, { kind: 'token', accessToken: 'first', expiresAt: h.wall + HOUR });
});

machine('valid refreshes ahead of expiry at the jittered margin, and serves the old token meanwhile', async () => {
  const h = harness();
  await h.succeed(HOUR, 'old');
  const due = refreshOffsetMs(USER, HOUR, 10 * 60_000);
  // refresh_ahead = 10 min is capped at 8 % of the hour (4.8 min); jitter only moves it later.
  assert.ok(due >= HOUR * 0.92 && due <= HOUR * 0.92 + 60_000, `refresh 3.8 to 4.8 minutes ahead, got ${(HOUR - due) / 60_000} min`);
  h.advance(due - 1);
  assert.is(h.state(), 'valid');
  h.advance(1);
  assert.is(h.state(), 'refreshing');
  const answer = h.request();
  assert.is(answer.kind === 'token' && answer.accessToken, 'old', 'old token still served during refresh');
  await h.succeed(HOUR, 'new');
  assert.is(h.state(), 'valid');
  const next = h.request();
  assert.is(next.kind === 'token' && next.accessToken, 'new');
});

machine('refresh jitter differs between accounts', () => {
  const offsets = new Set<number>();
  for (let i = 0; i < 50; i++) offsets.add(refreshOffsetMs(`user${i}@example.com`, HOUR, 10 * 60_000));
  assert.ok(offsets.size > 40, `offsets spread: ${offsets.size} distinct of 50`);
});

/**
 * Runs one account for `lifetimes` token lifetimes, the provider answering
 * each refresh after `latencyMs`, and a request every `stepMs`. Returns the
 * refreshes made and the requests that had to wait.
 */
async function runLifetimes(user: string, lifetimeMs: number, refreshAheadMs: number, lifetimes: number, stepMs: number, latencyMs: number) {
  const h = harness({ user, refreshAheadMs });
  await h.succeed(lifetimeMs);
  let refreshes = 0;
  let waited = 0;
  let sinceStart: number | undefined;
  const steps = Math.round((lifetimes * lifetimeMs) / stepMs);
  for (let i = 0; i < steps; i++) {
    h.advance(stepMs);
    if (h.pending.length > 0) {
      sinceStart ??= 0;
      if (sinceStart >= latencyMs) {
        await h.succeed(lifetimeMs);
        refreshes++;
        sinceStart = undefined;
      } else {
        sinceStart += stepMs;
      }
    }
    if (h.request().kind !== 'token') waited++;
  }
  return { refreshes, waited };
}

for (const [name, lifetimeMs, stepMs] of [
  ['one-hour', HOUR, 10_000],
  ['60-second', 60_000, 100],
] as const) {
  machine(`${name} tokens are refreshed at most 1.1 times per lifetime and no request waits`, async () => {
    for (const user of ['alice@example.com', 'bob@example.org', 'carol@example.net']) {
      // A provider answering in 1 s, slower than a busy one on a good day.
      const { refreshes, waited } = await runLifetimes(user, lifetimeMs, 10 * 60_000, 10, stepMs, 1_000);
      assert.ok(refreshes >= 9 && refreshes <= 11, `${user}: ${refreshes} refreshes in 10 lifetimes`);
      assert.is(waited, 0, `${user}: requests waited for a refresh`);
    }
  });
}

machine('refresh-ahead stays within 8 % of the lifetime, jitter included, and ahead of the serving margin', () => {
  for (const lifetimeMs of [60_000, 600_000, HOUR, 2 * HOUR]) {
    for (let i = 0; i < 200; i++) {
      const due = refreshOffsetMs(`user${i}@example.com`, lifetimeMs, 10 * 60_000);
      assert.ok(due >= lifetimeMs * 0.92, `${lifetimeMs} ms token refreshed ${lifetimeMs - due} ms ahead`);
      assert.ok(lifetimeMs - due - minRemainingMs(lifetimeMs) >= lifetimeMs * 0.034, 'the refresh has time before the token stops being served');
    }
  }
});

machine('a token handed out keeps at least 1 s (a tenth of a very short life), 2.5 % of its life, at most a minute', () => {
  assert.is(minRemainingMs(HOUR), 60_000);
  assert.is(minRemainingMs(60_000), 1_500);
  assert.is(minRemainingMs(20_000), 1_000);
  assert.is(minRemainingMs(4_000), 400);
});

machine('very short tokens (tests, demos) are refreshed 2 s plus the serving margin ahead, at most half their life', async () => {
  const h = harness();
  await h.succeed(4_000);
  h.advance(1_999);
  assert.is(h.state(), 'valid', 'not before half the life (2 s + 0.4 s margin would be more)');
  h.advance(501);
  assert.is(h.state(), 'refreshing', 'jitter moves it at most a quarter of that later');
});

machine('invalid_grant moves to unauthenticated and keeps the provider error', async () => {
  const h = harness();
  await h.succeed();
  h.actor.send({ type: 'REFRESH', now: h.wall });
  await h.fail({ kind: 'revoked', code: 'invalid_grant', message: 'AADSTS50173: grant revoked' });
  assert.is(h.state(), 'unauthenticated');
  assert.is(h.ctx().accessToken, undefined, 'token forgotten');
  assert.is(h.ctx().lastError?.code, 'invalid_grant');
  const answer = h.request();
  assert.ok(answer.kind === 'fail' && answer.code === 'needs-auth' && answer.message.includes('AADSTS50173'));
});

machine('a transient failure while the token is good stays valid and retries with backoff', async () => {
  const h = harness();
  await h.succeed(HOUR, 'good');
  h.actor.send({ type: 'REFRESH', now: h.wall });
  await h.fail({ kind: 'transient', code: 'http-503', message: 'provider answered 503' });
  assert.is(h.state(), 'valid');
  assert.is(h.ctx().failures, 1);
  const answer = h.request();
  assert.is(answer.kind === 'token' && answer.accessToken, 'good');
  const first = backoffMs(USER, 1);
  assert.ok(first >= 1_600 && first <= 2_400, `first backoff ~2 s, got ${first}`);
  h.advance(first - 1);
  assert.is(h.state(), 'valid');
  h.advance(1);
  assert.is(h.state(), 'refreshing', 'retried after the backoff');
  await h.fail({ kind: 'transient', code: 'network', message: 'ECONNRESET' });
  const second = h.ctx().retryAt! - h.wall;
  assert.ok(second > first, `backoff grows: ${first} then ${second}`);
});

machine('backoff is capped and honours Retry-After', () => {
  assert.ok(backoffMs(USER, 30) <= 5 * 60_000 * 1.2);
  assert.ok(backoffMs(USER, 1, 90_000) >= 90_000);
});

machine('a failure after the token lapsed moves to expired; requests fail fast while a long Retry-After holds', async () => {
  const h = harness();
  await h.succeed(10_000);
  h.advance(8_500);
  assert.is(h.state(), 'refreshing');
  h.advance(1_500);
  await h.fail({ kind: 'transient', code: 'http-429', message: 'rate limited', retryAfterMs: 60_000 });
  assert.is(h.state(), 'expired');
  const answer = h.request();
  assert.ok(answer.kind === 'fail' && answer.code === 'temporarily-unavailable', 'fails fast: the retry is beyond the wait budget');
  assert.is(h.state(), 'expired', 'Retry-After holds back a request-triggered retry');
  assert.is(h.pending.length, 0);
  h.advance(60_000);
  assert.is(h.state(), 'refreshing', 'retried when Retry-After passed');
  await h.succeed(HOUR, 'recovered');
  const ok = h.request();
  assert.is(ok.kind === 'token' && ok.accessToken, 'recovered');
});

machine('in expired a request triggers a retry and waits for it', async () => {
  const h = harness();
  await h.succeed(10_000);
  h.advance(5_000);
  h.advance(5_000);
  await h.fail({ kind: 'transient', code: 'network', message: 'ECONNREFUSED' });
  assert.is(h.state(), 'expired');
  h.advance(1_000);
  const answer = h.request();
  assert.is(h.state(), 'refreshing', 'the request triggered a retry');
  assert.equal(answer, { kind: 'wait' });
  await h.fail({ kind: 'transient', code: 'network', message: 'ECONNREFUSED' });
  const after = answerAfterChange({ state: h.state(), context: h.ctx() }, h.wall);
  assert.ok(after.kind === 'fail' && after.code === 'temporarily-unavailable', 'a waiting request fails when its retry fails');
});

machine('a laptop that slept past expiry never gets the dead token: the request refreshes', async () => {
  const h = harness();
  await h.succeed(HOUR, 'before-sleep');
  h.sleep(2 * HOUR);
  assert.is(h.state(), 'valid', 'timers did not fire during sleep');
  const answer = h.request();
  assert.equal(answer, { kind: 'wait' });
  assert.is(h.state(), 'refreshing');
  await h.succeed(HOUR, 'after-sleep');
  const next = h.request();
  assert.is(next.kind === 'token' && next.accessToken, 'after-sleep');
});

machine('WAKE after a clock jump re-arms the refresh timer from the new time', async () => {
  const h = harness();
  await h.succeed(HOUR);
  h.sleep(40 * 60_000);
  h.actor.send({ type: 'WAKE', now: h.wall });
  assert.is(h.state(), 'valid');
  const due = refreshOffsetMs(USER, HOUR, 10 * 60_000) - 40 * 60_000;
  h.advance(due - 1);
  assert.is(h.state(), 'valid');
  h.advance(1);
  assert.is(h.state(), 'refreshing');
});

machine('REVOKE forgets the token and aborts a refresh in flight', async () => {
  const h = harness();
  const inFlight = h.pending[0]!;
  h.actor.send({ type: 'REVOKE', now: h.wall, code: 'revoked-by-operator', message: 'revoked with mailtokend revoke' });
  assert.is(h.state(), 'unauthenticated');
  assert.ok(inFlight.signal.aborted, 'the provider call is cancelled');
  assert.is(h.ctx().lastError?.code, 'revoked-by-operator');
});

machine('a sign-in (AUTHORIZED) makes an unauthenticated account valid at once', () => {
  const h = harness({ hasGrant: false });
  h.actor.send({ type: 'AUTHORIZED', now: h.wall, accessToken: 'signed-in', expiresInMs: HOUR });
  assert.is(h.state(), 'valid');
  const answer = h.request();
  assert.is(answer.kind === 'token' && answer.accessToken, 'signed-in');
});

machine('an imported grant (GRANT) starts a refresh', async () => {
  const h = harness({ hasGrant: false });
  h.actor.send({ type: 'GRANT', now: h.wall });
  assert.is(h.state(), 'refreshing');
  await h.succeed();
  assert.is(h.state(), 'valid');
});

machine('a token handed over from a restarted worker is served without a refresh', () => {
  const h = harness({ token: { accessToken: 'carried', expiresAt: 1_000_000 + HOUR / 2, lifetimeMs: HOUR, refreshedAt: 1_000_000 - HOUR / 2 } });
  assert.is(h.state(), 'valid');
  assert.is(h.pending.length, 0);
  const answer = h.request();
  assert.is(answer.kind === 'token' && answer.accessToken, 'carried');
});

machine('a token is not handed out in its last minute', async () => {
  const h = harness({ refreshAheadMs: 0 });
  await h.succeed(HOUR, 'short');
  h.sleep(HOUR - 59_000);
  const answer = h.request();
  assert.equal(answer, { kind: 'wait' });
});

machine.run();
