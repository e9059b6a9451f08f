/**
 * Sending mail with real programs, configured exactly as doc/smtp.md shows
 * (the snippets in test/fixtures/mail/), with tokens from a running
 * mailtokend, to a real submission server: Dovecot, whose oauth2 passdb asks
 * the emulator about every token. Each message is read back at the relay
 * behind Dovecot, with the login Dovecot authenticated, and the token Dovecot
 * was shown is checked with the emulator: issued to that user, an access
 * token, unexpired.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CMS_OAUTH, run, tokenInXoauth2 } from '../helpers/daemon.js';
import { CONTOSO, GMAIL, MALLORY, materialize, snippet, startMailWorld, type MailWorld } from '../helpers/mail-world.js';
import { timeTests } from '../helpers/timing.js';

const EXIM_UID = Number(execFileSync('id', ['-u', 'Debian-exim'], { encoding: 'utf8' }).trim());
const EXIM_GID = Number(execFileSync('id', ['-g', 'Debian-exim'], { encoding: 'utf8' }).trim());

let w: MailWorld;

test.before(async () => {
  w = await startMailWorld({
    // doc/smtp.md: the exim socket's directory, made before the daemon starts, and its [[socket]].
    beforeStart: async (world) => {
      const r = await world.sh(snippet('exim-socket-dir.sh'), [['sudo ', '']]);
      if (r.code !== 0) throw new Error(`exim-socket-dir.sh: ${r.stderr}`);
    },
    extraToml: (home) => materialize(snippet('exim-socket.toml'), [['/home/alice', home]]),
  });
});

test.after(async () => {
  await w?.close();
});

const message = (from: string, subject: string): string =>
  [`From: ${from}`, 'To: bob@example.com', `Subject: ${subject}`, `Message-ID: <${subject.replace(/\W+/g, '.')}@test>`, '', 'Sent through mailtokend.', ''].join('\r\n');

/** The relayed message with this subject: it exists, Dovecot authenticated its sender, with a good token. */
function arrived(subject: string, user: string): void {
  const found = w.dovecot.sink.messages.filter((m) => m.data.includes(`Subject: ${subject}`));
  assert.is(found.length, 1, `one message "${subject}" at the server; log:\n${w.dovecot.log().slice(-2000)}`);
  assert.is(found[0]!.login, user, 'Dovecot authenticated the sender');
  assert.is(found[0]!.mailFrom, user);
  const checked = w.dovecot.introspections().filter((i) => i.user === user);
  assert.ok(checked.length > 0, 'Dovecot asked the emulator about a token of this user');
  const last = checked[checked.length - 1]!;
  assert.ok(last.active, 'the emulator said: issued to this user, unexpired');
  assert.ok(last.expiresAt! > Date.now(), 'not expired when presented');
}

test('doc: nc and cms-oauth get a token from the socket', async () => {
  const r = await w.sh(snippet('nc.sh'));
  assert.is(r.code, 0, r.stderr);
  const [xoauth2 = '', token = ''] = r.out.split('\n');
  const fromNc = tokenInXoauth2(xoauth2, CONTOSO);
  assert.ok(fromNc && w.h.emu.isValidAccessToken(fromNc, CONTOSO), JSON.stringify(r.out));
  assert.is(token, fromNc);
});

test('doc: the exim socket is reachable by Debian-exim (exim -be readsocket)', async () => {
  const r = await w.sh(snippet('exim-check.sh'), [['sudo -u Debian-exim ', '']], { uid: EXIM_UID, gid: EXIM_GID });
  assert.is(r.code, 0, r.stderr);
  const token = tokenInXoauth2(r.out.replace(/\n$/, ''), CONTOSO);
  assert.ok(token && w.h.emu.isValidAccessToken(token, CONTOSO), JSON.stringify(r.out));
});

/** exim with the doc's routers, transport and authenticator under a test main section. */
function eximConfig(): string {
  const d = w.dovecot;
  for (const sub of ['exim', 'exim/spool', 'exim/log']) {
    mkdirSync(join(w.home, sub), { recursive: true, mode: 0o750 });
    chownSync(join(w.home, sub), EXIM_UID, EXIM_GID);
  }
  const main = [
    'primary_hostname = client.test',
    'domainlist local_domains = @ : localhost',
    `spool_directory = ${join(w.home, 'exim', 'spool')}`,
    `log_file_path = ${join(w.home, 'exim', 'log')}/%slog`,
    'exim_user = Debian-exim',
    'exim_group = Debian-exim',
    // 127.0.0.1 is the smarthost here: do not count it as this host.
    'local_interfaces = 192.0.2.1',
    'keep_environment =',
    '',
  ].join('\n');
  const body = materialize(snippet('exim-smarthost.conf'), [
    ['smtp.office365.com::587', `127.0.0.1::${d.ports.submission}`],
    ['smtp.gmail.com::587', `127.0.0.1::${d.ports.submission}`],
    ['tls_verify_hosts = *', `tls_verify_hosts = *\n  tls_verify_certificates = ${d.caFile}`],
    ['/home/alice', w.home],
  ]);
  const path = join(w.home, 'exim.conf');
  writeFileSync(path, `${main}\n${body}`, { mode: 0o644 });
  return path;
}

