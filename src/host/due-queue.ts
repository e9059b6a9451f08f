/** setTimeout cannot wait longer than this (about 24.8 days); a later entry is re-checked then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One timer for a whole shard: a binary min-heap of (wall-clock time, key)
 * and a single setTimeout armed for the earliest. Parked accounts need one
 * wake-up each (their planned refresh); a timer object per account would cost
 * more memory than the rest of the parked account.
 *
 * Entries are never removed early: the owner checks on `due` whether the key
 * still wants waking at that time (lazy deletion), so cancelling is free.
 */
export class DueQueue {
  readonly #at: number[] = [];
  readonly #keys: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Infinity;

  constructor(
    /** Called for every entry whose time has come, earliest first. */
    private readonly due: (key: string, at: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.#at.length;
  }

  schedule(key: string, at: number): void {
    this.#push(at, key);
    if (at < this.#armedFor) this.#arm();
  }

  /** The wall clock may have jumped: fire what is due now and re-arm from the new time. */
  rearm(): void {
    this.#fire();
  }

  clear(): void {
    this.#at.length = 0;
    this.#keys.length = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #arm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
    if (this.#at.length === 0) return;
    const at = this.#at[0]!;
    this.#armedFor = at;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - this.now()));
    this.#timer = setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    const now = this.now();
    // Pop everything due before calling out: `due` may schedule again.
    const ready: Array<[string, number]> = [];
    while (this.#at.length > 0 && this.#at[0]! <= now) {
      const [at, key] = this.#pop();
      ready.push([key, at]);
    }
    this.#arm();
    for (const [key, at] of ready) this.due(key, at);
  }

  #push(at: number, key: string): void {
    const a = this.#at;
    const k = this.#keys;
    let i = a.length;
    a.push(at);
    k.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= at) break;
      a[i] = a[parent]!;
      k[i] = k[parent]!;
      i = parent;
    }
    a[i] = at;
    k[i] = key;
  }

  #pop(): [number, string] {
    const a = this.#at;
    const k = this.#keys;
    const top: [number, string] = [a[0]!, k[0]!];
    const lastAt = a.pop()!;
    const lastKey = k.pop()!;
    const n = a.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && a[right]! < a[left]! ? right : left;
      if (a[child]! >= lastAt) break;
      a[i] = a[child]!;
      k[i] = k[child]!;
      i = child;
    }
    a[i] = lastAt;
    k[i] = lastKey;
    return top;
  }
}
