import type { z } from 'zod';
import type { ConfigProblem } from './errors.js';
import { quote } from './fields.js';
import { formatKeyPath, type KeyPath } from './keypath.js';
import type { KeyLocator } from './locate.js';

/**
 * Collects the problems and warnings of one config, each placed on its line.
 * Validation never stops at the first problem: a config with three mistakes
 * should cost the user one edit, not three restarts.
 */
export class Report {
  readonly errors: ConfigProblem[] = [];
  readonly warnings: ConfigProblem[] = [];

  constructor(private readonly locator: KeyLocator) {}

  error(path: KeyPath, message: string): void {
    this.errors.push(this.problem(path, message));
  }

  warn(path: KeyPath, message: string): void {
    this.warnings.push(this.problem(path, message));
  }

  /** Line of `path` (or its table), for messages that point at another definition. */
  line(path: KeyPath): number {
    return this.locator.line(path);
  }

  /** Validates `value` (found at `path`) against `schema`; undefined after reporting if it fails. */
  check<S extends z.ZodType>(schema: S, value: unknown, path: KeyPath): z.output<S> | undefined {
    const result = schema.safeParse(value, { reportInput: true });
    if (result.success) return result.data;
    const known = knownKeys(schema);
    for (const issue of result.error.issues) {
      const at = [...path, ...(issue.path as (string | number)[])];
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) this.error([...at, key], unknownKey(key, known));
      } else {
        this.error(at, describe(issue, at));
      }
    }
    return undefined;
  }

  private problem(path: KeyPath, message: string): ConfigProblem {
    return { line: this.locator.line(path), key: formatKeyPath(path), message };
  }
}

function knownKeys(schema: z.ZodType): string[] {
  const shape: unknown = (schema as { shape?: unknown }).shape;
  return typeof shape === 'object' && shape !== null ? Object.keys(shape) : [];
}

function unknownKey(key: string, known: readonly string[]): string {
  const close = known.find((k) => editDistance(k, key) <= Math.min(2, Math.floor(k.length / 3)));
  if (close !== undefined) return `unknown key ${quote(key)}; did you mean "${close}"?`;
  return known.length > 0 ? `unknown key ${quote(key)}; known: ${known.join(', ')}` : `unknown key ${quote(key)}`;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'an array',
  object: 'a table',
  record: 'a table',
};

/** A zod issue in our words: what was expected, and what the file holds instead. */
function describe(issue: z.core.$ZodIssue, path: KeyPath): string {
  const got = issue.input === undefined ? '' : `, got ${show(issue.input, path)}`;
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'missing required key';
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}${got}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map(String).join(', ')}${got}`;
    case 'too_small':
      if (issue.origin === 'string' || issue.origin === 'array') return 'must not be empty';
      return `must be at least ${String(issue.minimum)}${got}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}${got}`;
    default:
      return issue.message;
  }
}

/** A value for a message. Secrets are never echoed, not even when they are wrong. */
function show(value: unknown, path: KeyPath): string {
  if (typeof value === 'string') return path.at(-1) === 'client_secret' ? 'a string' : quote(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return 'a date';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'a table';
  return typeof value;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = current;
  }
  return previous[b.length]!;
}
