import { createActor, fromPromise, toPromise, waitFor, type Actor } from 'xstate';
import { socketFrontMachine } from '../../actors/socket-front.js';
import type { SocketConfig } from '../config/types.js';
import { MailtokendError } from '../errors.js';
import type { Logger } from '../log.js';
import { socketRoute, type RequestHandler } from './handler.js';
import { SocketListener } from './listener.js';

/**
 * The socket-front actor's runtime: owns every configured listener. The
 * machine in actors/socket-front.ts decides the lifecycle; this file binds,
 * swaps and drains the real sockets.
 */
export class SocketFront {
  readonly #listeners = new Map<string, SocketListener>();
  readonly #actor: Actor<typeof socketFrontMachine>;
  #pending: SocketConfig[];

  private constructor(
    sockets: SocketConfig[],
    private readonly handler: RequestHandler,
    private readonly log: Logger,
  ) {
    this.#pending = sockets;
    this.#actor = createActor(
      socketFrontMachine.provide({
        actors: {
          bind: fromPromise(() => this.#apply()),
          apply: fromPromise(() => this.#apply()),
          drain: fromPromise(() => this.#drain()),
        },
      }),
    );
  }

  static async start(sockets: SocketConfig[], handler: RequestHandler, log: Logger): Promise<SocketFront> {
    const front = new SocketFront(sockets, handler, log);
    front.#actor.start();
    const settled = await waitFor(front.#actor, (s) => s.matches('serving') || s.status === 'done');
    if (settled.matches('failed')) {
      await front.#drain();
      const error = settled.context.error;
      throw new MailtokendError(error?.code ?? 'socket-error', error?.message ?? 'could not listen');
    }
    return front;
  }

  get paths(): string[] {
    return [...this.#listeners.keys()];
  }

  /** Reload: new sockets start, removed ones stop, changed ones are rebound or updated in place. */
  async apply(sockets: SocketConfig[]): Promise<void> {
    this.#pending = sockets;
    this.#actor.send({ type: 'APPLY' });
    const settled = await waitFor(this.#actor, (s) => s.matches({ serving: 'steady' }));
    if (settled.context.error) throw new MailtokendError(settled.context.error.code, settled.context.error.message);
  }

  async close(): Promise<void> {
    this.#actor.send({ type: 'SHUTDOWN' });
    await toPromise(this.#actor);
  }

  async #apply(): Promise<void> {
    const wanted = new Map(this.#pending.map((s) => [s.path, s]));
    for (const [path, listener] of this.#listeners) {
      const next = wanted.get(path);
      if (!next || next.mode !== listener.route.config.mode || next.group !== listener.route.config.group) {
        this.#listeners.delete(path);
        await listener.close();
        if (!next) this.log.info({ socket: path }, 'socket removed');
      }
    }
    for (const config of wanted.values()) {
      const current = this.#listeners.get(config.path);
      if (current) {
        // Same file, new rules: open connections keep going, the next request sees the new ACL.
        Object.assign(current.route, socketRoute(config));
        continue;
      }
      const listener = new SocketListener(socketRoute(config), this.handler, this.log);
      await listener.listen();
      this.#listeners.set(config.path, listener);
      this.log.info({ socket: config.path, mode: config.mode.toString(8), protocols: config.protocols, accounts: config.accounts }, 'listening');
    }
  }

  async #drain(): Promise<void> {
    const listeners = [...this.#listeners.values()];
    this.#listeners.clear();
    await Promise.all(listeners.map((l) => l.close()));
  }
}
