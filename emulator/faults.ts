/**
 * Fault injection book: faults set by tests, matched per request in the order
 * they were set. The first matching fault with count left applies.
 */
import type { Fault, FaultEndpoint, Provider } from './types.js';

interface Entry {
  id: string;
  fault: Fault;
  left: number;
}

const KINDS = new Set(['status', 'rate-limit', 'delay', 'reset', 'hang', 'error']);

/** Checks a fault that may come from JSON (admin API), so a typo fails loudly instead of never matching. */
export function validateFault(f: unknown): Fault {
  if (typeof f !== 'object' || f === null) throw new Error('fault must be an object');
  const o = f as Record<string, unknown>;
  if (typeof o.kind !== 'string' || !KINDS.has(o.kind)) throw new Error(`fault.kind must be one of ${[...KINDS].join(', ')}`);
  if (o.provider !== undefined && o.provider !== 'google' && o.provider !== 'microsoft') {
    throw new Error("fault.provider must be 'google' or 'microsoft'");
  }
  if (o.endpoint !== undefined && !['token', 'authorize', 'devicecode'].includes(String(o.endpoint))) {
    throw new Error("fault.endpoint must be 'token', 'authorize' or 'devicecode'");
  }
  if (o.count !== undefined && (typeof o.count !== 'number' || o.count < 1)) throw new Error('fault.count must be a number >= 1');
  if (o.kind === 'status' && (typeof o.status !== 'number' || o.status < 400 || o.status > 599)) {
    throw new Error('fault.status must be an HTTP error status');
  }
  if (o.kind === 'delay' && (typeof o.ms !== 'number' || o.ms < 0)) throw new Error('fault.ms must be a number >= 0');
  if (o.kind === 'error' && (typeof o.error !== 'string' || !o.error)) throw new Error('fault.error must be an OAuth error code');
  return f as Fault;
}

export class FaultBook {
  private entries: Entry[] = [];
  private next = 1;

  add(f: Fault): string {
    const fault = validateFault(f);
    const id = `fault-${this.next++}`;
    this.entries.push({ id, fault, left: fault.count ?? Number.POSITIVE_INFINITY });
    return id;
  }

  clear(): void {
    this.entries = [];
  }

  remove(id: string): void {
    this.entries = this.entries.filter((e) => e.id !== id);
  }

  /** Takes one use of the first fault matching this request. */
  take(provider: Provider, endpoint: FaultEndpoint, user: string | undefined): Fault | undefined {
    for (const e of this.entries) {
      const f = e.fault;
      if (e.left <= 0) continue;
      if (f.provider && f.provider !== provider) continue;
      if ((f.endpoint ?? 'token') !== endpoint) continue;
      if (f.user && (!user || f.user.toLowerCase() !== user.toLowerCase())) continue;
      e.left -= 1;
      if (e.left <= 0) this.remove(e.id);
      return f;
    }
    return undefined;
  }
}
