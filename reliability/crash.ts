/**
 * Scenario 4, crash safety (issue 9): the daemon is killed with SIGKILL at
 * random moments while Microsoft refresh tokens rotate every couple of
 * seconds (emulator token lifetime of seconds, single-use rotation: a spent
 * refresh token is refused). Between a kill and the restart the store is
 * opened as the next daemon would open it; after each restart every account
 * must be served a token the emulator's introspection calls live.
 */
import { genuineToken, inRotationWindow, info, loadAverage, newestIssued, seeded, sleep, storedRefreshTokens, storeHealth, untilAllGenuine, zero } from './checks.js';
import { waitUntil } from '../test/helpers/daemon.js';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from './types.js';
import { World, type AccountDef } from './world.js';

/** Emulator access token lifetime: the daemon refreshes (and rotates) about every 2 s. */
const LIFETIME_S = 4;

function accounts(fast: boolean): AccountDef[] {
  const ms = fast ? 3 : 6;
  const list: AccountDef[] = [];
  for (let i = 0; i < ms; i++) list.push({ user: `crash${i}@contoso.test`, provider: 'microsoft' });
  list.push({ user: 'crash@gmail.test', provider: 'google' });
  return list;
}

export async function runCrash(options: ScenarioOptions): Promise<ScenarioResult> {
  const started = performance.now();
  const rounds = options.fast ? 3 : 100;
  const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);
  const random = seeded(seed);
  const defs = accounts(options.fast);
  const users = defs.map((a) => a.user);
  const w = await World.create({ workDir: options.workDir, name: 'crash', accounts: defs, lifetime: LIFETIME_S, rotation: 'single-use', workers: 2, start: false });
  const h = w.h;
  let unreadable = 0;
  let storeErrors = 0;
  let missingGrants = 0;
  let notServed = 0;
  let lostGrants = 0;
  let lostInWindow = 0;
  let killsInWindow = 0;
  const windowMs: number[] = [];
  let startFailures = 0;
  const restartMs: number[] = [];
  const killedAfterMs: number[] = [];
  const notes: string[] = [
    `seed ${seed} (RELIABILITY_SEED repeats the kill times)`,
    'single-use rotation: a kill after the provider redeemed a refresh token and before its successor is on disk loses the grant whatever the daemon does; Entra keeps a redeemed token valid, so there this costs nothing',
  ];
  try {
    await h.start();
    const first = await untilAllGenuine(h, users, 15_000);
    if (first.failing.length) throw new Error(`accounts never served before the first kill: ${first.failing.join(', ')}`);
    for (let round = 1; round <= rounds; round++) {
      // Anywhere in one to two refresh periods, so kills land before, during and after refreshes.
      const wait = Math.floor(200 + random() * LIFETIME_S * 700);
      await sleep(wait);
      killedAfterMs.push(wait);
      await h.stop('SIGKILL');
      const killedAt = Date.now();
      // A request fully sent before the kill is still answered by the provider: let it land.
      await sleep(50);
      const window = inRotationWindow(h, newestIssued(h, users), killedAt, await storedRefreshTokens(h, users));
      killsInWindow += window.size;
      windowMs.push(...window.values());

      const health = await storeHealth(h, users);
      if (health.error) {
        storeErrors++;
        notes.push(`round ${round}: store could not be opened: ${health.error}`);
      }
      unreadable += health.corrupt.length;
      missingGrants += health.missing.length;
      for (const c of health.corrupt) notes.push(`round ${round}: unreadable ${c}`);

      const t0 = performance.now();
      try {
        await h.start();
      } catch (error) {
        startFailures++;
        notes.push(`round ${round}: restart failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
        break;
      }
      const served = await untilAllGenuine(h, users.filter((u) => !window.has(u)), 10_000);
      if (served.ms !== undefined) restartMs.push(performance.now() - t0);
      notServed += served.failing.length;
      // An account whose newest grant never reached the disk: it may serve a stored access token
      // until its refresh, which the provider then refuses.
      const lost = [...window.keys()];
      if (lost.length) {
        await waitUntil(
          'in-window accounts settled',
          async () => {
            const rows = await h.status().catch(() => []);
            return lost.every((u) => rows.find((r) => r.user === u)?.state === 'unauthenticated' || (rows.find((r) => r.user === u)?.lastRefreshAt ?? 0) > killedAt);
          },
          LIFETIME_S * 1000 + 5_000,
          100,
        ).catch(() => undefined);
      }
      if (served.failing.length === 0 && lost.length === 0) continue;
      // A grant the provider no longer takes: counted, then replaced so later rounds still test something.
      const rows = await h.status().catch(() => []);
      for (const user of [...served.failing, ...lost]) {
        const row = rows.find((r) => r.user === user);
        if (row?.state !== 'unauthenticated' && window.has(user)) continue;
        notes.push(`round ${round}: ${user} not served after restart (state ${row?.state ?? '?'}, ${row?.lastError?.code ?? 'no error'}${window.has(user) ? ', its newest grant was not on disk at the kill' : ''})`);
        if (row?.state === 'unauthenticated') {
          if (window.has(user)) lostInWindow++;
          else lostGrants++;
          await h.importGrant(user, h.issueGrant(defs.find((d) => d.user === user)!));
        }
      }
      options.log(`crash: round ${round}/${rounds}: ${served.failing.length} account(s) not served`);
      if (round % 10 === 0) options.log(`crash: ${round}/${rounds} rounds`);
    }
    // One more full refresh period on the last daemon: the grants it holds keep working.
    await sleep(LIFETIME_S * (options.fast ? 500 : 1000));
    const final = await Promise.all(users.map((u) => genuineToken(h, u)));
    const finalFailed = final.filter((t) => t === undefined).length;
    const reused = Object.values(h.emu.stats().reusedRefreshTokens).reduce((a, b) => a + b, 0);
    restartMs.sort((a, b) => a - b);
    const p = (q: number) => (restartMs.length ? Math.round(restartMs[Math.min(restartMs.length - 1, Math.floor(q * restartMs.length))]!) : 0);
    const figures: Figure[] = [
      info('kill -9 rounds (Microsoft single-use rotation every ~2 s)', `${rounds} (${users.length} accounts)`),
      zero('store unreadable after a kill (files)', unreadable + storeErrors),
      zero('accounts with no grant in the store after a kill', missingGrants),
      zero('restarts that failed', startFailures),
      zero('accounts not served a live token after a restart (newest grant on disk)', notServed),
      zero('grants lost with the newest grant on disk (a daemon fault)', lostGrants),
      info(
        'kills between the provider issuing a new single-use refresh token and the daemon storing it: grants lost of such kills (window ms, max)',
        `${lostInWindow} of ${killsInWindow} (${windowMs.length ? Math.round(Math.max(...windowMs)) : 0} ms)`,
      ),
      zero('spent refresh tokens presented, outside that window', Math.max(0, reused - lostInWindow)),
      zero('accounts not served after a final refresh period', finalFailed),
      info('restart to every account served, p50 / max (ms)', `${p(0.5)} / ${p(1)}`),
      info('load average at the end', loadAverage()),
    ];
    return { id: 'crash', title: crash.title, figures, seconds: (performance.now() - started) / 1000, notes };
  } finally {
    await w.close();
  }
}

export const crash: Scenario = {
  id: 'crash',
  title: 'Crash safety: kill -9 during refresh-token rotation',
  run: runCrash,
};
