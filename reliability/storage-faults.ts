/**
 * Scenario 7, storage faults (issue 9). `state_dir` is a small tmpfs of its
 * own, so the suite can make it read-only (remount) and full (a filler file)
 * while Microsoft refresh tokens rotate single-use every couple of seconds.
 * The daemon must keep serving from memory, log and run `error_notify_cmd`,
 * keep each rotated grant in memory, and store it once the disk takes writes
 * again: a kill -9 right after must lose nothing. Then, with the daemon
 * stopped, a corrupted grant file, key-check file and store key: each is
 * refused with a message that names the file, and none is replaced.
 *
 * Needs root (mount). Without it the two disk phases are reported as not run.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { grantFileName } from '../src/store/envelope.js';
import { addLogFile } from './evidence.js';
import { atMost, figure, info, loadAverage, sleep, storeHealth, untilAllGenuine, zero } from './checks.js';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from './types.js';
import { World, type AccountDef } from './world.js';

const LIFETIME_S = 4;
/** The keeper offers a refused grant to the store again this often (src/host/grant-keeper.ts). */
const PERSIST_RETRY_MS = 5_000;
const STORED_AGAIN = 'rotated grant stored again; nothing is held only in memory';
const REFUSED = 'could not store a rotated grant; keeping it in memory and retrying';

const ACCOUNTS: AccountDef[] = [
  { user: 'sf0@contoso.test', provider: 'microsoft' },
  { user: 'sf1@contoso.test', provider: 'microsoft' },
  { user: 'sf@gmail.test', provider: 'google' },
];
const USERS = ACCOUNTS.map((a) => a.user);

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

interface DiskPhase {
  name: string;
  asked: number;
  failed: number;
  refusedLogs: number;
  alerts: number;
  /** From the disk taking writes again to every held grant stored. */
  persistedMs?: number;
  /** After kill -9 and a restart: accounts not served a live token. */
  lostAfterKill: number;
  unreadable: number;
}

/** One disk fault: serve through it, then heal the disk, kill -9, and restart. */
async function diskPhase(w: World, name: string, alertsFile: string, holdMs: number, breakDisk: () => void, healDisk: () => void): Promise<DiskPhase> {
  const h = w.h;
  const d = h.daemon!;
  const phase: DiskPhase = { name, asked: 0, failed: 0, refusedLogs: 0, alerts: 0, lostAfterKill: 0, unreadable: 0 };
  const alertsBefore = existsSync(alertsFile) ? readFileSync(alertsFile, 'utf8').split('\n').filter((l) => l.includes('store-io')).length : 0;
  const refusedBefore = d.logged({ msg: REFUSED }).length;
  const storedBefore = d.logged({ msg: STORED_AGAIN }).length;
  breakDisk();
  const t0 = Date.now();
  while (Date.now() - t0 < holdMs) {
    const served = await Promise.all(USERS.map((u) => w.served(u)));
    phase.asked += served.length;
    phase.failed += served.filter((ok) => !ok).length;
    await sleep(250);
  }
  const refused = d.logged({ msg: REFUSED }).slice(refusedBefore);
  phase.refusedLogs = refused.length;
  const held = new Set(refused.map((l) => String(l.account)));
  // The notify command runs in the background: give it a moment.
  await sleep(500);
  phase.alerts = (existsSync(alertsFile) ? readFileSync(alertsFile, 'utf8').split('\n').filter((l) => l.includes('store-io')).length : 0) - alertsBefore;
  const healed = Date.now();
  healDisk();
  try {
    await d.waitForLog('held grants stored', { msg: STORED_AGAIN }, storedBefore + held.size, PERSIST_RETRY_MS + 10_000);
    phase.persistedMs = Date.now() - healed;
  } catch {
    // counted below: the kill shows what was lost
  }
  await h.stop('SIGKILL');
  const health = await storeHealth(h, USERS);
  phase.unreadable = health.corrupt.length + (health.error ? 1 : 0);
  await h.start();
  phase.lostAfterKill = (await untilAllGenuine(h, USERS, 10_000)).failing.length;
  return phase;
}

interface CorruptCheck {
  what: string;
  named: boolean;
  refused: boolean;
  changed: boolean;
  detail: string;
}

