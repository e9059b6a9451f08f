/**
 * The parts of signing in that need no daemon: pending states (single use,
 * bound, expiring), attempts, pasted addresses, redirect URIs, the notify
 * config keys, the notifier's rules and how it runs commands.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, parseConfig, type Config } from '../src/config/index.js';
import type { DaemonContext } from '../src/daemon/context.js';
import { DaemonEvents } from '../src/daemon/events.js';
import type { AccountUpdate } from '../src/host/messages.js';
import { Notifier } from '../src/notify/notify.js';
import { notifyEnv, runCommand } from '../src/notify/run-command.js';
import { SignInAttempts } from '../src/signin/attempts.js';
import { challengeOf, PENDING_LIFETIME_MS, PendingSignIns } from '../src/signin/pending.js';
import { callbackPaths, redirectUriOf, signInPageUrl, webBase } from '../src/signin/redirect.js';
import { parsePasted } from '../src/signin/signin.js';

const FILE = '/etc/mailtokend/config.toml';
const ENV = { HOME: '/home/u' };
const ACCOUNTS = '[[account]]\nuser = "alice@contoso.example"\nprovider = "microsoft"\nclient_id = "c"\n';

function config(top = '', tail = ''): Config {
  return parseConfig(`${top}\n${ACCOUNTS}${tail}`, FILE, ENV);
}

test('pending: a state is single-use, bound to its attempt, and expires after 10 minutes', () => {
  let now = 1_000_000;
  const pending = new PendingSignIns(() => now);
  const a = pending.create({ attempt: 'A', key: 'alice@x', user: 'alice@x', redirectUri: 'http://127.0.0.1:8080/oauth2/microsoft' });
  const b = pending.create({ attempt: 'B', key: 'bob@x', user: 'bob@x', redirectUri: 'http://127.0.0.1:8080/oauth2/google' });
  assert.is.not(a.state, b.state);
  assert.ok(a.state.length >= 22 && a.codeVerifier.length >= 43);
  assert.is(a.codeChallenge, challengeOf(a.codeVerifier));
  assert.is(challengeOf('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', 'RFC 7636 appendix B');

  assert.equal(pending.take(b.state, 'A'), { ok: false, reason: 'wrong-attempt' }, 'another attempt cannot use it');
  const taken = pending.take(a.state);
  assert.ok(taken.ok && taken.pending.key === 'alice@x');
  assert.equal(pending.take(a.state), { ok: false, reason: 'unknown-state' }, 'replay');
  assert.equal(pending.take('forged'), { ok: false, reason: 'unknown-state' });

  now += PENDING_LIFETIME_MS;
  assert.equal(pending.take(b.state), { ok: false, reason: 'expired' });
  assert.is(pending.size, 0);
});

test('pending: bounded, the oldest go first; dropAttempt removes an attempt\'s states', () => {
  const pending = new PendingSignIns(Date.now, 3);
  const states = [1, 2, 3, 4].map((i) => pending.create({ attempt: `A${i}`, key: 'k', user: 'k', redirectUri: 'http://localhost/' }).state);
  assert.is(pending.size, 3);
  assert.equal(pending.take(states[0]!), { ok: false, reason: 'unknown-state' });
  pending.dropAttempt('A2');
  assert.not.ok(pending.peek(states[1]!));
  assert.ok(pending.peek(states[2]!));
});

test('attempts: wait answers at settle, once; a pending one expires', async () => {
  let now = 0;
  const attempts = new SignInAttempts(() => now);
  const id = attempts.create({ key: 'a', user: 'A', mode: 'browser', lifetimeMs: 1000 });
  const waiting = attempts.wait(id, 5_000);
  attempts.settle(id, { ok: true, code: 'ok', message: 'signed in', identity: 'A' });
  attempts.settle(id, { ok: false, code: 'late', message: 'ignored' });
  const done = await waiting;
  assert.is(done?.status, 'ok');
  assert.is(done?.identity, 'A');

  const other = attempts.create({ key: 'b', user: 'B', mode: 'paste', lifetimeMs: 1000 });
  assert.is((await attempts.wait(other, 5))?.status, 'pending');
  now = 2000;
  const expired = await attempts.wait(other, 5);
  assert.is(expired?.status, 'failed');
  assert.is(expired?.code, 'signin-expired');
  assert.is(await attempts.wait('nope', 5), undefined);
});

test('parsePasted: a full address on any host, or only its query', () => {
  const full = parsePasted('  http://localhost:9/oauth2/microsoft?code=C&state=S&session_state=x \n');
  assert.is(full?.path, '/oauth2/microsoft');
  assert.is(full?.params.get('code'), 'C');
  const query = parsePasted('?code=C&state=S');
  assert.is(query?.path, undefined);
  assert.is(query?.params.get('state'), 'S');
  assert.is(parsePasted('code=C&state=S')?.params.get('code'), 'C');
  assert.is(parsePasted('hello'), undefined);
  assert.is(parsePasted(''), undefined);
});

test('redirect URIs: configured wins; default is the listener, a wildcard listen becomes loopback', () => {
  const plain = config();
  assert.is(redirectUriOf(plain.providers.microsoft!, plain, undefined), 'http://127.0.0.1:8080/oauth2/microsoft');
  assert.is(redirectUriOf(plain.providers.google!, plain, undefined), 'http://127.0.0.1:8080/oauth2/google');
  const wild = config('', '[web]\nlisten = "0.0.0.0:9000"\n[provider.microsoft]\nredirect_uri = "http://localhost:53682/"\n');
  assert.is(webBase(wild, undefined), 'http://127.0.0.1:9000');
  assert.is(redirectUriOf(wild.providers.microsoft!, wild, undefined), 'http://localhost:53682/');
  assert.equal([...callbackPaths(wild, undefined)].sort(), ['/', '/oauth2/google']);
  assert.is(signInPageUrl(wild, undefined, 'a+b@x.example'), 'http://127.0.0.1:9000/auth/a%2Bb%40x.example');
  assert.is(webBase(config('', '[web]\nlisten = "[::]:8080"\n'), undefined), 'http://[::1]:8080');
});

test('config: auth_notify_cmd / error_notify_cmd as a shell string or an argv array; interval default 15m', () => {
  const c = config('auth_notify_cmd = "notify-send \\"$MAILTOKEND_ACCOUNT\\""\nerror_notify_cmd = ["logger", "-t", "mailtokend"]\n');
  assert.equal(c.notify.authCmd, ['/bin/sh', '-c', 'notify-send "$MAILTOKEND_ACCOUNT"']);
  assert.equal(c.notify.errorCmd, ['logger', '-t', 'mailtokend']);
  assert.is(c.notify.authIntervalMs, 15 * 60_000);
  assert.is(config('auth_notify_interval = "1h"\n').notify.authIntervalMs, 3_600_000);
  assert.is(config().notify.authCmd, undefined);
});

test('config: bad notify keys are refused with file, line and key', () => {
  for (const [text, key, message] of [
    ['log_level = "info"\nauth_notify_cmd = []\n', 'auth_notify_cmd', /array of strings/],
    ['\nerror_notify_cmd = ""\n', 'error_notify_cmd', /empty/],
    ['\nauth_notify_interval = "0s"\n', 'auth_notify_interval', /longer than 0/],
    ['\nauth_notify_cmd = ["notify-send", 3]\n', 'auth_notify_cmd', /array of strings/],
  ] as const) {
    try {
      config(text);
      assert.unreachable(`accepted ${text}`);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      assert.is(error.key, key, error.message);
      assert.is(error.line, 2, error.message);
      assert.match(error.message, message);
      assert.ok(error.message.startsWith(`${FILE}:2: ${key}: `), error.message);
    }
  }
});

test('notifyEnv: drops MAILTOKEND_* (the store key may be one) and CREDENTIALS_DIRECTORY, adds exactly the event variables', () => {
  const env = notifyEnv(
    { PATH: '/bin', MAILTOKEND_STORE_KEY: 'k', MAILTOKEND_CONFIG: '/c', CREDENTIALS_DIRECTORY: '/run/cred', DISPLAY: ':0' },
    { MAILTOKEND_ACCOUNT: 'a@x', MAILTOKEND_URL: 'http://127.0.0.1:8080/auth/a%40x' },
  );
  assert.equal(env, { PATH: '/bin', DISPLAY: ':0', MAILTOKEND_ACCOUNT: 'a@x', MAILTOKEND_URL: 'http://127.0.0.1:8080/auth/a%40x' });
});

test('runCommand: no shell between config and values; a command past its timeout is killed with its children', async () => {
  const out = await runCommand(['/bin/sh', '-c', 'printf %s "$X" >&2; exit 3'], { X: '$(touch /nonexistent); `id`' });
  assert.is(out.code, 3);
  assert.is(out.stderr, '$(touch /nonexistent); `id`', 'the value came through verbatim, not evaluated');
  const started = Date.now();
  const slow = await runCommand(['/bin/sh', '-c', 'sleep 30 & sleep 30; wait'], {}, 200);
  assert.ok(slow.timedOut);
  assert.ok(Date.now() - started < 5_000);
  const missing = await runCommand(['/nonexistent/notifier'], {});
  assert.ok(missing.error);
});

/** A daemon context with only what the notifier uses. */
function fakeContext(cfg: Config, logs: string[]): { context: DaemonContext; events: DaemonEvents } {
  const events = new DaemonEvents();
  const log = {
    info: () => undefined,
    warn: (_fields: unknown, msg: string) => logs.push(msg),
  };
  const context = { config: cfg, env: {}, log, web: undefined, events, onShutdown: () => undefined } as unknown as DaemonContext;
  return { context, events };
}

