import { ConfidentialClientApplication, LogLevel, PublicClientApplication } from '@azure/msal-node';
import { aadstsCode, isNeedsActionCode, oneLine, parseRetryAfter, ProviderError } from './errors.js';
import { tracedNetworkClient, type ResponseTrace } from './http.js';
import { microsoftScopes } from './scopes.js';
import { acquireClientCredentials } from './microsoft-client-credentials.js';
import { DEFAULT_EXPIRES_IN_MS, type ProviderAccount, type ProviderClient, type RefreshOutcome } from './types.js';

export interface MicrosoftSettings {
  /** e.g. https://login.microsoftonline.com (no tenant). */
  authority: string;
  tenant: string;
  now?: () => number;
}

interface SerializedCache {
  RefreshToken?: Record<string, { secret?: string }>;
}

/**
 * Microsoft refreshes through msal-node. A new client per refresh keeps every
 * account's token cache apart (no account waits on another's cache), and
 * the only state kept between refreshes is the authority metadata, fetched
 * once, so a refresh is one HTTP request.
 */
export class MicrosoftProvider implements ProviderClient {
  readonly type = 'microsoft' as const;
  readonly #settings: MicrosoftSettings;
  readonly #metadata = new Map<string, Promise<string>>();

  constructor(settings: MicrosoftSettings) {
    this.#settings = settings;
  }

  async refresh(account: ProviderAccount, refreshToken: string, signal: AbortSignal): Promise<RefreshOutcome> {
    const now = this.#settings.now ?? Date.now;
    const tenant = account.tenant ?? this.#settings.tenant;
    const authority = `${this.#settings.authority.replace(/\/+$/, '')}/${tenant}`;
    const trace: ResponseTrace = {};
    const scopes = microsoftScopes(account.protocols);
    try {
      const authorityMetadata = await this.#authorityMetadata(authority, signal);
      const auth = {
        clientId: account.clientId,
        authority,
        knownAuthorities: [new URL(authority).host],
        authorityMetadata,
        ...(account.clientSecret ? { clientSecret: account.clientSecret } : {}),
      };
      const system = {
        networkClient: tracedNetworkClient(signal, trace),
        loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => undefined },
      };
      const app = account.clientSecret
        ? new ConfidentialClientApplication({ auth, system })
        : new PublicClientApplication({ auth, system });
      const result = await app.acquireTokenByRefreshToken({ refreshToken, scopes, forceCache: true });
      if (!result || typeof result.accessToken !== 'string' || result.accessToken.length === 0) {
        throw new ProviderError('transient', 'bad-response', 'token response had no access_token');
      }
      // msal-node keeps the rotated refresh token only in its cache.
      const cache = JSON.parse(app.getTokenCache().serialize()) as SerializedCache;
      const rotated = Object.values(cache.RefreshToken ?? {}).find((rt) => typeof rt.secret === 'string')?.secret;
      const expiresInMs = result.expiresOn ? result.expiresOn.getTime() - now() : DEFAULT_EXPIRES_IN_MS;
      return {
        accessToken: result.accessToken,
        expiresInMs: expiresInMs > 0 ? expiresInMs : DEFAULT_EXPIRES_IN_MS,
        rotatedRefreshToken: rotated && rotated !== refreshToken ? rotated : undefined,
        scopes: result.scopes,
      };
    } catch (error) {
      throw classifyMsalError(error, trace, now());
    }
  }

  /** App-only (client credentials): src/providers/microsoft-client-credentials.ts. */
  acquireAppOnly(account: ProviderAccount, signal: AbortSignal): Promise<RefreshOutcome> {
    return acquireClientCredentials(account, this.#settings, (authority, s) => this.#authorityMetadata(authority, s), signal);
  }

  #authorityMetadata(authority: string, signal: AbortSignal): Promise<string> {
    let pending = this.#metadata.get(authority);
    if (!pending) {
      pending = fetchMetadata(authority, signal);
      this.#metadata.set(authority, pending);
      // A failed discovery must not be cached: the next refresh asks again.
      pending.catch(() => this.#metadata.delete(authority));
    }
    return pending;
  }
}

/** The authority's OpenID metadata, as msal-node's `authorityMetadata` wants it (one GET). */
export async function fetchMetadata(authority: string, signal: AbortSignal): Promise<string> {
  const url = `${authority}/v2.0/.well-known/openid-configuration`;
  const trace: ResponseTrace = {};
  const response = await tracedNetworkClient(signal, trace).sendGetRequestAsync<Record<string, unknown>>(url);
  if (response.status !== 200 || typeof response.body.token_endpoint !== 'string') {
    throw new ProviderError('transient', `http-${response.status}`, `authority metadata at ${url} answered HTTP ${response.status}`, {
      status: response.status,
    });
  }
  return JSON.stringify(response.body);
}

interface MsalLikeError {
  errorCode?: string;
  errorMessage?: string;
  subError?: string;
  name?: string;
  message?: string;
}

export function classifyMsalError(error: unknown, trace: ResponseTrace, now: number): ProviderError {
  if (error instanceof ProviderError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as MsalLikeError;
  const status = trace.status;
  const retryAfterMs = parseRetryAfter(trace.retryAfter, now);
  const aadsts = aadstsCode(e.errorMessage);
  const code = e.errorCode ?? '';
  const detail = oneLine(e.errorMessage ?? e.message);
  if (e.name === 'InteractionRequiredAuthError' || isNeedsActionCode(code)) {
    return new ProviderError('revoked', aadsts ?? (code || 'interaction_required'), detail || code, { status, cause: error });
  }
  if (status === 429 || (status !== undefined && status >= 500)) {
    return new ProviderError('transient', aadsts ?? `http-${status}`, detail || `provider answered HTTP ${status}`, {
      status,
      retryAfterMs,
      cause: error,
    });
  }
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || /network|fetch failed|timed? ?out/i.test(`${code} ${e.message ?? ''}`)) {
    return new ProviderError('transient', 'network', detail || 'provider unreachable', { cause: error });
  }
  return new ProviderError('transient', aadsts ?? (code || 'unknown'), detail || 'refresh failed', { status, retryAfterMs, cause: error });
}
