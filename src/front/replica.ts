import type { KnownToken } from '../../actors/account.js';
import type { AccountState } from '../../actors/answer.js';
import type { AccountUpdate } from '../host/messages.js';
import { isValidToken } from '../protocol.js';

interface Replicated {
  state: AccountState;
  accessToken?: string;
  usableUntil: number;
  expiresAt?: number;
  lifetimeMs?: number;
  lastRefreshAt?: number;
}

/**
 * The main thread's copy of every account's current token, fed by the
 * updates the account actors publish. The actors stay the only writers; the
 * socket front reads here so that a request for a good token costs no
 * message hop to a worker, and a worker that dies leaves its tokens served.
 */
export class TokenReplica {
  readonly #entries = new Map<string, Replicated>();

  apply(update: AccountUpdate): void {
    // A token that could not go into a reply is never served from here: the
    // actor's path formats (and refuses) it as before.
    const replyable = update.accessToken !== undefined && isValidToken(update.accessToken);
    this.#entries.set(update.key, {
      state: update.state,
      accessToken: update.accessToken,
      usableUntil: replyable ? (update.usableUntil ?? 0) : 0,
      expiresAt: update.expiresAt,
      lifetimeMs: update.lifetimeMs,
      lastRefreshAt: update.lastRefreshAt,
    });
  }

  remove(key: string): void {
    this.#entries.delete(key);
  }

  /**
   * The token to hand out at `now`, or undefined when the actor must decide.
   * A token returned here has passed `isValidToken`.
   */
  usableToken(key: string, now: number): string | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.state === 'unauthenticated' || now >= entry.usableUntil) return undefined;
    return entry.accessToken;
  }

  known(keys: string[]): Record<string, KnownToken> {
    const known: Record<string, KnownToken> = {};
    for (const key of keys) {
      const e = this.#entries.get(key);
      if (e?.accessToken && e.expiresAt !== undefined && e.lifetimeMs !== undefined && e.lastRefreshAt !== undefined) {
        known[key] = { accessToken: e.accessToken, expiresAt: e.expiresAt, lifetimeMs: e.lifetimeMs, refreshedAt: e.lastRefreshAt };
      }
    }
    return known;
  }

  countByState(): Record<AccountState, number> {
    const counts: Record<AccountState, number> = { unauthenticated: 0, valid: 0, refreshing: 0, expired: 0 };
    for (const entry of this.#entries.values()) counts[entry.state]++;
    return counts;
  }
}
