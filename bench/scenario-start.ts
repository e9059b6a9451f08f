/**
 * `--scenario start`: time from process start (spawn of `mailtokend serve`)
 * until every one of N stored accounts has been answered once with a right
 * reply (default 10,000).
 *
 *   node dist/bench/run.js --scenario start [--accounts 10000] [--workers 2] [--concurrency 32] [--cold] [--profile DIR] [--out FILE] [--keep]
 *
 * The store is first brought to what a daemon that ran before leaves behind:
 * a daemon is started, every account refreshes once (and stores its access
 * token with its grant), and the daemon is stopped. The measured start is
 * the restart that follows. `--cold` measures a start from refresh grants
 * alone instead (as before access tokens were stored: one refresh each).
 *
 * Right after the spawn, --concurrency client loops (in the orchestrator,
 * which also runs the provider emulator) ask for each account once, as exim
 * does (fresh connection, `SMTP user`, half-close); a connection error
 * (socket not bound yet), an empty or an `ERR` reply puts the account back
 * at the end of the queue, after 20 ms. Every token served is checked at the
 * emulator.
 *
 * The floor, in the same run: the reference server (bench/reference-server.ts)
 * spawned the same way and asked for the same N users by the same loops, its
 * replies as long as the daemon's were (a Google and a Microsoft size).
 *
 * Also in the same run, what does not depend on N: the same daemon started
 * on a config holding only the first of the accounts (same store, same
 * sockets), asked for it from its spawn. Its first answer is the daemon's
 * fixed start (Node, the modules of its three threads, the store key).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { numberFlag, parseFlags, processCpuMs, processRssKiB, threadsCpuMs } from './common.js';
import { machine, prepare, say, sleep, writeResults } from './scenario-common.js';
import { Cleanup, DaemonProcess, askOnce, startReference, waitAllValid, writeConfig } from './setup.js';

interface Pass {
  answered: Map<string, number>;
  /** Reply length per user answered. */
  sizes: Map<string, number>;
  retries: number;
  firstAnswerMs: number | null;
  allMs: number;
}

