import { workerData } from 'piscina';
import { openFileStore, type GrantStore } from '../store/index.js';
import type { ActionResult, AccountStatus, HostTask, TokenResult, WorkerSettings } from './messages.js';
import { ShardHost } from './shard-host.js';

/**
 * The piscina worker module. Module state lives as long as the thread: one
 * shard host, attached once by the main thread. A replacement thread starts
 * empty and is attached again with the accounts (and tokens) it must hold.
 */
const settings = workerData as WorkerSettings;
let store: Promise<GrantStore> | undefined;
let host: Promise<ShardHost> | undefined;

function openStore(): Promise<GrantStore> {
  store ??= openFileStore({ dir: settings.storeDir, key: Buffer.from(settings.storeKey) });
  return store;
}

/** Tasks that arrive while the shard is still loading wait for it. */
function attached(): Promise<ShardHost> {
  if (!host) throw new Error('worker not attached to a shard yet');
  return host;
}

export default async function handle(task: HostTask): Promise<TokenResult | ActionResult | AccountStatus[] | null> {
  switch (task.op) {
    case 'attach': {
      const { port, accounts, known } = task;
      host = openStore().then(async (store) => {
        const shardHost = new ShardHost(port, store, settings.workers);
        await shardHost.sync(accounts, known);
        return shardHost;
      });
      await host;
      return null;
    }
    case 'sync':
      await (await attached()).sync(task.accounts);
      return null;
    case 'token':
      return (await attached()).token(task.key, task.now, task.waitMs);
    case 'grant':
      return (await attached()).grant(task.key, task.refreshToken, task.waitMs);
    case 'refresh':
      return (await attached()).refresh(task.key, task.waitMs);
    case 'revoke':
      return (await attached()).revoke(task.key);
    case 'status':
      return (await attached()).status();
    case 'crash':
      if (!settings.debugCommands) throw new Error('debug commands are disabled');
      // Ends this thread only; piscina replaces it and the pool re-attaches the shard.
      setImmediate(() => process.exit(70));
      return null;
  }
}
