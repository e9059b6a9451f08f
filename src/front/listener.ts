import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../log.js';
import { escapeForLog, findRequestEnd, MAX_REQUEST_BYTES } from '../protocol.js';
import type { RequestHandler, RequestResult, SocketRoute } from './handler.js';
import { applySocketPermissions, prepareSocketPath, resolveGroup } from './socket-files.js';

/** A client that has not finished its request by then is closed. */
export const IDLE_TIMEOUT_MS = 5_000;
/** Sized for floods of fresh connections (exim opens one per message). */
const LISTEN_BACKLOG = 4_096;
/** At close, how long a client that connected before it may still take to send its request. */
const CLOSE_GRACE_MS = 1_000;

/**
 * One listening UNIX socket: reads a request up to the newline or the
 * client's half-close, hands it to the handler, writes the reply and closes.
 */
export class SocketListener {
  readonly route: SocketRoute;
  readonly #server: Server;
  readonly #open = new Set<Socket>();
  readonly #inFlight = new Set<Promise<void>>();
  /** Connections whose request has not arrived yet. */
  #unread = 0;

  constructor(
    route: SocketRoute,
    private readonly handler: RequestHandler,
    private readonly log: Logger,
    private readonly onRejected: (route: SocketRoute, result: RequestResult) => void = () => undefined,
  ) {
    this.route = route;
    this.#server = createServer({ allowHalfOpen: true }, (conn) => this.#accept(conn));
  }

  async listen(): Promise<void> {
    const { path, mode, group } = this.route.config;
    const gid = resolveGroup(group);
    await prepareSocketPath(path, gid);
    // Bind with no group/other bits, then widen to the configured mode: never briefly open to all.
    const previous = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen({ path, backlog: LISTEN_BACKLOG }, () => {
          this.#server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(previous);
    }
    await applySocketPermissions(path, mode, gid);
  }

  /**
   * Stops accepting, lets requests in flight finish, then closes idle
   * clients. A client accepted before the close whose request is still on its
   * way (already written, not yet read) gets a short grace, so no request a
   * client managed to send is dropped.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const graceEnds = Date.now() + CLOSE_GRACE_MS;
    while (this.#inFlight.size > 0 || (this.#unread > 0 && Date.now() < graceEnds)) {
      await Promise.race([Promise.allSettled([...this.#inFlight]), new Promise((resolve) => setTimeout(resolve, 10))]);
    }
    for (const conn of this.#open) conn.destroy();
    await closed;
  }

  #accept(conn: Socket): void {
    this.#open.add(conn);
    const chunks: Buffer[] = [];
    let size = 0;
    let taken = false;
    this.#unread++;
    const take = (data: Buffer) => {
      taken = true;
      this.#unread--;
      conn.setTimeout(0);
      const work = this.#answer(conn, data);
      this.#inFlight.add(work);
      void work.finally(() => this.#inFlight.delete(work));
    };
    conn.setTimeout(IDLE_TIMEOUT_MS, () => {
      this.log.info({ socket: this.route.config.path, result: 'idle-timeout', received: escapeForLog(Buffer.concat(chunks), 60) }, 'silent client closed');
      this.onRejected(this.route, 'idle-timeout');
      conn.destroy();
    });
    conn.on('data', (chunk: Buffer) => {
      if (taken) return;
      chunks.push(chunk);
      size += chunk.length;
      const data = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      const end = findRequestEnd(data);
      if (end >= 0 && end < MAX_REQUEST_BYTES) return take(data.subarray(0, end + 1));
      if (size > MAX_REQUEST_BYTES) {
        taken = true;
        this.#unread--;
        this.log.warn({ socket: this.route.config.path, result: 'too-long', bytes: size }, 'request over 1 KiB closed');
        this.onRejected(this.route, 'too-long');
        conn.destroy();
      }
    });
    conn.on('end', () => {
      if (!taken) take(Buffer.concat(chunks));
    });
    conn.on('error', () => conn.destroy());
    conn.on('close', () => {
      this.#open.delete(conn);
      if (!taken) {
        taken = true;
        this.#unread--;
      }
    });
  }

  async #answer(conn: Socket, data: Buffer): Promise<void> {
    let reply: Buffer;
    try {
      const outcome = this.handler.handle(this.route, data, Date.now());
      reply = (outcome instanceof Promise ? await outcome : outcome).reply;
    } catch (error) {
      this.log.error({ socket: this.route.config.path, error: error instanceof Error ? error.message : String(error) }, 'request handler failed');
      reply = Buffer.alloc(0);
    }
    if (!conn.destroyed) conn.end(reply);
  }
}
