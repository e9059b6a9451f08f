import { mkdir } from 'node:fs/promises';
import { AdminRegistry } from '../admin/registry.js';
import { TemplateManager } from '../templates/templates.js';
import { AdminServer } from '../admin/server.js';
import type { Config } from '../config/types.js';
import { SocketFront } from '../front/front.js';
import { RequestHandler } from '../front/handler.js';
import { TokenReplica } from '../front/replica.js';
import { assertNoDaemonOn } from '../front/socket-files.js';
import type { HostMessage } from '../host/messages.js';
import { AccountPool } from '../host/pool.js';
import type { Logger } from '../log.js';
import { accountSpecs } from '../specs.js';
import { loadStoreKey, openFileStore } from '../store/index.js';
import { intern } from '../intern.js';
import { VERSION } from '../version.js';
import { WebServer } from '../web/server.js';
import { Cluster, installCluster } from '../cluster/main.js';
import type { DaemonContext, Feature } from './context.js';
import { installCoreCommands } from './core-commands.js';
import { DaemonEvents } from './events.js';

/** How long shutdown waits for refreshes in flight before the workers end. */
const SHUTDOWN_DRAIN_MS = 10_000;

export interface Daemon {
  readonly config: Config;
  readonly context: DaemonContext;
  /**
   * Applies a new config: new accounts and sockets start, removed ones stop,
   * changed ones restart; every other account keeps its token. Settings that
   * need a restart (state_dir, workers, admin_socket, web) are reported and
   * left as they were.
   */
  reload(next: Config): Promise<string[]>;
  close(): Promise<void>;
  /** Resolves when something asked the daemon to stop (admin `shutdown`). */
  readonly stopRequested: Promise<string>;
}

/**
 * Starts everything in order: store key → worker pool → MTA sockets (bound
 * while the shards load their accounts from the store) → web listener →
 * features → admin socket. Throws a
 * MailtokendError with a clear message when a required part cannot start.
 */
export async function startDaemon(config: Config, log: Logger, env: NodeJS.ProcessEnv, features: Feature[] = []): Promise<Daemon> {
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  // Before any worker refreshes: a second daemon must not touch the first one's grants.
  await assertNoDaemonOn([...config.sockets.map((s) => s.path), config.adminSocket]);
  const { key, source } = await loadStoreKey({ stateDir: config.stateDir, env });
  log.info({ source }, 'store key loaded');
  // PostgreSQL ([store]): schema and key checked here, once, before any worker opens its connections.
  const cluster = await Cluster.open(config, key, log);
  // The file store: key and key-check verified here, so a refusal is a clear error on the main
  // thread (a worker's error reaches it without its class, as an "unexpected error").
  if (!cluster) await (await openFileStore({ dir: config.stateDir, key })).close();
  const events = new DaemonEvents();
  // Until the features listen, events are kept for them (see DaemonEvents.hold).
  events.hold();
  const replica = new TokenReplica();
  const specs = accountSpecs(config);
  const started = Date.now();
  const pool = AccountPool.open({
    workers: config.workers,
    settings: {
      storeDir: config.stateDir,
      storeKey: new Uint8Array(key),
      debugCommands: env.MAILTOKEND_DEBUG_COMMANDS === '1',
      ...(cluster && { cluster: cluster.settings }),
    },
    accounts: specs,
    onMessage: (message) => onHostMessage(message, replica, events, log),
    knownTokens: (keys) => replica.known(keys),
    onWorkerLost: (shard, reason) => {
      log.error({ shard, reason }, 'worker thread lost; replacing it');
      events.emit('worker', { shard, event: 'lost', reason });
    },
    onWorkerRestored: (shard, ms) => {
      log.warn({ shard, ms }, 'worker thread replaced; its accounts are back');
      events.emit('worker', { shard, event: 'restored', ms });
    },
  });
  const handler = new RequestHandler(replica, pool, specs.map((s) => s.key), config.requestTimeoutMs, log, (route, proto, result, ms) => {
    if (events.has('request')) events.emit('request', { socket: route.config.path, proto, result, ms });
  });
  // Domain templates: accounts made on the first request for an address (src/templates/).
  const templates = new TemplateManager(config, pool, log);
  if (templates.active) handler.setTemplates((user) => templates.ensure(user));
  const shutdownSteps: Array<() => Promise<void>> = [];
  // A start that fails later still lets refreshes in flight store their rotated grants.
  const cleanup: Array<() => Promise<void>> = [async () => {
    await pool.drain(SHUTDOWN_DRAIN_MS);
    await pool.close();
    await cluster?.close();
  }];
  const unwind = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };
  // The MTA sockets are bound while the shards load their accounts: a request that comes
  // meanwhile waits for its shard instead of finding no socket (exim would defer the mail).
  let front: SocketFront;
  try {
    front = await SocketFront.start(config.sockets, handler, log);
    cleanup.push(() => front.close());
    await pool.attached();
  } catch (error) {
    await unwind();
    throw error;
  }
  log.info({ accounts: specs.length, workers: config.workers, ms: Date.now() - started }, 'accounts loaded');
  const web = await startWeb(config, log);
  if (web) cleanup.push(() => web.close());

  let current = config;
  let requestStop: (reason: string) => void = () => undefined;
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  const admin = new AdminRegistry();
  const context: DaemonContext = {
    get config() {
      return current;
    },
    env,
    log,
    pool,
    replica,
    front,
    web,
    admin,
    events,
    reload: (next) => reload(next),
    onShutdown: (step) => shutdownSteps.push(step),
    requestShutdown: (reason) => requestStop(reason),
  };

  async function reload(next: Config): Promise<string[]> {
    const notes: string[] = [];
    if (next.stateDir !== current.stateDir) notes.push('state_dir changed: restart the daemon to use it');
    if (next.workers !== current.workers) notes.push('workers changed: restart the daemon to use it');
    if (next.adminSocket !== current.adminSocket) notes.push('admin_socket changed: restart the daemon to use it');
    if (JSON.stringify(next.web) !== JSON.stringify(current.web)) notes.push('[web] changed: restart the daemon to use it');
    if (JSON.stringify(next.store) !== JSON.stringify(current.store)) notes.push('[store] changed: restart the daemon to use it');
    const nextSpecs = [...accountSpecs(next), ...templates.apply(next)];
    const nextKeys = nextSpecs.map((s) => s.key);
    // While the shards sync, the front knows the old accounts and the new: a request for an
    // added one goes to its shard, which has it queued and answers once it has started, and
    // one for a removed account is still served until the sync has stopped it.
    handler.setAccounts([...handler.accounts(), ...nextKeys]);
    await pool.sync(nextSpecs);
    handler.setAccounts(nextKeys);
    handler.setTemplates(templates.active ? (user) => templates.ensure(user) : undefined);
    await front.apply(next.sockets);
    current = { ...next, stateDir: current.stateDir, workers: current.workers, adminSocket: current.adminSocket, web: current.web, store: current.store };
    log.info({ accounts: nextSpecs.length, sockets: front.paths, notes }, 'config reloaded');
    events.emit('config', { reload: true });
    return notes;
  }

  try {
    installCoreCommands(context);
    installCluster(context, cluster);
    for (const feature of features) await feature(context);
    events.release();
  } catch (error) {
    await unwind();
    throw error;
  }
  let adminServer: AdminServer;
  try {
    adminServer = await AdminServer.start(config.adminSocket, (request) => admin.dispatch(request), log);
    cleanup.push(() => adminServer.close());
  } catch (error) {
    await unwind();
    throw error;
  }
  events.emit('config', { reload: false });
  log.info({ sockets: front.paths, admin: config.adminSocket, web: web?.baseUrl, version: VERSION }, 'ready');
  let closing: Promise<void> | undefined;
  return {
    get config() {
      return current;
    },
    context,
    reload,
    stopRequested,
    close() {
      closing ??= (async () => {
        for (const step of shutdownSteps) await step().catch(() => undefined);
        // Order: stop accepting and answer what is in flight, then the rest.
        await front.close();
        await adminServer.close();
        if (web) await web.close();
        // Flush the store: refreshes in flight may carry a rotated grant that must not be lost.
        const drained = await pool.drain(SHUTDOWN_DRAIN_MS);
        if (drained.refreshing > 0 || drained.unsaved > 0) log.warn(drained, 'stopped with refreshes in flight or grants not stored');
        await pool.close();
        await cluster?.close();
        log.info('stopped');
      })();
      return closing;
    },
  };
}

