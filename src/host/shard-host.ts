import type { MessagePort } from 'node:worker_threads';
import { fromPromise } from 'xstate';
import { accountMachine, type KnownToken, type RefreshFailure, type RefreshSuccess } from '../../actors/account.js';
import { answerFor, describeEvent, type AccountState } from '../../actors/answer.js';
import { Redactor, scrubFields } from '../ops/redact.js';
import type { GrantStore } from '../store/index.js';
import { GrantKeeper } from './grant-keeper.js';
import type { AccountSpec, AccountStatus, ActionResult, DrainResult, RemoteRevokeOutcome, TokenResult, WorkerLog } from './messages.js';
import { Outbox } from './outbox.js';
import { fresher, knownTokenOf, parkedFrom, parkedStatus, parkedToken, parkedUpdate, usableAt } from './parked.js';
import { ProviderRegistry } from './provider-registry.js';
import { liveStatus, liveUpdate, sameCredentials, settle, viewOf, waitForAnswer } from './live-account.js';
import { AccountSlots, compactSpec, isLive, type AccountSnapshot, type Live, type Slot } from './slots.js';

export interface ShardHostOptions {
  /** How long a healthy `valid` actor stays live after its last event before it is parked (ms). */
  idleMs?: number;
}

/** Idle actors are parked at most this long after their last event. */
const IDLE_MS = 1_000;
/** Accounts read and started together at a shard's start (one store round for PostgreSQL). */
const START_SLICE = 500;

/**
 * The accounts of one shard, inside one worker thread: the commands the main
 * thread sends them, the provider calls behind their refreshes, and the
 * updates that keep the main thread's token replica current.
 *
 * An idle `valid` account is parked (slots.ts): anything that happens to it
 * (its planned refresh, a request the main thread could not answer, an
 * operator action, a clock jump, a token from a cluster peer) revives its
 * actor first, so every event still goes through the account machine.
 */
export class ShardHost {
  readonly #slots: AccountSlots;
  readonly #outbox: Outbox;
  readonly #grants: GrantKeeper;
  readonly #providers: ProviderRegistry;
  /** This shard's secrets (refresh tokens never reach the main thread): scrubbed from its log records. */
  readonly #redactor = new Redactor();

