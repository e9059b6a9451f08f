/**
 * Provider emulator: a local HTTPS server that answers like Google's and
 * Microsoft's OAuth2 endpoints, so the daemon can be tested through the real
 * msal-node and google-auth-library. See doc/emulator.md.
 */
import { adminHandler } from './admin.js';
import { ensureCa, issueServerCert } from './ca.js';
import type { Ctx } from './context.js';
import { FaultBook } from './faults.js';
import { google as googleIds, microsoft as msIds } from './ids.js';
import { createSigner } from './jwt.js';
import { parseScopes, tenantIdFor } from './ms-scopes.js';
import { EmulatorServer } from './server.js';
import { Store } from './store.js';
import { changeServiceAccount, issueServiceAccountKey } from './google-app-only.js';
import type { Emulator, EmulatorOptions, GrantRequest } from './types.js';

export type * from './types.js';
export { ensureCa } from './ca.js';

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function grantScopes(g: GrantRequest): string[] {
  if (g.provider === 'google') return [...new Set(g.scopes)];
  // A refresh token exists only with offline_access consented, so a grant issued as one has it.
  const parsed = parseScopes(g.scopes);
  const oidc = new Set([...parsed.oidc, 'offline_access']);
  return [...oidc, ...new Set(parsed.resource)];
}

/** Starts an emulator; resolve means it is listening. */
export async function startEmulator(opts: EmulatorOptions): Promise<Emulator> {
  const host = opts.host ?? '127.0.0.1';
  const now = opts.now ?? Date.now;
  const [{ caFile }, tls, signer] = await Promise.all([
    ensureCa(opts.caDir),
    issueServerCert(opts.caDir, host),
    createSigner(),
  ]);
  const store = new Store(now);
  const faults = new FaultBook();
  const ctx: Ctx = {
    store,
    signer,
    now,
    baseUrl: '',
    lifetime: opts.accessTokenLifetime ?? 3600,
    rotation: opts.refreshTokenRotation ?? 'rotate',
    device: {
      interval: opts.deviceCode?.interval ?? 5,
      approveAfterMs: opts.deviceCode?.approveAfterMs ?? 2000,
      expiresIn: opts.deviceCode?.expiresIn ?? 900,
    },
  };
  const server = new EmulatorServer(ctx, faults, tls, opts.log);
  const port = await server.listen(host, opts.port ?? 0);
  const hostPort = `${urlHost(host)}:${port}`;
  const url = `https://${hostPort}`;
  ctx.baseUrl = url;

  const emu: Emulator = {
    url,
    caFile,
    google: {
      authUrl: `${url}/google/o/oauth2/v2/auth`,
      tokenUrl: `${url}/google/token`,
      revokeUrl: `${url}/google/revoke`,
      tokeninfoUrl: `${url}/google/tokeninfo`,
      certsUrl: `${url}/google/oauth2/v3/certs`,
    },
    microsoft: { authority: url, knownAuthority: hostPort },
    registerClient: (c) => store.registerClient(c),
    setLifetime(seconds) {
      if (!(seconds > 0)) throw new Error(`setLifetime: ${seconds} is not a positive number of seconds`);
      ctx.lifetime = seconds;
    },
    issueGrant(g) {
      if (!store.client(g.provider, g.clientId)) {
        throw new Error(`issueGrant: ${g.provider} client '${g.clientId}' is not registered (call registerClient first)`);
      }
      const grant = store.createGrant({
        provider: g.provider,
        user: g.user,
        clientId: g.clientId,
        scopes: grantScopes(g),
        tenantId: g.provider === 'microsoft' ? tenantIdFor(g.user, g.tenant) : undefined,
        offline: true,
      });
      const rt = g.provider === 'google' ? googleIds.refreshToken() : msIds.refreshToken();
      store.record(rt, 'refresh', grant, grant.scopes);
      return rt;
    },
    revokeUser: (user, o) => store.revokeUser(user, o),
    setFault: (f) => faults.add(f),
    clearFaults: () => faults.clear(),
    clearFault: (id) => faults.remove(id),
    lookupToken: (t) => store.lookup(t),
    isValidAccessToken: (t, user) => store.isValidAccess(t, user),
    secrets: () => store.secrets(),
    stats: () => server.stats(),
    resetStats: () => server.resetStats(),
    setSignInMode: (user, mode) => store.setMode(user, mode),
    approveDevice: (userCode, user, o) => store.approveDevice(userCode, user, o?.deny ?? false),
    setDeviceUser: (user) => {
      store.deviceUser = user;
    },
    issueServiceAccountKey: (r) => issueServiceAccountKey(ctx, r),
    changeServiceAccount: (email, change) => changeServiceAccount(ctx, email, change),
    close: () => server.close(),
  };
  server.admin = adminHandler(emu);
  opts.log?.(`emulator listening on ${url}`);
  return emu;
}
