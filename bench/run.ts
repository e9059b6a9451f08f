/**
 * `npm run bench`: the daemon's socket throughput and latency, next to the
 * floor a bare Node UNIX-socket server sets on the same machine. See
 * doc/benchmarks.md for what each figure means.
 *
 *   node dist/bench/run.js [--accounts 10000] [--workers 2] [--concurrency 1,16,64]
 *     [--duration 6] [--rounds 3] [--warmup 0.5] [--prime 5] [--lifetime 3600] [--out FILE]
 *     [--profile DIR] [--keep]
 *
 * Each level first primes each server with --prime seconds of the same load,
 * not measured (a JIT compiler serving cold code, see primeFigures), then
 * measures each for --duration seconds in all, split into --rounds rounds
 * that alternate between the two servers, so that other work on the machine
 * weighs on both alike; figures are over all rounds.
 * --profile DIR: run the daemon with --cpu-prof, profiles written to DIR at exit.
 * --keep: leave the temp workspace (config, store, sockets) for a look.
 *
 * Exit status 1 if any request failed, a served token was not one the
 * provider issued and still valid, an account was never served, or a refresh
 * happened during measurement.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { numberFlag, parseFlags, processCpuMs, processRssKiB, type LatencySummary, type LoadResult } from './common.js';
import {
  Cleanup,
  DaemonProcess,
  runLoad,
  askOnce,
  daemonEnv,
  makeAccounts,
  startProvider,
  startReference,
  storeGrants,
  waitAllValid,
  workspace,
  writeConfig,
} from './setup.js';

const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results.json', import.meta.url));

interface Settings {
  accounts: number;
  workers: number;
  concurrency: number[];
  durationS: number;
  rounds: number;
  warmupS: number;
  /** Unmeasured load on each server before a level's rounds (its figures are reported apart). */
  primeS: number;
  lifetimeS: number;
  /** At most this long, wait for the daemon to come to rest before measuring. */
  settleS: number;
  /** At rest: under 5 % of a core for this many seconds in a row. */
  quietS: number;
  /** After settling, this much more idle time before measuring (V8 returns a start's garbage only after a while idle). */
  idleS: number;
  /** Extra Node flags for the daemon only (e.g. --max-semi-space-size=2), to measure their effect. */
  nodeArgs: string[];
  out: string;
  profileDir: string | null;
  keep: boolean;
}

const USAGE = `usage: node dist/bench/run.js [--accounts 10000] [--workers 2] [--concurrency 1,16,64]
  [--duration 6] [--rounds 3] [--warmup 0.5] [--prime 5] [--lifetime 3600] [--settle 120] [--quiet 40] [--idle 0] [--node-args FLAGS] [--out FILE] [--profile DIR] [--keep]
       node dist/bench/run.js --scenario serving|memory|start|client|storm|churn [options]
       node dist/bench/run.js --scenario all [--only LIST] [--out FILE]   (npm run bench: the five of issue 7 and their targets)
See doc/benchmarks.md.`;

