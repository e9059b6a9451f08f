/**
 * The fast subset of reliability scenarios 4–7 (issue 9; the full runs are
 * `npm run reliability`): kill -9 during single-use refresh-token rotation,
 * a worker thread ending mid-refresh, provider faults, and a read-only
 * state_dir plus corrupted store files. Each scenario's count-type figures
 * must meet their bounds; its timing figures are for the benchmark run and
 * are not asserted here.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCrash } from '../reliability/crash.js';
import { parseConfig } from '../src/config/index.js';
import type { DaemonContext } from '../src/daemon/context.js';
import { DaemonEvents } from '../src/daemon/events.js';
import { Notifier } from '../src/notify/notify.js';
import { runProviderFaults } from '../reliability/provider-faults.js';
import { runStorageFaults } from '../reliability/storage-faults.js';
import type { ScenarioOptions, ScenarioResult } from '../reliability/types.js';
import { runWorkerCrash } from '../reliability/worker-crash.js';
import { waitUntil } from './helpers/daemon.js';
import { timeTests } from './helpers/timing.js';

const workDir = mkdtempSync(join(tmpdir(), 'mailtokend-reliability-'));
process.on('exit', () => rmSync(workDir, { recursive: true, force: true }));
const options: ScenarioOptions = { fast: true, log: () => undefined, workDir };

/** A bound on time ("≤ 1000 ms", "≤ 7 s") is a benchmark goal, not a test's. */
const isTiming = (bound: string): boolean => /\d\s*(ms|s)$/.test(bound.trim());

function assertFigures(result: ScenarioResult): void {
  const missed = result.figures.filter((f) => !f.ok && !isTiming(f.bound));
  const detail = missed.map((f) => `${f.name}: ${f.value} (bound ${f.bound})`).join('\n');
  assert.equal(missed, [], `${result.id}:\n${detail}\nnotes:\n${(result.notes ?? []).join('\n')}`);
}

test('notifier: a rotated grant the store refused runs error_notify_cmd at once, again only after it was stored', async () => {
  const out = join(workDir, 'notify-unit.txt');
  const cmd = ['/bin/sh', '-c', `printf '%s|%s\\n' "$MAILTOKEND_ACCOUNT" "$MAILTOKEND_MESSAGE" >> ${out}`];
  const cfg = parseConfig(`error_notify_cmd = ${JSON.stringify(cmd)}\n[[account]]\nuser = "Alice@contoso.example"\nprovider = "microsoft"\nclient_id = "c"\n`, '/etc/mailtokend/config.toml', { HOME: '/home/u' });
  const logs: string[] = [];
  const push = (_fields: unknown, msg: string) => logs.push(msg);
  const context = { config: cfg, env: {}, log: { info: push, warn: push, error: push }, web: undefined, events: new DaemonEvents(), onShutdown: () => undefined } as unknown as DaemonContext;
  const notifier = new Notifier(context);
  const refused = { type: 'persist', key: 'alice@contoso.example', ok: false, error: 'cannot write /s/grants/.tmp-1-a-x.json: EROFS' } as const;
  const lines = () => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : []);
  notifier.onPersist(refused);
  notifier.onPersist(refused); // the keeper's next refused rotation: the same episode
  await waitUntil('first alert', () => lines().length === 1, 5_000);
  assert.match(lines()[0]!, /^Alice@contoso\.example\|store-io: the rotated grant of Alice@contoso\.example could not be stored \(cannot write \/s\/grants\/.*EROFS\)/);
  // One run per account at a time: the next episode's alert waits until this one has ended.
  await waitUntil('first alert ended', () => logs.includes('notify command ran'), 5_000);
  notifier.onPersist({ type: 'persist', key: 'alice@contoso.example', ok: true });
  assert.ok(logs.includes('rotated grant stored again; nothing is held only in memory'), logs.join('\n'));
  notifier.onPersist(refused);
  await waitUntil('second alert', () => lines().length >= 2, 5_000);
  await new Promise((r) => setTimeout(r, 300));
  assert.is(lines().length, 2, 'one alert per episode');
  notifier.close();
});

test('crash safety: after each kill -9 the store is readable and every account is served a live token', async () => {
  assertFigures(await runCrash(options));
});

test('worker crash: accounts are served throughout and no spent refresh token is presented', async () => {
  assertFigures(await runWorkerCrash(options));
});

test('provider faults land in the designed state with the provider code, and transient ones heal', async () => {
  assertFigures(await runProviderFaults(options));
});

test('storage faults: a read-only state_dir is survived with an alert; corrupted files are refused and kept', async () => {
  assertFigures(await runStorageFaults(options));
});

timeTests(test, 'reliability-daemon');
test.run();
