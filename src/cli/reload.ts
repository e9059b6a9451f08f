import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse } from 'smol-toml';
import { adminCall } from '../admin/client.js';
import { ConfigError, defaultAdminSocket, defaultStateDir, expandPath } from '../config/index.js';
import { MailtokendError } from '../errors.js';
import type { ReloadReport } from '../ops/reload.js';
import { configPathFrom, EXIT, readConfig } from './context.js';

export const RELOAD_HELP = `usage: mailtokend reload [--config FILE]

Make the running daemon re-read its config file (the one it was started
with) and apply the difference, as SIGHUP does, but wait and report: new
accounts and sockets start, removed ones stop, changed ones restart; every
other account keeps its token and open connections are not dropped.

A config with errors is refused with the same file:line: key: problem list
as at start, and the daemon keeps running on its previous config (exit 78).
Settings that need a restart (state_dir, workers, admin_socket, [web]) are
reported and left as they were. --config only locates the admin socket.`;

/**
 * The admin socket of the daemon to reload. The file has just been edited and
 * may be broken, yet the daemon must be reached so that it reports the
 * problems itself: a config that does not load still names its admin socket
 * (or state_dir) in most cases.
 */
async function locateAdminSocket(path: string, env: NodeJS.ProcessEnv): Promise<{ socket: string; localError?: ConfigError }> {
  try {
    return { socket: (await readConfig(path, env)).adminSocket };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    let socket: string | undefined;
    try {
      const doc = parse(await readFile(path, 'utf8')) as { admin_socket?: unknown; state_dir?: unknown };
      const stateDir = typeof doc.state_dir === 'string' ? expandPath(doc.state_dir, env) : undefined;
      socket = typeof doc.admin_socket === 'string' ? expandPath(doc.admin_socket, env) : undefined;
      socket ??= defaultAdminSocket(stateDir ?? defaultStateDir(env));
    } catch {
      socket = defaultAdminSocket(defaultStateDir(env));
    }
    return { socket, localError: error };
  }
}

function refusedOutput(message: string): number {
  process.stderr.write(`mailtokend: reload refused; the daemon keeps running on its previous config:\n${message}\n`);
  return EXIT.config;
}

export async function reload(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, strict: true });
  const { socket, localError } = await locateAdminSocket(configPathFrom(values.config, env), env);
  let report: ReloadReport;
  try {
    report = await adminCall<ReloadReport & Record<string, unknown>>(socket, { cmd: 'reload', via: 'mailtokend reload' });
  } catch (error) {
    if (error instanceof MailtokendError && error.code.startsWith('config-')) return refusedOutput(error.message);
    // No daemon to ask: the local reading of the file is all there is to report.
    if (localError && error instanceof MailtokendError && error.code === 'admin-unreachable') {
      process.stderr.write(`mailtokend: invalid configuration:\n${localError.message}\n`);
      return EXIT.config;
    }
    throw error;
  }
  for (const warning of report.warnings) process.stderr.write(`mailtokend: warning: ${warning}\n`);
  for (const note of report.notes) process.stdout.write(`note: ${note}\n`);
  process.stdout.write(`reloaded ${report.file}: ${report.accounts} accounts, ${report.sockets.length} sockets\n`);
  return EXIT.ok;
}
