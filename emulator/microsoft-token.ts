/**
 * Entra v2 token endpoint, /{tenant}/oauth2/v2.0/token: client checks
 * (public clients send no secret, confidential ones must), then the
 * refresh_token, authorization_code (with PKCE) and device_code grants.
 */
import { aad, aadReply, revokedText, type AadError } from './aadsts.js';
import type { Ctx } from './context.js';
import { basicAuth, sameSecret, scopeList, type Reply, type Req } from './http.js';
import { newGuid } from './ids.js';
import { msTokenReply } from './ms-issue.js';
import { grantFor, parseScopes, tenantIdFor, validTenant, type ParsedScopes } from './ms-scopes.js';
import { pkceMatches } from './signin.js';
import { clientCredentials } from './ms-app-only.js';

export function correlationOf(req: Req): string {
  const h = req.headers['client-request-id'];
  return req.query.get('client-request-id') ?? (typeof h === 'string' ? h : undefined) ?? newGuid();
}

const missing = (name: string): AadError =>
  aad(900144, `The request body must contain the following parameter: '${name}'.`, { error: 'invalid_request' });

/** Scope parameter of a token request; an absent one means what the grant holds. */
export function requestedScopes(form: URLSearchParams, fallback: string[]): ParsedScopes | AadError {
  const list = scopeList(form.get('scope'));
  const parsed = parseScopes(list.length ? list : fallback);
  if (parsed.resources.size > 1) {
    return aad(28000, `Provided value for the input parameter scope '${list.join(' ')}' is not valid because it contains more than one resource.`, { error: 'invalid_scope' });
  }
  return parsed;
}

function consentError(clientId: string): AadError {
  return aad(65001, `The user or administrator has not consented to use the application with ID '${clientId}'. Send an interactive authorization request for this user and resource.`);
}

function refresh(ctx: Ctx, req: Req, clientId: string, correlationId: string): Reply | AadError {
  const rt = req.form.get('refresh_token');
  if (!rt) return missing('refresh_token');
  const rec = ctx.store.token(rt);
  const grant = rec && rec.info.kind === 'refresh' && rec.info.provider === 'microsoft' ? ctx.store.grant(rec.grantId) : undefined;
  if (!rec || !grant) return aad(9002313);
  if (grant.revoked) {
    const code = grant.revoked.aadsts ?? 50173;
    return aad(code, grant.revoked.description ?? revokedText(code, grant.issuedAt, grant.revoked.at));
  }
  if (rec.used) return aad(70000);
  if (grant.clientId !== clientId) return aad(70000, undefined, { suberror: 'client_mismatch' });
  const requested = requestedScopes(req.form, grant.scopes);
  if ('code' in requested) return requested;
  const granted = grantFor(grant.scopes, requested);
  if (granted.missing.length) return consentError(clientId);
  return msTokenReply(ctx, {
    grant,
    scopes: granted.scopes,
    requested,
    presented: rec,
    clientInfo: req.form.get('client_info') === '1',
    correlationId,
  });
}

