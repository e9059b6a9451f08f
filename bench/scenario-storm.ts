/**
 * `--scenario storm`: N accounts (default 2,000) whose tokens live 60 s, for
 * 3 minutes, under a steady request load across all accounts.
 *
 *   node dist/bench/run.js --scenario storm [--accounts 2000] [--lifetime 60] [--duration 180]
 *     [--concurrency 2] [--cap 20] [--provider-delay 250] [--workers 2] [--out FILE] [--keep]
 *
 * --provider-delay: every token request waits this long at the emulator
 * (its `delay` fault), as a real provider's round trip does; without it the
 * emulator answers at once and never has more than one refresh in flight, so
 * the cap would go untested.
 *
 * --cap is `max_concurrent_refreshes` of each provider section. After every
 * account is valid, the emulator's counters are reset and one load
 * generator (a separate process, fresh connection per request) runs for
 * --duration seconds. Reported: requests answered late (> 100 ms), empty,
 * or with a token that had expired when it was received (the emulator's
 * expiry of that token against the last time the load generator got it);
 * the most refreshes in flight at once per provider at the emulator
 * (`stats().maxInFlight`) against the cap; refreshes per account per token
 * lifetime over the window.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { numberFlag, parseFlags, processCpuMs } from './common.js';
import { machine, prepare, say, writeResults } from './scenario-common.js';
import { Cleanup, DaemonProcess, runLoad, waitAllValid } from './setup.js';

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv);
  const n = Math.floor(numberFlag(f, 'accounts', 2000));
  const lifetimeS = numberFlag(f, 'lifetime', 60);
  const durationS = numberFlag(f, 'duration', 180);
  const concurrency = Math.floor(numberFlag(f, 'concurrency', 2));
  const cap = Math.floor(numberFlag(f, 'cap', 20));
  const workers = Math.floor(numberFlag(f, 'workers', 2));
  const delayMs = f.get('provider-delay') === '0' ? 0 : numberFlag(f, 'provider-delay', 250);
  const host = machine();
  const cleanup = new Cleanup();
  try {
    const p = await prepare(cleanup, { accounts: n, workers, lifetimeS, maxConcurrentRefreshes: cap, keep: f.has('keep') });
    if (delayMs > 0) p.emu.setFault({ endpoint: 'token', kind: 'delay', ms: delayMs });
    say(`storm: ${n} grants stored in ${(p.storeMs / 1000).toFixed(1)} s; cap ${cap} refreshes in flight per provider`);
    const daemon = new DaemonProcess(cleanup, p.config.path, p.env);
    await daemon.ready;
    await waitAllValid(p.config.adminSocket, n, 10 * 60_000);
    const startStats = p.emu.stats();
    p.emu.resetStats();
    const usersFile = join(p.dir, 'users.json');
    writeFileSync(usersFile, JSON.stringify(p.accounts.map((a) => a.user)));
    const warningsBefore = daemon.problems.length;
    const cpu0 = processCpuMs(daemon.pid);
    say(`storm: all ${n} valid; load at concurrency ${concurrency} for ${durationS} s`);
    const r = await runLoad(
      cleanup,
      ['--socket', p.config.socket, '--users', usersFile, '--concurrency', String(concurrency), '--duration', String(durationS), '--warmup', '0', '--token-times', '--timeout', '5000'],
      (durationS + 60) * 1000,
      // Long runs keep every token's last-seen time: give the generator room.
      ['--max-old-space-size=2048'],
    );
    const cpuMs = processCpuMs(daemon.pid) - cpu0;
    const stats = p.emu.stats();
    const late = r.latenciesUs.filter((us) => us > 100_000).length;
    let expired = 0;
    let unknown = 0;
    for (const [token, seenAt] of Object.entries(r.tokenLastSeenMs ?? {})) {
      const info = p.emu.lookupToken(token);
      if (info === undefined) unknown++;
      else if (info.expiresAt !== undefined && seenAt >= info.expiresAt) expired++;
    }
    const refreshes = Object.values(stats.refreshes).reduce((a, b) => a + b, 0);
    const perAccountPerLifetime = Math.round((refreshes / n / (durationS / lifetimeS)) * 100) / 100;
    const results = {
      scenario: 'storm',
      machine: host,
      settings: { accounts: n, lifetimeS, durationS, concurrency, capPerProvider: cap, workers, providerDelayMs: delayMs },
      startRefreshes: Object.values(startStats.refreshes).reduce((a, b) => a + b, 0),
      startMaxInFlight: startStats.maxInFlight,
      requests: r.requests,
      ok: r.ok,
      rps: r.rps,
      latencyMs: r.latencyMs,
      late100ms: late,
      empty: r.failureKinds.empty ?? 0,
      failureKinds: r.failureKinds,
      failureSamples: r.samples,
      expiredTokensServed: expired,
      tokensUnknownAtEmulator: unknown,
      distinctTokens: Object.keys(r.tokenLastSeenMs ?? {}).length,
      refreshes,
      refreshesPerAccountPerLifetime: perAccountPerLifetime,
      maxInFlight: stats.maxInFlight,
      daemonCpuMs: Math.round(cpuMs),
      daemonWarnings: daemon.problems.slice(warningsBefore).map((x) => `${x.level}: ${x.msg}`).slice(0, 20),
      targets: {
        noneLateEmptyExpired: late === 0 && (r.failureKinds.empty ?? 0) === 0 && expired === 0 && r.failures === 0,
        capRespected: stats.maxInFlight.google <= cap && stats.maxInFlight.microsoft <= cap && startStats.maxInFlight.google <= cap && startStats.maxInFlight.microsoft <= cap,
        refreshesPerLifetimeAtMost1_1: perAccountPerLifetime <= 1.1,
      },
    };
    const file = writeResults('storm', f.get('out'), results);
    process.stdout.write(
      `\nstorm: ${r.requests} requests (${r.rps}/s), ${r.failures} failed (${JSON.stringify(r.failureKinds)}), ${late} late > 100 ms, ${expired} expired tokens served ` +
        `(${unknown} unknown); p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms; refreshes ${refreshes} = ${perAccountPerLifetime} per account per lifetime; ` +
        `max in flight ${JSON.stringify(stats.maxInFlight)} (at start ${JSON.stringify(startStats.maxInFlight)}), cap ${cap}\nresults in ${file}\n`,
    );
    return results.targets.noneLateEmptyExpired && results.targets.capRespected ? 0 : 1;
  } finally {
    for (const problem of await cleanup.run()) say(`cleanup: ${problem}`);
  }
}
