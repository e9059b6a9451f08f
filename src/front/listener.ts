import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../log.js';
import { escapeForLog, findRequestEnd, MAX_REQUEST_BYTES } from '../protocol.js';
import type { RequestHandler, RequestOutcome, RequestResult, SocketRoute } from './handler.js';
import { ConnList, type Linked } from './conn-list.js';
import { applySocketPermissions, prepareSocketPath, resolveGroup } from './socket-files.js';

/** A client that has not finished its request by then is closed. */
export const IDLE_TIMEOUT_MS = 5_000;
/** Sized for floods of fresh connections (exim opens one per message). */
const LISTEN_BACKLOG = 4_096;
/** At close, how long a client that connected before it may still take to send its request. */
const CLOSE_GRACE_MS = 1_000;

/** Per-connection state, kept on the socket so one set of listeners serves every connection. */
interface ConnState extends Linked<ConnState> {
  owner: SocketListener;
  conn: Conn;
  /** The first chunk; most requests arrive in one. */
  first: Buffer | undefined;
  /** Every chunk, only once a second one arrives. */
  chunks: Buffer[] | undefined;
  size: number;
  taken: boolean;
  /** When the idle timeout closes it (while unread). */
  deadline: number;
}

const STATE = Symbol('mailtokend.conn');
type Conn = Socket & { [STATE]: ConnState };

function received(state: ConnState): Buffer {
  if (state.chunks !== undefined) return Buffer.concat(state.chunks);
  return state.first ?? Buffer.alloc(0);
}

/**
 * One listening UNIX socket: reads a request up to the newline or the
 * client's half-close, hands it to the handler, writes the reply and closes.
 *
 * Per connection it allocates one small state object: the listeners are
 * shared functions, the idle timeout is one timer per listening socket for
 * all unread connections (in accept order), and a reply the handler has at
 * once is written without a promise.
 */
export class SocketListener {
  readonly route: SocketRoute;
  readonly #server: Server;
  /** Every open connection, oldest first (not a Set: see conn-list.ts). */
  readonly #open = new ConnList<ConnState>();
  /** How many of them have not sent their request yet. */
  #unread = 0;
  readonly #inFlight = new Set<Promise<void>>();
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(
    route: SocketRoute,
    private readonly handler: RequestHandler,
    private readonly log: Logger,
    private readonly onRejected: (route: SocketRoute, result: RequestResult) => void = () => undefined,
  ) {
    this.route = route;
    this.#server = createServer({ allowHalfOpen: true }, (conn) => this.#accept(conn as Conn));
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
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    for (const state of this.#open.toArray()) state.conn.destroy();
    await closed;
  }

  #accept(conn: Conn): void {
    const state: ConnState = {
      owner: this,
      conn,
      first: undefined,
      chunks: undefined,
      size: 0,
      taken: false,
      deadline: Date.now() + IDLE_TIMEOUT_MS,
      prev: undefined,
      next: undefined,
    };
    conn[STATE] = state;
    this.#open.push(state);
    this.#unread++;
    if (this.#idleTimer === undefined) this.#idleTimer = setTimeout(SocketListener.#sweep, IDLE_TIMEOUT_MS, this);
    conn.on('data', SocketListener.#onData);
    conn.on('end', SocketListener.#onEnd);
    conn.on('error', SocketListener.#onError);
    conn.on('close', SocketListener.#onClose);
  }

  /**
   * Closes the connections whose request has not arrived within the idle
   * timeout. They are in accept order, so their deadlines are too: the first
   * unread one not yet due ends the sweep (answered ones are only waiting for
   * their close).
   */
  static #sweep(this: void, self: SocketListener): void {
    self.#idleTimer = undefined;
    const now = Date.now();
    // destroy() closes later (its 'close' unlinks the entry), so the walk can go on in place.
    for (let state = self.#open.first; state !== undefined; state = state.next) {
      if (state.taken) continue;
      if (state.deadline > now) {
        self.#idleTimer = setTimeout(SocketListener.#sweep, state.deadline - now, self);
        return;
      }
      state.taken = true;
      self.#unread--;
      self.log.info({ socket: self.route.config.path, result: 'idle-timeout', received: escapeForLog(received(state), 60) }, 'silent client closed');
      self.onRejected(self.route, 'idle-timeout');
      state.conn.destroy();
    }
  }

  static #onData(this: Conn, chunk: Buffer): void {
    const state = this[STATE];
    if (state.taken) return;
    let data: Buffer;
    if (state.first === undefined) {
      state.first = chunk;
      data = chunk;
    } else {
      state.chunks ??= [state.first];
      state.chunks.push(chunk);
      data = Buffer.concat(state.chunks);
    }
    state.size += chunk.length;
    const end = findRequestEnd(data);
    const self = state.owner;
    if (end >= 0 && end < MAX_REQUEST_BYTES) return self.#take(this, data.subarray(0, end + 1));
    if (state.size > MAX_REQUEST_BYTES) {
      state.taken = true;
      self.#unread--;
      self.log.warn({ socket: self.route.config.path, result: 'too-long', bytes: state.size }, 'request over 1 KiB closed');
      self.onRejected(self.route, 'too-long');
      this.destroy();
      return;
    }
    // The deadline stays where #accept set it: restarted on every chunk, a client trickling one byte
    // a second would hold its connection until 1 KiB had arrived, 17 minutes (doc/errors.md: 5 s).
  }

  static #onEnd(this: Conn): void {
    const state = this[STATE];
    if (!state.taken) state.owner.#take(this, received(state));
  }

  static #onError(this: Conn): void {
    this.destroy();
  }

  static #onClose(this: Conn): void {
    const state = this[STATE];
    const self = state.owner;
    self.#open.remove(state);
    if (!state.taken) {
      state.taken = true;
      self.#unread--;
    }
    state.first = undefined;
    state.chunks = undefined;
  }

  #take(conn: Conn, data: Buffer): void {
    conn[STATE].taken = true;
    this.#unread--;
    let outcome;
    try {
      outcome = this.handler.handle(this.route, data, Date.now());
    } catch (error) {
      this.#failed(error);
      if (!conn.destroyed) conn.end(EMPTY);
      return;
    }
    if (!(outcome instanceof Promise)) {
      if (!conn.destroyed) conn.end(outcome.reply);
      return;
    }
    const work = this.#answerLater(conn, outcome);
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  async #answerLater(conn: Socket, pending: Promise<RequestOutcome>): Promise<void> {
    let reply: Buffer;
    try {
      reply = (await pending).reply;
    } catch (error) {
      this.#failed(error);
      reply = EMPTY;
    }
    if (!conn.destroyed) conn.end(reply);
  }

  #failed(error: unknown): void {
    this.log.error({ socket: this.route.config.path, error: error instanceof Error ? error.message : String(error) }, 'request handler failed');
  }
}

const EMPTY = Buffer.alloc(0);
