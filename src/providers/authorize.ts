import type { ProviderConfig } from '../config/types.js';
import { ProviderError } from './errors.js';
import { GoogleAuthorizer } from './google-authorize.js';
import { MicrosoftAuthorizer } from './microsoft-authorize.js';
import type { ProviderAccount } from './types.js';

/**
 * The authorization side of a provider: the URL a browser is sent to, the
 * redemption of the code it comes back with, and (Microsoft) the device
 * authorization grant. Like refreshes, these run only in workers, only
 * through the providers' libraries. Every method throws ProviderError.
 */

/** What the browser is sent to the provider with. */
export interface AuthorizeUrlRequest {
  account: ProviderAccount;
  redirectUri: string;
  state: string;
  /** base64url(SHA-256(verifier)); the verifier itself stays in the main thread until redemption. */
  codeChallenge: string;
}

export interface RedeemRequest {
  account: ProviderAccount;
  code: string;
  redirectUri: string;
  codeVerifier: string;
}

/** A sign-in's result: a new grant and the access token that came with it. */
export interface Authorized {
  accessToken: string;
  expiresInMs: number;
  refreshToken: string;
  scopes: string[];
  /** The address that signed in, from the id_token, when the provider sent one. */
  identity?: string;
}

/** What the user must be shown to complete a device sign-in. */
export interface DeviceCodePrompt {
  userCode: string;
  verificationUri: string;
  /** The provider's own sentence, in its language. */
  message: string;
  expiresInMs: number;
}

/** Lets the caller stop a device sign-in's polling (msal-node checks it before each poll). */
export interface DeviceCancel {
  cancel: boolean;
}

export interface Authorizer {
  authorizeUrl(request: AuthorizeUrlRequest, signal: AbortSignal): Promise<string>;
  redeem(request: RedeemRequest, signal: AbortSignal): Promise<Authorized>;
  /** Absent where the provider does not allow the mail scope in the device flow (Google). */
  deviceCode?(account: ProviderAccount, onPrompt: (prompt: DeviceCodePrompt) => void, cancel: DeviceCancel): Promise<Authorized>;
}

// Defined with the errors so the main thread can show it without loading the provider libraries.
export { GOOGLE_DEVICE_UNSUPPORTED } from './errors.js';

export function createAuthorizer(config: ProviderConfig): Authorizer {
  return config.type === 'google'
    ? new GoogleAuthorizer({ authUrl: config.authUrl, tokenUrl: config.tokenUrl })
    : new MicrosoftAuthorizer({ authority: config.authority, tenant: config.tenant });
}

/** The identity a sign-in must come back with: the login identity for shared mailboxes, else the address. */
export function expectedIdentity(account: ProviderAccount): string {
  return account.loginAs ?? account.user;
}

/**
 * The `email` / `preferred_username` claim of an id_token received straight
 * from the token endpoint over TLS (OIDC Core 3.1.3.7: TLS authenticates the
 * issuer then, so the signature need not be checked to read a claim).
 */
export function identityOf(idToken: unknown, claim: 'email' | 'preferred_username'): string | undefined {
  if (typeof idToken !== 'string') return undefined;
  const payload = idToken.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const value = claims[claim];
    return typeof value === 'string' && value !== '' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Every field of a sign-in's answer is checked before the grant is stored. */
export function checkAuthorized(result: Partial<Authorized>): Authorized {
  if (typeof result.accessToken !== 'string' || result.accessToken === '') {
    throw new ProviderError('transient', 'bad-response', 'the token response to the sign-in had no access_token');
  }
  if (typeof result.refreshToken !== 'string' || result.refreshToken === '') {
    throw new ProviderError(
      'revoked',
      'no-refresh-token',
      'the provider returned no refresh token (for Microsoft, offline_access was not granted; for Google, consent was not asked again): sign in again',
    );
  }
  return {
    accessToken: result.accessToken,
    expiresInMs: typeof result.expiresInMs === 'number' && result.expiresInMs > 0 ? result.expiresInMs : 3_600_000,
    refreshToken: result.refreshToken,
    scopes: result.scopes ?? [],
    ...(result.identity !== undefined && { identity: result.identity }),
  };
}
