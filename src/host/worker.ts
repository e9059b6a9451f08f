import { workerData } from 'piscina';
import { joinCluster, openWorkerStore } from '../cluster/worker.js';
import type { GrantStore } from '../store/index.js';
import type { ShardSignIn } from '../signin/shard-signin.js';
import type { ActionResult, AccountStatus, DeviceStartResult, DrainResult, HostTask, SignInOutcome, SignInUrlResult, TokenResult, WorkerSettings } from './messages.js';
import { ShardHost } from './shard-host.js';

/**
 * The piscina worker module. Module state lives as long as the thread: one
 * shard host, attached once by the main thread. A replacement thread starts
 * empty and is attached again with the accounts (and tokens) it must hold.
 */
const settings = workerData as WorkerSettings;
let store: Promise<GrantStore> | undefined;
let host: Promise<ShardHost> | undefined;
/** The shard host from the moment it exists, while its first sync may still be starting accounts. */
let announceCreated: (shardHost: ShardHost) => void = () => undefined;
const created = new Promise<ShardHost>((resolve) => (announceCreated = resolve));

function openStore(): Promise<GrantStore> {
  // The file store, or PostgreSQL when [store] names it (src/cluster/).
  store ??= openWorkerStore(settings);
  return store;
}

// A replacement thread can receive tasks that were queued for its shard
// while the old thread was gone before the main thread's `attach` task.
let announceAttach: (attaching: Promise<ShardHost>) => void = () => undefined;
const firstAttach = new Promise<ShardHost>((resolve, reject) => {
  announceAttach = (attaching) => attaching.then(resolve, reject);
});
firstAttach.catch(() => undefined);

/** Tasks that arrive while the shard is still loading (or not yet attached) wait for it. */
function attached(): Promise<ShardHost> {
  return host ?? firstAttach;
}

let signIns: Promise<ShardSignIn> | undefined;

export default async function handle(
  task: HostTask,
): Promise<TokenResult | ActionResult | AccountStatus[] | SignInOutcome | SignInUrlResult | DeviceStartResult | DrainResult | null> {
  switch (task.op) {
    case 'attach': {
      const { port, accounts, known } = task;
      host = openStore().then(async (store) => {
        const shardHost = new ShardHost(port, store, settings.workers);
        announceCreated(shardHost);
        await shardHost.sync(accounts, known);
        joinCluster(store, shardHost, settings);
        return shardHost;
      });
      announceAttach(host);
      await host;
      return null;
    }
    case 'sync':
      await (await attached()).sync(task.accounts);
      return null;
    case 'add':
      await (await attached()).add(task.account);
      return null;
    case 'token':
      // A request needs its own account only: it is answered once that account has started
      // (a large shard starts in slices), not when the whole shard has.
      return (await Promise.race([created, attached()])).token(task.key, task.now, task.waitMs);
    case 'grant':
      return (await attached()).grant(task.key, task.refreshToken, task.waitMs);
    case 'refresh':
      return (await attached()).refresh(task.key, task.waitMs);
    case 'revoke':
      return (await attached()).revoke(task.key, task.remote === true);
    case 'wake':
      (await attached()).wake(task.now);
      return null;
    case 'drain':
      return (await attached()).drain(task.timeoutMs);
    case 'status':
      return (await attached()).status();
    case 'signin-url':
    case 'signin-redeem':
    case 'device-start':
    case 'device-wait':
    case 'device-cancel':
      // Loaded on the first sign-in: it pulls in both provider libraries. One instance per
      // thread (it tracks device flows), so concurrent first tasks share the same promise.
      signIns ??= Promise.all([import('../signin/shard-signin.js'), attached()]).then(([m, shard]) => new m.ShardSignIn(shard));
      return (await signIns).handle(task);
    case 'crash':
      if (!settings.debugCommands) throw new Error('debug commands are disabled');
      // Ends this thread only; piscina replaces it and the pool re-attaches the shard.
      setImmediate(() => process.exit(70));
      return null;
  }
}
