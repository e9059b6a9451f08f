import type { AccountState } from '../../actors/answer.js';
import type { DaemonContext } from '../daemon/context.js';
import { MailtokendError } from '../errors.js';
import type { ActionResult } from '../host/messages.js';

/** Default pace of `refresh --all`: gentle on the providers' rate limits. */
export const DEFAULT_REFRESH_RATE = 5;
export const MAX_REFRESH_RATE = 100;
/** How long each refresh may take to report its outcome. */
const REFRESH_WAIT_MS = 30_000;
/** Failures listed one by one in the answer; the rest are only counted. */
const LISTED_FAILURES = 50;

export interface RefreshAllOptions {
  /** Refreshes started per second. */
  rate: number;
  provider?: string;
  state?: AccountState;
}

export interface RefreshAllSummary {
  /** Accounts asked to refresh. */
  total: number;
  ok: number;
  failed: number;
  /** Accounts left out: unauthenticated (a refresh cannot help; sign in) or filtered. */
  skipped: number;
  failures: Array<{ user: string; state: string; code?: string; message: string }>;
  ms: number;
  cancelled: boolean;
}

export interface RefreshAllProgress {
  total: number;
  done: number;
  rate: number;
  startedAt: number;
}

/**
 * `mailtokend refresh --all`: every account with a grant is refreshed, at a
 * fixed pace (`rate` per second) so ten thousand accounts do not hit the
 * provider at once; the worker's `max_concurrent_refreshes` still caps how
 * many run together. One job runs at a time.
 */
export class RefreshAllJob {
  #running: { progress: RefreshAllProgress; done: Promise<RefreshAllSummary> } | undefined;
  #cancelled = false;
  #wake: (() => void) | undefined;

  constructor(private readonly context: DaemonContext) {}

  get progress(): RefreshAllProgress | undefined {
    return this.#running?.progress;
  }

  /** Starts a job; resolves with the job's end. Refuses while one runs. */
  async start(options: RefreshAllOptions): Promise<{ progress: RefreshAllProgress; done: Promise<RefreshAllSummary> }> {
    if (this.#running) {
      const p = this.#running.progress;
      throw new MailtokendError('refresh-all-running', `a refresh of all accounts is already running (${p.done} of ${p.total} done)`);
    }
    const rows = await this.context.pool.status();
    const eligible = rows.filter((r) => (!options.provider || r.provider === options.provider) && (!options.state || r.state === options.state));
    const targets = eligible.filter((r) => r.state !== 'unauthenticated' && r.hasGrant);
    const progress: RefreshAllProgress = { total: targets.length, done: 0, rate: options.rate, startedAt: Date.now() };
    this.#cancelled = false;
    this.context.log.info({ accounts: targets.length, skipped: rows.length - targets.length, rate: options.rate }, 'refreshing all accounts');
    const done = this.#run(targets.map((t) => ({ key: t.key, user: t.user })), progress, rows.length - targets.length).finally(() => {
      this.#running = undefined;
    });
    this.#running = { progress, done };
    return this.#running;
  }

  /** Stops starting refreshes (shutdown); the ones started finish. */
  cancel(): void {
    this.#cancelled = true;
    this.#wake?.();
  }

  async #run(targets: Array<{ key: string; user: string }>, progress: RefreshAllProgress, skipped: number): Promise<RefreshAllSummary> {
    const summary: RefreshAllSummary = { total: targets.length, ok: 0, failed: 0, skipped, failures: [], ms: 0, cancelled: false };
    const gapMs = 1000 / progress.rate;
    const started = Date.now();
    const pending: Array<Promise<void>> = [];
    const tally = (user: string, result: ActionResult) => {
      progress.done++;
      if (result.ok) {
        summary.ok++;
        return;
      }
      summary.failed++;
      if (summary.failures.length < LISTED_FAILURES) {
        summary.failures.push({ user, state: result.state, code: result.error?.code, message: result.error?.message ?? result.message });
      }
    };
    for (let i = 0; i < targets.length; i++) {
      const wait = started + i * gapMs - Date.now();
      if (wait > 0) await this.#sleep(wait);
      if (this.#cancelled) {
        summary.cancelled = true;
        summary.total = i;
        break;
      }
      const { key, user } = targets[i]!;
      pending.push(
        this.context.pool.refresh(key, REFRESH_WAIT_MS).then(
          (result) => tally(user, result),
          (error: unknown) => tally(user, { ok: false, state: 'unknown', message: error instanceof Error ? error.message : String(error) }),
        ),
      );
    }
    await Promise.all(pending);
    summary.ms = Date.now() - started;
    this.context.log.info(
      { accounts: summary.total, ok: summary.ok, failed: summary.failed, skipped: summary.skipped, ms: summary.ms, cancelled: summary.cancelled },
      'refresh of all accounts finished',
    );
    return summary;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
