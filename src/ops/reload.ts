import { loadConfig, type Config } from '../config/index.js';
import type { DaemonContext } from '../daemon/context.js';
import { MailtokendError } from '../errors.js';
import type { SystemdNotifier } from './systemd.js';

/** What `mailtokend reload` (and SIGHUP) reports when the new config is in force. */
export interface ReloadReport {
  file: string;
  accounts: number;
  sockets: string[];
  /** Settings that changed but need a restart. */
  notes: string[];
  /** Things allowed but probably not meant, as at start. */
  warnings: string[];
}

type Load = (file: string, env: NodeJS.ProcessEnv) => Promise<Config>;

/**
 * Re-reads the config file the daemon was started with and applies the
 * difference. Reloads run one at a time (a SIGHUP during `mailtokend reload`
 * waits its turn). A config that does not load is refused with the same
 * `file:line: key: problem` message as at start, and the daemon keeps
 * serving on the config it had.
 */
export class Reloader {
  #chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly context: DaemonContext,
    private readonly notifier: SystemdNotifier,
    private readonly load: Load = loadConfig,
  ) {}

  reload(via: string): Promise<ReloadReport> {
    const run = this.#chain.then(() => this.#reload(via));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #reload(via: string): Promise<ReloadReport> {
    const { context } = this;
    const file = context.config.file;
    await this.notifier.reloading();
    try {
      let next: Config;
      try {
        next = await this.load(file, context.env);
      } catch (error) {
        throw refused(error);
      }
      let notes: string[];
      try {
        notes = await context.reload(next);
      } catch (error) {
        throw refused(error);
      }
      for (const warning of next.warnings) context.log.warn({ file, warning }, 'config warning');
      return { file, accounts: next.accounts.length, sockets: context.front.paths, notes, warnings: next.warnings };
    } catch (error) {
      const e = error as MailtokendError;
      // `code` is a redacted field name (authorization codes): error codes go in `error`, as elsewhere.
      context.log.error({ file, via, error: e.code, detail: e.message }, 'reload refused; still running on the previous config');
      context.events.emit('reload-refused', { code: e.code });
      throw e;
    } finally {
      await this.notifier.ready(`serving ${context.config.accounts.length} accounts on ${context.front.paths.length} sockets`);
    }
  }
}

function refused(error: unknown): MailtokendError {
  if (error instanceof MailtokendError) return error;
  return new MailtokendError('reload-failed', error instanceof Error ? error.message : String(error));
}
