import { loadConfig, defaultConfigPath, ConfigError, type Config } from '../config/index.js';
import { MailtokendError } from '../errors.js';
import { scrubText } from '../ops/redact.js';

/** sysexits.h codes, so service managers and scripts can tell failures apart. */
export const EXIT = { ok: 0, failure: 1, usage: 64, unavailable: 69, software: 70, config: 78 } as const;

export class UsageError extends MailtokendError {
  constructor(message: string) {
    super('usage', message);
  }
}

export function configPathFrom(value: string | undefined, env: NodeJS.ProcessEnv): string {
  return value ?? env.MAILTOKEND_CONFIG ?? defaultConfigPath(env);
}

export async function readConfig(path: string, env: NodeJS.ProcessEnv): Promise<Config> {
  const config = await loadConfig(path, env);
  for (const warning of config.warnings) process.stderr.write(`mailtokend: warning: ${warning}\n`);
  return config;
}

/** One line on stderr and the right exit code; never a stack trace for an expected error. */
export function fail(error: unknown): number {
  if (error instanceof ConfigError) {
    process.stderr.write(`mailtokend: invalid configuration:\n${error.message}\n`);
    return EXIT.config;
  }
  const nodeCode = (error as { code?: unknown } | null)?.code;
  if (error instanceof UsageError || (typeof nodeCode === 'string' && nodeCode.startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`mailtokend: ${(error as Error).message}\nRun 'mailtokend --help' for usage.\n`);
    return EXIT.usage;
  }
  if (error instanceof MailtokendError) {
    process.stderr.write(scrubText(`mailtokend: ${error.message} [${error.code}]\n`));
    return error.code === 'admin-unreachable' ? EXIT.unavailable : EXIT.failure;
  }
  process.stderr.write(scrubText(`mailtokend: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`));
  return EXIT.software;
}
