import { createHash, randomBytes } from 'node:crypto';

/** How long a started sign-in may take to come back (as long as a provider's code lives). */
export const PENDING_LIFETIME_MS = 10 * 60_000;

/** A browser (or paste) sign-in waiting for the provider's redirect. */
export interface PendingSignIn {
  state: string;
  /** The sign-in attempt a `mailtokend login` waits on. */
  attempt: string;
  /** normalizeUser(user). */
  key: string;
  user: string;
  redirectUri: string;
  /** PKCE: sent only with the code, never shown. */
  codeVerifier: string;
  expiresAt: number;
}

export type TakeResult =
  | { ok: true; pending: PendingSignIn }
  | { ok: false; reason: 'unknown-state' | 'expired' | 'wrong-attempt' };

/**
 * The sign-ins started and not yet come back, in the main thread. A state is
 * 128 random bits, bound to one account, one redirect URI and one PKCE
 * verifier, valid for ten minutes and usable once: a replayed or forged
 * state finds nothing, so it can never reach an account.
 */
export class PendingSignIns {
  readonly #byState = new Map<string, PendingSignIn>();
  readonly #max: number;

  constructor(
    private readonly now: () => number = Date.now,
    max = 1000,
  ) {
    this.#max = max;
  }

  get size(): number {
    this.#sweep();
    return this.#byState.size;
  }

  /** Starts one; the answer carries the PKCE challenge for the provider URL. */
  create(input: { attempt: string; key: string; user: string; redirectUri: string }): PendingSignIn & { codeChallenge: string } {
    this.#sweep();
    // Bounded: a page hammering /auth/USER cannot grow this without limit; the oldest go first.
    while (this.#byState.size >= this.#max) {
      const oldest = this.#byState.keys().next().value;
      if (oldest === undefined) break;
      this.#byState.delete(oldest);
    }
    const pending: PendingSignIn = {
      ...input,
      state: randomBytes(16).toString('base64url'),
      codeVerifier: randomBytes(32).toString('base64url'),
      expiresAt: this.now() + PENDING_LIFETIME_MS,
    };
    this.#byState.set(pending.state, pending);
    return { ...pending, codeChallenge: challengeOf(pending.codeVerifier) };
  }

  /**
   * Uses a state up. With `attempt`, the state must belong to that attempt
   * (a pasted address must be the one its own `login` asked for); a state of
   * another attempt is then left for its owner.
   */
  take(state: string, attempt?: string): TakeResult {
    const pending = this.#byState.get(state);
    if (!pending) return { ok: false, reason: 'unknown-state' };
    if (attempt !== undefined && pending.attempt !== attempt) return { ok: false, reason: 'wrong-attempt' };
    this.#byState.delete(state);
    if (this.now() >= pending.expiresAt) return { ok: false, reason: 'expired' };
    return { ok: true, pending };
  }

  /** Looks without using up (to check the path a callback came on before consuming the state). */
  peek(state: string): PendingSignIn | undefined {
    const pending = this.#byState.get(state);
    return pending && this.now() < pending.expiresAt ? pending : undefined;
  }

  /** Drops every state of an attempt (cancelled, or finished another way). */
  dropAttempt(attempt: string): void {
    for (const [state, pending] of this.#byState) if (pending.attempt === attempt) this.#byState.delete(state);
  }

  #sweep(): void {
    const now = this.now();
    for (const [state, pending] of this.#byState) if (now >= pending.expiresAt) this.#byState.delete(state);
  }
}

/** RFC 7636 S256. */
export function challengeOf(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}