/** Corrupts `path` (the daemon stopped), starts the daemon, and sees how it takes it. */
async function corruptAndStart(w: World, what: string, path: string, mangle: (bytes: Buffer) => Buffer, expectStart: boolean, settleMs: number): Promise<CorruptCheck> {
  const h = w.h;
  const original = readFileSync(path);
  const bad = mangle(Buffer.from(original));
  writeFileSync(path, bad, { mode: 0o600 });
  const check: CorruptCheck = { what, named: false, refused: false, changed: false, detail: '' };
  try {
    if (expectStart) {
      await h.start();
      // The account tries (and must fail) to use the file at once; the others refresh meanwhile.
      await sleep(settleMs);
      const rows = await h.status();
      const user = ACCOUNTS.find((a) => a.provider === 'google')!.user;
      const row = rows.find((r) => r.user === user);
      const logged = h.daemon!.logLines().some((l) => String(l.error ?? '').includes(path));
      check.refused = row?.state === 'unauthenticated' && row.lastError?.code === 'store-corrupt';
      check.named = logged && (row?.lastError?.message ?? '').includes(path);
      check.detail = `${user}: ${row?.state}, ${row?.lastError?.code}: ${row?.lastError?.message ?? ''}`;
      const others = await untilAllGenuine(h, USERS.filter((u) => u !== user), 5_000);
      if (others.failing.length) check.detail += `; others not served: ${others.failing.join(', ')}`;
      check.refused &&= others.failing.length === 0;
      await h.stop('SIGTERM');
    } else {
      const daemon = h.spawnDaemon();
      const timer = setTimeout(() => daemon.child.kill('SIGKILL'), 30_000);
      const exit = await daemon.exited;
      clearTimeout(timer);
      // EXIT.failure: a refusal the daemon explains, not a crash (70, "unexpected error").
      check.refused = exit.code === 1;
      check.named = daemon.output.includes(path);
      check.detail = `exit ${exit.code}: ${daemon.output.trim().split('\n').slice(-1)[0]?.slice(0, 300) ?? ''}`;
    }
    check.changed = !readFileSync(path).equals(bad);
  } finally {
    writeFileSync(path, original, { mode: 0o600 });
  }
  return check;
}

