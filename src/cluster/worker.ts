/**
 * The worker thread's side of a cluster: its own connection pool (grants,
 * leases) and its own LISTEN connection, both opened when the worker opens
 * its store. The main thread migrated the schema and checked the key before
 * any worker started.
 */
import { openFileStore, type GrantStore } from '../store/index.js';
import { openPgStore } from '../store/postgres/store.js';
import { PeerSync, type PeerTarget } from './peer-sync.js';
import { clusterOf } from './runtime.js';
import { WORKER_POOL_SIZE, type ClusterSettings } from './settings.js';

export interface StoreSettings {
  storeDir: string;
  storeKey: Uint8Array;
  cluster?: ClusterSettings;
}

/** The store the config names: the embedded file store, or this worker's handle on PostgreSQL. */
export function openWorkerStore(settings: StoreSettings): Promise<GrantStore> {
  const key = Buffer.from(settings.storeKey);
  const cluster = settings.cluster;
  if (!cluster) return openFileStore({ dir: settings.storeDir, key });
  return openPgStore({ url: cluster.url, max: WORKER_POOL_SIZE, key, instance: cluster.instance, leaseMs: cluster.leaseMs });
}

/** Starts listening for peers' changes to this shard's accounts; nothing for the file store. */
export function joinCluster(store: GrantStore, host: PeerTarget, settings: StoreSettings): PeerSync | undefined {
  const runtime = clusterOf(store);
  if (!runtime || !settings.cluster) return undefined;
  const sync = new PeerSync(runtime, host, { url: settings.cluster.url }, (level, msg, fields) => runtime.log(level, msg, fields));
  sync.start();
  return sync;
}
