import type { MessagePort } from 'node:worker_threads';
import type { AccountError, KnownToken } from '../../actors/account.js';
import type { ClusterSettings } from '../cluster/settings.js';
import type { AccountState, RequestFailureCode } from '../../actors/answer.js';
import type { AppOnlyAuth, CertificateCredential, Proto, ProviderConfig, ServiceAccountKey } from '../config/types.js';

/**
 * Every message that crosses between the main thread and a worker. Tasks go
 * main → worker through piscina (routed by shard); updates come back over the
 * MessagePort each worker receives when it is attached.
 */

/** What a worker needs to run one account; plain data, cloned to the worker. */
export interface AccountSpec {
  /** normalizeUser(user): the key everything is indexed by. */
  key: string;
  /** As configured; this is what goes into XOAUTH2 strings. */
  user: string;
  loginAs?: string;
  provider: ProviderConfig;
  clientId: string;
  clientSecret?: string;
  tenant?: string;
  protocols: Proto[];
  refreshAheadMs: number;
  /** App-only credentials (no refresh grant); absent for signed-in users. */
  auth?: AppOnlyAuth;
  certificate?: CertificateCredential;
  serviceAccount?: ServiceAccountKey;
}

/** Fixed for the life of the pool; passed as piscina workerData. */
export interface WorkerSettings {
  storeDir: string;
  storeKey: Uint8Array;
  workers: number;
  /** Lets tests crash a worker through the admin socket. */
  debugCommands: boolean;
  /** Set when `[store]` names PostgreSQL: the worker joins the cluster (src/cluster/). */
  cluster?: ClusterSettings;
}

export interface AttachTask {
  op: 'attach';
  shard: number;
  port: MessagePort;
  accounts: AccountSpec[];
  /** Tokens the main thread still holds, so a replaced worker need not refresh. */
  known: Record<string, KnownToken>;
}
export interface SyncTask {
  op: 'sync';
  shard: number;
  accounts: AccountSpec[];
}
export interface TokenTask {
  op: 'token';
  key: string;
  now: number;
  waitMs: number;
}
export interface GrantTask {
  op: 'grant';
  key: string;
  refreshToken: string;
  /** Wait this long for the first refresh with the new grant, to report it. */
  waitMs: number;
}
export interface RefreshTask {
  op: 'refresh';
  key: string;
  waitMs: number;
}
export interface RevokeTask {
  op: 'revoke';
  key: string;
  /** Also revoke the grant at the provider, where the provider supports that (ops). */
  remote?: boolean;
}
/** Ops: the wall clock jumped (suspend, resume, a clock step): every account re-arms its timers. */
export interface WakeTask {
  op: 'wake';
  shard: number;
  now: number;
}
/** Ops, at shutdown: let refreshes in flight finish and store every grant still held only in memory. */
export interface DrainTask {
  op: 'drain';
  shard: number;
  timeoutMs: number;
}
export type OpsTask = WakeTask | DrainTask;
export interface StatusTask {
  op: 'status';
  shard: number;
}
export interface CrashTask {
  op: 'crash';
  shard: number;
}
/** Sign-in (src/signin/): the provider URL a browser is sent to for this account. */
export interface SignInUrlTask {
  op: 'signin-url';
  key: string;
  redirectUri: string;
  state: string;
  codeChallenge: string;
}
/** Sign-in: redeem the code the browser came back with; on success the grant is stored and the account is valid. */
export interface SignInRedeemTask {
  op: 'signin-redeem';
  key: string;
  code: string;
  redirectUri: string;
  codeVerifier: string;
}
/** Sign-in: start a device flow; answers with the code to show while the worker keeps polling. */
export interface DeviceStartTask {
  op: 'device-start';
  key: string;
  flow: string;
}
/** Sign-in: the outcome of a started device flow (answers when it ends). */
export interface DeviceWaitTask {
  op: 'device-wait';
  key: string;
  flow: string;
}
export interface DeviceCancelTask {
  op: 'device-cancel';
  key: string;
  flow: string;
}
export type SignInTask = SignInUrlTask | SignInRedeemTask | DeviceStartTask | DeviceWaitTask | DeviceCancelTask;
/** One more account for the shard (a domain template's account, created on first request); no-op if it exists. */
export interface AddTask {
  op: 'add';
  shard: number;
  account: AccountSpec;
}
export type HostTask = AttachTask | SyncTask | AddTask | TokenTask | GrantTask | RefreshTask | RevokeTask | StatusTask | CrashTask | SignInTask | OpsTask;

