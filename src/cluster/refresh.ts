/**
 * One refresh of one account in a cluster (doc/cluster.md):
 *
 *   1. take the account's lease; if a peer holds it, wait for the token the
 *      peer publishes (or for its lease to lapse, then take over);
 *   2. under the lease, re-read the grant: a peer may have rotated it, or
 *      already obtained a token that is not due yet (then no provider call);
 *   3. call the provider with the latest refresh token, renewing the lease;
 *   4. write grant + access token with a version check. A conflict means
 *      someone else changed the grant meanwhile: reload, never retry with the
 *      refresh token just spent.
 *
 * Without the database the account is refreshed only while this process still
 * holds its lease by its own clock, and the rotated grant stays in memory
 * until the database takes it (the keeper's "unsaved" mechanism).
 */
import type { RefreshFailure, RefreshSuccess } from '../../actors/account.js';
import { refreshOffsetMs } from '../../actors/timing.js';
import type { AccountSpec, WorkerLog } from '../host/messages.js';
import type { RefreshOutcome } from '../providers/types.js';
import { StoreConflictError, StoreCorruptError, type StoredAccess, type StoredGrant } from '../store/index.js';
import { isUnreachable } from '../store/postgres/connect.js';
import type { ClusterRuntime } from './runtime.js';

/** How often a waiting instance asks again whether the holder's lease is gone (released early, or lapsed). */
const LEASE_POLL_MS = 1_000;

export interface RefreshHooks {
  /** The grant this worker holds for the account now. */
  held(): StoredGrant | undefined;
  /** Whether that grant is a rotation the database has not taken yet. */
  unsaved(): boolean;
  /** A newer grant from the database (a peer rotated it, or a sign-in elsewhere). */
  adopt(grant: StoredGrant): void;
  /** Keep `grant` only in memory; the keeper offers it to the store again later. */
  keepUnsaved(grant: StoredGrant): void;
  /** The provider call (cap, timing and classification included); `started` runs when it leaves the cap's queue. Throws RefreshFailure. */
  call(refreshToken: string, started: () => void): Promise<RefreshOutcome>;
  /** A rotated grant the store refused (kept in memory), or stored after all: alerts (src/notify/). */
  persisted(ok: boolean, error?: string): void;
  /** A refresh token this shard now holds (log redaction). */
  seen(refreshToken: string): void;
  log(level: WorkerLog['level'], msg: string, fields: WorkerLog['fields']): void;
}

function refusal(kind: RefreshFailure['kind'], code: string, message: string, retryAfterMs?: number): RefreshFailure {
  return { kind, code, message, retryAfterMs, now: Date.now() };
}

function success(access: StoredAccess, now = Date.now()): RefreshSuccess {
  return { accessToken: access.accessToken, expiresInMs: Math.max(0, access.expiresAt - now), now };
}

/**
 * The provider libraries load on a worker's first refresh (src/host/provider-registry.ts),
 * and evaluating msal-node blocks the thread for a while: done before the
 * first lease, so the lease is not left unrenewed meanwhile.
 */
let librariesLoaded: Promise<void> | undefined;

export class ClusterRefresh {
  constructor(private readonly runtime: ClusterRuntime) {}

