/**
 * Entra scope and tenant rules: a scope names a resource (a bare scope means
 * Microsoft Graph), one request may target one resource only, `.default`
 * stands for everything consented for that resource, comparisons ignore case,
 * and outlook.office.com / outlook.office365.com are the same resource.
 */
import { GUID_RE, guidFrom } from './ids.js';

export const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
const GRAPH = 'https://graph.microsoft.com';
const ALIASES: Record<string, string> = {
  'https://outlook.office365.com': 'https://outlook.office.com',
};

export interface ParsedScopes {
  oidc: string[];
  /** Resource scopes as the client spelled them, made absolute. */
  resource: string[];
  /** Canonical resource URIs named by `resource`. */
  resources: Set<string>;
}

function absolute(scope: string): string {
  return scope.includes('://') ? scope : `${GRAPH}/${scope}`;
}

/** Resource URI of an absolute scope, as the client spelled it. */
export function resourceOf(scope: string): string {
  const abs = absolute(scope);
  const i = abs.indexOf('/', abs.indexOf('://') + 3);
  return i < 0 ? abs : abs.slice(0, i);
}

function canonicalResource(res: string): string {
  const r = res.toLowerCase().replace(/\/+$/, '');
  return ALIASES[r] ?? r;
}

/** Case-insensitive key of a scope with aliases folded: used for every comparison. */
export function scopeKey(scope: string): string {
  const abs = absolute(scope);
  const res = resourceOf(abs);
  return canonicalResource(res) + abs.slice(res.length).toLowerCase();
}

export function parseScopes(list: string[]): ParsedScopes {
  const out: ParsedScopes = { oidc: [], resource: [], resources: new Set() };
  for (const s of list) {
    if (OIDC_SCOPES.has(s.toLowerCase())) out.oidc.push(s.toLowerCase());
    else {
      const abs = absolute(s);
      out.resource.push(abs);
      out.resources.add(canonicalResource(resourceOf(abs)));
    }
  }
  return out;
}

/**
 * Scopes granted for a request: the consented scopes of the requested
 * resource (Entra answers with all of them, not only the ones asked for),
 * spelled with the client's resource prefix so msal's cache matches later
 * lookups. `missing` lists requested scopes the grant does not cover.
 */
export function grantFor(consented: string[], requested: ParsedScopes): { scopes: string[]; missing: string[] } {
  const have = new Set(consented.map(scopeKey));
  const missing = requested.resource.filter((s) => !s.endsWith('/.default') && !have.has(scopeKey(s)));
  const first = requested.resource[0];
  if (!first) return { scopes: [], missing };
  const prefix = resourceOf(first);
  const want = canonicalResource(prefix);
  const scopes = consented
    .filter((c) => !OIDC_SCOPES.has(c.toLowerCase()) && canonicalResource(resourceOf(c)) === want)
    .map((c) => prefix + absolute(c).slice(resourceOf(c).length));
  if (scopes.length === 0 && requested.resource.some((s) => s.endsWith('/.default'))) missing.push(first);
  return { scopes, missing };
}

export const RESERVED_TENANTS = new Set(['common', 'organizations', 'consumers']);

/** Whether a tenant path segment is one Entra would accept the shape of. */
export function validTenant(t: string): boolean {
  return RESERVED_TENANTS.has(t.toLowerCase()) || GUID_RE.test(t) || /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(t);
}

/**
 * Tenant id (GUID) for a sign-in: the tenant named in the request when it is
 * a specific one, else the home tenant of the user's mail domain. Ids are
 * derived from names so a domain always maps to the same GUID.
 */
export function tenantIdFor(user: string, tenant?: string): string {
  if (tenant && GUID_RE.test(tenant)) return tenant.toLowerCase();
  if (tenant && !RESERVED_TENANTS.has(tenant.toLowerCase())) return guidFrom(`tenant:${tenant.toLowerCase()}`);
  const domain = user.includes('@') ? user.slice(user.lastIndexOf('@') + 1) : 'emulator.invalid';
  return guidFrom(`tenant:${domain.toLowerCase()}`);
}

/** Tenant id the metadata of a path segment names: reserved names stay as they are. */
export function tenantPathId(t: string): string {
  if (RESERVED_TENANTS.has(t.toLowerCase())) return t.toLowerCase();
  return GUID_RE.test(t) ? t.toLowerCase() : guidFrom(`tenant:${t.toLowerCase()}`);
}

export function objectId(user: string): string {
  return guidFrom(`oid:${user.toLowerCase()}`);
}
