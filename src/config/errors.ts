import { MailtokendError } from '../errors.js';

/** The config file does not exist. */
export const CONFIG_MISSING = 'config-missing';
/** The config file exists but cannot be read (permissions, a directory). */
export const CONFIG_UNREADABLE = 'config-unreadable';
/** The file is not valid TOML. */
export const CONFIG_SYNTAX = 'config-syntax';
/** Valid TOML that breaks the schema or a rule across keys. */
export const CONFIG_INVALID = 'config-invalid';

export type ConfigErrorCode =
  | typeof CONFIG_MISSING
  | typeof CONFIG_UNREADABLE
  | typeof CONFIG_SYNTAX
  | typeof CONFIG_INVALID;

/** One thing wrong with a config. `line` is 1-based; 0 when no line applies. */
export interface ConfigProblem {
  line: number;
  /** Key path such as `account[2].provider`; '' when the problem is not about a key. */
  key: string;
  message: string;
  /** Only for TOML syntax errors, which know where on the line they are. */
  column?: number;
}

/** `file:line: key: message`, leaving out the parts a problem does not have. */
export function formatProblem(file: string, problem: ConfigProblem): string {
  let where = file;
  if (problem.line > 0) where += `:${problem.line}`;
  if (problem.column !== undefined) where += `:${problem.column}`;
  return problem.key === '' ? `${where}: ${problem.message}` : `${where}: ${problem.key}: ${problem.message}`;
}

/**
 * Why a config was refused. The message holds every problem, one per line, so
 * a single log line or a `mailtokend check` run shows all of them at once; the
 * first problem's position is also on the error for programs.
 */
export class ConfigError extends MailtokendError {
  declare readonly code: ConfigErrorCode;
  readonly file: string;
  readonly line: number;
  readonly key: string;
  readonly problems: readonly ConfigProblem[];

  constructor(code: ConfigErrorCode, file: string, problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    const list = problems.length > 0 ? problems : [{ line: 0, key: '', message: 'invalid configuration' }];
    super(code, list.map((p) => formatProblem(file, p)).join('\n'), options);
    const first = list[0]!;
    this.file = file;
    this.line = first.line;
    this.key = first.key;
    this.problems = list;
  }
}