  async refresh(spec: AccountSpec, signal: AbortSignal, hooks: RefreshHooks): Promise<RefreshSuccess> {
    await (librariesLoaded ??= import('../providers/index.js').then(
      () => undefined,
      () => undefined,
    ));
    const { leases } = this.runtime.store;
    const key = spec.key;
    // The last token this path gave the actor: a stored token other than this one and not yet due came from
    // a peer (the actor only refreshes a token that is due, or on an operator's `refresh`).
    const had = this.runtime.served.get(key);
    for (;;) {
      if (signal.aborted) throw refusal('transient', 'cancelled', 'refresh cancelled');
      let mine: boolean;
      try {
        const lease = await leases.take(key);
        mine = lease.taken;
        this.runtime.reachable = true;
        if (lease.lapsedFrom !== undefined) hooks.log('info', `took over the refresh lease of ${lease.lapsedFrom} after it lapsed`, { account: key, from: lease.lapsedFrom });
      } catch (error) {
        if (!isUnreachable(error)) throw refusal('transient', 'store-io', error instanceof Error ? error.message : String(error));
        this.runtime.reachable = false;
        // Never refresh without a lease: only one still held by our own clock counts, with room for the call.
        if (leases.remainingMs(key) < leases.leaseMs / 3) {
          throw refusal('transient', 'store-unreachable', `PostgreSQL is unreachable and this instance holds no lease on ${key}: not refreshing (the current token is served while it lasts)`);
        }
        return this.#underLease(spec, signal, hooks, false, had);
      }
      if (mine) return this.#underLease(spec, signal, hooks, true, had);
      const peer = await this.#peerToken(spec, signal);
      if (peer) return peer;
    }
  }

