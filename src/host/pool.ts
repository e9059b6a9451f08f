import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { KnownToken } from '../../actors/account.js';
import { MailtokendError } from '../errors.js';
import type { AccountSpec, AccountStatus, ActionResult, DrainResult, HostMessage, HostTask, SignInTask, TokenResult, WorkerSettings } from './messages.js';
import { shardOf } from './shard.js';

interface PiscinaWorkerLike {
  id: number;
  terminating: boolean;
  destroyed: boolean;
}

export interface PoolOptions {
  workers: number;
  settings: Omit<WorkerSettings, 'workers'>;
  accounts: AccountSpec[];
  onMessage(message: HostMessage): void;
  /** Tokens the main thread still holds for a shard, handed to a replacement worker. */
  knownTokens(keys: string[]): Record<string, KnownToken>;
  onWorkerLost(shard: number, reason: string): void;
  onWorkerRestored(shard: number, ms: number): void;
}

/** New-space size of each worker (see the constructor); measured in doc/benchmarks.md (memory). */
const WORKER_YOUNG_GENERATION_MB = 4;

type Routed<T extends HostTask> = T & { [key: symbol]: { shard: number } };

/**
 * The main thread's handle on the worker pool. Each worker holds one shard;
 * piscina's load balancer sends every task to the worker of its shard, and a
 * worker that dies is replaced and re-attached with the same accounts.
 */
export class AccountPool {
  readonly #piscina: Piscina<HostTask, unknown>;
  readonly #options: PoolOptions;
  readonly #workerOfShard = new Map<number, number>();
  readonly #shardOfWorker = new Map<number, number>();
  readonly #lostAt = new Map<number, number>();
  readonly #attaching = new Map<number, Promise<void>>();
  #accounts: AccountSpec[];
  #closing = false;
  #allLoaded: Promise<void> | undefined;

