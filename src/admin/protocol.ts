import type { AccountStatus, ActionResult } from '../host/messages.js';

/**
 * The admin socket speaks one JSON object per connection each way. It lives
 * in the state directory with mode 0600: only the daemon's own user can
 * steer it, and it is never one of the MTA sockets.
 */
export type AdminRequest =
  | { cmd: 'ping' }
  | { cmd: 'status' }
  | { cmd: 'token'; user: string }
  | { cmd: 'import'; user: string; refreshToken: string }
  | { cmd: 'refresh'; user: string }
  | { cmd: 'revoke'; user: string }
  | { cmd: 'crash-worker'; shard: number };

export type AdminResponse =
  | { ok: true; pong: true; pid: number; version: string }
  | { ok: true; accounts: AccountStatus[] }
  | { ok: true; accessToken: string; expiresAt: number }
  | { ok: true; result: ActionResult }
  | { ok: true }
  | { ok: false; code: string; message: string };

/** An admin request is small; anything bigger is junk. */
export const MAX_ADMIN_REQUEST_BYTES = 64 * 1024;
