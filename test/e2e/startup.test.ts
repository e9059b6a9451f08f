/**
 * Starting up next to leftovers and rivals: a stale socket file left by
 * kill -9 is replaced; a second daemon on a live socket refuses to start,
 * names the socket, and leaves the first one (and its single-use refresh
 * token) alone; a file that is not a socket is never deleted; a config with
 * an unknown key is refused with exit 78 and FILE:LINE: KEY.
 */
import { lstatSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Harness, setup, tokenInXoauth2 } from '../helpers/daemon.js';
import { timeTests } from '../helpers/timing.js';

const MS = 'boot@contoso.test';
const GOOGLE = 'boot@gmail.test';

let h: Harness;

setup(test, async () => {
  h = await Harness.create({
    accounts: [
      { user: MS, provider: 'microsoft' },
      { user: GOOGLE, provider: 'google' },
    ],
    rotation: 'single-use',
  });
});

test.after(async () => {
  await h?.close();
});

async function assertServes(why: string): Promise<void> {
  for (const user of [MS, GOOGLE]) {
    const reply = await h.request(`SMTP ${user}`);
    const token = tokenInXoauth2(reply.bytes, user);
    assert.ok(token && h.emu.isValidAccessToken(token, user), `${why}: ${user} -> ${JSON.stringify(reply.text)}`);
  }
}

test('a stale socket file left by kill -9 is removed on the next start', async () => {
  await h.start();
  await assertServes('first start');
  const killed = await h.stop('SIGKILL');
  assert.is(killed.signal, 'SIGKILL');
  const stale = lstatSync(h.socket());
  assert.ok(stale.isSocket(), 'the socket file outlived the daemon');
  assert.ok(lstatSync(h.adminSocket).isSocket(), 'so did the admin socket');
  const refused = await h.request('SMTP boot@gmail.test');
  assert.ok(refused.error === 'ECONNREFUSED', `nobody listens on it: ${refused.error}`);
  await h.start();
  await assertServes('after the stale socket was replaced');
});

test('a second daemon on the same socket refuses to start, names the socket, and leaves the first alone', async () => {
  const first = h.daemon!;
  const refreshesBefore = { ...h.emu.stats().refreshes };
  const second = h.spawnDaemon();
  const exit = await Promise.race([second.exited, new Promise<undefined>((r) => setTimeout(r, 20_000))]);
  if (!exit) await second.stop('SIGKILL');
  assert.ok(exit, `the second daemon exits by itself:\n${second.output}`);
  assert.is.not(exit!.code, 0, 'non-zero exit');
  assert.is(exit!.signal, null);
  assert.ok(second.output.includes(h.socket()), `the message names ${h.socket()}:\n${second.output}`);
  assert.match(second.output, /socket-in-use|another daemon/);
  assert.is(second.logged({ msg: 'ready' }).length, 0);

  assert.ok(first.running, 'the first daemon is still running');
  assert.ok(lstatSync(h.socket()).isSocket(), 'its socket file is still there');
  await assertServes('the first daemon still serves');
  // The first daemon's refresh token is still good: an explicit refresh works.
  const r = await h.cli(['refresh', MS]);
  assert.is(r.code, 0, `the first daemon can still refresh: ${r.out} ${r.stderr}`);
  await assertServes('after a refresh by the first daemon');
  const refreshes = h.emu.stats().refreshes;
  assert.equal(refreshes, { ...refreshesBefore, [MS]: (refreshesBefore[MS] ?? 0) + 1 }, 'the second daemon refreshed nothing');
});

test('a file that is not a socket at a socket path is refused and kept', async () => {
  await h.stop();
  rmSync(h.socket(), { force: true });
  writeFileSync(h.socket(), 'precious');
  const d = h.spawnDaemon();
  const exit = await Promise.race([d.exited, new Promise<undefined>((r) => setTimeout(r, 20_000))]);
  if (!exit) await d.stop('SIGKILL');
  assert.ok(exit && exit.code !== 0, `refused:\n${d.output}`);
  assert.ok(d.output.includes(h.socket()), d.output);
  assert.match(d.output, /not a socket/);
  assert.is(readFileSync(h.socket(), 'utf8'), 'precious', 'the file is untouched');
  unlinkSync(h.socket());
  // The refused start left the grants usable (single-use refresh tokens included).
  await h.start();
  await assertServes('after the refused start');
  await h.stop();
});

test('an unknown key in the config: exit 78 with FILE:LINE: KEY on stderr, nothing started', async () => {
  const good = readFileSync(h.configPath, 'utf8');
  const lines = good.split('\n');
  const at = lines.findIndex((l) => l === `user = "${GOOGLE}"`);
  lines.splice(at + 1, 0, 'tennant = "contoso.test"');
  const badPath = `${h.dir}/bad.toml`;
  writeFileSync(badPath, lines.join('\n'));
  const d = h.spawnDaemon(badPath);
  const exit = await Promise.race([d.exited, new Promise<undefined>((r) => setTimeout(r, 20_000))]);
  if (!exit) await d.stop('SIGKILL');
  assert.equal(exit, { code: 78, signal: null }, d.output);
  const accountIndex = lines.slice(0, at).filter((l) => l === '[[account]]').length - 1;
  assert.ok(
    d.stderr.includes(`${badPath}:${at + 2}: account[${accountIndex}].tennant: unknown key "tennant"`),
    `stderr names file, line and key:\n${d.stderr}`,
  );
  assert.is(d.logged({ msg: 'ready' }).length, 0);
  let listening = true;
  try {
    lstatSync(h.socket());
  } catch {
    listening = false;
  }
  assert.not.ok(listening, 'no socket was created');
});

test('no token, refresh token or client secret in the daemon output or state files', () => {
  assert.equal(h.leaks(), []);
});

timeTests(test, 'startup');
test.run();