test('exim (doc routers + XOAUTH2 authenticator): exim -odf delivers as each envelope sender, through one socket', async () => {
  const conf = eximConfig();
  for (const sender of [CONTOSO, GMAIL]) {
    const subject = `exim from ${sender}`;
    const r = await run('/usr/sbin/exim', ['-C', conf, '-odf', '-f', sender, 'bob@example.com'], { input: message(sender, subject), env: w.env, timeoutMs: 30_000 });
    assert.is(r.code, 0, r.stderr);
    // exim exits 0 even when it defers: judge at the server.
    arrived(subject, sender);
    await w.login('submission', sender, 'XOAUTH2');
  }
});

test('msmtp (doc ~/.msmtprc): contoso with XOAUTH2 over STARTTLS, gmail with OAUTHBEARER over implicit TLS', async () => {
  const d = w.dovecot;
  const rc = w.fill(snippet('msmtprc'), [
    ['\ntls on\n', `\ntls on\ntls_trust_file ${d.caFile}\n`],
    ['host smtp.office365.com\nport 587', `host 127.0.0.1\nport ${d.ports.submission}`],
    ['host smtp.gmail.com\nport 465', `host 127.0.0.1\nport ${d.ports.submissions}`],
  ]);
  writeFileSync(join(w.home, '.msmtprc'), rc, { mode: 0o600 });
  for (const [account, user, mech] of [
    ['contoso', CONTOSO, 'XOAUTH2'],
    ['gmail', GMAIL, 'OAUTHBEARER'],
  ] as const) {
    const subject = `msmtp ${account}`;
    const r = await run('msmtp', ['-a', account, 'bob@example.com'], { input: message(user, subject), env: w.env, timeoutMs: 30_000 });
    assert.is(r.code, 0, `msmtp -a ${account}: ${r.stderr}`);
    arrived(subject, user);
    await w.login('submission', user, mech);
  }
});

test('git send-email through msmtp as sendmail (doc [sendemail])', async () => {
  const repo = join(w.home, 'repo');
  const gitEnv = { ...w.env, GIT_CONFIG_GLOBAL: join(w.home, '.gitconfig'), GIT_AUTHOR_NAME: 'Alice', GIT_AUTHOR_EMAIL: CONTOSO, GIT_COMMITTER_NAME: 'Alice', GIT_COMMITTER_EMAIL: CONTOSO };
  writeFileSync(join(w.home, '.gitconfig'), snippet('gitconfig'));
  const git = (...args: string[]) => run('git', args, { env: gitEnv, timeoutMs: 30_000 });
  assert.is((await git('init', '-q', repo)).code, 0);
  writeFileSync(join(repo, 'hello.txt'), 'hello\n');
  assert.is((await git('-C', repo, 'add', 'hello.txt')).code, 0);
  assert.is((await git('-C', repo, 'commit', '-q', '-m', 'git send-email via mailtokend')).code, 0);
  const r = await git('-C', repo, 'send-email', '--to=bob@example.com', '-1');
  assert.is(r.code, 0, `${r.out}\n${r.stderr}`);
  arrived('[PATCH] git send-email via mailtokend', CONTOSO);
});

test('curl (doc): SMTP with --oauth2-bearer over STARTTLS', async () => {
  writeFileSync(join(w.home, 'message.eml'), message(CONTOSO, 'curl smtp'));
  const r = await w.sh(snippet('curl-smtp.sh'), [['smtp://smtp.office365.com:587', `smtp://127.0.0.1:${w.dovecot.ports.submission}`]], { env: { CURL_CA_BUNDLE: w.dovecot.caFile } });
  assert.is(r.code, 0, r.stderr);
  arrived('curl smtp', CONTOSO);
  // curl 7.88 uses OAUTHBEARER whenever the server offers it (DESIGN.md).
  await w.login('submission', CONTOSO, 'OAUTHBEARER');
});

