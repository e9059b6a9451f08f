/**
 * Emulator basics: the CA, the TLS server, metadata, token bookkeeping,
 * the admin API and the CLI, and that no secret ever reaches its log.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PublicClientApplication } from '@azure/msal-node';
import { OAuth2Client } from 'google-auth-library';
import { ensureCa, startEmulator } from '../emulator/index.js';
import { EmulatorClient } from '../emulator/client.js';
import { get, postForm, testCaDir } from '../emulator/testing.js';

// Read at load time: a missing test CA fails the file loudly (uvu hides errors thrown in before hooks).
const CA_DIR = testCaDir();

const IMAP = 'https://outlook.office.com/IMAP.AccessAsUser.All';
const MS_CLIENT = '3f1e6a7c-5b2d-4c8e-9f10-2a3b4c5d6e7f';
const G_CLIENT = '42-basic.apps.googleusercontent.com';
const G_SECRET = 'GOCSPX-basic-secret';

const ca = suite('emulator: CA');

ca('ensureCa makes a private CA once and reuses it', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'mtk-ca-test-'));
  try {
    const dir = join(parent, 'ca');
    const [a, b] = await Promise.all([ensureCa(dir), ensureCa(dir)]);
    assert.is(a.caFile, b.caFile);
    assert.is((await stat(dir)).mode & 0o777, 0o700);
    assert.is((await stat(a.keyFile)).mode & 0o777, 0o600);
    const pem = await readFile(a.caFile, 'utf8');
    await ensureCa(dir);
    assert.is(await readFile(a.caFile, 'utf8'), pem, 'reused, not remade');
    assert.match(pem, /BEGIN CERTIFICATE/);
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});

ca.run();

const lines: string[] = [];
const basic = suite('emulator: basics');

// Started at load time, not in a before hook: uvu 0.5 swallows errors thrown there and exits 0.
const emu = await startEmulator({ caDir: CA_DIR, log: (l) => lines.push(l) });
emu.registerClient({ provider: 'microsoft', clientId: MS_CLIENT });
emu.registerClient({ provider: 'google', clientId: G_CLIENT, clientSecret: G_SECRET });

basic.after(async () => {
  await emu.close();
});

basic('serves TLS trusted through the test CA, and Entra-style metadata', async () => {
  assert.match(emu.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.is(emu.microsoft.knownAuthority, emu.url.slice('https://'.length));
  const meta = await get(`${emu.url}/common/v2.0/.well-known/openid-configuration`);
  assert.is(meta.status, 200);
  assert.is(meta.body.token_endpoint, `${emu.url}/common/oauth2/v2.0/token`);
  assert.is(meta.body.issuer, `${emu.url}/{tenantid}/v2.0`);
  const named = await get(`${emu.url}/contoso.example/v2.0/.well-known/openid-configuration`);
  assert.match(String(named.body.token_endpoint), /\/[0-9a-f-]{36}\/oauth2\/v2\.0\/token$/);
  const bad = await get(`${emu.url}/not_a_tenant/v2.0/.well-known/openid-configuration`);
  assert.is(bad.status, 400);
  assert.match(String(bad.body.error_description), /^AADSTS900023: /);
  const keys = await get(`${emu.url}/common/discovery/v2.0/keys`);
  assert.is((keys.body.keys as unknown[]).length, 1);
});

basic('issueGrant needs a registered client', () => {
  assert.throws(() => emu.issueGrant({ provider: 'google', user: 'x@y.example', clientId: 'nobody', scopes: [] }), /not registered/);
});

basic('lookupToken tells issued tokens from made-up ones', async () => {
  const rt = emu.issueGrant({ provider: 'microsoft', user: 'ann@contoso.example', clientId: MS_CLIENT, scopes: [IMAP] });
  const info = emu.lookupToken(rt);
  assert.is(info?.kind, 'refresh');
  assert.is(info?.user, 'ann@contoso.example');
  assert.ok(info?.scopes.includes('offline_access'));
  assert.is(emu.lookupToken(`${rt}x`), undefined);
  assert.is(emu.lookupToken('ya29.madeup'), undefined);
  assert.not.ok(emu.isValidAccessToken(rt), 'a refresh token is not an access token');
  const app = new PublicClientApplication({
    auth: { clientId: MS_CLIENT, authority: `${emu.microsoft.authority}/common`, knownAuthorities: [emu.microsoft.knownAuthority] },
  });
  const r = await app.acquireTokenByRefreshToken({ refreshToken: rt, scopes: [IMAP] });
  assert.is(emu.lookupToken(r!.accessToken)?.kind, 'access');
  assert.ok(emu.secrets().includes(r!.accessToken));
  assert.ok(emu.secrets().includes(G_SECRET));
});

basic('the admin API drives the same emulator from another process', async () => {
  const admin = new EmulatorClient(emu.url, emu.caFile);
  await admin.registerClient({ provider: 'google', clientId: 'admin.apps', clientSecret: 'GOCSPX-admin' });
  const rt = await admin.issueGrant({ provider: 'google', user: 'adm@gmail.example', clientId: 'admin.apps', scopes: ['https://mail.google.com/'] });
  assert.is((await admin.lookupToken(rt))?.user, 'adm@gmail.example');
  assert.is(await admin.lookupToken('nope'), undefined);
  const id = await admin.setFault({ provider: 'google', kind: 'status', status: 503 });
  assert.match(id, /^fault-/);
  const failed = await postForm(emu.google.tokenUrl, { grant_type: 'refresh_token', refresh_token: rt, client_id: 'admin.apps', client_secret: 'GOCSPX-admin' });
  assert.is(failed.status, 503);
  await admin.clearFaults();
  await admin.resetStats();
  const ok = await postForm(emu.google.tokenUrl, { grant_type: 'refresh_token', refresh_token: rt, client_id: 'admin.apps', client_secret: 'GOCSPX-admin' });
  assert.is(ok.status, 200);
  assert.ok(await admin.isValidAccessToken(String(ok.body.access_token), 'adm@gmail.example'));
  const stats = await admin.stats();
  assert.is(stats.refreshes['adm@gmail.example'], 1);
  assert.ok((await admin.secrets()).includes(rt));
  await admin.revokeUser('adm@gmail.example');
  const revoked = await postForm(emu.google.tokenUrl, { grant_type: 'refresh_token', refresh_token: rt, client_id: 'admin.apps', client_secret: 'GOCSPX-admin' });
  assert.is(revoked.body.error, 'invalid_grant');
  let threw = false;
  try {
    await admin.setFault({ kind: 'nonsense' } as never);
  } catch (e) {
    threw = true;
    assert.match(String(e), /fault.kind/);
  }
  assert.ok(threw, 'a malformed fault is refused, not ignored');
});

basic('no token, code or secret ever appears in the log', async () => {
  const g = new OAuth2Client({ clientId: G_CLIENT, clientSecret: G_SECRET, endpoints: { oauth2TokenUrl: emu.google.tokenUrl, oauth2AuthBaseUrl: emu.google.authUrl } });
  g.setCredentials({ refresh_token: emu.issueGrant({ provider: 'google', user: 'log@gmail.example', clientId: G_CLIENT, scopes: ['https://mail.google.com/'] }) });
  await g.refreshAccessToken();
  const auth = await get(g.generateAuthUrl({ scope: ['https://mail.google.com/'], access_type: 'offline', login_hint: 'log@gmail.example', redirect_uri: 'http://127.0.0.1:1/cb' }));
  const code = new URL(auth.headers.get('location')!).searchParams.get('code')!;
  await g.getToken({ code, redirect_uri: 'http://127.0.0.1:1/cb' });
  await postForm(emu.google.tokenUrl, { grant_type: 'refresh_token', refresh_token: 'garbage', client_id: G_CLIENT, client_secret: 'wrong' });
  const log = lines.join('\n');
  assert.ok(lines.length > 5);
  for (const s of emu.secrets()) assert.not.ok(log.includes(s), 'a secret leaked into the log');
  assert.not.ok(log.includes('garbage') || log.includes('wrong'));
});

basic.run();

const cli = suite('emulator: CLI');

cli('prints one JSON line with its endpoints and stops on SIGTERM', async () => {
  const cliPath = fileURLToPath(new URL('../emulator/cli.js', import.meta.url));
  const child = spawn(process.execPath, [cliPath, '--ca-dir', CA_DIR, '--lifetime', '30'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const rl = createInterface({ input: child.stdout! });
    const [line] = (await once(rl, 'line')) as [string];
    const info = JSON.parse(line) as { url: string; caFile: string; microsoft: { knownAuthority: string } };
    assert.match(info.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.is(info.caFile, join(CA_DIR, 'ca.pem'));
    const meta = await get(`${info.url}/organizations/v2.0/.well-known/openid-configuration`);
    assert.is(meta.status, 200);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.is(code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

cli.run();
