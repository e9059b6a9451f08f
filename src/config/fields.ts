import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';
import { accountPatternProblem, isAddress } from './patterns.js';
import { PROTOS, type Proto } from './types.js';

/**
 * Field types of the config schema. Each one refuses a bad value with a
 * message that says what was expected and what was found; the key and line
 * are added by the caller (report.ts).
 */

/** A refused value: what a field's parse function returns instead of a value. */
export class Invalid {
  constructor(readonly message: string) {}
}

/** `"text"` for messages; long values are cut so a pasted blob does not flood the log. */
export function quote(value: string): string {
  const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
  return JSON.stringify(shown);
}

/**
 * An optional field whose value is checked and converted by `parse`; an
 * absent key stays undefined and the default is applied during resolution.
 */
export function converted<T>(parse: (value: unknown) => T | Invalid) {
  return z
    .unknown()
    .transform((value, ctx): T | undefined => {
      if (value === undefined) return undefined;
      const result = parse(value);
      if (result instanceof Invalid) {
        ctx.addIssue({ code: 'custom', message: result.message });
        return z.NEVER;
      }
      return result;
    })
    .optional();
}

/** A non-empty string that also passes `check` (which returns a problem or undefined). */
export function text(check?: (value: string) => string | undefined) {
  return z
    .string()
    .min(1)
    .superRefine((value, ctx) => {
      const problem = check?.(value);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    });
}

export function integer(min: number, max: number) {
  return z.number().int().min(min).max(max);
}

export const address = text((v) => (isAddress(v) ? undefined : `expected a mail address like alice@example.com, got ${quote(v)}`));

export const accountPattern = text(accountPatternProblem);

/** Absolute, or relative to the home directory; expanded later against the env. */
export const pathText = text((v) =>
  v === '~' || v.startsWith('~/') || v.startsWith('/') ? undefined : `expected an absolute path or one starting with "~/", got ${quote(v)}`,
);

export function duration(limits: { max?: number; positive?: boolean } = {}) {
  return converted((value) => {
    const ms = parseDuration(value);
    const shown = typeof value === 'string' ? quote(value) : String(value);
    if (ms === undefined) {
      return new Invalid(`expected a duration like "500ms", "4s", "10m" or "1h30m", or a number of seconds, got ${shown}`);
    }
    if (limits.positive === true && ms === 0) return new Invalid('must be longer than 0');
    if (limits.max !== undefined && ms > limits.max) {
      return new Invalid(`must be at most ${formatDuration(limits.max)}, got ${shown}`);
    }
    return ms;
  });
}

/** Socket permission bits as an octal string; a bare TOML number is refused since 660 and 0o660 differ. */
export const fileMode = converted((value) => {
  if (typeof value === 'string' && /^0?[0-7]{3}$/.test(value)) return parseInt(value, 8);
  if (typeof value === 'number') return new Invalid(`write the mode as a quoted octal string like "0660", got the number ${value}`);
  return new Invalid(`expected an octal mode from "0000" to "0777", got ${typeof value === 'string' ? quote(value) : typeof value}`);
});

/** A group name, or a gid given as a number or digits; kept as a string either way. */
export const group = converted((value) => {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && /^[^\s:]+$/.test(value)) return value;
  return new Invalid(`expected a group name or a numeric gid, got ${typeof value === 'string' ? quote(value) : String(value)}`);
});

/** Protocol names are matched case-insensitively and stored as the wire spells them. */
export const protocol = z.string().transform((value, ctx): Proto => {
  const upper = value.toUpperCase();
  const known = PROTOS.find((p) => p === upper);
  if (known !== undefined) return known;
  ctx.addIssue({ code: 'custom', message: `unknown protocol ${quote(value)}; known: ${PROTOS.join(', ')}` });
  return z.NEVER;
});

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/**
 * A URL. Provider endpoints must be https, except on a loopback host, where
 * plain http is what a local test provider speaks and nothing leaves the machine.
 */
export function url(kind: 'endpoint' | 'any') {
  return text((v) => {
    let parsed: URL;
    try {
      parsed = new URL(v);
    } catch {
      return `expected a URL, got ${quote(v)}`;
    }
    if (kind === 'any' || parsed.protocol === 'https:') return undefined;
    if (parsed.protocol === 'http:' && LOOPBACK.test(parsed.hostname)) return undefined;
    return `must be an https URL (http only on localhost), got ${quote(v)}`;
  });
}

/**
 * The Microsoft authority: https only, because msal-node refuses anything
 * else. The tenant is appended by the provider code, so it is kept without a
 * trailing slash, query or fragment.
 */
export const authority = converted((value) => {
  if (typeof value !== 'string') return new Invalid(`expected an https URL, got ${String(value)}`);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return new Invalid(`expected an https URL, got ${quote(value)}`);
  }
  if (parsed.protocol !== 'https:') return new Invalid(`must be https (msal-node refuses anything else), got ${quote(value)}`);
  if (parsed.search !== '' || parsed.hash !== '') return new Invalid(`must not have a query or fragment, got ${quote(value)}`);
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
});

export const tenant = text((v) => (/^[^\s/?#]+$/.test(v) ? undefined : `expected a tenant name or id, got ${quote(v)}`));

/** `host:port` or `[v6]:port`; port 0 lets the system pick one (tests). */
export const listenAddress = converted((value) => {
  const match = typeof value === 'string' ? /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value) : null;
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65535) {
    return new Invalid(`expected "host:port" or "[ipv6]:port", got ${typeof value === 'string' ? quote(value) : String(value)}`);
  }
  return { host: (match[1] ?? match[2])!, port };
});

/**
 * A command run on an event (`auth_notify_cmd`, `error_notify_cmd`): a string
 * is a shell command line (`/bin/sh -c`), an array is the program and its
 * arguments, run without a shell. Either way event values reach it only as
 * environment variables, never spliced into the command.
 */
export const notifyCommand = converted((value) => {
  if (typeof value === 'string') {
    return value.trim() === '' ? new Invalid('expected a command, got an empty string') : ['/bin/sh', '-c', value];
  }
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) {
    return value[0] === '' ? new Invalid('the program (first element) must not be empty') : (value as string[]);
  }
  return new Invalid('expected a shell command string, or an array of strings ["program", "arg", ...]');
});

/**
 * A PostgreSQL connection URL. It may carry a password, so a refused value is
 * described, never quoted.
 */
export const postgresUrl = converted((value) => {
  if (typeof value !== 'string' || value.trim() === '') return new Invalid('expected a URL like "postgresql://user@host/db"');
  return postgresUrlProblem(value) ?? value;
});

/**
 * Why `value` is not a PostgreSQL URL (never quoting it), or undefined. Only
 * the scheme is checked here: libpq's form allows what WHATWG URLs do not
 * (`postgresql://user:pw@/db?host=/run/postgresql`), and the client library
 * parses the rest when the daemon connects.
 */
export function postgresUrlProblem(value: string): Invalid | undefined {
  if (/^postgres(ql)?:\/\/\S*$/.test(value)) return undefined;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(value)?.[1];
  if (scheme !== undefined && !/^postgres(ql)?$/.test(scheme)) {
    return new Invalid(`must start with "postgresql://" or "postgres://", got a ${scheme}: URL`);
  }
  return new Invalid('expected a URL like "postgresql://user@host/db" (the value is not shown: it may hold a password)');
}

/** An instance name: shown in status and written next to every token an instance obtains. */
export const instanceName = text((v) =>
  /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(v) ? undefined : `expected up to 63 letters, digits, ".", "_" or "-", got ${quote(v)}`,
);
