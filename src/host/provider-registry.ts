import type { ProviderConfig } from '../config/types.js';
import type { ProviderClient } from '../providers/types.js';
import { Limiter } from './limiter.js';

interface Registered {
  fingerprint: string;
  client: ProviderClient;
  limiter: Limiter;
}

/**
 * A client that loads the provider libraries (msal-node, google-auth-library)
 * on its first call: a worker that starts from stored access tokens needs
 * none of them, and loading them costs more than the rest of its start.
 */
let providers: Promise<typeof import('../providers/index.js')> | undefined;
const loadProviders = () => (providers ??= import('../providers/index.js'));

function lazyClient(config: ProviderConfig): ProviderClient {
  let real: Promise<ProviderClient> | undefined;
  const load = (): Promise<ProviderClient> => (real ??= loadProviders().then((m) => m.createProvider(config)));
  return {
    type: config.type,
    refresh: async (account, refreshToken, signal) => (await load()).refresh(account, refreshToken, signal),
    acquireAppOnly: async (account, signal) => {
      const client = await load();
      if (!client.acquireAppOnly) throw new TypeError(`provider ${config.name} has no app-only credentials`);
      return client.acquireAppOnly(account, signal);
    },
  };
}

/**
 * One provider client and one refresh limiter per provider section in this
 * worker. The daemon-wide cap is split evenly over the workers, so the sum
 * never exceeds `max_concurrent_refreshes` without any cross-thread locking.
 */
export class ProviderRegistry {
  readonly #byName = new Map<string, Registered>();

  constructor(readonly workers: number) {}

  /** Loads the provider libraries now (a failure shows at the first provider call instead). */
  async load(): Promise<void> {
    await loadProviders().catch(() => undefined);
  }

  get(config: ProviderConfig): Registered {
    const fingerprint = JSON.stringify(config);
    const current = this.#byName.get(config.name);
    if (current && current.fingerprint === fingerprint) return current;
    const perWorker = Math.max(1, Math.floor(config.maxConcurrentRefreshes / this.workers));
    const registered = { fingerprint, client: lazyClient(config), limiter: new Limiter(perWorker) };
    this.#byName.set(config.name, registered);
    return registered;
  }
}
