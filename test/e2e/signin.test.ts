/**
 * Signing accounts in, end to end: the built daemon, its web listener and
 * `mailtokend login`, against the provider emulator, through real HTTP with
 * redirects followed the way a browser follows them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Harness, waitUntil } from '../helpers/daemon.js';
import { browse, expectPage, getOnce, isPage, LoginProcess, rawRequest, webBase, writeSignInConfig } from '../helpers/signin.js';

const ALICE = 'alice@contoso.example';
const BOB = 'bob@gmail.example';
const ERIN = 'erin@contoso.example';
const FRANK = 'frank@gmail.example';
const CAROL = 'carol@fabrikam.example';
const DAVE = 'dave@contoso.example';
const GINA = 'gina@gmail.example';
const GRACE = 'grace@contoso.example';
const HENRY = 'henry@contoso.example';
const MS_CLIENT = 'e2e-ms-client';

const h = await Harness.create({
  accounts: [
    { user: ALICE, provider: 'microsoft', grant: false },
    { user: BOB, provider: 'google', grant: false },
    { user: ERIN, provider: 'microsoft', grant: false },
    { user: FRANK, provider: 'google', grant: false },
    { user: CAROL, provider: 'microsoft' },
    { user: DAVE, provider: 'microsoft', grant: false },
    { user: GINA, provider: 'google', grant: false },
    { user: HENRY, provider: 'microsoft', grant: false },
  ],
  workers: 2,
});
// grace signs in through a second Microsoft app whose redirect URI points where nothing listens,
// as on a server whose browser is elsewhere: the page fails to load and the address is pasted.
writeSignInConfig(h, {
  tail: [
    '[provider.ms-paste]',
    'type = "microsoft"',
    `authority = "${h.emu.microsoft.authority}"`,
    `client_id = "${MS_CLIENT}"`,
    'redirect_uri = "http://localhost:9/"',
    '',
    '[[account]]',
    `user = "${GRACE}"`,
    'provider = "ms-paste"',
  ],
});
const daemon = await h.start();
const web = await webBase(daemon);
const browserLog = join(h.dir, 'browser.log');
const fakeBrowser = fileURLToPath(new URL('../helpers/signin-browser.js', import.meta.url));

test.after(async () => {
  await h.close();
});

async function stateOf(user: string): Promise<string | undefined> {
  return (await h.status()).find((a) => a.user === user)?.state;
}

test('GET / lists every account with its state and a sign-in link for unauthenticated ones', async () => {
  await h.waitForState(CAROL, 'valid');
  const page = expectPage(await browse(`${web}/`));
  assert.is(page.status, 200);
  assert.match(page.text, `${ALICE}</td><td>microsoft</td><td class="state-unauthenticated">unauthenticated`);
  assert.match(page.text, `href="/auth/${encodeURIComponent(ALICE)}">Sign in</a>`);
  assert.match(page.text, `<td class="state-valid">valid</td>`);
  assert.match(page.text, `href="/auth/${encodeURIComponent(CAROL)}">Sign in again</a>`);
  // grace's redirect URI is http://localhost:9/: a redirect to / is a callback, not the list.
  const forged = await getOnce(`${web}/?code=made-up&state=made-up`);
  assert.is(forged.status, 400);
  assert.match(forged.text, 'unknown or already used sign-in state');
  assert.equal(h.leaks(), []);
});

test('browser flow, Microsoft: /auth/USER → provider (PKCE, login_hint) → callback → valid, token served', async () => {
  const first = await getOnce(`${web}/auth/${encodeURIComponent(ALICE)}`, { 'sec-fetch-site': 'none' });
  assert.is(first.status, 302);
  const authorize = new URL(first.location!);
  assert.is(authorize.origin, h.emu.url);
  assert.is(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.is(authorize.searchParams.get('login_hint'), ALICE);
  assert.is(authorize.searchParams.get('redirect_uri'), `${web}/oauth2/microsoft`);
  assert.ok((authorize.searchParams.get('state') ?? '').length >= 20);
  assert.ok(authorize.searchParams.get('scope')?.includes('offline_access'));

  const page = expectPage(await browse(first.location!));
  assert.is(page.status, 200, page.text);
  assert.ok(page.url.startsWith(`${web}/oauth2/microsoft?code=`));
  assert.match(page.text, `${ALICE} is signed in`);
  assert.is(await stateOf(ALICE), 'valid');
  const token = await h.token(ALICE);
  assert.ok(token && h.emu.isValidAccessToken(token, ALICE), 'served token is valid at the provider');
  assert.not.match(page.text, token!);
  await daemon.waitForLog('signed in log', { msg: 'account signed in', account: ALICE });
});

test('browser flow, Google: access_type=offline, prompt=consent, PKCE; the grant is refreshable', async () => {
  const first = await getOnce(`${web}/auth/${encodeURIComponent(BOB)}`);
  const authorize = new URL(first.location!);
  assert.is(authorize.origin + authorize.pathname, h.emu.google.authUrl);
  assert.is(authorize.searchParams.get('access_type'), 'offline');
  assert.is(authorize.searchParams.get('prompt'), 'consent');
  assert.is(authorize.searchParams.get('code_challenge_method'), 'S256');
  assert.is(authorize.searchParams.get('login_hint'), BOB);
  const page = expectPage(await browse(`${web}/auth/${encodeURIComponent(BOB)}`));
  assert.is(page.status, 200, page.text);
  assert.match(page.text, `${BOB} is signed in`);
  assert.is(await stateOf(BOB), 'valid');
  // The stored grant works: an operator refresh goes through the new refresh token.
  const refreshed = await h.cli(['refresh', BOB]);
  assert.is(refreshed.code, 0, refreshed.stderr);
  const token = await h.token(BOB);
  assert.ok(token && h.emu.isValidAccessToken(token, BOB));
});

test('two sign-ins at the same time, finished in the opposite order', async () => {
  const erin = await getOnce(`${web}/auth/${encodeURIComponent(ERIN)}`);
  const frank = await getOnce(`${web}/auth/${encodeURIComponent(FRANK)}`);
  assert.is(erin.status, 302);
  assert.is(frank.status, 302);
  const [pf, pe] = await Promise.all([browse(frank.location!), browse(erin.location!)]);
  assert.match(expectPage(pf).text, `${FRANK} is signed in`);
  assert.match(expectPage(pe).text, `${ERIN} is signed in`);
  assert.is(await stateOf(ERIN), 'valid');
  assert.is(await stateOf(FRANK), 'valid');
});

test('a wrong state is refused without a provider call and without touching the account', async () => {
  const before = await h.token(CAROL);
  assert.ok(before);
  h.emu.setSignInMode(CAROL, 'wrong-state');
  try {
    const first = await getOnce(`${web}/auth/${encodeURIComponent(CAROL)}`);
    h.emu.resetStats();
    const page = expectPage(await browse(first.location!));
    assert.is(page.status, 400);
    assert.match(page.text, 'unknown or already used sign-in state');
    assert.is(h.emu.stats().requests, 1, 'only the authorize request reached the provider: the code was never redeemed');
  } finally {
    h.emu.setSignInMode(CAROL, 'approve');
  }
  assert.is(await stateOf(CAROL), 'valid');
  assert.is(await h.token(CAROL), before);
});

test('a replayed callback (state and code) and a replayed code with a fresh state are refused; the account keeps its grant', async () => {
  const page = expectPage(await browse(`${web}/auth/${encodeURIComponent(CAROL)}`));
  assert.is(page.status, 200, page.text);
  const callback = page.url;
  const token = await h.token(CAROL);
  const statusBefore = (await h.status()).find((a) => a.user === CAROL)!;

  h.emu.resetStats();
  const replay = await getOnce(callback);
  assert.is(replay.status, 400);
  assert.match(replay.text, 'unknown or already used sign-in state');
  assert.is(h.emu.stats().requests, 0, 'a replayed state never reaches the provider');

  // The same code under a new, valid state: the provider refuses the used code.
  const fresh = new URL((await getOnce(`${web}/auth/${encodeURIComponent(CAROL)}`)).location!);
  const forged = new URL(callback);
  forged.searchParams.set('state', fresh.searchParams.get('state')!);
  const reused = await getOnce(forged.toString());
  assert.is(reused.status, 400);
  assert.match(reused.text, 'AADSTS54005');

  const after = (await h.status()).find((a) => a.user === CAROL)!;
  assert.is(after.state, 'valid');
  assert.is(after.lastRefreshAt, statusBefore.lastRefreshAt);
  assert.is(await h.token(CAROL), token);
});

test('a foreign Host is refused (DNS rebinding); a cross-origin POST is refused', async () => {
  const evil = await rawRequest(web, '/', { headers: { host: 'evil.example:80' } });
  assert.is(evil.status, 421);
  const evilAuth = await rawRequest(web, `/auth/${encodeURIComponent(ALICE)}`, { headers: { host: 'rebind.attacker.example' } });
  assert.is(evilAuth.status, 421);
  const post = await rawRequest(web, `/auth/${encodeURIComponent(ALICE)}`, {
    method: 'POST',
    headers: { host: new URL(web).host, origin: 'https://evil.example', 'content-length': '0' },
  });
  assert.is(post.status, 403);
  // Another site linking to /auth/USER gets a confirmation page, not a redirect.
  const linked = await getOnce(`${web}/auth/${encodeURIComponent(ALICE)}`, { 'sec-fetch-site': 'cross-site' });
  assert.is(linked.status, 200);
  assert.match(linked.text, '<form method="post"');
});

test('login --device (Microsoft): prints the code, the emulator approves after a delay, the account is valid', async () => {
  h.emu.setDeviceUser(DAVE);
  try {
    const r = await h.cli(['login', '--device', DAVE], { timeoutMs: 40_000 });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.out, /code: [A-Z0-9]{6,}/);
    assert.match(r.out, `${h.emu.url}/devicelogin`);
    assert.match(r.out, `${DAVE}: signed in`);
  } finally {
    h.emu.setDeviceUser(undefined);
  }
  assert.is(await stateOf(DAVE), 'valid');
  const token = await h.token(DAVE);
  assert.ok(token && h.emu.isValidAccessToken(token, DAVE));
});

test('login --device for Google explains that Gmail refuses the device flow and suggests --paste', async () => {
  const r = await h.cli(['login', '--device', GINA]);
  assert.is(r.code, 1);
  assert.match(r.stderr, 'device flow');
  assert.match(r.stderr, '--paste');
  assert.match(r.stderr, '[device-unsupported]');
  assert.is(await stateOf(GINA), 'unauthenticated');
});

test('login --paste: the redirect page fails to load, its address is pasted, the daemon redeems the code', async () => {
  const login = new LoginProcess(h, ['--paste', GRACE]);
  const url = await login.url();
  assert.is(new URL(url).searchParams.get('redirect_uri'), 'http://localhost:9/');
  const walk = await browse(url);
  assert.not.ok(isPage(walk), 'nothing listens on the redirect URI');
  const failedUrl = (walk as { failedUrl: string }).failedUrl;
  assert.ok(failedUrl.startsWith('http://localhost:9/?code='));
  login.write(failedUrl);
  const code = await login.exited;
  assert.is(code, 0, login.stderr);
  assert.match(login.stdout, `${GRACE}: signed in`);
  assert.is(await stateOf(GRACE), 'valid');
});

test('login (browser): opens $BROWSER, which follows the redirects back to the daemon; login reports success', async () => {
  const login = new LoginProcess(h, [HENRY], { BROWSER: `${process.execPath} ${fakeBrowser}`, SIGNIN_BROWSER_LOG: browserLog });
  const code = await login.exited;
  assert.is(code, 0, `${login.stdout}\n${login.stderr}`);
  assert.match(login.stderr, 'Opened it with');
  assert.match(login.stdout, `${HENRY}: signed in`);
  const visited = JSON.parse(readFileSync(browserLog, 'utf8').trim().split('\n').pop()!) as { status: number; url: string; text: string };
  assert.is(visited.status, 200);
  assert.match(visited.text, `${HENRY} is signed in`);
  assert.is(await stateOf(HENRY), 'valid');
});

test('a refused sign-in (user denies) is reported by login and leaves the account unauthenticated', async () => {
  h.emu.setSignInMode(GINA, 'deny');
  try {
    const login = new LoginProcess(h, ['--no-browser', GINA]);
    const url = await login.url();
    const page = expectPage(await browse(url));
    assert.is(page.status, 400);
    assert.match(page.text, 'access_denied');
    assert.is(await login.exited, 1);
    assert.match(login.stderr, 'access_denied');
  } finally {
    h.emu.setSignInMode(GINA, 'approve');
  }
  assert.is(await stateOf(GINA), 'unauthenticated');
});

test('nothing secret reached the daemon output or the pages', async () => {
  await waitUntil('log flushed', () => daemon.stdout.length > 0);
  assert.equal(h.leaks(), []);
});

test.run();