  /**
   * A peer holds the lease: wait for its token. Woken by its notification,
   * read the row; after a quiet second, undefined (ask for the lease again:
   * one query, and the holder may have given up or crashed).
   */
  async #peerToken(spec: AccountSpec, signal: AbortSignal): Promise<RefreshSuccess | undefined> {
    const changed = await this.runtime.waitForChange(spec.key, LEASE_POLL_MS, signal);
    if (signal.aborted) throw refusal('transient', 'cancelled', 'refresh cancelled');
    if (!changed) return undefined;
    const latest = await this.#load(spec.key);
    const fresh = latest?.access && this.#notDue(spec, latest.access) ? latest.access : undefined;
    if (!fresh) return undefined;
    this.runtime.served.set(spec.key, fresh.refreshedAt);
    return success(fresh);
  }

  async #underLease(spec: AccountSpec, signal: AbortSignal, hooks: RefreshHooks, reachable: boolean, had: number | undefined): Promise<RefreshSuccess> {
    const { store } = this.runtime;
    const key = spec.key;
    try {
      let grant = hooks.held();
      if (reachable && grant !== undefined && hooks.unsaved()) {
        // A rotation the database missed while it was away: it is the only valid grant, store it first.
        const { provider, refreshToken, scopes, access } = grant;
        try {
          grant = await store.save(key, { provider, refreshToken, scopes, ...(access && { access }) });
          hooks.adopt(grant);
          hooks.persisted(true);
        } catch (error) {
          if (!isUnreachable(error)) throw refusal('transient', 'store-io', error instanceof Error ? error.message : String(error));
        }
      } else if (reachable) {
        const latest = await this.#load(key);
        if (latest === undefined) throw refusal('revoked', 'no-grant', `no refresh grant stored for ${key}: sign in or run mailtokend import`);
        if (grant === undefined || latest.version !== grant.version || latest.refreshToken !== grant.refreshToken) {
          hooks.seen(latest.refreshToken);
          hooks.adopt(latest);
          grant = latest;
        }
        const access = latest.access;
        if (access && access.refreshedAt !== had && this.#notDue(spec, access)) {
          // A peer refreshed while this instance was waiting for its own timer: use that token.
          this.runtime.served.set(key, access.refreshedAt);
          return success(access);
        }
      }
      if (grant === undefined) throw refusal('revoked', 'no-grant', `no refresh grant stored for ${key}: sign in or run mailtokend import`);
      const renewing = store.leases.keepAlive(key);
      let outcome: RefreshOutcome;
      try {
        outcome = await hooks.call(grant.refreshToken, renewing.callStarted);
      } catch (error) {
        if (!reachable || (error as RefreshFailure).kind !== 'revoked') throw error;
        return await this.#afterRefusal(spec, signal, grant, had, error as RefreshFailure, hooks);
      } finally {
        renewing.stop();
      }
      const now = Date.now();
      const access: StoredAccess = {
        accessToken: outcome.accessToken,
        expiresAt: now + outcome.expiresInMs,
        lifetimeMs: outcome.expiresInMs,
        refreshedAt: now,
        refreshedBy: store.instance,
      };
      this.runtime.served.set(key, now);
      if (signal.aborted || hooks.held() !== grant) return success(access, now);
      if (outcome.rotatedRefreshToken) hooks.seen(outcome.rotatedRefreshToken);
      await this.#write(key, grant, outcome, access, hooks);
      return success(access, now);
    } finally {
      void store.leases.release(key);
    }
  }

  /**
   * The provider refused the refresh token. In a cluster that may only mean a
   * peer spent it a moment ago (its lease lapsed while it was slow, and its
   * write has not landed yet): wait for that write before calling the account
   * revoked. A changed grant is adopted instead.
   */
  async #afterRefusal(spec: AccountSpec, signal: AbortSignal, spent: StoredGrant, had: number | undefined, refused: RefreshFailure, hooks: RefreshHooks): Promise<RefreshSuccess> {
    const key = spec.key;
    const deadline = Date.now() + this.runtime.store.leases.leaseMs;
    for (;;) {
      const latest = await this.#load(key).catch(() => undefined);
      if (latest && latest.refreshToken !== spent.refreshToken) {
        hooks.seen(latest.refreshToken);
        hooks.adopt(latest);
        hooks.log('warn', 'the provider refused a refresh token another instance had just spent; using that instance\'s grant', { account: key, error: refused.code });
        if (latest.access && latest.access.refreshedAt !== had && latest.access.expiresAt > Date.now()) {
          this.runtime.served.set(key, latest.access.refreshedAt);
          return success(latest.access);
        }
        throw refusal('transient', 'grant-rotated-by-peer', `another instance rotated the grant of ${key} meanwhile; retrying with it`);
      }
      if (Date.now() >= deadline || signal.aborted) throw refused;
      await this.runtime.waitForChange(key, Math.min(LEASE_POLL_MS, deadline - Date.now()), signal);
    }
  }

  /** Compare-and-swap against the version the refresh started from. */
  async #write(key: string, grant: StoredGrant, outcome: RefreshOutcome, access: StoredAccess, hooks: RefreshHooks): Promise<void> {
    const input = {
      provider: grant.provider,
      refreshToken: outcome.rotatedRefreshToken ?? grant.refreshToken,
      scopes: outcome.scopes.length > 0 ? outcome.scopes : grant.scopes,
      access,
    };
    try {
      hooks.adopt(await this.runtime.store.save(key, input, grant.version));
      this.runtime.reachable = true;
    } catch (error) {
      if (error instanceof StoreConflictError) {
        hooks.log('warn', 'the grant changed on another instance during this refresh; using the stored one', { account: key, version: error.actualVersion });
        const latest = await this.#load(key).catch(() => undefined);
        if (latest) hooks.adopt(latest);
        return;
      }
      if (isUnreachable(error)) this.runtime.reachable = false;
      const message = error instanceof Error ? error.message : String(error);
      hooks.log('error', 'could not store the refreshed grant in PostgreSQL; keeping it in memory until the database takes it', { account: key, error: message });
      // Only a rotation is worth an alert: an unrotated grant loses nothing but the shared token.
      if (outcome.rotatedRefreshToken) hooks.persisted(false, message);
      hooks.keepUnsaved({ ...grant, ...input, version: grant.version + 1, updatedAt: Date.now() });
    }
  }

  async #load(key: string): Promise<StoredGrant | undefined> {
    try {
      return await this.runtime.store.load(key);
    } catch (error) {
      if (error instanceof StoreCorruptError) throw refusal('revoked', 'store-corrupt', error.message);
      if (isUnreachable(error)) this.runtime.reachable = false;
      throw refusal('transient', isUnreachable(error) ? 'store-unreachable' : 'store-io', error instanceof Error ? error.message : String(error));
    }
  }

  /** A token is not due while its owner's refresh timer (same rule on every instance) has not fired yet. */
  #notDue(spec: AccountSpec, access: StoredAccess): boolean {
    return Date.now() < access.refreshedAt + refreshOffsetMs(spec.key, access.lifetimeMs, spec.refreshAheadMs);
  }
}
