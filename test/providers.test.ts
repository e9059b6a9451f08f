import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startEmulator, type Emulator } from '../emulator/index.js';
import { testCaDir } from '../emulator/testing.js';
import { ProviderError } from '../src/providers/errors.js';
import { GoogleProvider } from '../src/providers/google.js';
import { MicrosoftProvider } from '../src/providers/microsoft.js';
import type { ProviderAccount } from '../src/providers/types.js';

/**
 * The provider layer through the real msal-node and google-auth-library,
 * over HTTPS, against the emulator: what a refresh returns, and how each
 * provider failure is classified (needs a sign-in vs. retry later).
 */

const MS_SCOPES = ['https://outlook.office.com/SMTP.Send', 'https://outlook.office.com/IMAP.AccessAsUser.All', 'offline_access'];
const GOOGLE_SCOPES = ['https://mail.google.com/'];

let emu: Emulator;
let google: GoogleProvider;
let microsoft: MicrosoftProvider;

const msAccount = (user: string, extra: Partial<ProviderAccount> = {}): ProviderAccount => ({
  user,
  providerName: 'microsoft',
  clientId: 'ms-public',
  protocols: ['SMTP', 'IMAP'],
  ...extra,
});
const googleAccount = (user: string, secret = 'g-secret'): ProviderAccount => ({
  user,
  providerName: 'google',
  clientId: 'g-client',
  clientSecret: secret,
  protocols: ['SMTP'],
});

async function refused(work: Promise<unknown>): Promise<ProviderError> {
  try {
    await work;
  } catch (error) {
    assert.instance(error, ProviderError);
    return error as ProviderError;
  }
  throw new assert.Assertion({ message: 'expected the refresh to fail', generated: false, operator: 'throws', expects: 'error', actual: 'success' });
}

const providers = suite('providers against the emulator');

providers.before(async () => {
  emu = await startEmulator({ caDir: testCaDir(), accessTokenLifetime: 600 });
  emu.registerClient({ provider: 'google', clientId: 'g-client', clientSecret: 'g-secret' });
  emu.registerClient({ provider: 'microsoft', clientId: 'ms-public' });
  emu.registerClient({ provider: 'microsoft', clientId: 'ms-confidential', clientSecret: 'ms-secret' });
  google = new GoogleProvider({ authUrl: emu.google.authUrl, tokenUrl: emu.google.tokenUrl });
  microsoft = new MicrosoftProvider({ authority: emu.microsoft.authority, tenant: 'common' });
});

providers.after(async () => {
  await emu.close();
});

providers.before.each(() => emu.clearFaults());

providers('Microsoft: a refresh returns an issued token, its lifetime and the rotated refresh token', async () => {
  const rt = emu.issueGrant({ provider: 'microsoft', user: 'ms1@contoso.test', clientId: 'ms-public', scopes: MS_SCOPES });
  const out = await microsoft.refresh(msAccount('ms1@contoso.test'), rt, new AbortController().signal);
  assert.ok(emu.isValidAccessToken(out.accessToken, 'ms1@contoso.test'), 'the emulator issued this token for that user');
  // msal keeps expiry in whole seconds, so allow a second either side.
  assert.ok(out.expiresInMs > 590_000 && out.expiresInMs <= 601_000, `lifetime ~600 s, got ${out.expiresInMs}`);
  assert.ok(out.rotatedRefreshToken && out.rotatedRefreshToken !== rt, 'rotated refresh token surfaced from the msal cache');
  assert.is(emu.lookupToken(out.rotatedRefreshToken!)?.kind, 'refresh');
});

providers('Microsoft: only the scopes of the served protocols are asked for', async () => {
  const rt = emu.issueGrant({ provider: 'microsoft', user: 'ms2@contoso.test', clientId: 'ms-public', scopes: ['https://outlook.office.com/SMTP.Send', 'offline_access'] });
  const out = await microsoft.refresh(msAccount('ms2@contoso.test', { protocols: ['SMTP'] }), rt, new AbortController().signal);
  const issued = emu.lookupToken(out.accessToken);
  assert.ok(issued?.scopes.includes('https://outlook.office.com/SMTP.Send'));
  assert.not.ok(issued?.scopes.some((s) => s.includes('IMAP')), 'no IMAP scope asked for an SMTP-only account');
});

providers('Microsoft: a confidential client sends its secret; a wrong secret needs operator action', async () => {
  const rt = emu.issueGrant({ provider: 'microsoft', user: 'ms3@contoso.test', clientId: 'ms-confidential', scopes: MS_SCOPES });
  const ok = await microsoft.refresh(msAccount('ms3@contoso.test', { clientId: 'ms-confidential', clientSecret: 'ms-secret' }), rt, new AbortController().signal);
  assert.ok(emu.isValidAccessToken(ok.accessToken, 'ms3@contoso.test'));
  const error = await refused(
    microsoft.refresh(msAccount('ms3@contoso.test', { clientId: 'ms-confidential', clientSecret: 'wrong' }), ok.rotatedRefreshToken ?? rt, new AbortController().signal),
  );
  assert.is(error.kind, 'revoked');
  assert.ok(error.providerCode.startsWith('AADSTS'), error.providerCode);
});

