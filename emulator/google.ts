/**
 * Google's OAuth 2.0 endpoints for installed apps, under /google: authorize
 * (/google/o/oauth2/v2/auth), token (/google/token), revoke, tokeninfo and
 * the signing keys. Answers and error texts follow Google's documentation
 * and what its token endpoint is seen to send; Google never rotates refresh
 * tokens and returns one only for access_type=offline on first consent (or
 * with prompt=consent).
 */
import type { Ctx } from './context.js';
import { basicAuth, escapeHtml, html, json, sameSecret, scopeList, type Reply, type Req } from './http.js';
import { google as ids, googleSub } from './ids.js';
import { atHash } from './jwt.js';
import { authorize, pkceMatches } from './signin.js';
import type { Grant } from './store.js';
import { JWT_BEARER, jwtBearer } from './google-app-only.js';

export const GOOGLE_PREFIX = '/google';
const ISSUER = 'https://accounts.google.com';
const NO_STORE = { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' };

export function googleError(status: number, error: string, description?: string, headers: Record<string, string> = {}): Reply {
  const body: Record<string, string> = { error };
  if (description !== undefined) body.error_description = description;
  return json(status, body, { ...NO_STORE, ...headers });
}

/** 5xx as Google's front end sends it: JSON from the token service, an HTML page from a gateway. */
export function googleStatus(status: number, asHtml = false): Reply {
  if (asHtml) {
    return html(status, `<!DOCTYPE html><html lang=en><meta charset=utf-8><title>Error ${status} (Server Error)!!1</title><p><b>${status}.</b> <ins>That’s an error.</ins><p>The server encountered an error. Please try again later. <ins>That’s all we know.</ins>`);
  }
  if (status === 500) return googleError(500, 'internal_failure', 'Backend Error');
  return googleError(status, 'temporarily_unavailable', 'The service is currently unavailable.');
}

export function googleRateLimit(retryAfter?: number): Reply {
  const headers: Record<string, string> = retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) };
  return googleError(429, 'rate_limit_exceeded', 'Rate Limit Exceeded', headers);
}

function idToken(ctx: Ctx, grant: Grant, accessToken: string, nonce?: string): string | undefined {
  const scopes = new Set(grant.scopes);
  if (!scopes.has('openid') && !scopes.has('email') && !scopes.has('profile')) return undefined;
  const iat = Math.floor(ctx.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    azp: grant.clientId,
    aud: grant.clientId,
    sub: googleSub(grant.user),
    at_hash: atHash(accessToken),
    iat,
    exp: iat + 3600,
  };
  if (scopes.has('email')) Object.assign(claims, { email: grant.user, email_verified: true });
  if (nonce) claims.nonce = nonce;
  return ctx.signer.sign(claims);
}

function tokens(ctx: Ctx, grant: Grant, refreshToken?: string, nonce?: string): Reply {
  const access = ids.accessToken();
  ctx.store.record(access, 'access', grant, grant.scopes, ctx.lifetime * 1000);
  const body: Record<string, unknown> = { access_token: access, expires_in: ctx.lifetime };
  if (refreshToken) body.refresh_token = refreshToken;
  body.scope = grant.scopes.join(' ');
  body.token_type = 'Bearer';
  const id = idToken(ctx, grant, access, nonce);
  if (id) body.id_token = id;
  return { ...json(200, body, NO_STORE), note: `user=${grant.user}` };
}

function refresh(ctx: Ctx, form: URLSearchParams, clientId: string): Reply {
  const rt = form.get('refresh_token');
  if (!rt) return googleError(400, 'invalid_request', 'Missing required parameter: refresh_token');
  const rec = ctx.store.token(rt);
  const grant = rec && rec.info.kind === 'refresh' && rec.info.provider === 'google' ? ctx.store.grant(rec.grantId) : undefined;
  if (!grant) return googleError(400, 'invalid_grant', 'Token has been expired or revoked.');
  if (grant.revoked) return googleError(400, 'invalid_grant', grant.revoked.description ?? 'Token has been expired or revoked.');
  if (grant.clientId !== clientId) return googleError(401, 'unauthorized_client', 'Unauthorized');
  const asked = scopeList(form.get('scope'));
  const extra = asked.filter((s) => !grant.scopes.includes(s));
  if (extra.length) return googleError(400, 'invalid_scope', `Some requested scopes were invalid. {invalid=[${extra.join(', ')}]}`);
  // A narrower scope applies to this access token only; the grant keeps its consent.
  const view: Grant = asked.length ? { ...grant, scopes: asked } : grant;
  return tokens(ctx, view);
}

