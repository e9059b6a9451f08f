/**
 * `--scenario memory`: RSS of the daemon (all threads: they share one
 * address space) with 0, 10,000 and 50,000 idle accounts holding valid
 * tokens; KiB per account = (RSS(N) - RSS(0)) / N.
 *
 *   node dist/bench/run.js --scenario memory [--sizes 0,10000,50000] [--workers 2] [--settle 5] [--idle 60] [--steady-max 180] [--cold] [--out FILE] [--keep]
 *
 * For each size: a fresh workspace with N stored grants, each with the access
 * token of one refresh at the emulator (as a daemon that ran before leaves
 * them; bench/stored-tokens.ts), `mailtokend serve`, wait until every account
 * is `valid`, let it settle --settle seconds (idle, no requests), then read
 * VmRSS from /proc every 5 s for at least --idle seconds and until it is
 * steady: it has not fallen by more than 1 % over the last three reads (at
 * most --steady-max seconds). V8 gives back the garbage of the start (files
 * read, decrypted, parsed; the status answers the bench polls) only after the
 * daemon has been idle a while (its memory reducer: 30–45 s after a
 * 50,000-account start here, after a plateau of 15 s or more), so the RSS of
 * an idle daemon is the steady one; the RSS right after --settle is reported
 * too. `--cold`: grants only, so the daemon
 * refreshes every account at start (the figures before access tokens were
 * stored).
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
  /** Every read after --settle, 5 s apart, until steady. */
  rssSamplesKiB: number[];
  /** The first of those reads (what an idle daemon holds --settle seconds after all its accounts are valid). */
  rssAtSettleKiB: number | null;
  /** Seconds after --settle until RSS was steady (null: not within --steady-max). */
  steadyAfterS: number | null;
  cpuMsAtValid: number;
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv);
  const sizes = (f.get('sizes') ?? '0,10000,50000').split(',').map((x) => Number(x.trim()));
  const workers = Math.floor(numberFlag(f, 'workers', 2));
  const settleS = numberFlag(f, 'settle', 5);
  const idleS = numberFlag(f, 'idle', 60);
  const steadyMaxS = numberFlag(f, 'steady-max', 180);
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
      const { samples, steadyAfterS } = await steadyRss(daemon.pid, idleS, steadyMaxS);
      const rssKiB = samples.length > 0 ? Math.min(...samples.slice(-3)) : null;
      const rssAtSettleKiB = samples[0] ?? null;
      points.push({ accounts: n, storeMs: p.storeMs, readyMs: Math.round(readyMs), allValidMs: Math.round(allValidMs), rssKiB, rssSamplesKiB: samples, rssAtSettleKiB, steadyAfterS, cpuMsAtValid });
      const mib = (kib: number | null) => (kib === null ? '?' : String(Math.round(kib / 1024)));
      say(
        `memory: ${n} accounts: ready ${(readyMs / 1000).toFixed(2)} s, all valid ${(allValidMs / 1000).toFixed(1)} s, ` +
          `RSS ${mib(rssAtSettleKiB)} MiB after ${settleS} s idle, ${mib(rssKiB)} MiB steady (${steadyAfterS === null ? 'not steady' : `${steadyAfterS} s later`})`,
      );
    } finally {
      for (const problem of await cleanup.run()) say(`cleanup: ${problem}`);
    }
  }
  const base = points.find((p) => p.accounts === 0)?.rssKiB ?? null;
  const perAccount = points
    .filter((p) => p.accounts > 0)
    .map((p) => ({ accounts: p.accounts, kibPerAccount: base === null || p.rssKiB === null ? null : Math.round(((p.rssKiB - base) / p.accounts) * 100) / 100 }));
  const at50k = perAccount.find((p) => p.accounts === 50_000)?.kibPerAccount ?? null;
  const results = { scenario: 'memory', machine: host, settings: { sizes, workers, settleS, idleS, steadyMaxS, cold }, points, perAccount, target: { kibPerAccountAt50k: 5, met: at50k === null ? null : at50k <= 5 } };
  const file = writeResults('memory', f.get('out'), results);
  const mib = (kib: number | null) => (kib === null ? '-' : String(Math.round(kib / 1024)));
  const lines = points.map(
    (p) =>
      `| ${p.accounts.toLocaleString('en-US')} | ${mib(p.rssAtSettleKiB)} | ${mib(p.rssKiB)} | ${perAccount.find((x) => x.accounts === p.accounts)?.kibPerAccount ?? '-'} | ${(p.allValidMs / 1000).toFixed(1)} |`,
  );
  process.stdout.write(
    `\n| accounts | RSS MiB after ${settleS} s idle | RSS MiB steady | KiB/account over 0 (steady) | all valid s |\n|---:|---:|---:|---:|---:|\n${lines.join('\n')}\n\nresults in ${file}\n`,
  );
  return 0;
}

/** Reads RSS every 5 s for at least `minS`, then until the last three reads are within 1 % of the first of them, or `maxS` has passed. */
async function steadyRss(pid: number, minS: number, maxS: number): Promise<{ samples: number[]; steadyAfterS: number | null }> {
  const samples: number[] = [];
  for (let waited = 0; ; waited += 5) {
    const rss = processRssKiB(pid);
    if (rss !== null) samples.push(rss);
    const last = samples.slice(-3);
    if (waited >= minS && last.length === 3 && last[0]! - Math.min(...last) <= last[0]! * 0.01) return { samples, steadyAfterS: waited };
    if (waited >= maxS) return { samples, steadyAfterS: null };
    await sleep(5000);
  }
}
