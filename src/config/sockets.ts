import { formatKeyPath } from './keypath.js';
import { defaultSocketPath, expandPath, socketPathProblem, type Env } from './paths.js';
import type { Report } from './report.js';
import { socketSchema, tableArraySchema } from './schema.js';
import { PROTOS, type Proto, type SocketConfig } from './types.js';

/** Owner only: a socket hands out credentials, so nobody else gets in unless the config says so. */
export const DEFAULT_SOCKET_MODE = 0o600;
/** CMS's credential server answers SMTP only unless told otherwise. */
export const DEFAULT_SOCKET_PROTOCOLS: readonly Proto[] = ['SMTP'];

/**
 * The `[[socket]]` tables, resolved. Without any, one socket serves every
 * account over every protocol: that is the personal setup (mutt, msmtp,
 * mbsync as the same user), where the socket's mode is the whole access control.
 */
export function resolveSockets(raw: unknown, env: Env, stateDir: string, adminSocket: string, report: Report): SocketConfig[] {
  const tables = raw === undefined ? [] : (report.check(tableArraySchema, raw, ['socket']) ?? []);
  if (raw === undefined || (Array.isArray(raw) && raw.length === 0)) {
    const path = defaultSocketPath(env, stateDir);
    const problem = socketPathProblem(path);
    if (problem !== undefined) report.error(['socket'], `the default socket path ${problem}; declare a [[socket]] with a shorter path`);
    return [{ path, mode: DEFAULT_SOCKET_MODE, protocols: [...PROTOS], accounts: ['*'] }];
  }

  const sockets: SocketConfig[] = [];
  const seen = new Map<string, number>();
  tables.forEach((table, index) => {
    const at = ['socket', index];
    const input = report.check(socketSchema, table, at);
    if (input === undefined) return;
    // pathText accepts only forms expandPath understands.
    const path = expandPath(input.path, env) ?? input.path;
    const pathProblem = socketPathProblem(path);
    if (pathProblem !== undefined) report.error([...at, 'path'], pathProblem);
    const first = seen.get(path);
    if (first !== undefined) {
      const other = ['socket', first];
      report.error([...at, 'path'], `"${path}" is already the path of ${formatKeyPath(other)} (line ${report.line(other)})`);
    } else {
      seen.set(path, index);
    }
    if (path === adminSocket) report.error([...at, 'path'], `"${path}" is already the admin socket`);

    const mode = input.mode ?? DEFAULT_SOCKET_MODE;
    if ((mode & 0o002) !== 0) {
      report.warn([...at, 'mode'], `mode ${mode.toString(8).padStart(4, '0')} lets every local user ask for tokens; prefer a group`);
    }
    sockets.push({
      path,
      mode,
      ...(input.group !== undefined && { group: input.group }),
      protocols: input.protocols === undefined ? [...DEFAULT_SOCKET_PROTOCOLS] : PROTOS.filter((p) => input.protocols?.includes(p)),
      accounts: input.accounts ?? ['*'],
    });
  });
  return sockets;
}