test('cms-oauth --test-smtp (doc): STARTTLS on 587-style port, implicit TLS on 465-style port', async () => {
  const d = w.dovecot;
  const r = await w.sh(snippet('test-smtp.sh'), [
    ['--test-smtp smtp.office365.com', `--test-smtp 127.0.0.1:${d.ports.submission} --ca ${d.caFile}`],
    // The port decides STARTTLS or TLS; the test server's implicit-TLS port is not 465.
    ['--test-smtp smtp.gmail.com:465', `--test-smtp 127.0.0.1:${d.ports.submissions} --tls implicit --ca ${d.caFile}`],
  ]);
  assert.is(r.code, 0, `${r.out}\n${r.stderr}`);
  assert.match(r.out, /S: 220 .*\nC: EHLO localhost\n/);
  assert.match(r.out, /C: STARTTLS\nS: 220 /);
  assert.match(r.out, /C: AUTH XOAUTH2\nS: 334 \nC: <redacted>\nS: 235 /);
  assert.match(r.out, new RegExp(`authenticated as ${CONTOSO} with XOAUTH2`));
  assert.match(r.out, new RegExp(`authenticated as ${GMAIL} with XOAUTH2`));
  assert.not.match(r.out, /Bearer|ya29|eyJ/, 'the token is never printed');
  await w.login('submission', GMAIL, 'XOAUTH2');
});

test('the server refuses a genuine token presented for another user; cms-oauth --test-smtp exits 1', async () => {
  const d = w.dovecot;
  const before = d.sink.messages.length;
  writeFileSync(join(w.home, 'message.eml'), message(CONTOSO, 'wrong user'));
  const mallory = (await w.h.request(`SMTP,token ${MALLORY}`, 'mallory')).text;
  assert.ok(w.h.emu.isValidAccessToken(mallory, MALLORY));
  const r = await run('curl', ['--ssl-reqd', '--url', `smtp://127.0.0.1:${d.ports.submission}`, '--mail-from', CONTOSO, '--mail-rcpt', 'bob@example.com', '--upload-file', join(w.home, 'message.eml'), '--user', CONTOSO, '--oauth2-bearer', mallory], { env: { ...w.env, CURL_CA_BUNDLE: d.caFile } });
  assert.is(r.code, 67, `curl: login denied (67): ${r.stderr}`);
  assert.is(d.sink.messages.length, before);
  const last = d.introspections().at(-1)!;
  assert.equal([last.user, last.active], [MALLORY, true], 'the token was good, but not for the user logging in');
  // And the socket does not hand alice's token to a client of mallory's socket.
  const denied = await run(process.execPath, [CMS_OAUTH, '--cms_sock', w.h.socket('mallory'), '--user', CONTOSO, '--test-smtp', `127.0.0.1:${d.ports.submission}`, '--ca', d.caFile], { env: w.env });
  assert.is(denied.code, 1);
  assert.match(denied.stderr, /no token for alice@contoso.com/);
});

test('every token the server was shown came from the emulator, for its user, unexpired', () => {
  const shown = w.dovecot.introspections();
  assert.ok(shown.length >= 8, `${shown.length} introspections`);
  for (const i of shown) {
    assert.ok(i.active, `inactive token for ${i.user}`);
    assert.ok(w.h.emu.lookupToken(i.token)?.kind === 'access');
    assert.ok(i.expiresAt! > i.at, 'unexpired when presented');
  }
});

// Last: it revokes an account for the rest of the file.
test('exim: with no token to be had (grant revoked), exim defers the message and nothing reaches the server', async () => {
  const conf = eximConfig();
  w.h.emu.revokeUser(GMAIL);
  const refresh = await w.h.cli(['refresh', GMAIL]);
  assert.is.not(refresh.code, 0, 'the provider refused the refresh');
  await w.h.waitForState(GMAIL, 'unauthenticated');
  const exim = await w.sh(`exec /usr/sbin/exim -be '\${readsocket{${w.home}/.local/state/mailtokend/exim/exim.sock}{SMTP ${GMAIL}}}'`, [], { uid: EXIM_UID, gid: EXIM_GID });
  assert.is(exim.out.trim(), '', 'the socket answers nothing for an account without a token');
  const subject = 'exim after revocation';
  const before = w.dovecot.sink.messages.length;
  const r = await run('/usr/sbin/exim', ['-C', conf, '-odf', '-f', GMAIL, 'bob@example.com'], { input: message(GMAIL, subject), env: w.env, timeoutMs: 30_000 });
  assert.is(r.code, 0, r.stderr);
  assert.is(w.dovecot.sink.messages.length, before, 'nothing was relayed');
  const queued = await run('/usr/sbin/exim', ['-C', conf, '-bpc'], { env: w.env });
  assert.is(queued.out.trim(), '1', 'the message waits on exim\'s queue for a retry (deferred, not bounced)');
  const log = await run('sh', ['-c', `cat ${join(w.home, 'exim', 'log')}/mainlog`]);
  assert.match(log.out, /== bob@example\.com .*authentication/i, 'exim logged a deferral for authentication');
});

timeTests(test, 'mail-smtp');
test.run();
