import type { RequestResult, SocketRoute } from '../front/handler.js';
import type { AccountUpdate } from '../host/messages.js';

/** What happens in the daemon that features (notify, metrics, dashboard) react to. */
export interface DaemonEventMap {
  /** An account actor published a change (every state change, new token or new error). */
  account: AccountUpdate;
  /** A socket request ended. */
  request: { socket: string; proto: string; result: RequestResult; ms: number };
  /** A worker thread died (`lost`) or its replacement holds its accounts again (`restored`). */
  worker: { shard: number; event: 'lost' | 'restored'; ms?: number; reason?: string };
  /** The config was applied (at start and after every reload). */
  config: { reload: boolean };
}

type Listener<T> = (event: T) => void;

/**
 * A small typed event bus. Listeners run synchronously on the main thread, so
 * they must be cheap (count, enqueue); a listener that throws is isolated.
 */
export class DaemonEvents {
  readonly #listeners: { [K in keyof DaemonEventMap]?: Array<Listener<DaemonEventMap[K]>> } = {};

  on<K extends keyof DaemonEventMap>(name: K, listener: Listener<DaemonEventMap[K]>): void {
    const list = (this.#listeners[name] ??= []) as Array<Listener<DaemonEventMap[K]>>;
    list.push(listener);
  }

  emit<K extends keyof DaemonEventMap>(name: K, event: DaemonEventMap[K]): void {
    const list = this.#listeners[name] as Array<Listener<DaemonEventMap[K]>> | undefined;
    if (!list) return;
    for (const listener of list) {
      try {
        listener(event);
      } catch {
        // One feature's bug must not stop token serving or the other features.
      }
    }
  }

  /** Whether anyone listens: lets the hot path skip building an event. */
  has(name: keyof DaemonEventMap): boolean {
    return (this.#listeners[name]?.length ?? 0) > 0;
  }
}

export type { SocketRoute };
