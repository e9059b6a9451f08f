/**
 * HTTP admin API under /_emulator/, so processes other than the one that
 * started the emulator (the demo, e2e tests running the daemon as a child)
 * can drive it. JSON in, JSON out; each route is one Emulator method.
 * Test-only: it hands out secrets to anyone who can reach the loopback port.
 */
import { json, type Reply, type Req } from './http.js';
import type { ClientRegistration, Emulator, GrantRequest, SignInMode } from './types.js';
import { validateFault } from './faults.js';

type Body = Record<string, unknown>;

function body(req: Req): Body {
  const b = req.json;
  if (b === undefined) return {};
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new Error('body must be a JSON object');
  return b as Body;
}

function str(b: Body, key: string): string {
  const v = b[key];
  if (typeof v !== 'string' || !v) throw new Error(`'${key}' must be a non-empty string`);
  return v;
}

function optStr(b: Body, key: string): string | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new Error(`'${key}' must be a string`);
  return v;
}

function provider(b: Body): 'google' | 'microsoft' {
  const p = b.provider;
  if (p !== 'google' && p !== 'microsoft') throw new Error("'provider' must be 'google' or 'microsoft'");
  return p;
}

function strings(b: Body, key: string): string[] | undefined {
  const v = b[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new Error(`'${key}' must be an array of strings`);
  return v as string[];
}

const MODES = new Set<SignInMode>(['approve', 'deny', 'wrong-state']);

type Action = (emu: Emulator, b: Body) => unknown;

const ACTIONS: Record<string, { method: 'GET' | 'POST'; run: Action }> = {
  'register-client': {
    method: 'POST',
    run: (emu, b) => {
      const c: ClientRegistration = { provider: provider(b), clientId: str(b, 'clientId') };
      const secret = optStr(b, 'clientSecret');
      if (secret !== undefined) c.clientSecret = secret;
      const uris = strings(b, 'redirectUris');
      if (uris) c.redirectUris = uris;
      const tenant = optStr(b, 'tenant');
      if (tenant) c.tenant = tenant;
      emu.registerClient(c);
      return {};
    },
  },
  'issue-grant': {
    method: 'POST',
    run: (emu, b) => {
      const g: GrantRequest = { provider: provider(b), user: str(b, 'user'), clientId: str(b, 'clientId'), scopes: strings(b, 'scopes') ?? [] };
      const tenant = optStr(b, 'tenant');
      if (tenant) g.tenant = tenant;
      return { refreshToken: emu.issueGrant(g) };
    },
  },
  'revoke-user': {
    method: 'POST',
    run: (emu, b) => {
      const aadsts = b.aadsts;
      if (aadsts !== undefined && typeof aadsts !== 'number') throw new Error("'aadsts' must be a number");
      const description = optStr(b, 'description');
      emu.revokeUser(str(b, 'user'), { ...(aadsts === undefined ? {} : { aadsts }), ...(description === undefined ? {} : { description }) });
      return {};
    },
  },
  fault: { method: 'POST', run: (emu, b) => ({ id: emu.setFault(validateFault(b.fault ?? b)) }) },
  'clear-faults': { method: 'POST', run: (emu) => (emu.clearFaults(), {}) },
  'clear-fault': { method: 'POST', run: (emu, b) => (emu.clearFault(str(b, 'id')), {}) },
  lookup: {
    method: 'POST',
    run: (emu, b) => {
      const token = str(b, 'token');
      const user = optStr(b, 'user');
      return { token: emu.lookupToken(token) ?? null, validAccess: emu.isValidAccessToken(token, user) };
    },
  },
  stats: { method: 'GET', run: (emu) => emu.stats() },
  'reset-stats': { method: 'POST', run: (emu) => (emu.resetStats(), {}) },
  secrets: { method: 'GET', run: (emu) => ({ secrets: emu.secrets() }) },
  'sign-in-mode': {
    method: 'POST',
    run: (emu, b) => {
      const mode = str(b, 'mode') as SignInMode;
      if (!MODES.has(mode)) throw new Error("'mode' must be 'approve', 'deny' or 'wrong-state'");
      emu.setSignInMode(str(b, 'user'), mode);
      return {};
    },
  },
  'approve-device': {
    method: 'POST',
    run: (emu, b) => (emu.approveDevice(str(b, 'userCode'), str(b, 'user'), { deny: b.deny === true }), {}),
  },
  'device-user': { method: 'POST', run: (emu, b) => (emu.setDeviceUser(optStr(b, 'user')), {}) },
  info: {
    method: 'GET',
    run: (emu) => ({ url: emu.url, caFile: emu.caFile, google: emu.google, microsoft: emu.microsoft }),
  },
};

export function adminHandler(emu: Emulator): (req: Req) => Promise<Reply> {
  return async (req) => {
    const name = req.path.slice('/_emulator/'.length).replace(/\/$/, '');
    const action = ACTIONS[name];
    if (!action) return json(404, { error: 'not_found', error_description: `No admin action '${name}'.` });
    if (req.method !== action.method) return json(405, { error: 'method_not_allowed', error_description: `Use ${action.method}.` });
    try {
      return json(200, action.run(emu, body(req)) ?? {});
    } catch (e) {
      return json(400, { error: 'bad_request', error_description: e instanceof Error ? e.message : String(e) });
    }
  };
}
