import type { MessagePort } from 'node:worker_threads';
import { createActor, fromPromise, type Actor, type SnapshotFrom } from 'xstate';
import { accountMachine, type KnownToken, type RefreshFailure, type RefreshSuccess } from '../../actors/account.js';
import { answerAfterChange, answerFor, describeEvent, usableUntil, type AccountState, type AccountView } from '../../actors/answer.js';
import { Redactor, scrubFields } from '../ops/redact.js';
import { revokeAtProvider } from '../ops/remote-revoke.js';
import type { GrantStore } from '../store/index.js';
import { GrantKeeper } from './grant-keeper.js';
import type { AccountSpec, AccountStatus, ActionResult, DrainResult, HostMessage, RemoteRevokeOutcome, TokenResult, WorkerLog } from './messages.js';
import { ProviderRegistry } from './provider-registry.js';

type AccountMachine = typeof accountMachine;
type AccountSnapshot = SnapshotFrom<AccountMachine>;

interface Entry {
  spec: AccountSpec;
  actor: Actor<AccountMachine>;
  published: { state?: AccountState; token?: string; errorAt?: number };
  lastEvent?: string;
}

function viewOf(snapshot: AccountSnapshot): AccountView {
  return { state: snapshot.value as AccountState, context: snapshot.context };
}

/** Whether two specs may share a token: same identity, client and scopes. */
function sameCredentials(a: AccountSpec, b: AccountSpec): boolean {
  const pick = (s: AccountSpec) =>
    JSON.stringify([s.user, s.loginAs, s.provider, s.clientId, s.clientSecret, s.tenant, [...s.protocols].sort()]);
  return pick(a) === pick(b);
}

/**
 * The accounts of one shard, inside one worker thread: their actors, the
 * provider calls behind their refreshes, and the updates that keep the main
 * thread's token replica current.
 */
export class ShardHost {
  readonly #entries = new Map<string, Entry>();
  readonly #port: MessagePort;
  readonly #grants: GrantKeeper;
  readonly #providers: ProviderRegistry;
  readonly #machine: AccountMachine;
  /** This shard's secrets (refresh tokens never reach the main thread): scrubbed from its log records. */
  readonly #redactor = new Redactor();

