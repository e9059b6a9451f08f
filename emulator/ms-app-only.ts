/**
 * Entra's client credentials grant (app-only tokens, e.g. for Exchange Online
 * SMTP/IMAP/POP): the client authenticates with its secret or a certificate
 * assertion (RFC 7523 JWT, RS256 with x5t or PS256 with x5t#S256, signature
 * checked against the registered certificate), asks for `{resource}/.default`
 * and gets an access token with `idtyp: app`. No refresh token, no id_token.
 */
import { createHash, verify, constants, X509Certificate, randomBytes } from 'node:crypto';
import { aad, type AadError } from './aadsts.js';
import type { Ctx } from './context.js';
import { basicAuth, json, sameSecret, scopeList, type Reply, type Req } from './http.js';
import { b64url, newGuid } from './ids.js';
import { objectId, tenantIdFor, validTenant } from './ms-scopes.js';
import type { ClientRegistration } from './types.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MULTI_TENANT = new Set(['common', 'organizations', 'consumers']);

/** A tenant the emulator treats as not existing: any domain under `.invalid` (RFC 2606). */
function unknownTenant(tenant: string): boolean {
  return tenant.toLowerCase().endsWith('.invalid');
}

function b64urlJson(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Checks a client assertion against the registered certificate; an AadError says why it is refused. */
function checkAssertion(ctx: Ctx, client: ClientRegistration, assertion: string, tenant: string): AadError | undefined {
  const invalid = (text: string): AadError => aad(700027, text, { error: 'invalid_client', status: 401 });
  if (!client.certificate) {
    return aad(700027, `Client assertion failed signature validation. No certificate is registered for application '${client.clientId}'.`, {
      error: 'invalid_client',
      status: 401,
    });
  }
  const parts = assertion.split('.');
  if (parts.length !== 3) return invalid('Client assertion is not a valid JWT.');
  const [h, p, sig] = parts as [string, string, string];
  const header = b64urlJson(h);
  const claims = b64urlJson(p);
  if (!header || !claims) return invalid('Client assertion is not a valid JWT.');
  const cert = new X509Certificate(client.certificate);
  const sha1 = createHash('sha1').update(cert.raw).digest('base64url');
  const sha256 = createHash('sha256').update(cert.raw).digest('base64url');
  if (header['x5t'] !== sha1 && header['x5t#S256'] !== sha256) {
    return invalid(`Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '${String(header['x5t#S256'] ?? header['x5t'] ?? '')}']`);
  }
  const data = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(sig, 'base64url');
  let good = false;
  if (header['alg'] === 'RS256') good = verify('sha256', data, cert.publicKey, signature);
  else if (header['alg'] === 'PS256') {
    good = verify('sha256', data, { key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature);
  }
  if (!good) return invalid('Client assertion contains an invalid signature. [Reason - The signature is not valid.]');
  const now = Math.floor(ctx.now() / 1000);
  if (typeof claims['exp'] !== 'number' || claims['exp'] < now) return aad(700024, 'Client assertion is not within its valid time range.', { error: 'invalid_client', status: 401 });
  if (claims['iss'] !== client.clientId || claims['sub'] !== client.clientId) {
    return invalid(`The client assertion's iss and sub claims must be the application id '${client.clientId}'.`);
  }
  const aud = `${ctx.baseUrl}/${tenant}/oauth2/v2.0/token`;
  if (claims['aud'] !== aud) return aad(700027, `The audience claim '${String(claims['aud'])}' must be '${aud}'.`, { error: 'invalid_client', status: 401 });
  return undefined;
}

/** grant_type=client_credentials at /{tenant}/oauth2/v2.0/token. */
export function clientCredentials(ctx: Ctx, req: Req, tenant: string, correlationId: string): Reply | AadError {
  const f = req.form;
  if (!validTenant(tenant)) {
    return aad(900023, `Specified tenant identifier '${tenant}' is neither a valid DNS name, nor a valid external domain.`, { error: 'invalid_request' });
  }
  if (MULTI_TENANT.has(tenant.toLowerCase())) {
    return aad(50059, 'No tenant-identifying information found in either the request or implied by any provided credentials.', { error: 'invalid_request' });
  }
  if (unknownTenant(tenant)) {
    return aad(90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`, {
      error: 'invalid_tenant',
    });
  }
  const basic = basicAuth(req);
  const clientId = f.get('client_id') ?? basic?.id;
  if (!clientId) return aad(900144, "The request body must contain the following parameter: 'client_id'.", { error: 'invalid_request' });
  const client = ctx.store.client('microsoft', clientId);
  const inTenant = client && (!client.appTenants || client.appTenants.some((t) => t.toLowerCase() === tenant.toLowerCase() || tenantIdFor('app', t) === tenantIdFor('app', tenant)));
  if (!client || !inTenant) {
    return aad(700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`, { error: 'unauthorized_client' });
  }
  const assertion = f.get('client_assertion');
  const secret = f.get('client_secret') ?? basic?.secret;
  if (assertion !== null) {
    if (f.get('client_assertion_type') !== ASSERTION_TYPE) {
      return aad(7000218, "The request body must contain the following parameter: 'client_assertion_type'.", { error: 'invalid_client', status: 401 });
    }
    const refused = checkAssertion(ctx, client, assertion, tenant);
    if (refused) return refused;
  } else if (secret !== undefined) {
    if (!client.clientSecret || !sameSecret(secret, client.clientSecret)) {
      return aad(7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`, { error: 'invalid_client', status: 401 });
    }
  } else {
    return aad(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", { error: 'invalid_client', status: 401 });
  }
  const scopes = scopeList(f.get('scope'));
  const scope = scopes[0];
  if (scopes.length !== 1 || scope === undefined || !scope.endsWith('/.default')) {
    return aad(1002012, `The provided value for scope ${scopes.join(' ')} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`, { error: 'invalid_scope' });
  }
  const resource = scope.slice(0, -'/.default'.length);
  const tid = tenantIdFor(`app@${tenant}`, tenant);
  const grant = ctx.store.createGrant({ provider: 'microsoft', user: `app:${clientId}`, clientId, scopes: [scope], tenantId: tid, offline: false });
  const iat = Math.floor(ctx.now() / 1000);
  const oid = objectId(`app:${clientId}@${tid}`);
  const at = ctx.signer.sign(
    {
      aud: resource,
      iss: `https://sts.windows.net/${tid}/`,
      iat,
      nbf: iat,
      exp: iat + ctx.lifetime,
      appid: clientId,
      appidacr: assertion !== null ? '2' : '1',
      idtyp: 'app',
      oid,
      roles: ['SMTP.SendAsApp', 'IMAP.AccessAsApp', 'POP.AccessAsApp'],
      sub: oid,
      tid,
      uti: b64url(randomBytes(16)),
      ver: '1.0',
    },
    { nonce: b64url(randomBytes(32)) },
  );
  ctx.store.record(at, 'access', grant, [scope], ctx.lifetime * 1000);
  return {
    ...json(
      200,
      { token_type: 'Bearer', expires_in: ctx.lifetime, ext_expires_in: ctx.lifetime, access_token: at },
      { 'cache-control': 'no-store, no-cache', pragma: 'no-cache', 'x-ms-request-id': newGuid(), 'client-request-id': correlationId },
    ),
    note: `app=${clientId}`,
  };
}