function settings(argv: string[]): Settings {
  const f = parseFlags(argv);
  const known = ['accounts', 'workers', 'concurrency', 'duration', 'rounds', 'warmup', 'prime', 'lifetime', 'settle', 'quiet', 'idle', 'node-args', 'out', 'profile', 'keep'];
  const unknown = [...f.keys()].filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new Error(`${unknown.map((k) => `--${k}`).join(', ')}: unknown option\n${USAGE}`);
  const concurrency = (f.get('concurrency') ?? '1,16,64').split(',').map((s) => Number(s.trim()));
  if (concurrency.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('--concurrency takes positive integers, e.g. 1,16,64');
  const profile = f.get('profile');
  return {
    accounts: Math.floor(numberFlag(f, 'accounts', 10_000)),
    workers: Math.floor(numberFlag(f, 'workers', 2)),
    concurrency,
    durationS: numberFlag(f, 'duration', 6),
    rounds: Math.floor(numberFlag(f, 'rounds', 3)),
    warmupS: f.get('warmup') === '0' ? 0 : numberFlag(f, 'warmup', 0.5),
    primeS: f.get('prime') === '0' ? 0 : numberFlag(f, 'prime', 5),
    lifetimeS: numberFlag(f, 'lifetime', 3600),
    settleS: numberFlag(f, 'settle', 120),
    quietS: Math.max(1, Math.floor(numberFlag(f, 'quiet', 40))),
    idleS: numberFlag(f, 'idle', 0),
    nodeArgs: (f.get('node-args') ?? '').split(' ').filter((a) => a !== ''),
    out: resolve(f.get('out') ?? DEFAULT_OUT),
    profileDir: profile === undefined ? null : resolve(profile),
    keep: f.has('keep'),
  };
}

function say(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** Busy below this share of one core for --quiet seconds in a row counts as at rest. */
const REST_PERCENT = 5;

/**
 * Waits (at most `maxS`) until the daemon is at rest: the start-up's
 * aftermath, such as the workers' garbage collection after 10,000 first
 * refreshes, belongs to the start, not to serving. V8 runs that collection
 * on its own schedule, 15–40 s after the refreshes end (a worker busy for 1–2
 * s at a time, fifth pass in doc/benchmarks.md), so at rest means quiet for
 * `quietS` seconds in a row, not for one or two. The reference server is idle
 * by then too, so both are measured from rest.
 */
async function settle(pid: number, maxS: number, quietS: number): Promise<{ ms: number; lastPercent: number; atRest: boolean; busySeconds: number }> {
  const began = performance.now();
  let last = processCpuMs(pid);
  let quiet = 0;
  let busySeconds = 0;
  let percent = 100;
  while (quiet < quietS && performance.now() - began < maxS * 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = processCpuMs(pid);
    percent = (now - last) / 10;
    last = now;
    quiet = percent < REST_PERCENT ? quiet + 1 : 0;
    if (percent >= REST_PERCENT) busySeconds++;
  }
  return { ms: Math.round(performance.now() - began), lastPercent: Math.round(percent * 10) / 10, atRest: quiet >= quietS, busySeconds };
}

/** One server at one concurrency, over all its rounds. */
interface Figures {
  /** Successful requests per second: all rounds' successes over all rounds' measured time. */
  rps: number;
  /** rps of each round: their spread shows how steady the machine was. */
  roundsRps: number[];
  requests: number;
  ok: number;
  failures: number;
  failureKinds: Record<string, number>;
  failureSamples: string[];
  /** Fresh connect → reply → close, successful requests of every round, ms. */
  latencyMs: LatencySummary;
  /** Server process CPU (all threads, user+system) per request, µs. */
  cpuPerRequestUs: number | null;
  /** Of which on its main thread, µs. */
  mainThreadCpuPerRequestUs: number | null;
  /** The load generator's own CPU per request, µs (it competes for the same cores). */
  loadCpuPerRequestUs: number;
}

function combine(rounds: LoadResult[]): Figures {
  const h = createHistogram();
  let requests = 0;
  let ok = 0;
  let elapsedMs = 0;
  let cpu: number | null = 0;
  let main: number | null = 0;
  let loadCpu = 0;
  const failureKinds: Record<string, number> = {};
  const failureSamples: string[] = [];
  for (const r of rounds) {
    for (const us of r.latenciesUs) h.record(Math.max(1, us));
    requests += r.requests;
    ok += r.ok;
    elapsedMs += r.elapsedMs;
    loadCpu += r.loadCpuMs;
    cpu = cpu === null || r.serverCpuMs === null ? null : cpu + r.serverCpuMs;
    main = main === null || r.serverMainThreadCpuMs === null ? null : main + r.serverMainThreadCpuMs;
    for (const [k, v] of Object.entries(r.failureKinds)) failureKinds[k] = (failureKinds[k] ?? 0) + v;
    failureSamples.push(...r.samples);
  }
  const ms = (us: number) => Math.round(us) / 1000;
  const per = (total: number | null) => (total === null || requests === 0 ? null : Math.round((total * 1000) / requests));
  return {
    rps: elapsedMs > 0 ? Math.round((ok * 1000) / elapsedMs) : 0,
    roundsRps: rounds.map((r) => r.rps),
    requests,
    ok,
    failures: requests - ok,
    failureKinds,
    failureSamples: failureSamples.slice(0, 5),
    latencyMs: ok === 0 ? { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 } : { p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) },
    cpuPerRequestUs: per(cpu),
    mainThreadCpuPerRequestUs: per(main),
    loadCpuPerRequestUs: per(loadCpu) ?? 0,
  };
}

interface Ratio {
  rps: number;
  p50: number;
  p99: number;
  cpuPerRequest: number | null;
}

function ratio(daemon: Figures, reference: Figures): Ratio {
  const r = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : 0);
  const cpu = daemon.cpuPerRequestUs !== null && reference.cpuPerRequestUs !== null ? r(daemon.cpuPerRequestUs, reference.cpuPerRequestUs) : null;
  return { rps: r(daemon.rps, reference.rps), p50: r(daemon.latencyMs.p50, reference.latencyMs.p50), p99: r(daemon.latencyMs.p99, reference.latencyMs.p99), cpuPerRequest: cpu };
}