function exchange(ctx: Ctx, form: URLSearchParams, clientId: string): Reply {
  const code = form.get('code');
  if (!code) return googleError(400, 'invalid_request', 'Missing required parameter: code');
  const rec = ctx.store.code(code);
  if (!rec || rec.provider !== 'google') return googleError(400, 'invalid_grant', 'Malformed auth code.');
  if (rec.clientId !== clientId) return googleError(400, 'invalid_grant', 'Unauthorized');
  if (rec.redeemed || ctx.now() >= rec.expiresAt) return googleError(400, 'invalid_grant', 'Bad Request');
  // The first redemption attempt uses the code up, whatever its outcome.
  rec.redeemed = true;
  const redirectUri = form.get('redirect_uri');
  if (!redirectUri) return googleError(400, 'invalid_request', 'Missing parameter: redirect_uri');
  if (redirectUri !== rec.redirectUri) return googleError(400, 'redirect_uri_mismatch', 'Bad Request');
  const verifier = form.get('code_verifier');
  if (rec.challenge) {
    if (!verifier) return googleError(400, 'invalid_grant', 'Missing code verifier.');
    if (!pkceMatches(rec.challenge, rec.challengeMethod, verifier)) return googleError(400, 'invalid_grant', 'Invalid code verifier.');
  } else if (verifier) {
    return googleError(400, 'invalid_grant', 'code_verifier or verifier is not needed.');
  }
  const grant = ctx.store.createGrant({ provider: 'google', user: rec.user, clientId, scopes: rec.scopes, offline: rec.offline });
  let rt: string | undefined;
  if (rec.offline) {
    rt = ids.refreshToken();
    ctx.store.record(rt, 'refresh', grant, grant.scopes);
  }
  return tokens(ctx, grant, rt, rec.nonce);
}

export function googleToken(ctx: Ctx, req: Req): Reply {
  if (req.method !== 'POST') return googleError(405, 'invalid_request', 'Invalid HTTP method. Use POST.');
  const f = req.form;
  // Service accounts: the signed assertion is the client authentication (emulator/google-app-only.ts).
  if (f.get('grant_type') === JWT_BEARER) return jwtBearer(ctx, req);
  const basic = basicAuth(req);
  const clientId = f.get('client_id') ?? basic?.id;
  if (!clientId) return googleError(400, 'invalid_request', 'Could not determine client ID from request.');
  const client = ctx.store.client('google', clientId);
  if (!client?.clientSecret) return googleError(401, 'invalid_client', 'The OAuth client was not found.');
  const secret = f.get('client_secret') ?? basic?.secret;
  if (secret === undefined) return googleError(400, 'invalid_request', 'client_secret is missing.');
  if (!sameSecret(secret, client.clientSecret)) return googleError(401, 'invalid_client', 'Unauthorized');
  const grantType = f.get('grant_type') ?? '';
  if (grantType === 'refresh_token') return refresh(ctx, f, clientId);
  if (grantType === 'authorization_code') return exchange(ctx, f, clientId);
  return googleError(400, 'unsupported_grant_type', `Invalid grant_type: ${grantType}`);
}

/** Scopes Google would recognise: the OIDC ones, Gmail's full scope and the googleapis.com ones. */
function knownScope(s: string): boolean {
  return ['openid', 'email', 'profile', 'https://mail.google.com/'].includes(s) || s.startsWith('https://www.googleapis.com/auth/');
}

