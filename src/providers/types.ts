import type { AppOnlyAuth, CertificateCredential, Proto, ServiceAccountKey } from '../config/types.js';

/** Everything a provider needs to refresh one account. */
export interface ProviderAccount {
  user: string;
  /** The identity that signed in, where it differs from the mailbox (shared mailboxes). */
  loginAs?: string;
  providerName: string;
  clientId: string;
  clientSecret?: string;
  tenant?: string;
  protocols: Proto[];
  auth?: AppOnlyAuth;
  certificate?: CertificateCredential;
  serviceAccount?: ServiceAccountKey;
}

export interface RefreshOutcome {
  accessToken: string;
  expiresInMs: number;
  /** Present when the provider rotated the refresh token: it must be stored. */
  rotatedRefreshToken?: string;
  scopes: string[];
}

/** One provider's refresh, as the worker calls it. Throws ProviderError. */
export interface ProviderClient {
  readonly type: 'google' | 'microsoft';
  refresh(account: ProviderAccount, refreshToken: string, signal: AbortSignal): Promise<RefreshOutcome>;
  /** App-only credentials (client credentials, service account): a new token without a refresh grant. */
  acquireAppOnly?(account: ProviderAccount, signal: AbortSignal): Promise<RefreshOutcome>;
}

/** A token response without `expires_in` means an hour (RFC 6749 leaves it open; both providers use 3600). */
export const DEFAULT_EXPIRES_IN_MS = 3_600_000;

/** A provider call that takes longer than this counts as a transient failure. */
export const PROVIDER_TIMEOUT_MS = 30_000;