  constructor(port: MessagePort, store: GrantStore, workers: number, options: ShardHostOptions = {}) {
    this.#outbox = new Outbox(port);
    this.#grants = new GrantKeeper(store, (level, msg, fields) => this.#log(level, msg, fields), {
      // Owned by the key itself (an address, with an `@`; the client secrets' owners have none).
      grantSeen: (key, refreshToken) => this.#redactor.remember(key, refreshToken),
      refreshDone: (report) => this.#outbox.post({ type: 'refresh', ...report }),
      grantPersisted: (key, ok, error) => this.#outbox.post({ type: 'persist', key, ok, ...(error !== undefined && { error: this.#redactor.scrub(error) }) }),
    });
    this.#providers = new ProviderRegistry(workers);
    const machine = accountMachine.provide({
      actors: {
        refresh: fromPromise<RefreshSuccess, { user: string }>(({ input, signal }) => this.#refresh(input.user, signal)),
      },
    });
    this.#slots = new AccountSlots(machine, options.idleMs ?? IDLE_MS, {
      snapshot: (live, snapshot) => this.#publish(live, snapshot),
      actorFailed: (key, error) => this.#log('error', 'account actor failed', { account: key, error: String(error) }),
    });
  }

  /** Brings the shard to exactly `accounts`: new ones start, removed ones stop, changed ones restart. */
  sync(accounts: AccountSpec[], known: Record<string, KnownToken> = {}): Promise<void> {
    return this.#slots.starting((started) => this.#sync(accounts, known, started));
  }

  async #sync(accounts: AccountSpec[], known: Record<string, KnownToken>, started: () => void): Promise<void> {
    for (const spec of accounts) compactSpec(spec);
    const wanted = new Map(accounts.map((spec) => [spec.key, spec]));
    for (const [key, slot] of this.#slots.entries()) {
      if (!wanted.has(key)) this.#stop(slot, true);
    }
    const starting: Array<{ spec: AccountSpec; token?: KnownToken; changed?: boolean }> = [];
    for (const spec of accounts) {
      const current = this.#slots.get(spec.key);
      if (current && JSON.stringify(current.spec) === JSON.stringify(spec)) continue;
      let token: KnownToken | undefined = known[spec.key];
      if (current) {
        if (sameCredentials(current.spec, spec)) token = (isLive(current) ? knownTokenOf(current.actor.getSnapshot()) : parkedToken(current)) ?? token;
        else token = undefined;
        this.#stop(current, false);
      }
      // Changed credentials or scopes: a token obtained with the old ones (held or stored) is not theirs.
      starting.push({ spec, token, changed: current !== undefined && token === undefined });
    }
    // In slices, each started and published as soon as its grants are read: the main thread's
    // replica serves the first accounts of a large shard while the rest are still being read.
    for (let i = 0; i < starting.length; i += START_SLICE) {
      const slice = starting.slice(i, i + START_SLICE);
      // App-only credentials (client credentials, service account) stand in for a grant: nothing to load.
      const withGrant = slice.filter((s) => s.spec.auth === undefined).map((s) => s.spec.key);
      const loaded = await this.#grants.preloadMany(withGrant);
      const hasGrant = new Map(withGrant.map((key, j) => [key, loaded[j]!]));
      for (const { spec, token, changed } of slice) this.#start(spec, token, spec.auth !== undefined || hasGrant.get(spec.key) === true, changed === true);
      this.#outbox.flush();
      started();
    }
    // A shard whose accounts all started parked needs no provider call for most of a token's
    // life: the libraries load at its first refresh (loading them in the background competed
    // with the start's first requests for the CPU). Any other shard (accounts refreshing now, or
    // none yet: a domain template's first request must not wait for them) has them loaded
    // before it reports.
    if (this.#slots.size === 0 || this.liveCount() > 0) await this.#providers.load();
  }

  /** Starts one more account unless it is already there (domain templates, src/templates/). */
  async add(spec: AccountSpec): Promise<void> {
    if (this.#slots.has(spec.key)) return;
    compactSpec(spec);
    const hasGrant = spec.auth !== undefined || (await this.#grants.preload(spec.key));
    if (this.#slots.has(spec.key)) return;
    this.#start(spec, undefined, hasGrant);
  }

  token(key: string, now: number, waitMs: number): Promise<TokenResult> | TokenResult {
    // A parked account's usable token is what its machine would answer, without a transition
    // (`valid` + TOKEN_REQUEST only notes the time): no actor is revived for it. Requests come
    // here rather than from the replica mostly while a start is still loading the shard.
    const slot = this.#slots.get(key);
    const moreStarting = slot === undefined ? this.#slots.moreStarted() : undefined;
    if (moreStarting !== undefined) return moreStarting.then(() => this.token(key, Date.now(), waitMs));
    if (slot && !isLive(slot) && usableAt(slot.token, now)) return { kind: 'token', accessToken: slot.token.accessToken, expiresAt: slot.token.expiresAt };
    const live = this.#slots.live(key, 'TOKEN_REQUEST');
    if (!live) return { kind: 'fail', code: 'unknown-account', message: `${key} is not configured` };
    live.actor.send({ type: 'TOKEN_REQUEST', now });
    const answer = answerFor(viewOf(live.actor.getSnapshot()), now, waitMs);
    if (answer.kind !== 'wait') return answer;
    // The actor is not parked while the request waits on it.
    return this.#slots.hold(live, () => waitForAnswer(live.actor, live.spec.key, waitMs));
  }

  async grant(key: string, refreshToken: string, waitMs: number): Promise<ActionResult> {
    const spec = this.spec(key);
    if (!spec) return unknown(key);
    await this.#grants.replace(spec, refreshToken);
    const live = this.#slots.live(key, 'GRANT');
    if (!live) return unknown(key);
    live.actor.send({ type: 'GRANT', now: Date.now() });
    return this.#slots.hold(live, () => settle(live.actor, waitMs, 'grant stored'));
  }

  async refresh(key: string, waitMs: number): Promise<ActionResult> {
    const live = this.#slots.live(key, 'REFRESH');
    if (!live) return unknown(key);
    // App-only credentials have no grant to import: a refresh of a refused account tries them again
    // (the admin fixed the app registration, consent or key at the provider).
    const retryAppOnly = live.spec.auth !== undefined && live.actor.getSnapshot().value === 'unauthenticated';
    live.actor.send({ type: retryAppOnly ? 'GRANT' : 'REFRESH', now: Date.now() });
    return this.#slots.hold(live, () => settle(live.actor, waitMs, 'refresh requested'));
  }

  /** The spec of an account of this shard (sign-in needs its provider and client). */
  spec(key: string): AccountSpec | undefined {
    return this.#slots.get(key)?.spec;
  }

  /**
   * A sign-in delivered a new grant with an access token: the grant is stored
   * (with the token) first, then the actor takes the token (AUTHORIZED) and is `valid`.
   */
  async authorized(key: string, refreshToken: string, accessToken: string, expiresInMs: number): Promise<AccountState | 'unknown'> {
    const spec = this.spec(key);
    if (!spec) return 'unknown';
    const now = Date.now();
    await this.#grants.replace(spec, refreshToken, { accessToken, expiresAt: now + expiresInMs, lifetimeMs: expiresInMs, refreshedAt: now });
    const live = this.#slots.live(key, 'AUTHORIZED');
    if (!live) return 'unknown';
    live.actor.send({ type: 'AUTHORIZED', now, accessToken, expiresInMs });
    return live.actor.getSnapshot().value as AccountState;
  }

  /**
   * A fresher access token obtained by another daemon of a cluster with the
   * same grant: the account becomes (or stays) `valid` with it and plans its
   * next refresh from it, unless it holds a token that expires later.
   */
  adoptToken(key: string, token: KnownToken): void {
    const live = this.#slots.live(key, 'ADOPT');
    live?.actor.send({ type: 'ADOPT', now: Date.now(), token });
  }

  async revoke(key: string, remote = false): Promise<ActionResult> {
    const spec = this.spec(key);
    if (!spec) return unknown(key);
    let outcome: RemoteRevokeOutcome | undefined;
    let note = '';
    if (remote) {
      const refreshToken = this.#grants.refreshTokenOf(key);
      const revocation = refreshToken
        ? // Loaded when used: it pulls in a provider library a worker otherwise loads only to refresh.
          await (await import('../ops/remote-revoke.js')).revokeAtProvider(spec, refreshToken)
        : { outcome: 'no-grant' as const, message: 'no grant to revoke at the provider' };
      outcome = revocation.outcome;
      note = `; ${revocation.message}`;
      if (outcome === 'failed') {
        // Keeping the grant lets the operator try again; forgetting it would leave it alive at the provider.
        const slot = this.#slots.get(key);
        const state = slot && isLive(slot) ? (slot.actor.getSnapshot().value as AccountState) : 'valid';
        return { ok: false, state, message: `remote revocation failed${note}; the grant is kept`, remote: outcome };
      }
    }
    const removed = await this.#grants.forget(key);
    this.#slots.live(key, 'REVOKE')?.actor.send({ type: 'REVOKE', now: Date.now(), code: 'revoked-by-operator', message: 'grant removed with mailtokend revoke' });
    return { ok: true, state: 'unauthenticated', message: `${removed ? 'grant removed' : 'no grant was stored'}${note}`, remote: outcome };
  }

  /** The wall clock jumped (suspend/resume): every account re-arms its timers, lapsed tokens refresh. */
  wake(now: number): void {
    for (const [key, slot] of this.#slots.entries()) {
      // A parked account whose token and plan still hold needs nothing: the queue re-arms below.
      if (!isLive(slot) && usableAt(parkedToken(slot), now) && slot.dueAt > now) continue;
      this.#slots.live(key, 'WAKE')?.actor.send({ type: 'WAKE', now });
    }
    this.#slots.rearm();
  }

  /**
   * Shutdown: waits (bounded) for refreshes in flight, so a rotated refresh
   * token is stored rather than lost with the process, then stops every actor
   * and stores any grant still held only in memory.
   */
  async drain(timeoutMs: number): Promise<DrainResult> {
    const deadline = Date.now() + timeoutMs;
    const inFlight = () => [...this.#slots.values()].filter((s) => isLive(s) && s.actor.getSnapshot().value === 'refreshing').length;
    while (inFlight() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const refreshing = inFlight();
    this.#slots.stopAll();
    const unsaved = await this.#grants.flush();
    this.#outbox.flush();
    return { refreshing, unsaved };
  }

  status(): AccountStatus[] {
    const rows: AccountStatus[] = [];
    for (const slot of this.#slots.values()) {
      const hasGrant = slot.spec.auth !== undefined || this.#grants.has(slot.spec.key);
      if (!isLive(slot)) {
        rows.push(parkedStatus(slot, hasGrant));
        continue;
      }
      rows.push(liveStatus(slot.spec, slot.actor.getSnapshot(), hasGrant));
    }
    // Cluster (doc/cluster.md): which instance obtained the token the store holds.
    for (const row of rows) {
      const by = this.#grants.storedAccess(row.key)?.refreshedBy;
      if (by !== undefined) row.refreshedBy = by;
    }
    return rows;
  }

  /** How many accounts have a live actor (tests, and the memory benchmark's explanation). */
  liveCount(): number {
    return this.#slots.liveCount();
  }

  #start(spec: AccountSpec, token: KnownToken | undefined, hasGrant: boolean, ignoreStored = false): void {
    // One owner per client, not per account: thousands of accounts share a handful of secrets.
    this.#redactor.remember(`client:${spec.provider.name}/${spec.clientId}`, spec.clientSecret, 1);
    const known = fresher(token, spec.auth === undefined && !ignoreStored ? this.#grants.storedAccess(spec.key) : undefined);
    const now = Date.now();
    if (usableAt(known, now)) {
      // The machine's `starting` state would pass straight to `valid` (its tokenUsableNow guard,
      // the same function): the account starts parked, as that actor would be once idle.
      const parked = parkedFrom(spec, known);
      this.#slots.park(parked);
      this.#outbox.post(parkedUpdate(parked, undefined, 'start', now));
      return;
    }
    this.#slots.spawn(spec, { hasGrant, token: known });
  }

  #stop(slot: Slot, removed: boolean): void {
    this.#slots.remove(slot);
    if (removed) {
      this.#outbox.post({ type: 'removed', key: slot.spec.key });
      this.#redactor.forget(slot.spec.key);
    }
  }

  async #refresh(key: string, signal: AbortSignal): Promise<RefreshSuccess> {
    const spec = this.spec(key);
    if (!spec) throw { kind: 'transient', code: 'removed', message: 'account was removed', now: Date.now() } satisfies RefreshFailure;
    return this.#grants.refreshWith(spec, signal, this.#providers);
  }

  /** Publishes only visible changes: state, token or a new error. */
  #publish(live: Live, snapshot: AccountSnapshot): void {
    const state = snapshot.value as AccountState | 'starting';
    if (state === 'starting') return;
    const { context } = snapshot;
    const before = live.published;
    if (before.state === state && before.token === context.accessToken && before.errorAt === context.lastError?.at) return;
    live.published = { state, token: context.accessToken, errorAt: context.lastError?.at };
    this.#outbox.post(liveUpdate(live.spec, state, context, before.state, describeEvent(live.lastEvent)));
  }

  #log(level: WorkerLog['level'], msg: string, fields: WorkerLog['fields']): void {
    this.#outbox.post({ type: 'log', level, msg: this.#redactor.scrub(msg), fields: scrubFields(this.#redactor, fields) });
  }
}

function unknown(key: string): ActionResult {
  return { ok: false, state: 'unknown', message: `${key} is not configured` };
}