  private constructor(options: PoolOptions) {
    this.#options = options;
    this.#accounts = options.accounts;
    this.#piscina = new Piscina<HostTask, unknown>({
      filename: new URL('./worker.js', import.meta.url).href,
      minThreads: options.workers,
      maxThreads: options.workers,
      idleTimeout: Infinity,
      // The default parks idle workers in Atomics.wait, and account timers would never fire.
      atomics: 'disabled',
      concurrentTasksPerWorker: 1_000_000,
      // A worker's new space grows to tens of MiB during the burst of a start and stays committed;
      // what survives there is small (accounts are long-lived records), so a small one costs little.
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      workerData: { ...options.settings, workers: options.workers } satisfies WorkerSettings,
      loadBalancer: (task, workers) =>
        this.#balance(task as unknown as Record<symbol, unknown>, workers) as (typeof workers)[number] | null,
    });
    this.#piscina.on('workerCreate', (worker: PiscinaWorkerLike) => this.#onWorkerCreate(worker));
    this.#piscina.on('workerDestroy', (worker: PiscinaWorkerLike) => this.#onWorkerDestroy(worker));
    this.#piscina.on('error', (error: unknown) => {
      if (!this.#closing) this.#options.onWorkerLost(-1, error instanceof Error ? error.message : String(error));
    });
  }

  /**
   * Starts the worker threads and returns at once: tasks sent before a shard
   * has loaded its accounts wait in the queue (and in the worker) for it, so
   * the MTA sockets can be bound while the shards load. `attached()` tells
   * when every shard holds its accounts.
   */
  static open(options: PoolOptions): AccountPool {
    return new AccountPool(options);
  }

  /** Resolves when every shard has loaded its accounts; rejects if the workers cannot start. */
  attached(): Promise<void> {
    this.#allLoaded ??= this.#allAttached();
    return this.#allLoaded;
  }

  get workers(): number {
    return this.#options.workers;
  }

  shardOf(key: string): number {
    return shardOf(key, this.#options.workers);
  }

  /**
   * Adds one account (a domain template's, on its first request) to its shard
   * without touching the others; it survives a worker restart. The caller
   * makes sure one key is added once at a time (src/templates/).
   */
  async add(spec: AccountSpec): Promise<void> {
    if (!this.#accounts.some((a) => a.key === spec.key)) this.#accounts = [...this.#accounts, spec];
    await this.#run({ op: 'add', shard: this.shardOf(spec.key), account: spec }, this.shardOf(spec.key));
  }

  token(key: string, waitMs: number): Promise<TokenResult> {
    return this.#run({ op: 'token', key, now: Date.now(), waitMs }, this.shardOf(key)) as Promise<TokenResult>;
  }

  grant(key: string, refreshToken: string, waitMs: number): Promise<ActionResult> {
    return this.#run({ op: 'grant', key, refreshToken, waitMs }, this.shardOf(key)) as Promise<ActionResult>;
  }

  refresh(key: string, waitMs: number): Promise<ActionResult> {
    return this.#run({ op: 'refresh', key, waitMs }, this.shardOf(key)) as Promise<ActionResult>;
  }

  /** Forgets the grant; with `remote`, first revokes it at the provider where it can (ops). */
  revoke(key: string, remote = false): Promise<ActionResult> {
    return this.#run({ op: 'revoke', key, remote }, this.shardOf(key)) as Promise<ActionResult>;
  }

  /** The wall clock jumped: every account of every shard re-arms its timers at `now` (ops). */
  async wake(now: number): Promise<void> {
    const shards = [...Array(this.#options.workers).keys()];
    await Promise.all(shards.map((shard) => this.#run({ op: 'wake', shard, now }, shard)));
  }

  /**
   * Shutdown: every shard lets its refreshes in flight finish (bounded), stops
   * its accounts and stores grants held only in memory. A shard that does not
   * answer in time is counted as still refreshing.
   */
  async drain(timeoutMs: number): Promise<DrainResult> {
    const shards = [...Array(this.#options.workers).keys()];
    const late: DrainResult = { refreshing: 1, unsaved: 0 };
    const parts = await Promise.all(
      shards.map((shard) =>
        Promise.race([
          (this.#run({ op: 'drain', shard, timeoutMs }, shard) as Promise<DrainResult>).catch(() => late),
          new Promise<DrainResult>((resolve) => setTimeout(resolve, timeoutMs + 2_000, late).unref()),
        ]),
      ),
    );
    return parts.reduce((sum, p) => ({ refreshing: sum.refreshing + p.refreshing, unsaved: sum.unsaved + p.unsaved }), { refreshing: 0, unsaved: 0 });
  }

  /** A sign-in step (src/signin/), run in the worker that holds the account; the caller knows the answer's type by `op`. */
  signIn(task: SignInTask): Promise<unknown> {
    return this.#run(task, this.shardOf(task.key));
  }

  async status(): Promise<AccountStatus[]> {
    const shards = [...Array(this.#options.workers).keys()];
    const parts = await Promise.all(shards.map((shard) => this.#run({ op: 'status', shard }, shard) as Promise<AccountStatus[]>));
    return parts.flat();
  }

  /** Applies a new account list (reload): each shard gets exactly its accounts. */
  async sync(accounts: AccountSpec[]): Promise<void> {
    this.#accounts = accounts;
    const shards = [...Array(this.#options.workers).keys()];
    await Promise.all(shards.map((shard) => this.#run({ op: 'sync', shard, accounts: this.#accountsOf(shard) }, shard)));
  }

  /** Test hook: ends one worker thread as a crash would. */
  async crash(shard: number): Promise<void> {
    await this.#run({ op: 'crash', shard }, shard);
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#piscina.destroy();
  }

  #run(task: HostTask, shard: number): Promise<unknown> {
    const routed = { ...task, [Piscina.queueOptionsSymbol]: { shard } } as Routed<HostTask>;
    return this.#piscina.run(routed);
  }

  #balance<W extends PiscinaWorkerLike>(task: Record<symbol, unknown>, workers: W[]): W | null {
    const route = task[Piscina.queueOptionsSymbol] as { shard?: number } | null | undefined;
    const id = route?.shard === undefined ? undefined : this.#workerOfShard.get(route.shard);
    if (id === undefined) return null;
    return workers.find((w) => w.id === id && !w.terminating && !w.destroyed) ?? null;
  }

  #accountsOf(shard: number): AccountSpec[] {
    return this.#accounts.filter((spec) => this.shardOf(spec.key) === shard);
  }

  #onWorkerCreate(worker: PiscinaWorkerLike): void {
    if (this.#closing) return;
    let shard = 0;
    while (this.#workerOfShard.has(shard)) shard++;
    if (shard >= this.#options.workers) return;
    this.#workerOfShard.set(shard, worker.id);
    this.#shardOfWorker.set(worker.id, shard);
    const accounts = this.#accountsOf(shard);
    const { port1, port2 } = new MessageChannel();
    // A shard posts its messages in batches (one per turn of its event loop).
    port1.on('message', (batch: HostMessage[]) => {
      for (const message of batch) this.#options.onMessage(message);
    });
    port1.unref();
    const known = this.#options.knownTokens(accounts.map((a) => a.key));
    const attach = this.#piscina
      .run({ op: 'attach', shard, port: port2, accounts, known, [Piscina.queueOptionsSymbol]: { shard } } as Routed<HostTask>, {
        transferList: [port2],
      })
      .then(() => {
        const lostAt = this.#lostAt.get(shard);
        if (lostAt !== undefined) {
          this.#lostAt.delete(shard);
          this.#options.onWorkerRestored(shard, Date.now() - lostAt);
        }
      });
    this.#attaching.set(shard, attach);
    attach.catch(() => undefined);
  }

  #onWorkerDestroy(worker: PiscinaWorkerLike): void {
    // piscina's `id` is the thread's threadId, which Node sets to -1 once the
    // thread has exited: a crashed worker is found as the shard whose thread
    // is no longer among the pool's threads.
    const shard = this.#shardOfWorker.get(worker.id) ?? this.#shardWithoutThread();
    if (shard === undefined) return;
    const id = this.#workerOfShard.get(shard);
    if (id !== undefined) this.#shardOfWorker.delete(id);
    this.#workerOfShard.delete(shard);
    if (this.#closing) return;
    this.#lostAt.set(shard, Date.now());
    this.#options.onWorkerLost(shard, 'worker thread exited');
  }

  #shardWithoutThread(): number | undefined {
    const live = new Set(this.#piscina.threads.map((t) => t.threadId));
    for (const [shard, id] of this.#workerOfShard) if (!live.has(id)) return shard;
    return undefined;
  }

  async #allAttached(): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (this.#attaching.size < this.#options.workers) {
      if (Date.now() > deadline) throw new MailtokendError('worker-start', 'worker threads did not start within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(this.#attaching.values());
  }
}
