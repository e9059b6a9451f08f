/**
 * Public types of the provider emulator. Other modules and tests depend on
 * these shapes: members may be added, never renamed.
 */
import type { ServiceAccountKeyFile, ServiceAccountRequest } from './google-app-only.js';

export type Provider = 'google' | 'microsoft';

export type Rotation = 'single-use' | 'rotate' | 'none';

/** How the emulated user answers a sign-in (authorize endpoint or device code). */
export type SignInMode = 'approve' | 'deny' | 'wrong-state';

export interface EmulatorOptions {
  /** Listen address, default '127.0.0.1'. */
  host?: string;
  /** Listen port, default 0 (a free port). */
  port?: number;
  /** Directory holding ca.pem + ca.key; made with openssl if missing. */
  caDir: string;
  /** Access token lifetime in seconds, default 3600. */
  accessTokenLifetime?: number;
  /** Microsoft refresh token rotation, default 'rotate'. Google never rotates. */
  refreshTokenRotation?: Rotation;
  /** Clock in ms, default Date.now. Token expiry and device-code timing use it. */
  now?: () => number;
  /** Request log; lines never carry tokens, codes or secrets. */
  log?: (line: string) => void;
  /** Device code flow timing (Microsoft). */
  deviceCode?: {
    /** Polling interval the devicecode endpoint announces, seconds, default 5. */
    interval?: number;
    /** How long after the devicecode request an approved user counts as signed in, ms, default 2000. */
    approveAfterMs?: number;
    /** Lifetime of a device code, seconds, default 900. */
    expiresIn?: number;
  };
}

/** What the emulator knows about a token it issued. Times are ms from `now()`. */
export interface IssuedToken {
  provider: Provider;
  user: string;
  clientId: string;
  scopes: string[];
  issuedAt: number;
  expiresAt: number;
  kind: 'access' | 'refresh' | 'code';
}

export interface ClientRegistration {
  provider: Provider;
  clientId: string;
  /** Google: always checked. Microsoft: a client with a secret is confidential. */
  clientSecret?: string;
  /** Exact redirect URIs; loopback URIs also match on any port (RFC 8252). Empty: any loopback URI. */
  redirectUris?: string[];
  /** Microsoft home tenant (GUID or domain) of the app; informational. */
  tenant?: string;
  /** Microsoft client credentials: PEM certificate whose key signs client assertions (emulator/ms-app-only.ts). */
  certificate?: string;
  /**
   * Microsoft client credentials: tenants where the app has a service principal
   * with admin consent. Absent: every tenant. A tenant outside the list answers
   * AADSTS700016 (app not found in the directory).
   */
  appTenants?: string[];
}

export interface GrantRequest {
  provider: Provider;
  user: string;
  clientId: string;
  scopes: string[];
  /** Microsoft tenant the user signed in to (GUID or domain); default: the user's mail domain. */
  tenant?: string;
}

export interface RevokeOptions {
  /** Microsoft AADSTS code answered from now on, default 50173. */
  aadsts?: number;
  /** Replaces the standard text for that code (Microsoft) or the error_description (Google). */
  description?: string;
}

export interface Stats {
  /** Provider requests (admin API excluded). */
  requests: number;
  /** refresh_token grant requests per user (attempts, including faulted and refused ones). */
  refreshes: Record<string, number>;
  /**
   * refresh_token grant requests per user that presented a single-use refresh
   * token already redeemed (answered AADSTS70000): a client that lost track of
   * its rotation.
   */
  reusedRefreshTokens: Record<string, number>;
  /** Token endpoint requests being processed now. */
  inFlight: number;
  /** Highest number of concurrent token endpoint requests per provider since the last reset. */
  maxInFlight: Record<Provider, number>;
}

export type FaultEndpoint = 'token' | 'authorize' | 'devicecode';

export type Fault = {
  provider?: Provider;
  /** Resolved from the presented refresh token, code or device code (token), login_hint (authorize). */
  user?: string;
  /** Default 'token'. */
  endpoint?: FaultEndpoint;
  /** Matching requests affected; default unlimited until cleared. */
  count?: number;
} & (
  | { kind: 'status'; status: number; /** answer with an HTML gateway page instead of JSON */ html?: boolean }
  | { kind: 'rate-limit'; retryAfter?: number }
  | { kind: 'delay'; ms: number }
  | { kind: 'reset' }
  | { kind: 'hang' }
  | { kind: 'error'; error: string; status?: number; aadsts?: number; description?: string; suberror?: string }
);

export interface GoogleEndpoints {
  authUrl: string;
  tokenUrl: string;
  revokeUrl: string;
  tokeninfoUrl: string;
  /** JWKS the id_tokens are signed with. */
  certsUrl: string;
}

export interface MicrosoftEndpoints {
  /** https://127.0.0.1:PORT; the msal authority is `${authority}/${tenant}`. */
  authority: string;
  /** '127.0.0.1:PORT', for msal's knownAuthorities. */
  knownAuthority: string;
}

export interface Emulator {
  readonly url: string;
  readonly caFile: string;
  readonly google: GoogleEndpoints;
  readonly microsoft: MicrosoftEndpoints;
  registerClient(c: ClientRegistration): void;
  /** Changes the lifetime (seconds) of access tokens issued from now on. */
  setLifetime(seconds: number): void;
  /** Returns a refresh token as if the user had signed in. The client must be registered. */
  issueGrant(g: GrantRequest): string;
  /** Every current grant of the user now answers invalid_grant. Later sign-ins make new, valid grants. */
  revokeUser(user: string, opts?: RevokeOptions): void;
  setFault(f: Fault): string;
  clearFaults(): void;
  /** Removes one fault by the id setFault returned. */
  clearFault(id: string): void;
  lookupToken(token: string): IssuedToken | undefined;
  isValidAccessToken(token: string, user?: string): boolean;
  secrets(): string[];
  stats(): Stats;
  resetStats(): void;
  /** How the user answers later sign-ins. */
  setSignInMode(user: string, mode: SignInMode): void;
  /** Marks a device code (by its user_code) as approved (or denied) by `user`. */
  approveDevice(userCode: string, user: string, opts?: { deny?: boolean }): void;
  /** User who approves device codes requested from now on without approveDevice; undefined: nobody. */
  setDeviceUser(user: string | undefined): void;
  /** Google: a new key (JSON key file) for a service account with domain-wide delegation (emulator/google-app-only.ts). */
  issueServiceAccountKey(r: ServiceAccountRequest): ServiceAccountKeyFile;
  /** Google: disable or delete a service account, or delete one of its keys, as an admin would. */
  changeServiceAccount(email: string, change: { disabled?: boolean; deleteKey?: string; deleted?: boolean }): void;
  close(): Promise<void>;
}
