/**
 * Entra v2 endpoints other than token: OpenID metadata (what msal-node reads
 * to find every other endpoint), instance discovery, signing keys,
 * authorize, devicecode and the device sign-in page, plus Entra-shaped
 * replies for injected faults.
 */
import { aad, aadReply, standardText, type AadError } from './aadsts.js';
import type { Ctx } from './context.js';
import { escapeHtml, html, json, scopeList, type Reply, type Req } from './http.js';
import { aadTimestamp, microsoft as ids, newGuid } from './ids.js';
import { parseScopes, tenantIdFor, tenantPathId, validTenant } from './ms-scopes.js';
import { checkClient, correlationOf } from './microsoft-token.js';
import { authorize } from './signin.js';

function fail(ctx: Ctx, req: Req, e: AadError, headers: Record<string, string> = {}): Reply {
  return aadReply(e, { now: ctx.now(), correlationId: correlationOf(req), baseUrl: ctx.baseUrl }, headers);
}

function badTenant(tenant: string): AadError {
  return aad(900023, `Specified tenant identifier '${tenant}' is neither a valid DNS name, nor a valid external domain.`, { error: 'invalid_tenant' });
}

/**
 * As Entra: endpoints of a named tenant carry its GUID (msal-node maps a
 * domain authority back onto them), `common` and `organizations` keep their
 * name and have a templated issuer.
 */
export function openidConfiguration(ctx: Ctx, req: Req, tenant: string): Reply {
  if (!validTenant(tenant)) return fail(ctx, req, badTenant(tenant));
  const t = tenantPathId(tenant);
  const base = `${ctx.baseUrl}/${t}`;
  const issuerTenant = t === 'common' || t === 'organizations' ? '{tenantid}' : t === 'consumers' ? '9188040d-6c67-4c5b-b112-36a304b66dad' : t;
  return json(200, {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${ctx.baseUrl}/${issuerTenant}/v2.0`,
    request_uri_parameter_supported: false,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'email', 'oid'],
    tenant_region_scope: null,
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
  });
}

/** msal asks this only of login.microsoftonline.com; here for clients configured to ask it. */
export function instanceDiscovery(ctx: Ctx, req: Req): Reply {
  const host = new URL(ctx.baseUrl).host;
  const endpoint = req.query.get('authorization_endpoint') ?? '';
  const tenant = /\/\/[^/]+\/([^/]+)\//.exec(endpoint)?.[1] ?? 'common';
  return json(200, {
    tenant_discovery_endpoint: `${ctx.baseUrl}/${tenant}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  });
}

export function keys(ctx: Ctx): Reply {
  return json(200, ctx.signer.jwks());
}

function errorPage(status: number, error: string, description: string): Reply {
  return html(
    status,
    `<!doctype html><html><head><title>Sign in to your account</title></head><body><h1>Sorry, but we’re having trouble signing you in.</h1><p>${escapeHtml(error)}: ${escapeHtml(description)}</p></body></html>`,
  );
}

export function msAuthorize(ctx: Ctx, req: Req, tenant: string): Reply {
  if (!validTenant(tenant)) return errorPage(400, 'invalid_tenant', standardText(900023));
  return authorize(ctx, req, {
    provider: 'microsoft',
    errorPage,
    errorParams: (error, description, code = 9002313) => {
      const traceId = newGuid();
      const ts = aadTimestamp(ctx.now());
      return {
        error,
        error_description: `AADSTS${code}: ${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationOf(req)}\r\nTimestamp: ${ts}`,
        error_uri: `${ctx.baseUrl}/error?code=${code}`,
      };
    },
    checkScopes: (scopes) => {
      const parsed = parseScopes(scopes);
      if (scopes.length === 0) return { error: 'invalid_request', description: "The request body must contain the following parameter: 'scope'.", code: 900144 };
      if (parsed.resources.size > 1) {
        return { error: 'invalid_scope', description: 'Provided value for the input parameter scope is not valid because it contains more than one resource.', code: 28000 };
      }
      return undefined;
    },
    offline: (_p, _u, _c, scopes) => parseScopes(scopes).oidc.includes('offline_access'),
    successParams: () => ({ session_state: newGuid() }),
    newCode: ids.code,
    tenantId: (user) => tenantIdFor(user, tenant),
  });
}

