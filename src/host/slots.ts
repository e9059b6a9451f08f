import { createActor, type Actor, type SnapshotFrom } from 'xstate';
import type { accountMachine, KnownToken } from '../../actors/account.js';
import type { AccountState } from '../../actors/answer.js';
import { intern } from '../intern.js';
import { DueQueue } from './due-queue.js';
import type { AccountSpec } from './messages.js';
import { parkable, parkedToken, type Parked } from './parked.js';

export type AccountMachine = typeof accountMachine;
export type AccountSnapshot = SnapshotFrom<AccountMachine>;

/** An account with a running actor. */
export interface Live {
  spec: AccountSpec;
  actor: Actor<AccountMachine>;
  /** What the main thread was last told: only visible changes are published. */
  published: { state?: AccountState; token?: string; errorAt?: number };
  lastEvent?: string;
  /** Requests and operator actions waiting on the actor: it is not parked meanwhile. */
  busy: number;
}

export type Slot = Live | Parked;

export const isLive = (slot: Slot): slot is Live => 'actor' in slot;

/** What the machine's `after` event is called: what the logs and history say woke a parked account. */
const REFRESH_DUE = 'xstate.after.refreshDue';

export interface SlotEvents {
  /** Every snapshot of every live actor, its first included. */
  snapshot(live: Live, snapshot: AccountSnapshot): void;
  actorFailed(key: string, error: unknown): void;
}

/**
 * Where a shard keeps each account: a live actor, or a parked record (parked.ts)
 * with one entry in the shard's timer queue. An actor that has stayed `valid`
 * and unused for `idleMs` is parked; anything that needs the account revives
 * the actor from its record first (`live`), and a parked account's planned
 * refresh revives it when it is due, so every event still goes through the
 * account machine.
 */
export class AccountSlots {
  readonly #slots = new Map<string, Slot>();
  readonly #queue = new DueQueue((key, at) => this.#due(key, at));
  /** Actors that became idle since the last sweep; checked again when it runs. */
  readonly #idle = new Set<string>();
  #sweep: NodeJS.Timeout | undefined;
  /** Account starts in progress (a shard's first sync, a reload), and their next batch of accounts started. */
  #starts = 0;
  #batchStarted: Promise<void> = Promise.resolve();
  #announceBatch: () => void = () => undefined;

  constructor(
    private readonly machine: AccountMachine,
    private readonly idleMs: number,
    private readonly events: SlotEvents,
  ) {}

  get(key: string): Slot | undefined {
    return this.#slots.get(key);
  }

  has(key: string): boolean {
    return this.#slots.has(key);
  }

  get size(): number {
    return this.#slots.size;
  }

  entries(): IterableIterator<[string, Slot]> {
    return this.#slots.entries();
  }

  values(): IterableIterator<Slot> {
    return this.#slots.values();
  }

