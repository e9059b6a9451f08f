/**
 * Everything the emulated providers remember: registered clients, grants
 * (one per sign-in), and every token, code and device code they handed out.
 * Provider modules decide what a request means; this module only keeps state.
 */
import { randomUUID } from 'node:crypto';
import type { ClientRegistration, IssuedToken, Provider, RevokeOptions, SignInMode } from './types.js';

export interface Grant {
  id: string;
  provider: Provider;
  user: string;
  clientId: string;
  /** Scopes the user consented to (Microsoft: normalised resource URIs plus OIDC scopes). */
  scopes: string[];
  /** Microsoft tenant id (GUID) the user signed in to. */
  tenantId?: string;
  /** Whether a refresh token was issued for it. */
  offline: boolean;
  issuedAt: number;
  revoked?: { at: number } & RevokeOptions;
}

export interface TokenRecord {
  token: string;
  grantId: string;
  info: IssuedToken;
  /** A single-use refresh token that was redeemed. */
  used?: boolean;
}

export interface CodeRecord {
  code: string;
  provider: Provider;
  user: string;
  clientId: string;
  scopes: string[];
  redirectUri: string;
  tenantId?: string;
  challenge?: string;
  challengeMethod?: string;
  nonce?: string;
  /** Whether the exchange returns a refresh token (Google: access_type=offline on first consent). */
  offline: boolean;
  issuedAt: number;
  expiresAt: number;
  redeemed: boolean;
}

export interface DeviceRecord {
  deviceCode: string;
  userCode: string;
  clientId: string;
  scopes: string[];
  tenant: string;
  createdAt: number;
  expiresAt: number;
  user?: string;
  denied?: boolean;
  redeemed: boolean;
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export class Store {
  private readonly clients = new Map<string, ClientRegistration>();
  private readonly grants = new Map<string, Grant>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly codes = new Map<string, CodeRecord>();
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly modes = new Map<string, SignInMode>();
  deviceUser: string | undefined;

  constructor(private readonly now: () => number) {}

  registerClient(c: ClientRegistration): void {
    if (!c.clientId) throw new Error('registerClient: clientId is required');
    if (c.provider === 'google' && !c.clientSecret) {
      // Google's token endpoint always wants a secret, even from installed apps.
      throw new Error('registerClient: a Google client needs a clientSecret');
    }
    this.clients.set(`${c.provider}:${c.clientId}`, { ...c, redirectUris: [...(c.redirectUris ?? [])] });
  }

  client(provider: Provider, clientId: string): ClientRegistration | undefined {
    return this.clients.get(`${provider}:${clientId}`);
  }

  createGrant(g: Omit<Grant, 'id' | 'issuedAt'>): Grant {
    const grant: Grant = { ...g, scopes: [...g.scopes], id: randomUUID(), issuedAt: this.now() };
    this.grants.set(grant.id, grant);
    return grant;
  }

  grant(id: string): Grant | undefined {
    return this.grants.get(id);
  }

  /** Whether the user holds a live offline grant for this client (Google skips a new refresh token then). */
  hasLiveGrant(provider: Provider, user: string, clientId: string): boolean {
    for (const g of this.grants.values()) {
      if (g.provider === provider && same(g.user, user) && g.clientId === clientId && g.offline && !g.revoked) return true;
    }
    return false;
  }

  /** Records a token issued under a grant; `lifetimeMs` undefined means it does not expire. */
  record(token: string, kind: 'access' | 'refresh', grant: Grant, scopes: string[], lifetimeMs?: number): TokenRecord {
    const issuedAt = this.now();
    const rec: TokenRecord = {
      token,
      grantId: grant.id,
      info: {
        provider: grant.provider,
        user: grant.user,
        clientId: grant.clientId,
        scopes: [...scopes],
        issuedAt,
        expiresAt: lifetimeMs === undefined ? Number.MAX_SAFE_INTEGER : issuedAt + lifetimeMs,
        kind,
      },
    };
    this.tokens.set(token, rec);
    return rec;
  }

  token(token: string): TokenRecord | undefined {
    return this.tokens.get(token);
  }

  revokeUser(user: string, opts: RevokeOptions = {}): void {
    const at = this.now();
    for (const g of this.grants.values()) {
      if (same(g.user, user) && !g.revoked) g.revoked = { at, ...opts };
    }
    // Codes and device approvals in flight belong to sessions that are now gone.
    for (const [k, c] of this.codes) if (same(c.user, user)) this.codes.delete(k);
    for (const d of this.devices.values()) if (d.user && same(d.user, user)) d.denied = true;
  }

  revokeGrant(grantId: string): void {
    const g = this.grants.get(grantId);
    if (g && !g.revoked) g.revoked = { at: this.now() };
  }

  addCode(c: Omit<CodeRecord, 'redeemed'>): void {
    this.codes.set(c.code, { ...c, redeemed: false });
  }

  code(code: string): CodeRecord | undefined {
    return this.codes.get(code);
  }

  addDevice(d: Omit<DeviceRecord, 'redeemed'>): DeviceRecord {
    const rec: DeviceRecord = { ...d, redeemed: false };
    if (this.deviceUser && rec.user === undefined) rec.user = this.deviceUser;
    this.devices.set(rec.deviceCode, rec);
    return rec;
  }

  device(deviceCode: string): DeviceRecord | undefined {
    return this.devices.get(deviceCode);
  }

  approveDevice(userCode: string, user: string, deny = false): void {
    const want = userCode.replace(/[\s-]/g, '').toUpperCase();
    for (const d of this.devices.values()) {
      if (d.userCode === want && !d.redeemed) {
        d.user = user;
        d.denied = deny;
        return;
      }
    }
    throw new Error('approveDevice: no pending device code with that user code');
  }

  setMode(user: string, mode: SignInMode): void {
    this.modes.set(user.toLowerCase(), mode);
  }

  mode(user: string): SignInMode {
    return this.modes.get(user.toLowerCase()) ?? 'approve';
  }

  /** User behind a refresh token, code or device code, for fault matching and stats. */
  userOf(secret: string): string | undefined {
    const t = this.tokens.get(secret);
    if (t) return t.info.user;
    return this.codes.get(secret)?.user ?? this.devices.get(secret)?.user;
  }

  lookup(token: string): IssuedToken | undefined {
    const t = this.tokens.get(token);
    if (t) return { ...t.info, scopes: [...t.info.scopes] };
    const c = this.codes.get(token);
    if (!c) return undefined;
    return {
      provider: c.provider,
      user: c.user,
      clientId: c.clientId,
      scopes: [...c.scopes],
      issuedAt: c.issuedAt,
      expiresAt: c.expiresAt,
      kind: 'code',
    };
  }

  isValidAccess(token: string, user?: string): boolean {
    const t = this.tokens.get(token);
    if (!t || t.info.kind !== 'access') return false;
    if (this.now() >= t.info.expiresAt) return false;
    if (this.grants.get(t.grantId)?.revoked) return false;
    return user === undefined || same(t.info.user, user);
  }

  secrets(): string[] {
    const out = [...this.tokens.keys(), ...this.codes.keys()];
    for (const d of this.devices.values()) out.push(d.deviceCode);
    for (const c of this.clients.values()) if (c.clientSecret) out.push(c.clientSecret);
    return out;
  }
}
