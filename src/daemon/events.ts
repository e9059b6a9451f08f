import type { RequestResult, SocketRoute } from '../front/handler.js';
import type { AccountUpdate, PersistReport, RefreshReport } from '../host/messages.js';

/** What happens in the daemon that features (notify, metrics, dashboard) react to. */
export interface DaemonEventMap {
  /** An account actor published a change (every state change, new token or new error). */
  account: AccountUpdate;
  /** An account stopped existing (reload removed it). */
  removed: { key: string };
  /** A socket request ended. */
  request: { socket: string; proto: string; result: RequestResult; ms: number };
  /** A worker thread died (`lost`) or its replacement holds its accounts again (`restored`). */
  worker: { shard: number; event: 'lost' | 'restored'; ms?: number; reason?: string };
  /** The config was applied (at start and after every reload). */
  config: { reload: boolean };
  /** A worker finished a refresh attempt (ops: metrics). */
  refresh: RefreshReport;
  /** The store refused a rotated grant (kept in memory), or stored it after all (notify). */
  persist: PersistReport;
  /** A reload was refused; the daemon keeps its previous config (ops). */
  'reload-refused': { code: string };
  /** The wall clock jumped against the monotonic clock (suspend/resume, a clock step) (ops). */
  clock: { jumpMs: number };
}

type Listener<T> = (event: T) => void;

/** Events kept while features are being installed; more than this and the oldest are dropped. */
const MAX_HELD = 100_000;

/**
 * A small typed event bus. Listeners run synchronously on the main thread, so
 * they must be cheap (count, enqueue); a listener that throws is isolated.
 */
export class DaemonEvents {
  readonly #listeners: { [K in keyof DaemonEventMap]?: Array<Listener<DaemonEventMap[K]>> } = {};
  /**
   * Events emitted before the features listen (accounts refresh and sockets
   * serve while features install): kept and replayed on release(), so no
   * feature misses the first refreshes, tokens or requests.
   */
  #held: Array<{ name: keyof DaemonEventMap; event: unknown }> | undefined;

  /** Keeps every event until release(). */
  hold(): void {
    this.#held ??= [];
  }

  /** Delivers the held events to the listeners registered since, in order, then delivers live. */
  release(): void {
    const held = this.#held;
    this.#held = undefined;
    for (const { name, event } of held ?? []) this.emit(name, event as DaemonEventMap[typeof name]);
  }

  on<K extends keyof DaemonEventMap>(name: K, listener: Listener<DaemonEventMap[K]>): void {
    const list = (this.#listeners[name] ??= []) as Array<Listener<DaemonEventMap[K]>>;
    list.push(listener);
  }

  emit<K extends keyof DaemonEventMap>(name: K, event: DaemonEventMap[K]): void {
    if (this.#held) {
      if (this.#held.length >= MAX_HELD) this.#held.shift();
      this.#held.push({ name, event });
      return;
    }
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
    return this.#held !== undefined || (this.#listeners[name]?.length ?? 0) > 0;
  }
}

export type { SocketRoute };
