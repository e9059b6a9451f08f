/**
 * Pure timing rules of the account machine. Every input is explicit (no clock
 * reads), so the same numbers come out in tests and in the daemon.
 */

/** Transient-failure backoff: first retry after this, doubling per failure. */
export const BACKOFF_BASE_MS = 2_000;
/** Backoff never waits longer than this between attempts. */
export const BACKOFF_CAP_MS = 5 * 60_000;
/** A request may trigger a retry in `expired` at most this often. */
export const MIN_REQUEST_RETRY_GAP_MS = 1_000;
/** Refresh-ahead jitter spreads accounts over at most this window. */
export const REFRESH_JITTER_CAP_MS = 60_000;

/**
 * A stable fraction in [0, 1) from a string. Jitter must differ between
 * accounts (so thousands of them do not refresh in the same second) but the
 * machine may not call Math.random; FNV-1a of the account name does both.
 */
export function stableFraction(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 0x1_0000_0000;
}

/** How long before expiry a token stops being handed out. */
export function minRemainingMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.floor(lifetimeMs / 20));
}

/**
 * Delay from `receivedAt` until the scheduled refresh. The configured margin is
 * capped at half the lifetime so short-lived tokens (tests, some tenants) still
 * get a useful life before being refreshed.
 */
export function refreshOffsetMs(user: string, lifetimeMs: number, refreshAheadMs: number): number {
  const ahead = Math.min(refreshAheadMs, lifetimeMs / 2);
  const jitter = stableFraction(user) * Math.min(REFRESH_JITTER_CAP_MS, lifetimeMs * 0.05);
  return Math.max(0, Math.floor(lifetimeMs - ahead - jitter));
}

/** Exponential backoff with ±20 % jitter, never below the provider's Retry-After. */
export function backoffMs(user: string, failures: number, retryAfterMs = 0): number {
  const exponent = Math.max(0, Math.min(failures - 1, 20));
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** exponent);
  const jittered = Math.floor(base * (0.8 + 0.4 * stableFraction(`${user}#${failures}`)));
  return Math.max(jittered, retryAfterMs);
}
