/**
 * msmtp sends mail with a token from the daemon: `passwordeval` runs
 * cms-oauth against the daemon's socket, msmtp authenticates with XOAUTH2
 * (or OAUTHBEARER) to a capture SMTP server that accepts only tokens the
 * emulator issued to that very user, and the message arrives there.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CMS_OAUTH, Harness, run, type RunResult, setup } from '../helpers/daemon.js';
import { startSmtpCapture, type SmtpCapture } from '../helpers/smtp-capture.js';
import { timeTests } from '../helpers/timing.js';

const GOOGLE = 'sender@gmail.test';
const MS = 'sender@contoso.test';
const NOT_ON_SOCKET = 'other@contoso.test';

let h: Harness;
let smtp: SmtpCapture;

setup(test, async () => {
  h = await Harness.create({
    accounts: [
      { user: GOOGLE, provider: 'google' },
      { user: MS, provider: 'microsoft' },
      { user: NOT_ON_SOCKET, provider: 'microsoft' },
    ],
    sockets: [
      { name: 'msmtp', protocols: ['SMTP'], accounts: [GOOGLE, MS] },
      { name: 'other', protocols: ['SMTP'], accounts: [NOT_ON_SOCKET] },
    ],
  });
  smtp = await startSmtpCapture((token, user) => h.emu.isValidAccessToken(token, user));
  await h.start();
});

test.after(async () => {
  await smtp?.close();
  await h?.close();
});

/** Runs msmtp with a 0600 config for one account; the message goes on stdin. */
async function msmtp(user: string, auth: 'xoauth2' | 'oauthbearer', subject: string, passwordeval?: string): Promise<RunResult> {
  const config = join(h.dir, `msmtprc-${subject.replace(/\W+/g, '-')}`);
  const evalCommand = passwordeval ?? `${process.execPath} ${CMS_OAUTH} --user ${user} --cms_sock ${h.socket('msmtp')} --output=token`;
  writeFileSync(
    config,
    [
      'defaults',
      'tls off',
      'timeout 15',
      '',
      'account test',
      'host 127.0.0.1',
      `port ${smtp.port}`,
      `from ${user}`,
      `user ${user}`,
      `auth ${auth}`,
      `passwordeval "${evalCommand}"`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const message = [`From: ${user}`, 'To: rcpt@example.test', `Subject: ${subject}`, '', 'Hello through mailtokend.', '.leading dot', ''].join('\r\n');
  return run('msmtp', ['-C', config, '-a', 'test', 'rcpt@example.test'], { input: message, timeoutMs: 30_000 });
}

for (const [user, auth] of [
  [GOOGLE, 'xoauth2'],
  [MS, 'xoauth2'],
  [MS, 'oauthbearer'],
] as const) {
  test(`msmtp (${auth}) sends as ${user} with a token the emulator issued to ${user}`, async () => {
    const subject = `${auth} ${user}`;
    const r = await msmtp(user, auth, subject);
    assert.is(r.code, 0, `msmtp: ${r.stderr}\n${smtp.transcript.join('\n')}`);
    const message = smtp.messages.find((m) => m.data.includes(`Subject: ${subject}`));
    assert.ok(message, 'the server stored the message');
    assert.is(message!.authUser, user, 'authenticated as the sender');
    assert.is(message!.mechanism, auth.toUpperCase());
    assert.ok(h.emu.isValidAccessToken(message!.token, user), 'with a valid token the emulator issued to that user');
    assert.is(h.emu.lookupToken(message!.token)?.kind, 'access');
    assert.is(message!.mailFrom, user);
    assert.equal(message!.rcptTo, ['rcpt@example.test']);
    assert.match(message!.data, /\n\.leading dot/, 'dot-stuffing undone');
    assert.is(message!.token, (await h.request(`SMTP,token ${user}`, 'msmtp')).text, "the daemon's current token");
  });
}

test('the server refuses a token that is not valid for the user: msmtp exits 77, nothing is stored', async () => {
  const before = smtp.messages.length;
  // A genuine token, but Google's, presented as the Microsoft user.
  const googleToken = (await h.request(`SMTP,token ${GOOGLE}`, 'msmtp')).text;
  const r = await msmtp(MS, 'xoauth2', 'wrong token', `echo ${googleToken}`);
  assert.is(r.code, 77, `msmtp exits 77 on an authentication failure: ${r.stderr}`);
  assert.is(smtp.messages.length, before);
  const last = smtp.auths[smtp.auths.length - 1]!;
  assert.equal([last.user, last.accepted], [MS, false]);
});

test('an account the socket does not serve gets no token: cms-oauth fails, msmtp sends nothing', async () => {
  const before = smtp.auths.length;
  const r = await msmtp(NOT_ON_SOCKET, 'xoauth2', 'not on socket');
  // msmtp runs passwordeval before it connects; no output is a configuration error (EX_CONFIG).
  assert.is(r.code, 78, r.stderr);
  assert.match(r.stderr, /cannot read output of/);
  assert.match(r.stderr, /cms-oauth/, `cms-oauth says why:\n${r.stderr}`);
  assert.is(smtp.auths.length, before, 'msmtp did not even try to authenticate');
  assert.is(smtp.messages.filter((m) => m.data.includes('Subject: not on socket')).length, 0);
});

test('no token, refresh token or client secret in the daemon output or state files', () => {
  assert.equal(h.leaks(), []);
});

timeTests(test, 'msmtp');
test.run();