/** The web listener is optional for serving tokens: a port in use must not stop mail. */
async function startWeb(config: Config, log: Logger): Promise<WebServer | undefined> {
  const redirectHosts = Object.values(config.providers)
    .map((p) => p.redirectUri)
    .filter((uri): uri is string => typeof uri === 'string')
    .map((uri) => new URL(uri).hostname);
  try {
    return await WebServer.start(config.web.listen, redirectHosts, log);
  } catch (error) {
    const { host, port } = config.web.listen;
    log.error(
      { listen: `${host}:${port}`, error: error instanceof Error ? error.message : String(error) },
      'web listener could not start; sign-in pages are unavailable, tokens are still served',
    );
    return undefined;
  }
}

function onHostMessage(message: HostMessage, replica: TokenReplica, events: DaemonEvents, log: Logger): void {
  switch (message.type) {
    case 'account':
      // The replica, the dashboard and the history keep these for every account.
      message.state = intern(message.state);
      message.from = intern(message.from);
      message.cause = intern(message.cause);
      message.provider = intern(message.provider);
      replica.apply(message);
      // An account's first state is news unless it is `valid`: at the start of a daemon with
      // thousands of stored tokens, a line for each would cost more than the start itself.
      if (message.from !== message.state) {
        log[message.from === undefined && message.state === 'valid' ? 'debug' : 'info'](
          { account: message.key, from: message.from ?? 'start', to: message.state, event: message.cause, error: message.lastError?.code, detail: message.lastError?.message },
          'account state changed',
        );
      }
      events.emit('account', message);
      return;
    case 'removed':
      replica.remove(message.key);
      events.emit('removed', { key: message.key });
      return;
    case 'log':
      log[message.level](message.fields, message.msg);
      return;
    case 'refresh':
      if (log.isLevelEnabled('debug')) {
        const ms = message.providerMs === undefined ? undefined : Math.round(message.providerMs);
        log.debug({ account: message.key, provider: message.provider, result: message.result, error: message.code, ms }, 'refresh finished');
      }
      events.emit('refresh', message);
      return;
    case 'persist':
      events.emit('persist', message);
      return;
  }
}