/** `concurrency` loops asking once for every user; `right` judges a reply. */
async function askAll(socket: string, users: string[], concurrency: number, t0: number, right: (user: string, reply: string) => boolean): Promise<Pass> {
  const queue = [...users];
  const answered = new Map<string, number>();
  const sizes = new Map<string, number>();
  let retries = 0;
  let firstAnswerMs: number | null = null;
  const deadline = t0 + 20 * 60_000;
  const loop = async (): Promise<void> => {
    while (queue.length > 0 && performance.now() < deadline) {
      const user = queue.shift()!;
      let reply: Buffer;
      try {
        reply = await askOnce(socket, `SMTP ${user}`, 10_000);
      } catch {
        reply = Buffer.alloc(0);
      }
      if (right(user, reply.toString('utf8'))) {
        const at = performance.now() - t0;
        firstAnswerMs ??= at;
        answered.set(user, at);
        sizes.set(user, reply.length);
      } else {
        retries++;
        queue.push(user);
        await sleep(20);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { answered, sizes, retries, firstAnswerMs, allMs: Math.max(0, ...answered.values()) };
}

/** Answers per 250 ms from the spawn: how the rate builds up while a server starts. */
function answersPerQuarterSecond(pass: Pass): number[] {
  const bins: number[] = [];
  for (const at of pass.answered.values()) {
    const bin = Math.floor(at / 250);
    while (bins.length <= bin) bins.push(0);
    bins[bin]!++;
  }
  return bins;
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return Math.round((used.user + used.system) / 1000);
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv);
  const n = Math.floor(numberFlag(f, 'accounts', 10_000));
  const workers = Math.floor(numberFlag(f, 'workers', 2));
  const concurrency = Math.floor(numberFlag(f, 'concurrency', 32));
  const cold = f.has('cold');
  const profile = f.get('profile');
  const profileDir = profile === undefined ? undefined : resolve(profile);
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const host = machine();
  const cleanup = new Cleanup();
  try {
    const p = await prepare(cleanup, { accounts: n, workers, lifetimeS: 3600, maxConcurrentRefreshes: 200, keep: f.has('keep') });
    say(`start: ${n} grants stored in ${(p.storeMs / 1000).toFixed(1)} s`);
    let firstRunMs: number | null = null;
    if (!cold) {
      const t = performance.now();
      const first = new DaemonProcess(cleanup, p.config.path, p.env);
      await first.ready;
      await waitAllValid(p.config.adminSocket, n, 30 * 60_000);
      await first.stop();
      firstRunMs = Math.round(performance.now() - t);
      say(`start: first run (one refresh per account, tokens stored) took ${(firstRunMs / 1000).toFixed(1)} s`);
    }
    p.emu.resetStats();

    const users = p.accounts.map((a) => a.user);
    // Checked at the emulator after the clock stops: the check is the bench's work, not the daemon's start.
    const served: Array<[user: string, token: string]> = [];
    const clientCpu0 = process.cpuUsage();
    const t0 = performance.now();
    const daemon = new DaemonProcess(cleanup, p.config.path, p.env, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
    let readyMs: number | null = null;
    void daemon.ready.then((ms) => (readyMs = ms), () => undefined);
    const pass = await askAll(p.config.socket, users, concurrency, t0, (user, text) => {
      const prefix = `user=${user}\x01auth=Bearer `;
      if (!text.startsWith(prefix) || !text.endsWith('\x01\x01')) return false;
      served.push([user, text.slice(prefix.length, -2)]);
      return true;
    });
    const clientCpuMs = cpuMsSince(clientCpu0);
    const cpuMs = Math.round(processCpuMs(daemon.pid));
    const threads = threadsCpuMs(daemon.pid).map((t) => ({ ...t, main: t.tid === daemon.pid }));
    const rssKiB = processRssKiB(daemon.pid);
    const refreshes = Object.values(p.emu.stats().refreshes).reduce((a, b) => a + b, 0);
    await daemon.stop();

    // The fixed start: the same daemon, store and sockets, one configured account.
    const first = p.accounts[0]!;
    const one = writeConfig({ dir: p.dir, emu: p.emu, accounts: [first], workers, maxConcurrentRefreshes: 200, file: 'config-one.toml' });
    const o0 = performance.now();
    const oneDaemon = new DaemonProcess(cleanup, one.path, p.env);
    const onePass = await askAll(p.config.socket, [first.user], 1, o0, (user, text) => {
      const prefix = `user=${user}\x01auth=Bearer `;
      if (!text.startsWith(prefix) || !text.endsWith('\x01\x01')) return false;
      served.push([user, text.slice(prefix.length, -2)]);
      return true;
    });
    const oneCpuMs = Math.round(processCpuMs(oneDaemon.pid));
    const oneReadyMs = Math.round(await oneDaemon.ready);
    await oneDaemon.stop();
    const invalid = served.filter(([user, token]) => !p.emu.isValidAccessToken(token, user)).length;

    // The floor: a server that answers a constant string, from its spawn, asked by the same loops.
    const refSocket = join(p.dir, 'reference.sock');
    const refClientCpu0 = process.cpuUsage();
    const r0 = performance.now();
    // Replies of the daemon's sizes (a Google one, a Microsoft one), so both write the same bytes.
    const replySizes = [...new Set(p.accounts.slice(0, 2).map((a) => pass.sizes.get(a.user) ?? 180))];
    const reference = await startReference(cleanup, refSocket, replySizes);
    const refReadyMs = Math.round(performance.now() - r0);
    const ref = await askAll(refSocket, users, concurrency, r0, (_user, text) => text.length > 0);
    const refClientCpuMs = cpuMsSince(refClientCpu0);
    const refCpuMs = Math.round(processCpuMs(reference.pid!));

    const results = {
      scenario: 'start',
      machine: host,
      settings: { accounts: n, workers, concurrency, cold },
      storeMs: p.storeMs,
      firstRunMs,
      readyMs: readyMs === null ? null : Math.round(readyMs),
      firstAnswerMs: pass.firstAnswerMs === null ? null : Math.round(pass.firstAnswerMs),
      allAnsweredMs: Math.round(pass.allMs),
      answered: pass.answered.size,
      retries: pass.retries,
      invalidTokens: invalid,
      daemonCpuMs: cpuMs,
      // The CPU budget: on a machine of `cpus` cores, daemon and client together cannot use more than cpus × the wall time.
      clientCpuMs,
      daemonThreadsCpuMs: threads,
      daemonRssKiB: rssKiB,
      refreshesAtEmulator: refreshes,
      answersPer250ms: answersPerQuarterSecond(pass),
      oneAccount: { firstAnswerMs: onePass.firstAnswerMs === null ? null : Math.round(onePass.firstAnswerMs), readyMs: oneReadyMs, daemonCpuMs: oneCpuMs },
      reference: {
        readyMs: refReadyMs,
        allAnsweredMs: Math.round(ref.allMs),
        answered: ref.answered.size,
        cpuMs: refCpuMs,
        clientCpuMs: refClientCpuMs,
        replySizes,
        answersPer250ms: answersPerQuarterSecond(ref),
      },
      target: { ms: 2000, met: pass.answered.size === n && pass.allMs <= 2000 },
    };
    const file = writeResults('start', f.get('out'), results);
    process.stdout.write(
      `\nstart${cold ? ' (cold: refresh grants only)' : ' (restart with stored tokens)'}: ${pass.answered.size}/${n} accounts answered; ` +
        `ready ${readyMs === null ? '?' : (readyMs / 1000).toFixed(2)} s, first answer ${results.firstAnswerMs ?? '?'} ms, ` +
        `all answered ${(pass.allMs / 1000).toFixed(2)} s after spawn; ${pass.retries} retries, ${invalid} invalid tokens, ${refreshes} refreshes, ` +
        `daemon CPU ${(cpuMs / 1000).toFixed(1)} s, client CPU ${(clientCpuMs / 1000).toFixed(1)} s, RSS ${rssKiB === null ? '?' : Math.round(rssKiB / 1024)} MiB\n` +
        `daemon threads (CPU ms): ${threads.map((t) => `${t.main ? 'main' : t.name} ${t.ms}`).join(', ')}\n` +
        `answers per 250 ms from the spawn: ${results.answersPer250ms.join(' ')}\n` +
        `the same daemon with one account: first answer ${results.oneAccount.firstAnswerMs ?? '?'} ms after spawn (ready ${oneReadyMs} ms), its CPU ${(oneCpuMs / 1000).toFixed(1)} s\n` +
        `reference server: ready ${refReadyMs} ms, all ${ref.answered.size} answered ${(ref.allMs / 1000).toFixed(2)} s after spawn; ` +
        `its CPU ${(refCpuMs / 1000).toFixed(1)} s, client CPU ${(refClientCpuMs / 1000).toFixed(1)} s; answers per 250 ms: ${results.reference.answersPer250ms.join(' ')}\nresults in ${file}\n`,
    );
    return pass.answered.size === n && invalid === 0 && onePass.answered.size === 1 ? 0 : 1;
  } finally {
    for (const problem of await cleanup.run()) say(`cleanup: ${problem}`);
  }
}
