/**
 * `--scenario all`, what `npm run bench` runs: the five scenarios of issue 7
 * in turn, each in a process of its own with its defaults (a scenario's
 * daemons, emulator and garbage never overlap the next one's), then one
 * table of the issue's targets, read from their results.
 *
 *   node dist/bench/run.js --scenario all [--only serving,start] [--out FILE]
 *
 * Every scenario writes its own `results-NAME.json` beside FILE (default
 * bench/results.json); FILE gets all of them and the targets. The exit code
 * is 1 when a scenario's checks failed (a wrong or empty reply, a token the
 * provider did not issue): a missed target is a figure, reported, not a
 * failure of the run.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags } from './common.js';
import { machine, say } from './scenario-common.js';

/** In this order: the client's few milliseconds are measured before the long, heavy scenarios leave the machine busy. */
export const SUITE = ['serving', 'client', 'start', 'memory', 'storm'] as const;

/** Between scenarios: the last one's teardown (daemons exiting, temp dirs removed) stays out of the next one's figures. */
const PAUSE_MS = 10_000;
type SuiteScenario = (typeof SUITE)[number];

const RUN_JS = fileURLToPath(new URL('./run.js', import.meta.url));
const DEFAULT_OUT = fileURLToPath(new URL('../../bench/results.json', import.meta.url));

export interface TargetRow {
  scenario: SuiteScenario;
  target: string;
  figure: string;
  /** null: the scenario did not produce the figure (it failed or was not run). */
  met: boolean | null;
}

/** A field of a parsed results file, or undefined: the files are JSON we wrote, read back without trusting their shape. */
function field(value: unknown, ...path: (string | number)[]): unknown {
  let at = value;
  for (const key of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string | number, unknown>)[key];
  }
  return at;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

const times = (x: number | undefined) => (x === undefined ? '?' : `${x.toFixed(2)}×`);

function row(scenario: SuiteScenario, target: string, value: number | undefined, figure: string, ok: (v: number) => boolean): TargetRow {
  return { scenario, target, figure: value === undefined ? '—' : figure, met: value === undefined ? null : ok(value) };
}

/** The issue's targets, from each scenario's results (undefined: the scenario gave none). */
export function targetRows(results: Partial<Record<SuiteScenario, unknown>>): TargetRow[] {
  const rows: TargetRow[] = [];
  const serving = results.serving;
  const levels = field(serving, 'levels');
  for (const c of [16, 64]) {
    const level = Array.isArray(levels) ? levels.find((l) => field(l, 'concurrency') === c) : undefined;
    const rps = num(field(level, 'ratio', 'rps'));
    const cpu = num(field(level, 'ratio', 'cpuPerRequest'));
    const p99 = num(field(level, 'ratio', 'p99'));
    rows.push(row('serving', `serving, concurrency ${c}: req/s ≥ 0.8× reference`, rps, times(rps), (v) => v >= 0.8));
    rows.push(row('serving', `serving, concurrency ${c}: CPU per request ≤ 1.4× reference`, cpu, times(cpu), (v) => v <= 1.4));
    rows.push(row('serving', `serving, concurrency ${c}: p99 ≤ 1.5× reference`, p99, times(p99), (v) => v <= 1.5));
  }
  const perAccount = field(results.memory, 'perAccount');
  const at50k = num(field(Array.isArray(perAccount) ? perAccount.find((p) => field(p, 'accounts') === 50_000) : undefined, 'kibPerAccount'));
  rows.push(row('memory', 'memory: ≤ 5 KiB per idle account at 50,000', at50k, `${at50k} KiB`, (v) => v <= 5));
  const answered = num(field(results.start, 'answered'));
  const accounts = num(field(results.start, 'settings', 'accounts'));
  const allMs = answered !== undefined && answered === accounts ? num(field(results.start, 'allAnsweredMs')) : undefined;
  const refMs = num(field(results.start, 'reference', 'allAnsweredMs'));
  rows.push(
    row('start', 'start: 10,000 accounts served within 2 s', allMs, `${((allMs ?? 0) / 1000).toFixed(2)} s (reference server ${((refMs ?? 0) / 1000).toFixed(2)} s)`, (v) => v <= 2000),
  );
  const storm = results.storm;
  const late = num(field(storm, 'late100ms'));
  const empty = num(field(storm, 'empty'));
  const expired = num(field(storm, 'expiredTokensServed'));
  const failures = late === undefined || empty === undefined || expired === undefined ? undefined : late + empty + expired;
  rows.push(row('storm', 'storm: 0 requests late, empty or expired', failures, `${late} / ${empty} / ${expired}`, () => field(storm, 'targets', 'noneLateEmptyExpired') === true));
  const cap = num(field(storm, 'settings', 'capPerProvider'));
  const inFlight = [num(field(storm, 'maxInFlight', 'google')), num(field(storm, 'maxInFlight', 'microsoft'))];
  const most = inFlight.includes(undefined) ? undefined : Math.max(...(inFlight as number[]));
  rows.push(row('storm', 'storm: refreshes in flight never above the cap', most, `${inFlight.join(' / ')} (cap ${cap})`, () => field(storm, 'targets', 'capRespected') === true));
  const perLifetime = num(field(storm, 'refreshesPerAccountPerLifetime'));
  rows.push(row('storm', 'storm: ≤ 1.1 refreshes per account per lifetime', perLifetime, `${perLifetime?.toFixed(2)}`, (v) => v <= 1.1));
  const client = num(field(results.client, 'ratio'));
  rows.push(row('client', 'client: ≤ 1.15× `node -e 0`', client, times(client), (v) => v <= 1.15));
  return rows;
}

