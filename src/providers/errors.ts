import { MailtokendError } from '../errors.js';

export type ProviderFailureKind = 'revoked' | 'transient';

/**
 * A refresh the provider refused or that could not reach it. `providerCode` is
 * the OAuth error (`invalid_grant`, `AADSTS50173`, `http-503`, `network`...),
 * shown in `status` and the history.
 */
export class ProviderError extends MailtokendError {
  readonly kind: ProviderFailureKind;
  readonly providerCode: string;
  readonly status?: number;
  readonly retryAfterMs?: number;

  constructor(
    kind: ProviderFailureKind,
    providerCode: string,
    message: string,
    extra: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(kind === 'revoked' ? 'provider-refused' : 'provider-unavailable', message, { cause: extra.cause });
    this.kind = kind;
    this.providerCode = providerCode;
    this.status = extra.status;
    this.retryAfterMs = extra.retryAfterMs;
  }
}

/**
 * OAuth error codes that a retry cannot fix: the user (or the operator, for
 * client errors) must act. Everything else is retried with backoff.
 */
const NEEDS_ACTION = new Set([
  'invalid_grant',
  'interaction_required',
  'consent_required',
  'login_required',
  'invalid_client',
  'unauthorized_client',
  'invalid_scope',
  'access_denied',
]);

export function isNeedsActionCode(code: string): boolean {
  return NEEDS_ACTION.has(code);
}

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined | null, now: number): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The `AADSTSnnnnn` code at the start of a Microsoft error description. */
export function aadstsCode(description: string | undefined): string | undefined {
  const match = /AADSTS(\d+)/.exec(description ?? '');
  return match ? `AADSTS${match[1]}` : undefined;
}

/** Provider error text is shown to users; keep it to one short printable line. */
export function oneLine(text: string | undefined, max = 300): string {
  const clean = (text ?? '').replace(/[^\x20-\x7e]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** Google refuses Gmail's scope in the device flow; this is what the user is told. */
export const GOOGLE_DEVICE_UNSUPPORTED =
  "Google does not allow Gmail's mail scope (https://mail.google.com/) in the device flow; " +
  'use `mailtokend login --paste USER` on a machine without a browser';
