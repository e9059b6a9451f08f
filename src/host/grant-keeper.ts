import type { RefreshFailure, RefreshSuccess } from '../../actors/account.js';
import { ProviderError } from '../providers/errors.js';
import { googleScopes, microsoftScopes } from '../providers/scopes.js';
import { StoreCorruptError, type GrantStore, type StoredAccess, type StoredGrant } from '../store/index.js';
import { ClusterRefresh } from '../cluster/refresh.js';
import { clusterOf } from '../cluster/runtime.js';
import type { AccountSpec, RefreshReport, WorkerLog } from './messages.js';
import type { Limiter } from './limiter.js';
import { providerAccount } from './provider-account.js';
import type { ProviderRegistry } from './provider-registry.js';

type Report = (result: RefreshReport['result'], code?: string, providerMs?: number) => void;

type Log = (level: WorkerLog['level'], msg: string, fields: WorkerLog['fields']) => void;

/** What the keeper tells its host about, for log redaction and metrics (ops). */
export interface GrantObserver {
  /** A refresh token this shard now holds (loaded, imported, signed in or rotated). */
  grantSeen?(key: string, refreshToken: string): void;
  /** Every refresh attempt's outcome. */
  refreshDone?(report: Omit<RefreshReport, 'type'>): void;
  /** The store refused a rotated grant (now held only in memory), or took it later (`ok`): alerts. */
  grantPersisted?(key: string, ok: boolean, error?: string): void;
}

/** How often a rotated grant the disk refused is offered to the store again. */
const PERSIST_RETRY_MS = 5_000;

interface Held {
  grant?: StoredGrant;
  /** The store refused the latest rotation; it lives only here until saved. */
  unsaved: boolean;
  corrupt?: string;
}

/**
 * The refresh grants of one shard: read from the store once, used for every
 * refresh, and written back before a rotated grant's access token is handed
 * out. If the disk refuses a write the grant is kept in memory and saved again
 * later, because losing a rotated Microsoft grant means a new sign-in.
 */
export class GrantKeeper {
  readonly #held = new Map<string, Held>();
  readonly #retrying = new Set<string>();

  readonly #cluster: ClusterRefresh | undefined;

  constructor(
    private readonly store: GrantStore,
    private readonly log: Log,
    private readonly observer: GrantObserver = {},
  ) {
    const runtime = clusterOf(store);
    if (runtime) {
      runtime.log = log;
      runtime.grantChanged = (key, grant) => this.#peerGrant(key, grant);
    }
    this.#cluster = runtime && new ClusterRefresh(runtime);
  }

