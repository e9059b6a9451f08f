import { normalizeUser } from '../config/patterns.js';
import type { DaemonContext } from '../daemon/context.js';
import type { AccountUpdate, PersistReport } from '../host/messages.js';
import { signInPageUrl } from '../signin/redirect.js';
import { notifyEnv, runCommand } from './run-command.js';

/** Consecutive transient failures of one account before error_notify_cmd runs. */
export const ERROR_NOTIFY_AFTER = 3;

/** Notify commands running at once; more wait their turn (a mass revocation must not fork thousands). */
const MAX_RUNNING = 4;

interface Unauthenticated {
  user: string;
  timer?: NodeJS.Timeout;
}

interface Streak {
  lastErrorAt: number;
  count: number;
  notified: boolean;
}

interface Job {
  id: string;
  kind: 'auth' | 'error';
  key: string;
  argv: string[];
  vars: Record<string, string>;
}

/**
 * Tells the user about accounts: a log line and `auth_notify_cmd` when an
 * account enters `unauthenticated` (again every `auth_notify_interval` while
 * it stays there, never after it is signed in again), `error_notify_cmd`
 * after repeated transient failures, and at once when the store refuses a
 * rotated grant (it then lives only in memory). Commands get the account and the
 * sign-in URL or the error message in their environment, never a token.
 */
export class Notifier {
  readonly #unauthenticated = new Map<string, Unauthenticated>();
  readonly #streaks = new Map<string, Streak>();
  /** Accounts whose rotated grant the store refused and that were reported; cleared once it is stored. */
  readonly #unsaved = new Set<string>();
  readonly #queue: Job[] = [];
  readonly #running = new Set<string>();
  #closed = false;

  constructor(private readonly context: DaemonContext) {}

  install(): void {
    this.context.events.on('account', (update) => this.onUpdate(update));
    this.context.events.on('persist', (report) => this.onPersist(report));
    this.context.onShutdown(async () => this.close());
  }

  onUpdate(update: AccountUpdate): void {
    if (this.#closed) return;
    this.#trackAuth(update);
    this.#trackErrors(update);
  }

  /**
   * A rotated grant only in memory is one crash away from a new sign-in: the
   * operator hears of it at once (once per episode), and when it is stored.
   */
  onPersist(report: PersistReport): void {
    if (this.#closed) return;
    const user = this.context.config.accounts.find((a) => normalizeUser(a.user) === report.key)?.user ?? report.key;
    if (report.ok) {
      if (this.#unsaved.delete(report.key)) this.context.log.info({ account: report.key }, 'rotated grant stored again; nothing is held only in memory');
      return;
    }
    if (this.#unsaved.has(report.key)) return;
    this.#unsaved.add(report.key);
    const message = `store-io: the rotated grant of ${user} could not be stored (${report.error ?? 'unknown error'}); it is kept in memory and stored when the disk takes it, a restart before then needs a new sign-in`;
    this.context.log.error({ account: report.key, error: 'store-io', detail: report.error }, 'rotated grant held only in memory; the store refused it');
    const cmd = this.context.config.notify.errorCmd;
    if (cmd) this.#enqueue({ id: `store:${report.key}`, kind: 'error', key: report.key, argv: cmd, vars: { MAILTOKEND_ACCOUNT: user, MAILTOKEND_MESSAGE: message } });
  }

  close(): void {
    this.#closed = true;
    for (const entry of this.#unauthenticated.values()) clearTimeout(entry.timer);
    this.#unauthenticated.clear();
    this.#queue.length = 0;
  }

  #trackAuth(update: AccountUpdate): void {
    const current = this.#unauthenticated.get(update.key);
    if (update.state !== 'unauthenticated') {
      if (current) {
        clearTimeout(current.timer);
        this.#unauthenticated.delete(update.key);
      }
      return;
    }
    if (current) return;
    const entry: Unauthenticated = { user: update.user };
    this.#unauthenticated.set(update.key, entry);
    const url = signInPageUrl(this.context.config, this.context.web, update.user);
    this.context.log.warn(
      { account: update.key, error: update.lastError?.code, signIn: `mailtokend login ${update.user}`, url },
      `${update.user} needs a sign-in: run "mailtokend login ${update.user}" (--device or --paste without a browser here), or open ${url}`,
    );
    this.#authTick(update.key, entry);
  }

  #authTick(key: string, entry: Unauthenticated): void {
    if (this.#closed || this.#unauthenticated.get(key) !== entry) return;
    // A reload may have removed the account: nothing left to sign in.
    if (!this.context.config.accounts.some((a) => normalizeUser(a.user) === key)) {
      this.#unauthenticated.delete(key);
      return;
    }
    const { notify } = this.context.config;
    if (notify.authCmd) {
      const url = signInPageUrl(this.context.config, this.context.web, entry.user);
      this.#enqueue({ id: `auth:${key}`, kind: 'auth', key, argv: notify.authCmd, vars: { MAILTOKEND_ACCOUNT: entry.user, MAILTOKEND_URL: url } });
    }
    // Re-read each time: a reload may change the interval or the command.
    entry.timer = setTimeout(() => this.#authTick(key, entry), this.context.config.notify.authIntervalMs);
    entry.timer.unref();
  }

  #trackErrors(update: AccountUpdate): void {
    const error = update.lastError;
    const recovered = update.lastRefreshAt !== undefined && (error === undefined || update.lastRefreshAt > error.at);
    if (update.state === 'unauthenticated' || recovered) {
      this.#streaks.delete(update.key);
      return;
    }
    if (!error) return;
    const streak = this.#streaks.get(update.key) ?? { lastErrorAt: -1, count: 0, notified: false };
    if (streak.lastErrorAt === error.at) return;
    streak.lastErrorAt = error.at;
    streak.count++;
    this.#streaks.set(update.key, streak);
    if (streak.count < ERROR_NOTIFY_AFTER || streak.notified) return;
    streak.notified = true;
    const message = `${error.code}: ${error.message}`;
    this.context.log.warn({ account: update.key, failures: streak.count, error: error.code, detail: error.message }, 'account keeps failing to refresh');
    const cmd = this.context.config.notify.errorCmd;
    if (cmd) this.#enqueue({ id: `error:${update.key}`, kind: 'error', key: update.key, argv: cmd, vars: { MAILTOKEND_ACCOUNT: update.user, MAILTOKEND_MESSAGE: message } });
  }

  #enqueue(job: Job): void {
    // One run (or one waiting) per account and kind: a slow command is not piled up.
    if (this.#running.has(job.id) || this.#queue.some((j) => j.id === job.id)) return;
    this.#queue.push(job);
    this.#drain();
  }

  #drain(): void {
    while (!this.#closed && this.#running.size < MAX_RUNNING && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#running.add(job.id);
      void this.#run(job).finally(() => {
        this.#running.delete(job.id);
        this.#drain();
      });
    }
  }

  async #run(job: Job): Promise<void> {
    const { log, env } = this.context;
    const name = job.kind === 'auth' ? 'auth_notify_cmd' : 'error_notify_cmd';
    const result = await runCommand(job.argv, notifyEnv(env, job.vars));
    if (result.code === 0) {
      log.info({ account: job.key, cmd: name }, 'notify command ran');
      return;
    }
    log.warn(
      { account: job.key, cmd: name, exit: result.code, signal: result.signal ?? undefined, timedOut: result.timedOut || undefined, error: result.error, stderr: result.stderr || undefined },
      `${name} failed`,
    );
  }
}

/** The daemon feature. */
export function installNotify(context: DaemonContext): void {
  new Notifier(context).install();
}
