/** What a ConnList links: the list's pointers live on the entry itself. */
export interface Linked<T> {
  prev: T | undefined;
  next: T | undefined;
}

/**
 * A doubly linked list whose links live on its entries, oldest first, for
 * the open connections of a listening socket.
 *
 * Not a Set: a Set that sees one add and one delete per request rehashes its
 * table every few dozen requests, and each table it leaves behind has been
 * promoted to V8's old generation with its slots still pointing at sockets.
 * Until the next full collection, every scavenge treats those slots as roots:
 * sockets long closed survive, get promoted, and take their streams and
 * buffers with them. Measured with `--trace-gc-nvp` (doc/benchmarks.md, fifth
 * pass), the listener's two Sets made it promote 0.9 KB per request against
 * 0.5 KB for a bare server, and doubled the time of every scavenge. An entry
 * removed here has both links cleared, so a removed entry that has reached the
 * old generation points at nothing younger than itself.
 */
export class ConnList<T extends Linked<T>> {
  #first: T | undefined;
  #last: T | undefined;

  get first(): T | undefined {
    return this.#first;
  }

  push(entry: T): void {
    entry.prev = this.#last;
    entry.next = undefined;
    if (this.#last === undefined) this.#first = entry;
    else this.#last.next = entry;
    this.#last = entry;
  }

  /** Removes an entry; one that is not in the list (any more) is left alone. */
  remove(entry: T): void {
    const { prev, next } = entry;
    if (prev === undefined && this.#first !== entry) return;
    if (prev === undefined) this.#first = next;
    else prev.next = next;
    if (next === undefined) this.#last = prev;
    else next.prev = prev;
    entry.prev = undefined;
    entry.next = undefined;
  }

  /** The entries, oldest first, as they are now: removing entries meanwhile does not disturb the copy. */
  toArray(): T[] {
    const all: T[] = [];
    for (let entry = this.#first; entry !== undefined; entry = entry.next) all.push(entry);
    return all;
  }
}
