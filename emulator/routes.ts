/**
 * Which handler answers a path, and what a fault would match it as. Paths:
 * Google under /google, Entra as on login.microsoftonline.com
 * (/{tenant}/oauth2/v2.0/..., /{tenant}/v2.0/.well-known/...), admin under
 * /_emulator (handled by the server).
 */
import type { Ctx } from './context.js';
import type { Reply, Req } from './http.js';
import { googleAuthorize, googleDiscovery, googleRevoke, googleToken, googleTokeninfo } from './google.js';
import { deviceCode, deviceLogin, instanceDiscovery, keys, msAuthorize, openidConfiguration } from './microsoft.js';
import { msToken } from './microsoft-token.js';
import { INTROSPECT_PATH, introspect } from './introspect.js';
import type { FaultEndpoint, Provider } from './types.js';

export interface Route {
  provider: Provider;
  /** Set for endpoints faults can target. */
  endpoint?: FaultEndpoint;
  run(req: Req): Reply;
}

const MS_PATH = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|oauth2\/v2\.0\/(authorize|token|devicecode))\/?$/;

export function route(ctx: Ctx, path: string): Route | undefined {
  switch (path) {
    case '/google/o/oauth2/v2/auth':
      return { provider: 'google', endpoint: 'authorize', run: (r) => googleAuthorize(ctx, r) };
    case '/google/token':
      return { provider: 'google', endpoint: 'token', run: (r) => googleToken(ctx, r) };
    case '/google/revoke':
      return { provider: 'google', run: (r) => googleRevoke(ctx, r) };
    case '/google/tokeninfo':
      return { provider: 'google', run: (r) => googleTokeninfo(ctx, r) };
    case '/google/oauth2/v3/certs':
      return { provider: 'google', run: () => keys(ctx) };
    case '/google/.well-known/openid-configuration':
      return { provider: 'google', run: () => googleDiscovery(ctx) };
    case '/common/discovery/instance':
      return { provider: 'microsoft', run: (r) => instanceDiscovery(ctx, r) };
    case '/devicelogin':
      return { provider: 'microsoft', run: (r) => deviceLogin(ctx, r) };
    case INTROSPECT_PATH:
      // Either provider's tokens; for test mail servers (emulator/introspect.ts).
      return { provider: 'google', run: (r) => introspect(ctx, r) };
  }
  const m = MS_PATH.exec(path);
  if (!m) return undefined;
  const tenant = decodeURIComponent(m[1]!);
  switch (m[3] ?? m[2]) {
    case 'authorize':
      return { provider: 'microsoft', endpoint: 'authorize', run: (r) => msAuthorize(ctx, r, tenant) };
    case 'token':
      return { provider: 'microsoft', endpoint: 'token', run: (r) => msToken(ctx, r, tenant) };
    case 'devicecode':
      return { provider: 'microsoft', endpoint: 'devicecode', run: (r) => deviceCode(ctx, r, tenant) };
    case 'discovery/v2.0/keys':
      return { provider: 'microsoft', run: () => keys(ctx) };
    default:
      return { provider: 'microsoft', run: (r) => openidConfiguration(ctx, r, tenant) };
  }
}

/** User a fault would match: from the refresh token, code or device code presented, or the login hint. */
export function requestUser(ctx: Ctx, endpoint: FaultEndpoint, req: Req): string | undefined {
  if (endpoint === 'authorize') return (req.method === 'POST' ? req.form : req.query).get('login_hint') ?? undefined;
  if (endpoint !== 'token') return undefined;
  const secret = req.form.get('refresh_token') ?? req.form.get('code') ?? req.form.get('device_code');
  return secret ? ctx.store.userOf(secret) : undefined;
}
