import {
  ConfidentialClientApplication,
  LogLevel,
  PublicClientApplication,
  type AuthenticationResult,
  type Configuration,
} from '@azure/msal-node';
import { checkAuthorized, expectedIdentity, type Authorized, type AuthorizeUrlRequest, type Authorizer, type DeviceCancel, type DeviceCodePrompt, type RedeemRequest } from './authorize.js';
import { ProviderError } from './errors.js';
import { tracedNetworkClient, type ResponseTrace } from './http.js';
import { classifyMsalError, fetchMetadata } from './microsoft.js';
import { microsoftScopes } from './scopes.js';
import type { ProviderAccount } from './types.js';

export interface MicrosoftAuthorizeSettings {
  authority: string;
  tenant: string;
}

interface SerializedCache {
  RefreshToken?: Record<string, { secret?: string }>;
}

/**
 * Microsoft sign-ins through msal-node: `getAuthCodeUrl` (PKCE S256, the
 * account as `login_hint`), `acquireTokenByCode`, `acquireTokenByDeviceCode`.
 * As for refreshes, each call gets its own client and the authority metadata
 * is fetched once, so nothing but the sign-in itself reaches the provider.
 */
export class MicrosoftAuthorizer implements Authorizer {
  readonly #settings: MicrosoftAuthorizeSettings;
  readonly #metadata = new Map<string, Promise<string>>();

  constructor(settings: MicrosoftAuthorizeSettings) {
    this.#settings = settings;
  }

  async authorizeUrl(request: AuthorizeUrlRequest, signal: AbortSignal): Promise<string> {
    const trace: ResponseTrace = {};
    try {
      const app = await this.#app(request.account, signal, trace, false);
      return await app.getAuthCodeUrl({
        scopes: microsoftScopes(request.account.protocols),
        redirectUri: request.redirectUri,
        state: request.state,
        codeChallenge: request.codeChallenge,
        codeChallengeMethod: 'S256',
        loginHint: expectedIdentity(request.account),
        responseMode: 'query',
      });
    } catch (error) {
      throw classifyMsalError(error, trace, Date.now());
    }
  }

  async redeem(request: RedeemRequest, signal: AbortSignal): Promise<Authorized> {
    const trace: ResponseTrace = {};
    try {
      const app = await this.#app(request.account, signal, trace, false);
      const result = await app.acquireTokenByCode({
        code: request.code,
        scopes: microsoftScopes(request.account.protocols),
        redirectUri: request.redirectUri,
        codeVerifier: request.codeVerifier,
      });
      return outcome(app, result);
    } catch (error) {
      throw classifyMsalError(error, trace, Date.now());
    }
  }

  async deviceCode(account: ProviderAccount, onPrompt: (prompt: DeviceCodePrompt) => void, cancel: DeviceCancel): Promise<Authorized> {
    const trace: ResponseTrace = {};
    const abort = new AbortController();
    const request = {
      scopes: microsoftScopes(account.protocols),
      deviceCodeCallback: (response: { userCode: string; verificationUri: string; message: string; expiresIn: number }) =>
        onPrompt({
          userCode: response.userCode,
          verificationUri: response.verificationUri,
          message: response.message,
          expiresInMs: response.expiresIn * 1000,
        }),
      cancel: false,
    };
    // msal-node reads `cancel` between polls; abort the poll in flight too.
    const watch = setInterval(() => {
      if (cancel.cancel) {
        request.cancel = true;
        abort.abort();
      }
    }, 200);
    try {
      // The device flow is a public-client flow: Entra takes no secret in it.
      const app = (await this.#app(account, abort.signal, trace, true)) as PublicClientApplication;
      const result = await app.acquireTokenByDeviceCode(request);
      return outcome(app, result);
    } catch (error) {
      if (cancel.cancel) throw new ProviderError('revoked', 'cancelled', 'the device sign-in was cancelled');
      throw classifyDeviceError(error, trace);
    } finally {
      clearInterval(watch);
    }
  }

  async #app(account: ProviderAccount, signal: AbortSignal, trace: ResponseTrace, publicOnly: boolean): Promise<PublicClientApplication | ConfidentialClientApplication> {
    const tenant = account.tenant ?? this.#settings.tenant;
    const authority = `${this.#settings.authority.replace(/\/+$/, '')}/${tenant}`;
    const authorityMetadata = await this.#authorityMetadata(authority, signal);
    const confidential = !publicOnly && account.clientSecret !== undefined;
    const config: Configuration = {
      auth: {
        clientId: account.clientId,
        authority,
        knownAuthorities: [new URL(authority).host],
        authorityMetadata,
        ...(confidential ? { clientSecret: account.clientSecret } : {}),
      },
      system: {
        networkClient: tracedNetworkClient(signal, trace),
        loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => undefined },
      },
    };
    return confidential ? new ConfidentialClientApplication(config) : new PublicClientApplication(config);
  }

  #authorityMetadata(authority: string, signal: AbortSignal): Promise<string> {
    let pending = this.#metadata.get(authority);
    if (!pending) {
      pending = fetchMetadata(authority, signal);
      this.#metadata.set(authority, pending);
      pending.catch(() => this.#metadata.delete(authority));
    }
    return pending;
  }
}

/** msal-node returns the refresh token only through its cache. */
function outcome(app: PublicClientApplication | ConfidentialClientApplication, result: AuthenticationResult | null): Authorized {
  if (!result) throw new ProviderError('transient', 'bad-response', 'the sign-in returned no result');
  const cache = JSON.parse(app.getTokenCache().serialize()) as SerializedCache;
  const refreshToken = Object.values(cache.RefreshToken ?? {}).find((rt) => typeof rt.secret === 'string')?.secret;
  const claims = (result.idTokenClaims ?? {}) as Record<string, unknown>;
  const claimed = typeof claims.preferred_username === 'string' ? claims.preferred_username : undefined;
  const identity = result.account?.username || claimed;
  return checkAuthorized({
    accessToken: result.accessToken,
    expiresInMs: result.expiresOn ? result.expiresOn.getTime() - Date.now() : undefined,
    refreshToken,
    scopes: result.scopes,
    ...(identity ? { identity } : {}),
  });
}

/**
 * Device-flow endings have their own OAuth codes (RFC 8628 3.5), which msal
 * reports as `postRequestFailed` with the code in the message.
 */
function classifyDeviceError(error: unknown, trace: ResponseTrace): ProviderError {
  const text = error instanceof Error ? `${(error as { errorCode?: string }).errorCode ?? ''} ${error.message}` : String(error);
  for (const code of ['authorization_declined', 'expired_token', 'access_denied', 'bad_verification_code']) {
    if (text.includes(code)) {
      const message =
        code === 'expired_token'
          ? 'the device code expired before anyone signed in with it'
          : code === 'bad_verification_code'
            ? 'the provider did not recognise the device code'
            : 'the sign-in was declined';
      return new ProviderError('revoked', code, message, { cause: error });
    }
  }
  if (/timeout|timed out/i.test(text) && /device/i.test(text)) {
    return new ProviderError('revoked', 'expired_token', 'the device code expired before anyone signed in with it', { cause: error });
  }
  return classifyMsalError(error, trace, Date.now());
}
