/**
 * PostgreSQL stopped for 30 s under three daemons (doc/cluster.md, failure
 * behaviour): every request during the outage is answered, on every
 * instance, with a token the emulator accepts; the instances say so in their
 * logs; when the database returns the single-use Microsoft refresh tokens
 * keep rotating and every account is served, none lost.
 *
 * Tokens live 60 s, so the ones obtained at the import just before the
 * outage outlive it (refreshed 4.8 s before expiry, doc/configuration.md's
 * 8 % rule) and the next rotation comes some 15 s after the database is back.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccountDef } from '../helpers/daemon.js';
import { setup, waitUntil } from '../helpers/daemon.js';
import { Cluster, type ClusterNode } from '../helpers/cluster.js';
import { timeTests } from '../helpers/timing.js';

const LIFETIME = 60;
const OUTAGE_MS = 30_000;
const MS: AccountDef[] = ['ann', 'ben', 'cat', 'dan'].map((n) => ({ user: `${n}@fabrikam.test`, provider: 'microsoft' }));
const GOOGLE: AccountDef = { user: 'gil@gmail.test', provider: 'google' };
const ACCOUNTS = [...MS, GOOGLE];

let c: Cluster;
const alertFile = (node: ClusterNode) => join(node.dir, 'alerts');
const alerts = (node: ClusterNode) => (existsSync(alertFile(node)) ? readFileSync(alertFile(node), 'utf8') : '');
let downAt = 0;
let upAt = 0;

setup(test, async () => {
  c = await Cluster.create({
    accounts: ACCOUNTS,
    instances: 3,
    lifetime: LIFETIME,
    lease: '5s',
    rotation: 'single-use',
    // The alert: each instance appends the events it is told about to a file of its own.
    top: (node) => [`error_notify_cmd = ["/bin/sh", "-c", ${JSON.stringify(`printf '%s\\n' "$MAILTOKEND_EVENT" >> '${alertFile(node)}'`)}]`],
  });
  await c.startAll();
  await c.importAll(c.node(1));
  await c.waitAllServing('every account on every instance', 20_000);
});

test.after(async () => {
  await c?.close();
});

const reused = () => (c.h.emu.stats() as { reusedRefreshTokens?: Record<string, number> }).reusedRefreshTokens ?? {};

test('PostgreSQL down for 30 s: every request on every instance is answered with a valid token', async () => {
  // Refreshing needs the database: the tokens held now must last through the outage.
  const oldest = Math.min(...ACCOUNTS.map((a) => c.refreshTimes(a.user).at(-1)!));
  assert.ok(Date.now() - oldest < 20_000, `the tokens are ${Date.now() - oldest} ms old: setup was too slow for them to outlive the outage`);
  const lines = new Map(c.nodes.map((n) => [n.name, n.daemon!.logLines().length]));
  await c.db.stop();
  downAt = Date.now();
  let rounds = 0;
  while (Date.now() - downAt < OUTAGE_MS) {
    const bad = await c.notServing();
    assert.equal(bad, [], `${Math.round((Date.now() - downAt) / 1000)} s into the outage`);
    rounds += 1;
    await sleep(500);
  }
  for (const n of c.nodes) assert.ok(n.running, `${n.name} still runs`);
  await c.db.start();
  upAt = Date.now();
  assert.ok(rounds >= 30, `${rounds} rounds of requests`);
  // Said so, at warning level or worse, and through error_notify_cmd, on every instance.
  for (const n of c.nodes) {
    assert.match(alerts(n), /^store-unreachable$/m, `${n.name} ran error_notify_cmd with MAILTOKEND_EVENT=store-unreachable`);
    const during = n.daemon!.logLines().slice(lines.get(n.name)!);
    const warned = during.filter((l) => ['warn', 'error', 'fatal'].includes(String(l.level)) && /database|postgres/i.test(JSON.stringify(l)));
    assert.ok(warned.length > 0, `${n.name} warned of the lost database:\n${during.map((l) => JSON.stringify(l)).join('\n').slice(-2000)}`);
  }
});

test('after PostgreSQL returns, every account is refreshed again and served by every instance; none lost', async () => {
  assert.ok(upAt > 0, 'the outage test ran');
  const counts = new Map(ACCOUNTS.map((a) => [a.user, c.refreshTimes(a.user).length]));
  // The tokens from before the outage are due about LIFETIME - 4.8 s after they were issued.
  await waitUntil(
    'a refresh of every account after the outage',
    () => ACCOUNTS.every((a) => c.refreshTimes(a.user).length > counts.get(a.user)!),
    LIFETIME * 1000,
    200,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${c.tails()}`);
  });
  // Every instance serves a token issued after the database came back (new ones reach all of them).
  await waitUntil(
    'every instance serving the new tokens',
    async () => {
      const results = await Promise.all(
        c.nodes.flatMap((n) =>
          ACCOUNTS.map(async (a) => {
            const { token } = await n.token(a.user);
            const info = token ? c.h.emu.lookupToken(token) : undefined;
            return token !== undefined && c.h.emu.isValidAccessToken(token, a.user) && info !== undefined && info.issuedAt > upAt;
          }),
        ),
      );
      return results.every(Boolean);
    },
    5_000,
    100,
  );
  for (const n of c.nodes) {
    for (const row of await n.status()) {
      assert.is(row.hasGrant, true, `${n.name} ${row.user}: ${JSON.stringify(row)}`);
      assert.is(row.failures, 0, `${n.name} ${row.user}: ${JSON.stringify(row.lastError)}`);
    }
    assert.not.match(n.daemon!.output, /AADSTS70000|invalid_grant/, n.name);
    assert.equal(n.daemon!.logged({ event: 'refresh-failed', to: 'unauthenticated' }), [], `${n.name} lost no grant`);
  }
  assert.equal(reused(), {}, 'no spent refresh token presented again');
  const stats = c.h.emu.stats();
  for (const a of ACCOUNTS) assert.is(stats.refreshes[a.user], c.refreshTimes(a.user).length, `${a.user}: every refresh attempt gave a token (one refresher)`);
  process.stderr.write(`\n[cluster-outage] database down ${upAt - downAt} ms\n`);
});

test('no token, refresh token, client secret or database password in any output, state file or the database', async () => {
  assert.equal(await c.leaks(), []);
});

timeTests(test, 'cluster-outage');
test.run();
