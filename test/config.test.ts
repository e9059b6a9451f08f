import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, defaultConfigPath, loadConfig, parseConfig, type Config } from '../src/config/index.js';

// Tests run from dist/test; fixtures and docs stay in the source tree.
const root = new URL('../../', import.meta.url);
const fixture = (name: string): string => fileURLToPath(new URL(`test/fixtures/config/${name}`, root));
const env = { HOME: '/home/u' };

function parse(text: string, e: Record<string, string> = env): Config {
  return parseConfig(text, 'test.toml', e);
}

test('an empty file gives every default', () => {
  const config = parse('');
  assert.is(config.file, 'test.toml');
  assert.is(config.stateDir, '/home/u/.local/state/mailtokend');
  assert.is(config.workers, Math.min(64, availableParallelism()));
  assert.is(config.requestTimeoutMs, 4000);
  assert.is(config.refreshAheadMs, 600_000);
  assert.is(config.logLevel, 'info');
  assert.is(config.adminSocket, '/home/u/.local/state/mailtokend/admin.sock');
  assert.equal(config.web, { listen: { host: '127.0.0.1', port: 8080 } });
  assert.equal(config.sockets, [
    {
      path: '/home/u/.local/state/mailtokend/mailtokend.sock',
      mode: 0o600,
      protocols: ['SMTP', 'IMAP', 'POP'],
      accounts: ['*'],
    },
  ]);
  assert.equal(config.accounts, []);
  assert.equal(Object.keys(config.providers).sort(), ['google', 'microsoft']);
  assert.equal(config.providers['google'], {
    name: 'google',
    type: 'google',
    authUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
    tokenUrl: 'https://oauth2.googleapis.com/token',
    revokeUrl: 'https://oauth2.googleapis.com/revoke',
    maxConcurrentRefreshes: 16,
  });
  assert.equal(config.providers['microsoft'], {
    name: 'microsoft',
    type: 'microsoft',
    authority: 'https://login.microsoftonline.com',
    tenant: 'common',
    maxConcurrentRefreshes: 16,
  });
  assert.equal(config.warnings, ['test.toml: account: no [[account]] is configured; the daemon will serve nothing']);
});

test('XDG variables move the state dir, the default socket and the config path', () => {
  const xdg = { HOME: '/home/u', XDG_STATE_HOME: '/xdg/state', XDG_RUNTIME_DIR: '/run/user/1000', XDG_CONFIG_HOME: '/xdg/config' };
  const config = parse('', xdg);
  assert.is(config.stateDir, '/xdg/state/mailtokend');
  assert.is(config.adminSocket, '/xdg/state/mailtokend/admin.sock');
  assert.is(config.sockets[0]!.path, '/run/user/1000/mailtokend/mailtokend.sock');
  assert.is(defaultConfigPath(xdg), '/xdg/config/mailtokend/config.toml');
  assert.is(defaultConfigPath(env), '/home/u/.config/mailtokend/config.toml');
  // The XDG spec says relative values are invalid and must be ignored.
  const relative = { HOME: '/home/u', XDG_STATE_HOME: 'state', XDG_CONFIG_HOME: 'cfg', XDG_RUNTIME_DIR: 'run' };
  assert.is(parse('', relative).stateDir, '/home/u/.local/state/mailtokend');
  assert.is(parse('', relative).sockets[0]!.path, '/home/u/.local/state/mailtokend/mailtokend.sock');
  assert.is(defaultConfigPath(relative), '/home/u/.config/mailtokend/config.toml');
});