providers('Microsoft: a revoked grant is "revoked" with the AADSTS code', async () => {
  const rt = emu.issueGrant({ provider: 'microsoft', user: 'ms4@contoso.test', clientId: 'ms-public', scopes: MS_SCOPES });
  emu.revokeUser('ms4@contoso.test', { aadsts: 50173 });
  const error = await refused(microsoft.refresh(msAccount('ms4@contoso.test'), rt, new AbortController().signal));
  assert.is(error.kind, 'revoked');
  assert.is(error.providerCode, 'AADSTS50173');
  assert.not.ok(error.message.includes(rt), 'the refresh token is not in the message');
});

providers('Microsoft: MFA required (AADSTS50076) needs a sign-in', async () => {
  const rt = emu.issueGrant({ provider: 'microsoft', user: 'ms5@contoso.test', clientId: 'ms-public', scopes: MS_SCOPES });
  emu.setFault({ provider: 'microsoft', kind: 'error', error: 'invalid_grant', aadsts: 50076, suberror: 'basic_action', count: 1 });
  const error = await refused(microsoft.refresh(msAccount('ms5@contoso.test'), rt, new AbortController().signal));
  assert.is(error.kind, 'revoked');
  assert.is(error.providerCode, 'AADSTS50076');
});

providers('Microsoft: 503 and 429 are transient; Retry-After reaches the backoff', async () => {
  const rt = emu.issueGrant({ provider: 'microsoft', user: 'ms6@contoso.test', clientId: 'ms-public', scopes: MS_SCOPES });
  emu.setFault({ provider: 'microsoft', kind: 'status', status: 503, count: 1 });
  const unavailable = await refused(microsoft.refresh(msAccount('ms6@contoso.test'), rt, new AbortController().signal));
  assert.is(unavailable.kind, 'transient');
  assert.is(unavailable.status, 503);
  emu.setFault({ provider: 'microsoft', kind: 'rate-limit', retryAfter: 42, count: 1 });
  const limited = await refused(microsoft.refresh(msAccount('ms6@contoso.test'), rt, new AbortController().signal));
  assert.is(limited.kind, 'transient');
  assert.is(limited.status, 429);
  assert.is(limited.retryAfterMs, 42_000);
  const ok = await microsoft.refresh(msAccount('ms6@contoso.test'), rt, new AbortController().signal);
  assert.ok(emu.isValidAccessToken(ok.accessToken), 'recovers once the fault clears');
});

providers('Microsoft: leaving refreshing aborts the HTTP call', async () => {
  const rt = emu.issueGrant({ provider: 'microsoft', user: 'ms7@contoso.test', clientId: 'ms-public', scopes: MS_SCOPES });
  emu.setFault({ provider: 'microsoft', kind: 'hang', count: 1 });
  const controller = new AbortController();
  const pending = refused(microsoft.refresh(msAccount('ms7@contoso.test'), rt, controller.signal));
  setTimeout(() => controller.abort(), 50);
  const error = await pending;
  assert.is(error.kind, 'transient');
  assert.is(error.providerCode, 'network');
});

providers('Google: a refresh returns an issued token; no rotation', async () => {
  const rt = emu.issueGrant({ provider: 'google', user: 'g1@gmail.test', clientId: 'g-client', scopes: GOOGLE_SCOPES });
  const out = await google.refresh(googleAccount('g1@gmail.test'), rt, new AbortController().signal);
  assert.ok(emu.isValidAccessToken(out.accessToken, 'g1@gmail.test'));
  assert.ok(out.expiresInMs > 590_000 && out.expiresInMs <= 601_000);
  assert.is(out.rotatedRefreshToken, undefined);
});

providers('Google: revoked is invalid_grant; a wrong secret is invalid_client; both need action', async () => {
  const rt = emu.issueGrant({ provider: 'google', user: 'g2@gmail.test', clientId: 'g-client', scopes: GOOGLE_SCOPES });
  const badClient = await refused(google.refresh(googleAccount('g2@gmail.test', 'wrong'), rt, new AbortController().signal));
  assert.is(badClient.kind, 'revoked');
  assert.is(badClient.providerCode, 'invalid_client');
  emu.revokeUser('g2@gmail.test');
  const revoked = await refused(google.refresh(googleAccount('g2@gmail.test'), rt, new AbortController().signal));
  assert.is(revoked.kind, 'revoked');
  assert.is(revoked.providerCode, 'invalid_grant');
  assert.ok(/expired or revoked/i.test(revoked.message), revoked.message);
});

providers('Google: a lasting 500 is transient after the library gives up retrying', async () => {
  const rt = emu.issueGrant({ provider: 'google', user: 'g3@gmail.test', clientId: 'g-client', scopes: GOOGLE_SCOPES });
  emu.setFault({ provider: 'google', kind: 'status', status: 500 });
  const error = await refused(google.refresh(googleAccount('g3@gmail.test'), rt, new AbortController().signal));
  assert.is(error.kind, 'transient');
  assert.is(error.status, 500);
  emu.clearFaults();
  const out = await google.refresh(googleAccount('g3@gmail.test'), rt, new AbortController().signal);
  assert.ok(emu.isValidAccessToken(out.accessToken));
});

providers.run();
