import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Where a secret comes from. A secret need never be written into the config:
 * it can be read from a file (`*_file`), an environment variable (`*_env`) or
 * the output of a command (`*_cmd`, run with a timeout). Whatever the source,
 * the secret's value never appears in an error message or a log line.
 */
export type SecretSource =
  | { kind: 'value'; value: string }
  | { kind: 'file'; path: string }
  | { kind: 'env'; name: string }
  | { kind: 'cmd'; argv: string[] };

/** A secret command that takes longer than this is killed and the secret counts as missing. */
export const SECRET_CMD_TIMEOUT_MS = 10_000;

/** Enough for any client secret or PEM key; a command printing more is refused. */
const MAX_SECRET_BYTES = 64 * 1024;

export class SecretError extends Error {}

/** Drops one trailing newline (`echo`, editors); inner whitespace is kept as written. */
function trimEnd(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/**
 * Reads a secret now. Throws SecretError with a message that names the source
 * (file path, variable name, program) but never its content or output.
 */
export function readSecret(source: SecretSource, env: Readonly<Record<string, string | undefined>>, timeoutMs = SECRET_CMD_TIMEOUT_MS): string {
  let value: string;
  switch (source.kind) {
    case 'value':
      value = source.value;
      break;
    case 'file': {
      try {
        value = trimEnd(readFileSync(source.path, 'utf8'));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'error';
        throw new SecretError(`cannot read ${source.path} (${code})`);
      }
      break;
    }
    case 'env': {
      const found = env[source.name];
      if (found === undefined) throw new SecretError(`environment variable ${source.name} is not set`);
      value = trimEnd(found);
      break;
    }
    case 'cmd': {
      const [program, ...args] = source.argv;
      if (program === undefined) throw new SecretError('empty command');
      try {
        const out = execFileSync(program, args, {
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: MAX_SECRET_BYTES,
          // stderr is dropped too: a failing password manager may echo what it was given.
          stdio: ['ignore', 'pipe', 'ignore'],
          env: Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('MAILTOKEND_'))) as NodeJS.ProcessEnv,
          encoding: 'utf8',
        });
        value = trimEnd(out);
      } catch (error) {
        const e = error as NodeJS.ErrnoException & { status?: number | null; signal?: string | null };
        if (e.code === 'ETIMEDOUT' || (e.signal === 'SIGKILL' && e.status === null)) {
          throw new SecretError(`command ${program} did not finish within ${Math.round(timeoutMs / 1000)}s`);
        }
        if (e.code === 'ENOENT') throw new SecretError(`command ${program} not found`);
        if (e.code === 'ENOBUFS') throw new SecretError(`command ${program} printed more than ${MAX_SECRET_BYTES} bytes`);
        throw new SecretError(`command ${program} failed${typeof e.status === 'number' ? ` (exit ${e.status})` : ''}`);
      }
      break;
    }
  }
  if (value.length === 0) throw new SecretError(`${describeSource(source)} gave an empty secret`);
  return value;
}

/** What a source is, for messages; never its value. */
export function describeSource(source: SecretSource): string {
  switch (source.kind) {
    case 'value':
      return 'the config value';
    case 'file':
      return `file ${source.path}`;
    case 'env':
      return `environment variable ${source.name}`;
    case 'cmd':
      return `command ${source.argv[0] ?? ''}`;
  }
}

/** The suffixes a secret key may carry in the config: `client_secret`, `client_secret_file`, ... */
export const SECRET_SUFFIXES = ['', '_file', '_env', '_cmd'] as const;

export interface SecretKeys {
  value?: string | undefined;
  file?: string | undefined;
  env?: string | undefined;
  cmd?: string[] | undefined;
}

/**
 * The one source set among `KEY`, `KEY_file`, `KEY_env`, `KEY_cmd`; undefined
 * when none is; a string message when more than one is.
 */
export function pickSource(keys: SecretKeys, name: string): SecretSource | undefined | string {
  const set: SecretSource[] = [];
  if (keys.value !== undefined) set.push({ kind: 'value', value: keys.value });
  if (keys.file !== undefined) set.push({ kind: 'file', path: keys.file });
  if (keys.env !== undefined) set.push({ kind: 'env', name: keys.env });
  if (keys.cmd !== undefined) set.push({ kind: 'cmd', argv: keys.cmd });
  if (set.length > 1) return `set only one of ${name}, ${name}_file, ${name}_env, ${name}_cmd`;
  return set[0];
}
