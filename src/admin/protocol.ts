/**
 * The admin socket speaks one JSON object per connection each way. It lives
 * in the state directory with mode 0600: only the daemon's own user can
 * steer it, and it is never one of the MTA sockets.
 */
export interface AdminRequest {
  cmd: string;
  [field: string]: unknown;
}

export type AdminSuccess = { ok: true } & Record<string, unknown>;
export type AdminFailure = { ok: false; code: string; message: string };
export type AdminResponse = AdminSuccess | AdminFailure;

export type AdminHandler = (request: AdminRequest) => Promise<Record<string, unknown>>;

/** An admin request is small; anything bigger is junk. */
export const MAX_ADMIN_REQUEST_BYTES = 64 * 1024;
