/**
 * App-only Microsoft accounts in the daemon (issue 8): client credentials
 * with a secret from a file and with a certificate serve tokens over the
 * socket with no sign-in and no imported grant; two tenants with different
 * client ids live in one daemon; a secret revoked at the provider turns the
 * account `unauthenticated` with the provider's code; a shared mailbox
 * (login_as) gets the signing-in identity's token in an XOAUTH2 string naming
 * the shared mailbox.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AccountStatus } from '../../src/host/messages.js';
import { type AccountDef, Harness, setup, tokenInXoauth2 } from '../helpers/daemon.js';

const SECRET_A = 'cc~contoso.secret-000111222333';
const SECRET_B = 'cc~fabrikam.secret-444555666777';

let h: Harness;
let dir: string;

const CONTOSO: AccountDef = {
  user: 'relay@contoso.example',
  provider: 'microsoft',
  grant: false,
  extra: '', // filled in setup, once the temp dir is known
};
const FABRIKAM: AccountDef = { user: 'tickets@fabrikam.example', provider: 'microsoft', grant: false, extra: '' };
const CERT: AccountDef = { user: 'cert@contoso.example', provider: 'microsoft', grant: false, extra: '' };
const GSA: AccountDef = { user: 'carol@example.org', provider: 'google', grant: false, extra: '' };
const GSA_EMAIL = 'relay@mailtokend-e2e.iam.gserviceaccount.com';
let saPrivateKey = '';
const SHARED: AccountDef = { user: 'shared@contoso.example', provider: 'microsoft', grant: false, extra: 'login_as = "alice@contoso.example"' };

setup(test, async () => {
  h = await Harness.create({ accounts: [CONTOSO, FABRIKAM, CERT, GSA, SHARED], lifetime: 600 });
  dir = h.dir;
  writeFileSync(join(dir, 'contoso.secret'), `${SECRET_A}\n`, { mode: 0o600 });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'app.key'), '-out', join(dir, 'app.crt'), '-days', '2', '-subj', '/CN=relay'], { stdio: 'ignore' });
  h.emu.registerClient({ provider: 'microsoft', clientId: 'contoso-app', clientSecret: SECRET_A, appTenants: ['contoso.example'] });
  h.emu.registerClient({ provider: 'microsoft', clientId: 'fabrikam-app', clientSecret: SECRET_B, appTenants: ['fabrikam.example'] });
  h.emu.registerClient({ provider: 'microsoft', clientId: 'contoso-cert-app', certificate: readFileSync(join(dir, 'app.crt'), 'utf8'), appTenants: ['contoso.example'] });
  CONTOSO.extra = `auth = "client_credentials"\ntenant = "contoso.example"\nclient_id = "contoso-app"\nclient_secret_file = "${join(dir, 'contoso.secret')}"`;
  FABRIKAM.extra = `auth = "client_credentials"\ntenant = "fabrikam.example"\nclient_id = "fabrikam-app"\nclient_secret_cmd = ["/bin/echo", "${SECRET_B}"]`;
  CERT.extra = `auth = "client_credentials"\ntenant = "contoso.example"\nclient_id = "contoso-cert-app"\ncertificate_file = "${join(dir, 'app.crt')}"\nprivate_key_file = "${join(dir, 'app.key')}"`;
  const saKey = h.emu.issueServiceAccountKey({ email: GSA_EMAIL, domains: ['example.org'] });
  saPrivateKey = saKey.private_key;
  writeFileSync(join(dir, 'sa.json'), JSON.stringify(saKey), { mode: 0o600 });
  GSA.extra = `auth = "service_account"\nservice_account_file = "${join(dir, 'sa.json')}"`;
  h.writeConfig();
  // The shared mailbox signs in as alice: her grant, the shared mailbox's XOAUTH2 user.
  await h.importGrant(SHARED.user, h.emu.issueGrant({
    provider: 'microsoft',
    user: 'alice@contoso.example',
    clientId: 'e2e-ms-client',
    scopes: ['https://outlook.office.com/SMTP.Send', 'https://outlook.office.com/IMAP.AccessAsUser.All', 'offline_access'],
  }));
  await h.start();
});

test.after(async () => {
  await h?.close();
});

async function statusJson(): Promise<AccountStatus[]> {
  const r = await h.cli(['status', '--json']);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.out) as AccountStatus[];
}

test('app-only accounts serve tokens with no sign-in, each from its own tenant app', async () => {
  for (const [a, app] of [[CONTOSO, 'contoso-app'], [FABRIKAM, 'fabrikam-app'], [CERT, 'contoso-cert-app']] as const) {
    const reply = await h.request(`SMTP ${a.user}`);
    const token = tokenInXoauth2(reply.bytes, a.user);
    assert.ok(token, `${a.user}: ${JSON.stringify(reply.text)}`);
    const info = h.emu.lookupToken(token!);
    assert.is(info?.clientId, app, `${a.user} token comes from ${app}`);
    assert.equal(info?.scopes, ['https://outlook.office365.com/.default']);
  }
  const rows = await statusJson();
  for (const a of [CONTOSO, FABRIKAM, CERT]) {
    const row = rows.find((r) => r.user === a.user)!;
    assert.is(row.state, 'valid');
    assert.ok(row.hasGrant, 'app credentials count as a grant');
  }
});

test('google service account: a token for the mailbox itself, over IMAP, no sign-in', async () => {
  const reply = await h.request(`IMAP ${GSA.user}`);
  const token = tokenInXoauth2(reply.bytes, GSA.user);
  assert.ok(token && h.emu.isValidAccessToken(token, GSA.user), JSON.stringify(reply.text));
  assert.is(h.emu.lookupToken(token!)?.clientId, GSA_EMAIL);
  assert.is((await statusJson()).find((r) => r.user === GSA.user)?.state, 'valid');
});

test('google service account disabled by the admin: unauthenticated with invalid_grant', async () => {
  h.emu.changeServiceAccount(GSA_EMAIL, { disabled: true });
  const r = await h.cli(['refresh', GSA.user]);
  assert.is(r.code, 1, `${r.out} ${r.stderr}`);
  assert.match(r.out, /invalid_grant/);
  const row = (await statusJson()).find((a) => a.user === GSA.user)!;
  assert.is(row.state, 'unauthenticated');
  assert.is(row.lastError?.code, 'invalid_grant');
});

test('google service account enabled again: mailtokend refresh tries the credentials again', async () => {
  h.emu.changeServiceAccount(GSA_EMAIL, { disabled: false });
  const r = await h.cli(['refresh', GSA.user]);
  assert.is(r.code, 0, `${r.out} ${r.stderr}`);
  const token = await h.token(GSA.user, 'IMAP');
  assert.ok(token && h.emu.isValidAccessToken(token, GSA.user));
});

test('mailtokend refresh re-acquires an app-only token', async () => {
  const before = await h.token(CONTOSO.user);
  const r = await h.cli(['refresh', CONTOSO.user]);
  assert.is(r.code, 0, `${r.out} ${r.stderr}`);
  const after = await h.token(CONTOSO.user);
  assert.ok(after && after !== before, 'a new token after the refresh');
  assert.is(h.emu.lookupToken(after!)?.clientId, 'contoso-app');
});

test('shared mailbox: the signing-in identity\'s token in an XOAUTH2 string naming the shared mailbox', async () => {
  const reply = await h.request(`SMTP ${SHARED.user}`);
  assert.match(reply.text, /^user=shared@contoso\.example\x01auth=Bearer /);
  const token = tokenInXoauth2(reply.bytes, SHARED.user);
  assert.ok(token && h.emu.isValidAccessToken(token, 'alice@contoso.example'), 'the token is alice\'s');
});

test('a secret revoked at the provider: unauthenticated with the provider\'s code; other tenant unaffected', async () => {
  h.emu.registerClient({ provider: 'microsoft', clientId: 'contoso-app', clientSecret: 'cc~rotated-by-the-admin-999', appTenants: ['contoso.example'] });
  const r = await h.cli(['refresh', CONTOSO.user]);
  assert.is(r.code, 1, `${r.out} ${r.stderr}`);
  assert.match(r.out, /AADSTS7000215/);
  const row = (await statusJson()).find((a) => a.user === CONTOSO.user)!;
  assert.is(row.state, 'unauthenticated');
  assert.is(row.lastError?.code, 'AADSTS7000215');
  const err = await h.request(`SMTP,err ${CONTOSO.user}`);
  assert.match(err.text, /^ERR needs-auth /);
  const other = await h.token(FABRIKAM.user);
  assert.is(h.emu.lookupToken(other!)?.clientId, 'fabrikam-app');
});

test('the new secret in the file and a reload bring the account back', async () => {
  writeFileSync(join(dir, 'contoso.secret'), 'cc~rotated-by-the-admin-999\n', { mode: 0o600 });
  const r = await h.cli(['reload']);
  assert.is(r.code, 0, `${r.out} ${r.stderr}`);
  await h.waitForState(CONTOSO.user, 'valid');
  const token = await h.token(CONTOSO.user);
  assert.is(h.emu.lookupToken(token!)?.clientId, 'contoso-app');
  assert.ok(h.emu.isValidAccessToken(token!));
});

test('no client secret, key or token in the daemon output or state files', () => {
  // The emulator's registered client secrets (both tenants, and the rotated one) are among leaks()' needles.
  assert.equal(h.leaks(), []);
  const keyLines = [readFileSync(join(dir, 'app.key'), 'utf8'), saPrivateKey].flatMap((k) => k.split('\n')).filter((l) => l.length > 40);
  for (const d of h.runs) {
    assert.not.match(d.output, /PRIVATE KEY/);
    for (const line of keyLines) assert.not.ok(d.output.includes(line), 'no line of the private key in the output');
  }
});

test.run();
