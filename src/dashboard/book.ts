import type { AccountError } from '../../actors/account.js';
import type { AccountState } from '../../actors/answer.js';
import type { AccountStatus, AccountUpdate } from '../host/messages.js';

export const STATES: readonly AccountState[] = ['unauthenticated', 'valid', 'refreshing', 'expired'];

/**
 * One account as the dashboard shows it. Built field by field from what the
 * actors publish, so an access token (which AccountUpdate carries for the
 * replica) can never slip into a page, an API answer or the event stream.
 */
export interface DashboardAccount {
  key: string;
  user: string;
  provider: string;
  state: AccountState;
  expiresAt?: number;
  lastRefreshAt?: number;
  lastError?: AccountError;
}

export interface Counts {
  total: number;
  states: Record<AccountState, number>;
  providers: Record<string, number>;
}

export interface AccountFilter {
  state?: string;
  provider?: string;
  /** Case-insensitive substring of the address. */
  text?: string;
}

export interface AccountPage {
  counts: Counts;
  /** How many accounts match the filter. */
  matched: number;
  offset: number;
  limit: number;
  accounts: DashboardAccount[];
}

export const MAX_PAGE = 500;

export function publicAccount(source: AccountUpdate | AccountStatus, provider: string): DashboardAccount {
  const error = source.lastError;
  return {
    key: source.key,
    user: source.user,
    provider,
    state: source.state,
    ...(source.state !== 'unauthenticated' && source.expiresAt !== undefined && { expiresAt: source.expiresAt }),
    ...(source.lastRefreshAt !== undefined && { lastRefreshAt: source.lastRefreshAt }),
    ...(error && { lastError: { code: error.code, message: error.message, at: error.at } }),
  };
}

/** Filters, counts and pages a list of accounts (sorted by address). */
export function pageOf(all: DashboardAccount[], filter: AccountFilter, offset: number, limit: number): AccountPage {
  const counts: Counts = { total: all.length, states: { unauthenticated: 0, valid: 0, refreshing: 0, expired: 0 }, providers: {} };
  const text = filter.text?.trim().toLowerCase() ?? '';
  const matching: DashboardAccount[] = [];
  for (const a of all) {
    counts.states[a.state]++;
    counts.providers[a.provider] = (counts.providers[a.provider] ?? 0) + 1;
    if (filter.state && a.state !== filter.state) continue;
    if (filter.provider && a.provider !== filter.provider) continue;
    if (text && !a.key.includes(text) && !a.user.toLowerCase().includes(text)) continue;
    matching.push(a);
  }
  const size = Math.min(Math.max(1, Math.floor(limit) || 1), MAX_PAGE);
  const start = Math.max(0, Math.floor(offset) || 0);
  return { counts, matched: matching.length, offset: start, limit: size, accounts: matching.slice(start, start + size) };
}

/**
 * The main thread's view of every account for the dashboard, fed by the
 * account events; reads are synchronous and never touch a worker.
 */
export class AccountBook {
  readonly #rows = new Map<string, DashboardAccount>();
  /** Sorted once per set of accounts; a state change costs a Map.set only. */
  #sorted: string[] | undefined;
  #providers = new Map<string, string>();

  /**
   * Which provider section each configured account (by key) uses. Accounts
   * themselves come from the actors' events, so ones a domain template made
   * on demand are listed too; removed ones leave through `remove`.
   */
  setProviders(providers: Map<string, string>): void {
    this.#providers = providers;
  }

  remove(key: string): void {
    if (this.#rows.delete(key)) this.#sorted = undefined;
  }

  providerOf(key: string): string {
    return this.#providers.get(key) ?? 'unknown';
  }

  apply(update: AccountUpdate): DashboardAccount | undefined {
    const row = publicAccount(update, update.provider);
    if (!this.#rows.has(update.key)) this.#sorted = undefined;
    this.#rows.set(update.key, row);
    return row;
  }

  /** Fills in accounts no event has told about yet (e.g. events dropped while starting). */
  seed(rows: AccountStatus[]): void {
    for (const r of rows) {
      if (this.#rows.has(r.key)) continue;
      this.#rows.set(r.key, publicAccount(r, r.provider));
      this.#sorted = undefined;
    }
  }

  get(key: string): DashboardAccount | undefined {
    return this.#rows.get(key);
  }

  all(): DashboardAccount[] {
    this.#sorted ??= [...this.#rows.values()].sort((a, b) => a.user.localeCompare(b.user)).map((a) => a.key);
    return this.#sorted.map((key) => this.#rows.get(key)!);
  }

  page(filter: AccountFilter, offset: number, limit: number): AccountPage {
    return pageOf(this.all(), filter, offset, limit);
  }
}
