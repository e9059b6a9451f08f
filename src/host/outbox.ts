import type { MessagePort } from 'node:worker_threads';
import type { HostMessage } from './messages.js';

/**
 * A shard's messages to the main thread, sent in batches of one turn of the
 * event loop: a start publishes thousands of updates at once, and one
 * postMessage per batch costs the main thread one event instead of thousands.
 */
export class Outbox {
  #batch: HostMessage[] = [];

  constructor(private readonly port: MessagePort) {}

  post(message: HostMessage): void {
    this.#batch.push(message);
    if (this.#batch.length === 1) setImmediate(() => this.flush());
  }

  /** Sends what is waiting now (before a reply that must not overtake it). */
  flush(): void {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.port.postMessage(batch);
  }
}
