/**
 * `npm run reliability`: runs the reliability scenarios (issue 9) against the
 * built daemon and the provider emulator, prints one table of figures,
 * updates doc/reliability.md, and exits 1 if any figure misses its bound.
 *
 *   node dist/reliability/run.js [--fast] [--only hostile,flood]
 *
 * --fast runs the small variant of each scenario (what `npm test` runs) and
 * leaves doc/reliability.md alone. Each scenario gets its own work dir; all
 * of them are removed at the end (after the secrets scenario has read the
 * logs in them), also on Ctrl-C.
 *
 * The emulator's CA must be trusted through NODE_EXTRA_CA_CERTS, which Node
 * reads only at start, and the silent-clients scenario needs more than 1,024
 * file descriptors: so the runner makes a CA and re-runs itself in a child
 * with both set up.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCa } from '../emulator/index.js';
import { writeReport, type RunTime } from './report.js';
import { scenarios } from './scenarios.js';
import type { ScenarioResult } from './types.js';

const FILES_WANTED = 4_096;
/** A scenario still running after this is stopped with the suite (its own bounds should end it long before). */
const SCENARIO_LIMIT_S = { full: 30 * 60, fast: 3 * 60 };

function parseArgs(argv: string[]): { fast: boolean; only: string[] | undefined } {
  let fast = false;
  let only: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--fast') fast = true;
    else if (a === '--only') only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a.startsWith('--only=')) only = a.slice(7).split(',').filter(Boolean);
    else {
      process.stderr.write(`reliability: unknown argument ${a}\nusage: node dist/reliability/run.js [--fast] [--only ${scenarios.map((s) => s.id).join(',')}]\n`);
      process.exit(2);
    }
  }
  const unknown = (only ?? []).filter((id) => !scenarios.some((s) => s.id === id));
  if (unknown.length) {
    process.stderr.write(`reliability: no scenario ${unknown.join(', ')} (there are: ${scenarios.map((s) => s.id).join(', ')})\n`);
    process.exit(2);
  }
  return { fast, only };
}

function openFilesLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
  return m?.[1] === 'unlimited' ? Infinity : Number(m?.[1] ?? 0);
}

/** Parent: make the CA, raise the soft file limit to the hard one, run the suite in a child. */
async function parent(): Promise<void> {
  const caDir = mkdtempSync(join(tmpdir(), 'mailtokend-reliability-ca-'));
  const { caFile } = await ensureCa(caDir);
  const script = fileURLToPath(import.meta.url);
  const env = { ...process.env, MAILTOKEND_TEST_CA_DIR: caDir, NODE_EXTRA_CA_CERTS: caFile, MAILTOKEND_RELIABILITY_CHILD: '1' };
  const child = spawn('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', process.execPath, script, ...process.argv.slice(2)], {
    env,
    stdio: 'inherit',
  });
  // Ctrl-C reaches the child through the terminal; a SIGTERM sent to this process alone is passed on.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  const code: number = await new Promise((resolve) => child.on('close', (c, signal) => resolve(c ?? (signal ? 130 : 1))));
  rmSync(caDir, { recursive: true, force: true });
  process.exit(code);
}

async function suite(): Promise<void> {
  const { fast, only } = parseArgs(process.argv.slice(2));
  const chosen = scenarios.filter((s) => only === undefined || only.includes(s.id));
  const workDirs: string[] = [];
  const removeWorkDirs = (): void => {
    for (const dir of workDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  };
  const interrupted = (signal: string) => () => {
    process.stderr.write(`\nreliability: ${signal}, cleaning up\n`);
    removeWorkDirs();
    // The harness's exit handlers kill every daemon and client and remove their temp dirs.
    process.exit(130);
  };
  process.once('SIGINT', interrupted('interrupted'));
  process.once('SIGTERM', interrupted('terminated'));

  const loadStart = loadavg();
  const files = openFilesLimit();
  const log = (line: string): void => {
    process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  };
  log(`reliability: ${chosen.map((s) => s.id).join(', ')}${fast ? ' (fast)' : ''}; load average ${loadStart.map((l) => l.toFixed(2)).join(' ')}; open files limit ${files}`);
  if (files < FILES_WANTED) log(`reliability: the open files limit (${files}) is below ${FILES_WANTED}: raise the hard limit (ulimit -Hn) for the silent-clients scenario`);

  const results: ScenarioResult[] = [];
  const times = new Map<string, RunTime>();
  try {
    for (const s of chosen) {
      const workDir = mkdtempSync(join(tmpdir(), `mailtokend-reliability-${s.id}-`));
      workDirs.push(workDir);
      const t0 = performance.now();
      const time: RunTime = { started: new Date(), loadStart: loadavg(), loadEnd: [] };
      times.set(s.id, time);
      log(`── ${s.id}: ${s.title}`);
      const limit = fast ? SCENARIO_LIMIT_S.fast : SCENARIO_LIMIT_S.full;
      let timer: NodeJS.Timeout | undefined;
      const overTime = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still running after ${limit} s; the suite stops here`)), limit * 1000);
      });
      try {
        results.push(await Promise.race([s.run({ fast, log, workDir }), overTime]));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log(`${s.id} failed: ${error instanceof Error && error.stack ? error.stack : message}`);
        results.push({
          id: s.id,
          title: s.title,
          seconds: (performance.now() - t0) / 1000,
          figures: [{ name: 'scenario ran to its end', value: message.split('\n')[0]!.slice(0, 160), bound: 'no error', ok: false }],
        });
        // An overrunning scenario may still hold daemons and clients: end the suite (exit kills them).
        if (message.startsWith('still running after')) break;
      } finally {
        clearTimeout(timer);
        time.loadEnd = loadavg();
      }
    }
  } finally {
    removeWorkDirs();
  }

  const machine = {
    cpu: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: release(),
    node: process.version,
    fast,
  };
  const { table, ok, docNote } = writeReport(results, machine, times, !fast);
  process.stdout.write(`\n${table}\n`);
  for (const r of results) for (const note of (r.notes ?? []).slice(0, 12)) process.stdout.write(`${r.id}: ${note}\n`);
  log(`reliability: load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${docNote}`);
  log(ok ? 'reliability: every figure within its bound' : 'reliability: FAILED: a figure is out of bounds (marked ✗)');
  process.exit(ok ? 0 : 1);
}

if (process.env.MAILTOKEND_RELIABILITY_CHILD === '1') await suite();
else await parent();