/**
 * What a server did in its priming load: at the first level, the first
 * seconds of load after the daemon sat idle. A daemon whose hot path has
 * not run since its start serves the first few seconds at a fraction of its
 * steady rate while V8 compiles and optimises that path (the sixth pass in
 * doc/benchmarks.md: 2 s windows after 40 s idle, 162, 103, then 72–78 µs
 * per request); serving figures are the steady state, this is reported
 * apart so that the cold cost stays visible.
 */
interface PrimeFigures {
  rps: number;
  requests: number;
  failures: number;
  cpuPerRequestUs: number | null;
}

function primeFigures(r: LoadResult): PrimeFigures {
  const requests = r.requests + r.warmupRequests;
  return { rps: r.rps, requests, failures: r.failures, cpuPerRequestUs: r.serverCpuPerRequestUs };
}

interface Level {
  concurrency: number;
  /** The unmeasured priming load before the rounds; null with --prime 0. */
  prime: { mailtokend: PrimeFigures; reference: PrimeFigures } | null;
  mailtokend: Figures;
  reference: Figures;
  ratio: Ratio;
}

function table(levels: Level[]): string {
  const head = ['conc', 'server', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'failures', 'CPU µs/req', 'main thread µs/req'];
  const rows: string[][] = [];
  const n = (x: number) => x.toLocaleString('en-US');
  const f = (x: number) => (x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const us = (x: number | null) => (x === null ? '-' : n(x));
  const x = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)}×`);
  for (const l of levels) {
    for (const [name, r] of [['mailtokend', l.mailtokend], ['reference', l.reference]] as const) {
      rows.push([name === 'mailtokend' ? String(l.concurrency) : '', name, n(r.rps), f(r.latencyMs.p50), f(r.latencyMs.p99), f(r.latencyMs.max), n(r.failures), us(r.cpuPerRequestUs), us(r.mainThreadCpuPerRequestUs)]);
    }
    rows.push(['', 'ratio', x(l.ratio.rps), x(l.ratio.p50), x(l.ratio.p99), '', '', x(l.ratio.cpuPerRequest), '']);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < 2 ? `${'-'.repeat(w + 2)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

function machine() {
  const list = cpus();
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cpus: list.length,
    availableParallelism: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    date: new Date().toISOString(),
    /** 1/5/15-minute load average when the run began: other work on the machine skews every figure. */
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** The other scenarios of doc/benchmarks.md, each in its own module: `--scenario NAME`; `all` is bench/suite.ts. */
const SCENARIOS = ['serving', 'memory', 'start', 'client', 'storm', 'churn', 'all'] as const;

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let argv = process.argv.slice(2);
  const at = argv.findIndex((a) => a === '--scenario' || a.startsWith('--scenario='));
  if (at >= 0) {
    const name = argv[at]!.includes('=') ? argv[at]!.slice('--scenario='.length) : argv[at + 1];
    argv = argv.filter((_, i) => i !== at && !(i === at + 1 && !argv[at]!.includes('=')));
    if (!SCENARIOS.includes(name as (typeof SCENARIOS)[number])) throw new Error(`--scenario takes one of ${SCENARIOS.join(', ')}`);
    if (name !== 'serving') {
      const scenario = (await import(name === 'all' ? './suite.js' : `./scenario-${name}.js`)) as { run: (argv: string[]) => Promise<number> };
      return scenario.run(argv);
    }
  }
  const s = settings(argv);
  const began = performance.now();
  const host = machine();
  if (host.loadAverage[0]! > 0.5) say(`load average ${host.loadAverage.join(' ')}: the machine is busy, figures will be noisy`);
  // Ctrl-C or SIGTERM: the Cleanup tears everything down and exits 130.
  const cleanup = new Cleanup();
  try {
    const dir = workspace(cleanup, s.keep);
    say(
      `workspace ${dir}; ${s.accounts} accounts, ${s.workers} workers, concurrency ${s.concurrency.join('/')}, ` +
        `${s.durationS} s per level and server in ${s.rounds} rounds after ${s.primeS} s of priming`,
    );
    const emu = await startProvider(cleanup, dir, s.lifetimeS);
    const accounts = makeAccounts(s.accounts);
    const config = writeConfig({ dir, emu, accounts, workers: s.workers, maxConcurrentRefreshes: 200 });
    const env = daemonEnv(emu);
    let t = performance.now();
    await storeGrants(emu, config, accounts, env);
    const storeMs = performance.now() - t;
    say(`${s.accounts} grants stored in ${(storeMs / 1000).toFixed(1)} s`);

    const usersFile = join(dir, 'users.json');
    writeFileSync(usersFile, JSON.stringify(accounts.map((a) => a.user)));
    if (s.profileDir) mkdirSync(s.profileDir, { recursive: true });
    const nodeArgs = [...s.nodeArgs, ...(s.profileDir ? ['--cpu-prof', '--cpu-prof-dir', s.profileDir] : [])];
    t = performance.now();
    const daemon = new DaemonProcess(cleanup, config.path, env, nodeArgs);
    const readyMs = await daemon.ready;
    const validMs = await waitAllValid(config.adminSocket, s.accounts, 600_000);
    const allValidMs = performance.now() - t;
    say(`daemon pid ${daemon.pid} ready in ${(readyMs / 1000).toFixed(2)} s, all ${s.accounts} accounts valid ${(validMs / 1000).toFixed(2)} s later`);
    const startup = {
      storeMs: Math.round(storeMs),
      readyMs: Math.round(readyMs),
      allValidMs: Math.round(allValidMs),
      daemonCpuMsAtValid: Math.round(processCpuMs(daemon.pid)),
      daemonRssKiBAtValid: processRssKiB(daemon.pid),
    };
    const refreshesAtStart = Object.values(emu.stats().refreshes).reduce((a, b) => a + b, 0);
    emu.resetStats();
    const warningsBefore = daemon.problems.length;

    // The reference server answers with as many bytes as the daemon does: one reply size per provider.
    const replyBytes: Record<string, number> = {};
    for (const a of [accounts.find((x) => x.provider === 'google'), accounts.find((x) => x.provider === 'microsoft')]) {
      if (a !== undefined) replyBytes[a.provider] = (await askOnce(config.socket, `SMTP ${a.user}`)).length;
    }
    const sizes = Object.values(replyBytes);
    if (sizes.some((n) => n === 0)) throw new Error(`the daemon answered a request with nothing: ${JSON.stringify(replyBytes)}`);
    const refSocket = join(dir, 'run', 'reference.sock');
    const reference = await startReference(cleanup, refSocket, sizes);
    const rest = await settle(daemon.pid, s.settleS, s.quietS);
    say(
      `daemon ${rest.atRest ? `at rest (${s.quietS} s under ${REST_PERCENT} % of a core)` : 'still busy'} after ${(rest.ms / 1000).toFixed(1)} s; ` +
        `busy ${rest.busySeconds} s of it (${rest.lastPercent} % of a core in the last second)`,
    );
    if (s.idleS > 0) {
      say(`left idle ${s.idleS} s more before measuring`);
      await new Promise((r) => setTimeout(r, s.idleS * 1000));
    }

    const roundS = s.durationS / s.rounds;
    const budgetMs = (s.warmupS + roundS) * 1000 + 30_000;
    const common = ['--users', usersFile, '--duration', String(roundS), '--warmup', String(s.warmupS)];
    const daemonArgs = ['--socket', config.socket, '--mode', 'xoauth2', '--target', 'mailtokend', '--cpu-pid', String(daemon.pid)];
    const refArgs = ['--socket', refSocket, '--mode', 'reference', '--reply-sizes', sizes.join(','), '--target', 'reference', '--cpu-pid', String(reference.pid!)];
    const levels: Level[] = [];
    const tokens = new Map<string, Set<string>>();
    const collectTokens = (d: LoadResult) => {
      for (const [user, list] of Object.entries(d.tokens)) {
        let seen = tokens.get(user);
        if (seen === undefined) tokens.set(user, (seen = new Set()));
        for (const tok of list) seen.add(tok);
      }
    };
    for (const c of s.concurrency) {
      let prime: Level['prime'] = null;
      if (s.primeS > 0) {
        // Replies during priming are checked like any other: a wrong one fails the run.
        const primeArgs = ['--users', usersFile, '--duration', String(s.primeS), '--warmup', '0', '--concurrency', String(c)];
        const ref = await runLoad(cleanup, [...primeArgs, ...refArgs], s.primeS * 1000 + 30_000);
        const mt = await runLoad(cleanup, [...primeArgs, ...daemonArgs], s.primeS * 1000 + 30_000);
        collectTokens(mt);
        prime = { mailtokend: primeFigures(mt), reference: primeFigures(ref) };
        say(
          `concurrency ${c}, priming (not measured, ${s.primeS} s each): mailtokend ${mt.rps} req/s, ${mt.serverCpuPerRequestUs ?? '?'} µs/req; ` +
            `reference ${ref.rps} req/s, ${ref.serverCpuPerRequestUs ?? '?'} µs/req`,
        );
      }
      const rounds: { mailtokend: LoadResult[]; reference: LoadResult[] } = { mailtokend: [], reference: [] };
      for (let r = 0; r < s.rounds; r++) {
        // Alternate which server goes first, so neither always follows the other.
        const order = r % 2 === 0 ? (['reference', 'mailtokend'] as const) : (['mailtokend', 'reference'] as const);
        for (const target of order) {
          const args = [...common, ...(target === 'mailtokend' ? daemonArgs : refArgs), '--concurrency', String(c)];
          rounds[target].push(await runLoad(cleanup, args, budgetMs));
        }
      }
      for (const d of rounds.mailtokend) collectTokens(d);
      const level: Level = { concurrency: c, prime, mailtokend: combine(rounds.mailtokend), reference: combine(rounds.reference), ratio: { rps: 0, p50: 0, p99: 0, cpuPerRequest: null } };
      level.ratio = ratio(level.mailtokend, level.reference);
      levels.push(level);
      const d = level.mailtokend;
      say(
        `concurrency ${c}: mailtokend ${d.rps} req/s (rounds ${d.roundsRps.join(', ')}) p99 ${d.latencyMs.p99} ms, ${d.failures} failures; ` +
          `reference ${level.reference.rps} req/s (rounds ${level.reference.roundsRps.join(', ')}) p99 ${level.reference.latencyMs.p99} ms`,
      );
    }

    // Every token served must be one the provider issued to that user and still valid.
    let tokensSeen = 0;
    let invalidTokens = 0;
    let usersWithSeveralTokens = 0;
    for (const [user, set] of tokens) {
      tokensSeen += set.size;
      if (set.size > 1) usersWithSeveralTokens++;
      for (const tok of set) if (!emu.isValidAccessToken(tok, user)) invalidTokens++;
    }
    const refreshesDuringRun = Object.values(emu.stats().refreshes).reduce((a, b) => a + b, 0);
    const failures = levels.reduce(
      (a, l) => a + l.mailtokend.failures + l.reference.failures + (l.prime ? l.prime.mailtokend.failures + l.prime.reference.failures : 0),
      0,
    );
    const checks = {
      usersServed: tokens.size,
      tokensSeen,
      invalidTokens,
      usersWithSeveralTokens,
      refreshesAtStart,
      refreshesDuringRun,
      failures,
      daemonWarnings: daemon.problems.slice(warningsBefore).map((p) => `${p.level}: ${p.msg}`).slice(0, 20),
      daemonRssKiBAfter: processRssKiB(daemon.pid),
    };
    const passed = failures === 0 && invalidTokens === 0 && refreshesDuringRun === 0 && tokens.size === s.accounts;

    const tableText = table(levels);
    const { out: _out, ...shown } = s;
    const results = {
      machine: host,
      settings: { ...shown, oneConnectionPerRequest: true, request: 'SMTP user, then half-close' },
      startup,
      settle: rest,
      replyBytes,
      loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
      levels,
      checks,
      passed,
      table: tableText,
      totalSeconds: 0,
    };

    const problems = await cleanup.run();
    results.totalSeconds = Math.round((performance.now() - began) / 100) / 10;
    mkdirSync(resolve(s.out, '..'), { recursive: true });
    writeFileSync(s.out, `${JSON.stringify(results, null, 2)}\n`);

    const m = results.machine;
    process.stdout.write(
      `\nmailtokend socket benchmark: ${s.accounts} accounts (valid tokens), ${s.workers} workers, one fresh connection per request, ` +
        `${s.durationS} s per level and server (${s.rounds} alternating rounds${s.primeS > 0 ? `, after ${s.primeS} s of unmeasured priming each` : ''})\n` +
        `${m.cpuModel}, ${m.cpus} CPUs, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, load average ${m.loadAverage.join(' ')} at start, ${results.loadAverageAtEnd.join(' ')} at end\n\n${tableText}\n\n` +
        (levels[0]?.prime
          ? `cold: the first ${s.primeS} s of load after the daemon sat idle (priming at concurrency ${levels[0].concurrency}, not in the table): ` +
            `mailtokend ${levels[0].prime.mailtokend.rps.toLocaleString('en-US')} req/s, ${levels[0].prime.mailtokend.cpuPerRequestUs ?? '-'} µs/req; ` +
            `reference ${levels[0].prime.reference.rps.toLocaleString('en-US')} req/s, ${levels[0].prime.reference.cpuPerRequestUs ?? '-'} µs/req\n`
          : '') +
        `start: ready ${(startup.readyMs / 1000).toFixed(2)} s, all accounts valid ${(startup.allValidMs / 1000).toFixed(2)} s; ` +
        `daemon RSS ${checks.daemonRssKiBAfter === null ? '?' : Math.round(checks.daemonRssKiBAfter / 1024)} MiB\n` +
        `checks: ${checks.usersServed}/${s.accounts} accounts served, ${tokensSeen} distinct tokens, ${invalidTokens} not valid at the provider, ` +
        `${refreshesDuringRun} refreshes during measurement, ${failures} failed requests, ${checks.daemonWarnings.length} daemon warnings\n` +
        `${passed ? 'PASS' : 'FAIL'}; results in ${s.out}; ${results.totalSeconds} s in all\n`,
    );
    for (const p of problems) say(`cleanup: ${p}`);
    if (s.profileDir) say(`daemon CPU profile in ${s.profileDir}`);
    return passed ? 0 : 1;
  } finally {
    for (const p of await cleanup.run()) say(`cleanup: ${p}`);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    say(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  },
);
