import type { AdminRegistry } from '../admin/registry.js';
import type { Config } from '../config/types.js';
import type { SocketFront } from '../front/front.js';
import type { TokenReplica } from '../front/replica.js';
import type { AccountPool } from '../host/pool.js';
import type { Logger } from '../log.js';
import type { WebServer } from '../web/server.js';
import type { DaemonEvents } from './events.js';

/**
 * Everything a feature (sign-in, operations, dashboard …) may use. Features
 * are installed once at start; they register admin commands and web routes,
 * listen to events, and add shutdown steps. `config` always returns the
 * config in force (it changes on reload).
 */
export interface DaemonContext {
  readonly config: Config;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  readonly pool: AccountPool;
  readonly replica: TokenReplica;
  readonly front: SocketFront;
  /** Undefined when the listener could not bind: tokens are still served. */
  readonly web: WebServer | undefined;
  readonly admin: AdminRegistry;
  readonly events: DaemonEvents;
  /** Applies a new config (see Daemon.reload). */
  reload(next: Config): Promise<string[]>;
  /** Steps run at shutdown, before the sockets and pool close. */
  onShutdown(step: () => Promise<void>): void;
  /** Ends the daemon as SIGTERM would. */
  requestShutdown(reason: string): void;
}

export type Feature = (context: DaemonContext) => void | Promise<void>;
