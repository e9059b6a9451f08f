import type { SnapshotFrom } from 'xstate';
import { plannedRefreshAt, tokenUsable, type accountMachine, type KnownToken } from '../../actors/account.js';
import type { AccountState } from '../../actors/answer.js';
import { minRemainingMs } from '../../actors/timing.js';
import type { AccountSpec, AccountStatus, AccountUpdate } from './messages.js';

type AccountSnapshot = SnapshotFrom<typeof accountMachine>;

/**
 * An idle account without an actor: exactly the machine's KnownToken input,
 * plus when the machine would next act (its planned refresh). Only a `valid`
 * account with no failure and no error on record is parked, so nothing else
 * of its context is lost; the actor is rebuilt from this through the
 * KnownToken input as soon as anything happens to the account.
 */
export interface Parked {
  spec: AccountSpec;
  /**
   * Kept as given, never copied: at start it is the stored grant's own access
   * record, so a shard of thousands of parked accounts holds each token once.
   */
  token: Readonly<KnownToken>;
  /** Wall-clock time of the planned refresh (the machine's `refreshDue`). */
  dueAt: number;
}

export function parkedFrom(spec: AccountSpec, token: Readonly<KnownToken>): Parked {
  const { lifetimeMs, refreshedAt } = token;
  const dueAt = plannedRefreshAt({ user: spec.key, refreshAheadMs: spec.refreshAheadMs, now: refreshedAt, lifetimeMs, lastRefreshAt: refreshedAt });
  return { spec, token, dueAt };
}

/** The record of an actor that may be parked now, or undefined if it must stay live. */
export function parkable(spec: AccountSpec, snapshot: AccountSnapshot): Parked | undefined {
  const c = snapshot.context;
  if (snapshot.status !== 'active' || snapshot.value !== 'valid' || c.failures > 0 || c.lastError !== undefined) return undefined;
  const token = knownTokenOf(snapshot);
  return token ? parkedFrom(spec, token) : undefined;
}

export function knownTokenOf(snapshot: AccountSnapshot): KnownToken | undefined {
  const c = snapshot.context;
  if (!c.accessToken || c.expiresAt === undefined || c.lifetimeMs === undefined || c.lastRefreshAt === undefined) return undefined;
  return { accessToken: c.accessToken, expiresAt: c.expiresAt, lifetimeMs: c.lifetimeMs, refreshedAt: c.lastRefreshAt };
}

export function parkedToken(p: Parked): KnownToken {
  const { accessToken, expiresAt, lifetimeMs, refreshedAt } = p.token;
  return { accessToken, expiresAt, lifetimeMs, refreshedAt };
}

/** The later-expiring of two known tokens (the replica's and the stored one at start). */
export function fresher(a: KnownToken | undefined, b: KnownToken | undefined): KnownToken | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.expiresAt > a.expiresAt ? b : a;
}

/** The machine's `starting` guard: a known token usable now starts the account `valid`. */
export function usableAt(token: KnownToken | undefined, now: number): token is KnownToken {
  return token !== undefined && tokenUsable(token, now);
}

export function parkedStatus(p: Parked, hasGrant: boolean): AccountStatus {
  return {
    user: p.spec.user,
    key: p.spec.key,
    provider: p.spec.provider.name,
    state: 'valid',
    expiresAt: p.token.expiresAt,
    lastRefreshAt: p.token.refreshedAt,
    failures: 0,
    retryAt: undefined,
    lastError: undefined,
    hasGrant,
  };
}

/** What the actor would have published on starting `valid` with this token. */
export function parkedUpdate(p: Parked, from: AccountState | undefined, cause: string, at: number): AccountUpdate {
  return {
    type: 'account',
    key: p.spec.key,
    user: p.spec.user,
    provider: p.spec.provider.name,
    state: 'valid',
    from,
    cause,
    accessToken: p.token.accessToken,
    expiresAt: p.token.expiresAt,
    usableUntil: p.token.expiresAt - minRemainingMs(p.token.lifetimeMs),
    lifetimeMs: p.token.lifetimeMs,
    lastRefreshAt: p.token.refreshedAt,
    lastError: undefined,
    retryAt: undefined,
    at,
  };
}
