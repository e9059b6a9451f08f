import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/index.js';
import { startDaemon } from '../daemon/start.js';
import { FEATURES } from '../features.js';
import { createLogger, logFormatFor } from '../log.js';
import { configPathFrom, EXIT, readConfig } from './context.js';

export const SERVE_HELP = `usage: mailtokend serve [--config FILE]

Run the daemon in the foreground: load the config, bring every account up
from the grant store, and serve tokens on the configured sockets.
SIGTERM / SIGINT stop it cleanly (requests in flight are answered);
SIGHUP re-reads the config and applies the difference.

--inspect  developers: send every account's transitions to a Stately
           inspector relay ($MAILTOKEND_INSPECT_URL, default
           ws://localhost:8090); see doc/dashboard.md. Off by default.`;

export async function serve(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, inspect: { type: 'boolean' } }, strict: true });
  const path = configPathFrom(values.config, env);
  const config = await readConfig(path, env);
  const log = createLogger(config.logLevel, logFormatFor(env, process.stdout));
  // --inspect reaches the dashboard feature (src/dashboard/inspect.ts) through the daemon's env.
  const daemon = await startDaemon(config, log, values.inspect ? { ...env, MAILTOKEND_INSPECT: '1' } : env, FEATURES);

  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      try {
        // The ops feature's reload: serialized with `mailtokend reload`, logs its outcome, tells systemd.
        await daemon.context.admin.dispatch({ cmd: 'reload', via: 'SIGHUP' });
        return;
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'admin-unknown-command') return;
      }
      try {
        const next = await loadConfig(path, env);
        await daemon.reload(next);
      } catch (error) {
        // A bad config never replaces a good one: keep serving on the old.
        const message = error instanceof ConfigError ? error.message : error instanceof Error ? error.message : String(error);
        log.error({ file: path, error: message }, 'reload refused; still running on the previous config');
      }
    });
  });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      void daemon.close().then(
        () => resolve(EXIT.ok),
        (error: unknown) => {
          log.error({ error: error instanceof Error ? error.message : String(error) }, 'shutdown failed');
          resolve(EXIT.software);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    void daemon.stopRequested.then((reason) => stop(reason));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