/** How a sign-in step ended. `code` is a provider or mailtokend error code, `ok` on success. */
export interface SignInOutcome {
  ok: boolean;
  code: string;
  message: string;
  state: AccountState | 'unknown';
  /** Who signed in, as the provider named them (an address, not a secret). */
  identity?: string;
}
export interface DeviceCodeShown {
  userCode: string;
  verificationUri: string;
  message: string;
  expiresInMs: number;
}
export type SignInUrlResult = { ok: true; url: string } | SignInOutcome;
export type DeviceStartResult = { ok: true; prompt: DeviceCodeShown } | SignInOutcome;

export type TokenResult =
  | { kind: 'token'; accessToken: string; expiresAt: number }
  | { kind: 'fail'; code: RequestFailureCode | 'unknown-account'; message: string };

/** The outcome of an operator action on one account (grant, refresh, revoke). */
export interface ActionResult {
  ok: boolean;
  state: AccountState | 'unknown';
  message: string;
  error?: AccountError;
  /** `revoke --remote` only: what the provider did with the grant. */
  remote?: RemoteRevokeOutcome;
}

/** The provider's side of `revoke --remote`. */
export type RemoteRevokeOutcome = 'revoked' | 'already-invalid' | 'unsupported' | 'no-grant' | 'failed';

/** What a shard did at shutdown (DrainTask). */
export interface DrainResult {
  /** Refreshes still in flight when the drain gave up. */
  refreshing: number;
  /** Rotated grants that could not be stored (they are lost with this process). */
  unsaved: number;
}

/** One account as `status` shows it: no token, only facts about it. */
export interface AccountStatus {
  user: string;
  key: string;
  provider: string;
  state: AccountState;
  expiresAt?: number;
  lastRefreshAt?: number;
  failures: number;
  retryAt?: number;
  lastError?: AccountError;
  hasGrant: boolean;
  /** With `[store] postgres`: the instance that obtained the stored access token (doc/cluster.md). */
  refreshedBy?: string;
}

/** Published on every visible change of an account: the front's replica feeds on it. */
export interface AccountUpdate {
  type: 'account';
  key: string;
  user: string;
  /** Provider section name. */
  provider: string;
  state: AccountState;
  from?: AccountState;
  /** What caused the change (the machine event), for logs and history. */
  cause?: string;
  accessToken?: string;
  expiresAt?: number;
  usableUntil?: number;
  lifetimeMs?: number;
  lastRefreshAt?: number;
  lastError?: AccountError;
  /** When the next retry after a failure is due. */
  retryAt?: number;
  at: number;
}
export interface AccountRemoved {
  type: 'removed';
  key: string;
}
export interface WorkerLog {
  type: 'log';
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, string | number | boolean | undefined>;
}
/**
 * Every refresh attempt's outcome, for metrics: `result` is the outcome class,
 * `providerMs` the time spent in the provider call (absent when none was made).
 */
export interface RefreshReport {
  type: 'refresh';
  key: string;
  /** Provider section name (`google`, `microsoft`, or a custom section). */
  provider: string;
  result: 'ok' | 'transient' | 'revoked';
  code?: string;
  providerMs?: number;
}
/**
 * A rotated grant the store refused (`ok: false`: it lives only in the
 * worker's memory until a retry stores it) or stored after all (`ok: true`).
 * Losing it means a new sign-in, so the operator is alerted (src/notify/).
 */
export interface PersistReport {
  type: 'persist';
  key: string;
  ok: boolean;
  /** The store's error (names the file, never a token). */
  error?: string;
}
export type HostMessage = AccountUpdate | AccountRemoved | WorkerLog | RefreshReport | PersistReport;
