import { readFile } from 'node:fs/promises';
import { parse, TomlError } from 'smol-toml';
import { ConfigError, CONFIG_MISSING, CONFIG_SYNTAX, CONFIG_UNREADABLE } from './errors.js';
import { KeyLocator } from './locate.js';
import type { Env } from './paths.js';
import { resolveConfig } from './resolve.js';
import type { Config } from './types.js';

/**
 * Reads, validates and resolves the config file at `path`. Throws ConfigError:
 * `config-missing` when there is no file, `config-unreadable` when it cannot
 * be read, `config-syntax` for TOML errors, `config-invalid` for the rest.
 */
export async function loadConfig(path: string, env: Env = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new ConfigError(CONFIG_MISSING, path, [{ line: 0, key: '', message: 'no such file; see doc/configuration.md for an example' }], { cause });
    }
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError(CONFIG_UNREADABLE, path, [{ line: 0, key: '', message: `cannot read: ${reason}` }], { cause });
  }
  return parseConfig(text, path, env);
}

/**
 * The same from text already read: `file` is only used in messages. This is
 * what a reload calls, so a bad edit is refused while the running config stays.
 */
export function parseConfig(text: string, file: string, env: Env = process.env): Config {
  let doc: Record<string, unknown>;
  try {
    // Unsafe keys (`__proto__`, `constructor`) would otherwise land in the
    // provider map as inherited names; refusing them costs nobody anything.
    doc = parse(text, { unsafeKeyBehaviour: 'throw' });
  } catch (cause) {
    if (!(cause instanceof TomlError)) throw cause;
    // smol-toml's message is "headline\n\ncode block". The code block quotes
    // the file, which may hold a client secret, so only the headline is kept.
    const message = (cause.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    throw new ConfigError(CONFIG_SYNTAX, file, [{ line: cause.line, column: cause.column, key: '', message }], { cause });
  }
  return resolveConfig(doc, file, env, new KeyLocator(text));
}