  liveCount(): number {
    let n = 0;
    for (const slot of this.#slots.values()) if (isLive(slot)) n++;
    return n;
  }

  /**
   * Runs `work`, which adds accounts in batches and calls `started()` after
   * each: meanwhile, a request for an account not there yet can wait for the
   * next batch (`moreStarted`) instead of being told the account is unknown.
   */
  async starting(work: (started: () => void) => Promise<void>): Promise<void> {
    if (this.#starts++ === 0) this.#nextBatch();
    try {
      await work(() => this.#nextBatch());
    } finally {
      this.#starts--;
      this.#nextBatch();
    }
  }

  /** While accounts are being started: settles when the next batch has started; undefined otherwise. */
  moreStarted(): Promise<void> | undefined {
    return this.#starts > 0 ? this.#batchStarted : undefined;
  }

  /** Wakes whoever waits for the current batch (they look again) and arms the wait for the next. */
  #nextBatch(): void {
    const wake = this.#announceBatch;
    this.#batchStarted = new Promise((resolve) => (this.#announceBatch = resolve));
    wake();
  }

  /** Creates and starts the actor of an account; `lastEvent` names what woke a parked one. */
  spawn(spec: AccountSpec, input: { hasGrant: boolean; token?: KnownToken }, published: Live['published'] = {}, lastEvent?: string): Live {
    const live: Live = { spec, published, lastEvent, busy: 0 } as Live;
    live.actor = createActor(this.machine, {
      input: { user: spec.key, refreshAheadMs: spec.refreshAheadMs, hasGrant: input.hasGrant, now: Date.now(), token: input.token },
      inspect: (event) => {
        if (event.type !== '@xstate.event' || event.actorRef !== live.actor) return;
        // A revived actor's init is not news: the cause is what woke it.
        if (event.event.type === 'xstate.init' && live.lastEvent !== undefined) return;
        live.lastEvent = event.event.type;
      },
    });
    this.#slots.set(spec.key, live);
    live.actor.subscribe({
      next: (snapshot) => {
        this.events.snapshot(live, snapshot);
        if (snapshot.value === 'valid') this.#markIdle(spec.key);
      },
      error: (error) => this.events.actorFailed(spec.key, error),
    });
    live.actor.start();
    this.events.snapshot(live, live.actor.getSnapshot());
    this.#markIdle(spec.key);
    return live;
  }

  /** The live actor of `key`, revived from its parked record if need be; `cause` is what woke it. */
  live(key: string, cause: string): Live | undefined {
    const slot = this.#slots.get(key);
    if (!slot || isLive(slot)) return slot;
    const published = { state: 'valid' as const, token: slot.token.accessToken, errorAt: undefined };
    return this.spawn(slot.spec, { hasGrant: true, token: parkedToken(slot) }, published, cause);
  }

  park(parked: Parked): void {
    this.#slots.set(parked.spec.key, parked);
    this.#queue.schedule(parked.spec.key, parked.dueAt);
  }

  /** Stops the account's actor (if live) and forgets it. */
  remove(slot: Slot): void {
    if (isLive(slot)) slot.actor.stop();
    this.#slots.delete(slot.spec.key);
  }

  /** Keeps `live` from being parked until `work` has ended. */
  hold<T>(live: Live, work: (live: Live) => Promise<T>): Promise<T> {
    live.busy++;
    return work(live).finally(() => {
      live.busy--;
      this.#markIdle(live.spec.key);
    });
  }

  /** After a clock jump: the timer queue is set again against the new time. */
  rearm(): void {
    this.#queue.rearm();
  }

  /** Shutdown: no timer left, every actor stopped; the records stay for a last status. */
  stopAll(): void {
    this.#queue.clear();
    if (this.#sweep !== undefined) clearTimeout(this.#sweep);
    this.#sweep = undefined;
    for (const slot of this.#slots.values()) if (isLive(slot)) slot.actor.stop();
  }

  #due(key: string, at: number): void {
    const slot = this.#slots.get(key);
    // Lazy deletion: the entry is stale if the account was revived, removed or re-parked since.
    if (!slot || isLive(slot) || slot.dueAt !== at) return;
    this.live(key, REFRESH_DUE);
  }

  #markIdle(key: string): void {
    this.#idle.add(key);
    this.#sweep ??= setTimeout(() => this.#parkIdle(), this.idleMs);
  }

  #parkIdle(): void {
    this.#sweep = undefined;
    const keys = [...this.#idle];
    this.#idle.clear();
    for (const key of keys) {
      const slot = this.#slots.get(key);
      if (!slot || !isLive(slot) || slot.busy > 0) continue;
      const parked = parkable(slot.spec, slot.actor.getSnapshot());
      if (!parked) continue;
      slot.actor.stop();
      this.park(parked);
    }
  }
}

/**
 * A spec arrives as a copy made for this thread, with its own copy of every
 * string; a shard keeps thousands of specs, so the strings they have in
 * common (client id, tenant, and the address when it is already its key)
 * are shared.
 */
export function compactSpec(spec: AccountSpec): void {
  if (spec.user === spec.key) spec.user = spec.key;
  spec.clientId = intern(spec.clientId);
  if (spec.tenant !== undefined) spec.tenant = intern(spec.tenant);
}
