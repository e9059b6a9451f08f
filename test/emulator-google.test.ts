/**
 * The Google side of the emulator, driven through google-auth-library's
 * OAuth2Client with its endpoints pointed at the emulator.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { OAuth2Client, gaxios } from 'google-auth-library';
import { startEmulator, type Emulator } from '../emulator/index.js';
import { get, postForm, testCaDir } from '../emulator/testing.js';

// Read at load time: a missing test CA fails the file loudly (uvu hides errors thrown in before hooks).
const CA_DIR = testCaDir();

const GMAIL = 'https://mail.google.com/';
const CLIENT = '1234567890-emulated.apps.googleusercontent.com';
const SECRET = 'GOCSPX-emulated-secret';
const USER = 'bob@gmail.example';
const REDIRECT = 'http://127.0.0.1:8765/oauth2callback';

function client(emu: Emulator, secret = SECRET): OAuth2Client {
  return new OAuth2Client({
    clientId: CLIENT,
    clientSecret: secret,
    redirectUri: REDIRECT,
    endpoints: { oauth2TokenUrl: emu.google.tokenUrl, oauth2AuthBaseUrl: emu.google.authUrl, tokenInfoUrl: emu.google.tokeninfoUrl, oauth2RevokeUrl: emu.google.revokeUrl },
  });
}

const { GaxiosError } = gaxios;
type GaxiosError = gaxios.GaxiosError;

async function rejects(p: Promise<unknown>): Promise<GaxiosError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, GaxiosError);
    return e as GaxiosError;
  }
  throw new Error('expected a rejection');
}

function errorBody(e: GaxiosError): { error?: string; error_description?: string } {
  return (e.response?.data ?? {}) as { error?: string; error_description?: string };
}

let now = Date.now();
const g = suite('emulator: google via google-auth-library');

// Started at load time, not in a before hook: uvu 0.5 swallows errors thrown there and exits 0.
const emu = await startEmulator({ caDir: CA_DIR, accessTokenLifetime: 120, now: () => now });
emu.registerClient({ provider: 'google', clientId: CLIENT, clientSecret: SECRET });

g.after(async () => {
  await emu.close();
});

g.after.each(() => {
  emu.clearFaults();
});

g('refreshAccessToken and getAccessToken work; Google returns no new refresh token', async () => {
  const rt = emu.issueGrant({ provider: 'google', user: USER, clientId: CLIENT, scopes: [GMAIL] });
  const c = client(emu);
  c.setCredentials({ refresh_token: rt });
  const { credentials } = await c.refreshAccessToken();
  assert.ok(credentials.access_token?.startsWith('ya29.'));
  assert.is(credentials.scope, GMAIL);
  assert.is(credentials.token_type, 'Bearer');
  assert.is(credentials.refresh_token, rt, 'the library keeps the old one');
  // The library copies the old refresh token into its answer, so look at the wire itself.
  const raw = await postForm(emu.google.tokenUrl, { grant_type: 'refresh_token', refresh_token: rt, client_id: CLIENT, client_secret: SECRET });
  assert.equal(Object.keys(raw.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
  assert.ok(emu.isValidAccessToken(credentials.access_token!, USER));
  assert.not.ok(emu.isValidAccessToken(credentials.access_token!, 'someone@else.example'));
  // 120 s tokens sit inside the library's 5 min eager-refresh window, so this refreshes again.
  const { token } = await c.getAccessToken();
  assert.ok(token && emu.isValidAccessToken(token, USER));
});

g('access tokens expire by the emulator clock', async () => {
  const rt = emu.issueGrant({ provider: 'google', user: USER, clientId: CLIENT, scopes: [GMAIL] });
  const c = client(emu);
  c.setCredentials({ refresh_token: rt });
  const at = (await c.refreshAccessToken()).credentials.access_token!;
  const info = emu.lookupToken(at)!;
  assert.is(info.expiresAt - info.issuedAt, 120_000);
  now += 121_000;
  assert.not.ok(emu.isValidAccessToken(at));
  assert.is(emu.lookupToken(at)?.kind, 'access', 'still known, only expired');
});

g('a wrong client secret is invalid_client (401)', async () => {
  const rt = emu.issueGrant({ provider: 'google', user: USER, clientId: CLIENT, scopes: [GMAIL] });
  const c = client(emu, 'GOCSPX-wrong');
  c.setCredentials({ refresh_token: rt });
  const e = await rejects(c.refreshAccessToken());
  assert.is(e.response?.status, 401);
  assert.is(errorBody(e).error, 'invalid_client');
  assert.not.match(JSON.stringify(e.response?.data), /GOCSPX/);
});

g('a revoked or made-up refresh token is invalid_grant "Token has been expired or revoked."', async () => {
  const user = 'revoked@gmail.example';
  const rt = emu.issueGrant({ provider: 'google', user, clientId: CLIENT, scopes: [GMAIL] });
  emu.revokeUser(user);
  for (const token of [rt, '1//0madeup']) {
    const c = client(emu);
    c.setCredentials({ refresh_token: token });
    const e = await rejects(c.refreshAccessToken());
    assert.is(e.response?.status, 400);
    assert.equal(errorBody(e), { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
  }
});

g('429 with Retry-After reaches the client after its own retries', async () => {
  const user = 'busy@gmail.example';
  const rt = emu.issueGrant({ provider: 'google', user, clientId: CLIENT, scopes: [GMAIL] });
  emu.setFault({ provider: 'google', user, kind: 'rate-limit', retryAfter: 7 });
  emu.resetStats();
  const c = client(emu);
  c.setCredentials({ refresh_token: rt });
  const e = await rejects(c.refreshAccessToken());
  assert.is(e.response?.status, 429);
  assert.is(e.response?.headers.get('retry-after'), '7');
  assert.is(errorBody(e).error, 'rate_limit_exceeded');
  assert.is(emu.stats().refreshes[user], 4, 'gaxios tried four times');
});

g('auth code flow with PKCE: refresh token on first offline consent only, PKCE and reuse checked', async () => {
  const user = 'carol@gmail.example';
  const c = client(emu);
  const authorize = async (challenge: string, extra: Record<string, string> = {}): Promise<string> => {
    const url = c.generateAuthUrl({ scope: [GMAIL], access_type: 'offline', login_hint: user, code_challenge: challenge, code_challenge_method: 'S256' as never, state: 'xyz', ...extra });
    const res = await get(url);
    assert.is(res.status, 302);
    const loc = new URL(res.headers.get('location')!);
    assert.is(loc.searchParams.get('state'), 'xyz');
    assert.is(loc.searchParams.get('scope'), GMAIL);
    return loc.searchParams.get('code')!;
  };
  const pkce = await c.generateCodeVerifierAsync();
  const code = await authorize(pkce.codeChallenge!);
  const { tokens } = await c.getToken({ code, codeVerifier: pkce.codeVerifier });
  assert.ok(tokens.refresh_token?.startsWith('1//'));
  assert.ok(emu.isValidAccessToken(tokens.access_token!, user));
  assert.is(emu.lookupToken(tokens.refresh_token!)?.user, user);

  const reused = await rejects(c.getToken({ code, codeVerifier: pkce.codeVerifier }));
  assert.is(errorBody(reused).error, 'invalid_grant');

  const second = await c.getToken({ code: await authorize(pkce.codeChallenge!), codeVerifier: pkce.codeVerifier });
  assert.not.ok(second.tokens.refresh_token, 'no new refresh token without prompt=consent');
  const third = await c.getToken({ code: await authorize(pkce.codeChallenge!, { prompt: 'consent' }), codeVerifier: pkce.codeVerifier });
  assert.ok(third.tokens.refresh_token);

  const wrong = await c.generateCodeVerifierAsync();
  const e = await rejects(c.getToken({ code: await authorize(pkce.codeChallenge!), codeVerifier: wrong.codeVerifier }));
  assert.equal(errorBody(e), { error: 'invalid_grant', error_description: 'Invalid code verifier.' });
});

g('authorize: unregistered redirect URI is an error page; deny and wrong-state modes', async () => {
  const c = client(emu);
  const page = await get(c.generateAuthUrl({ scope: [GMAIL], login_hint: USER, redirect_uri: 'https://evil.example/cb' }));
  assert.is(page.status, 400);
  assert.match(page.text, /redirect_uri_mismatch/);
  const scope = await get(c.generateAuthUrl({ scope: ['https://mail.example/'], login_hint: USER }));
  assert.is(scope.status, 400);
  assert.match(scope.text, /invalid_scope/);
  emu.setSignInMode('dave@gmail.example', 'deny');
  const denied = await get(c.generateAuthUrl({ scope: [GMAIL], login_hint: 'dave@gmail.example', state: 's' }));
  assert.is(new URL(denied.headers.get('location')!).searchParams.get('error'), 'access_denied');
  emu.setSignInMode('erin@gmail.example', 'wrong-state');
  const crossed = await get(c.generateAuthUrl({ scope: [GMAIL], login_hint: 'erin@gmail.example', state: 's' }));
  assert.is.not(new URL(crossed.headers.get('location')!).searchParams.get('state'), 's');
  const form = await get(c.generateAuthUrl({ scope: [GMAIL] }));
  assert.is(form.status, 200);
  assert.match(form.text, /<form method="post"/);
});

g('tokeninfo and revoke', async () => {
  const rt = emu.issueGrant({ provider: 'google', user: USER, clientId: CLIENT, scopes: [GMAIL, 'email'] });
  const c = client(emu);
  c.setCredentials({ refresh_token: rt });
  const at = (await c.refreshAccessToken()).credentials.access_token!;
  const info = await c.getTokenInfo(at);
  assert.equal(info.scopes, [GMAIL, 'email']);
  assert.is(info.email, USER);
  await c.revokeToken(at);
  assert.not.ok(emu.isValidAccessToken(at), 'revoking the access token revokes the grant');
  const e = await rejects(c.refreshAccessToken());
  assert.is(errorBody(e).error, 'invalid_grant');
  const raw = await postForm(emu.google.revokeUrl, { token: rt });
  assert.is(raw.status, 400);
});

g.run();