export function targetTable(rows: TargetRow[]): string {
  const lines = ['| target | figure | met? |', '| --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${r.target} | ${r.figure} | ${r.met === null ? 'no figure' : r.met ? 'yes' : '**no**'} |`);
  return lines.join('\n');
}

function runScenario(name: SuiteScenario, out: string): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [RUN_JS, '--scenario', name, '--out', out], { stdio: 'inherit' });
    // A stopped suite stops the scenario it is in; the scenario cleans up its own children and temp dir.
    // SIGTERM either way: a Ctrl-C has already reached the child through the terminal, and a
    // second SIGINT would end a scenario that handles only the first one in the middle of its cleanup.
    const forward = () => child.kill('SIGTERM');
    process.on('SIGINT', forward).on('SIGTERM', forward);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
      resolvePromise(code ?? (signal ? 128 : 1));
    });
  });
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv);
  const unknown = [...f.keys()].filter((k) => k !== 'only' && k !== 'out');
  if (unknown.length > 0) throw new Error(`${unknown.map((k) => `--${k}`).join(', ')}: unknown option for --scenario all (only --only and --out)`);
  const only = f.get('only')?.split(',').map((s) => s.trim());
  const bad = only?.filter((s) => !SUITE.includes(s as SuiteScenario));
  if (bad && bad.length > 0) throw new Error(`--only takes some of ${SUITE.join(', ')}; not ${bad.join(', ')}`);
  const chosen = SUITE.filter((s) => only === undefined || only.includes(s));
  const out = resolve(f.get('out') ?? DEFAULT_OUT);
  const began = performance.now();
  const host = machine();
  const exitCodes: Partial<Record<SuiteScenario, number>> = {};
  const results: Partial<Record<SuiteScenario, unknown>> = {};
  // Stopped: the scenario running ends (runScenario forwards the signal) and no other starts.
  let stoppedBy: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => (stoppedBy ??= signal);
  process.on('SIGINT', stop).on('SIGTERM', stop);
  for (const name of chosen) {
    if (name !== chosen[0]) await new Promise((done) => setTimeout(done, PAUSE_MS));
    if (stoppedBy) break;
    say(`suite: ${name} (${chosen.indexOf(name) + 1} of ${chosen.length})`);
    const file = join(dirname(out), `results-${name}.json`);
    // An earlier run's file must not stand in for a scenario that wrote none this time.
    rmSync(file, { force: true });
    const t = performance.now();
    exitCodes[name] = await runScenario(name, file);
    say(`suite: ${name} ended with exit code ${exitCodes[name]} after ${Math.round((performance.now() - t) / 1000)} s`);
    try {
      results[name] = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    } catch {
      // No results: its rows say "no figure", and its exit code fails the suite.
    }
  }
  const ran = chosen.filter((s) => exitCodes[s] !== undefined);
  const rows = targetRows(results).filter((r) => ran.includes(r.scenario));
  const failed = ran.filter((s) => exitCodes[s] !== 0);
  const totalSeconds = Math.round((performance.now() - began) / 1000);
  writeFileSync(out, `${JSON.stringify({ suite: ran, stoppedBy, machine: host, totalSeconds, exitCodes, targets: rows, scenarios: results }, null, 2)}\n`);
  process.stdout.write(
    `\nmailtokend benchmark suite: ${ran.join(', ')}${stoppedBy ? ` (stopped by ${stoppedBy})` : ''}; ${host.cpuModel}, ${host.cpus} CPUs, Node ${host.node}, ` +
      `load average ${host.loadAverage.join(' ')} at start; ${totalSeconds} s in all\n\n${targetTable(rows)}\n\n` +
      (stoppedBy
        ? `stopped by ${stoppedBy}: the table holds the scenarios that ended\n`
        : failed.length > 0
          ? `FAILED checks in: ${failed.join(', ')}\n`
          : 'every check passed (replies right, tokens valid at the provider)\n') +
      `results in ${out}\n`,
  );
  return stoppedBy ? 130 : failed.length > 0 ? 1 : 0;
}
