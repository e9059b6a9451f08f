/**
 * The operations feature inside a real daemon (in this process, real workers,
 * real provider libraries against the emulator): the clock-jump watchdog and
 * WAKE, `refresh --all` pacing, `revoke --remote` for Google (revoked at the
 * provider; kept when the provider cannot be reached) and Microsoft (honestly
 * unsupported), `reload` refusing a broken file, and `shutdown`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { ClockWatch } from '../src/ops/clock-watch.js';
import { createLogger } from '../src/log.js';
import { installOps } from '../src/ops/index.js';
import { SystemdNotifier } from '../src/ops/systemd.js';
import type { ActionResult } from '../src/host/messages.js';
import type { RefreshAllSummary } from '../src/ops/refresh-all.js';
import { startEmulator } from '../emulator/index.js';
import { testCaDir } from '../emulator/testing.js';
import { GOOGLE_CLIENT, GOOGLE_SECRET, startInProcess, type InProcess, type InProcessAccount } from './helpers/ops-daemon.js';

test('ClockWatch: steady clocks and a busy event loop are not jumps', () => {
  let wall = 1_000_000;
  let mono = 50;
  const jumps: number[] = [];
  const watch = new ClockWatch({ wall: () => wall, mono: () => mono, onJump: (j) => jumps.push(j) });
  for (let i = 0; i < 10; i++) {
    wall += 2_000;
    mono += 2_000;
    assert.is(watch.check(), undefined);
  }
  // A 30 s stall (both clocks move) and ordinary drift are not jumps.
  wall += 30_000;
  mono += 30_000;
  wall += 40;
  assert.is(watch.check(), undefined);
  assert.equal(jumps, []);
});

test('ClockWatch: a suspend (wall moves, monotonic does not) and a clock stepped back are jumps', () => {
  let wall = 1_000_000;
  let mono = 50;
  const jumps: Array<[number, number]> = [];
  const watch = new ClockWatch({ wall: () => wall, mono: () => mono, onJump: (j, now) => jumps.push([j, now]) });
  wall += 2 * 3600_000 + 2_000; // two hours asleep
  mono += 2_000;
  assert.ok(watch.check());
  wall += 2_000;
  mono += 2_000;
  assert.is(watch.check(), undefined, 'the jump is reported once');
  wall -= 60_000; // NTP steps back a minute
  mono += 2_000;
  watch.check();
  assert.equal(jumps, [
    [2 * 3600_000, 1_000_000 + 2 * 3600_000 + 2_000],
    [-62_000, 1_000_000 + 2 * 3600_000 + 4_000 - 60_000],
  ]);
});

test('SystemdNotifier: silent without NOTIFY_SOCKET; a missing systemd-notify is reported once, never thrown', async () => {
  const lines: string[] = [];
  const log = createLogger('debug', 'json', new (class extends Writable {
    override _write(c: Buffer, _e: BufferEncoding, cb: () => void) {
      lines.push(c.toString());
      cb();
    }
  })());
  const spawned: string[][] = [];
  const fakeSpawn = ((_cmd: string, args: string[]) => {
    spawned.push(args);
    const child = new EventEmitter() as EventEmitter & { kill(): void; stderr: null };
    child.kill = () => undefined;
    child.stderr = null;
    setImmediate(() => child.emit('error', Object.assign(new Error('spawn systemd-notify ENOENT'), { code: 'ENOENT' })));
    return child;
  }) as unknown as typeof spawn;
  const off = new SystemdNotifier({}, log, fakeSpawn);
  await off.ready('x');
  assert.is(off.enabled, false);
  assert.equal(spawned, []);
  const on = new SystemdNotifier({ NOTIFY_SOCKET: '/run/systemd/notify' }, log, fakeSpawn);
  await on.ready('serving 1 accounts on 1 sockets');
  await on.stopping();
  assert.equal(spawned, [['--ready', `--pid=${process.pid}`, '--status=serving 1 accounts on 1 sockets']]);
  assert.is(lines.filter((l) => l.includes('systemd-notify is not installed')).length, 1);
});

const ACCOUNTS: InProcessAccount[] = [
  { user: 'g1@gmail.test', provider: 'google' },
  { user: 'g2@gmail.test', provider: 'google' },
  { user: 'g3@gmail.test', provider: 'google' },
  { user: 'm1@contoso.test', provider: 'microsoft' },
  { user: 'm2@contoso.test', provider: 'microsoft' },
  { user: 'm3@contoso.test', provider: 'microsoft' },
  { user: 'nobody@gmail.test', provider: 'google', grant: false },
  { user: 'unreachable@gmail.test', provider: 'google-unreachable' },
];

let d: InProcess;

test.before(async () => {
  const emulator = await startEmulator({ caDir: testCaDir() });
  d = await startInProcess({
    accounts: ACCOUNTS,
    features: [installOps],
    emulator,
    // A Google section whose revoke endpoint nobody answers: remote revocation must fail safe.
    extra: [
      '[provider.google-unreachable]',
      'type = "google"',
      `auth_url = "${emulator.google.authUrl}"`,
      `token_url = "${emulator.google.tokenUrl}"`,
      'revoke_url = "https://127.0.0.1:1/revoke"',
      `client_id = "${GOOGLE_CLIENT}"`,
      `client_secret = "${GOOGLE_SECRET}"`,
    ].join('\n'),
  });
});

test.after(async () => {
  await d?.close();
  await d?.emu.close();
});

const refreshes = (user: string) => d.emu.stats().refreshes[user] ?? 0;
const status = async () => (await d.daemon.context.admin.dispatch({ cmd: 'status' })) as unknown as { accounts: Array<{ user: string; state: string; expiresAt?: number }> };

test('WAKE after sleeping past expiry refreshes every lapsed token at once; a WAKE before expiry only re-arms', async () => {
  const before = Object.fromEntries(ACCOUNTS.map((a) => [a.user, refreshes(a.user)]));
  await d.daemon.context.pool.wake(Date.now());
  await new Promise((r) => setTimeout(r, 300));
  for (const a of ACCOUNTS) assert.is(refreshes(a.user), before[a.user], `${a.user}: no refresh while its token is good`);

  // As the watchdog does after a resume: the wall clock says two hours later than the timers knew.
  await d.daemon.context.pool.wake(Date.now() + 2 * 3600_000);
  for (const a of ACCOUNTS.filter((x) => x.grant !== false)) {
    await waitFor(() => refreshes(a.user) === before[a.user]! + 1, `${a.user} refreshed after the wake`);
  }
  assert.is(refreshes('nobody@gmail.test'), 0);
  await waitFor(async () => (await status()).accounts.filter((a) => a.state === 'valid').length === 7, 'all valid again');
});

test('refresh --all is paced at the asked rate, skips accounts without a grant, and runs once at a time', async () => {
  const admin = d.daemon.context.admin;
  const before = Object.fromEntries(ACCOUNTS.map((a) => [a.user, refreshes(a.user)]));
  const started = Date.now();
  const running = admin.dispatch({ cmd: 'refresh-all', rate: 10 });
  await new Promise((r) => setTimeout(r, 50));
  const second = await admin.dispatch({ cmd: 'refresh-all', rate: 10 }).catch((e: { code?: string }) => e.code);
  assert.is(second, 'refresh-all-running');
  const { summary } = (await running) as unknown as { summary: RefreshAllSummary };
  const ms = Date.now() - started;
  assert.is(summary.total, 7);
  assert.is(summary.ok, 7);
  assert.is(summary.skipped, 1);
  assert.is(summary.failed, 0);
  // Seven refreshes at 10 per second: the last one starts 600 ms after the first.
  assert.ok(ms >= 600, `took ${ms} ms`);
  for (const a of ACCOUNTS.filter((x) => x.grant !== false)) assert.is(refreshes(a.user), before[a.user]! + 1, a.user);

  const filtered = (await admin.dispatch({ cmd: 'refresh-all', rate: 50, provider: 'microsoft' })) as unknown as { summary: RefreshAllSummary };
  assert.is(filtered.summary.total, 3);
  const bad = await admin.dispatch({ cmd: 'refresh-all', rate: 0 }).catch((e: { code?: string }) => e.code);
  assert.is(bad, 'admin-bad-request');
});

test('revoke --remote: Google revokes at the provider; an unreachable provider keeps the grant; Microsoft says it cannot', async () => {
  const admin = d.daemon.context.admin;
  const token = d.daemon.context.replica.usableToken('g1@gmail.test', Date.now())!;
  assert.ok(d.emu.isValidAccessToken(token, 'g1@gmail.test'));
  const g = ((await admin.dispatch({ cmd: 'revoke', user: 'g1@gmail.test', remote: true })) as unknown as { result: ActionResult }).result;
  assert.is(g.ok, true);
  assert.is(g.remote, 'revoked');
  assert.is(g.state, 'unauthenticated');
  // Revoking the refresh token ended the whole grant at Google, access token included.
  assert.not.ok(d.emu.isValidAccessToken(token, 'g1@gmail.test'));

  const u = ((await admin.dispatch({ cmd: 'revoke', user: 'unreachable@gmail.test', remote: true })) as unknown as { result: ActionResult }).result;
  assert.is(u.ok, false);
  assert.is(u.remote, 'failed');
  assert.match(u.message, /grant is kept/);
  assert.is((await status()).accounts.find((a) => a.user === 'unreachable@gmail.test')?.state, 'valid');

  const m = ((await admin.dispatch({ cmd: 'revoke', user: 'm1@contoso.test', remote: true })) as unknown as { result: ActionResult }).result;
  assert.is(m.ok, true);
  assert.is(m.remote, 'unsupported');
  assert.match(m.message, /myapps\.microsoft\.com/);
  assert.is(m.state, 'unauthenticated');
});

test('reload refuses a broken file with file:line: key and keeps the old config; shutdown asks the daemon to stop', async () => {
  const { admin, config } = d.daemon.context;
  writeFileSync(config.file, d.configText(ACCOUNTS).replace('workers = 2', 'workers = "two"'));
  const error = await admin.dispatch({ cmd: 'reload' }).then(
    () => undefined,
    (e: { code?: string; message?: string }) => e,
  );
  assert.is(error?.code, 'config-invalid');
  assert.match(error?.message ?? '', new RegExp(`${join(d.dir, 'config.toml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: workers: `));
  assert.is(d.daemon.context.config.accounts.length, ACCOUNTS.length);
  const refusedLog = d.sink.lines().filter((l) => l.msg === 'reload refused; still running on the previous config');
  assert.ok(refusedLog.some((l) => l.error === 'config-invalid' && String(l.detail).includes(':2: workers:')), JSON.stringify(refusedLog));

  writeFileSync(config.file, d.configText(ACCOUNTS.slice(0, 7)));
  const report = (await admin.dispatch({ cmd: 'reload' })) as unknown as { accounts: number };
  assert.is(report.accounts, 7);

  const answer = (await admin.dispatch({ cmd: 'shutdown' })) as unknown as { pid: number };
  assert.is(answer.pid, process.pid);
  assert.is(await d.daemon.stopRequested, 'admin shutdown');
});

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test.run();
