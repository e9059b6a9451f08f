import { homedir } from 'node:os';
import { isAbsolute, join, normalize } from 'node:path';

/**
 * The environment the config is resolved against. Passed in rather than read
 * from process.env so tests (and `mailtokend check` for another user) can use
 * a fake one.
 */
export type Env = Readonly<Record<string, string | undefined>>;

/** Linux sun_path is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

export function homeDir(env: Env): string {
  const home = env['HOME'];
  return home !== undefined && isAbsolute(home) ? home : homedir();
}

/**
 * XDG base directories: the variable when it holds an absolute path (the spec
 * says relative values are to be ignored), else the documented fallback.
 */
function xdgDir(env: Env, variable: string, fallback: string): string {
  const value = env[variable];
  return value !== undefined && isAbsolute(value) ? value : join(homeDir(env), fallback);
}

/** `$XDG_CONFIG_HOME/mailtokend/config.toml`, or `~/.config/mailtokend/config.toml`. */
export function defaultConfigPath(env: Env): string {
  return join(xdgDir(env, 'XDG_CONFIG_HOME', '.config'), 'mailtokend', 'config.toml');
}

/** `$XDG_STATE_HOME/mailtokend`, or `~/.local/state/mailtokend`. */
export function defaultStateDir(env: Env): string {
  return join(xdgDir(env, 'XDG_STATE_HOME', join('.local', 'state')), 'mailtokend');
}

/**
 * The socket used when the config declares none. XDG_RUNTIME_DIR has no
 * fallback in the spec, so without it the socket lives in the state directory.
 */
export function defaultSocketPath(env: Env, stateDir: string): string {
  const runtime = env['XDG_RUNTIME_DIR'];
  return runtime !== undefined && isAbsolute(runtime)
    ? join(runtime, 'mailtokend', 'mailtokend.sock')
    : join(stateDir, 'mailtokend.sock');
}

export function defaultAdminSocket(stateDir: string): string {
  return join(stateDir, 'admin.sock');
}

/**
 * `~` and `~/x` become the home directory; absolute paths are normalized;
 * anything else (relative, `~user/`) is undefined, because the daemon's
 * working directory is not something a config should depend on.
 */
export function expandPath(path: string, env: Env): string | undefined {
  if (path === '~') return homeDir(env);
  if (path.startsWith('~/')) return join(homeDir(env), path.slice(2));
  if (isAbsolute(path)) return normalize(path);
  return undefined;
}

/** Why `path` cannot be a UNIX socket path, or undefined. */
export function socketPathProblem(path: string): string | undefined {
  const bytes = Buffer.byteLength(path);
  return bytes > MAX_SOCKET_PATH_BYTES
    ? `"${path}" is ${bytes} bytes, too long for a UNIX socket (at most ${MAX_SOCKET_PATH_BYTES})`
    : undefined;
}
