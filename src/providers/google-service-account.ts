import { JWT } from 'google-auth-library';
import { GOOGLE_DEFAULTS } from '../config/providers.js';
import { ProviderError } from './errors.js';
import { abortable, classifyGoogleError } from './google.js';
import { googleScopes } from './scopes.js';
import { DEFAULT_EXPIRES_IN_MS, type ProviderAccount, type RefreshOutcome } from './types.js';

/** Where google-auth-library's JWT client posts, whatever the key file says. */
const HARD_CODED_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/**
 * The token endpoint for a service account: a `token_url` set on the provider
 * section wins (the operator said so), else the key file's `token_uri`, else
 * Google's.
 */
export function serviceAccountTokenUrl(sectionTokenUrl: string, keyTokenUri: string | undefined): string {
  if (sectionTokenUrl !== GOOGLE_DEFAULTS.tokenUrl) return sectionTokenUrl;
  return keyTokenUri ?? sectionTokenUrl;
}

/**
 * One token for the mailbox through google-auth-library's JWT client,
 * impersonating the account's address (`subject`, domain-wide delegation).
 * The JWT client ignores the key's token_uri and posts to Google's hard-coded
 * endpoint; a request interceptor on its transporter sends it to the
 * configured one. A new client per call: nothing cached, each refresh signs a
 * new assertion.
 */
export async function acquireServiceAccountToken(
  account: ProviderAccount,
  settings: { tokenUrl: string; now?: () => number },
  signal: AbortSignal,
): Promise<RefreshOutcome> {
  const now = settings.now ?? Date.now;
  const key = account.serviceAccount;
  if (key === undefined) throw new ProviderError('revoked', 'no-credential', `no service account key configured for ${account.user}`);
  const tokenUrl = serviceAccountTokenUrl(settings.tokenUrl, key.tokenUri);
  const jwt = new JWT({
    email: key.clientEmail,
    key: key.privateKey,
    ...(key.privateKeyId !== undefined && { keyId: key.privateKeyId }),
    scopes: googleScopes(),
    subject: account.loginAs ?? account.user,
  });
  if (tokenUrl !== HARD_CODED_TOKEN_URL) {
    jwt.transporter.interceptors.request.add({
      resolved: async (config) => {
        if (String(config.url) === HARD_CODED_TOKEN_URL) config.url = new URL(tokenUrl);
        return config;
      },
    });
  }
  try {
    const { token } = await abortable(jwt.getAccessToken(), signal);
    if (typeof token !== 'string' || token.length === 0) {
      throw new ProviderError('transient', 'bad-response', 'token response had no access_token');
    }
    const expiry = jwt.credentials.expiry_date;
    const expiresInMs = typeof expiry === 'number' ? expiry - now() : DEFAULT_EXPIRES_IN_MS;
    return { accessToken: token, expiresInMs: expiresInMs > 0 ? expiresInMs : DEFAULT_EXPIRES_IN_MS, scopes: googleScopes() };
  } catch (error) {
    throw classifyGoogleError(error, now());
  }
}
