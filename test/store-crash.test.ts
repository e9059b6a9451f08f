/**
 * Crash safety: a child process saves one grant in a loop and is killed with
 * SIGKILL at a random moment, 20 times over. After every kill the store must
 * open and load either the last grant the child reported saved or the one it
 * was writing, never a corrupt, empty or older one. Four lanes (own directory
 * each) run side by side so that 20 node start-ups fit the time bound.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openFileStore } from '../src/store/index.js';

const WRITER = fileURLToPath(new URL('./fixtures/store-crash-writer.js', import.meta.url));
const LANES = 4;
const ROUNDS_PER_LANE = 5;
const USER = 'crash@example.com';

interface Round {
  ready: number;
  lastSaved: number;
}

/**
 * Start the writer; once it has completed `savesFirst` saves, wait `delayMs`
 * (less than one save takes) and kill it. Counting saves instead of waiting a
 * fixed time keeps the kill inside the save loop however slow the disk is.
 */
async function runAndKill(dir: string, keyHex: string, savesFirst: number, delayMs: number): Promise<Round> {
  const child = spawn(process.execPath, [WRITER, dir, keyHex, USER], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const reached = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 5_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('ready') && (out.match(/saved/g)?.length ?? 0) >= savesFirst) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    void closed.then(() => resolve(false));
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const ok = await reached;
  if (ok) await sleep(delayMs);
  child.kill('SIGKILL');
  await closed;
  assert.ok(ok, `writer did not reach ${savesFirst} saves: ${err}`);
  assert.is(err, '', 'writer stderr');
  // Pipe writes are synchronous on Linux: every completed save is in `out`.
  const ready = Number(/ready (\d+)/.exec(out)?.[1]);
  const saved = [...out.matchAll(/saved (\d+)/g)].map((m) => Number(m[1]));
  return { ready, lastSaved: saved.length > 0 ? Math.max(...saved) : ready };
}

/** Kill-and-check rounds on one store. */
async function lane(lane: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mailtokend-crash-'));
  const key = randomBytes(32);
  try {
    let expected = 0;
    for (let round = 0; round < ROUNDS_PER_LANE; round++) {
      const at = `lane ${lane} round ${round}`;
      const { ready, lastSaved } = await runAndKill(dir, key.toString('hex'), round % 3, Math.random() * 8);
      assert.is(ready, expected, `${at}: the writer saw the grant the last round left`);
      // Opening also removes the killed writer's temp file.
      const store = await openFileStore({ dir, key });
      const grant = await store.load(USER);
      await store.close();
      const version = grant?.version ?? 0;
      assert.ok(version === lastSaved || version === lastSaved + 1, `${at}: version ${version}, last saved ${lastSaved}`);
      if (grant) assert.is(grant.refreshToken, `rt-${version}-${'x'.repeat(4000)}`, `${at}: token matches version`);
      assert.equal((await readdir(join(dir, 'grants'))).filter((n) => n.startsWith('.tmp-')), [], `${at}: temp files cleaned`);
      expected = version;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('SIGKILL at random moments leaves the old or the new grant', async () => {
  const started = Date.now();
  await Promise.all(Array.from({ length: LANES }, (_, i) => lane(i)));
  assert.ok(Date.now() - started < 10_000, `bounded time: ${Date.now() - started} ms`);
});

test.run();