function exchange(ctx: Ctx, req: Req, clientId: string, correlationId: string): Reply | AadError {
  const f = req.form;
  const code = f.get('code');
  if (!code) return missing('code');
  const rec = ctx.store.code(code);
  if (!rec || rec.provider !== 'microsoft' || rec.clientId !== clientId) return aad(9002313);
  if (rec.redeemed) {
    return aad(54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.');
  }
  if (ctx.now() >= rec.expiresAt) return aad(70008);
  // The first redemption attempt uses the code up, whatever its outcome.
  rec.redeemed = true;
  const redirectUri = f.get('redirect_uri') ?? '';
  if (redirectUri !== rec.redirectUri) {
    return aad(500112, `The reply address '${redirectUri}' does not match the reply address '${rec.redirectUri}' provided when requesting Authorization code.`);
  }
  const verifier = f.get('code_verifier');
  if (rec.challenge && !verifier) {
    return aad(50148, 'The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.');
  }
  if (rec.challenge && verifier && !pkceMatches(rec.challenge, rec.challengeMethod, verifier)) {
    return aad(501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.');
  }
  const consented = parseScopes(rec.scopes);
  const requested = requestedScopes(f, rec.scopes);
  if ('code' in requested) return requested;
  const grant = ctx.store.createGrant({
    provider: 'microsoft',
    user: rec.user,
    clientId,
    scopes: [...consented.oidc, ...consented.resource],
    tenantId: rec.tenantId,
    offline: consented.oidc.includes('offline_access'),
  });
  const granted = grantFor(grant.scopes, requested);
  if (granted.missing.length) return consentError(clientId);
  return msTokenReply(ctx, {
    grant,
    scopes: granted.scopes,
    requested,
    nonce: rec.nonce,
    clientInfo: f.get('client_info') === '1',
    correlationId,
  });
}

function device(ctx: Ctx, req: Req, clientId: string, correlationId: string): Reply | AadError {
  const dc = req.form.get('device_code');
  if (!dc) return missing('device_code');
  const d = ctx.store.device(dc);
  if (!d || d.clientId !== clientId) {
    return aad(70000, "The provided value for the input parameter 'device_code' is not valid.", { error: 'bad_verification_code' });
  }
  const now = ctx.now();
  if (d.redeemed) return aad(54005, 'The device code was already redeemed, please start a new device code flow.');
  if (now >= d.expiresAt) return aad(70019);
  if (d.denied || (d.user && ctx.store.mode(d.user) === 'deny')) {
    return aad(65004, 'User declined to consent to access the app.', { error: 'authorization_declined' });
  }
  if (!d.user || now < d.createdAt + ctx.device.approveAfterMs) return aad(70016);
  d.redeemed = true;
  const consented = parseScopes(d.scopes);
  const grant = ctx.store.createGrant({
    provider: 'microsoft',
    user: d.user,
    clientId,
    scopes: [...consented.oidc, ...consented.resource],
    tenantId: tenantIdFor(d.user, d.tenant),
    offline: consented.oidc.includes('offline_access'),
  });
  const requested = requestedScopes(req.form, d.scopes);
  if ('code' in requested) return requested;
  const granted = grantFor(grant.scopes, requested);
  if (granted.missing.length) return consentError(clientId);
  return msTokenReply(ctx, { grant, scopes: granted.scopes, requested, clientInfo: req.form.get('client_info') === '1', correlationId });
}

/** Client authentication shared by the token and devicecode endpoints. */
export function checkClient(ctx: Ctx, req: Req, tenant: string): { clientId: string } | AadError {
  if (!validTenant(tenant)) {
    return aad(900023, `Specified tenant identifier '${tenant}' is neither a valid DNS name, nor a valid external domain.`, { error: 'invalid_request' });
  }
  const basic = basicAuth(req);
  const clientId = req.form.get('client_id') ?? basic?.id;
  if (!clientId) return missing('client_id');
  const client = ctx.store.client('microsoft', clientId);
  if (!client) {
    return aad(700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`, { error: 'unauthorized_client' });
  }
  const secret = req.form.get('client_secret') ?? basic?.secret;
  if (client.clientSecret) {
    if (secret === undefined) {
      return aad(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", { error: 'invalid_client', status: 401 });
    }
    if (!sameSecret(secret, client.clientSecret)) {
      return aad(7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`, { error: 'invalid_client', status: 401 });
    }
  } else if (secret !== undefined) {
    return aad(700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.", { error: 'invalid_client', status: 401 });
  }
  return { clientId };
}

export function msToken(ctx: Ctx, req: Req, tenant: string): Reply {
  const correlationId = correlationOf(req);
  const fail = (e: AadError): Reply => aadReply(e, { now: ctx.now(), correlationId, baseUrl: ctx.baseUrl });
  if (req.method !== 'POST') {
    return fail(aad(900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${req.method} request.`, { error: 'invalid_request' }));
  }
  const grantType = req.form.get('grant_type');
  if (!grantType) return fail(missing('grant_type'));
  if (grantType === 'client_credentials') {
    // App-only: its own client checks (secret or certificate assertion), emulator/ms-app-only.ts.
    const out = clientCredentials(ctx, req, tenant, correlationId);
    return 'code' in out ? fail(out) : out;
  }
  const client = checkClient(ctx, req, tenant);
  if ('code' in client) return fail(client);
  let out: Reply | AadError;
  if (grantType === 'refresh_token') out = refresh(ctx, req, client.clientId, correlationId);
  else if (grantType === 'authorization_code') out = exchange(ctx, req, client.clientId, correlationId);
  else if (grantType === 'device_code' || grantType === 'urn:ietf:params:oauth:grant-type:device_code') {
    out = device(ctx, req, client.clientId, correlationId);
  } else {
    out = aad(70003, `The app requested an unsupported grant type '${grantType}'.`, { error: 'unsupported_grant_type' });
  }
  return 'code' in out ? fail(out) : out;
}
