import type { MessagePort } from 'node:worker_threads';
import type { AccountError, KnownToken } from '../../actors/account.js';
import type { AccountState, RequestFailureCode } from '../../actors/answer.js';
import type { Proto, ProviderConfig } from '../config/types.js';

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
}

/** Fixed for the life of the pool; passed as piscina workerData. */
export interface WorkerSettings {
  storeDir: string;
  storeKey: Uint8Array;
  workers: number;
  /** Lets tests crash a worker through the admin socket. */
  debugCommands: boolean;
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
}
export interface StatusTask {
  op: 'status';
  shard: number;
}
export interface CrashTask {
  op: 'crash';
  shard: number;
}
export type HostTask = AttachTask | SyncTask | TokenTask | GrantTask | RefreshTask | RevokeTask | StatusTask | CrashTask;

export type TokenResult =
  | { kind: 'token'; accessToken: string; expiresAt: number }
  | { kind: 'fail'; code: RequestFailureCode | 'unknown-account'; message: string };

/** The outcome of an operator action on one account (grant, refresh, revoke). */
export interface ActionResult {
  ok: boolean;
  state: AccountState | 'unknown';
  message: string;
  error?: AccountError;
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
}

/** Published on every visible change of an account: the front's replica feeds on it. */
export interface AccountUpdate {
  type: 'account';
  key: string;
  user: string;
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
export type HostMessage = AccountUpdate | AccountRemoved | WorkerLog;
