/**
 * Google service accounts with domain-wide delegation: the emulator issues a
 * service account key (JSON, as the Cloud console downloads it) and answers
 * the JWT-bearer grant (RFC 7523) at /google/token by checking the
 * assertion's signature against the public half of the key it issued. The
 * token is for the impersonated user (`sub`). Errors as Google sends them:
 * a bad signature or unknown key, a disabled or deleted account, a subject
 * outside the delegated domains (unauthorized_client).
 */
import { generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import type { Ctx } from './context.js';
import { googleError } from './google.js';
import { json, scopeList, type Reply, type Req } from './http.js';
import { google as ids } from './ids.js';
import type { Store } from './store.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** The audience google-auth-library's JWT client signs for, whatever token_uri it posts to. */
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

export interface ServiceAccountRequest {
  /** e.g. relay@project.iam.gserviceaccount.com */
  email: string;
  /** Domains whose users it may impersonate (domain-wide delegation); absent: any. */
  domains?: string[];
  /** Scopes the Workspace admin delegated; default https://mail.google.com/. */
  scopes?: string[];
}

/** The key file as Google's console gives it out. */
export interface ServiceAccountKeyFile {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
}

interface Account {
  email: string;
  domains?: string[];
  scopes: string[];
  disabled: boolean;
  deleted: boolean;
  keys: Map<string, KeyObject>;
}

const accounts = new WeakMap<Store, Map<string, Account>>();

function registry(ctx: Ctx): Map<string, Account> {
  let map = accounts.get(ctx.store);
  if (!map) {
    map = new Map();
    accounts.set(ctx.store, map);
  }
  return map;
}

/** A new key for the service account (creating the account on first use). */
export function issueServiceAccountKey(ctx: Ctx, req: ServiceAccountRequest): ServiceAccountKeyFile {
  const map = registry(ctx);
  const email = req.email.toLowerCase();
  let account = map.get(email);
  if (!account) {
    account = { email, scopes: req.scopes ?? ['https://mail.google.com/'], disabled: false, deleted: false, keys: new Map() };
    map.set(email, account);
  }
  if (req.domains) account.domains = req.domains.map((d) => d.toLowerCase());
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyId = randomBytes(20).toString('hex');
  account.keys.set(keyId, publicKey);
  return {
    type: 'service_account',
    project_id: email.split('@')[1]?.split('.')[0] ?? 'emulator',
    private_key_id: keyId,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: req.email,
    client_id: String(BigInt(`0x${randomBytes(8).toString('hex')}`)),
    auth_uri: `${ctx.baseUrl}/google/o/oauth2/v2/auth`,
    token_uri: `${ctx.baseUrl}/google/token`,
  };
}

/** What an admin does in the console: disable (or enable) the account, delete a key, delete the account. */
export function changeServiceAccount(ctx: Ctx, email: string, change: { disabled?: boolean; deleteKey?: string; deleted?: boolean }): void {
  const account = registry(ctx).get(email.toLowerCase());
  if (!account) throw new Error(`no service account ${email}`);
  if (change.disabled !== undefined) account.disabled = change.disabled;
  if (change.deleted !== undefined) account.deleted = change.deleted;
  if (change.deleteKey !== undefined) account.keys.delete(change.deleteKey);
}

function part(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer at /google/token (no client authentication). */
export function jwtBearer(ctx: Ctx, req: Req): Reply {
  const assertion = req.form.get('assertion');
  if (!assertion) return googleError(400, 'invalid_request', 'Missing required parameter: assertion');
  const pieces = assertion.split('.');
  const header = pieces.length === 3 ? part(pieces[0]!) : undefined;
  const claims = pieces.length === 3 ? part(pieces[1]!) : undefined;
  if (!header || !claims) return googleError(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
  const iss = typeof claims['iss'] === 'string' ? claims['iss'].toLowerCase() : '';
  const account = registry(ctx).get(iss);
  if (!account || account.deleted) return googleError(400, 'invalid_grant', 'Invalid grant: account not found');
  const key = typeof header['kid'] === 'string' ? account.keys.get(header['kid']) : undefined;
  // Without a kid Google tries the account's keys; so does the emulator.
  const candidates = key ? [key] : header['kid'] === undefined ? [...account.keys.values()] : [];
  const data = Buffer.from(`${pieces[0]}.${pieces[1]}`);
  const signature = Buffer.from(pieces[2]!, 'base64url');
  if (header['alg'] !== 'RS256' || !candidates.some((k) => verify('sha256', data, k, signature))) {
    return googleError(400, 'invalid_grant', 'Invalid JWT Signature.');
  }
  const now = Math.floor(ctx.now() / 1000);
  const iat = typeof claims['iat'] === 'number' ? claims['iat'] : NaN;
  const exp = typeof claims['exp'] === 'number' ? claims['exp'] : NaN;
  if (!(exp > now && iat <= now + 300 && exp - iat <= 3600)) {
    return googleError(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
  }
  const aud = claims['aud'];
  if (aud !== GOOGLE_TOKEN_URL && aud !== `${ctx.baseUrl}/google/token`) {
    return googleError(400, 'invalid_grant', 'Invalid JWT: Failed audience check.');
  }
  if (account.disabled) return googleError(400, 'invalid_grant', `The service account ${account.email} is disabled.`);
  const scopes = scopeList(typeof claims['scope'] === 'string' ? claims['scope'] : '');
  const sub = typeof claims['sub'] === 'string' ? claims['sub'] : undefined;
  if (scopes.length === 0) return googleError(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
  const domain = sub?.slice(sub.lastIndexOf('@') + 1).toLowerCase();
  const delegated = sub === undefined || ((account.domains === undefined || account.domains.includes(domain ?? '')) && scopes.every((s) => account.scopes.includes(s)));
  if (!delegated) {
    return googleError(401, 'unauthorized_client', 'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.');
  }
  const grant = ctx.store.createGrant({ provider: 'google', user: sub ?? account.email, clientId: account.email, scopes, offline: false });
  const access = ids.accessToken();
  ctx.store.record(access, 'access', grant, scopes, ctx.lifetime * 1000);
  return {
    ...json(200, { access_token: access, expires_in: ctx.lifetime, token_type: 'Bearer' }, { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' }),
    note: `user=${grant.user} sa=${account.email}`,
  };
}
