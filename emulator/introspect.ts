/**
 * Token introspection for test mail servers (RFC 7662 shape), for tokens of
 * either provider. Neither Google nor Microsoft offers this for mail tokens
 * (their own IMAP/SMTP servers check them internally); the emulator offers it
 * so that a real server, Dovecot's `oauth2` passdb, can check a bearer token
 * against the issuer the way Gmail and Outlook check theirs: issued by us,
 * an access token, unexpired, grant not revoked, and the user's own.
 *
 *   POST /introspect  token=ACCESS_TOKEN      (or GET with Authorization: Bearer)
 *   → {"active":true,"email":USER,"username":USER,"exp":…,"client_id":…,"scope":…,"provider":…}
 *   → {"active":false} for anything else (200, as RFC 7662 says)
 *
 * Every call is recorded (see introspections()), so a test can prove at the
 * server side which token a client presented and whether it was good.
 */
import type { Ctx } from './context.js';
import { json, type Reply, type Req } from './http.js';
import type { Provider } from './types.js';

export const INTROSPECT_PATH = '/introspect';

export interface Introspection {
  /** Emulator clock, ms. */
  at: number;
  token: string;
  active: boolean;
  user?: string;
  provider?: Provider;
  expiresAt?: number;
}

const logs = new Map<string, Introspection[]>();

/** The introspections answered by the emulator at `baseUrl` (its `url`), oldest first. */
export function introspections(baseUrl: string): Introspection[] {
  let log = logs.get(baseUrl);
  if (!log) logs.set(baseUrl, (log = []));
  return log;
}

function presented(req: Req): string | undefined {
  const h = req.headers.authorization;
  if (h && /^bearer /i.test(h)) return h.slice(7).trim();
  return req.form.get('token') ?? req.query.get('token') ?? req.form.get('access_token') ?? req.query.get('access_token') ?? undefined;
}

export function introspect(ctx: Ctx, req: Req): Reply {
  const token = presented(req) ?? '';
  const rec = token ? ctx.store.token(token) : undefined;
  const active = rec !== undefined && ctx.store.isValidAccess(token);
  const entry: Introspection = { at: ctx.now(), token, active };
  if (rec) Object.assign(entry, { user: rec.info.user, provider: rec.info.provider, expiresAt: rec.info.expiresAt });
  introspections(ctx.baseUrl).push(entry);
  const noStore = { 'cache-control': 'no-store' };
  if (!active || !rec) return { ...json(200, { active: false }, noStore), note: 'inactive' };
  const exp = Math.floor(rec.info.expiresAt / 1000);
  return {
    ...json(
      200,
      {
        active: true,
        email: rec.info.user,
        username: rec.info.user,
        sub: rec.info.user,
        client_id: rec.info.clientId,
        scope: rec.info.scopes.join(' '),
        token_type: 'Bearer',
        exp,
        expires_in: Math.max(0, Math.floor((rec.info.expiresAt - ctx.now()) / 1000)),
        provider: rec.info.provider,
      },
      noStore,
    ),
    note: `user=${rec.info.user}`,
  };
}
