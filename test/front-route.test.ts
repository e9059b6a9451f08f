/**
 * A socket's account list as the request handler applies it: `*` serves every
 * configured account without a per-account lookup, a list serves only its
 * accounts, and a reload that changes the list (the front replaces the route's
 * rules in place) takes effect on the next request, in both directions.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import type { SocketConfig } from '../src/config/types.js';
import { RequestHandler, socketRoute, type RequestOutcome, type SocketRoute } from '../src/front/handler.js';
import { TokenReplica } from '../src/front/replica.js';
import type { AccountPool } from '../src/host/pool.js';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const NOW = 1_800_000_000_000;

function socket(accounts: string[]): SocketConfig {
  return { path: '/run/test.sock', mode: 0o600, protocols: ['SMTP', 'IMAP'], accounts };
}

function handler(): RequestHandler {
  const replica = new TokenReplica();
  for (const user of [ALICE, BOB]) {
    replica.apply({ type: 'account', key: user, user, provider: 'p', state: 'valid', accessToken: `tok-${user}`, usableUntil: NOW + 60_000, at: NOW });
  }
  // Every account here has a usable token in the replica: no request may reach a worker.
  const pool = { token: () => Promise.reject(new Error('no worker in this test')) } as unknown as AccountPool;
  return new RequestHandler(replica, pool, [ALICE, BOB], 1000, pino({ level: 'silent' }));
}

function ask(h: RequestHandler, route: SocketRoute, user: string): RequestOutcome {
  const outcome = h.handle(route, Buffer.from(`SMTP ${user}\n`), NOW);
  assert.not.instance(outcome, Promise, 'answered from the replica');
  return outcome as RequestOutcome;
}

test('"*" serves every configured account, and still not an unknown one', () => {
  const h = handler();
  const route = socketRoute(socket(['*']));
  assert.is(route.servesEveryone, true);
  assert.is(ask(h, route, ALICE).result, 'ok');
  assert.is(ask(h, route, 'Bob@Example.test').result, 'ok');
  assert.is(ask(h, route, 'mallory@example.test').result, 'unknown-account');
});

test('a list serves its accounts only; the other gets the reply of an unknown account', () => {
  const h = handler();
  const route = socketRoute(socket([ALICE]));
  assert.is(route.servesEveryone, false);
  assert.is(ask(h, route, ALICE).result, 'ok');
  const refused = ask(h, route, BOB);
  assert.is(refused.result, 'account-not-allowed');
  assert.is(refused.reply.length, 0, 'nothing reveals that bob exists elsewhere');
});

test('a reload that changes the list applies to the next request, from "*" to a list and back', () => {
  const h = handler();
  const route = socketRoute(socket(['*']));
  assert.is(ask(h, route, BOB).result, 'ok');
  Object.assign(route, socketRoute(socket(['@other.test', ALICE])));
  assert.is(ask(h, route, BOB).result, 'account-not-allowed');
  assert.is(ask(h, route, ALICE).result, 'ok');
  Object.assign(route, socketRoute(socket(['*'])));
  assert.is(ask(h, route, BOB).result, 'ok');
});

test.run();
