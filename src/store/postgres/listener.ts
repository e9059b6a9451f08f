/**
 * One LISTEN connection: delivers the (address, version) of every grant
 * written by any instance, and reconnects by itself. Notifications sent while
 * it was disconnected are lost, so every (re)connect is reported through
 * `onConnect`, and the owner compares versions to catch up.
 */
import type pg from 'pg';
import { clientConfig, loadPg, storeErrorOf, type PgConnection } from './connect.js';
import { GRANTS_CHANNEL } from './store.js';
import type { StoreError } from '../errors.js';

export interface GrantChange {
  user: string;
  /** 0 when the grant was removed. */
  version: number;
}

export interface ListenerEvents {
  change(change: GrantChange): void;
  /** Connected (first time or again): missed changes must be looked up. */
  connect(): void;
  /** Lost or could not connect; retried after a pause. */
  disconnect(error: StoreError): void;
}

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;

export function parseChange(payload: string | undefined): GrantChange | undefined {
  if (payload === undefined) return undefined;
  try {
    const raw = JSON.parse(payload) as { user?: unknown; version?: unknown };
    if (typeof raw.user === 'string' && Number.isSafeInteger(raw.version)) return { user: raw.user, version: raw.version as number };
  } catch {
    // Not ours: someone else may NOTIFY on the channel.
  }
  return undefined;
}

export class GrantListener {
  #client: pg.Client | undefined;
  #closed = false;
  #retryMs = RETRY_MIN_MS;
  #timer: NodeJS.Timeout | undefined;
  #connected = false;

  constructor(
    private readonly conn: PgConnection,
    private readonly events: ListenerEvents,
  ) {}

  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    void this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    // No query timeout on this connection: it waits for notifications, idle by design.
    const { Client } = await loadPg();
    if (this.#closed) return;
    const client = new Client({ ...clientConfig(this.conn), query_timeout: undefined });
    this.#client = client;
    let failed = false;
    const lost = (error: unknown) => {
      if (failed) return;
      failed = true;
      this.#connected = false;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.#closed) return;
      this.events.disconnect(storeErrorOf('listen for changes', error ?? new Error('Connection terminated')));
      this.#timer = setTimeout(() => void this.#connect(), this.#retryMs);
      this.#timer.unref();
      this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
    };
    client.on('error', lost);
    client.on('end', () => lost(new Error('Connection terminated')));
    client.on('notification', (message) => {
      if (message.channel !== GRANTS_CHANNEL) return;
      const change = parseChange(message.payload);
      if (change) this.events.change(change);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${GRANTS_CHANNEL}`);
    } catch (error) {
      lost(error);
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#retryMs = RETRY_MIN_MS;
    this.#connected = true;
    this.events.connect();
  }
}