test('a full config resolves every key', async () => {
  const config = await loadConfig(fixture('full.toml'), env);
  assert.is(config.file, fixture('full.toml'));
  assert.is(config.stateDir, '/home/u/mtk-state');
  assert.is(config.workers, 3);
  assert.is(config.requestTimeoutMs, 2500);
  assert.is(config.refreshAheadMs, 900_000);
  assert.is(config.logLevel, 'debug');
  assert.is(config.adminSocket, '/run/mailtokend/admin.sock');
  assert.equal(config.web.listen, { host: '::1', port: 9090 });
  assert.equal(config.sockets, [
    {
      path: '/run/mailtokend/exim.sock',
      mode: 0o660,
      group: 'Debian-exim',
      protocols: ['SMTP'],
      accounts: ['alice@example.com', '@contoso.com'],
    },
    { path: '/home/u/.mailtokend/mutt.sock', mode: 0o600, protocols: ['SMTP', 'IMAP'], accounts: ['Alice@Example.com'] },
    { path: '/run/mailtokend/pop.sock', mode: 0o600, group: '115', protocols: ['POP'], accounts: ['*'] },
  ]);
  assert.equal(config.accounts, [
    {
      user: 'alice@example.com',
      provider: 'google',
      providerType: 'google',
      clientId: 'google-app',
      clientSecret: 'google-secret',
      refreshAheadMs: 900_000,
      protocols: ['SMTP', 'IMAP', 'POP'],
    },
    {
      user: 'Bob@Contoso.com',
      provider: 'contoso',
      providerType: 'microsoft',
      clientId: 'contoso-app',
      clientSecret: 'contoso-secret',
      tenant: 'contoso.onmicrosoft.com',
      refreshAheadMs: 300_000,
      loginAs: 'shared@contoso.com',
      protocols: ['SMTP', 'POP'],
    },
    {
      user: 'carol@contoso.com',
      provider: 'microsoft',
      providerType: 'microsoft',
      clientId: 'carol-app',
      tenant: 'contoso.onmicrosoft.com',
      refreshAheadMs: 900_000,
      protocols: ['SMTP', 'POP'],
    },
    {
      user: 'dave@example.org',
      provider: 'google',
      providerType: 'google',
      clientId: 'dave-app',
      clientSecret: 'dave-secret',
      refreshAheadMs: 900_000,
      protocols: ['POP'],
    },
  ]);
  assert.equal(config.providers['google'], {
    name: 'google',
    type: 'google',
    authUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
    tokenUrl: 'http://127.0.0.1:8443/token',
    revokeUrl: 'https://oauth2.googleapis.com/revoke',
    clientId: 'google-app',
    clientSecret: 'google-secret',
    maxConcurrentRefreshes: 4,
  });
  assert.equal(config.providers['microsoft'], {
    name: 'microsoft',
    type: 'microsoft',
    authority: 'https://login.microsoftonline.com',
    tenant: 'common',
    clientId: 'ms-app',
    redirectUri: 'http://localhost:8080/callback',
    maxConcurrentRefreshes: 16,
  });
  assert.equal(config.providers['contoso'], {
    name: 'contoso',
    type: 'microsoft',
    authority: 'https://login.microsoftonline.us',
    tenant: 'contoso.onmicrosoft.com',
    clientId: 'contoso-app',
    clientSecret: 'contoso-secret',
    maxConcurrentRefreshes: 2,
  });
  assert.equal(config.warnings, []);
});

test('the complete example in doc/configuration.md is valid and draws no warning', () => {
  const doc = readFileSync(new URL('doc/configuration.md', root), 'utf8');
  const example = /## Complete example[\s\S]*?```toml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(example, 'doc has a complete example');
  const config = parse(example);
  assert.equal(config.warnings, []);
  assert.equal(
    config.accounts.map((a) => [a.user, a.providerType, a.protocols]),
    [
      ['alice@example.com', 'google', ['SMTP', 'IMAP']],
      ['bob@contoso.com', 'microsoft', ['SMTP']],
    ],
  );
  assert.equal(config.sockets[0], {
    path: '/run/mailtokend/exim.sock',
    mode: 0o660,
    group: 'Debian-exim',
    protocols: ['SMTP'],
    accounts: ['alice@example.com', 'bob@contoso.com'],
  });
});

test('inline tables, dotted keys and numeric durations are accepted', () => {
  const config = parse(`
web = { listen = "0.0.0.0:0" }
socket = [{ path = "/tmp/a.sock", protocols = ["IMAP"] }]
provider.google.client_id = "g"
provider.google.client_secret = "s"
account = [{ user = "a@b.c", provider = "google", refresh_ahead = 90 }]
`);
  assert.equal(config.web.listen, { host: '0.0.0.0', port: 0 });
  assert.equal(config.sockets[0]!.protocols, ['IMAP']);
  assert.is(config.accounts[0]!.refreshAheadMs, 90_000);
  assert.equal(config.accounts[0]!.protocols, ['IMAP']);
});

test('warnings: world-writable socket, unserved account, pattern matching nobody, long request_timeout', () => {
  const config = parse(`request_timeout = "5s"
[[socket]]
path = "/tmp/x.sock"
mode = "0666"
accounts = ["nobody@example.com"]
[[account]]
user = "a@b.c"
provider = "microsoft"
client_id = "id"
`);
  assert.equal(config.warnings, [
    "test.toml:1: request_timeout: exim's readsocket gives up after 5s; a longer wait only helps other clients",
    'test.toml:4: socket[0].mode: mode 0666 lets every local user ask for tokens; prefer a group',
    'test.toml:5: socket[0].accounts[0]: "nobody@example.com" matches no configured account',
    'test.toml:7: account[0].user: no socket serves a@b.c; its token is kept fresh but nobody can ask for it',
  ]);
  assert.equal(config.accounts[0]!.protocols, []);
});

test('a missing file is config-missing', async () => {
  const error = await loadConfig(fixture('does-not-exist.toml'), env).catch((e: unknown) => e);
  assert.instance(error, ConfigError);
  const configError = error as ConfigError;
  assert.is(configError.code, 'config-missing');
  assert.is(configError.file, fixture('does-not-exist.toml'));
  assert.match(configError.message, /does-not-exist\.toml: no such file/);
});

test('a directory is config-unreadable', async () => {
  const error = await loadConfig(fixture(''), env).catch((e: unknown) => e);
  assert.instance(error, ConfigError);
  assert.is((error as ConfigError).code, 'config-unreadable');
});

test.run();
