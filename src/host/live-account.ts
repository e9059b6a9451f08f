/** What the shard host tells about a live actor: status rows, updates, and answers it waits for. */
import type { Actor, SnapshotFrom } from 'xstate';
import type { AccountContext, accountMachine } from '../../actors/account.js';
import { answerAfterChange, usableUntil, type AccountState, type AccountView } from '../../actors/answer.js';
import type { AccountSpec, AccountStatus, AccountUpdate, ActionResult, TokenResult } from './messages.js';

type AccountActor = Actor<typeof accountMachine>;

export function viewOf(snapshot: SnapshotFrom<typeof accountMachine>): AccountView {
  return { state: snapshot.value as AccountState, context: snapshot.context };
}

/** Waits for the account to change state (or token), then answers once. */
export function waitForAnswer(actor: AccountActor, key: string, waitMs: number): Promise<TokenResult> {
  const start = actor.getSnapshot();
  return new Promise<TokenResult>((resolve) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      const why = start.context.lastError ? ` (last error ${start.context.lastError.code})` : '';
      resolve({ kind: 'fail', code: 'temporarily-unavailable', message: `no token for ${key} within ${waitMs} ms${why}` });
    }, waitMs);
    const subscription = actor.subscribe((snapshot) => {
      if (snapshot.value === start.value && snapshot.context.accessToken === start.context.accessToken) return;
      const answer = answerAfterChange(viewOf(snapshot), Date.now());
      if (answer.kind === 'wait') return;
      clearTimeout(timer);
      subscription.unsubscribe();
      resolve(answer);
    });
  });
}

/** Waits (bounded) until an operator action has played out, then reports the state. */
export function settle(actor: AccountActor, waitMs: number, what: string): Promise<ActionResult> {
  const report = (): ActionResult => {
    const snapshot = actor.getSnapshot();
    const state = snapshot.value as AccountState;
    const error = snapshot.context.lastError;
    const ok = state === 'valid' && snapshot.context.failures === 0;
    return { ok, state, message: ok ? `${what}; token refreshed` : `${what}; account is ${state}`, error };
  };
  if (actor.getSnapshot().value !== 'refreshing') return Promise.resolve(report());
  return new Promise<ActionResult>((resolve) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      resolve(report());
    }, waitMs);
    const subscription = actor.subscribe((snapshot) => {
      if (snapshot.value === 'refreshing') return;
      clearTimeout(timer);
      subscription.unsubscribe();
      resolve(report());
    });
  });
}

/** Whether two specs may share a token: same identity, client and scopes. */
export function sameCredentials(a: AccountSpec, b: AccountSpec): boolean {
  const pick = (s: AccountSpec) =>
    JSON.stringify([s.user, s.loginAs, s.provider, s.clientId, s.clientSecret, s.tenant, [...s.protocols].sort()]);
  return pick(a) === pick(b);
}

export function liveStatus(spec: AccountSpec, snapshot: SnapshotFrom<typeof accountMachine>, hasGrant: boolean): AccountStatus {
  const { context } = snapshot;
  return {
    user: spec.user,
    key: spec.key,
    provider: spec.provider.name,
    state: snapshot.value as AccountState,
    expiresAt: context.expiresAt,
    lastRefreshAt: context.lastRefreshAt,
    failures: context.failures,
    retryAt: context.retryAt,
    lastError: context.lastError,
    hasGrant,
  };
}

export function liveUpdate(spec: AccountSpec, state: AccountState, context: AccountContext, from: AccountState | undefined, cause: string | undefined): AccountUpdate {
  return {
    type: 'account',
    key: spec.key,
    user: spec.user,
    provider: spec.provider.name,
    state,
    from,
    cause,
    accessToken: context.accessToken,
    expiresAt: context.expiresAt,
    usableUntil: usableUntil(context),
    lifetimeMs: context.lifetimeMs,
    lastRefreshAt: context.lastRefreshAt,
    lastError: context.lastError,
    retryAt: context.retryAt,
    at: Date.now(),
  };
}
