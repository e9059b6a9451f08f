/**
 * Three daemons on one PostgreSQL (doc/cluster.md) against the emulator with
 * single-use rotating Microsoft refresh tokens (each works once) and 8 s
 * access tokens: a grant imported through one instance, or signed in through
 * another's web listener, is served by all of them; `status` on each names
 * the instance that last refreshed each account; the emulator sees at most one
 * refresh per account per token lifetime (as one daemon alone, never one per
 * instance); kill -9 of the instance in the middle of a refresh hands the
 * account to another within the lease, with no refresh token spent twice.
 *
 * PostgreSQL going away for 30 s is test/e2e/cluster-outage.test.ts (it needs
 * tokens that outlive the outage).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AccountDef } from '../helpers/daemon.js';
import { setup, waitUntil } from '../helpers/daemon.js';
import { Cluster, type ClusterAccountStatus, type ClusterNode } from '../helpers/cluster.js';
import { browse, expectPage, webBase } from '../helpers/signin.js';
import { timeTests } from '../helpers/timing.js';

const LIFETIME = 8;
const LEASE_S = 3;
const MS: AccountDef[] = ['ada', 'bob', 'cy', 'dee', 'eve'].map((n) => ({ user: `${n}@contoso.test`, provider: 'microsoft' }));
const GOOGLE: AccountDef = { user: 'gus@gmail.test', provider: 'google' };
const ACCOUNTS = [...MS, GOOGLE];
/** Signed in through one instance's web listener during the test. */
const SIGNIN: AccountDef = { user: 'sid@contoso.test', provider: 'microsoft' };

let c: Cluster;

setup(test, async () => {
  c = await Cluster.create({ accounts: [...ACCOUNTS, SIGNIN], instances: 3, lifetime: LIFETIME, lease: `${LEASE_S}s`, rotation: 'single-use' });
  await c.startAll();
});

test.after(async () => {
  await c?.close();
});

const names = () => c.nodes.map((n) => n.name);
const reused = () => (c.h.emu.stats() as { reusedRefreshTokens?: Record<string, number> }).reusedRefreshTokens ?? {};

/**
 * The emulator's view of one account over the run: each token it issued was
 * replaced at most once while it lived (at most one refresh per token
 * lifetime), and no two refreshes came closer than half a lifetime (a daemon
 * alone refreshes 2 s before expiry, every 6 to 6.5 s; instances refreshing on
 * their own would come moments apart).
 */
function assertOneRefresher(user: string): void {
  const times = c.refreshTimes(user);
  const shown = times.map((t) => t - times[0]!).join(', ');
  for (let i = 1; i < times.length; i++) {
    assert.ok(times[i]! - times[i - 1]! >= (LIFETIME * 1000) / 2, `${user}: refreshes ${times[i]! - times[i - 1]!} ms apart (ms after the first: ${shown})`);
    if (i >= 2) assert.ok(times[i]! - times[i - 2]! >= LIFETIME * 1000, `${user}: two refreshes within one token lifetime (ms after the first: ${shown})`);
  }
}

/** No node's output carries a provider refusal of a refresh token. */
function assertNoRefusedGrant(why: string): void {
  for (const n of c.nodes) {
    assert.not.match(n.daemon?.output ?? '', /AADSTS70000|invalid_grant/, `${why}: ${n.name}`);
    assert.equal(n.daemon?.logged({ event: 'refresh-failed', to: 'unauthenticated' }) ?? [], [], `${why}: ${n.name} lost no grant`);
  }
  assert.equal(reused(), {}, `${why}: no spent refresh token presented again`);
}

test('grants imported through one instance are served by every instance with tokens the emulator accepts', async () => {
  await c.importAll(c.node(0), ACCOUNTS);
  await c.waitAllServing('every account on every instance', 20_000, ACCOUNTS);
});

test('an account signed in through one instance\'s web listener is served by every instance', async () => {
  const web = await webBase(c.node(2).daemon!);
  const page = expectPage(await browse(`${web}/auth/${encodeURIComponent(SIGNIN.user)}`));
  assert.is(page.status, 200, page.text);
  assert.match(page.text, `${SIGNIN.user} is signed in`);
  await c.waitAllServing('the signed-in account on every instance', 5_000, [SIGNIN]);
});

test('`mailtokend status` on every instance shows which instance last refreshed each account, the same on all', async () => {
  let views: ClusterAccountStatus[][] = [];
  const same = () => {
    const by = views.map((rows) => ACCOUNTS.map((a) => rows.find((r) => r.user === a.user)?.refreshedBy).join(','));
    return by.every((v) => v === by[0]);
  };
  // A refresh may land between two of the calls: ask again until the instances agree.
  for (let i = 0; i < 5 && (views.length === 0 || !same()); i++) views = await Promise.all(c.nodes.map((n) => n.cliStatus()));
  assert.ok(same(), `the instances disagree: ${JSON.stringify(views.map((rows) => rows.map((r) => [r.user, r.refreshedBy])))}`);
  for (const rows of views) {
    for (const a of ACCOUNTS) {
      const row = rows.find((r) => r.user === a.user);
      assert.ok(row, a.user);
      assert.ok(row!.refreshedBy && names().includes(row!.refreshedBy), `${a.user} refreshedBy ${JSON.stringify(row!.refreshedBy)}`);
      assert.is(row!.hasGrant, true, `${a.user}: ${JSON.stringify(row)}`);
    }
  }
  // The table a person reads has the column too.
  const table = await c.node(1).cli(['status']);
  assert.match(table.out, /REFRESHED BY/);
  assert.match(table.out, new RegExp(`^${ACCOUNTS[0]!.user.replace('.', '\\.')} .* (${names().join('|')}) `, 'm'));
});

