/**
 * `--scenario start`: time from process start (spawn of `mailtokend serve`)
 * until every one of N stored accounts has been answered once with a right
 * reply (default 10,000).
 *
 *   node dist/bench/run.js --scenario start [--accounts 10000] [--workers 2] [--concurrency 32] [--out FILE] [--keep]
 *
 * Right after the spawn, --concurrency client loops (in the orchestrator,
 * which also runs the provider emulator) ask for each account once, as exim
 * does (fresh connection, `SMTP user`, half-close); a connection error
 * (socket not bound yet), an empty or an `ERR` reply puts the account back
 * at the end of the queue, after 20 ms. Every token served is checked at the
 * emulator.
 */
import { numberFlag, parseFlags, processCpuMs, processRssKiB } from './common.js';
import { machine, prepare, say, sleep, writeResults } from './scenario-common.js';
import { Cleanup, DaemonProcess, askOnce } from './setup.js';

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv);
  const n = Math.floor(numberFlag(f, 'accounts', 10_000));
  const workers = Math.floor(numberFlag(f, 'workers', 2));
  const concurrency = Math.floor(numberFlag(f, 'concurrency', 32));
  const host = machine();
  const cleanup = new Cleanup();
  try {
    const p = await prepare(cleanup, { accounts: n, workers, lifetimeS: 3600, maxConcurrentRefreshes: 200, keep: f.has('keep') });
    say(`start: ${n} grants stored in ${(p.storeMs / 1000).toFixed(1)} s`);
    const queue = p.accounts.map((a) => a.user);
    const answeredAt = new Map<string, number>();
    let retries = 0;
    let invalid = 0;
    let firstAnswerMs: number | null = null;
    const t0 = performance.now();
    const daemon = new DaemonProcess(cleanup, p.config.path, p.env);
    let readyMs: number | null = null;
    void daemon.ready.then((ms) => (readyMs = ms), () => undefined);
    const deadline = t0 + 20 * 60_000;
    const loop = async (): Promise<void> => {
      while (queue.length > 0 && performance.now() < deadline) {
        const user = queue.shift()!;
        let reply: Buffer;
        try {
          reply = await askOnce(p.config.socket, `SMTP ${user}`, 10_000);
        } catch {
          reply = Buffer.alloc(0);
        }
        const text = reply.toString('utf8');
        const prefix = `user=${user}\x01auth=Bearer `;
        if (text.startsWith(prefix) && text.endsWith('\x01\x01')) {
          if (!p.emu.isValidAccessToken(text.slice(prefix.length, -2), user)) invalid++;
          const at = performance.now() - t0;
          firstAnswerMs ??= at;
          answeredAt.set(user, at);
        } else {
          retries++;
          queue.push(user);
          await sleep(20);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    const allMs = Math.max(...answeredAt.values());
    const cpuMs = Math.round(processCpuMs(daemon.pid));
    const rssKiB = processRssKiB(daemon.pid);
    const results = {
      scenario: 'start',
      machine: host,
      settings: { accounts: n, workers, concurrency },
      storeMs: p.storeMs,
      readyMs: readyMs === null ? null : Math.round(readyMs),
      firstAnswerMs: firstAnswerMs === null ? null : Math.round(firstAnswerMs),
      allAnsweredMs: Math.round(allMs),
      answered: answeredAt.size,
      retries,
      invalidTokens: invalid,
      daemonCpuMs: cpuMs,
      daemonRssKiB: rssKiB,
      refreshesAtEmulator: Object.values(p.emu.stats().refreshes).reduce((a, b) => a + b, 0),
      target: { ms: 2000, met: answeredAt.size === n && allMs <= 2000 },
    };
    const file = writeResults('start', f.get('out'), results);
    process.stdout.write(
      `\nstart: ${answeredAt.size}/${n} accounts answered; ready ${readyMs === null ? '?' : (readyMs / 1000).toFixed(2)} s, first answer ${results.firstAnswerMs ?? '?'} ms, ` +
        `all answered ${(allMs / 1000).toFixed(2)} s after spawn; ${retries} retries, ${invalid} invalid tokens, ${results.refreshesAtEmulator} refreshes, ` +
        `daemon CPU ${(cpuMs / 1000).toFixed(1)} s, RSS ${rssKiB === null ? '?' : Math.round(rssKiB / 1024)} MiB\nresults in ${file}\n`,
    );
    return answeredAt.size === n && invalid === 0 ? 0 : 1;
  } finally {
    for (const problem of await cleanup.run()) say(`cleanup: ${problem}`);
  }
}
