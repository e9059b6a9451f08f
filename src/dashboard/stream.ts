import type { ServerResponse } from 'node:http';
import type { Transition } from '../history/history.js';
import type { Counts, DashboardAccount } from './book.js';

/** Pushes are coalesced: at most one message per client this often. */
export const PUSH_INTERVAL_MS = 250;
/** More changed accounts than this in one push: clients re-read their page instead. */
export const MAX_PUSHED_ACCOUNTS = 500;

/** What one Server-Sent Event (`event: change`) carries. Never a token. */
export interface ChangeMessage {
  counts: Counts;
  /** The changed accounts, latest state each; absent when `reset`. */
  accounts?: DashboardAccount[];
  /** New transitions per account key, oldest first; absent when `reset`. */
  transitions?: Record<string, Transition[]>;
  /** Too many changes to list: re-read the page. */
  reset?: true;
}

/** Headers as the web server's `send` sets them, plus what an event stream needs. */
const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  connection: 'keep-alive',
};

/**
 * The dashboard's Server-Sent Events. Nothing runs while nobody watches or
 * nothing changes: a change arms one timer, and everything that changed
 * until it fires goes out as one message, so a burst of a thousand state
 * changes a second costs a few messages, not a thousand writes.
 */
export class ChangeStream {
  readonly #clients = new Set<ServerResponse>();
  readonly #accounts = new Map<string, DashboardAccount>();
  readonly #transitions = new Map<string, Transition[]>();
  #overflow = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly counts: () => Counts,
    private readonly intervalMs = PUSH_INTERVAL_MS,
  ) {}

  get clients(): number {
    return this.#clients.size;
  }

  open(res: ServerResponse): void {
    res.writeHead(200, STREAM_HEADERS);
    res.write(`retry: 2000\n\n`);
    this.#clients.add(res);
    res.on('close', () => this.#clients.delete(res));
  }

  change(account: DashboardAccount, transition: Transition | undefined): void {
    if (this.#clients.size === 0) return;
    if (!this.#overflow) {
      this.#accounts.set(account.key, account);
      if (transition) {
        const list = this.#transitions.get(account.key);
        if (list) list.push(transition);
        else this.#transitions.set(account.key, [transition]);
      }
      if (this.#accounts.size > MAX_PUSHED_ACCOUNTS) {
        this.#overflow = true;
        this.#accounts.clear();
        this.#transitions.clear();
      }
    }
    this.#timer ??= setTimeout(() => this.flush(), this.intervalMs).unref();
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const message: ChangeMessage = this.#overflow
      ? { counts: this.counts(), reset: true }
      : { counts: this.counts(), accounts: [...this.#accounts.values()], transitions: Object.fromEntries(this.#transitions) };
    this.#overflow = false;
    this.#accounts.clear();
    this.#transitions.clear();
    if (this.#clients.size === 0) return;
    const frame = `event: change\ndata: ${JSON.stringify(message)}\n\n`;
    for (const client of this.#clients) client.write(frame);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const client of this.#clients) client.end();
    this.#clients.clear();
  }
}
