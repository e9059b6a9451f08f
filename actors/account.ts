import { assign, fromPromise, setup } from 'xstate';
import { backoffMs, minRemainingMs, MIN_REQUEST_RETRY_GAP_MS, refreshOffsetMs } from './timing.js';

/**
 * The account machine: one per mail account. It is pure. Wall-clock time only
 * enters through events (`now`), the provider call is the `refresh` actor that
 * the runtime provides, and every delay is computed from context.
 */

/** What the runtime's refresh returns. */
export interface RefreshSuccess {
  accessToken: string;
  expiresInMs: number;
  /** Wall clock when the response arrived. */
  now: number;
}

/**
 * What the runtime's refresh throws. `revoked` covers everything a new
 * sign-in must fix (invalid_grant, interaction_required, refused client);
 * `transient` is retried with backoff.
 */
export interface RefreshFailure {
  kind: 'revoked' | 'transient';
  code: string;
  message: string;
  retryAfterMs?: number;
  now: number;
}

export interface RefreshInput {
  user: string;
}

export interface AccountError {
  code: string;
  message: string;
  at: number;
}

export interface AccountContext {
  user: string;
  refreshAheadMs: number;
  now: number;
  accessToken?: string;
  expiresAt?: number;
  lifetimeMs?: number;
  failures: number;
  /** Next scheduled retry (backoff); requests may bring it forward. */
  retryAt?: number;
  /** Provider's Retry-After: nothing calls the provider before this. */
  holdUntil?: number;
  lastAttemptAt?: number;
  lastRefreshAt?: number;
  lastError?: AccountError;
  /** Only read by the `starting` state. */
  hasGrant: boolean;
}

/** A token known from before this actor existed (worker restart, cluster peer). */
export interface KnownToken {
  accessToken: string;
  expiresAt: number;
  lifetimeMs: number;
  refreshedAt: number;
}

export interface AccountInput {
  user: string;
  refreshAheadMs: number;
  hasGrant: boolean;
  now: number;
  token?: KnownToken;
}

export type AccountEvent =
  /** A mail program asks for a token. */
  | { type: 'TOKEN_REQUEST'; now: number }
  /** A new refresh grant is stored (import, sign-in without a token). */
  | { type: 'GRANT'; now: number }
  /** A sign-in delivered a fresh access token along with the grant. */
  | { type: 'AUTHORIZED'; now: number; accessToken: string; expiresInMs: number }
  /** An operator asked for a refresh now. */
  | { type: 'REFRESH'; now: number }
  /** The grant is gone (revoked by the operator or found missing). */
  | { type: 'REVOKE'; now: number; code?: string; message?: string }
  /** The wall clock jumped (suspend/resume): re-arm timers. */
  | { type: 'WAKE'; now: number }
  /** Another daemon of a cluster obtained a token with the same grant: use it unless ours lives longer. */
  | { type: 'ADOPT'; now: number; token: KnownToken };

function toFailure(error: unknown, fallbackNow: number): RefreshFailure {
  if (typeof error === 'object' && error !== null && 'kind' in error && 'code' in error) {
    const e = error as Partial<RefreshFailure>;
    if ((e.kind === 'revoked' || e.kind === 'transient') && typeof e.code === 'string') {
      return {
        kind: e.kind,
        code: e.code,
        message: typeof e.message === 'string' ? e.message : e.code,
        retryAfterMs: typeof e.retryAfterMs === 'number' ? e.retryAfterMs : undefined,
        now: typeof e.now === 'number' ? e.now : fallbackNow,
      };
    }
  }
  // Anything else is a bug in the runtime; retrying is safer than dropping the grant.
  return { kind: 'transient', code: 'internal', message: 'refresh failed unexpectedly', now: fallbackNow };
}

/** True while the access token may still be handed out at `now`. */
export function tokenUsable(context: Pick<AccountContext, 'accessToken' | 'expiresAt' | 'lifetimeMs'>, now: number): boolean {
  if (context.accessToken === undefined || context.expiresAt === undefined) return false;
  return now < context.expiresAt - minRemainingMs(context.lifetimeMs ?? 0);
}

/**
 * When a healthy account (no failures) refreshes: `refresh_ahead` before
 * expiry, from timing.ts. Exported so a runtime that parks an idle account
 * without its actor (src/host/) wakes it exactly when this machine would.
 */
