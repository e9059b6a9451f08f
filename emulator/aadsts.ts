/**
 * Microsoft Entra (AADSTS) errors as the v2 endpoints send them: JSON with
 * `error`, `error_description` ("AADSTSnnnnn: text" followed by trace,
 * correlation id and timestamp lines), `error_codes`, `timestamp`,
 * `trace_id`, `correlation_id`, `error_uri` and sometimes `suberror`.
 * Texts follow Microsoft's published AADSTS reference. None of them may
 * include a token, code or secret.
 */
import { aadDate, aadTimestamp, newGuid } from './ids.js';
import { json, type Reply } from './http.js';

export interface AadError {
  status: number;
  error: string;
  code: number;
  text: string;
  suberror?: string;
}

/** Standard text for a code, used when a fault or revocation names only the code. */
const TEXT: Record<number, string> = {
  50000: 'There was an error issuing a token or an issue with our sign-in service.',
  50076:
    "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access 'https://outlook.office.com'.",
  50079: 'Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication.',
  50126: 'Error validating credentials due to invalid username or password.',
  50173: 'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.',
  53003: 'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.',
  65001: 'The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.',
  70000: "The provided value for the input parameter 'refresh_token' or 'assertion' is not valid.",
  70008: 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
  70016: 'OAuth 2.0 device flow error. Authorization is pending. Continue polling.',
  70019: 'Verification code expired.',
  90033: 'A transient error has occurred. Please try again.',
  90055: 'There are too many incoming requests. Please try again later.',
  700082: 'The refresh token has expired due to inactivity. The token was issued on a date and was inactive for 90.00:00:00.',
  9002313: 'Invalid request. Request is malformed or invalid.',
};

/** The OAuth error code Entra pairs with an AADSTS code. */
const ERROR_OF: Record<number, { error: string; status: number; suberror?: string }> = {
  50000: { error: 'server_error', status: 500 },
  50076: { error: 'interaction_required', status: 400, suberror: 'basic_action' },
  50079: { error: 'interaction_required', status: 400, suberror: 'basic_action' },
  53003: { error: 'invalid_grant', status: 400, suberror: 'message_only' },
  65001: { error: 'invalid_grant', status: 400, suberror: 'consent_required' },
  70016: { error: 'authorization_pending', status: 400 },
  70019: { error: 'expired_token', status: 400 },
  90033: { error: 'temporarily_unavailable', status: 503 },
  90055: { error: 'temporarily_unavailable', status: 429 },
};

export function standardText(code: number): string {
  return TEXT[code] ?? 'The request could not be completed.';
}

/** An error by AADSTS code with its usual OAuth error, status and text. */
export function aad(code: number, text?: string, overrides: Partial<AadError> = {}): AadError {
  const base = ERROR_OF[code] ?? { error: 'invalid_grant', status: 400 };
  return { ...base, code, text: text ?? standardText(code), ...overrides };
}

/** Text for a revoked grant, with the dates Entra puts into it. */
export function revokedText(code: number, issuedAt: number, revokedAt: number): string {
  if (code === 50173) {
    return `${standardText(50173)} The grant was issued on '${aadDate(issuedAt)}' and the TokensValidFrom date (before which tokens are not valid) for this user is '${aadDate(revokedAt)}'.`;
  }
  if (code === 700082) {
    return `The refresh token has expired due to inactivity. The token was issued on ${aadDate(issuedAt)} and was inactive for 90.00:00:00.`;
  }
  return standardText(code);
}

export interface AadContext {
  now: number;
  correlationId: string;
  baseUrl: string;
}

export function aadReply(e: AadError, ctx: AadContext, headers: Record<string, string> = {}): Reply {
  const traceId = newGuid();
  const ts = aadTimestamp(ctx.now);
  const body: Record<string, unknown> = {
    error: e.error,
    error_description: `AADSTS${e.code}: ${e.text}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${ctx.correlationId}\r\nTimestamp: ${ts}`,
    error_codes: [e.code],
    timestamp: ts,
    trace_id: traceId,
    correlation_id: ctx.correlationId,
    error_uri: `${ctx.baseUrl}/error?code=${e.code}`,
  };
  if (e.suberror) body.suberror = e.suberror;
  return json(e.status, body, {
    'cache-control': 'no-store, no-cache',
    pragma: 'no-cache',
    'x-ms-request-id': traceId,
    'client-request-id': ctx.correlationId,
    ...headers,
  });
}
