import { OAuth2Client } from 'google-auth-library';
import type { AccountSpec, RemoteRevokeOutcome } from '../host/messages.js';

/** A revocation call that takes longer than this counts as failed (the grant is then kept). */
const REVOKE_TIMEOUT_MS = 30_000;

export interface RemoteRevocation {
  outcome: RemoteRevokeOutcome;
  /** For the operator; never holds a token. */
  message: string;
}

/**
 * Where to revoke a Microsoft grant by hand: Entra ID has no endpoint that
 * revokes one refresh token (no RFC 7009 revocation endpoint); the only
 * remote call, Graph's `revokeSignInSessions`, ends every session of the user
 * in every app and needs a directory permission a mail client should not have.
 */
export const MICROSOFT_REVOKE_HINT =
  'Microsoft offers no way to revoke a single grant: remove the app at https://myapps.microsoft.com (work or school) ' +
  'or https://account.live.com/consent/Manage (personal account), or have an administrator revoke the user\'s sessions';

/**
 * Revokes an account's grant at its provider, through the provider's own
 * library. Runs in the worker that holds the refresh token. Google: the
 * token is posted to the configured `revoke_url` (revoking a refresh token
 * ends the whole grant, access tokens included).
 */
export async function revokeAtProvider(spec: AccountSpec, refreshToken: string): Promise<RemoteRevocation> {
  const provider = spec.provider;
  if (provider.type !== 'google') return { outcome: 'unsupported', message: MICROSOFT_REVOKE_HINT };
  const client = new OAuth2Client({
    clientId: spec.clientId,
    clientSecret: spec.clientSecret,
    endpoints: { oauth2RevokeUrl: provider.revokeUrl },
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), REVOKE_TIMEOUT_MS);
  });
  try {
    await Promise.race([client.revokeToken(refreshToken), deadline]);
    return { outcome: 'revoked', message: 'revoked at Google' };
  } catch (error) {
    return classify(error);
  } finally {
    clearTimeout(timer);
  }
}

/** Turns a gaxios error into an outcome; the message is built from the status and OAuth error code only. */
function classify(error: unknown): RemoteRevocation {
  const e = (typeof error === 'object' && error !== null ? error : {}) as { status?: number; code?: string; response?: { status?: number; data?: unknown } };
  const status = e.response?.status ?? e.status;
  const data = (typeof e.response?.data === 'object' && e.response.data !== null ? e.response.data : {}) as { error?: unknown };
  const oauthError = typeof data.error === 'string' ? data.error : undefined;
  // Google answers 400 invalid_token for a token that is already revoked or expired.
  if (status === 400 && oauthError === 'invalid_token') return { outcome: 'already-invalid', message: 'Google no longer knew the grant (already revoked)' };
  if (status !== undefined) return { outcome: 'failed', message: `Google answered HTTP ${status}${oauthError ? ` ${oauthError}` : ''}` };
  if (error instanceof Error && error.message === 'timeout') return { outcome: 'failed', message: `Google did not answer within ${REVOKE_TIMEOUT_MS / 1000} s` };
  return { outcome: 'failed', message: `Google could not be reached${typeof e.code === 'string' ? ` (${e.code})` : ''}` };
}
