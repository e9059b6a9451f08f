/**
 * `--scenario churn`: does a watched dashboard slow token serving while
 * accounts change state about a thousand times a second?
 *
 *   node dist/bench/run.js --scenario churn [--accounts 1000] [--lifetime 4] [--duration 8]
 *     [--concurrency 16] [--rounds 2] [--cap 100] [--workers 2] [--out FILE] [--keep]
 *
 * N accounts whose tokens live --lifetime seconds refresh at about half their
 * lifetime, so each makes two state changes (valid → refreshing → valid) per
 * half-lifetime: 1,000 accounts with 4 s tokens give ~1,000 changes/s. Under
 * that churn a load generator (separate process, fresh connection per
 * request) measures serving, alternately with no dashboard client and with
 * one client reading the dashboard's event stream (`/api/events`). The
 * achieved change rate is counted at the emulator (refreshes × 2) and at the
 * event stream (accounts pushed).
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { get, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import { numberFlag, parseFlags } from './common.js';
import { machine, prepare, say, writeResults } from './scenario-common.js';
import { Cleanup, DaemonProcess, runLoad, waitAllValid } from './setup.js';

interface Phase {
  dashboardClient: boolean;
  rps: number;
  p50: number;
  p99: number;
  failures: number;
  stateChangesPerS: number;
  streamedAccountsPerS: number;
}

/** Reads the dashboard's event stream and counts the account rows it pushes. */
function watchDashboard(base: string): { stop(): number; request: ClientRequest } {
  let accounts = 0;
  let buffered = '';
  const request = get(`${base}/api/events`, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffered += chunk;
      let end;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const frame = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = frame
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5))
          .join('');
        try {
          const parsed = JSON.parse(data) as { accounts?: unknown[] };
          accounts += Array.isArray(parsed.accounts) ? parsed.accounts.length : 0;
        } catch {
          // keep-alive comments and non-JSON frames carry no rows
        }
      }
    });
  });
  request.on('error', () => undefined);
  return {
    request,
    stop() {
      request.destroy();
      return accounts;
    },
  };
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv);
  const n = Math.floor(numberFlag(f, 'accounts', 1000));
  const lifetimeS = numberFlag(f, 'lifetime', 4);
  const durationS = numberFlag(f, 'duration', 8);
  const concurrency = Math.floor(numberFlag(f, 'concurrency', 16));
  const rounds = Math.floor(numberFlag(f, 'rounds', 2));
  const cap = Math.floor(numberFlag(f, 'cap', 100));
  const workers = Math.floor(numberFlag(f, 'workers', 2));
  const cleanup = new Cleanup();
  try {
    const p = await prepare(cleanup, { accounts: n, workers, lifetimeS, maxConcurrentRefreshes: cap, keep: f.has('keep') });
    appendFileSync(p.config.path, '\n[web]\nlisten = "127.0.0.1:0"\n');
    const daemon = new DaemonProcess(cleanup, p.config.path, p.env);
    await daemon.ready;
    const readyLine = daemon.tail.map((l) => JSON.parse(l) as { msg?: string; web?: string }).find((l) => l.msg === 'ready');
    if (!readyLine?.web) throw new Error('the daemon reported no web listener');
    await waitAllValid(p.config.adminSocket, n, 5 * 60_000);
    const usersFile = join(p.dir, 'users.json');
    writeFileSync(usersFile, JSON.stringify(p.accounts.map((a) => a.user)));
    say(`churn: ${n} accounts, ${lifetimeS} s tokens; ${rounds} rounds of ${durationS} s each without and with a dashboard client`);
    const phases: Phase[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const dashboardClient of [false, true]) {
        const watcher = dashboardClient ? watchDashboard(readyLine.web) : undefined;
        p.emu.resetStats();
        const started = Date.now();
        const r = await runLoad(
          cleanup,
          ['--socket', p.config.socket, '--users', usersFile, '--concurrency', String(concurrency), '--duration', String(durationS), '--warmup', '0.5', '--timeout', '5000'],
          (durationS + 60) * 1000,
        );
        const seconds = (Date.now() - started) / 1000;
        const refreshes = Object.values(p.emu.stats().refreshes).reduce((a, b) => a + b, 0);
        const streamed = watcher ? watcher.stop() : 0;
        phases.push({
          dashboardClient,
          rps: r.rps,
          p50: r.latencyMs.p50,
          p99: r.latencyMs.p99,
          failures: r.failures,
          stateChangesPerS: Math.round((refreshes * 2) / seconds),
          streamedAccountsPerS: Math.round(streamed / seconds),
        });
        const last = phases[phases.length - 1]!;
        say(`churn: ${dashboardClient ? 'with' : 'without'} dashboard client: ${last.rps} req/s, p50 ${last.p50} ms, p99 ${last.p99} ms, ${last.failures} failed; ${last.stateChangesPerS} state changes/s, ${last.streamedAccountsPerS} rows/s streamed`);
      }
    }
    const mean = (xs: number[]) => Math.round((xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)) * 100) / 100;
    const pick = (client: boolean) => phases.filter((ph) => ph.dashboardClient === client);
    const summary = {
      without: { rps: mean(pick(false).map((x) => x.rps)), p50: mean(pick(false).map((x) => x.p50)), p99: mean(pick(false).map((x) => x.p99)), changesPerS: mean(pick(false).map((x) => x.stateChangesPerS)) },
      with: { rps: mean(pick(true).map((x) => x.rps)), p50: mean(pick(true).map((x) => x.p50)), p99: mean(pick(true).map((x) => x.p99)), changesPerS: mean(pick(true).map((x) => x.stateChangesPerS)) },
    };
    const results = { scenario: 'churn', machine: machine(), settings: { accounts: n, lifetimeS, durationS, concurrency, rounds, workers, capPerProvider: cap }, phases, summary };
    const file = writeResults('churn', f.get('out'), results);
    process.stdout.write(
      `\nchurn: without a dashboard client ${summary.without.rps} req/s, p50 ${summary.without.p50} ms, p99 ${summary.without.p99} ms at ${summary.without.changesPerS} changes/s;` +
        ` with one ${summary.with.rps} req/s, p50 ${summary.with.p50} ms, p99 ${summary.with.p99} ms at ${summary.with.changesPerS} changes/s\nresults in ${file}\n`,
    );
    return phases.every((ph) => ph.failures === 0) ? 0 : 1;
  } finally {
    for (const problem of await cleanup.run()) say(`cleanup: ${problem}`);
  }
}