  /** Another instance stored a grant (or removed it): hold the latest, unless ours is a rotation not yet stored. */
  #peerGrant(key: string, grant: StoredGrant | undefined): void {
    const held = this.#held.get(key);
    if (held?.unsaved) return;
    if (grant && (held?.grant === undefined || grant.version > held.grant.version || held.corrupt)) {
      this.observer.grantSeen?.(key, grant.refreshToken);
      this.#held.set(key, { grant, unsaved: false });
    } else if (!grant && held) {
      this.#held.set(key, { unsaved: false });
    }
  }

  has(key: string): boolean {
    return this.#held.get(key)?.grant !== undefined;
  }

  /** The access token stored with the grant (a restart serves it without a refresh). */
  storedAccess(key: string): StoredAccess | undefined {
    return this.#held.get(key)?.grant?.access;
  }

  /** The refresh token held for `key` (remote revocation needs it); never leaves the worker otherwise. */
  refreshTokenOf(key: string): string | undefined {
    return this.#held.get(key)?.grant?.refreshToken;
  }

  /**
   * Shutdown: offers every grant still held only in memory to the store once
   * more. Returns how many could not be stored.
   */
  async flush(): Promise<number> {
    let unsaved = 0;
    for (const [key, held] of this.#held) {
      if (!held.unsaved || !held.grant) continue;
      const { provider, refreshToken, scopes, access } = held.grant;
      try {
        held.grant = await this.store.save(key, { provider, refreshToken, scopes, access });
        held.unsaved = false;
      } catch (error) {
        unsaved++;
        this.log('error', 'could not store a rotated grant at shutdown; the account will need a new sign-in', {
          account: key,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    return unsaved;
  }

  /** Loads the stored grant; true when one exists (or exists but is unreadable). */
  async preload(key: string): Promise<boolean> {
    try {
      return this.#hold(key, await this.store.load(key));
    } catch (error) {
      if (!(error instanceof StoreCorruptError)) throw error;
      return this.#hold(key, error);
    }
  }

  /** `preload` for a whole shard at start, in one pass where the store can (file store: batched reads). */
  async preloadMany(keys: string[]): Promise<boolean[]> {
    if (!this.store.loadMany) return Promise.all(keys.map((key) => this.preload(key)));
    const loaded = await this.store.loadMany(keys);
    return keys.map((key, i) => this.#hold(key, loaded[i]));
  }

  #hold(key: string, loaded: StoredGrant | undefined | StoreCorruptError): boolean {
    if (loaded instanceof StoreCorruptError) {
      this.#held.set(key, { unsaved: false, corrupt: loaded.message });
      this.log('error', 'stored grant is unreadable; sign the account in again to replace it', { account: key, error: loaded.message });
      return true;
    }
    this.#held.set(key, { grant: loaded, unsaved: false });
    if (loaded) this.observer.grantSeen?.(key, loaded.refreshToken);
    return loaded !== undefined;
  }

  /** Stores a new grant (import, sign-in); a sign-in's access token is stored with it. */
  async replace(spec: AccountSpec, refreshToken: string, access?: StoredAccess): Promise<void> {
    this.observer.grantSeen?.(spec.key, refreshToken);
    const grant = await this.store.save(spec.key, { provider: spec.provider.name, refreshToken, scopes: scopesOf(spec), access });
    this.#held.set(spec.key, { grant, unsaved: false });
  }

  async forget(key: string): Promise<boolean> {
    this.#held.set(key, { unsaved: false });
    return this.store.remove(key);
  }

  async refreshWith(spec: AccountSpec, signal: AbortSignal, providers: ProviderRegistry): Promise<RefreshSuccess> {
    const held = this.#held.get(spec.key);
    const report: Report = (result, code, providerMs) =>
      this.observer.refreshDone?.({ key: spec.key, provider: spec.provider.name, result, code, providerMs });
    if (spec.auth !== undefined) return this.#acquireAppOnly(spec, signal, providers, report);
    // A cluster (src/cluster/): lease, latest grant from the database, compare-and-swap write.
    if (this.#cluster) return this.#refreshInCluster(this.#cluster, spec, signal, providers, report);
    if (held?.corrupt) {
      report('revoked', 'store-corrupt');
      throw refusal('revoked', 'store-corrupt', held.corrupt);
    }
    const grant = held?.grant;
    if (!grant) {
      report('revoked', 'no-grant');
      throw refusal('revoked', 'no-grant', `no refresh grant stored for ${spec.key}: sign in or run mailtokend import`);
    }
    const { client, limiter } = providers.get(spec.provider);
    const outcome = await callProvider(limiter, signal, report, () => client.refresh(providerAccount(spec), grant.refreshToken, signal));
    // A sign-in or revoke replaced the grant while this refresh ran: its rotation is stale.
    const stale = signal.aborted || this.#held.get(spec.key)?.grant !== grant;
    const now = Date.now();
    const access: StoredAccess = { accessToken: outcome.accessToken, expiresAt: now + outcome.expiresInMs, lifetimeMs: outcome.expiresInMs, refreshedAt: now };
    if (outcome.rotatedRefreshToken && !stale) {
      await this.#keepRotated(spec, grant, outcome.rotatedRefreshToken, outcome.scopes, access);
    } else if (!stale) {
      await this.#keepAccess(spec.key, grant, access);
    }
    return { accessToken: outcome.accessToken, expiresInMs: outcome.expiresInMs, now };
  }

  #refreshInCluster(cluster: ClusterRefresh, spec: AccountSpec, signal: AbortSignal, providers: ProviderRegistry, report: Report): Promise<RefreshSuccess> {
    const key = spec.key;
    return cluster.refresh(spec, signal, {
      held: () => this.#held.get(key)?.grant,
      unsaved: () => this.#held.get(key)?.unsaved === true,
      adopt: (grant) => this.#held.set(key, { grant, unsaved: false }),
      keepUnsaved: (grant) => {
        this.#held.set(key, { grant, unsaved: true });
        this.#retryLater(key);
      },
      call: (refreshToken, started) => {
        const { client, limiter } = providers.get(spec.provider);
        return callProvider(limiter, signal, report, () => {
          started();
          return client.refresh(providerAccount(spec), refreshToken, signal);
        });
      },
      seen: (refreshToken) => this.observer.grantSeen?.(key, refreshToken),
      persisted: (ok, error) => this.observer.grantPersisted?.(key, ok, error),
      log: this.log,
    });
  }

  /**
   * App-only credentials: no refresh grant, the provider re-acquires a token
   * from the app's own credentials (doc/app-only.md). Refusals (bad secret,
   * unknown tenant, missing consent, disabled service account) come back as
   * `revoked` and leave the account unauthenticated with the provider's error.
   */
  async #acquireAppOnly(spec: AccountSpec, signal: AbortSignal, providers: ProviderRegistry, report: Report): Promise<RefreshSuccess> {
    const { client, limiter } = providers.get(spec.provider);
    const acquire = client.acquireAppOnly?.bind(client);
    if (acquire === undefined) {
      report('revoked', 'unsupported');
      throw refusal('revoked', 'unsupported', `provider ${spec.provider.name} has no app-only credentials`);
    }
    const outcome = await callProvider(limiter, signal, report, () => acquire(providerAccount(spec), signal));
    return { accessToken: outcome.accessToken, expiresInMs: outcome.expiresInMs, now: Date.now() };
  }

  /**
   * The grant did not rotate: only its access token is new. Stored so a
   * restart serves it without a refresh; a failed write costs only that.
   */
  async #keepAccess(key: string, grant: StoredGrant, access: StoredAccess): Promise<void> {
    const { provider, refreshToken, scopes } = grant;
    try {
      const saved = await this.store.save(key, { provider, refreshToken, scopes, access });
      const held = this.#held.get(key);
      if (held?.grant === grant) held.grant = saved;
    } catch (error) {
      this.log('warn', 'could not store the new access token; a restart will refresh this account', {
        account: key,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  async #keepRotated(spec: AccountSpec, previous: StoredGrant, refreshToken: string, scopes: string[], access?: StoredAccess): Promise<void> {
    const input = { provider: spec.provider.name, refreshToken, scopes: scopes.length > 0 ? scopes : previous.scopes, access };
    this.observer.grantSeen?.(spec.key, refreshToken);
    const wasUnsaved = this.#held.get(spec.key)?.unsaved === true;
    const held: Held = { grant: { ...previous, ...input, version: previous.version + 1, updatedAt: Date.now() }, unsaved: true };
    this.#held.set(spec.key, held);
    try {
      held.grant = await this.store.save(spec.key, input);
      held.unsaved = false;
      if (wasUnsaved) {
        this.log('info', 'rotated grant stored after an earlier failure', { account: spec.key });
        this.observer.grantPersisted?.(spec.key, true);
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log('error', 'could not store a rotated grant; keeping it in memory and retrying', { account: spec.key, error: message });
      this.observer.grantPersisted?.(spec.key, false, message);
      this.#retryLater(spec.key);
    }
  }

  #retryLater(key: string): void {
    if (this.#retrying.has(key)) return;
    this.#retrying.add(key);
    const timer = setTimeout(async () => {
      this.#retrying.delete(key);
      const held = this.#held.get(key);
      if (!held?.unsaved || !held.grant) return;
      const { provider, refreshToken, scopes, access } = held.grant;
      try {
        held.grant = await this.store.save(key, { provider, refreshToken, scopes, access });
        held.unsaved = false;
        this.log('info', 'rotated grant stored after an earlier failure', { account: key });
        this.observer.grantPersisted?.(key, true);
      } catch {
        this.#retryLater(key);
      }
    }, PERSIST_RETRY_MS);
    timer.unref();
  }
}

function scopesOf(spec: AccountSpec): string[] {
  return spec.provider.type === 'google' ? googleScopes() : microsoftScopes(spec.protocols);
}

function refusal(kind: RefreshFailure['kind'], code: string, message: string, retryAfterMs?: number): RefreshFailure {
  return { kind, code, message, retryAfterMs, now: Date.now() };
}

/**
 * One provider call under the provider's refresh cap: waits for a slot, times
 * the call, reports its outcome, and turns any failure into the machine's
 * RefreshFailure (revoked or transient, with the provider's code).
 */
async function callProvider<T>(limiter: Limiter, signal: AbortSignal, report: Report, call: () => Promise<T>): Promise<T> {
  let release: () => void;
  try {
    release = await limiter.acquire(signal);
  } catch {
    throw refusal('transient', 'cancelled', 'refresh cancelled while waiting for a provider slot');
  }
  const started = performance.now();
  try {
    const outcome = await call();
    report('ok', undefined, performance.now() - started);
    return outcome;
  } catch (error) {
    const ms = performance.now() - started;
    if (error instanceof ProviderError) {
      report(error.kind, error.providerCode, ms);
      throw refusal(error.kind, error.providerCode, error.message, error.retryAfterMs);
    }
    report('transient', 'internal', ms);
    throw refusal('transient', 'internal', error instanceof Error ? error.message : 'refresh failed');
  } finally {
    release();
  }
}