export async function runStorageFaults(options: ScenarioOptions): Promise<ScenarioResult> {
  const started = performance.now();
  // Rotations come about every 2 s: the fast subset holds the fault for one or two of them.
  const holdMs = options.fast ? 3_000 : LIFETIME_S * 2500;
  const w = await World.create({ workDir: options.workDir, name: 'storage-faults', accounts: ACCOUNTS, lifetime: LIFETIME_S, rotation: 'single-use', workers: 2, start: false });
  const h = w.h;
  const alertDir = mkdtempSync(join(options.workDir, 'alerts-'));
  const alertsFile = join(alertDir, 'error-notify.txt');
  // Values reach the command only in its environment (doc/signin.md).
  const notify = ['/bin/sh', '-c', `printf '%s\\t%s\\n' "$MAILTOKEND_ACCOUNT" "$MAILTOKEND_MESSAGE" >> ${alertsFile}`];
  h.writeConfig(`error_notify_cmd = ${JSON.stringify(notify)}\n${h.configText()}`);
  const state = h.stateDir;
  const seed = `${state}.seed`;
  const notes: string[] = [];
  let mounted = false;
  let readOnly = false;
  const phases: DiskPhase[] = [];
  const corrupt: CorruptCheck[] = [];
  try {
    renameSync(state, seed);
    mkdirSync(state, { mode: 0o700 });
    try {
      sh('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', state]);
      mounted = true;
    } catch (error) {
      notes.push(`mount refused (${error instanceof Error ? error.message.split('\n')[0] : String(error)}): the read-only and full phases need root or CAP_SYS_ADMIN and did not run`);
    }
    sh('cp', ['-a', `${seed}/.`, state]);
    rmSync(seed, { recursive: true, force: true });
    await w.start();

    if (mounted) {
      phases.push(
        await diskPhase(w, 'read-only', alertsFile, holdMs,
          () => {
            sh('mount', ['-o', 'remount,ro', state]);
            readOnly = true;
          },
          () => {
            sh('mount', ['-o', 'remount,rw', state]);
            readOnly = false;
          }),
      );
      options.log('storage-faults: read-only phase done');
    }
    if (mounted && !options.fast) {
      const filler = join(state, 'filler');
      phases.push(
        await diskPhase(w, 'full', alertsFile, holdMs,
          () => {
            try {
              sh('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k']);
            } catch {
              // dd stops at ENOSPC, which is the point
            }
          },
          () => rmSync(filler, { force: true })),
      );
      options.log('storage-faults: full phase done');
    }

    await h.stop('SIGTERM');
    const grantPath = join(state, 'grants', grantFileName(ACCOUNTS.find((a) => a.provider === 'google')!.user.toLowerCase()));
    const flipMiddle = (b: Buffer): Buffer => {
      const i = Math.floor(b.length / 2);
      for (let k = i; k < Math.min(b.length, i + 16); k++) b[k] = b[k] === 0x41 ? 0x42 : 0x41;
      return b;
    };
    corrupt.push(await corruptAndStart(w, 'grant file', grantPath, flipMiddle, true, options.fast ? 1_000 : LIFETIME_S * 1000));
    corrupt.push(await corruptAndStart(w, 'key-check file', join(state, 'key-check.json'), flipMiddle, false, 0));
    corrupt.push(await corruptAndStart(w, 'store key', join(state, 'store.key'), (b) => b.subarray(0, Math.floor(b.length / 2)), false, 0));
    // Every file back as it was: the daemon starts and serves everybody.
    await h.start();
    const after = await untilAllGenuine(h, USERS, 10_000);
    for (const c of corrupt) notes.push(`corrupted ${c.what}: ${c.detail}`);
    for (const p of phases) notes.push(`${p.name}: ${p.refusedLogs} refused writes logged, ${p.alerts} error_notify_cmd alerts, stored ${p.persistedMs === undefined ? 'never' : `${(p.persistedMs / 1000).toFixed(1)} s`} after the disk healed`);

    const notRun = (name: string): Figure => figure(name, 'not run (mount refused)', '= 0', false);
    const sum = (f: (p: DiskPhase) => number) => phases.reduce((n, p) => n + f(p), 0);
    const figures: Figure[] = [
      info('disk faults during rotation (tmpfs state_dir)', mounted ? phases.map((p) => p.name).join(', ') : 'none'),
      mounted ? zero(`token requests failed while the disk refused writes (of ${sum((p) => p.asked)})`, sum((p) => p.failed)) : notRun('token requests failed while the disk refused writes'),
      mounted ? zero('disk faults without a log line', phases.filter((p) => p.refusedLogs === 0).length) : notRun('disk faults without a log line'),
      mounted ? zero('disk faults without an error_notify_cmd alert', phases.filter((p) => p.alerts === 0).length) : notRun('disk faults without an error_notify_cmd alert'),
      mounted
        ? atMost('held grants stored after the disk healed, max (s)', Number((Math.max(...phases.map((p) => p.persistedMs ?? 99_000)) / 1000).toFixed(1)), (PERSIST_RETRY_MS + 2_000) / 1000, ' s')
        : notRun('held grants stored after the disk healed'),
      mounted ? zero('accounts lost to a kill -9 right after the disk healed', sum((p) => p.lostAfterKill)) : notRun('accounts lost to a kill -9 right after the disk healed'),
      zero('store files unreadable after a kill', sum((p) => p.unreadable)),
      zero('corrupted files not refused (grant, key-check, store key)', corrupt.filter((c) => !c.refused).length),
      zero('refusals that do not name the file', corrupt.filter((c) => !c.named).length),
      zero('corrupted files replaced or changed by the daemon', corrupt.filter((c) => c.changed).length),
      zero('accounts not served once the files are restored', after.failing.length),
      info('load average at the end', loadAverage()),
    ];
    return { id: 'storage-faults', title: storageFaults.title, figures, seconds: (performance.now() - started) / 1000, notes };
  } finally {
    for (const d of h.runs) if (d.running) await d.stop('SIGKILL');
    if (mounted) {
      try {
        if (readOnly) sh('mount', ['-o', 'remount,rw', state]);
        // Keep what the daemon wrote for the secrets search, then give the directory back.
        mkdirSync(seed, { mode: 0o700 });
        sh('cp', ['-a', `${state}/.`, seed]);
        sh('umount', [state]);
        rmSync(state, { recursive: true, force: true });
        renameSync(seed, state);
      } catch (error) {
        appendFileSync(join(options.workDir, 'storage-faults-cleanup.txt'), `${String(error)}\n`);
      }
    }
    // What the daemon handed error_notify_cmd is daemon output too: the secrets scenario searches it.
    if (existsSync(alertsFile)) addLogFile(alertsFile);
    await w.close();
  }
}

export const storageFaults: Scenario = {
  id: 'storage-faults',
  title: 'Storage faults: read-only and full state_dir, corrupted store files',
  run: runStorageFaults,
};
