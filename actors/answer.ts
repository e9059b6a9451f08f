import type { AccountContext } from './account.js';
import { tokenUsable } from './account.js';
import { minRemainingMs } from './timing.js';

/** The four states a user sees; `starting` never outlives its first microstep. */
export type AccountState = 'unauthenticated' | 'valid' | 'refreshing' | 'expired';

/** Codes a failed token request carries (doc/errors.md). */
export type RequestFailureCode = 'needs-auth' | 'temporarily-unavailable';

export type Answer =
  | { kind: 'token'; accessToken: string; expiresAt: number }
  | { kind: 'wait' }
  | { kind: 'fail'; code: RequestFailureCode; message: string };

export interface AccountView {
  state: AccountState;
  context: AccountContext;
}

/**
 * What a token request gets from an account at `now`, after the machine has
 * seen the request. `waitBudgetMs` is how long the caller may still wait.
 */
export function answerFor(view: AccountView, now: number, waitBudgetMs: number): Answer {
  const { state, context } = view;
  if (state === 'unauthenticated') {
    return { kind: 'fail', code: 'needs-auth', message: needsAuthMessage(context) };
  }
  if (tokenUsable(context, now) && context.accessToken !== undefined && context.expiresAt !== undefined) {
    return { kind: 'token', accessToken: context.accessToken, expiresAt: context.expiresAt };
  }
  if (state === 'expired') {
    const retryIn = (context.retryAt ?? now) - now;
    if (retryIn > waitBudgetMs) {
      return { kind: 'fail', code: 'temporarily-unavailable', message: unavailableMessage(context) };
    }
  }
  return { kind: 'wait' };
}

/**
 * After a waiting request saw the account change: a finished refresh either
 * produced a token, or the request fails now rather than waiting for a retry.
 */
export function answerAfterChange(view: AccountView, now: number): Answer {
  const answer = answerFor(view, now, 0);
  if (answer.kind !== 'wait' || view.state === 'refreshing') return answer;
  return { kind: 'fail', code: 'temporarily-unavailable', message: unavailableMessage(view.context) };
}

/** The time after which the front must stop handing out this token. */
export function usableUntil(context: AccountContext): number | undefined {
  if (context.expiresAt === undefined) return undefined;
  return context.expiresAt - minRemainingMs(context.lifetimeMs ?? 0);
}

function needsAuthMessage(context: AccountContext): string {
  const why = context.lastError ? ` (${context.lastError.code}: ${context.lastError.message})` : '';
  return `${context.user} needs to be signed in${why}`;
}

function unavailableMessage(context: AccountContext): string {
  const why = context.lastError ? `${context.lastError.code}: ${context.lastError.message}` : 'refresh pending';
  return `no valid token for ${context.user} yet (${why})`;
}

/** A machine event as people read it in logs and history. */
export function describeEvent(type: string | undefined): string | undefined {
  if (type === undefined) return undefined;
  if (type === 'xstate.init') return 'start';
  if (type.startsWith('xstate.done.actor.')) return 'refresh-succeeded';
  if (type.startsWith('xstate.error.actor.')) return 'refresh-failed';
  if (type.startsWith('xstate.after.refreshDue')) return 'refresh-due';
  if (type.startsWith('xstate.after.retryDue')) return 'retry-due';
  return type.toLowerCase().replace(/_/g, '-');
}