export function deviceCode(ctx: Ctx, req: Req, tenant: string): Reply {
  if (req.method !== 'POST') return fail(ctx, req, aad(900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${req.method} request.`, { error: 'invalid_request' }));
  const client = checkClient(ctx, req, tenant);
  if ('code' in client) return fail(ctx, req, client);
  const scopes = scopeList(req.form.get('scope'));
  if (scopes.length === 0) return fail(ctx, req, aad(900144, "The request body must contain the following parameter: 'scope'.", { error: 'invalid_request' }));
  if (parseScopes(scopes).resources.size > 1) {
    return fail(ctx, req, aad(28000, 'Provided value for the input parameter scope is not valid because it contains more than one resource.', { error: 'invalid_scope' }));
  }
  const now = ctx.now();
  const d = ctx.store.addDevice({
    deviceCode: ids.deviceCode(),
    userCode: ids.userCode(),
    clientId: client.clientId,
    scopes,
    tenant,
    createdAt: now,
    expiresAt: now + ctx.device.expiresIn * 1000,
  });
  const uri = `${ctx.baseUrl}/devicelogin`;
  return json(200, {
    user_code: d.userCode,
    device_code: d.deviceCode,
    verification_uri: uri,
    expires_in: ctx.device.expiresIn,
    interval: ctx.device.interval,
    message: `To sign in, use a web browser to open the page ${uri} and enter the code ${d.userCode} to authenticate.`,
  });
}

/** The verification page a person (or the demo) can use instead of the admin API. */
export function deviceLogin(ctx: Ctx, req: Req): Reply {
  if (req.method === 'POST') {
    const code = req.form.get('otc') ?? '';
    const user = req.form.get('login_hint') ?? '';
    try {
      if (!user) throw new Error('no account given');
      ctx.store.approveDevice(code, user);
      return html(200, `<!doctype html><html><body><h1>You have signed in</h1><p>You may now close this window.</p></body></html>`);
    } catch {
      return html(400, `<!doctype html><html><body><h1>That code didn't work</h1><p>Check the code and try again.</p></body></html>`);
    }
  }
  return html(
    200,
    `<!doctype html><html><head><title>Enter code</title></head><body><h1>Enter code</h1>
<form method="post" action="/devicelogin"><label>Code <input name="otc" required autofocus></label>
<label>Account <input name="login_hint" type="email" required></label><button type="submit">Next</button></form></body></html>`,
  );
}

export function msStatus(ctx: Ctx, req: Req, status: number, asHtml = false): Reply {
  if (asHtml) return html(status, `<!doctype html><html><head><title>${status}</title></head><body><h2>Service Unavailable</h2><p>HTTP Error ${status}. The service is unavailable.</p></body></html>`);
  if (status === 500) return fail(ctx, req, aad(50000, undefined, { status }));
  return fail(ctx, req, aad(90033, undefined, { error: 'temporarily_unavailable', status }));
}

export function msRateLimit(ctx: Ctx, req: Req, retryAfter?: number): Reply {
  const headers: Record<string, string> = retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) };
  return fail(ctx, req, aad(90055), headers);
}

const DEFAULT_CODE: Record<string, number> = {
  invalid_grant: 70000,
  invalid_client: 7000215,
  interaction_required: 50076,
  consent_required: 65001,
  unauthorized_client: 700016,
  invalid_request: 9002313,
  invalid_scope: 70011,
  temporarily_unavailable: 90033,
  server_error: 50000,
};

export function msFaultError(
  ctx: Ctx,
  req: Req,
  f: { error: string; status?: number; aadsts?: number; description?: string; suberror?: string },
): Reply {
  const code = f.aadsts ?? DEFAULT_CODE[f.error] ?? 90000;
  const base = aad(code, f.description);
  const status = f.status ?? (f.error === 'invalid_client' ? 401 : base.status);
  const e: AadError = { ...base, error: f.error, status };
  if (f.suberror !== undefined) e.suberror = f.suberror;
  return fail(ctx, req, e);
}
