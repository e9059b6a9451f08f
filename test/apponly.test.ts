/**
 * App-only credentials (issue 8), below the daemon: secret sources, the
 * config rules, and Microsoft client credentials through msal-node against
 * the emulator (secret and certificate assertion, refusals as `revoked`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startEmulator } from '../emulator/index.js';
import { testCaDir } from '../emulator/testing.js';
import { ConfigError, parseConfig, type Config } from '../src/config/index.js';
import { MicrosoftProvider } from '../src/providers/microsoft.js';
import { GoogleProvider } from '../src/providers/google.js';
import { ProviderError, type ProviderAccount } from '../src/providers/index.js';
import { readSecret, SecretError } from '../src/secrets/secrets.js';

const CA_DIR = testCaDir();
const dir = mkdtempSync(join(tmpdir(), 'mailtokend-apponly-'));
const env = { HOME: dir, PATH: process.env.PATH ?? '/usr/bin:/bin', APP_SECRET: 'from-env\n' };

// A certificate as an admin would upload it to the app registration.
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'app.key'), '-out', join(dir, 'app.crt'), '-days', '2', '-subj', '/CN=mailtokend-app'], { stdio: 'ignore' });
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'other.key'), '-out', join(dir, 'other.crt'), '-days', '2', '-subj', '/CN=other'], { stdio: 'ignore' });
writeFileSync(join(dir, 'secret.txt'), 'from-file\n', { mode: 0o600 });

const emu = await startEmulator({ caDir: CA_DIR, accessTokenLifetime: 600 });
const SECRET = 'cc~secret.value-0123456789';
emu.registerClient({ provider: 'microsoft', clientId: 'app-secret', clientSecret: SECRET, appTenants: ['contoso.example'] });
emu.registerClient({ provider: 'microsoft', clientId: 'app-cert', certificate: readFileSync(join(dir, 'app.crt'), 'utf8') });

test.after(async () => {
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------ secret sources

test('secrets: value, file, env and command; one trailing newline dropped', () => {
  assert.is(readSecret({ kind: 'value', value: 'v' }, env), 'v');
  assert.is(readSecret({ kind: 'file', path: join(dir, 'secret.txt') }, env), 'from-file');
  assert.is(readSecret({ kind: 'env', name: 'APP_SECRET' }, env), 'from-env');
  assert.is(readSecret({ kind: 'cmd', argv: ['/bin/sh', '-c', 'printf "from-cmd\\n"'] }, env), 'from-cmd');
});

test('secrets: failures name the source, never the output', () => {
  const message = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      assert.instance(e, SecretError);
      return (e as Error).message;
    }
    throw new Error('expected a SecretError');
  };
  assert.match(message(() => readSecret({ kind: 'file', path: join(dir, 'nope') }, env)), /cannot read .*nope \(ENOENT\)/);
  assert.match(message(() => readSecret({ kind: 'env', name: 'NOPE' }, env)), /NOPE is not set/);
  const failed = message(() => readSecret({ kind: 'cmd', argv: ['/bin/sh', '-c', 'echo leaked-secret; echo leaked-err >&2; exit 3'] }, env));
  assert.match(failed, /failed \(exit 3\)/);
  assert.not.match(failed, /leaked/);
  const slow = message(() => readSecret({ kind: 'cmd', argv: ['/bin/sh', '-c', 'echo partial; sleep 5'] }, env, 300));
  assert.match(slow, /did not finish within/);
  assert.not.match(slow, /partial/);
  assert.match(message(() => readSecret({ kind: 'cmd', argv: ['/bin/true'] }, env)), /empty secret/);
});

// ------------------------------------------------------------ config

const base = (account: string, provider = ''): string => `
[[socket]]
path = "${dir}/s.sock"
[provider.microsoft]
authority = "${emu.microsoft.authority}"
${provider}
[[account]]
user = "box@contoso.example"
provider = "microsoft"
${account}
`;

function problems(text: string): string {
  try {
    parseConfig(text, 'c.toml', env);
  } catch (e) {
    assert.instance(e, ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected the config to be refused');
}

test('config: client_credentials with a secret from a file, env or command', () => {
  const fromFile: Config = parseConfig(base(`auth = "client_credentials"\ntenant = "contoso.example"\nclient_id = "a"\nclient_secret_file = "~/secret.txt"`), 'c.toml', env);
  assert.is(fromFile.accounts[0]!.auth, 'client_credentials');
  assert.is(fromFile.accounts[0]!.clientSecret, 'from-file');
  const fromEnv = parseConfig(base(`auth = "client_credentials"\ntenant = "contoso.example"\nclient_id = "a"\nclient_secret_env = "APP_SECRET"`), 'c.toml', env);
  assert.is(fromEnv.accounts[0]!.clientSecret, 'from-env');
  // Inherited from the provider section, command form.
  const fromCmd = parseConfig(base('', `auth = "client_credentials"\ntenant = "contoso.example"\nclient_id = "a"\nclient_secret_cmd = ["/bin/echo", "from-cmd"]`), 'c.toml', env);
  assert.is(fromCmd.accounts[0]!.clientSecret, 'from-cmd');
  assert.is(fromCmd.accounts[0]!.auth, 'client_credentials');
});

test('config: client_credentials rules', () => {
  assert.match(problems(base(`auth = "client_credentials"\nclient_id = "a"\nclient_secret = "x"`)), /account\[0\]\.tenant: client credentials need the tenant .*not "common"/);
  assert.match(problems(base(`auth = "client_credentials"\ntenant = "t.example"\nclient_id = "a"`)), /account\[0\]\.client_secret: no credential/);
  assert.match(problems(base(`tenant = "t.example"\nclient_id = "a"\nclient_secret = "x"\nclient_secret_env = "APP_SECRET"`)), /set only one of client_secret/);
  const cmdFails = problems(base(`auth = "client_credentials"\ntenant = "t.example"\nclient_id = "a"\nclient_secret_cmd = "echo hush-hush; exit 2"`));
  assert.match(cmdFails, /client_secret_cmd: no client_secret .*exit 2/);
  assert.not.match(cmdFails, /hush-hush/);
  assert.match(
    problems(base(`auth = "client_credentials"\ntenant = "t.example"\nclient_id = "a"\ncertificate_file = "${dir}/app.crt"\nprivate_key_file = "${dir}/other.key"`)),
    /does not belong to the certificate/,
  );
  assert.match(problems(base(`auth = "service_account"\nclient_id = "a"`)), /account\[0\]\.auth: auth = "service_account" is for Google/);
});

test('config: named provider sections carry app-only defaults per tenant; templates', () => {
  const cfg = parseConfig(`
[[socket]]
path = "${dir}/s.sock"
accounts = ["@contoso.example", "@fabrikam.example"]
[provider.contoso]
type = "microsoft"
authority = "${emu.microsoft.authority}"
tenant = "contoso.example"
client_id = "contoso-app"
auth = "client_credentials"
client_secret_file = "${dir}/secret.txt"
[provider.fabrikam]
type = "microsoft"
authority = "https://login.microsoftonline.us"
tenant = "fabrikam.example"
client_id = "fabrikam-app"
auth = "client_credentials"
certificate_file = "${dir}/app.crt"
private_key_file = "${dir}/app.key"
[[account]]
user = "@contoso.example"
provider = "contoso"
max_accounts = 5
[[account]]
user = "@fabrikam.example"
provider = "fabrikam"
[[account]]
user = "boss@contoso.example"
provider = "contoso"
`, 'c.toml', env);
  assert.equal(cfg.accounts.map((a) => a.user), ['boss@contoso.example']);
  const [contoso, fabrikam] = cfg.templates!;
  assert.is(contoso!.user, '@contoso.example');
  assert.is(contoso!.maxAccounts, 5);
  assert.is(contoso!.clientSecret, 'from-file');
  assert.is(contoso!.tenant, 'contoso.example');
  assert.equal(contoso!.protocols, ['SMTP']);
  assert.is(fabrikam!.clientId, 'fabrikam-app');
  assert.ok(fabrikam!.certificate?.thumbprintSha256.match(/^[0-9a-f]{64}$/));
  assert.is(cfg.accounts[0]!.auth, 'client_credentials');
  assert.match(problems(base(`max_accounts = 3\nclient_id = "a"`)), /account\[0\]\.max_accounts: max_accounts is only for templates/);
  assert.match(problems(base('', '').replace('user = "box@contoso.example"', 'user = "@bad domain"')), /account\[0\]\.user:/);
});

test('scope host follows the cloud', async () => {
  const { appOnlyScope } = await import('../src/providers/microsoft-client-credentials.js');
  assert.is(appOnlyScope('https://login.microsoftonline.com'), 'https://outlook.office365.com/.default');
  assert.is(appOnlyScope('https://login.microsoftonline.us'), 'https://outlook.office365.us/.default');
  assert.is(appOnlyScope('https://login.partner.microsoftonline.cn'), 'https://partner.outlook.cn/.default');
});

// ------------------------------------------------------------ provider against the emulator

const provider = new MicrosoftProvider({ authority: emu.microsoft.authority, tenant: 'common' });
const account = (extra: Partial<ProviderAccount>): ProviderAccount => ({
  user: 'box@contoso.example',
  providerName: 'microsoft',
  clientId: 'app-secret',
  tenant: 'contoso.example',
  protocols: ['SMTP'],
  auth: 'client_credentials',
  ...extra,
});

async function refusal(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, ProviderError);
    return e as ProviderError;
  }
  throw new Error('expected a refusal');
}

test('client credentials with a secret: app token for outlook.office365.com, fresh each time (skipCache)', async () => {
  const signal = new AbortController().signal;
  const first = await provider.acquireAppOnly(account({ clientSecret: SECRET }), signal);
  const second = await provider.acquireAppOnly(account({ clientSecret: SECRET }), signal);
  assert.ok(first.expiresInMs > 500_000 && first.expiresInMs <= 601_000);
  assert.is.not(first.accessToken, second.accessToken);
  const info = emu.lookupToken(first.accessToken);
  assert.is(info?.clientId, 'app-secret');
  assert.equal(info?.scopes, ['https://outlook.office365.com/.default']);
  const claims = JSON.parse(Buffer.from(first.accessToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  assert.is(claims['idtyp'], 'app');
  assert.is(claims['aud'], 'https://outlook.office365.com');
});

test('client credentials with a certificate: assertion verified by the emulator', async () => {
  const signal = new AbortController().signal;
  const { parseConfig: parse } = await import('../src/config/index.js');
  const cfg = parse(base(`auth = "client_credentials"\ntenant = "contoso.example"\nclient_id = "app-cert"\ncertificate_file = "${dir}/app.crt"\nprivate_key_file = "${dir}/app.key"`), 'c.toml', env);
  const certificate = cfg.accounts[0]!.certificate!;
  const ok = await provider.acquireAppOnly(account({ clientId: 'app-cert', certificate }), signal);
  assert.is(emu.lookupToken(ok.accessToken)?.clientId, 'app-cert');
  // Signed with a key the emulator did not register: refused, not retried.
  const other = parse(base(`auth = "client_credentials"\ntenant = "contoso.example"\nclient_id = "app-cert"\ncertificate_file = "${dir}/other.crt"\nprivate_key_file = "${dir}/other.key"`), 'c.toml', env);
  const e = await refusal(provider.acquireAppOnly(account({ clientId: 'app-cert', certificate: other.accounts[0]!.certificate! }), signal));
  assert.is(e.kind, 'revoked');
  assert.is(e.providerCode, 'AADSTS700027');
});

test('client credentials refusals are `revoked` with the provider code', async () => {
  const signal = new AbortController().signal;
  const wrong = await refusal(provider.acquireAppOnly(account({ clientSecret: 'not-it' }), signal));
  assert.is(wrong.kind, 'revoked');
  assert.is(wrong.providerCode, 'AADSTS7000215');
  assert.not.match(wrong.message, /not-it/);
  const tenant = await refusal(provider.acquireAppOnly(account({ clientSecret: SECRET, tenant: 'nowhere.invalid' }), signal));
  assert.is(tenant.kind, 'revoked');
  assert.is(tenant.providerCode, 'AADSTS90002');
  const notInstalled = await refusal(provider.acquireAppOnly(account({ clientSecret: SECRET, tenant: 'fabrikam.example' }), signal));
  assert.is(notInstalled.kind, 'revoked');
  assert.is(notInstalled.providerCode, 'AADSTS700016');
  const common = await refusal(provider.acquireAppOnly(account({ clientSecret: SECRET, tenant: 'common' }), signal));
  assert.is(common.kind, 'revoked');
});

test('client credentials: 503 stays transient', async () => {
  const id = emu.setFault({ provider: 'microsoft', kind: 'status', status: 503, count: 1 });
  try {
    const e = await refusal(provider.acquireAppOnly(account({ clientId: 'app-secret', clientSecret: SECRET, tenant: 'contoso.example' }), new AbortController().signal));
    assert.is(e.kind, 'transient');
  } finally {
    emu.clearFault(id);
  }
});

// ------------------------------------------------------------ Google service accounts

const SA = 'relay@mailtokend-test.iam.gserviceaccount.com';
const saKey = emu.issueServiceAccountKey({ email: SA, domains: ['example.org'] });
writeFileSync(join(dir, 'sa.json'), JSON.stringify(saKey), { mode: 0o600 });
const google = new GoogleProvider({ authUrl: emu.google.authUrl, tokenUrl: 'https://oauth2.googleapis.com/token' });

const gbase = (account: string): string => `
[[socket]]
path = "${dir}/s.sock"
[[account]]
user = "carol@example.org"
provider = "google"
${account}
`;

test('config: service_account reads the key file; no client id or secret needed', () => {
  const cfg = parseConfig(gbase(`auth = "service_account"\nservice_account_file = "~/sa.json"`), 'c.toml', env);
  const a = cfg.accounts[0]!;
  assert.is(a.auth, 'service_account');
  assert.is(a.serviceAccount?.clientEmail, SA);
  assert.is(a.serviceAccount?.tokenUri, emu.google.tokenUrl);
  assert.match(problems(gbase(`auth = "service_account"`)), /account\[0\]\.service_account_file: no service_account_file/);
  writeFileSync(join(dir, 'bad.json'), '{"type":"authorized_user"}');
  assert.match(problems(gbase(`auth = "service_account"\nservice_account_file = "${dir}/bad.json"`)), /is not a service account key/);
});

const gAccount = (user: string, key = saKey): ProviderAccount => ({
  user,
  providerName: 'google',
  clientId: SA,
  protocols: ['IMAP'],
  auth: 'service_account',
  serviceAccount: { clientEmail: key.client_email, privateKey: key.private_key, privateKeyId: key.private_key_id, tokenUri: key.token_uri },
});

test('service account: token for the impersonated user through the key\'s token_uri (interceptor)', async () => {
  const signal = new AbortController().signal;
  const before = emu.stats().requests;
  const out = await google.acquireAppOnly(gAccount('carol@example.org'), signal);
  assert.ok(emu.isValidAccessToken(out.accessToken, 'carol@example.org'), 'a token for carol, not for the service account');
  assert.is(emu.lookupToken(out.accessToken)?.clientId, SA);
  assert.ok(out.expiresInMs > 500_000 && out.expiresInMs <= 601_000);
  assert.ok(emu.stats().requests > before, 'the emulator, not Google, was asked');
  const again = await google.acquireAppOnly(gAccount('carol@example.org'), signal);
  assert.is.not(again.accessToken, out.accessToken);
});

test('service account refusals are `revoked`: foreign key, outside delegation, disabled', async () => {
  const signal = new AbortController().signal;
  // A key the emulator never issued for this account (another account's key under this email).
  const other = emu.issueServiceAccountKey({ email: 'other@mailtokend-test.iam.gserviceaccount.com' });
  const forged = { ...saKey, private_key: other.private_key };
  const sig = await refusal(google.acquireAppOnly(gAccount('carol@example.org', forged), signal));
  assert.is(sig.kind, 'revoked');
  assert.is(sig.providerCode, 'invalid_grant');
  assert.match(sig.message, /Invalid JWT Signature/);
  const outside = await refusal(google.acquireAppOnly(gAccount('dave@elsewhere.example'), signal));
  assert.is(outside.kind, 'revoked');
  assert.is(outside.providerCode, 'unauthorized_client');
  emu.changeServiceAccount(SA, { disabled: true });
  const disabled = await refusal(google.acquireAppOnly(gAccount('carol@example.org'), signal));
  assert.is(disabled.kind, 'revoked');
  assert.match(disabled.message, /disabled/);
  emu.changeServiceAccount(SA, { disabled: false });
  await google.acquireAppOnly(gAccount('carol@example.org'), signal);
});

test.run();