test('the emulator sees at most one refresh per account per token lifetime across the cluster', async () => {
  await waitUntil('three refreshes of every account', () => ACCOUNTS.every((a) => c.refreshTimes(a.user).length >= 3), 30_000, 200);
  const stats = c.h.emu.stats();
  for (const a of ACCOUNTS) {
    assertOneRefresher(a.user);
    // Every attempt the emulator saw gave a token: no instance lost a race and was refused.
    assert.is(stats.refreshes[a.user], c.refreshTimes(a.user).length, `${a.user}: attempts = tokens issued`);
  }
  assertNoRefusedGrant('steady state');
});

test('kill -9 of the instance in the middle of a refresh: another takes the account over within the lease, none lost', async () => {
  // The next refresh of one account hangs at the provider (unanswered, so its refresh token stays unspent):
  // whichever instance took the lease is caught mid-refresh, and is killed. Only one account, because a hung
  // call on a survivor would hold its lease (and that account) for as long as the call is allowed to run.
  const target = MS[0]!.user;
  const fault = c.h.emu.setFault({ provider: 'microsoft', user: target, kind: 'hang', count: 1 });
  const victim: ClusterNode = await waitUntil(
    'the hung refresh under a lease',
    async () => {
      if (c.h.emu.stats().inFlight === 0) return undefined;
      const holder = (await c.leaseHolders()).get(target);
      return c.running.find((n) => n.name === holder);
    },
    LIFETIME * 1000 + 5_000,
    50,
  );
  const before = c.refreshTimes(target).length;
  await victim.kill();
  const killedAt = Date.now();
  c.h.emu.clearFault(fault);

  // The survivors' first refresh of the account (the emulator's issue time), then every survivor serving it.
  const takenAt = await waitUntil('a survivor refreshing the account', () => c.refreshTimes(target)[before], (LEASE_S + 10) * 1000, 20);
  await waitUntil(
    'every survivor serving a token issued after the kill',
    async () => {
      const ok = await Promise.all(
        c.running.map(async (n) => {
          const { token } = await n.token(target);
          const info = token ? c.h.emu.lookupToken(token) : undefined;
          return token !== undefined && c.h.emu.isValidAccessToken(token, target) && info !== undefined && info.issuedAt > killedAt;
        }),
      );
      return ok.every(Boolean);
    },
    10_000,
    50,
  );
  const servedAt = Date.now();
  process.stderr.write(`\n[cluster] ${victim.name} killed mid-refresh: taken over by a survivor after ${takenAt - killedAt} ms, served fresh by all survivors after ${servedAt - killedAt} ms\n`);
  // The lease was last renewed before the kill, so it lapses less than a lease after it; a refresh on top.
  assert.ok(takenAt - killedAt <= (LEASE_S + 2) * 1000, `taken over ${takenAt - killedAt} ms after the kill (lease ${LEASE_S} s)\n${c.tails()}`);
  await c.waitAllServing('every account on the survivors', 10_000);

  const rows = await c.running[0]!.cliStatus();
  const row = rows.find((r) => r.user === target)!;
  assert.ok(row.refreshedBy && row.refreshedBy !== victim.name, `${target} now refreshed by ${row.refreshedBy}, not the dead ${victim.name}`);
  assertNoRefusedGrant('after the takeover');
});

test('the killed instance comes back and serves every account without a sign-in', async () => {
  const victim = c.nodes.find((n) => !n.running)!;
  await victim.start();
  await c.waitAllServing('every account on every instance again', 15_000);
  // Tokens keep rotating across the cluster afterwards.
  const counts = new Map(MS.map((a) => [a.user, c.refreshTimes(a.user).length]));
  await waitUntil('one more refresh of every Microsoft account', () => MS.every((a) => c.refreshTimes(a.user).length > counts.get(a.user)!), (LIFETIME + 4) * 1000, 200);
  await c.waitAllServing('every account on every instance after more rotations', 10_000);
  assertNoRefusedGrant('after the restart');
});

test('over the whole run (takeover and restart included), at most one refresh per account per token lifetime', () => {
  for (const a of c.opts.accounts) assertOneRefresher(a.user);
});

test('no token, refresh token, client secret or database password in any output, state file or the database', async () => {
  assert.equal(await c.leaks(), []);
});

timeTests(test, 'cluster');
test.run();
