/**
 * exim's readsocket against the daemon, as in doc/smtp.md: the socket is
 * mode 0660 with group Debian-exim in a 0750 Debian-exim directory, under a
 * temp dir anyone may traverse. `exim -be` expands `${readsocket{...}}` as
 * root and as the Debian-exim user (as exim's transports run), and gets the
 * XOAUTH2 string (or its base64) with a genuine token. Debian-exim is kept
 * out of a 0600 socket.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Harness, modeOf, run, type RunResult, setup, tokenInXoauth2 } from '../helpers/daemon.js';
import { timeTests } from '../helpers/timing.js';

const EXIM = '/usr/sbin/exim';
const GOOGLE = 'exim-user@gmail.test';
const MS = 'Exim.User@contoso.test';
const EXIM_UID = Number(execFileSync('id', ['-u', 'Debian-exim'], { encoding: 'utf8' }).trim());
const EXIM_GID = Number(execFileSync('id', ['-g', 'Debian-exim'], { encoding: 'utf8' }).trim());

let h: Harness;

setup(test, async () => {
  h = await Harness.create({
    accounts: [
      { user: GOOGLE, provider: 'google' },
      { user: MS, provider: 'microsoft' },
    ],
    sockets: [
      { name: 'exim', subdir: 'exim', mode: '0660', group: 'Debian-exim', protocols: ['SMTP'], accounts: [GOOGLE, MS] },
      { name: 'private', protocols: ['SMTP'], accounts: [GOOGLE, MS] },
    ],
    dirMode: 0o755,
  });
  await h.start();
});

test.after(async () => {
  await h?.close();
});

/** `exim -be EXPR`, as root or as Debian-exim. */
function eximExpand(expression: string, asEximUser: boolean): Promise<RunResult> {
  return run(EXIM, ['-be', expression], { timeoutMs: 15_000, ...(asEximUser ? { uid: EXIM_UID, gid: EXIM_GID } : {}) });
}

test('the socket and its directory are set up for Debian-exim', () => {
  const sock = h.socket('exim');
  assert.is(modeOf(h.dir), '0755');
  assert.is(modeOf(dirname(sock)), '0750');
  assert.is(lstatSync(dirname(sock)).gid, EXIM_GID);
  assert.is(modeOf(sock), '0660');
  assert.is(lstatSync(sock).gid, EXIM_GID);
});

for (const asEximUser of [false, true]) {
  const who = asEximUser ? 'as Debian-exim' : 'as root';
  for (const user of [GOOGLE, MS]) {
    test(`exim -be readsocket ${who}: SMTP ${user} gives the XOAUTH2 string with a genuine token`, async () => {
      const r = await eximExpand(`\${readsocket{${h.socket('exim')}}{SMTP ${user}}{5s}}`, asEximUser);
      assert.is(r.code, 0, r.stderr);
      assert.ok(r.out.endsWith('\x01\x01\n'), JSON.stringify(r.out));
      const token = tokenInXoauth2(r.out.slice(0, -1), user);
      assert.ok(token, `exim printed ${JSON.stringify(r.out)}`);
      assert.ok(h.emu.isValidAccessToken(token!, user), 'the emulator issued it to this user');
      assert.is(r.out.slice(0, -1), (await h.request(`SMTP ${user}`, 'exim')).text, 'byte for byte what the socket serves');
    });

    test(`exim -be readsocket ${who}: SMTP,b64 ${user} gives the base64 XOAUTH2 string`, async () => {
      const r = await eximExpand(`\${readsocket{${h.socket('exim')}}{SMTP,b64 ${user}}}`, asEximUser);
      assert.is(r.code, 0, r.stderr);
      assert.match(r.out, /^[A-Za-z0-9+/]+=*\n$/);
      const token = tokenInXoauth2(Buffer.from(r.out.trim(), 'base64'), user);
      assert.ok(token && h.emu.isValidAccessToken(token, user), `decoded ${JSON.stringify(Buffer.from(r.out.trim(), 'base64').toString('latin1'))}`);
      // exim's own base64 decoding of it, as a plaintext authenticator sees it.
      const decoded = await eximExpand(`\${base64d:\${readsocket{${h.socket('exim')}}{SMTP,b64 ${user}}}}`, asEximUser);
      assert.is(tokenInXoauth2(decoded.out.slice(0, -1), user), token);
    });
  }
}

test('an account not listed on the socket: exim gets an empty string, with err the reason', async () => {
  const other = 'someone@gmail.test';
  const empty = await eximExpand(`<\${readsocket{${h.socket('exim')}}{SMTP ${other}}}>`, true);
  assert.is(empty.out, '<>\n', empty.stderr);
  const err = await eximExpand(`\${readsocket{${h.socket('exim')}}{SMTP,err ${other}}}`, true);
  assert.is(err.out, `ERR unknown-account ${other} is not configured\n\n`);
});

test('Debian-exim cannot reach a 0600 socket in a private directory (root can)', async () => {
  const denied = await eximExpand(`\${readsocket{${h.socket('private')}}{SMTP ${GOOGLE}}}`, true);
  assert.match(`${denied.out}${denied.stderr}`, /Permission denied|failed to connect/i);
  assert.not.match(denied.out, /auth=Bearer/);
  const root = await eximExpand(`\${readsocket{${h.socket('private')}}{SMTP ${GOOGLE}}}`, false);
  assert.ok(tokenInXoauth2(root.out.slice(0, -1), GOOGLE), root.out);
});

test('no token, refresh token or client secret in the daemon output or state files', () => {
  assert.equal(h.leaks(), []);
});

timeTests(test, 'exim');
test.run();
