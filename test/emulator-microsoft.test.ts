/**
 * The Microsoft side of the emulator, driven through msal-node itself: if
 * msal accepts these answers (and refuses these errors) the way it does
 * Entra's, tests of the daemon against the emulator mean something.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ConfidentialClientApplication,
  CryptoProvider,
  InteractionRequiredAuthError,
  PublicClientApplication,
  ServerError,
} from '@azure/msal-node';
import { startEmulator, type Emulator } from '../emulator/index.js';
import { get, testCaDir } from '../emulator/testing.js';

// Read at load time: a missing test CA fails the file loudly (uvu hides errors thrown in before hooks).
const CA_DIR = testCaDir();

const IMAP = 'https://outlook.office.com/IMAP.AccessAsUser.All';
const SMTP = 'https://outlook.office.com/SMTP.Send';
const CLIENT = '08162f7c-0fd2-4200-a84a-f25a4db0b584';
const USER = 'alice@contoso.example';

function pca(emu: Emulator, tenant = 'common', clientId = CLIENT): PublicClientApplication {
  return new PublicClientApplication({
    auth: { clientId, authority: `${emu.microsoft.authority}/${tenant}`, knownAuthorities: [emu.microsoft.knownAuthority] },
  });
}

/** Refresh tokens msal-node holds in its cache (where the rotated one must land). */
function cachedRefreshTokens(app: PublicClientApplication): string[] {
  const cache = JSON.parse(app.getTokenCache().serialize()) as { RefreshToken: Record<string, { secret: string }> };
  return Object.values(cache.RefreshToken).map((r) => r.secret);
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

const ms = suite('emulator: microsoft via msal-node');

// Started at load time, not in a before hook: uvu 0.5 swallows errors thrown there and exits 0.
const emu = await startEmulator({ caDir: CA_DIR, accessTokenLifetime: 60, deviceCode: { interval: 1, approveAfterMs: 800 } });
emu.registerClient({ provider: 'microsoft', clientId: CLIENT });

ms.after(async () => {
  await emu.close();
});

ms.after.each(() => {
  emu.clearFaults();
});

ms('refresh works, the rotated refresh token is in the cache, the old one stays valid (rotate)', async () => {
  const rt = emu.issueGrant({ provider: 'microsoft', user: USER, clientId: CLIENT, scopes: [IMAP, SMTP] });
  const app = pca(emu);
  const r = await app.acquireTokenByRefreshToken({ refreshToken: rt, scopes: [IMAP], forceCache: true });
  assert.ok(r);
  assert.ok(emu.isValidAccessToken(r.accessToken, USER));
  assert.is(r.account?.username, USER);
  assert.ok(r.scopes.map((s) => s.toLowerCase()).includes(IMAP.toLowerCase()));
  const rts = cachedRefreshTokens(app);
  assert.is(rts.length, 1);
  assert.is.not(rts[0], rt);
  assert.is(emu.lookupToken(rts[0]!)?.kind, 'refresh');
  const again = await pca(emu).acquireTokenByRefreshToken({ refreshToken: rt, scopes: [SMTP] });
  assert.ok(again && emu.isValidAccessToken(again.accessToken));
});

ms('a domain or GUID tenant authority works too', async () => {
  for (const tenant of ['contoso.example', '72f988bf-86f1-41af-91ab-2d7cd011db47', 'organizations']) {
    const rt = emu.issueGrant({ provider: 'microsoft', user: USER, clientId: CLIENT, scopes: [IMAP], tenant });
    const r = await pca(emu, tenant).acquireTokenByRefreshToken({ refreshToken: rt, scopes: [IMAP] });
    assert.ok(r && emu.isValidAccessToken(r.accessToken), tenant);
  }
});

ms('a revoked grant fails with AADSTS50173, or the code revokeUser was given', async () => {
  const user = 'revoked@contoso.example';
  const rt = emu.issueGrant({ provider: 'microsoft', user, clientId: CLIENT, scopes: [IMAP] });
  emu.revokeUser(user);
  const e = await rejects(pca(emu).acquireTokenByRefreshToken({ refreshToken: rt, scopes: [IMAP] }));
  assert.instance(e, ServerError);
  assert.is((e as ServerError).errorCode, 'invalid_grant');
  assert.is((e as ServerError).errorNo, 50173);
  assert.match((e as ServerError).errorMessage, /AADSTS50173: The provided grant has expired due to it being revoked/);

  const rt2 = emu.issueGrant({ provider: 'microsoft', user, clientId: CLIENT, scopes: [IMAP] });
  assert.ok(await pca(emu).acquireTokenByRefreshToken({ refreshToken: rt2, scopes: [IMAP] }), 'a new grant after revocation works');
  emu.revokeUser(user, { aadsts: 700082 });
  const e2 = await rejects(pca(emu).acquireTokenByRefreshToken({ refreshToken: rt2, scopes: [IMAP] }));
  assert.is((e2 as ServerError).errorNo, 700082);
});

ms('an unknown refresh token is AADSTS9002313; a scope outside the grant is a consent error', async () => {
  const e = await rejects(pca(emu).acquireTokenByRefreshToken({ refreshToken: '0.AXYZmadeup', scopes: [IMAP] }));
  assert.is((e as ServerError).errorNo, 9002313);
  const rt = emu.issueGrant({ provider: 'microsoft', user: USER, clientId: CLIENT, scopes: [IMAP] });
  const e2 = await rejects(pca(emu).acquireTokenByRefreshToken({ refreshToken: rt, scopes: [SMTP] }));
  assert.instance(e2, InteractionRequiredAuthError);
  assert.is((e2 as InteractionRequiredAuthError).subError, 'consent_required');
  assert.is((e2 as InteractionRequiredAuthError).errorNo, 65001);
});

ms('confidential clients: the secret is required and checked (AADSTS7000215)', async () => {
  const id = 'a1b2c3d4-0000-4000-8000-000000000001';
  emu.registerClient({ provider: 'microsoft', clientId: id, clientSecret: 'right~secret' });
  const rt = emu.issueGrant({ provider: 'microsoft', user: USER, clientId: id, scopes: [IMAP] });
  const app = (secret: string): ConfidentialClientApplication =>
    new ConfidentialClientApplication({
      auth: { clientId: id, clientSecret: secret, authority: `${emu.microsoft.authority}/common`, knownAuthorities: [emu.microsoft.knownAuthority] },
    });
  const e = await rejects(app('wrong~secret').acquireTokenByRefreshToken({ refreshToken: rt, scopes: [IMAP] }));
  assert.is((e as ServerError).errorCode, 'invalid_client');
  assert.is((e as ServerError).errorNo, 7000215);
  assert.not.match(String(e), /wrong~secret|right~secret/);
  const ok = await app('right~secret').acquireTokenByRefreshToken({ refreshToken: rt, scopes: [IMAP] });
  assert.ok(ok && emu.isValidAccessToken(ok.accessToken));
});

ms('auth code flow with PKCE and login_hint, and a wrong verifier is refused', async () => {
  const redirectUri = 'http://localhost:53682/callback';
  const crypto = new CryptoProvider();
  const app = pca(emu);
  const codeFor = async (challenge: string, nonce = 'n1'): Promise<string> => {
    const url = await app.getAuthCodeUrl({ scopes: [IMAP, SMTP], redirectUri, codeChallenge: challenge, codeChallengeMethod: 'S256', loginHint: USER, state: 's1', ...(nonce ? { nonce } : {}) });
    const res = await get(url);
    assert.is(res.status, 302);
    const loc = new URL(res.headers.get('location')!);
    assert.is(loc.origin + loc.pathname, redirectUri);
    assert.is(loc.searchParams.get('state'), 's1');
    return loc.searchParams.get('code')!;
  };
  const pkce = await crypto.generatePkceCodes();
  const r = await app.acquireTokenByCode({ code: await codeFor(pkce.challenge), scopes: [IMAP, SMTP], redirectUri, codeVerifier: pkce.verifier, nonce: 'n1' });
  assert.is(r.account?.username, USER);
  assert.is((r.idTokenClaims as { nonce?: string }).nonce, 'n1');
  assert.ok(emu.isValidAccessToken(r.accessToken, USER));
  assert.ok(cachedRefreshTokens(app).some((t) => emu.lookupToken(t)?.kind === 'refresh'));

  // msal-node refuses an id_token nonce it did not ask for: without one the flow must work too.
  const plain = await app.acquireTokenByCode({ code: await codeFor(pkce.challenge, ''), scopes: [IMAP, SMTP], redirectUri, codeVerifier: pkce.verifier });
  assert.is((plain.idTokenClaims as { nonce?: string }).nonce, undefined);

  const other = await crypto.generatePkceCodes();
  const e = await rejects(app.acquireTokenByCode({ code: await codeFor(pkce.challenge), scopes: [IMAP, SMTP], redirectUri, codeVerifier: other.verifier, nonce: 'n1' }));
  assert.is((e as ServerError).errorNo, 501481);
});

ms('device code flow: pending until the user approves, then tokens', async () => {
  const app = pca(emu, 'organizations');
  emu.resetStats();
  const r = await app.acquireTokenByDeviceCode({
    scopes: [IMAP],
    deviceCodeCallback: (d) => {
      assert.match(d.message, d.userCode);
      emu.approveDevice(d.userCode, USER);
    },
  });
  assert.ok(r && emu.isValidAccessToken(r.accessToken, USER));
  assert.is(r.account?.username, USER);
  assert.ok(emu.stats().requests >= 3, 'polled at least once while pending');
});

ms('429 with Retry-After reaches msal, which then throttles the same request locally', async () => {
  const user = 'throttled@contoso.example';
  const rt = emu.issueGrant({ provider: 'microsoft', user, clientId: CLIENT, scopes: [IMAP] });
  emu.setFault({ provider: 'microsoft', user, kind: 'rate-limit', retryAfter: 30, count: 1 });
  const app = pca(emu);
  const e = await rejects(app.acquireTokenByRefreshToken({ refreshToken: rt, scopes: [IMAP] }));
  assert.instance(e, ServerError);
  assert.is((e as ServerError).errorNo, 90055);
  const before = emu.stats().refreshes[user];
  await rejects(app.acquireTokenByRefreshToken({ refreshToken: rt, scopes: [IMAP] }));
  assert.is(emu.stats().refreshes[user], before, 'msal did not ask again before Retry-After');
});

ms('an injected interaction_required error with bad_token surfaces as InteractionRequiredAuthError', async () => {
  const user = 'mfa@contoso.example';
  const rt = emu.issueGrant({ provider: 'microsoft', user, clientId: CLIENT, scopes: [IMAP] });
  emu.setFault({ user, kind: 'error', error: 'invalid_grant', aadsts: 50173, suberror: 'bad_token', count: 1 });
  const e = await rejects(pca(emu).acquireTokenByRefreshToken({ refreshToken: rt, scopes: [IMAP] }));
  assert.instance(e, InteractionRequiredAuthError);
  assert.is((e as InteractionRequiredAuthError).subError, 'bad_token');
});

ms.run();

const single = suite('emulator: microsoft single-use refresh tokens');

// Started at load time, not in a before hook: uvu 0.5 swallows errors thrown there and exits 0.
const emuSingle = await startEmulator({ caDir: CA_DIR, refreshTokenRotation: 'single-use' });
emuSingle.registerClient({ provider: 'microsoft', clientId: CLIENT });

single.after(async () => {
  await emuSingle.close();
});

single('a reused refresh token is refused, the rotated one works', async () => {
  const emu = emuSingle;
  const rt = emu.issueGrant({ provider: 'microsoft', user: USER, clientId: CLIENT, scopes: [IMAP] });
  const app = pca(emu);
  await app.acquireTokenByRefreshToken({ refreshToken: rt, scopes: [IMAP], forceCache: true });
  const rotated = cachedRefreshTokens(app)[0]!;
  const e = await rejects(pca(emu).acquireTokenByRefreshToken({ refreshToken: rt, scopes: [IMAP] }));
  assert.is((e as ServerError).errorCode, 'invalid_grant');
  assert.is((e as ServerError).errorNo, 70000);
  const r = await pca(emu).acquireTokenByRefreshToken({ refreshToken: rotated, scopes: [IMAP] });
  assert.ok(r && emu.isValidAccessToken(r.accessToken));
});

single.run();