  constructor(port: MessagePort, store: GrantStore, workers: number) {
    this.#port = port;
    this.#grants = new GrantKeeper(store, (level, msg, fields) => this.#log(level, msg, fields), {
      grantSeen: (key, refreshToken) => this.#redactor.remember(`refresh:${key}`, refreshToken),
      refreshDone: (report) => this.#post({ type: 'refresh', ...report }),
    });
    this.#providers = new ProviderRegistry(workers);
    this.#machine = accountMachine.provide({
      actors: {
        refresh: fromPromise<RefreshSuccess, { user: string }>(({ input, signal }) => this.#refresh(input.user, signal)),
      },
    });
  }

  /** Brings the shard to exactly `accounts`: new ones start, removed ones stop, changed ones restart. */
  async sync(accounts: AccountSpec[], known: Record<string, KnownToken> = {}): Promise<void> {
    const wanted = new Map(accounts.map((spec) => [spec.key, spec]));
    for (const [key, entry] of this.#entries) {
      if (!wanted.has(key)) this.#stop(entry, true);
    }
    const starting: Array<Promise<void>> = [];
    for (const spec of accounts) {
      const current = this.#entries.get(spec.key);
      if (current && JSON.stringify(current.spec) === JSON.stringify(spec)) continue;
      let token: KnownToken | undefined = known[spec.key];
      if (current) {
        if (sameCredentials(current.spec, spec)) token = knownTokenOf(current.actor.getSnapshot()) ?? token;
        else token = undefined;
        this.#stop(current, false);
      }
      starting.push(this.#start(spec, token));
    }
    await Promise.all(starting);
  }

  /** Starts one more account unless it is already there (domain templates, src/templates/). */
  async add(spec: AccountSpec): Promise<void> {
    if (this.#entries.has(spec.key)) return;
    await this.#start(spec, undefined);
  }

  token(key: string, now: number, waitMs: number): Promise<TokenResult> | TokenResult {
    const entry = this.#entries.get(key);
    if (!entry) return { kind: 'fail', code: 'unknown-account', message: `${key} is not configured` };
    entry.actor.send({ type: 'TOKEN_REQUEST', now });
    const answer = answerFor(viewOf(entry.actor.getSnapshot()), now, waitMs);
    if (answer.kind !== 'wait') return answer;
    return this.#waitForAnswer(entry, waitMs);
  }

  async grant(key: string, refreshToken: string, waitMs: number): Promise<ActionResult> {
    const entry = this.#entries.get(key);
    if (!entry) return unknown(key);
    await this.#grants.replace(entry.spec, refreshToken);
    entry.actor.send({ type: 'GRANT', now: Date.now() });
    return this.#settle(entry, waitMs, 'grant stored');
  }

  async refresh(key: string, waitMs: number): Promise<ActionResult> {
    const entry = this.#entries.get(key);
    if (!entry) return unknown(key);
    // App-only credentials have no grant to import: a refresh of a refused account tries them again
    // (the admin fixed the app registration, consent or key at the provider).
    const retryAppOnly = entry.spec.auth !== undefined && entry.actor.getSnapshot().value === 'unauthenticated';
    entry.actor.send({ type: retryAppOnly ? 'GRANT' : 'REFRESH', now: Date.now() });
    return this.#settle(entry, waitMs, 'refresh requested');
  }

  /** The spec of an account of this shard (sign-in needs its provider and client). */
  spec(key: string): AccountSpec | undefined {
    return this.#entries.get(key)?.spec;
  }

  /**
   * A sign-in delivered a new grant with an access token: the grant is stored
   * first, then the actor takes the token (AUTHORIZED) and is `valid`.
   */
  async authorized(key: string, refreshToken: string, accessToken: string, expiresInMs: number): Promise<AccountState | 'unknown'> {
    const entry = this.#entries.get(key);
    if (!entry) return 'unknown';
    await this.#grants.replace(entry.spec, refreshToken);
    entry.actor.send({ type: 'AUTHORIZED', now: Date.now(), accessToken, expiresInMs });
    return entry.actor.getSnapshot().value as AccountState;
  }

  async revoke(key: string, remote = false): Promise<ActionResult> {
    const entry = this.#entries.get(key);
    if (!entry) return unknown(key);
    let outcome: RemoteRevokeOutcome | undefined;
    let note = '';
    if (remote) {
      const refreshToken = this.#grants.refreshTokenOf(key);
      const revocation = refreshToken
        ? await revokeAtProvider(entry.spec, refreshToken)
        : { outcome: 'no-grant' as const, message: 'no grant to revoke at the provider' };
      outcome = revocation.outcome;
      note = `; ${revocation.message}`;
      if (outcome === 'failed') {
        // Keeping the grant lets the operator try again; forgetting it would leave it alive at the provider.
        const state = entry.actor.getSnapshot().value as AccountState;
        return { ok: false, state, message: `remote revocation failed${note}; the grant is kept`, remote: outcome };
      }
    }
    const removed = await this.#grants.forget(key);
    entry.actor.send({ type: 'REVOKE', now: Date.now(), code: 'revoked-by-operator', message: 'grant removed with mailtokend revoke' });
    return { ok: true, state: 'unauthenticated', message: `${removed ? 'grant removed' : 'no grant was stored'}${note}`, remote: outcome };
  }

  /** The wall clock jumped (suspend/resume): every account re-arms its timers, lapsed tokens refresh. */
  wake(now: number): void {
    for (const entry of this.#entries.values()) entry.actor.send({ type: 'WAKE', now });
  }

  /**
   * Shutdown: waits (bounded) for refreshes in flight, so a rotated refresh
   * token is stored rather than lost with the process, then stops every actor
   * and stores any grant still held only in memory.
   */
  async drain(timeoutMs: number): Promise<DrainResult> {
    const deadline = Date.now() + timeoutMs;
    const inFlight = () => [...this.#entries.values()].filter((e) => e.actor.getSnapshot().value === 'refreshing').length;
    while (inFlight() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const refreshing = inFlight();
    for (const entry of this.#entries.values()) entry.actor.stop();
    const unsaved = await this.#grants.flush();
    return { refreshing, unsaved };
  }

  status(): AccountStatus[] {
    const rows: AccountStatus[] = [];
    for (const entry of this.#entries.values()) {
      const { context } = entry.actor.getSnapshot();
      rows.push({
        user: entry.spec.user,
        key: entry.spec.key,
        provider: entry.spec.provider.name,
        state: entry.actor.getSnapshot().value as AccountState,
        expiresAt: context.expiresAt,
        lastRefreshAt: context.lastRefreshAt,
        failures: context.failures,
        retryAt: context.retryAt,
        lastError: context.lastError,
        hasGrant: entry.spec.auth !== undefined || this.#grants.has(entry.spec.key),
      });
    }
    return rows;
  }

  async #start(spec: AccountSpec, token: KnownToken | undefined): Promise<void> {
    // App-only credentials (client credentials, service account) stand in for a grant: nothing to load.
    const hasGrant = spec.auth !== undefined || (await this.#grants.preload(spec.key));
    this.#redactor.remember(`client:${spec.key}`, spec.clientSecret, 1);
    const entry: Entry = { spec, published: {} } as Entry;
    entry.actor = createActor(this.#machine, {
      input: { user: spec.key, refreshAheadMs: spec.refreshAheadMs, hasGrant, now: Date.now(), token },
      inspect: (event) => {
        if (event.type === '@xstate.event' && event.actorRef === entry.actor) entry.lastEvent = event.event.type;
      },
    });
    this.#entries.set(spec.key, entry);
    entry.actor.subscribe({
      next: (snapshot) => this.#publish(entry, snapshot),
      error: (error) => this.#log('error', 'account actor failed', { account: spec.key, error: String(error) }),
    });
    entry.actor.start();
    this.#publish(entry, entry.actor.getSnapshot());
  }

  #stop(entry: Entry, removed: boolean): void {
    entry.actor.stop();
    this.#entries.delete(entry.spec.key);
    if (removed) {
      this.#post({ type: 'removed', key: entry.spec.key });
      for (const kind of ['access', 'refresh', 'client']) this.#redactor.forget(`${kind}:${entry.spec.key}`);
    }
  }

  async #refresh(key: string, signal: AbortSignal): Promise<RefreshSuccess> {
    const entry = this.#entries.get(key);
    if (!entry) throw { kind: 'transient', code: 'removed', message: 'account was removed', now: Date.now() } satisfies RefreshFailure;
    return this.#grants.refreshWith(entry.spec, signal, this.#providers);
  }

  /** Publishes only visible changes: state, token or a new error. */
  #publish(entry: Entry, snapshot: AccountSnapshot): void {
    const state = snapshot.value as AccountState | 'starting';
    if (state === 'starting') return;
    const { context } = snapshot;
    const before = entry.published;
    if (before.state === state && before.token === context.accessToken && before.errorAt === context.lastError?.at) return;
    entry.published = { state, token: context.accessToken, errorAt: context.lastError?.at };
    this.#redactor.remember(`access:${entry.spec.key}`, context.accessToken);
    this.#post({
      type: 'account',
      key: entry.spec.key,
      user: entry.spec.user,
      provider: entry.spec.provider.name,
      state,
      from: before.state,
      cause: describeEvent(entry.lastEvent),
      accessToken: context.accessToken,
      expiresAt: context.expiresAt,
      usableUntil: usableUntil(context),
      lifetimeMs: context.lifetimeMs,
      lastRefreshAt: context.lastRefreshAt,
      lastError: context.lastError,
      retryAt: context.retryAt,
      at: Date.now(),
    });
  }

  /** Waits for the account to change state (or token), then answers once. */
  #waitForAnswer(entry: Entry, waitMs: number): Promise<TokenResult> {
    const start = entry.actor.getSnapshot();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        subscription.unsubscribe();
        const why = start.context.lastError ? ` (last error ${start.context.lastError.code})` : '';
        resolve({ kind: 'fail', code: 'temporarily-unavailable', message: `no token for ${entry.spec.key} within ${waitMs} ms${why}` });
      }, waitMs);
      const subscription = entry.actor.subscribe((snapshot) => {
        if (snapshot.value === start.value && snapshot.context.accessToken === start.context.accessToken) return;
        const answer = answerAfterChange(viewOf(snapshot), Date.now());
        if (answer.kind === 'wait') return;
        clearTimeout(timer);
        subscription.unsubscribe();
        resolve(answer);
      });
    });
  }

  /** Waits (bounded) until an operator action has played out, then reports the state. */
  #settle(entry: Entry, waitMs: number, what: string): Promise<ActionResult> {
    return new Promise((resolve) => {
      const report = (): ActionResult => {
        const snapshot = entry.actor.getSnapshot();
        const state = snapshot.value as AccountState;
        const error = snapshot.context.lastError;
        const ok = state === 'valid' && snapshot.context.failures === 0;
        return { ok, state, message: ok ? `${what}; token refreshed` : `${what}; account is ${state}`, error };
      };
      if (entry.actor.getSnapshot().value !== 'refreshing') return resolve(report());
      const timer = setTimeout(() => {
        subscription.unsubscribe();
        resolve(report());
      }, waitMs);
      const subscription = entry.actor.subscribe((snapshot) => {
        if (snapshot.value === 'refreshing') return;
        clearTimeout(timer);
        subscription.unsubscribe();
        resolve(report());
      });
    });
  }

  #post(message: HostMessage): void {
    this.#port.postMessage(message);
  }

  #log(level: WorkerLog['level'], msg: string, fields: WorkerLog['fields']): void {
    this.#post({ type: 'log', level, msg: this.#redactor.scrub(msg), fields: scrubFields(this.#redactor, fields) });
  }
}

function knownTokenOf(snapshot: AccountSnapshot): KnownToken | undefined {
  const c = snapshot.context;
  if (!c.accessToken || c.expiresAt === undefined || c.lifetimeMs === undefined || c.lastRefreshAt === undefined) return undefined;
  return { accessToken: c.accessToken, expiresAt: c.expiresAt, lifetimeMs: c.lifetimeMs, refreshedAt: c.lastRefreshAt };
}

function unknown(key: string): ActionResult {
  return { ok: false, state: 'unknown', message: `${key} is not configured` };
}
