import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, parseConfig } from '../src/config/index.js';

const FILE = '/etc/mailtokend/config.toml';
const env = { HOME: '/home/u' };

/** The ConfigError `text` is refused with (fails the test if it is accepted). */
function refuse(text: string): ConfigError {
  try {
    parseConfig(text, FILE, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('config was accepted');
}

/** Refused with exactly one problem, which is checked against `line`, `key`, and `message`. */
function refuseOne(text: string, line: number, key: string, message: RegExp): ConfigError {
  const error = refuse(text);
  assert.is(error.problems.length, 1, error.message);
  assert.is(error.code, 'config-invalid');
  assert.is(error.file, FILE);
  assert.is(error.line, line, error.message);
  assert.is(error.key, key, error.message);
  assert.match(error.problems[0]!.message, message);
  assert.ok(error.message.startsWith(`${FILE}:${line}: ${key}: `), error.message);
  return error;
}

const GOOGLE = '[provider.google]\nclient_id = "g"\nclient_secret = "s"\n';
const account = (user: string, extra = ''): string => `[[account]]\nuser = "${user}"\nprovider = "google"\n${extra}`;

test('the message of the spec: file, line, key, known providers', () => {
  const text = [
    '# mailtokend', // 1
    '[provider.google]',
    'client_id = "g"',
    'client_secret = "s"',
    '',
    '[[account]]', // 6
    'user = "a@example.com"',
    'provider = "google"',
    '',
    '[[account]]', // 10
    'user = "b@example.com"',
    'provider = "google"',
    '[[account]]', // 13
    'provider = "gogle"', // 14
    'user = "c@example.com"',
  ].join('\n');
  const error = refuse(text);
  assert.is(error.message, '/etc/mailtokend/config.toml:14: account[2].provider: unknown provider "gogle"; known: google, microsoft');
});

test('unknown key in the third [[account]] names its line', () => {
  const text = `${GOOGLE}${account('a@b.c')}${account('b@b.c')}${account('c@b.c', 'tennant = "x"\n')}`;
  refuseOne(text, 13, 'account[2].tennant', /^unknown key "tennant"; did you mean "tenant"\?$/);
});

test('unknown keys everywhere: top level, [web], [[socket]], [provider.x]', () => {
  const error = refuse(`colour = 1\n[web]\nport = 1\n[[socket]]\npath = "/a"\nsecret = 1\n[provider.google]\nscope = "x"\n`);
  assert.equal(
    error.problems.map((p) => [p.line, p.key]),
    [
      [1, 'colour'],
      [3, 'web.port'],
      [6, 'socket[0].secret'],
      [8, 'provider.google.scope'],
    ],
  );
  assert.match(error.problems[1]!.message, /known: listen/);
});

test('wrong type', () => {
  refuseOne('workers = "two"', 1, 'workers', /^expected a number, got "two"$/);
  refuseOne('workers = 2.5', 1, 'workers', /^expected an integer/);
  refuseOne('workers = 65', 1, 'workers', /^must be at most 64, got 65$/);
  refuseOne('log_level = "loud"', 1, 'log_level', /^expected one of trace, debug, info, warn, error, got "loud"$/);
  refuseOne('\n[[socket]]\npath = "/a"\nprotocols = "SMTP"', 4, 'socket[0].protocols', /^expected an array, got "SMTP"$/);
  refuseOne('\n[[socket]]\npath = "/a"\nmode = 432', 4, 'socket[0].mode', /quoted octal string/);
  refuseOne('\n[[socket]]\npath = "/a"\nmode = "0999"', 4, 'socket[0].mode', /^expected an octal mode/);
  refuseOne('state_dir = "var/lib"', 1, 'state_dir', /absolute path/);
  refuseOne('web = 5', 1, 'web', /^expected a table, got 5$/);
});

test('a missing required key reports the table header', () => {
  refuseOne(`${GOOGLE}\n[[account]]\n# no user\nprovider = "google"\n`, 5, 'account[0].user', /^missing required key$/);
});

test('bad durations name the key', () => {
  refuseOne('refresh_ahead = "10 minutes"', 1, 'refresh_ahead', /^expected a duration like/);
  refuseOne('refresh_ahead = "30m1h"', 1, 'refresh_ahead', /^expected a duration/);
  refuseOne('request_timeout = "90s"', 1, 'request_timeout', /^must be at most 1m, got "90s"$/);
  refuseOne('request_timeout = 0', 1, 'request_timeout', /^must be longer than 0$/);
  refuseOne(`${GOOGLE}${account('a@b.c', 'refresh_ahead = -1\n')}`, 7, 'account[0].refresh_ahead', /got -1$/);
});

test('duplicate users, ignoring case, point at the first', () => {
  refuseOne(
    `${GOOGLE}${account('alice@example.com')}${account('Alice@Example.COM')}`,
    8,
    'account[1].user',
    /^duplicate account "Alice@Example.COM"; already defined as account\[0\] \(line 4\)$/,
  );
});

test('duplicate socket paths, after ~ expansion, and the admin socket', () => {
  refuseOne(
    '[[socket]]\npath = "/home/u/s.sock"\n[[socket]]\npath = "~/s.sock"\n',
    4,
    'socket[1].path',
    /^"\/home\/u\/s\.sock" is already the path of socket\[0\] \(line 1\)$/,
  );
  refuseOne('admin_socket = "/a.sock"\n[[socket]]\npath = "/a.sock"\n', 3, 'socket[0].path', /already the admin socket/);
  refuseOne(`[[socket]]\npath = "/${'x'.repeat(120)}"\n`, 2, 'socket[0].path', /too long for a UNIX socket/);
});

test('unknown provider, and provider sections of the wrong type', () => {
  refuseOne(`${account('a@b.c').replace('"google"', '"gogle"')}`, 3, 'account[0].provider', /^unknown provider "gogle"; known: google, microsoft$/);
  refuseOne('[provider.contoso]\nclient_id = "x"\n', 1, 'provider.contoso.type', /needs type = "google" or "microsoft"/);
  refuseOne('[provider.contoso]\ntype = "yahoo"\n', 2, 'provider.contoso.type', /^expected one of google, microsoft, got "yahoo"$/);
  refuseOne('[provider.google]\ntype = "microsoft"\n', 2, 'provider.google.type', /always of type "google"/);
  // Names inherited from Object.prototype are not providers.
  refuseOne('[[account]]\nuser = "a@b.c"\nprovider = "toString"\nclient_id = "x"\n', 3, 'account[0].provider', /unknown provider/);
});

test('a refused provider section is reported once, not again by its accounts', () => {
  refuseOne(
    '[provider.contoso]\ntype = "microsoft"\nauthority = "http://x"\nclient_id = "c"\n[[account]]\nuser = "a@b.c"\nprovider = "contoso"\n',
    3,
    'provider.contoso.authority',
    /^must be https/,
  );
  refuseOne(`[provider.google]\nclient_id = "g"\nclient_secret = "s"\nbogus = 1\n${account('a@b.c')}`, 4, 'provider.google.bogus', /^unknown key/);
});

test('a Google account without a secret names the account', () => {
  const error = refuseOne(
    `[provider.google]\nclient_id = "g"\n${account('alice@example.com')}`,
    3,
    'account[0].client_secret',
    /^no client_secret for alice@example\.com: Google requires one; set it here or in \[provider\.google\]$/,
  );
  assert.is(error.problems[0]!.line, 3);
});

test('an account without any client_id', () => {
  refuseOne('[[account]]\nuser = "bob@contoso.com"\nprovider = "microsoft"\n', 1, 'account[0].client_id', /^no client_id for bob@contoso\.com/);
});

test('tenant and login_as on a Google account', () => {
  refuseOne(`${GOOGLE}${account('a@b.c', 'tenant = "t"\n')}`, 7, 'account[0].tenant', /^tenant is only for Microsoft accounts/);
  refuseOne(`${GOOGLE}${account('a@b.c', 'login_as = "x@b.c"\n')}`, 7, 'account[0].login_as', /^login_as is only for Microsoft/);
});

test('authority must be https; Google endpoints https or loopback http', () => {
  refuseOne('[provider.microsoft]\nauthority = "http://login.microsoftonline.com"\n', 2, 'provider.microsoft.authority', /^must be https/);
  refuseOne('[provider.google]\ntoken_url = "http://example.com/token"\n', 2, 'provider.google.token_url', /^must be an https URL/);
  refuseOne('[provider.google]\nauth_url = "not a url"\n', 2, 'provider.google.auth_url', /^expected a URL/);
});

test('bad addresses and patterns', () => {
  refuseOne(`${GOOGLE}${account('alice example.com')}`, 5, 'account[0].user', /^expected a mail address/);
  refuseOne(`${GOOGLE}${account(`${'a'.repeat(250)}@b.cd`)}`, 5, 'account[0].user', /^expected a mail address/);
  refuseOne('[[socket]]\npath = "/a"\naccounts = [\n  "*",\n  "@",\n]\n', 5, 'socket[0].accounts[1]', /"@domain"/);
  refuseOne('[[socket]]\npath = "/a"\naccounts = []\n', 3, 'socket[0].accounts', /^must not be empty$/);
  refuseOne('[[socket]]\npath = "/a"\nprotocols = ["SMTP", "LMTP"]\n', 3, 'socket[0].protocols[1]', /^unknown protocol "LMTP"; known: SMTP, IMAP, POP$/);
});

test('secrets are never echoed', () => {
  const error = refuse('[provider.google]\nclient_secret = ""\n[provider.microsoft]\nclient_secret = ["hunter2"]\n');
  assert.not.match(error.message, /hunter2/);
  const leak = refuse('[provider.google]\nclient_secret = "hunter2"\nclient_id = 5\nbogus = "x"\n');
  assert.not.match(leak.message, /hunter2/);
});

test('all problems are reported together, in file order', () => {
  const error = refuse(`workers = 0
[[socket]]
path = "relative"
[[account]]
user = "a@b.c"
provider = "gogle"
[[account]]
user = "b@b.c"
provider = "google"
[provider.microsoft]
authority = "http://x"
`);
  assert.equal(
    error.problems.map((p) => `${p.line} ${p.key}`),
    ['1 workers', '3 socket[0].path', '6 account[0].provider', '7 account[1].client_id', '7 account[1].client_secret', '11 provider.microsoft.authority'],
  );
  assert.is(error.message.split('\n').length, 6);
  assert.is(error.line, 1);
  assert.is(error.key, 'workers');
});

test('a TOML syntax error keeps its line and column', () => {
  const error = refuse('workers = 2\n[[account]]\nuser = "a@b.c\nprovider = "google"\n');
  assert.is(error.code, 'config-syntax');
  assert.is(error.line, 3);
  assert.is(error.problems[0]!.column !== undefined, true);
  assert.ok(error.message.startsWith(`${FILE}:3:`), error.message);
  assert.is(error.message.split('\n').length, 1, 'the source lines are not quoted');
  const secret = refuse('[provider.google]\nclient_secret = "hunter2\n');
  assert.not.match(secret.message, /hunter2/);
  const duplicate = refuse('workers = 2\nworkers = 3\n');
  assert.is(duplicate.code, 'config-syntax');
  assert.is(duplicate.line, 2);
});

test.run();
