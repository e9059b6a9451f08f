/**
 * The resolved configuration: every default applied, every path absolute,
 * every duration in milliseconds. Other modules code against these names only,
 * never against the TOML shape (see doc/configuration.md for that).
 */

/** A protocol a socket may serve; the word a client sends first on a request line. */
export type Proto = 'SMTP' | 'IMAP' | 'POP';

/** All protocols, in the order they are reported. */
export const PROTOS: readonly Proto[] = ['SMTP', 'IMAP', 'POP'];

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

export type ProviderType = 'google' | 'microsoft';

export interface Config {
  /** The file the configuration was read from (as given, for messages). */
  file: string;
  stateDir: string;
  workers: number;
  /** How long a token request may wait for a refresh before it is failed. */
  requestTimeoutMs: number;
  /** Top-level refresh margin; already applied to every account. */
  refreshAheadMs: number;
  logLevel: LogLevel;
  adminSocket: string;
  /** Commands run to tell the user about an account (src/notify/). */
  notify: NotifyConfig;
  web: { listen: { host: string; port: number } };
  /** Where grants live (`[store]`): the embedded file store, or PostgreSQL shared by several instances. */
  store: StoreConfig;
  sockets: SocketConfig[];
  accounts: AccountConfig[];
  /** Domain templates (`user = "@example.com"` or `"*"`): accounts made on first request (src/templates/). */
  templates?: AccountConfig[];
  /** Keyed by section name; always holds `google` and `microsoft`. */
  providers: Record<string, ProviderConfig>;
  /** Things that are allowed but probably not meant, formatted like errors. */
  warnings: string[];
}

/** `[store]` resolved. The URL may hold a password: never log it. */
export type StoreConfig =
  | { backend: 'file'; instance: string }
  | {
      backend: 'postgres';
      url: string;
      /** Where the URL came from, for messages: `[store] postgres` or the file's path. */
      urlSource: string;
      /** This instance's name (default: the host name): leases and status carry it. */
      instance: string;
      /** How long a refresh lease lasts before another instance may take the account over. */
      leaseMs: number;
    };

export interface NotifyConfig {
  /** argv; run when an account enters `unauthenticated`, then every `authIntervalMs` while it stays there. */
  authCmd?: string[];
  authIntervalMs: number;
  /** argv; run after repeated transient failures of an account. */
  errorCmd?: string[];
}

export interface SocketConfig {
  path: string;
  /** Permission bits for the socket file, e.g. 0o660. */
  mode: number;
  /** Group name, or a numeric gid written as digits. */
  group?: string;
  protocols: Proto[];
  /** Patterns: `*`, `@domain` or an address (see patterns.ts). */
  accounts: string[];
}

export interface AccountConfig {
  /** As written; matching is case-insensitive, key it by normalizeUser(user). */
  user: string;
  /** Provider section name. */
  provider: string;
  providerType: ProviderType;
  clientId: string;
  clientSecret?: string;
  /** Microsoft only: the account's tenant, else the provider's. */
  tenant?: string;
  refreshAheadMs: number;
  /** Reserved for Microsoft shared mailboxes. */
  loginAs?: string;
  /** Templates only: how many accounts this template may create. */
  maxAccounts?: number;
  /** How tokens are obtained; absent means a user's sign-in (refresh grant). */
  auth?: AppOnlyAuth;
  /** Microsoft client credentials with a certificate (signed client assertion). */
  certificate?: CertificateCredential;
  /** Google service account key (domain-wide delegation). */
  serviceAccount?: ServiceAccountKey;
  /**
   * Union of the protocols of every socket that serves this user; it decides
   * which scopes are asked for. [] (with a warning) when no socket serves it.
   */
  protocols: Proto[];
}

/** App-only credentials (doc/app-only.md): no refresh grant, the daemon holds the app's own credentials. */
export type AppOnlyAuth = 'client_credentials' | 'service_account';

export interface CertificateCredential {
  /** PEM private key; a secret. */
  privateKey: string;
  /** SHA-256 thumbprint of the certificate, hex, as msal-node's `thumbprintSha256` wants it. */
  thumbprintSha256: string;
  /** The certificate chain in PEM, sent as x5c (subject name / issuer authentication). */
  certificate: string;
}

export interface ServiceAccountKey {
  clientEmail: string;
  /** PEM private key; a secret. */
  privateKey: string;
  privateKeyId?: string;
  /** The key file's token_uri, else Google's. */
  tokenUri?: string;
}

/** Account keys a provider section may set for its accounts, kept raw and resolved per account. */
export interface ProviderAppOnlyDefaults {
  auth?: 'user' | AppOnlyAuth;
  clientSecretFile?: string;
  clientSecretEnv?: string;
  clientSecretCmd?: string[];
  certificateFile?: string;
  privateKeyFile?: string;
  serviceAccountFile?: string;
}

interface ProviderCommon {
  /** Defaults for the app-only keys of the accounts that name this section. */
  appOnly?: ProviderAppOnlyDefaults;
  name: string;
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  /** Refreshes in flight at once for this provider section, whole daemon. */
  maxConcurrentRefreshes: number;
}

export interface GoogleProviderConfig extends ProviderCommon {
  type: 'google';
  authUrl: string;
  tokenUrl: string;
  revokeUrl: string;
}

export interface MicrosoftProviderConfig extends ProviderCommon {
  type: 'microsoft';
  /** https origin (and optional path) without a trailing slash; the tenant is not part of it. */
  authority: string;
  tenant: string;
}

export type ProviderConfig = GoogleProviderConfig | MicrosoftProviderConfig;
