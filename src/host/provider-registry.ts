import type { ProviderConfig } from '../config/types.js';
import { createProvider, type ProviderClient } from '../providers/index.js';
import { Limiter } from './limiter.js';

interface Registered {
  fingerprint: string;
  client: ProviderClient;
  limiter: Limiter;
}

/**
 * One provider client and one refresh limiter per provider section in this
 * worker. The daemon-wide cap is split evenly over the workers, so the sum
 * never exceeds `max_concurrent_refreshes` without any cross-thread locking.
 */
export class ProviderRegistry {
  readonly #byName = new Map<string, Registered>();

  constructor(readonly workers: number) {}

  get(config: ProviderConfig): Registered {
    const fingerprint = JSON.stringify(config);
    const current = this.#byName.get(config.name);
    if (current && current.fingerprint === fingerprint) return current;
    const perWorker = Math.max(1, Math.floor(config.maxConcurrentRefreshes / this.workers));
    const registered = { fingerprint, client: createProvider(config), limiter: new Limiter(perWorker) };
    this.#byName.set(config.name, registered);
    return registered;
  }
}
