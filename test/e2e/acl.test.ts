/**
 * Socket ACLs and file modes: two sockets with different `accounts` and
 * `protocols`. A socket never serves an account it does not list (to the
 * client that looks exactly like an unknown account) nor a protocol it does
 * not list; socket, directory and store file modes are as configured.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { filesUnder, Harness, modeOf, setup, tokenInXoauth2 } from '../helpers/daemon.js';
import { timeTests } from '../helpers/timing.js';

const ANN = 'ann@gmail.test'; // exim only, listed by address
const DAN = 'dan@contoso.test'; // exim only, through "@contoso.test"
const EVE = 'eve@sub.contoso.test'; // mutt only: a subdomain is not "@contoso.test"
const CARL = 'carl@gmail.test'; // mutt only
const MAIL_GID = Number(execFileSync('getent', ['group', 'mail'], { encoding: 'utf8' }).split(':')[2]);

let h: Harness;

setup(test, async () => {
  h = await Harness.create({
    accounts: [
      { user: ANN, provider: 'google' },
      { user: DAN, provider: 'microsoft' },
      { user: EVE, provider: 'microsoft' },
      { user: CARL, provider: 'google' },
    ],
    sockets: [
      { name: 'exim', subdir: 'exim', mode: '0660', group: 'mail', protocols: ['SMTP'], accounts: ['ANN@gmail.test', '@contoso.test'] },
      { name: 'mutt', protocols: ['IMAP', 'SMTP'], accounts: [CARL, EVE] },
    ],
  });
  await h.start();
  // Every account is valid: a refusal below is the ACL, not a missing token.
  for (const user of [ANN, DAN, EVE, CARL]) await h.waitForState(user, 'valid');
});

test.after(async () => {
  await h?.close();
});

async function served(socket: string, request: string, user: string): Promise<boolean> {
  const reply = await h.request(request, socket);
  assert.not.ok(reply.timedOut, `${socket}: ${request} was closed by the daemon`);
  if (reply.bytes.length === 0) return false;
  const token = tokenInXoauth2(reply.bytes, user);
  assert.ok(token && h.emu.isValidAccessToken(token, user), `${socket}: ${request} -> ${JSON.stringify(reply.text)}`);
  return true;
}

test('each socket serves exactly the accounts and protocols it lists', async () => {
  const cases: Array<[string, string, string, boolean]> = [
    ['exim', 'SMTP', ANN, true],
    ['exim', 'SMTP', DAN, true],
    ['exim', 'SMTP', 'DAN@Contoso.TEST', true],
    ['exim', 'SMTP', EVE, false],
    ['exim', 'SMTP', CARL, false],
    ['exim', 'IMAP', ANN, false],
    ['exim', 'IMAP', DAN, false],
    ['exim', 'POP', DAN, false],
    ['mutt', 'IMAP', CARL, true],
    ['mutt', 'SMTP', CARL, true],
    ['mutt', 'IMAP', EVE, true],
    ['mutt', 'SMTP', 'Eve@Sub.Contoso.Test', true],
    ['mutt', 'IMAP', ANN, false],
    ['mutt', 'SMTP', DAN, false],
    ['mutt', 'POP', CARL, false],
  ];
  for (const [socket, proto, user, expected] of cases) {
    assert.is(await served(socket, `${proto} ${user}`, user), expected, `${socket} ${proto} ${user}`);
  }
});

test('err: an account of another socket looks exactly like an unknown one; the log tells them apart', async () => {
  const listedElsewhere = await h.request(`SMTP,err ${CARL}`, 'exim');
  const unknown = await h.request('SMTP,err nobody@contoso.test', 'exim');
  assert.is(listedElsewhere.text, `ERR unknown-account ${CARL} is not configured\n`);
  assert.is(unknown.text, 'ERR unknown-account nobody@contoso.test is not configured\n');
  const lines = h.daemon!.logLines().filter((l) => l.socket === h.socket('exim'));
  assert.ok(lines.some((l) => l.account === CARL && l.result === 'account-not-allowed'), 'log: account-not-allowed');
  assert.ok(lines.some((l) => l.account === 'nobody@contoso.test' && l.result === 'unknown-account'), 'log: unknown-account');
});

test('err: a protocol the socket does not list is refused as such', async () => {
  const imap = await h.request(`IMAP,err ${ANN}`, 'exim');
  assert.match(imap.text, /^ERR protocol-not-allowed [\x20-\x7e]*IMAP[\x20-\x7e]*\n$/);
  const pop = await h.request(`POP,err ${CARL}`, 'mutt');
  assert.match(pop.text, /^ERR protocol-not-allowed [\x20-\x7e]*POP[\x20-\x7e]*\n$/);
});

test('socket modes: 0660 with the configured group, 0600 by default; admin socket 0600', () => {
  const exim = h.socket('exim');
  assert.ok(lstatSync(exim).isSocket());
  assert.is(modeOf(exim), '0660');
  assert.is(lstatSync(exim).gid, MAIL_GID, 'socket group is "mail"');
  assert.is(modeOf(dirname(exim)), '0750', 'a socket directory the daemon created for a group is 0750');
  assert.is(lstatSync(dirname(exim)).gid, MAIL_GID, 'and has that group');
  assert.is(modeOf(h.socket('mutt')), '0600');
  assert.is(modeOf(dirname(h.socket('mutt'))), '0700', 'a socket directory without a group is private');
  assert.ok(lstatSync(h.adminSocket).isSocket());
  assert.is(modeOf(h.adminSocket), '0600');
});

test('state files are 0600 and state directories 0700', () => {
  const files = filesUnder(h.stateDir);
  assert.ok(files.some((f) => f.includes('/grants/')), `grant files exist: ${files.join(' ')}`);
  for (const file of files) assert.is(modeOf(file), '0600', file);
  assert.is(modeOf(h.stateDir), '0700');
  for (const dir of new Set(files.map((f) => dirname(f)))) assert.is(modeOf(dir), '0700', dir);
});

test('no token, refresh token or client secret in the daemon output or state files', () => {
  assert.equal(h.leaks(), []);
});

timeTests(test, 'acl');
test.run();
