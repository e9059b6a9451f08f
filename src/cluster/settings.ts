/** What a worker thread needs to join the cluster (piscina workerData; the URL may hold a password). */
export interface ClusterSettings {
  url: string;
  instance: string;
  leaseMs: number;
}

/** Connections each worker's pool may open; the LISTEN connection comes on top. */
export const WORKER_POOL_SIZE = 4;