export function plannedRefreshAt(context: Pick<AccountContext, 'user' | 'refreshAheadMs' | 'now' | 'lifetimeMs' | 'lastRefreshAt'>): number {
  const receivedAt = context.lastRefreshAt ?? context.now;
  return receivedAt + refreshOffsetMs(context.user, context.lifetimeMs ?? 0, context.refreshAheadMs);
}

function eventNow(context: AccountContext, event: { now?: number }): number {
  return typeof event.now === 'number' ? event.now : context.now;
}

export const accountMachine = setup({
  types: {
    context: {} as AccountContext,
    events: {} as AccountEvent,
    input: {} as AccountInput,
  },
  actors: {
    refresh: fromPromise<RefreshSuccess, RefreshInput>(async () => {
      throw { kind: 'transient', code: 'not-provided', message: 'no refresh implementation provided', now: 0 };
    }),
  },
  guards: {
    hasGrant: ({ context }) => context.hasGrant,
    tokenUsableNow: ({ context }) => tokenUsable(context, context.now),
    tokenLapsed: ({ context, event }) => !tokenUsable(context, eventNow(context, event)),
    onHold: ({ context, event }) => eventNow(context, event) < (context.holdUntil ?? 0),
    mayRetryNow: ({ context, event }) => {
      const now = eventNow(context, event);
      return now >= (context.holdUntil ?? 0) && now - (context.lastAttemptAt ?? -Infinity) >= MIN_REQUEST_RETRY_GAP_MS;
    },
    revoked: ({ context, event }) =>
      'error' in event && toFailure(event.error, context.now).kind === 'revoked',
    fresherToken: ({ context, event }) =>
      event.type === 'ADOPT' && (context.expiresAt === undefined || event.token.expiresAt > context.expiresAt),
    stillUsableAfterFailure: ({ context, event }) =>
      'error' in event && tokenUsable(context, toFailure(event.error, context.now).now),
  },
  actions: {
    noteTime: assign({ now: ({ context, event }) => eventNow(context, event) }),
    noteAttempt: assign({ lastAttemptAt: ({ context }) => context.now }),
    storeAuthorized: assign(({ context, event }) => {
      if (event.type !== 'AUTHORIZED') return {};
      return {
        now: event.now,
        accessToken: event.accessToken,
        expiresAt: event.now + event.expiresInMs,
        lifetimeMs: event.expiresInMs,
        failures: 0,
        retryAt: undefined,
        holdUntil: undefined,
        lastRefreshAt: event.now,
        lastError: context.lastError,
      };
    }),
    storeAdopted: assign(({ event }) => {
      if (event.type !== 'ADOPT') return {};
      return {
        now: event.now,
        accessToken: event.token.accessToken,
        expiresAt: event.token.expiresAt,
        lifetimeMs: event.token.lifetimeMs,
        lastRefreshAt: event.token.refreshedAt,
        failures: 0,
        retryAt: undefined,
        holdUntil: undefined,
      };
    }),
    storeRefreshed: assign(({ event }) => {
      const out = (event as unknown as { output: RefreshSuccess }).output;
      return {
        now: out.now,
        accessToken: out.accessToken,
        expiresAt: out.now + out.expiresInMs,
        lifetimeMs: out.expiresInMs,
        failures: 0,
        retryAt: undefined,
        holdUntil: undefined,
        lastRefreshAt: out.now,
      };
    }),
    recordFailure: assign(({ context, event }) => {
      const failure = toFailure((event as { error?: unknown }).error, context.now);
      const failures = context.failures + 1;
      const retryAfterMs = failure.retryAfterMs ?? 0;
      return {
        now: failure.now,
        failures,
        retryAt: failure.now + backoffMs(context.user, failures, retryAfterMs),
        holdUntil: retryAfterMs > 0 ? failure.now + retryAfterMs : context.holdUntil,
        lastError: { code: failure.code, message: failure.message, at: failure.now },
      };
    }),
    recordRevoked: assign(({ context, event }) => {
      if (event.type === 'REVOKE') {
        return {
          now: event.now,
          lastError: { code: event.code ?? 'revoked', message: event.message ?? 'grant revoked', at: event.now },
        };
      }
      const failure = toFailure((event as { error?: unknown }).error, context.now);
      return { now: failure.now, lastError: { code: failure.code, message: failure.message, at: failure.now } };
    }),
    forgetToken: assign({
      accessToken: undefined,
      expiresAt: undefined,
      lifetimeMs: undefined,
      failures: 0,
      retryAt: undefined,
      holdUntil: undefined,
    }),
  },
  delays: {
    /** Scheduled refresh while valid, or the next retry after a failed one. */
    refreshDue: ({ context }) => {
      const lapse = (context.expiresAt ?? context.now) - minRemainingMs(context.lifetimeMs ?? 0);
      if (context.failures > 0) {
        return Math.max(0, Math.min(context.retryAt ?? context.now, lapse) - context.now);
      }
      return Math.max(0, plannedRefreshAt(context) - context.now);
    },
    retryDue: ({ context }) => Math.max(0, (context.retryAt ?? context.now) - context.now),
  },
}).createMachine({
  id: 'account',
  context: ({ input }) => ({
    user: input.user,
    refreshAheadMs: input.refreshAheadMs,
    now: input.now,
    failures: 0,
    hasGrant: input.hasGrant,
    accessToken: input.token?.accessToken,
    expiresAt: input.token?.expiresAt,
    lifetimeMs: input.token?.lifetimeMs,
    lastRefreshAt: input.token?.refreshedAt,
  }),
  initial: 'starting',
  states: {
    /**
     * Passes straight on, so an account with a grant never shows as (and never
     * notifies about being) unauthenticated while the daemon starts.
     */
    starting: {
      always: [
        { guard: 'tokenUsableNow', target: 'valid' },
        { guard: 'hasGrant', target: 'refreshing' },
        { target: 'unauthenticated' },
      ],
    },
    unauthenticated: {
      entry: 'forgetToken',
      on: {
        TOKEN_REQUEST: { actions: 'noteTime' },
        GRANT: { target: 'refreshing', actions: 'noteTime' },
        AUTHORIZED: { target: 'valid', actions: 'storeAuthorized' },
        ADOPT: { guard: 'fresherToken', target: 'valid', actions: 'storeAdopted' },
      },
    },
    valid: {
      after: { refreshDue: { target: 'refreshing' } },
      on: {
        TOKEN_REQUEST: [
          { guard: 'tokenLapsed', target: 'refreshing', actions: 'noteTime' },
          { actions: 'noteTime' },
        ],
        WAKE: [
          { guard: 'tokenLapsed', target: 'refreshing', actions: 'noteTime' },
          { target: 'valid', reenter: true, actions: 'noteTime' },
        ],
        REFRESH: { target: 'refreshing', actions: 'noteTime' },
        GRANT: { target: 'refreshing', actions: 'noteTime' },
        AUTHORIZED: { target: 'valid', reenter: true, actions: 'storeAuthorized' },
        ADOPT: { guard: 'fresherToken', target: 'valid', reenter: true, actions: 'storeAdopted' },
        REVOKE: { target: 'unauthenticated', actions: 'recordRevoked' },
      },
    },
    refreshing: {
      entry: 'noteAttempt',
      invoke: {
        src: 'refresh',
        input: ({ context }) => ({ user: context.user }),
        onDone: { target: 'valid', actions: 'storeRefreshed' },
        onError: [
          { guard: 'revoked', target: 'unauthenticated', actions: 'recordRevoked' },
          { guard: 'stillUsableAfterFailure', target: 'valid', actions: 'recordFailure' },
          { target: 'expired', actions: 'recordFailure' },
        ],
      },
      on: {
        TOKEN_REQUEST: { actions: 'noteTime' },
        WAKE: { actions: 'noteTime' },
        GRANT: { target: 'refreshing', reenter: true, actions: 'noteTime' },
        AUTHORIZED: { target: 'valid', actions: 'storeAuthorized' },
        // The refresh in flight is left to finish (cancelling it could lose a rotated grant);
        // meanwhile requests are answered with the adopted token.
        ADOPT: { guard: 'fresherToken', actions: 'storeAdopted' },
        REVOKE: { target: 'unauthenticated', actions: 'recordRevoked' },
      },
    },
    expired: {
      after: { retryDue: { target: 'refreshing' } },
      on: {
        TOKEN_REQUEST: [
          { guard: 'mayRetryNow', target: 'refreshing', actions: 'noteTime' },
          { actions: 'noteTime' },
        ],
        WAKE: { target: 'expired', reenter: true, actions: 'noteTime' },
        REFRESH: [
          { guard: 'onHold', actions: 'noteTime' },
          { target: 'refreshing', actions: 'noteTime' },
        ],
        GRANT: { target: 'refreshing', actions: 'noteTime' },
        AUTHORIZED: { target: 'valid', actions: 'storeAuthorized' },
        ADOPT: { guard: 'fresherToken', target: 'valid', actions: 'storeAdopted' },
        REVOKE: { target: 'unauthenticated', actions: 'recordRevoked' },
      },
    },
  },
});
