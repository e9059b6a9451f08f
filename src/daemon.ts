import { mkdir } from 'node:fs/promises';
import { AdminServer } from './admin/server.js';
import type { AdminRequest, AdminResponse } from './admin/protocol.js';
import type { Config } from './config/types.js';
import { normalizeUser } from './config/patterns.js';
import { MailtokendError } from './errors.js';
import { SocketFront } from './front/front.js';
import { RequestHandler } from './front/handler.js';
import { TokenReplica } from './front/replica.js';
import type { HostMessage } from './host/messages.js';
import { AccountPool } from './host/pool.js';
import type { Logger } from './log.js';
import { accountSpecs } from './specs.js';
import { loadStoreKey } from './store/index.js';
import { VERSION } from './version.js';

/** How long an operator action (import, refresh) waits to report the refresh it caused. */
const ACTION_WAIT_MS = 30_000;

export interface Daemon {
  readonly config: Config;
  /**
   * Applies a new config: new accounts and sockets start, removed ones stop,
   * changed ones restart; every other account keeps its token. Settings that
   * need a restart (state_dir, workers) are reported and left as they were.
   */
  reload(next: Config): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Starts everything in order: store key → worker pool (accounts loaded from
 * the store) → MTA sockets → admin socket. Throws a MailtokendError with a
 * clear message when any of them cannot start.
 */
export async function startDaemon(config: Config, log: Logger, env: NodeJS.ProcessEnv): Promise<Daemon> {
  await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  const { key, source } = await loadStoreKey({ stateDir: config.stateDir, env });
  log.info({ source }, 'store key loaded');
  const replica = new TokenReplica();
  const specs = accountSpecs(config);
  const started = Date.now();
  const pool = await AccountPool.start({
    workers: config.workers,
    settings: { storeDir: config.stateDir, storeKey: new Uint8Array(key), debugCommands: env.MAILTOKEND_DEBUG_COMMANDS === '1' },
    accounts: specs,
    onMessage: (message) => onHostMessage(message, replica, log),
    knownTokens: (keys) => replica.known(keys),
    onWorkerLost: (shard, reason) => log.error({ shard, reason }, 'worker thread lost; replacing it'),
    onWorkerRestored: (shard, ms) => log.warn({ shard, ms }, 'worker thread replaced; its accounts are back'),
  });
  log.info({ accounts: specs.length, workers: config.workers, ms: Date.now() - started }, 'accounts loaded');
  const handler = new RequestHandler(replica, pool, specs.map((s) => s.key), config.requestTimeoutMs, log);
  let front: SocketFront;
  try {
    front = await SocketFront.start(config.sockets, handler, log);
  } catch (error) {
    await pool.close();
    throw error;
  }
  let current = config;
  let admin: AdminServer;
  try {
    admin = await AdminServer.start(config.adminSocket, (request) => adminCommand(request, pool, current), log);
  } catch (error) {
    await front.close();
    await pool.close();
    throw error;
  }
  log.info({ sockets: front.paths, admin: config.adminSocket, version: VERSION }, 'ready');
  return {
    get config() {
      return current;
    },
    async reload(next) {
      const notes: string[] = [];
      if (next.stateDir !== current.stateDir) notes.push('state_dir changed: restart the daemon to use it');
      if (next.workers !== current.workers) notes.push('workers changed: restart the daemon to use it');
      if (next.adminSocket !== current.adminSocket) notes.push('admin_socket changed: restart the daemon to use it');
      const nextSpecs = accountSpecs(next);
      await pool.sync(nextSpecs);
      handler.setAccounts(nextSpecs.map((s) => s.key));
      await front.apply(next.sockets);
      current = { ...next, stateDir: current.stateDir, workers: current.workers, adminSocket: current.adminSocket };
      log.info({ accounts: nextSpecs.length, sockets: front.paths, notes }, 'config reloaded');
      return notes;
    },
    async close() {
      await front.close();
      await admin.close();
      await pool.close();
      log.info('stopped');
    },
  };
}

function onHostMessage(message: HostMessage, replica: TokenReplica, log: Logger): void {
  switch (message.type) {
    case 'account':
      replica.apply(message);
      if (message.from !== message.state) {
        log.info(
          { account: message.key, from: message.from ?? 'start', to: message.state, event: message.cause, error: message.lastError?.code, detail: message.lastError?.message },
          'account state changed',
        );
      }
      return;
    case 'removed':
      replica.remove(message.key);
      return;
    case 'log':
      log[message.level](message.fields, message.msg);
      return;
  }
}

async function adminCommand(request: AdminRequest, pool: AccountPool, config: Config): Promise<AdminResponse> {
  const known = (user: string) => {
    const key = normalizeUser(user);
    if (!config.accounts.some((a) => normalizeUser(a.user) === key)) {
      throw new MailtokendError('unknown-account', `${user} is not configured in ${config.file}`);
    }
    return key;
  };
  switch (request.cmd) {
    case 'ping':
      return { ok: true, pong: true, pid: process.pid, version: VERSION };
    case 'status':
      return { ok: true, accounts: await pool.status() };
    case 'token': {
      const result = await pool.token(known(request.user), config.requestTimeoutMs);
      return result.kind === 'token'
        ? { ok: true, accessToken: result.accessToken, expiresAt: result.expiresAt }
        : { ok: false, code: result.code, message: result.message };
    }
    case 'import':
      if (typeof request.refreshToken !== 'string' || request.refreshToken.trim() === '') {
        throw new MailtokendError('import-empty', 'no refresh token was given');
      }
      return { ok: true, result: await pool.grant(known(request.user), request.refreshToken.trim(), ACTION_WAIT_MS) };
    case 'refresh':
      return { ok: true, result: await pool.refresh(known(request.user), ACTION_WAIT_MS) };
    case 'revoke':
      return { ok: true, result: await pool.revoke(known(request.user)) };
    case 'crash-worker':
      await pool.crash(request.shard);
      return { ok: true };
    default:
      throw new MailtokendError('admin-unknown-command', `unknown admin command ${JSON.stringify((request as { cmd: unknown }).cmd)}`);
  }
}
