/**
 * Tokens over the socket, as an MTA sees them: every reply format for SMTP
 * and IMAP, byte for byte, for a Google and a Microsoft account, with the
 * request ended by exim's half-close, by a newline (nc), or by both. Every
 * token must be one the emulator issued to that user and still valid.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Harness, run, setup, tokenInXoauth2 } from '../helpers/daemon.js';
import { timeTests } from '../helpers/timing.js';

const GOOGLE = 'alice@gmail.test';
const MS = 'Bob.Smith@contoso.test';
const USERS = [GOOGLE, MS];

let h: Harness;

setup(test, async () => {
  h = await Harness.create({
    accounts: [
      { user: GOOGLE, provider: 'google' },
      { user: MS, provider: 'microsoft' },
    ],
    sockets: [{ name: 'mta', protocols: ['SMTP', 'IMAP'] }],
  });
  await h.start();
});

test.after(async () => {
  await h?.close();
});

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const xoauth2 = (user: string, token: string) => `user=${user}\x01auth=Bearer ${token}\x01\x01`;

/** The expected reply for each option, given the account's current token. */
function expected(option: string, user: string, token: string): string {
  switch (option) {
    case '':
    case ',err':
      return xoauth2(user, token);
    case ',b64':
    case ',b64,err':
      return b64(xoauth2(user, token));
    case ',token':
      return token;
    case ',oauthbearer':
      return `n,a=${user},\x01auth=Bearer ${token}\x01\x01`;
    default:
      throw new Error(option);
  }
}

async function currentToken(user: string): Promise<string> {
  const reply = await h.request(`SMTP,token ${user}`);
  assert.ok(/^[\x21-\x7e]+$/.test(reply.text), `SMTP,token ${user} gave ${JSON.stringify(reply.text)}`);
  return reply.text;
}

for (const user of USERS) {
  test(`${user}: every option for SMTP and IMAP, byte-exact, genuine token (half-close)`, async () => {
    const token = await currentToken(user);
    assert.ok(h.emu.isValidAccessToken(token, user), 'the emulator issued this token to this user and it is unexpired');
    const other = USERS.find((u) => u !== user)!;
    assert.not.ok(h.emu.isValidAccessToken(token, other), 'and not to the other user');
    const info = h.emu.lookupToken(token)!;
    assert.is(info.kind, 'access');
    assert.ok(info.expiresAt > Date.now() + 60_000, 'more than a minute of life left');
    if (user === MS) {
      assert.ok(info.scopes.includes('https://outlook.office.com/SMTP.Send'), `scopes ${info.scopes.join(' ')}`);
      assert.ok(info.scopes.includes('https://outlook.office.com/IMAP.AccessAsUser.All'), `scopes ${info.scopes.join(' ')}`);
    }
    for (const proto of ['SMTP', 'IMAP']) {
      for (const option of ['', ',b64', ',token', ',oauthbearer', ',err', ',b64,err']) {
        const reply = await h.request(`${proto}${option} ${user}`);
        assert.not.ok(reply.timedOut, `${proto}${option}: the daemon closed the connection`);
        assert.is(reply.bytes.toString('utf8'), expected(option, user, token), `${proto}${option} ${user}`);
      }
    }
  });
}

test('the account is found whatever the case of the address, and the reply echoes the address as asked', async () => {
  const asked = MS.toLowerCase();
  const reply = await h.request(`SMTP ${asked}`);
  const token = tokenInXoauth2(reply.bytes, asked);
  assert.ok(token, `reply ${JSON.stringify(reply.text)}`);
  assert.ok(h.emu.isValidAccessToken(token!, MS));
});

test('a request ended by a newline is answered without the half-close (nc without -N)', async () => {
  for (const user of USERS) {
    for (const end of ['\n', '\r\n']) {
      const reply = await h.request(`SMTP ${user}${end}`, 'mta', { halfClose: false, timeoutMs: 3_000 });
      assert.not.ok(reply.timedOut, `the daemon answered ${JSON.stringify(end)} without waiting for the half-close`);
      const token = tokenInXoauth2(reply.bytes, user);
      assert.ok(token && h.emu.isValidAccessToken(token, user), `${user} ${JSON.stringify(end)}: ${JSON.stringify(reply.text)}`);
    }
  }
});

test('newline and half-close together, through the real nc -U -N', async () => {
  for (const user of USERS) {
    for (const request of [`SMTP ${user}\n`, `IMAP,b64 ${user}\n`]) {
      const r = await run('nc', ['-U', '-N', h.socket('mta')], { input: request, timeoutMs: 5_000 });
      assert.is(r.code, 0, r.stderr);
      const raw = request.startsWith('IMAP,b64') ? Buffer.from(r.out, 'base64').toString('utf8') : r.out;
      const token = tokenInXoauth2(raw, user);
      assert.ok(token && h.emu.isValidAccessToken(token, user), `${JSON.stringify(request)} -> ${JSON.stringify(r.out)}`);
    }
  }
});

test('many concurrent clients all get the same, valid token', async () => {
  const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => h.request(`SMTP ${USERS[i % 2]}`)));
  const tokens = replies.map((r, i) => tokenInXoauth2(r.bytes, USERS[i % 2]!));
  assert.ok(tokens.every((t) => t !== undefined), 'every reply is an XOAUTH2 string');
  for (const user of USERS) {
    const mine = new Set(tokens.filter((_, i) => USERS[i % 2] === user));
    assert.is(mine.size, 1, `${user}: one token served, no refresh per request`);
    assert.ok(h.emu.isValidAccessToken([...mine][0]!, user));
  }
  const stats = h.emu.stats();
  for (const user of USERS) assert.is(stats.refreshes[user] ?? stats.refreshes[user.toLowerCase()] ?? 0, 1, `${user}: one refresh since start (${JSON.stringify(stats.refreshes)})`);
});

test('mailtokend token prints the same XOAUTH2 string', async () => {
  const r = await h.cli(['token', MS, '--proto', 'IMAP']);
  assert.is(r.code, 0, r.stderr);
  const token = await currentToken(MS);
  assert.is(r.out, `${xoauth2(MS, token)}\n`);
});

test('no token, refresh token or client secret in the daemon output or state files', () => {
  assert.equal(h.leaks(), []);
});

timeTests(test, 'tokens');
test.run();
