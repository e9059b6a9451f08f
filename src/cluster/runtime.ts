import type { WorkerLog } from '../host/messages.js';
import type { GrantStore, StoredGrant } from '../store/index.js';
import { PgGrantStore } from '../store/postgres/store.js';

/**
 * What the refresh path and the peer listener of one worker share: the
 * PostgreSQL store and a way to wait for a peer's change to one account.
 * One per store object, found from the store so the grant keeper needs no
 * new constructor argument.
 */
export class ClusterRuntime {
  readonly #waiters = new Map<string, Set<(changed: boolean) => void>>();
  /**
   * refreshedAt of the access token this worker's refresh path last returned
   * to each account's actor (a token offered by peer sync may have been
   * declined, so it does not count).
   */
  readonly served = new Map<string, number>();
  /** False while the database cannot be reached (as seen by this worker's last query). */
  reachable = true;
  /** The shard's logger (set by the grant keeper, which has it): records are scrubbed and sent to the main thread. */
  log: (level: WorkerLog['level'], msg: string, fields: WorkerLog['fields']) => void = () => undefined;
  /** Tells the grant keeper about a grant another instance wrote (undefined: removed). */
  grantChanged: (key: string, grant: StoredGrant | undefined) => void = () => undefined;

  constructor(readonly store: PgGrantStore) {}

  /** A peer wrote the grant of `key`: wake whoever waits for it. */
  changed(key: string): void {
    const waiting = this.#waiters.get(key);
    if (!waiting) return;
    this.#waiters.delete(key);
    for (const wake of waiting) wake(true);
  }

  /** True on the next change of `key`; false after `ms` or when `signal` aborts, whichever comes first. */
  waitForChange(key: string, ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let set = this.#waiters.get(key);
      if (!set) this.#waiters.set(key, (set = new Set()));
      const done = (changed: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', quiet);
        set!.delete(done);
        if (set!.size === 0 && this.#waiters.get(key) === set) this.#waiters.delete(key);
        resolve(changed);
      };
      const quiet = () => done(false);
      const timer = setTimeout(quiet, ms);
      signal.addEventListener('abort', quiet, { once: true });
      set.add(done);
    });
  }
}

const runtimes = new WeakMap<GrantStore, ClusterRuntime>();

/** The cluster runtime of `store`, or undefined for the embedded file store (one daemon, no leases). */
export function clusterOf(store: GrantStore): ClusterRuntime | undefined {
  if (!(store instanceof PgGrantStore)) return undefined;
  let runtime = runtimes.get(store);
  if (!runtime) runtimes.set(store, (runtime = new ClusterRuntime(store)));
  return runtime;
}
