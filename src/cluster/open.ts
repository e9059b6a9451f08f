import type { Config } from '../config/types.js';
import { openFileStore, type GrantStore } from '../store/index.js';
import { openPgStore } from '../store/postgres/store.js';

/**
 * The store the config names, for commands that run without the daemon
 * (`mailtokend import` while it is stopped): the file store, or PostgreSQL
 * (schema created or migrated, key checked, as the daemon does at start).
 */
export function openConfiguredStore(config: Config, key: Buffer): Promise<GrantStore> {
  const store = config.store;
  if (store.backend !== 'postgres') return openFileStore({ dir: config.stateDir, key });
  return openPgStore({ url: store.url, max: 1, key, instance: store.instance, leaseMs: store.leaseMs, migrate: true });
}

/** Where grants go, for messages (never the URL: it may hold a password). */
export function storeDescription(config: Config): string {
  return config.store.backend === 'postgres' ? `PostgreSQL (${config.store.urlSource})` : config.stateDir;
}
