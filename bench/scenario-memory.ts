/**
 * `--scenario memory`: RSS of the daemon (all threads: they share one
 * address space) with 0, 10,000 and 50,000 idle accounts holding valid
 * tokens; KiB per account = (RSS(N) - RSS(0)) / N.
 *
 *   node dist/bench/run.js --scenario memory [--sizes 0,10000,50000] [--workers 2] [--settle 5] [--cold] [--out FILE] [--keep]
 *
 * For each size: a fresh workspace with N stored grants, each with the access
 * token of one refresh at the emulator (as a daemon that ran before leaves
 * them; bench/stored-tokens.ts), `mailtokend serve`, wait until every account
 * is `valid`, let it settle --settle seconds (idle, no requests), read VmRSS
 * from /proc, stop the daemon. `--cold`: grants only, so the daemon refreshes
 * every account at start (the figures before access tokens were stored).
 */
import { numberFlag, parseFlags, processCpuMs, processRssKiB } from './common.js';
import { machine, prepare, say, sleep, writeResults } from './scenario-common.js';
import { Cleanup, DaemonProcess, GOOGLE_CLIENT, MICROSOFT_CLIENT, waitAllValid } from './setup.js';
import { storeAccessTokens } from './stored-tokens.js';

interface Point {
  accounts: number;
  storeMs: number;
  readyMs: number;
  allValidMs: number;
  rssKiB: number | null;
  /** After a forced settle: the minimum of several reads, a few seconds apart. */
  rssSamplesKiB: number[];
  cpuMsAtValid: number;
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv);
  const sizes = (f.get('sizes') ?? '0,10000,50000').split(',').map((x) => Number(x.trim()));
  const workers = Math.floor(numberFlag(f, 'workers', 2));
  const settleS = numberFlag(f, 'settle', 5);
  const cold = f.has('cold');
  const host = machine();
  const points: Point[] = [];
  for (const n of sizes) {
    const cleanup = new Cleanup();
    try {
      const p = await prepare(cleanup, { accounts: n, workers, lifetimeS: 3600, maxConcurrentRefreshes: 200, keep: f.has('keep') });
      say(`memory: ${n} grants stored in ${(p.storeMs / 1000).toFixed(1)} s`);
      if (!cold && n > 0) {
        const t0 = performance.now();
        await storeAccessTokens(p.emu, p.config, p.accounts, p.env, { google: GOOGLE_CLIENT, microsoft: MICROSOFT_CLIENT });
        say(`memory: ${n} access tokens stored in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
      const t = performance.now();
      const daemon = new DaemonProcess(cleanup, p.config.path, p.env);
      const readyMs = await daemon.ready;
      if (n > 0) await waitAllValid(p.config.adminSocket, n, 30 * 60_000);
      const allValidMs = performance.now() - t;
      const cpuMsAtValid = Math.round(processCpuMs(daemon.pid));
      await sleep(settleS * 1000);
      const samples: number[] = [];
      for (let i = 0; i < 3; i++) {
        const rss = processRssKiB(daemon.pid);
        if (rss !== null) samples.push(rss);
        await sleep(1000);
      }
      const rssKiB = samples.length > 0 ? Math.min(...samples) : null;
      points.push({ accounts: n, storeMs: p.storeMs, readyMs: Math.round(readyMs), allValidMs: Math.round(allValidMs), rssKiB, rssSamplesKiB: samples, cpuMsAtValid });
      say(`memory: ${n} accounts: ready ${(readyMs / 1000).toFixed(2)} s, all valid ${(allValidMs / 1000).toFixed(1)} s, RSS ${rssKiB === null ? '?' : Math.round(rssKiB / 1024)} MiB`);
    } finally {
      for (const problem of await cleanup.run()) say(`cleanup: ${problem}`);
    }
  }
  const base = points.find((p) => p.accounts === 0)?.rssKiB ?? null;
  const perAccount = points
    .filter((p) => p.accounts > 0)
    .map((p) => ({ accounts: p.accounts, kibPerAccount: base === null || p.rssKiB === null ? null : Math.round(((p.rssKiB - base) / p.accounts) * 100) / 100 }));
  const at50k = perAccount.find((p) => p.accounts === 50_000)?.kibPerAccount ?? null;
  const results = { scenario: 'memory', machine: host, settings: { sizes, workers, settleS, cold }, points, perAccount, target: { kibPerAccountAt50k: 5, met: at50k === null ? null : at50k <= 5 } };
  const file = writeResults('memory', f.get('out'), results);
  const lines = points.map((p) => `| ${p.accounts.toLocaleString('en-US')} | ${p.rssKiB === null ? '-' : Math.round(p.rssKiB / 1024)} | ${perAccount.find((x) => x.accounts === p.accounts)?.kibPerAccount ?? '-'} | ${(p.allValidMs / 1000).toFixed(1)} |`);
  process.stdout.write(`\n| accounts | RSS MiB | KiB/account over 0 | all valid s |\n|---:|---:|---:|---:|\n${lines.join('\n')}\n\nresults in ${file}\n`);
  return 0;
}
