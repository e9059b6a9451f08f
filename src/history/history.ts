import type { AccountState } from '../../actors/answer.js';
import type { AccountUpdate } from '../host/messages.js';

/** How many transitions are kept per account. */
export const HISTORY_LENGTH = 100;

/** One transition of an account's machine, as the dashboard and `status --history` show it. Never a token. */
export interface Transition {
  at: number;
  /** The machine event that caused it (`refresh-due`, `refresh-failed`, `revoke` …). */
  event: string;
  /** Absent for the first state an account takes. */
  from?: AccountState;
  to: AccountState;
  /** The error the transition brought (provider code and message). */
  error?: { code: string; message: string; at: number };
  /** After a transient failure: when the account tries again. */
  retryAt?: number;
}

/**
 * The last HISTORY_LENGTH transitions of every account, in the main thread,
 * fed by the updates the account actors publish. A state change, or a new
 * error in the same state (a failed background refresh), makes an entry;
 * a new token in the same state does not.
 */
export class TransitionHistory {
  readonly #entries = new Map<string, Transition[]>();
  readonly #lastErrorAt = new Map<string, number>();

  constructor(private readonly limit = HISTORY_LENGTH) {}

  /** Records the update if it is a transition; returns the entry it made. */
  record(update: AccountUpdate): Transition | undefined {
    const errorAt = update.lastError?.at;
    const newError = errorAt !== undefined && this.#lastErrorAt.get(update.key) !== errorAt;
    if (errorAt !== undefined) this.#lastErrorAt.set(update.key, errorAt);
    if (update.from === update.state && !newError) return undefined;
    const entry: Transition = {
      at: update.at,
      event: update.cause ?? 'unknown',
      ...(update.from !== undefined && { from: update.from }),
      to: update.state,
      ...(newError && update.lastError && { error: { code: update.lastError.code, message: update.lastError.message, at: update.lastError.at } }),
      ...(newError && update.retryAt !== undefined && update.state !== 'unauthenticated' && { retryAt: update.retryAt }),
    };
    let list = this.#entries.get(update.key);
    if (!list) this.#entries.set(update.key, (list = []));
    list.push(entry);
    if (list.length > this.limit) list.splice(0, list.length - this.limit);
    return entry;
  }

  /** Oldest first. */
  of(key: string): Transition[] {
    return [...(this.#entries.get(key) ?? [])];
  }

  /** Forgets an account that no longer exists. */
  forget(key: string): void {
    this.#entries.delete(key);
    this.#lastErrorAt.delete(key);
  }

  /** Forgets accounts that are no longer configured. */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.#entries.keys()) {
      if (!keys.has(key)) {
        this.#entries.delete(key);
        this.#lastErrorAt.delete(key);
      }
    }
  }
}

function time(at: number): string {
  return new Date(at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** The terminal table of `mailtokend status USER --history`. */
export function formatHistory(user: string, entries: Transition[]): string {
  if (entries.length === 0) return `${user}: no transitions recorded since the daemon started\n`;
  const rows = entries.map((e) => [time(e.at), e.event, `${e.from ?? 'start'} → ${e.to}`, e.error ? `${e.error.code}: ${e.error.message}${e.retryAt ? ` (retry at ${time(e.retryAt)})` : ''}` : '-']);
  const header = ['TIME', 'EVENT', 'TRANSITION', 'REASON'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `${user}\n${[line(header), ...rows.map(line)].join('\n')}\n`;
}