function update(state: AccountUpdate['state'], extra: Partial<AccountUpdate> = {}): AccountUpdate {
  return { type: 'account', key: 'alice@contoso.example', user: 'alice@contoso.example', provider: 'microsoft', state, at: Date.now(), ...extra };
}

test('notifier: error command after three transient failures in a row, once per run; a refresh resets it', async () => {
  const logs: string[] = [];
  const { context } = fakeContext(config('error_notify_cmd = ["/bin/true"]\n'), logs);
  const notifier = new Notifier(context);
  const fail = (at: number) => notifier.onUpdate(update('valid', { lastRefreshAt: 10, lastError: { code: 'http-503', message: 'down', at } }));
  fail(20);
  fail(20); // same error republished: not a new failure
  fail(30);
  assert.equal(logs, []);
  fail(40);
  assert.equal(logs, ['account keeps failing to refresh']);
  fail(50);
  assert.is(logs.length, 1, 'once per run of failures');
  notifier.onUpdate(update('valid', { lastRefreshAt: 60, lastError: { code: 'http-503', message: 'down', at: 50 } }));
  fail(70);
  fail(80);
  fail(90);
  assert.is(logs.length, 2, 'a new run after a good refresh');
  notifier.close();
});

test('notifier: unauthenticated logs how to sign in once per entry; leaving it stops the repeats', () => {
  const logs: string[] = [];
  const { context } = fakeContext(config(), logs);
  const notifier = new Notifier(context);
  notifier.onUpdate(update('unauthenticated', { lastError: { code: 'invalid_grant', message: 'revoked', at: 1 } }));
  notifier.onUpdate(update('unauthenticated'));
  assert.is(logs.length, 1);
  assert.match(logs[0]!, 'mailtokend login alice@contoso.example');
  assert.match(logs[0]!, 'http://127.0.0.1:8080/auth/alice%40contoso.example');
  notifier.onUpdate(update('valid'));
  notifier.onUpdate(update('unauthenticated'));
  assert.is(logs.length, 2, 'a new entry into unauthenticated is told again');
  notifier.close();
});

test.run();
