import { spawn } from 'node:child_process';

/** A notify command that has not ended by then is killed (with everything it started). */
export const NOTIFY_TIMEOUT_MS = 30_000;

/** Output kept for the log when a command fails; a notifier has no business printing more. */
const MAX_OUTPUT = 1024;

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The start of stderr, for the log. */
  stderr: string;
  error?: string;
}

/** Variables of the daemon's own environment that a notify command never inherits. */
const WITHHELD = [/^MAILTOKEND_/, /^CREDENTIALS_DIRECTORY$/];

/**
 * The environment of a notify command: the daemon's, without mailtokend's
 * own variables (the store key may be one) and systemd's credentials
 * directory, plus exactly the documented event variables.
 */
export function notifyEnv(base: NodeJS.ProcessEnv, added: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined && !WITHHELD.some((re) => re.test(name))) env[name] = value;
  }
  return { ...env, ...added };
}

/**
 * Runs argv without a shell (a string command was already turned into
 * `/bin/sh -c STRING` by the config, with the values only in the
 * environment), in its own process group so a timeout kills all of it.
 */
export function runCommand(argv: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = NOTIFY_TIMEOUT_MS): Promise<CommandResult> {
  return new Promise((resolve) => {
    const [program, ...args] = argv;
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const finish = (result: Omit<CommandResult, 'stderr' | 'timedOut'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, timedOut, stderr: stderr.trim() });
    };
    const child = spawn(program!, args, { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < MAX_OUTPUT) stderr = (stderr + chunk).slice(0, MAX_OUTPUT);
    });
    child.on('error', (error) => finish({ code: null, signal: null, error: error.message }));
    child.on('close', (code, signal) => finish({ code, signal }));
  });
}