function errorPage(status: number, error: string, description: string): Reply {
  return html(
    status,
    `<!doctype html><html><head><title>Error ${status}: ${escapeHtml(error)}</title></head><body><h1>Access blocked: authorization error</h1><p>Error ${status}: ${escapeHtml(error)}</p><p>${escapeHtml(description)}</p></body></html>`,
  );
}

export function googleAuthorize(ctx: Ctx, req: Req): Reply {
  return authorize(ctx, req, {
    provider: 'google',
    errorPage,
    errorParams: (error) => ({ error }),
    checkScopes: (scopes) => {
      if (scopes.length === 0) return { error: 'invalid_request', description: 'Missing required parameter: scope', page: true };
      const invalid = scopes.filter((s) => !knownScope(s));
      // Google shows this on its own page rather than redirecting.
      if (invalid.length) return { error: 'invalid_scope', description: `Some requested scopes were invalid. {invalid=[${invalid.join(', ')}]}`, page: true };
      return undefined;
    },
    // Google hands out a refresh token on first consent only, unless consent is asked again.
    offline: (p, user, clientId) =>
      p.get('access_type') === 'offline' &&
      (!ctx.store.hasLiveGrant('google', user, clientId) || scopeList(p.get('prompt')).includes('consent')),
    successParams: (scopes) => ({ scope: scopes.join(' '), authuser: '0' }),
    newCode: ids.code,
  });
}

function presented(req: Req): string | undefined {
  const h = req.headers.authorization;
  if (h && /^bearer /i.test(h)) return h.slice(7).trim();
  return req.query.get('access_token') ?? req.form.get('access_token') ?? req.query.get('token') ?? req.form.get('token') ?? undefined;
}

export function googleTokeninfo(ctx: Ctx, req: Req): Reply {
  const token = presented(req);
  const rec = token ? ctx.store.token(token) : undefined;
  if (!token || !rec || rec.info.provider !== 'google' || !ctx.store.isValidAccess(token)) {
    return googleError(400, 'invalid_token', 'Invalid Value');
  }
  const grant = ctx.store.grant(rec.grantId);
  const body: Record<string, string> = {
    azp: rec.info.clientId,
    aud: rec.info.clientId,
    sub: googleSub(rec.info.user),
    scope: rec.info.scopes.join(' '),
    exp: String(Math.floor(rec.info.expiresAt / 1000)),
    expires_in: String(Math.max(0, Math.floor((rec.info.expiresAt - ctx.now()) / 1000))),
    access_type: grant?.offline ? 'offline' : 'online',
  };
  if (rec.info.scopes.includes('email')) Object.assign(body, { email: rec.info.user, email_verified: 'true' });
  return json(200, body, NO_STORE);
}

/** Revoking either token of a grant revokes the whole grant, as Google documents. */
export function googleRevoke(ctx: Ctx, req: Req): Reply {
  const token = req.form.get('token') ?? req.query.get('token');
  if (!token) return googleError(400, 'invalid_request', 'Missing required parameter: token');
  const rec = ctx.store.token(token);
  const grant = rec && rec.info.provider === 'google' ? ctx.store.grant(rec.grantId) : undefined;
  if (!grant || grant.revoked || (rec?.info.kind === 'access' && ctx.now() >= rec.info.expiresAt)) {
    return googleError(400, 'invalid_token', 'Token expired or revoked');
  }
  ctx.store.revokeGrant(grant.id);
  return { ...json(200, {}, NO_STORE), note: `user=${grant.user}` };
}

export function googleDiscovery(ctx: Ctx): Reply {
  const g = `${ctx.baseUrl}${GOOGLE_PREFIX}`;
  return json(200, {
    issuer: ISSUER,
    authorization_endpoint: `${g}/o/oauth2/v2/auth`,
    token_endpoint: `${g}/token`,
    revocation_endpoint: `${g}/revoke`,
    jwks_uri: `${g}/oauth2/v3/certs`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid', 'email', 'profile'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    code_challenge_methods_supported: ['plain', 'S256'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
  });
}
