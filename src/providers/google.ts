import { OAuth2Client } from 'google-auth-library';
import { isNeedsActionCode, oneLine, parseRetryAfter, ProviderError } from './errors.js';
import { googleScopes } from './scopes.js';
import { acquireServiceAccountToken } from './google-service-account.js';
import { deadlineSignal } from './deadline.js';
import { DEFAULT_EXPIRES_IN_MS, PROVIDER_TIMEOUT_MS, type ProviderAccount, type ProviderClient, type RefreshOutcome } from './types.js';

export interface GoogleSettings {
  authUrl: string;
  tokenUrl: string;
  now?: () => number;
}

interface GaxiosLikeError {
  message?: string;
  code?: string;
  status?: number;
  response?: { status?: number; headers?: unknown; data?: unknown };
}

/**
 * Google refreshes through google-auth-library's OAuth2Client. Google does
 * not rotate refresh tokens, and the library retries 5xx/429 a few times by
 * itself before an error reaches us.
 */
export class GoogleProvider implements ProviderClient {
  readonly type = 'google' as const;
  readonly #settings: GoogleSettings;

  constructor(settings: GoogleSettings) {
    this.#settings = settings;
  }

  async refresh(account: ProviderAccount, refreshToken: string, signal: AbortSignal): Promise<RefreshOutcome> {
    const now = this.#settings.now ?? Date.now;
    const client = new OAuth2Client({
      clientId: account.clientId,
      clientSecret: account.clientSecret,
      endpoints: { oauth2TokenUrl: this.#settings.tokenUrl, oauth2AuthBaseUrl: this.#settings.authUrl },
    });
    client.setCredentials({ refresh_token: refreshToken });
    try {
      // OAuth2Client takes no AbortSignal for refreshes: race it instead.
      const { credentials } = await abortable(client.refreshAccessToken(), signal);
      const accessToken = credentials.access_token;
      if (typeof accessToken !== 'string' || accessToken.length === 0) {
        throw new ProviderError('transient', 'bad-response', 'token response had no access_token');
      }
      const expiresInMs = typeof credentials.expiry_date === 'number' ? credentials.expiry_date - now() : DEFAULT_EXPIRES_IN_MS;
      const rotated = credentials.refresh_token;
      return {
        accessToken,
        expiresInMs: expiresInMs > 0 ? expiresInMs : DEFAULT_EXPIRES_IN_MS,
        rotatedRefreshToken: typeof rotated === 'string' && rotated !== refreshToken ? rotated : undefined,
        scopes: typeof credentials.scope === 'string' ? credentials.scope.split(' ') : googleScopes(),
      };
    } catch (error) {
      throw classifyGoogleError(error, now());
    }
  }

  /** Service accounts (domain-wide delegation): src/providers/google-service-account.ts. */
  acquireAppOnly(account: ProviderAccount, signal: AbortSignal): Promise<RefreshOutcome> {
    return acquireServiceAccountToken(account, this.#settings, signal);
  }
}

/** Races `work` (which takes no AbortSignal) against `signal` and the provider timeout. */
export function abortable<T>(work: Promise<T>, signal: AbortSignal, cancelled = 'refresh cancelled'): Promise<T> {
  const deadline = deadlineSignal(signal, PROVIDER_TIMEOUT_MS);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new ProviderError('transient', 'network', signal.aborted ? cancelled : 'provider did not answer in time'));
    if (deadline.signal.aborted) {
      deadline.done();
      return onAbort();
    }
    deadline.signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      deadline.done();
      deadline.signal.removeEventListener('abort', onAbort);
    });
  });
}

function header(headers: unknown, name: string): string | undefined {
  // gaxios's Headers need not be this realm's class (instanceof fails): look for get().
  const get = (headers as { get?: unknown } | null | undefined)?.get;
  if (typeof get === 'function') {
    const value: unknown = get.call(headers, name);
    return typeof value === 'string' ? value : undefined;
  }
  if (typeof headers === 'object' && headers !== null) {
    const value = (headers as Record<string, unknown>)[name];
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

export function classifyGoogleError(error: unknown, now: number): ProviderError {
  if (error instanceof ProviderError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as GaxiosLikeError;
  const status = e.response?.status ?? e.status;
  const data = (typeof e.response?.data === 'object' && e.response?.data !== null ? e.response.data : {}) as {
    error?: unknown;
    error_description?: unknown;
  };
  const oauthError = typeof data.error === 'string' ? data.error : undefined;
  const description = oneLine(typeof data.error_description === 'string' ? data.error_description : e.message);
  if (oauthError && isNeedsActionCode(oauthError)) {
    return new ProviderError('revoked', oauthError, description || oauthError, { status, cause: error });
  }
  if (status !== undefined) {
    const retryAfterMs = parseRetryAfter(header(e.response?.headers, 'retry-after'), now);
    return new ProviderError('transient', oauthError ?? `http-${status}`, description || `provider answered HTTP ${status}`, {
      status,
      retryAfterMs,
      cause: error,
    });
  }
  return new ProviderError('transient', 'network', oneLine(e.code ? `${e.code}: ${e.message ?? ''}` : e.message) || 'provider unreachable', {
    cause: error,
  });
}
