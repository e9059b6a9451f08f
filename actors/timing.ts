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
 * A token is refreshed at most this fraction of its lifetime before expiry,
 * jitter included, so each grant costs at most 1 / (1 - 0.08) ≈ 1.09
 * refreshes per token lifetime, whatever `refresh_ahead` says.
 */
export const REFRESH_AHEAD_MAX_FRACTION = 0.08;
/**
 * A refresh takes real time (provider round trip, queueing behind the
 * per-provider cap, a busy machine), whatever the lifetime: the refresh
 * margin is at least the serving margin plus this (at most half the
 * lifetime), before jitter takes up to a quarter of it. Matters only for
 * tokens under about 40 s; longer ones get 8 % of their lifetime.
 */
export const REFRESH_LEAD_MS = 2_000;
/** A token is not handed out in this last fraction of its lifetime ... */
export const MIN_REMAINING_FRACTION = 1 / 40;
/** ... nor in its last minute, whichever is shorter ... */
export const MIN_REMAINING_CAP_MS = 60_000;
/** ... but a short token keeps this long (at most a tenth of its life), so a client can still present it. */
export const MIN_REMAINING_FLOOR_MS = 1_000;

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

/**
 * How long before expiry a token stops being handed out: long enough for an
 * MTA to present it, short enough to stay inside the refresh lead (2.5 % of
 * the lifetime, at most 60 s, at least 1 s or a tenth of the lifetime).
 */
export function minRemainingMs(lifetimeMs: number): number {
  const share = Math.max(lifetimeMs * MIN_REMAINING_FRACTION, Math.min(MIN_REMAINING_FLOOR_MS, lifetimeMs / 10));
  return Math.floor(Math.min(MIN_REMAINING_CAP_MS, share));
}

/** How far ahead of expiry the refresh may start, before jitter. */
export function refreshAheadLimitMs(lifetimeMs: number, refreshAheadMs: number): number {
  const floor = Math.min(lifetimeMs / 2, minRemainingMs(lifetimeMs) + REFRESH_LEAD_MS);
  return Math.min(refreshAheadMs, Math.max(lifetimeMs * REFRESH_AHEAD_MAX_FRACTION, floor));
}

/**
 * Delay from `receivedAt` until the scheduled refresh. The configured margin
 * is capped at 8 % of the lifetime: a refresh earlier than that buys nothing
 * (the old token is still served while it runs) and costs a provider call.
 * The per-account jitter moves the refresh up to a quarter of that margin
 * later (at most 60 s), never earlier, so it stays inside the cap.
 */
export function refreshOffsetMs(user: string, lifetimeMs: number, refreshAheadMs: number): number {
  const ahead = refreshAheadLimitMs(lifetimeMs, refreshAheadMs);
  const jitter = stableFraction(user) * Math.min(REFRESH_JITTER_CAP_MS, ahead / 4);
  return Math.max(0, Math.floor(lifetimeMs - ahead + jitter));
}

/** Exponential backoff with ±20 % jitter, never below the provider's Retry-After. */
export function backoffMs(user: string, failures: number, retryAfterMs = 0): number {
  const exponent = Math.max(0, Math.min(failures - 1, 20));
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** exponent);
  const jittered = Math.floor(base * (0.8 + 0.4 * stableFraction(`${user}#${failures}`)));
  return Math.max(jittered, retryAfterMs);
}
