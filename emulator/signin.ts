/**
 * The authorize endpoint of both providers, signed in without a human: given
 * `login_hint` the emulated user answers at once (approve, deny or a
 * redirect with the wrong state, per user), without it a one-field HTML form
 * asks for the user. Errors that make the redirect URI untrustworthy (unknown
 * client, unregistered redirect URI) are shown as a page, as both providers
 * do; the others go back to the client in the redirect.
 */
import { createHash } from 'node:crypto';
import { CODE_LIFETIME_MS, type Ctx } from './context.js';
import { escapeHtml, html, redirect, redirectAllowed, scopeList, type Reply, type Req } from './http.js';
import type { Provider } from './types.js';

export interface AuthorizeSpec {
  provider: Provider;
  /** Page for an error that must not be redirected. */
  errorPage(status: number, error: string, description: string): Reply;
  /** Query parameters of an error redirect. */
  errorParams(error: string, description: string, code?: number): Record<string, string>;
  /** Provider scope rules; an error goes back in the redirect, or on a page when `page` is set. */
  checkScopes(scopes: string[]): { error: string; description: string; code?: number; page?: boolean } | undefined;
  /** Whether the exchange of this code returns a refresh token. */
  offline(params: URLSearchParams, user: string, clientId: string, scopes: string[]): boolean;
  /** Extra parameters on a successful redirect (Google echoes the scope). */
  successParams(scopes: string[]): Record<string, string>;
  newCode(): string;
  tenantId?(user: string): string;
}

/** Parameters of the request: the query, or the form the sign-in page posted. */
function params(req: Req): URLSearchParams {
  return req.method === 'POST' ? req.form : req.query;
}

export function authorizeUser(req: Req): string | undefined {
  return params(req).get('login_hint') ?? undefined;
}

export function authorize(ctx: Ctx, req: Req, spec: AuthorizeSpec): Reply {
  const p = params(req);
  const clientId = p.get('client_id') ?? '';
  const client = ctx.store.client(spec.provider, clientId);
  if (!client) return spec.errorPage(401, 'invalid_client', `The OAuth client was not found: '${clientId}'.`);
  const redirectUri = p.get('redirect_uri') ?? '';
  if (!redirectUri || !redirectAllowed(client.redirectUris ?? [], redirectUri)) {
    return spec.errorPage(400, 'redirect_uri_mismatch', `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${clientId}'.`);
  }
  const state = p.get('state') ?? undefined;
  const back = (error: string, description: string, code?: number): Reply =>
    redirect(redirectUri, { ...spec.errorParams(error, description, code), state });

  if (p.get('response_type') !== 'code') {
    return back('unsupported_response_type', 'The provided value for the input parameter \'response_type\' is not allowed for this request. Expected value: code.', 9002331);
  }
  const scopes = scopeList(p.get('scope'));
  const bad = spec.checkScopes(scopes);
  if (bad) return bad.page ? spec.errorPage(400, bad.error, bad.description) : back(bad.error, bad.description, bad.code);
  const challenge = p.get('code_challenge') ?? undefined;
  const method = p.get('code_challenge_method') ?? (challenge ? 'plain' : undefined);
  if (method && method !== 'S256' && method !== 'plain') {
    return back('invalid_request', "The code_challenge_method must be 'S256' or 'plain'.", 50149);
  }

  const user = authorizeUser(req);
  if (!user) {
    // A silent request cannot show the form: both providers answer login_required.
    if (scopeList(p.get('prompt')).includes('none')) return back('login_required', 'A silent sign-in request was sent but no user is signed in.', 50058);
    return signInPage(req.path, p);
  }
  const mode = ctx.store.mode(user);
  if (mode === 'deny') return back('access_denied', 'The user has denied access to the scope requested by the client application.', 65004);

  const now = ctx.now();
  const code = spec.newCode();
  ctx.store.addCode({
    code,
    provider: spec.provider,
    user,
    clientId,
    scopes,
    redirectUri,
    tenantId: spec.tenantId?.(user),
    challenge,
    challengeMethod: method,
    nonce: p.get('nonce') ?? undefined,
    offline: spec.offline(p, user, clientId, scopes),
    issuedAt: now,
    expiresAt: now + CODE_LIFETIME_MS,
  });
  // 'wrong-state' models a forged or crossed response: the client must refuse it.
  const answeredState = mode === 'wrong-state' ? `${state ?? ''}-tampered` : state;
  return {
    ...redirect(redirectUri, { code, state: answeredState, ...spec.successParams(scopes) }),
    note: `user=${user}`,
  };
}

function signInPage(action: string, p: URLSearchParams): Reply {
  const hidden = [...p.entries()]
    .filter(([k]) => k !== 'login_hint')
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('\n');
  return html(
    200,
    `<!doctype html><html><head><title>Sign in (mailtokend emulator)</title></head><body>
<h1>Sign in</h1><p>Provider emulator: no password, the user named here signs in.</p>
<form method="post" action="${escapeHtml(action)}">
${hidden}
<label>Account <input name="login_hint" type="email" required autofocus></label>
<button type="submit">Sign in</button>
</form></body></html>`,
  );
}

/** RFC 7636 check of a code_verifier against the challenge given at authorize time. */
export function pkceMatches(challenge: string, method: string | undefined, verifier: string): boolean {
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return false;
  if (method === 'S256') return createHash('sha256').update(verifier).digest('base64url') === challenge;
  return verifier === challenge;
}
