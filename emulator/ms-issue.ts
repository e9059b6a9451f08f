/**
 * Building a Microsoft token response: the JWT access token, the v2 id_token
 * msal-node reads the account from, client_info ({uid, utid}, base64url) it
 * builds the home account id from, and the refresh token per rotation mode.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Ctx } from './context.js';
import { json, type Reply } from './http.js';
import { b64url, microsoft as ids, newGuid } from './ids.js';
import { objectId, type ParsedScopes } from './ms-scopes.js';
import type { Grant, TokenRecord } from './store.js';

export interface IssueInput {
  grant: Grant;
  /** Granted resource scopes for this token (see grantFor). */
  scopes: string[];
  requested: ParsedScopes;
  /** The refresh token presented (refresh grant), for rotation. */
  presented?: TokenRecord;
  nonce?: string;
  clientInfo: boolean;
  correlationId: string;
}

function pairwiseSub(oid: string, clientId: string): string {
  return b64url(createHash('sha256').update(`${oid}:${clientId}`).digest()).slice(0, 43);
}

function displayName(user: string): string {
  return user.split('@')[0] ?? user;
}

function accessToken(ctx: Ctx, grant: Grant, scopes: string[], tid: string, oid: string): string {
  const iat = Math.floor(ctx.now() / 1000);
  const first = scopes[0];
  const aud = first ? first.slice(0, first.indexOf('/', first.indexOf('://') + 3)) : 'https://graph.microsoft.com';
  return ctx.signer.sign(
    {
      aud,
      iss: `https://sts.windows.net/${tid}/`,
      iat,
      nbf: iat,
      exp: iat + ctx.lifetime,
      appid: grant.clientId,
      appidacr: '0',
      idtyp: 'user',
      name: displayName(grant.user),
      oid,
      scp: scopes.map((s) => s.slice(aud.length + 1)).join(' '),
      sub: pairwiseSub(oid, aud),
      tid,
      unique_name: grant.user,
      upn: grant.user,
      uti: b64url(randomBytes(16)),
      ver: '1.0',
    },
    // Entra's nonce header makes Graph-style tokens unverifiable by third parties; it also keeps every token unique.
    { nonce: b64url(randomBytes(32)) },
  );
}

function idToken(ctx: Ctx, grant: Grant, tid: string, oid: string, nonce: string | undefined, email: boolean): string {
  const iat = Math.floor(ctx.now() / 1000);
  const claims: Record<string, unknown> = {
    aud: grant.clientId,
    iss: `${ctx.baseUrl}/${tid}/v2.0`,
    iat,
    nbf: iat,
    exp: iat + 3600,
    name: displayName(grant.user),
    oid,
    preferred_username: grant.user,
    rh: b64url(randomBytes(24)),
    sub: pairwiseSub(oid, grant.clientId),
    tid,
    uti: b64url(randomBytes(16)),
    ver: '2.0',
  };
  if (email) claims.email = grant.user;
  // msal-node rejects an id_token nonce it did not ask for, so only the code flow carries one.
  if (nonce) claims.nonce = nonce;
  return ctx.signer.sign(claims);
}

/** Refresh token to return, following the rotation mode; undefined without offline_access. */
function refreshToken(ctx: Ctx, grant: Grant, presented?: TokenRecord): string | undefined {
  if (!grant.offline) return undefined;
  if (presented && ctx.rotation === 'none') return presented.token;
  if (presented && ctx.rotation === 'single-use') presented.used = true;
  const rt = ids.refreshToken();
  ctx.store.record(rt, 'refresh', grant, grant.scopes);
  return rt;
}

export function msTokenReply(ctx: Ctx, input: IssueInput): Reply {
  const { grant } = input;
  const tid = grant.tenantId!;
  const oid = objectId(grant.user);
  const scopes = input.scopes.length ? input.scopes : input.requested.oidc.filter((s) => s !== 'offline_access');
  const at = accessToken(ctx, grant, input.scopes, tid, oid);
  ctx.store.record(at, 'access', grant, scopes, ctx.lifetime * 1000);
  const body: Record<string, unknown> = {
    token_type: 'Bearer',
    scope: scopes.join(' '),
    expires_in: ctx.lifetime,
    ext_expires_in: ctx.lifetime,
    access_token: at,
  };
  const rt = refreshToken(ctx, grant, input.presented);
  if (rt) body.refresh_token = rt;
  if (input.requested.oidc.includes('openid')) {
    body.id_token = idToken(ctx, grant, tid, oid, input.nonce, input.requested.oidc.includes('email'));
  }
  if (input.clientInfo) body.client_info = b64url(JSON.stringify({ uid: oid, utid: tid }));
  return {
    ...json(200, body, {
      'cache-control': 'no-store, no-cache',
      pragma: 'no-cache',
      'x-ms-request-id': newGuid(),
      'client-request-id': input.correlationId,
    }),
    note: `user=${grant.user}`,
  };
}
