/** The PostgreSQL grant store for several daemons sharing accounts. See doc/cluster.md. */
export { openPgStore, PgGrantStore, GRANTS_CHANNEL, type ClusterRow, type GrantVersion, type PgStoreOptions } from './store.js';
export { GrantListener, parseChange, type GrantChange, type ListenerEvents } from './listener.js';
export { Leases } from './leases.js';
export { MIGRATIONS, SCHEMA_VERSION, migrate } from './migrations.js';
export { isUnreachable, storeErrorOf, type PgConnection } from './connect.js';
